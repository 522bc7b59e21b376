-- A discovery stores its tables as the connector's pages arrive, beside the
-- catalog of the previous successful discovery, which readers keep seeing
-- until the new job succeeds: each row names the job that found it. The
-- digest of a table's columns lets a rediscovery skip unchanged tables
-- without reading their definitions (NULL for rows stored before it).
CREATE TABLE discovered_tables_by_job (
    data_source_id  TEXT NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    job_id          TEXT NOT NULL,
    schema_name     TEXT NOT NULL,
    table_name      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    columns_digest  TEXT,                     -- before the definition: read without it
    definition      TEXT NOT NULL,            -- JSON: the table with its columns and constraints
    PRIMARY KEY (data_source_id, job_id, schema_name, table_name)
);
INSERT INTO discovered_tables_by_job (data_source_id, job_id, schema_name, table_name, kind, definition)
SELECT t.data_source_id,
       COALESCE((SELECT j.id FROM discovery_jobs j WHERE j.data_source_id = t.data_source_id AND j.status = 'succeeded'
                 ORDER BY j.finished_at DESC, j.id DESC LIMIT 1), ''),
       t.schema_name, t.table_name, t.kind, t.definition
FROM discovered_tables t;
DROP TABLE discovered_tables;
ALTER TABLE discovered_tables_by_job RENAME TO discovered_tables;
