-- The device time of a book's latest redemption, whatever its outcome. With used_units it is the
-- book's ledger tip: a push whose redemptions of the book are all later appends them without
-- reloading the book's events (shuipiao_shared::ledger::extend).
ALTER TABLE books ADD COLUMN ledger_at BIGINT;
UPDATE books SET ledger_at = (
    SELECT MAX(e.scanned_at) FROM events e WHERE e.book_id = books.id AND e.kind = 'redemption'
);
