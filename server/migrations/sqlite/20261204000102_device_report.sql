-- What a device last reported when it pulled: events it still held that the server had not
-- stored, and the error of its previous failed sync. NULL until a device reports. Keep in step
-- with the other backend's file.
ALTER TABLE devices ADD COLUMN pending_events INTEGER;
ALTER TABLE devices ADD COLUMN last_sync_error TEXT;
ALTER TABLE devices ADD COLUMN reported_at INTEGER;
