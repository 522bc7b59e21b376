//! The event outbox. Events are appended inside the transaction of the
//! change they record, so a crash loses both or neither. Their `seq` is the
//! order readers follow: on PostgreSQL appends take a transaction-scoped
//! advisory lock, so sequence numbers commit in order and a reader resuming
//! after `seq` N can never skip a later-committing N+1.

use std::sync::Arc;

use sqlx::FromRow;

use super::sql::{Sql, query_as_with};
use super::{Backend, Db, DbError, new_id, now};
use crate::events::EventKind;

/// Key of the advisory lock that orders appends on PostgreSQL.
const APPEND_LOCK: i64 = 0x11E7_E7E7;

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    pub organization_id: String,
    pub data_source_id: Option<String>,
    pub kind: String,
    pub severity: String,
    pub created_at: String,
    /// A JSON object.
    pub payload: String,
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub organization_id: &'a str,
    pub data_source_id: Option<&'a str>,
    pub kind: EventKind,
    pub payload: serde_json::Value,
}

/// Which of an organization's events a reader wants.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Empty: every kind.
    pub kinds: Vec<String>,
    pub data_source_id: Option<String>,
    /// `None`: every data source of the organization; `Some`: only those of
    /// these workspaces or shared with them (and no organization-level events).
    pub visible_workspaces: Option<Vec<String>>,
}

const COLUMNS: &str = "seq, id, organization_id, data_source_id, kind, severity, created_at, payload";

/// Appends `event` in `tx`; answers its `seq`.
pub(super) async fn append(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    event: &NewEvent<'_>,
) -> Result<i64, DbError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut *tx).await?;
    }
    let severity = event.kind.severity(&event.payload);
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (id, organization_id, data_source_id, kind, severity, created_at, payload) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
    )
    .bind(new_id())
    .bind(event.organization_id)
    .bind(event.data_source_id)
    .bind(event.kind.as_str())
    .bind(severity.as_str())
    .bind(now())
    .bind(super::storable(&event.payload.to_string()))
    .fetch_one(&mut *tx)
    .await?;
    Ok(seq)
}

impl Db {
    /// Appends one event in a transaction of its own (events that are not
    /// the consequence of a row change, such as `flapping`).
    pub async fn record_event(&self, event: &NewEvent<'_>) -> Result<i64, DbError> {
        let mut tx = self.pool.begin().await?;
        let seq = append(&mut tx, self.backend, event).await?;
        tx.commit().await?;
        self.events_added();
        Ok(seq)
    }

    /// Every organization's events after `after_seq`, oldest first (the
    /// alert dispatcher's feed).
    pub async fn events_after(&self, after_seq: i64, limit: i64) -> Result<Vec<EventRow>, DbError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"))
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// One organization's events after `after_seq` that `filter` admits,
    /// oldest first.
    pub async fn org_events(
        &self,
        org_id: &str,
        after_seq: i64,
        filter: &EventFilter,
        limit: i64,
    ) -> Result<Vec<EventRow>, DbError> {
        let mut sql = Sql::default();
        sql.push(&format!("SELECT {COLUMNS} FROM events WHERE organization_id = ")).bind_text(org_id);
        sql.push(" AND seq > ").bind_int(after_seq);
        if !filter.kinds.is_empty() {
            sql.push(" AND kind IN ").bind_list(&filter.kinds);
        }
        if let Some(id) = &filter.data_source_id {
            sql.push(" AND data_source_id = ").bind_text(id);
        }
        if let Some(workspaces) = &filter.visible_workspaces {
            if workspaces.is_empty() {
                sql.push(" AND 1 = 0");
            } else {
                sql.push(" AND (data_source_id IN (SELECT id FROM data_sources WHERE workspace_id IN ");
                sql.bind_list(workspaces);
                sql.push(
                    ") OR data_source_id IN (SELECT data_source_id FROM data_source_shares WHERE workspace_id IN ",
                );
                sql.bind_list(workspaces).push("))");
            }
        }
        sql.push(" ORDER BY seq LIMIT ").bind_int(limit);
        Ok(query_as_with::<EventRow>(&sql)?.fetch_all(&self.pool).await?)
    }

    /// Deletes events older than `before`; returns how many went.
    pub async fn prune_events(&self, before: &str) -> Result<u64, DbError> {
        let result = sqlx::query("DELETE FROM events WHERE created_at < $1").bind(before).execute(&self.pool).await?;
        Ok(result.rows_affected())
    }

    /// The newest event's `seq` (0 when there is none).
    pub async fn last_event_seq(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(&self.pool).await?)
    }

    /// Notified after every commit through this `Db` that appended events;
    /// readers in other processes (replicas) must poll as well.
    pub fn event_signal(&self) -> Arc<tokio::sync::Notify> {
        self.event_signal.clone()
    }

    pub(super) fn events_added(&self) {
        self.event_signal.notify_waiters();
    }
}
