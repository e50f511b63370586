-- Initial schema (SQLite). Keep in step with ../postgres/20261127000001_init.sql.
-- Never edit a shipped migration: add a new one.

CREATE TABLE id_counters (
    name TEXT PRIMARY KEY,
    next_value INTEGER NOT NULL
);
INSERT INTO id_counters (name, next_value) VALUES ('book', 1);

-- The single status sequence holder: every book status change takes the next value inside the
-- committing transaction, so sequence order equals commit order.
CREATE TABLE status_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO status_clock (id, seq) VALUES (1, 0);

CREATE TABLE products (
    code INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    volume_ml INTEGER NOT NULL
);

CREATE TABLE regions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE outlets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    region_id INTEGER NOT NULL REFERENCES regions (id),
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE scopes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE scope_regions (
    scope_id INTEGER NOT NULL REFERENCES scopes (id),
    region_id INTEGER NOT NULL REFERENCES regions (id),
    PRIMARY KEY (scope_id, region_id)
);

CREATE TABLE scope_outlets (
    scope_id INTEGER NOT NULL REFERENCES scopes (id),
    outlet_id INTEGER NOT NULL REFERENCES outlets (id),
    PRIMARY KEY (scope_id, outlet_id)
);

CREATE TABLE packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
    paid_units INTEGER NOT NULL CHECK (paid_units > 0),
    bonus_units INTEGER NOT NULL CHECK (bonus_units >= 0),
    validity_days INTEGER NOT NULL CHECK (validity_days > 0),
    product_code INTEGER NOT NULL REFERENCES products (code),
    scope_id INTEGER NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('customer', 'enterprise')),
    name TEXT NOT NULL,
    enterprise_id INTEGER REFERENCES accounts (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX accounts_enterprise ON accounts (enterprise_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts (id),
    region_id INTEGER REFERENCES regions (id),
    outlet_id INTEGER REFERENCES outlets (id),
    disabled_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    secret_hash BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    package_id INTEGER NOT NULL REFERENCES packages (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    total_fen INTEGER NOT NULL,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kid BLOB NOT NULL UNIQUE,
    purpose TEXT NOT NULL CHECK (purpose IN ('root', 'issuer')),
    public_key BLOB NOT NULL UNIQUE,
    sealed_secret BLOB NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'retired', 'compromised')),
    compromised_since INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE keyring_bundles (
    version INTEGER PRIMARY KEY,
    bundle BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE books (
    id INTEGER PRIMARY KEY,
    order_id INTEGER REFERENCES orders (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    product_code INTEGER NOT NULL REFERENCES products (code),
    units INTEGER NOT NULL CHECK (units > 0),
    scope_id INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    kid BLOB NOT NULL REFERENCES signing_keys (kid),
    qr_text TEXT NOT NULL,
    source TEXT NOT NULL,
    replaces_book_id INTEGER REFERENCES books (id),
    used_units INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('active', 'used_up', 'revoked')),
    revoked_at INTEGER,
    revoke_reason TEXT,
    last_used_at INTEGER,
    status_seq INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX books_account ON books (account_id);
CREATE INDEX books_kid ON books (kid);
CREATE UNIQUE INDEX books_status_seq ON books (status_seq);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id),
    public_key BLOB NOT NULL UNIQUE,
    token_hash BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL,
    disabled_at INTEGER,
    -- Tip of the device's event hash chain as stored here (0 and NULL before the first event).
    chain_seq INTEGER NOT NULL DEFAULT 0,
    chain_hash BLOB
);

CREATE TABLE enrollment_codes (
    code_hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    device_id INTEGER REFERENCES devices (id),
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_user_id INTEGER REFERENCES users (id),
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    at INTEGER NOT NULL
);

-- Device events (redemptions, voids, scan attempts) exactly as signed, never deleted.
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices (id),
    device_seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('redemption', 'void', 'scan_attempt')),
    book_id INTEGER,
    scanned_at INTEGER NOT NULL,
    signed BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    server_seq INTEGER,
    UNIQUE (device_id, device_seq)
);
CREATE INDEX events_book ON events (book_id);

-- Operator decisions on flagged redemptions; events in the ledger like any other.
CREATE TABLE resolutions (
    event_id TEXT PRIMARY KEY,
    target_event_id TEXT NOT NULL REFERENCES events (event_id),
    book_id INTEGER NOT NULL REFERENCES books (id),
    action TEXT NOT NULL CHECK (action IN ('charge', 'write_off', 'void')),
    operator_id INTEGER NOT NULL REFERENCES users (id),
    note TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX resolutions_book ON resolutions (book_id);

-- Redemptions that need an operator: over-redeemed, after revocation, or flagged by the device.
CREATE TABLE review_queue (
    event_id TEXT PRIMARY KEY REFERENCES events (event_id),
    book_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    resolution_event_id TEXT REFERENCES resolutions (event_id)
);
