-- Addresses, delivery slots, orders of water, recurring orders and the couriers' delivery feed
-- (docs/deliveries.md). Keep in step with ../postgres/20261208000001_delivery_orders.sql.

-- An account's delivery addresses; an enterprise's are its delivery points (with a label).
-- The phone is sealed like every phone the server keeps. Removed addresses stay for the orders
-- that name them.
CREATE TABLE addresses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    region_id INTEGER NOT NULL REFERENCES regions (id),
    label TEXT NOT NULL DEFAULT '',
    community TEXT NOT NULL,
    building TEXT NOT NULL,
    unit TEXT NOT NULL,
    room TEXT NOT NULL,
    contact TEXT NOT NULL,
    phone_sealed BLOB NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    removed_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX addresses_account ON addresses (account_id);

-- A region's own slot hours (minutes after local midnight); a region without rows offers both
-- slots with the plant's hours.
CREATE TABLE delivery_slots (
    region_id INTEGER NOT NULL REFERENCES regions (id),
    slot TEXT NOT NULL CHECK (slot IN ('morning', 'afternoon')),
    starts_minute INTEGER NOT NULL CHECK (starts_minute BETWEEN 0 AND 1439),
    ends_minute INTEGER NOT NULL CHECK (ends_minute BETWEEN 1 AND 1440),
    offered INTEGER NOT NULL DEFAULT 1 CHECK (offered IN (0, 1)),
    PRIMARY KEY (region_id, slot),
    CHECK (starts_minute < ends_minute)
);

CREATE TABLE recurring_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    address_id INTEGER NOT NULL REFERENCES addresses (id),
    product_code INTEGER NOT NULL REFERENCES products (code),
    bottles INTEGER NOT NULL CHECK (bottles BETWEEN 1 AND 50),
    slot TEXT NOT NULL CHECK (slot IN ('morning', 'afternoon')),
    note TEXT NOT NULL DEFAULT '',
    payment TEXT NOT NULL CHECK (payment IN ('tickets', 'account', 'cash')),
    book_id INTEGER REFERENCES books (id),
    every_days INTEGER CHECK (every_days BETWEEN 1 AND 60),
    weekday INTEGER CHECK (weekday BETWEEN 1 AND 7),
    next_date TEXT NOT NULL,
    paused_at INTEGER,
    created_by INTEGER REFERENCES users (id),
    created_at INTEGER NOT NULL,
    CHECK ((every_days IS NULL) <> (weekday IS NULL))
);
CREATE INDEX recurring_orders_account ON recurring_orders (account_id);
CREATE INDEX recurring_orders_next ON recurring_orders (next_date);

-- Orders of water (订水单). `region_id` is copied from the address when the order is placed.
-- A `tickets` order reserves its bottles on `book_id` until it is closed.
CREATE TABLE delivery_orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    address_id INTEGER NOT NULL REFERENCES addresses (id),
    region_id INTEGER NOT NULL REFERENCES regions (id),
    product_code INTEGER NOT NULL REFERENCES products (code),
    bottles INTEGER NOT NULL CHECK (bottles BETWEEN 1 AND 50),
    slot_date TEXT NOT NULL,
    slot TEXT NOT NULL CHECK (slot IN ('morning', 'afternoon')),
    note TEXT NOT NULL DEFAULT '',
    payment TEXT NOT NULL CHECK (payment IN ('tickets', 'account', 'cash')),
    book_id INTEGER REFERENCES books (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'assigned', 'out', 'delivered', 'failed', 'cancelled')),
    courier_id INTEGER REFERENCES users (id),
    recurring_id INTEGER REFERENCES recurring_orders (id),
    placed_by INTEGER REFERENCES users (id),
    failure_reason TEXT,
    created_at INTEGER NOT NULL,
    assigned_at INTEGER,
    closed_at INTEGER,
    CHECK ((payment = 'tickets') = (book_id IS NOT NULL)),
    UNIQUE (recurring_id, slot_date)
);
CREATE INDEX delivery_orders_day ON delivery_orders (slot_date, region_id, state);
CREATE INDEX delivery_orders_account ON delivery_orders (account_id, created_at);
CREATE INDEX delivery_orders_book ON delivery_orders (book_id, state);
CREATE INDEX delivery_orders_courier ON delivery_orders (courier_id, slot_date);

-- The single delivery-feed sequence holder: like status_clock, every feed row takes the next
-- value inside the committing transaction, so feed order equals commit order.
CREATE TABLE dispatch_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO dispatch_clock (id, seq) VALUES (1, 0);

-- What each courier's phone must learn, in commit order.
CREATE TABLE delivery_feed (
    seq INTEGER PRIMARY KEY,
    courier_id INTEGER NOT NULL REFERENCES users (id),
    order_id INTEGER NOT NULL REFERENCES delivery_orders (id),
    change TEXT NOT NULL CHECK (change IN ('assigned', 'updated', 'withdrawn')),
    created_at INTEGER NOT NULL
);
CREATE INDEX delivery_feed_courier ON delivery_feed (courier_id, seq);
