-- Customers sign up with a phone number; notifications go out through an outbox; points,
-- gifts and feedback.
-- Keep in step with ../postgres/20261127000002_customers.sql.

-- Phone numbers are sealed (AES-256-GCM) and found by a keyed blind index (HMAC-SHA256).
ALTER TABLE users ADD COLUMN phone_index BLOB;
ALTER TABLE users ADD COLUMN phone_sealed BLOB;
CREATE UNIQUE INDEX users_phone_index ON users (phone_index);

-- One-time codes sent by SMS for registration and login.
CREATE TABLE phone_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_index BLOB NOT NULL,
    code_hash BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    used_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX phone_codes_phone ON phone_codes (phone_index, created_at);

-- How a customer came: who referred them (a courier's or clerk's staff code, another customer).
CREATE TABLE signups (
    user_id INTEGER PRIMARY KEY REFERENCES users (id),
    referrer_id INTEGER REFERENCES users (id),
    browser_hash BLOB,
    created_at INTEGER NOT NULL
);
CREATE INDEX signups_referrer ON signups (referrer_id);
CREATE INDEX signups_browser ON signups (browser_hash);

-- Messages to customers; a dispatcher delivers them with retries and gives up after a limit.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER REFERENCES users (id),
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'wechat', 'push')),
    recipient_sealed BLOB NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);

-- Units already announced to the holder, so each redemption message names what changed.
ALTER TABLE books ADD COLUMN notified_used_units INTEGER NOT NULL DEFAULT 0;

-- Where background jobs have read up to (e.g. the status sequence for redemption messages).
CREATE TABLE job_cursors (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

-- Points: earned per counted unit, spent on gifts; the balance is the sum of the deltas.
CREATE TABLE points_ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    delta INTEGER NOT NULL,
    reason TEXT NOT NULL,
    ref TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE INDEX points_account ON points_ledger (account_id);

-- The gift catalogue (water, dispenser parts, cups) and orders paid with points.
CREATE TABLE gifts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    points INTEGER NOT NULL CHECK (points > 0),
    stock INTEGER NOT NULL CHECK (stock >= 0),
    created_at INTEGER NOT NULL
);

CREATE TABLE gift_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gift_id INTEGER NOT NULL REFERENCES gifts (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    points INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX gift_orders_account ON gift_orders (account_id);

-- Customer feedback: delivery ratings and problems, worked on by the support desk.
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    book_id INTEGER REFERENCES books (id),
    kind TEXT NOT NULL CHECK (kind IN ('rating', 'cannot_get', 'cannot_redeem', 'lost', 'other')),
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    staff_user_id INTEGER REFERENCES users (id),
    message TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'in_progress', 'closed')),
    assignee_id INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX feedback_state ON feedback (state, created_at);
