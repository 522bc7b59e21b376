-- When each data source's schema is next discovered automatically (NULL:
-- not scheduled yet; the scheduler schedules it one interval ahead).
ALTER TABLE data_sources ADD COLUMN next_discovery_at TEXT;
