-- A message is delivered by one dispatcher at a time, even with several servers on one database.
-- Keep in step with ../postgres/20261207000501_outbox_claims.sql.

-- Until when a dispatcher holds the message it is delivering (NULL: nobody).
ALTER TABLE notifications ADD COLUMN claimed_until INTEGER;
