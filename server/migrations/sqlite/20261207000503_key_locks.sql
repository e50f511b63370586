-- Per-key lock rows, so that a limit checked by reading (codes per phone, a balance) holds on
-- PostgreSQL, where write transactions run in parallel at READ COMMITTED.
-- Keep in step with ../postgres/20261207000503_key_locks.sql.

-- One row per key that a transaction locks before it reads, decides and writes (a phone's code
-- requests, an account's points). PostgreSQL makes a second transaction taking the same key
-- wait until the first ends; SQLite writers are serialized anyway.
CREATE TABLE key_locks (
    lock_key BLOB PRIMARY KEY,
    taken_at INTEGER NOT NULL
);
