-- Alert channels and their deliveries. A dispatcher reads the event outbox
-- after its cursor, damps flapping data sources, matches each event against
-- the organization's channels and queues one delivery per match, advancing
-- the cursor in the same transaction; a worker sends the deliveries (at
-- least once, in order per channel and data source, retried with backoff).

CREATE TABLE alert_channels (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('webhook')),
    url              TEXT NOT NULL,
    secret           TEXT NOT NULL,           -- sealed with the org's data key, bound to the channel
    event_kinds      TEXT NOT NULL,           -- JSON list of kinds; empty: all
    tags             TEXT NOT NULL,           -- JSON list of data source tags; empty: any
    min_severity     TEXT NOT NULL CHECK (min_severity IN ('info', 'warning', 'critical')),
    enabled          BIGINT NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    created_by       TEXT,
    updated_at       TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE alert_deliveries (
    id                TEXT PRIMARY KEY,
    channel_id        TEXT NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
    organization_id   TEXT NOT NULL,
    event_seq         BIGINT NOT NULL,
    event_id          TEXT NOT NULL,
    event_kind        TEXT NOT NULL,
    data_source_id    TEXT,
    stream            TEXT NOT NULL,          -- the ordering key: the data source id, '' for none
    body              TEXT NOT NULL,          -- the JSON sent (signed afresh on every attempt)
    status            TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   TEXT NOT NULL,
    last_status_code  BIGINT,
    last_error        TEXT,                   -- never a secret
    last_latency_ms   BIGINT,
    created_at        TEXT NOT NULL,
    delivered_at      TEXT,
    UNIQUE (channel_id, event_id)
);
-- The head of each (channel, data source) queue: the oldest pending delivery.
CREATE INDEX alert_deliveries_queue ON alert_deliveries (channel_id, stream, event_seq) WHERE status = 'pending';
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_log ON alert_deliveries (channel_id, created_at);

-- Where the dispatcher is in the outbox: one row.
CREATE TABLE alert_dispatch_cursor (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    last_seq  BIGINT NOT NULL
);
INSERT INTO alert_dispatch_cursor (id, last_seq) VALUES (1, 0);

-- Flapping damping per data source: the recent status transitions (unix
-- milliseconds, JSON list), whether it is flapping, the last status seen.
CREATE TABLE alert_flapping (
    data_source_id      TEXT PRIMARY KEY,
    organization_id     TEXT NOT NULL,
    transitions         TEXT NOT NULL,
    flapping            BIGINT NOT NULL DEFAULT 0,
    last_status         TEXT,
    last_transition_at  TEXT NOT NULL
);
CREATE INDEX alert_flapping_settle ON alert_flapping (last_transition_at) WHERE flapping = 1;
