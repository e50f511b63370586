-- What statistics need of each device event, as columns, so figures are SQL aggregates instead
-- of every signed event decoded per request. Keep in step with the other backend's file.
-- A redemption has units and product_code, a void has void_target, a scan attempt has refusal
-- (0 = already used, else the reject reason code). Events stored before this migration are
-- listed in events_undecoded; the server fills their columns on start and empties the list.
ALTER TABLE events ADD COLUMN units INTEGER;
ALTER TABLE events ADD COLUMN product_code INTEGER;
ALTER TABLE events ADD COLUMN refusal INTEGER;
ALTER TABLE events ADD COLUMN void_target TEXT;
CREATE INDEX events_scanned_at ON events (scanned_at);
CREATE INDEX events_void_target ON events (void_target);
CREATE INDEX books_created_at ON books (created_at);
CREATE INDEX books_revoked_at ON books (revoked_at);

CREATE TABLE events_undecoded (
    event_id TEXT PRIMARY KEY
);
INSERT INTO events_undecoded (event_id) SELECT event_id FROM events;
