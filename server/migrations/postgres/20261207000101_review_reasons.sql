-- The review queue holds one row per (event, reason) instead of one per event, so an event that
-- is both flagged by its device and over-redeemed (or odd in several ways) lists every reason,
-- and a ledger recomputation replaces only the ledger's reasons. An item about a refused scan of
-- a code that named no book has no book, so review_queue.book_id and resolutions.book_id may be
-- NULL. Keep in step with ../sqlite/20261207000101_review_reasons.sql.
ALTER TABLE review_queue DROP CONSTRAINT review_queue_pkey;
ALTER TABLE review_queue ADD PRIMARY KEY (event_id, reason);
ALTER TABLE review_queue ALTER COLUMN book_id DROP NOT NULL;
ALTER TABLE resolutions ALTER COLUMN book_id DROP NOT NULL;
-- A book's recomputation replaces the open ledger reasons of that book.
CREATE INDEX review_queue_book ON review_queue (book_id);
