-- Packages whose books are shown only as a rotating QR code signed by the holder's browser
-- (v2 credential). Existing packages stay static (v1).
ALTER TABLE packages ADD COLUMN holder_bound INTEGER NOT NULL DEFAULT 0 CHECK (holder_bound IN (0, 1));
