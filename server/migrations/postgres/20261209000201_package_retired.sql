-- A package taken off sale (停售) issues no new books; the books it issued stay valid.
ALTER TABLE packages ADD COLUMN retired_at BIGINT;
