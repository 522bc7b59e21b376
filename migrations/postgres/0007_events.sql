-- The event outbox: every status transition, breaker move, detected schema
-- change and credential change of a data source, written in the same
-- transaction as the change itself, so none is lost to a crash. `seq` orders
-- them (SSE ids, `since=` paging, the alert dispatcher's cursor).
CREATE TABLE events (
    seq              BIGSERIAL PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    organization_id  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    data_source_id   TEXT,
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    payload          TEXT NOT NULL
);
CREATE INDEX events_org_seq ON events (organization_id, seq);
CREATE INDEX events_source_seq ON events (data_source_id, seq);
