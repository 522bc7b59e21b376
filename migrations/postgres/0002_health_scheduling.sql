-- Health scheduling and circuit breakers: when each data source is next due
-- (the scheduler claims rows by it) and the state of its breaker.
ALTER TABLE data_sources ADD COLUMN next_check_at TEXT;
ALTER TABLE data_sources ADD COLUMN breaker_state TEXT NOT NULL DEFAULT 'closed';
ALTER TABLE data_sources ADD COLUMN breaker_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE data_sources ADD COLUMN breaker_opens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE data_sources ADD COLUMN breaker_open_until TEXT;
CREATE INDEX data_sources_due ON data_sources (next_check_at) WHERE deleted_at IS NULL;
