-- Customers reachable by WeChat template message or app push besides SMS: each user may bind
-- one address per channel; a message records the channel it was routed to and that address.
-- Keep in step with ../sqlite/20261204000201_notify_channels.sql.

-- A WeChat openid or an app push device token, sealed like phone numbers; unbinding deletes
-- the row.
CREATE TABLE user_channels (
    user_id BIGINT NOT NULL REFERENCES users (id),
    channel TEXT NOT NULL CHECK (channel IN ('wechat', 'push')),
    address_sealed BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, channel)
);

-- The sealed WeChat openid or push token of a message not sent by SMS (the phone number stays
-- in recipient_sealed, so a message can fall back to SMS).
ALTER TABLE notifications ADD COLUMN address_sealed BYTEA;

-- The admin notifications page lists newest first and filters by user.
CREATE INDEX notifications_user ON notifications (user_id, id);
