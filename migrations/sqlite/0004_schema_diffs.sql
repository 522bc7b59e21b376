-- What a discovery found changed since the previous successful one (JSON).
ALTER TABLE discovery_jobs ADD COLUMN diff TEXT;
