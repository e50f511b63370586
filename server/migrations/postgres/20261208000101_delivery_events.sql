-- Delivery events (kind 4 of the device record): the courier closes an order of water at the
-- door. The events table accepts the kind and keeps what orders, buckets and statistics read of
-- it as columns: the order, the outcome, full bottles handed over, empties taken back and
-- deposits taken. Keep in step with ../sqlite/20261208000101_delivery_events.sql.
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('redemption', 'void', 'scan_attempt', 'delivery'));
ALTER TABLE events ADD COLUMN order_id BIGINT;
ALTER TABLE events ADD COLUMN outcome TEXT
    CHECK (outcome IN ('tickets', 'account', 'cash', 'not_delivered'));
ALTER TABLE events ADD COLUMN bottles BIGINT;
ALTER TABLE events ADD COLUMN empties BIGINT;
ALTER TABLE events ADD COLUMN deposits BIGINT;
CREATE INDEX events_order ON events (order_id);
