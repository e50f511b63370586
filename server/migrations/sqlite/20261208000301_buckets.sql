-- Buckets (押桶 / 空桶, docs/deliveries.md "Buckets"): each product's deposit per bucket, and
-- the records the plant makes beside the couriers' delivery events: opening balances, deposits
-- paid at the counter or online, and refunds. The ledger (shared/src/buckets.rs) is computed
-- from these and the delivery events. Keep in step with ../postgres/20261208000301_buckets.sql.
ALTER TABLE products ADD COLUMN deposit_fen INTEGER NOT NULL DEFAULT 0
    CHECK (deposit_fen BETWEEN 0 AND 100000);

CREATE TABLE bucket_records (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    product_code INTEGER NOT NULL REFERENCES products (code),
    kind TEXT NOT NULL CHECK (kind IN ('opening', 'deposit', 'refund')),
    buckets INTEGER NOT NULL CHECK (buckets BETWEEN 0 AND 1000),
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
    method TEXT NOT NULL CHECK (method IN ('cash', 'account', 'online')),
    note TEXT NOT NULL DEFAULT '',
    operator_id INTEGER NOT NULL REFERENCES users (id),
    at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX bucket_records_account ON bucket_records (account_id, product_code);
