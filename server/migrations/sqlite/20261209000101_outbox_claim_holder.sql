-- Which delivery round holds a claimed message, so a round whose claim ran out and was taken by
-- another neither sends it again nor records over the other's result.
-- Keep in step with ../postgres/20261209000101_outbox_claim_holder.sql.

-- The claiming round's random token; kept after the attempt is recorded (NULL: never claimed).
ALTER TABLE notifications ADD COLUMN claimed_by TEXT;
