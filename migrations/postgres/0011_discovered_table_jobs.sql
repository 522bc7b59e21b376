-- A discovery stores its tables as the connector's pages arrive, beside the
-- catalog of the previous successful discovery, which readers keep seeing
-- until the new job succeeds: each row names the job that found it. The
-- digest of a table's columns lets a rediscovery skip unchanged tables
-- without reading their definitions (NULL for rows stored before it).
ALTER TABLE discovered_tables ADD COLUMN job_id TEXT NOT NULL DEFAULT '';
ALTER TABLE discovered_tables ADD COLUMN columns_digest TEXT;
UPDATE discovered_tables t SET job_id = COALESCE(
    (SELECT j.id FROM discovery_jobs j WHERE j.data_source_id = t.data_source_id AND j.status = 'succeeded'
     ORDER BY j.finished_at DESC, j.id DESC LIMIT 1), '');
ALTER TABLE discovered_tables ALTER COLUMN job_id DROP DEFAULT;
ALTER TABLE discovered_tables DROP CONSTRAINT discovered_tables_pkey;
ALTER TABLE discovered_tables ADD PRIMARY KEY (data_source_id, job_id, schema_name, table_name);
