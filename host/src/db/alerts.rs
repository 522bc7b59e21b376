//! Alert channels, their deliveries, the dispatcher's cursor into the event
//! outbox and the flapping state per data source.
//!
//! The dispatcher's pass is one transaction: lock the cursor, read the events
//! after it with everything a decision needs ([`DispatchInput`]), let the
//! caller decide ([`DispatchPlan`]: deliveries, flapping state, events to
//! append), apply that and move the cursor. A crash before the commit
//! leaves the cursor where it was, so the same events are dispatched again;
//! a delivery is unique per (channel, event), so nothing is queued twice.

use std::collections::HashMap;

use sqlx::FromRow;

use super::events::{EventRow, NewEvent, append};
use super::sql::{Sql, query_as_with};
use super::{Backend, Db, DbError};

#[derive(Debug, Clone, FromRow)]
pub struct AlertChannelRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub kind: String,
    pub url: String,
    /// Sealed with the organization's data key ([`crate::vault`]).
    pub secret: String,
    /// JSON list of event kinds; empty: every kind.
    pub event_kinds: String,
    /// JSON list of data source tags; empty: any data source.
    pub tags: String,
    pub min_severity: String,
    pub enabled: i64,
    pub created_at: String,
    pub created_by: Option<String>,
    pub updated_at: String,
}

const CHANNEL_COLUMNS: &str = "id, organization_id, name, kind, url, secret, event_kinds, tags, min_severity, \
                               enabled, created_at, created_by, updated_at";

#[derive(Debug, Clone, FromRow)]
pub struct AlertDeliveryRow {
    pub id: String,
    pub channel_id: String,
    pub organization_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub event_kind: String,
    pub data_source_id: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

const DELIVERY_COLUMNS: &str = "id, channel_id, organization_id, event_seq, event_id, event_kind, data_source_id, \
                                status, attempts, next_attempt_at, last_status_code, last_error, last_latency_ms, \
                                created_at, delivered_at";

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: String,
    pub channel_id: String,
    pub organization_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub event_kind: String,
    pub data_source_id: Option<String>,
    /// The JSON body to send.
    pub body: String,
    pub created_at: String,
}

/// The flapping state of one data source, as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct FlapRow {
    pub data_source_id: String,
    pub organization_id: String,
    /// JSON list of the recent transitions' times (unix milliseconds).
    pub transitions: String,
    pub flapping: i64,
    pub last_status: Option<String>,
    pub last_transition_at: String,
}

const FLAP_COLUMNS: &str = "data_source_id, organization_id, transitions, flapping, last_status, last_transition_at";

/// What the dispatcher sees in one pass.
#[derive(Debug, Default)]
pub struct DispatchInput {
    /// After the cursor, ascending `seq`.
    pub events: Vec<EventRow>,
    /// The enabled channels of the events' organizations.
    pub channels: Vec<AlertChannelRow>,
    /// The tags of the events' data sources.
    pub tags: HashMap<String, Vec<String>>,
    /// The stored flapping state of the events' data sources.
    pub flapping: HashMap<String, FlapRow>,
}

/// What the dispatcher decided.
#[derive(Debug, Default)]
pub struct DispatchPlan {
    pub deliveries: Vec<NewDelivery>,
    /// Flapping rows to write (insert or replace).
    pub flapping: Vec<FlapRow>,
    /// Events to append (`flapping`), in the same transaction.
    pub events: Vec<PlannedEvent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    pub organization_id: String,
    pub data_source_id: Option<String>,
    pub kind: crate::events::EventKind,
    pub payload: serde_json::Value,
}

/// What one dispatch pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dispatched {
    pub events: usize,
    pub deliveries: usize,
}

/// A delivery claimed for an attempt, with its channel's address and secret.
#[derive(Debug, Clone, FromRow)]
pub struct DueDelivery {
    pub id: String,
    pub channel_id: String,
    pub organization_id: String,
    pub event_id: String,
    pub data_source_id: Option<String>,
    pub body: String,
    pub attempts: i64,
    pub created_at: String,
    pub url: String,
    pub secret: String,
}

/// The result of one attempt, to store.
#[derive(Debug, Clone)]
pub struct AttemptResult<'a> {
    pub status: &'a str,
    pub attempts: i64,
    pub next_attempt_at: &'a str,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    pub latency_ms: i64,
    pub delivered_at: Option<&'a str>,
}

impl Db {
    pub async fn insert_alert_channel(&self, row: &AlertChannelRow) -> Result<(), DbError> {
        sqlx::query(&format!(
            "INSERT INTO alert_channels ({CHANNEL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(&row.name)
        .bind(&row.kind)
        .bind(&row.url)
        .bind(&row.secret)
        .bind(&row.event_kinds)
        .bind(&row.tags)
        .bind(&row.min_severity)
        .bind(row.enabled)
        .bind(&row.created_at)
        .bind(&row.created_by)
        .bind(&row.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| DbError::conflict_on_unique(e, || format!("an alert channel named `{}` exists", row.name)))?;
        Ok(())
    }

    /// One of the organization's channels.
    pub async fn alert_channel(&self, org_id: &str, id: &str) -> Result<Option<AlertChannelRow>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE organization_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A page of the organization's channels by name, with the total.
    pub async fn alert_channels(
        &self,
        org_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AlertChannelRow>, i64), DbError> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alert_channels WHERE organization_id = $1")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE organization_id = $1 \
             ORDER BY name, id LIMIT $2 OFFSET $3"
        ))
        .bind(org_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((rows, total))
    }

    /// Writes the mutable columns of a channel; false when it is gone.
    pub async fn update_alert_channel(&self, row: &AlertChannelRow) -> Result<bool, DbError> {
        let result = sqlx::query(
            "UPDATE alert_channels SET name = $1, url = $2, secret = $3, event_kinds = $4, tags = $5, \
             min_severity = $6, enabled = $7, updated_at = $8 WHERE organization_id = $9 AND id = $10",
        )
        .bind(&row.name)
        .bind(&row.url)
        .bind(&row.secret)
        .bind(&row.event_kinds)
        .bind(&row.tags)
        .bind(&row.min_severity)
        .bind(row.enabled)
        .bind(&row.updated_at)
        .bind(&row.organization_id)
        .bind(&row.id)
        .execute(&self.pool)
        .await
        .map_err(|e| DbError::conflict_on_unique(e, || format!("an alert channel named `{}` exists", row.name)))?;
        Ok(result.rows_affected() == 1)
    }

    /// Deletes a channel and (cascade) its deliveries.
    pub async fn delete_alert_channel(&self, org_id: &str, id: &str) -> Result<bool, DbError> {
        let result = sqlx::query("DELETE FROM alert_channels WHERE organization_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// A page of a channel's deliveries, newest first, with the total.
    pub async fn alert_deliveries(
        &self,
        org_id: &str,
        channel_id: &str,
        status: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AlertDeliveryRow>, i64), DbError> {
        let mut count = Sql::default();
        count.push("SELECT COUNT(*) FROM alert_deliveries WHERE organization_id = ").bind_text(org_id);
        count.push(" AND channel_id = ").bind_text(channel_id);
        let mut page = Sql::default();
        page.push(&format!("SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE organization_id = "));
        page.bind_text(org_id).push(" AND channel_id = ").bind_text(channel_id);
        if let Some(status) = status {
            count.push(" AND status = ").bind_text(status);
            page.push(" AND status = ").bind_text(status);
        }
        page.push(" ORDER BY event_seq DESC, id DESC LIMIT ").bind_int(limit).push(" OFFSET ").bind_int(offset);
        let total = query_as_with::<(i64,)>(&count)?.fetch_one(&self.pool).await?.0;
        let rows = query_as_with::<AlertDeliveryRow>(&page)?.fetch_all(&self.pool).await?;
        Ok((rows, total))
    }

    /// One dispatch pass over at most `limit` events after the cursor (see
    /// the module's documentation). Another replica holding the cursor makes
    /// this pass a no-op on PostgreSQL.
    pub async fn dispatch_alerts(
        &self,
        limit: i64,
        decide: impl FnOnce(&DispatchInput) -> DispatchPlan,
    ) -> Result<Dispatched, DbError> {
        // Idle passes take no write lock: look first.
        let newer: Option<i64> = sqlx::query_scalar(
            "SELECT e.seq FROM events e, alert_dispatch_cursor c WHERE c.id = 1 AND e.seq > c.last_seq \
             ORDER BY e.seq LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        if newer.is_none() {
            return Ok(Dispatched::default());
        }
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let mut tx = self.begin_claim().await?;
        let cursor: Option<i64> =
            sqlx::query_scalar(&format!("SELECT last_seq FROM alert_dispatch_cursor WHERE id = 1{lock}"))
                .fetch_optional(&mut *tx)
                .await?;
        let Some(cursor) = cursor else { return Ok(Dispatched::default()) };
        let events: Vec<EventRow> = sqlx::query_as(
            "SELECT seq, id, organization_id, data_source_id, kind, severity, created_at, payload \
             FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(cursor)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last_seq) = events.last().map(|event| event.seq) else { return Ok(Dispatched::default()) };
        let mut orgs: Vec<String> = events.iter().map(|e| e.organization_id.clone()).collect();
        orgs.sort();
        orgs.dedup();
        let mut sources: Vec<String> = events.iter().filter_map(|e| e.data_source_id.clone()).collect();
        sources.sort();
        sources.dedup();

        let mut sql = Sql::default();
        sql.push(&format!("SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE enabled = 1 AND organization_id IN "));
        sql.bind_list(&orgs).push(" ORDER BY created_at, id");
        let channels = query_as_with::<AlertChannelRow>(&sql)?.fetch_all(&mut *tx).await?;
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        let mut flapping = HashMap::new();
        if !sources.is_empty() {
            let mut sql = Sql::default();
            sql.push("SELECT data_source_id, tag FROM data_source_tags WHERE data_source_id IN ").bind_list(&sources);
            for (id, tag) in query_as_with::<(String, String)>(&sql)?.fetch_all(&mut *tx).await? {
                tags.entry(id).or_default().push(tag);
            }
            let mut sql = Sql::default();
            sql.push(&format!("SELECT {FLAP_COLUMNS} FROM alert_flapping WHERE data_source_id IN "));
            sql.bind_list(&sources);
            // Held against a replica's settle sweep until the new state is written.
            if self.backend == Backend::Postgres {
                sql.push(" FOR UPDATE");
            }
            for row in query_as_with::<FlapRow>(&sql)?.fetch_all(&mut *tx).await? {
                flapping.insert(row.data_source_id.clone(), row);
            }
        }
        let input = DispatchInput { events, channels, tags, flapping };
        let plan = decide(&input);

        for row in &plan.flapping {
            upsert_flap(&mut tx, row).await?;
        }
        for delivery in &plan.deliveries {
            sqlx::query(
                "INSERT INTO alert_deliveries (id, channel_id, organization_id, event_seq, event_id, event_kind, \
                 data_source_id, stream, body, status, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10) \
                 ON CONFLICT (channel_id, event_id) DO NOTHING",
            )
            .bind(&delivery.id)
            .bind(&delivery.channel_id)
            .bind(&delivery.organization_id)
            .bind(delivery.event_seq)
            .bind(&delivery.event_id)
            .bind(&delivery.event_kind)
            .bind(&delivery.data_source_id)
            .bind(delivery.data_source_id.as_deref().unwrap_or(""))
            .bind(&delivery.body)
            .bind(&delivery.created_at)
            .execute(&mut *tx)
            .await?;
        }
        for event in &plan.events {
            let new = NewEvent {
                organization_id: &event.organization_id,
                data_source_id: event.data_source_id.as_deref(),
                kind: event.kind,
                payload: event.payload.clone(),
            };
            append(&mut tx, self.backend, &new).await?;
        }
        sqlx::query("UPDATE alert_dispatch_cursor SET last_seq = $1 WHERE id = 1")
            .bind(last_seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if !plan.events.is_empty() {
            self.events_added();
        }
        Ok(Dispatched { events: input.events.len(), deliveries: plan.deliveries.len() })
    }

    /// Ends the flapping of data sources whose last transition is at or
    /// before `cutoff`: each gets a `flapping_settled` event with its current
    /// status (appended in the same transaction). Answers how many settled.
    pub async fn settle_flapping(&self, cutoff: &str) -> Result<usize, DbError> {
        let due: Option<String> = sqlx::query_scalar(
            "SELECT data_source_id FROM alert_flapping WHERE flapping = 1 AND last_transition_at <= $1 LIMIT 1",
        )
        .bind(cutoff)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(0);
        }
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let mut tx = self.begin_claim().await?;
        let rows: Vec<FlapRow> = sqlx::query_as(&format!(
            "SELECT {FLAP_COLUMNS} FROM alert_flapping WHERE flapping = 1 AND last_transition_at <= $1 \
             ORDER BY last_transition_at LIMIT 100{lock}"
        ))
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        for row in &rows {
            let status: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT status, deleted_at FROM data_sources WHERE id = $1")
                    .bind(&row.data_source_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query("UPDATE alert_flapping SET flapping = 0, transitions = '[]' WHERE data_source_id = $1")
                .bind(&row.data_source_id)
                .execute(&mut *tx)
                .await?;
            // A data source deleted meanwhile settles silently.
            let Some((status, None)) = status else { continue };
            let event = NewEvent {
                organization_id: &row.organization_id,
                data_source_id: Some(&row.data_source_id),
                kind: crate::events::EventKind::FlappingSettled,
                payload: serde_json::json!({ "status": status }),
            };
            append(&mut tx, self.backend, &event).await?;
        }
        tx.commit().await?;
        self.events_added();
        Ok(rows.len())
    }

    /// Forgets the flapping state of data sources that are not flapping and
    /// have had no transition since `before`.
    pub async fn prune_flapping(&self, before: &str) -> Result<u64, DbError> {
        let result = sqlx::query("DELETE FROM alert_flapping WHERE flapping = 0 AND last_transition_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// Claims up to `limit` deliveries that are due at `now` and head their
    /// (channel, data source) queue, on enabled channels, and leases them
    /// until `lease_until` (an attempt that never reports back is retried
    /// then). Only a queue's oldest pending delivery is ever claimed, so
    /// each queue is delivered in order, one at a time.
    pub async fn claim_due_deliveries(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, DbError> {
        let due: Option<String> = sqlx::query_scalar(
            "SELECT id FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE OF d SKIP LOCKED" } else { "" };
        let mut tx = self.begin_claim().await?;
        let rows: Vec<DueDelivery> = sqlx::query_as(&format!(
            "SELECT d.id, d.channel_id, d.organization_id, d.event_id, d.data_source_id, d.body, d.attempts, \
             d.created_at, c.url, c.secret \
             FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND c.enabled = 1 \
             AND NOT EXISTS (SELECT 1 FROM alert_deliveries e WHERE e.channel_id = d.channel_id \
                 AND e.stream = d.stream AND e.status = 'pending' AND e.event_seq < d.event_seq) \
             ORDER BY d.next_attempt_at, d.event_seq LIMIT $2{lock}"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            sqlx::query("UPDATE alert_deliveries SET next_attempt_at = $1 WHERE id = $2")
                .bind(lease_until)
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// Stores the result of an attempt on a claimed delivery.
    pub async fn record_delivery_attempt(&self, id: &str, result: &AttemptResult<'_>) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE alert_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status_code = $4, \
             last_error = $5, last_latency_ms = $6, delivered_at = $7 WHERE id = $8 AND status = 'pending'",
        )
        .bind(result.status)
        .bind(result.attempts)
        .bind(result.next_attempt_at)
        .bind(result.status_code)
        .bind(result.error.map(super::storable))
        .bind(result.latency_ms)
        .bind(result.delivered_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The earliest time a pending delivery is due (to sleep until then).
    pub async fn next_delivery_due(&self) -> Result<Option<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM alert_deliveries WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Deletes delivered and dead deliveries created before `before`.
    pub async fn prune_alert_deliveries(&self, before: &str) -> Result<u64, DbError> {
        let result =
            sqlx::query("DELETE FROM alert_deliveries WHERE status IN ('delivered', 'dead') AND created_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected())
    }
}

async fn upsert_flap(tx: &mut sqlx::AnyConnection, row: &FlapRow) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO alert_flapping (data_source_id, organization_id, transitions, flapping, last_status, \
         last_transition_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (data_source_id) DO UPDATE SET transitions = excluded.transitions, \
         flapping = excluded.flapping, last_status = excluded.last_status, \
         last_transition_at = excluded.last_transition_at",
    )
    .bind(&row.data_source_id)
    .bind(&row.organization_id)
    .bind(&row.transitions)
    .bind(row.flapping)
    .bind(&row.last_status)
    .bind(&row.last_transition_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alerts::FlapPolicy;
    use crate::alerts::dispatcher::plan;
    use crate::events::EventKind;

    const FAR: &str = "2999-01-01T00:00:00.000Z";

    async fn setup() -> (Db, tempfile::TempDir) {
        let (db, dir) = super::super::test_db().await;
        db.create_org("acme", "organization", "org-a", "wrapped").await.unwrap();
        let row = AlertChannelRow {
            id: "ch-1".into(),
            organization_id: "org-a".into(),
            name: "all".into(),
            kind: "webhook".into(),
            url: "http://127.0.0.1:9/".into(),
            secret: "v1.sealed".into(),
            event_kinds: "[]".into(),
            tags: "[]".into(),
            min_severity: "info".into(),
            enabled: 1,
            created_at: "2000-01-01T00:00:00.000Z".into(),
            created_by: None,
            updated_at: "2000-01-01T00:00:00.000Z".into(),
        };
        db.insert_alert_channel(&row).await.unwrap();
        let error = db.insert_alert_channel(&AlertChannelRow { id: "ch-2".into(), ..row }).await.unwrap_err();
        assert!(matches!(error, DbError::Conflict(_)), "names are unique per organization: {error}");
        (db, dir)
    }

    async fn status(db: &Db, source: Option<&str>, to: &str) -> i64 {
        let event = NewEvent {
            organization_id: "org-a",
            data_source_id: source,
            kind: if source.is_some() { EventKind::StatusChanged } else { EventKind::CredentialsChanged },
            payload: serde_json::json!({ "from": "x", "to": to }),
        };
        db.record_event(&event).await.unwrap()
    }

    const CALM: FlapPolicy = FlapPolicy { threshold: 1000, window: Duration::from_secs(60) };

    #[tokio::test]
    async fn events_are_queued_once_and_only_queue_heads_are_claimed() {
        let (db, _dir) = setup().await;
        let mut seqs = Vec::new();
        for (source, to) in [
            (Some("ds-1"), "failed"),
            (Some("ds-2"), "failed"),
            (Some("ds-1"), "active"),
            (None, "-"),
            (Some("ds-1"), "failed"),
        ] {
            seqs.push(status(&db, source, to).await);
        }
        let done = db.dispatch_alerts(100, |input| plan(input, &CALM)).await.unwrap();
        assert_eq!(done, Dispatched { events: 5, deliveries: 5 });
        assert_eq!(db.dispatch_alerts(100, |input| plan(input, &CALM)).await.unwrap(), Dispatched::default());

        let now = crate::db::now();
        let heads = db.claim_due_deliveries(&now, FAR, 100).await.unwrap();
        let mut claimed: Vec<(Option<&str>, i64)> = Vec::new();
        for head in &heads {
            let body: serde_json::Value = serde_json::from_str(&head.body).unwrap();
            claimed.push((head.data_source_id.as_deref(), body["seq"].as_i64().unwrap()));
        }
        claimed.sort();
        assert_eq!(claimed, [(None, seqs[3]), (Some("ds-1"), seqs[0]), (Some("ds-2"), seqs[1])], "one head per queue");
        assert!(db.claim_due_deliveries(&now, FAR, 100).await.unwrap().is_empty(), "leased");

        // The ds-1 head fails and waits: its queue stays blocked behind it.
        let head = heads.iter().find(|h| h.data_source_id.as_deref() == Some("ds-1")).unwrap();
        let failed = AttemptResult {
            status: "pending",
            attempts: 1,
            next_attempt_at: FAR,
            status_code: Some(503),
            error: Some("the receiver answered HTTP 503"),
            latency_ms: 3,
            delivered_at: None,
        };
        db.record_delivery_attempt(&head.id, &failed).await.unwrap();
        assert!(db.claim_due_deliveries(&now, FAR, 100).await.unwrap().is_empty());
        // Delivered: the next of ds-1 is the new head.
        let delivered = AttemptResult {
            status: "delivered",
            delivered_at: Some(&now),
            status_code: Some(200),
            error: None,
            ..failed
        };
        db.record_delivery_attempt(&head.id, &delivered).await.unwrap();
        let next = db.claim_due_deliveries(&now, FAR, 100).await.unwrap();
        assert_eq!(next.len(), 1);
        assert!(next[0].body.contains(&format!("\"seq\":{}", seqs[2])), "{}", next[0].body);

        let (log, total) = db.alert_deliveries("org-a", "ch-1", None, 100, 0).await.unwrap();
        assert_eq!(total, 5);
        let order: Vec<i64> = log.iter().map(|d| d.event_seq).collect();
        assert_eq!(order, seqs.iter().rev().copied().collect::<Vec<_>>(), "newest first");
        let delivered = log.iter().find(|d| d.id == head.id).unwrap();
        assert_eq!(
            (delivered.status.as_str(), delivered.attempts, delivered.last_status_code),
            ("delivered", 1, Some(200))
        );
        let (pending, total) = db.alert_deliveries("org-a", "ch-1", Some("pending"), 100, 0).await.unwrap();
        assert_eq!((pending.len(), total), (4, 4));
        assert!(
            db.alert_deliveries("org-b", "ch-1", None, 100, 0).await.unwrap().0.is_empty(),
            "scoped by organization"
        );
    }

    #[tokio::test]
    async fn flapping_is_announced_in_the_dispatching_transaction_and_settles() {
        let (db, _dir) = setup().await;
        let policy = FlapPolicy { threshold: 2, window: Duration::from_secs(60) };
        for to in ["failed", "active", "failed", "active", "failed"] {
            status(&db, Some("ds-1"), to).await;
        }
        let done = db.dispatch_alerts(100, |input| plan(input, &policy)).await.unwrap();
        assert_eq!(done, Dispatched { events: 5, deliveries: 2 });
        let flapping = db.events_after(0, 100).await.unwrap().pop().unwrap();
        assert_eq!(flapping.kind, "flapping");
        assert_eq!(flapping.severity, "warning");
        // The flapping event goes out on the next pass, once.
        let done = db.dispatch_alerts(100, |input| plan(input, &policy)).await.unwrap();
        assert_eq!(done, Dispatched { events: 1, deliveries: 1 });
        status(&db, Some("ds-1"), "active").await;
        let done = db.dispatch_alerts(100, |input| plan(input, &policy)).await.unwrap();
        assert_eq!(done, Dispatched { events: 1, deliveries: 0 }, "held back while flapping");

        let not_yet = crate::db::format_time(time::OffsetDateTime::now_utc() - Duration::from_secs(60));
        assert_eq!(db.settle_flapping(&not_yet).await.unwrap(), 0);
        // ds-1 is no data source here: it settles without an event.
        assert_eq!(db.settle_flapping(FAR).await.unwrap(), 1);
        assert_eq!(db.settle_flapping(FAR).await.unwrap(), 0);
        assert_eq!(db.prune_flapping(FAR).await.unwrap(), 1);
    }
}
