-- Files uploaded through /api/v1/storage: the bytes live in the object
-- store under <organization>/<id>/<name>; this row is what the API and the
-- data sources that reference storage://<id> look up.
CREATE TABLE storage_files (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    sha256           TEXT NOT NULL,
    content_type     TEXT,
    created_at       TEXT NOT NULL,
    created_by       TEXT
);
CREATE INDEX storage_files_org ON storage_files (organization_id, created_at);
