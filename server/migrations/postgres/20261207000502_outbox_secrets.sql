-- Live codes leave the outbox readable by nobody.
-- Keep in step with ../sqlite/20261207000502_outbox_secrets.sql.

-- The secret part of a message (a sign-in code), sealed under a subkey of the master key while
-- it may still be delivered; NULL once the message is sent, given up on or the secret expired.
-- The body keeps the text with the secret masked. A message with secret_expires_at set had a
-- secret, so it is never sent again once the secret is gone.
ALTER TABLE notifications ADD COLUMN secret_sealed BYTEA;
ALTER TABLE notifications ADD COLUMN secret_expires_at BIGINT;
-- Each delivery round erases the secrets past their expiry: find them without a scan.
CREATE INDEX notifications_secrets ON notifications (secret_expires_at)
    WHERE secret_sealed IS NOT NULL;

-- Codes queued before this version were stored in clear: mask them, give up on the ones not
-- sent yet (they would now arrive masked), and mark them all as having had a secret.
UPDATE notifications SET state = 'dead', last_error = '验证码已过期,未发送'
    WHERE kind = 'code' AND state = 'pending';
UPDATE notifications SET body = regexp_replace(body, '验证码是[0-9]{6}', '验证码是******')
    WHERE kind = 'code';
UPDATE notifications SET secret_expires_at = created_at WHERE kind = 'code';
