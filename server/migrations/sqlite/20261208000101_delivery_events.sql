-- Delivery events (kind 4 of the device record): the courier closes an order of water at the
-- door. The events table accepts the kind and keeps what orders, buckets and statistics read of
-- it as columns: the order, the outcome, full bottles handed over, empties taken back and
-- deposits taken. Keep in step with ../postgres/20261208000101_delivery_events.sql.
--
-- SQLite cannot change a CHECK constraint in place: events is rebuilt. The two tables naming
-- events (the review queue and resolutions) are copied and dropped first, so dropping events
-- breaks no reference, then restored as they were.
CREATE TABLE review_queue_copy AS SELECT * FROM review_queue;
CREATE TABLE resolutions_copy AS SELECT * FROM resolutions;
CREATE TABLE events_copy AS SELECT * FROM events;
DROP TABLE review_queue;
DROP TABLE resolutions;
DROP TABLE events;

CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices (id),
    device_seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('redemption', 'void', 'scan_attempt', 'delivery')),
    book_id INTEGER,
    scanned_at INTEGER NOT NULL,
    signed BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    server_seq INTEGER,
    units INTEGER,
    product_code INTEGER,
    refusal INTEGER,
    void_target TEXT,
    order_id INTEGER,
    outcome TEXT CHECK (outcome IN ('tickets', 'account', 'cash', 'not_delivered')),
    bottles INTEGER,
    empties INTEGER,
    deposits INTEGER,
    UNIQUE (device_id, device_seq)
);
INSERT INTO events (event_id, device_id, device_seq, kind, book_id, scanned_at, signed,
                    received_at, server_seq, units, product_code, refusal, void_target)
    SELECT event_id, device_id, device_seq, kind, book_id, scanned_at, signed, received_at,
           server_seq, units, product_code, refusal, void_target
    FROM events_copy;
CREATE INDEX events_book ON events (book_id);
CREATE INDEX events_scanned_at ON events (scanned_at);
CREATE INDEX events_void_target ON events (void_target);
CREATE INDEX events_order ON events (order_id);

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
CREATE INDEX review_queue_book ON review_queue (book_id);

DROP TABLE review_queue_copy;
DROP TABLE resolutions_copy;
DROP TABLE events_copy;
