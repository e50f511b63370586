-- At most one active key per purpose, enforced by the database: two server instances starting
-- on an empty database (or two rotations at once) must not both install an active key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (purpose) WHERE state = 'active';
