-- An enterprise admin invites a phone number; the customer becomes a member only by accepting
-- (in the wallet, or with the code the invitation SMS carries).
-- Keep in step with ../postgres/20261207000201_enterprise_invitations.sql.

-- The phone is kept only as its blind index (to match the customer) and its masked form (for
-- the enterprise's list); the code only as a keyed hash, with the wrong guesses counted.
CREATE TABLE enterprise_invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    enterprise_id INTEGER NOT NULL REFERENCES accounts (id),
    phone_index BLOB NOT NULL,
    phone_masked TEXT NOT NULL,
    name TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'withdrawn', 'expired', 'left')),
    invited_by INTEGER REFERENCES users (id),
    account_id INTEGER REFERENCES accounts (id),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    answered_at INTEGER
);
CREATE INDEX enterprise_invitations_enterprise ON enterprise_invitations (enterprise_id, created_at);
CREATE INDEX enterprise_invitations_phone ON enterprise_invitations (phone_index, created_at);
-- One open invitation per enterprise and phone.
CREATE UNIQUE INDEX enterprise_invitations_pending ON enterprise_invitations (enterprise_id, phone_index)
    WHERE state = 'pending';

-- Which books an enterprise handed out is read back through orders and book lineage.
CREATE INDEX orders_account ON orders (account_id);
CREATE INDEX books_order ON books (order_id);
CREATE INDEX books_replaces ON books (replaces_book_id);
