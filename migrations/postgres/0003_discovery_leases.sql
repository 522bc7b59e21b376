-- Discovery jobs are claimed by workers and kept alive by heartbeats, so a
-- job whose worker died (crash, kill -9) is found and run again.
ALTER TABLE discovery_jobs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE discovery_jobs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX discovery_jobs_status ON discovery_jobs (status, requested_at);
