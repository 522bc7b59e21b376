-- Plugins as the platform manages them. Every plugin the server knows has a
-- row: `bundled` ones come from INLET_PLUGINS_DIR (the operator's), and
-- `installed` ones were uploaded through the API or the CLI and live here,
-- package and all, so every replica loads the same bytes. `enabled` is the
-- platform's switch; org_plugin_settings holds organizations' own.
CREATE TABLE plugins (
    id               TEXT PRIMARY KEY,
    version          TEXT NOT NULL,
    origin           TEXT NOT NULL,
    enabled          INTEGER NOT NULL DEFAULT 1,
    sha256           TEXT NOT NULL,
    signature_status TEXT NOT NULL,
    signer_key_id    TEXT,
    manifest         TEXT,
    wasm             BLOB,
    signature        TEXT,
    installed_at     TEXT NOT NULL,
    installed_by     TEXT,
    updated_at       TEXT NOT NULL
);

CREATE TABLE org_plugin_settings (
    organization_id  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    plugin_id        TEXT NOT NULL,
    enabled          INTEGER NOT NULL,
    updated_at       TEXT NOT NULL,
    updated_by       TEXT,
    PRIMARY KEY (organization_id, plugin_id)
);

-- Who changed which plugin, when, and how.
CREATE TABLE plugin_audit (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    at               TEXT NOT NULL,
    actor            TEXT NOT NULL,
    organization_id  TEXT,
    action           TEXT NOT NULL,
    plugin_id        TEXT NOT NULL,
    version          TEXT,
    details          TEXT NOT NULL
);
CREATE INDEX plugin_audit_plugin ON plugin_audit (plugin_id, seq);

-- Moves on every change to plugins or their switches; servers poll it and
-- rebuild their set of connectors when it moves.
CREATE TABLE plugin_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    generation       INTEGER NOT NULL
);
INSERT INTO plugin_state (id, generation) VALUES (1, 0);

-- The status a data source had when its plugin was disabled, restored on enable.
ALTER TABLE data_sources ADD COLUMN held_status TEXT;
