-- The review queue holds one row per (event, reason) instead of one per event, so an event that
-- is both flagged by its device and over-redeemed (or odd in several ways) lists every reason,
-- and a ledger recomputation replaces only the ledger's reasons. An item about a refused scan of
-- a code that named no book has no book, so review_queue.book_id and resolutions.book_id may be
-- NULL. Keep in step with ../postgres/20261207000101_review_reasons.sql.
--
-- SQLite cannot drop a NOT NULL or a primary key in place: both tables are rebuilt. The review
-- queue (the only table naming resolutions) is dropped first, so dropping resolutions breaks no
-- reference.
CREATE TABLE review_queue_copy AS SELECT * FROM review_queue;
CREATE TABLE resolutions_copy AS SELECT * FROM resolutions;
DROP TABLE review_queue;
DROP TABLE resolutions;

CREATE TABLE resolutions (
    event_id TEXT PRIMARY KEY,
    target_event_id TEXT NOT NULL REFERENCES events (event_id),
    book_id INTEGER REFERENCES books (id),
    action TEXT NOT NULL CHECK (action IN ('charge', 'write_off', 'void')),
    operator_id INTEGER NOT NULL REFERENCES users (id),
    note TEXT NOT NULL,
    at INTEGER NOT NULL
);
INSERT INTO resolutions (event_id, target_event_id, book_id, action, operator_id, note, at)
    SELECT event_id, target_event_id, book_id, action, operator_id, note, at FROM resolutions_copy;
CREATE INDEX resolutions_book ON resolutions (book_id);

CREATE TABLE review_queue (
    event_id TEXT NOT NULL REFERENCES events (event_id),
    reason TEXT NOT NULL,
    book_id INTEGER,
    created_at INTEGER NOT NULL,
    resolution_event_id TEXT REFERENCES resolutions (event_id),
    PRIMARY KEY (event_id, reason)
);
INSERT INTO review_queue (event_id, reason, book_id, created_at, resolution_event_id)
    SELECT event_id, reason, book_id, created_at, resolution_event_id FROM review_queue_copy;
-- A book's recomputation replaces the open ledger reasons of that book.
CREATE INDEX review_queue_book ON review_queue (book_id);

DROP TABLE review_queue_copy;
DROP TABLE resolutions_copy;
