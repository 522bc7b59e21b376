//! Schema discovery jobs and the catalog they found.

use sqlx::FromRow;

use super::{Db, DbError, new_id, now};

#[derive(Debug, Clone, FromRow)]
pub struct DiscoveryJobRow {
    pub id: String,
    pub data_source_id: String,
    pub status: String,
    pub requested_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub tables_found: Option<i64>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// JSON: what changed since the previous successful discovery.
    pub diff: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct DiscoveredTableRow {
    pub schema_name: String,
    pub table_name: String,
    pub kind: String,
    /// The table as JSON (columns, constraints, comment, estimates).
    pub definition: String,
}

const JOB_COLUMNS: &str =
    "id, data_source_id, status, requested_at, started_at, finished_at, tables_found, error_kind, error, diff";

impl Db {
    /// Queues a job unless one is already queued or running (returns that one).
    pub async fn queue_discovery(&self, data_source_id: &str) -> Result<(DiscoveryJobRow, bool), DbError> {
        if let Some(job) = self.latest_discovery(data_source_id).await?
            && (job.status == "queued" || job.status == "running")
        {
            return Ok((job, false));
        }
        let job = DiscoveryJobRow {
            id: new_id(),
            data_source_id: data_source_id.to_owned(),
            status: "queued".into(),
            requested_at: now(),
            started_at: None,
            finished_at: None,
            tables_found: None,
            error_kind: None,
            error: None,
            diff: None,
        };
        sqlx::query("INSERT INTO discovery_jobs (id, data_source_id, status, requested_at) VALUES ($1, $2, $3, $4)")
            .bind(&job.id)
            .bind(&job.data_source_id)
            .bind(&job.status)
            .bind(&job.requested_at)
            .execute(&self.pool)
            .await?;
        Ok((job, true))
    }

    pub async fn latest_discovery(&self, data_source_id: &str) -> Result<Option<DiscoveryJobRow>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM discovery_jobs WHERE data_source_id = $1 ORDER BY requested_at DESC, id DESC LIMIT 1"
        ))
        .bind(data_source_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Claims up to `limit` queued jobs, oldest first, marking them running
    /// with a fresh heartbeat. On PostgreSQL the rows are locked with `SKIP
    /// LOCKED`, so two replicas never run the same job.
    pub async fn claim_discovery_jobs(&self, limit: i64) -> Result<Vec<DiscoveryJobRow>, DbError> {
        let lock = if self.backend == super::Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let at = now();
        let mut tx = self.begin_claim().await?;
        let mut jobs: Vec<DiscoveryJobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM discovery_jobs WHERE status = 'queued' ORDER BY requested_at, id LIMIT $1{lock}"
        ))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for job in &mut jobs {
            sqlx::query(
                "UPDATE discovery_jobs SET status = 'running', started_at = $1, heartbeat_at = $1, \
                 attempts = attempts + 1 WHERE id = $2",
            )
            .bind(&at)
            .bind(&job.id)
            .execute(&mut *tx)
            .await?;
            job.status = "running".into();
            job.started_at = Some(at.clone());
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// Tells other workers this job's worker is alive.
    pub async fn heartbeat_discovery(&self, job_id: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE discovery_jobs SET heartbeat_at = $1 WHERE id = $2 AND status = 'running'")
            .bind(now())
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Running jobs whose last heartbeat is before `stale_before` lost their
    /// worker: queued again, or failed once they were tried `max_attempts`
    /// times. Returns (requeued, failed).
    pub async fn recover_discovery_jobs(&self, stale_before: &str, max_attempts: i64) -> Result<(u64, u64), DbError> {
        let stale = "status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < $1)";
        let failed = sqlx::query(&format!(
            "UPDATE discovery_jobs SET status = 'failed', finished_at = $2, error_kind = 'interrupted', \
             error = 'the worker running this job stopped ' || CAST(attempts AS TEXT) || ' times' \
             WHERE {stale} AND attempts >= $3"
        ))
        .bind(stale_before)
        .bind(now())
        .bind(max_attempts)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let requeued = sqlx::query(&format!("UPDATE discovery_jobs SET status = 'queued' WHERE {stale}"))
            .bind(stale_before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok((requeued, failed))
    }

    pub async fn fail_discovery(&self, job_id: &str, kind: &str, error: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE discovery_jobs SET status = 'failed', finished_at = $1, error_kind = $2, error = $3 WHERE id = $4",
        )
        .bind(now())
        .bind(kind)
        .bind(super::storable(error))
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Which discovery produced the stored catalog (the latest successful
    /// job's id), or `None` before the first success. Cached catalogs are
    /// keyed by it, so a discovery by any replica makes them stale.
    pub async fn catalog_version(&self, data_source_id: &str) -> Result<Option<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM discovery_jobs WHERE data_source_id = $1 AND status = 'succeeded' \
             ORDER BY finished_at DESC, id DESC LIMIT 1",
        )
        .bind(data_source_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every stored table of a data source.
    pub async fn all_discovered_tables(&self, data_source_id: &str) -> Result<Vec<DiscoveredTableRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT schema_name, table_name, kind, definition FROM discovered_tables WHERE data_source_id = $1",
        )
        .bind(data_source_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The stored catalog of a data source, and whether a discovery ever
    /// succeeded for it (an empty catalog can be a real result).
    pub async fn current_catalog(&self, data_source_id: &str) -> Result<(Vec<DiscoveredTableRow>, bool), DbError> {
        let succeeded: Option<String> = sqlx::query_scalar(
            "SELECT id FROM discovery_jobs WHERE data_source_id = $1 AND status = 'succeeded' LIMIT 1",
        )
        .bind(data_source_id)
        .fetch_optional(&self.pool)
        .await?;
        let tables = self.all_discovered_tables(data_source_id).await?;
        Ok((tables, succeeded.is_some()))
    }

    /// Replaces the data source's catalog with `tables` and completes the
    /// job with its diff against the previous catalog, and appends the
    /// `schema_changed` event when there is one, atomically.
    pub async fn complete_discovery(
        &self,
        job_id: &str,
        data_source_id: &str,
        tables: &[DiscoveredTableRow],
        diff: Option<&str>,
        event: Option<&super::NewEvent<'_>>,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM discovered_tables WHERE data_source_id = $1")
            .bind(data_source_id)
            .execute(&mut *tx)
            .await?;
        for table in tables {
            sqlx::query(
                "INSERT INTO discovered_tables (data_source_id, schema_name, table_name, kind, definition) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(data_source_id)
            .bind(&table.schema_name)
            .bind(&table.table_name)
            .bind(&table.kind)
            .bind(&table.definition)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                DbError::conflict_on_unique(e, || {
                    format!("the connector returned {}.{} twice", table.schema_name, table.table_name)
                })
            })?;
        }
        sqlx::query(
            "UPDATE discovery_jobs SET status = 'succeeded', finished_at = $1, tables_found = $2, diff = $3 WHERE id = $4",
        )
        .bind(now())
        .bind(tables.len() as i64)
        .bind(diff)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        if let Some(event) = event {
            super::events::append(&mut tx, self.backend, event).await?;
        }
        tx.commit().await?;
        if event.is_some() {
            self.events_added();
        }
        Ok(())
    }
}
