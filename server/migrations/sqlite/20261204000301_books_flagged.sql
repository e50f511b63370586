-- The revoked and used-up books, for the status snapshot a new device loads: a partial index,
-- so building a snapshot reads the flagged books only, never the whole books table.
CREATE INDEX books_flagged ON books (state, id) WHERE state <> 'active';
