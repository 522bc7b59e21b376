-- Inlet's catalog: organizations, access, data sources, their secrets, health
-- and discovered schemas. Ids are UUID strings; times are UTC RFC 3339 with
-- milliseconds (`2026-01-02T03:04:05.678Z`), which sort as text.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('individual', 'organization')),
    data_key    TEXT NOT NULL,            -- the org's data key, wrapped by the master key
    created_at  TEXT NOT NULL
);

CREATE TABLE workspaces (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    is_default       BIGINT NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    created_at       TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id               TEXT PRIMARY KEY,
    token_hash       TEXT NOT NULL UNIQUE,    -- SHA-256 of the token; the token itself is never stored
    organization_id  TEXT REFERENCES organizations(id) ON DELETE CASCADE,  -- NULL: platform admin
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('platform-admin', 'org-admin', 'member', 'viewer')),
    name             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT,
    revoked_at       TEXT
);

-- Workspaces a member or viewer token may see (none listed: the org's default workspace).
CREATE TABLE api_token_workspaces (
    token_id      TEXT NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, workspace_id)
);

CREATE TABLE data_sources (
    id                       TEXT PRIMARY KEY,
    organization_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    workspace_id             TEXT NOT NULL REFERENCES workspaces(id),
    name                     TEXT NOT NULL,
    description              TEXT,
    source_type              TEXT NOT NULL,
    config                   TEXT NOT NULL,   -- JSON, non-secret
    connection_settings      TEXT NOT NULL,   -- JSON
    ssh_tunnel               TEXT,            -- JSON
    schema_refresh           TEXT NOT NULL,   -- JSON
    health_check_interval_s  BIGINT NOT NULL,
    status                   TEXT NOT NULL,
    status_reason            TEXT,
    last_test                TEXT,            -- JSON
    last_tested_at           TEXT,
    created_at               TEXT NOT NULL,
    created_by               TEXT,
    updated_at               TEXT NOT NULL,
    updated_by               TEXT,
    deleted_at               TEXT,
    deleted_by               TEXT,
    version                  BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX data_sources_live_name ON data_sources (workspace_id, name) WHERE deleted_at IS NULL;
CREATE INDEX data_sources_org ON data_sources (organization_id, created_at);

CREATE TABLE data_source_tags (
    data_source_id  TEXT NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    tag             TEXT NOT NULL,
    PRIMARY KEY (data_source_id, tag)
);

CREATE TABLE data_source_shares (
    data_source_id  TEXT NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    PRIMARY KEY (data_source_id, workspace_id)
);

CREATE TABLE data_source_secrets (
    data_source_id  TEXT NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    field           TEXT NOT NULL,
    sealed          TEXT NOT NULL,            -- AES-256-GCM under the org's data key, bound to (org, data source, field)
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (data_source_id, field)
);

CREATE TABLE health_checks (
    id                BIGSERIAL PRIMARY KEY,
    data_source_id    TEXT NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    checked_at        TEXT NOT NULL,
    ok                BIGINT NOT NULL,
    response_time_ms  BIGINT NOT NULL,
    error_kind        TEXT,
    message           TEXT,
    origin            TEXT NOT NULL           -- 'manual', 'create', 'scheduler'
);
CREATE INDEX health_checks_source_time ON health_checks (data_source_id, checked_at);

CREATE TABLE discovery_jobs (
    id              TEXT PRIMARY KEY,
    data_source_id  TEXT NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    requested_at    TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    tables_found    BIGINT,
    error_kind      TEXT,
    error           TEXT
);
CREATE INDEX discovery_jobs_source ON discovery_jobs (data_source_id, requested_at);

CREATE TABLE discovered_tables (
    data_source_id  TEXT NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    schema_name     TEXT NOT NULL,
    table_name      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    definition      TEXT NOT NULL,            -- JSON: the table with its columns and constraints
    PRIMARY KEY (data_source_id, schema_name, table_name)
);
