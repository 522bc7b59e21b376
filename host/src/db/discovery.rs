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

/// A table of a running discovery, as stored.
#[derive(Debug, Clone)]
pub struct StagedTable {
    pub schema_name: String,
    pub table_name: String,
    pub kind: String,
    /// The table as JSON (see `discovery::stored`).
    pub definition: String,
    /// See `catalog_diff::columns_digest`.
    pub columns_digest: String,
}

/// A stored table's name and column digest (`None` when stored before
/// digests were).
#[derive(Debug, Clone, FromRow)]
pub struct StoredDigest {
    pub schema_name: String,
    pub table_name: String,
    pub columns_digest: Option<String>,
}

/// Rows per multi-row insert (7 parameters each; 5 per row after the first two).
const INSERT_ROWS: usize = 100;
/// (schema, table) keys per lookup.
const LOOKUP_KEYS: usize = 250;

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

    /// Fails the job and removes whatever of its tables it had stored.
    pub async fn fail_discovery(&self, job_id: &str, kind: &str, error: &str) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE discovery_jobs SET status = 'failed', finished_at = $1, error_kind = $2, error = $3 WHERE id = $4",
        )
        .bind(now())
        .bind(kind)
        .bind(super::storable(error))
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM discovered_tables WHERE job_id = $1 \
             AND data_source_id = (SELECT data_source_id FROM discovery_jobs WHERE id = $1)",
        )
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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

    /// The tables of a data source's catalog `version` (see
    /// [`Db::catalog_version`]); tables a running discovery is storing
    /// beside it are not among them.
    pub async fn all_discovered_tables(
        &self,
        data_source_id: &str,
        version: &str,
    ) -> Result<Vec<DiscoveredTableRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT schema_name, table_name, kind, definition FROM discovered_tables \
             WHERE data_source_id = $1 AND job_id = $2",
        )
        .bind(data_source_id)
        .bind(version)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores one page of a running discovery's tables, in one transaction
    /// of multi-row inserts. A table the job already stored is a conflict.
    pub async fn stage_discovered_tables(
        &self,
        data_source_id: &str,
        job_id: &str,
        tables: &[StagedTable],
    ) -> Result<(), DbError> {
        let mut seen = std::collections::HashSet::with_capacity(tables.len());
        if let Some(table) = tables.iter().find(|t| !seen.insert((t.schema_name.as_str(), t.table_name.as_str()))) {
            return Err(repeated(&table.schema_name, &table.table_name));
        }
        let mut tx = self.pool.begin().await?;
        for chunk in tables.chunks(INSERT_ROWS) {
            let mut sql = String::from(
                "INSERT INTO discovered_tables \
                 (data_source_id, job_id, schema_name, table_name, kind, definition, columns_digest) VALUES ",
            );
            for row in 0..chunk.len() {
                let first = 3 + row * 5;
                let separator = if row == 0 { "" } else { ", " };
                let (a, b, c, d, e) = (first, first + 1, first + 2, first + 3, first + 4);
                sql.push_str(&format!("{separator}($1, $2, ${a}, ${b}, ${c}, ${d}, ${e})"));
            }
            let mut query = sqlx::query(&sql).bind(data_source_id).bind(job_id);
            for table in chunk {
                query = query
                    .bind(&table.schema_name)
                    .bind(&table.table_name)
                    .bind(&table.kind)
                    .bind(&table.definition)
                    .bind(&table.columns_digest);
            }
            if let Err(error) = query.execute(&mut *tx).await {
                drop(tx);
                return Err(match &error {
                    sqlx::Error::Database(db) if db.is_unique_violation() => {
                        let found = self.repeated_table(data_source_id, job_id, tables).await?;
                        found.map_or(DbError::Sqlx(error), |(schema, table)| repeated(&schema, &table))
                    }
                    _ => DbError::Sqlx(error),
                });
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Which of `tables` the job had stored already (after a conflict).
    async fn repeated_table(
        &self,
        data_source_id: &str,
        job_id: &str,
        tables: &[StagedTable],
    ) -> Result<Option<(String, String)>, DbError> {
        let keys: Vec<(&str, &str)> = tables.iter().map(|t| (t.schema_name.as_str(), t.table_name.as_str())).collect();
        let found = self.tables_of_job(data_source_id, job_id, &keys).await?;
        Ok(found.into_iter().next().map(|row| (row.schema_name, row.table_name)))
    }

    /// The rows of catalog `version` among `keys` (schema, table), with
    /// their column digests but without their definitions.
    pub async fn tables_of_job(
        &self,
        data_source_id: &str,
        version: &str,
        keys: &[(&str, &str)],
    ) -> Result<Vec<StoredDigest>, DbError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(LOOKUP_KEYS) {
            let sql = format!(
                "WITH wanted (schema_name, table_name) AS (VALUES {}) \
                 SELECT d.schema_name, d.table_name, d.columns_digest FROM wanted \
                 JOIN discovered_tables d ON d.data_source_id = $1 AND d.job_id = $2 \
                 AND d.schema_name = wanted.schema_name AND d.table_name = wanted.table_name",
                key_placeholders(chunk.len())
            );
            let mut query = sqlx::query_as(&sql).bind(data_source_id).bind(version);
            for (schema, table) in chunk {
                query = query.bind(*schema).bind(*table);
            }
            found.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(found)
    }

    /// The stored definitions of catalog `version` among `keys`.
    pub async fn definitions_of_job(
        &self,
        data_source_id: &str,
        version: &str,
        keys: &[(&str, &str)],
    ) -> Result<Vec<DiscoveredTableRow>, DbError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(LOOKUP_KEYS) {
            let sql = format!(
                "WITH wanted (schema_name, table_name) AS (VALUES {}) \
                 SELECT d.schema_name, d.table_name, d.kind, d.definition FROM wanted \
                 JOIN discovered_tables d ON d.data_source_id = $1 AND d.job_id = $2 \
                 AND d.schema_name = wanted.schema_name AND d.table_name = wanted.table_name",
                key_placeholders(chunk.len())
            );
            let mut query = sqlx::query_as(&sql).bind(data_source_id).bind(version);
            for (schema, table) in chunk {
                query = query.bind(*schema).bind(*table);
            }
            found.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(found)
    }

    /// The names and column digests of catalog `version`'s tables.
    pub async fn catalog_digests(&self, data_source_id: &str, version: &str) -> Result<Vec<StoredDigest>, DbError> {
        Ok(sqlx::query_as(
            "SELECT schema_name, table_name, columns_digest FROM discovered_tables \
             WHERE data_source_id = $1 AND job_id = $2",
        )
        .bind(data_source_id)
        .bind(version)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a data source's stored tables except those of job `keep`
    /// (its current catalog, or a finished job's); all of them for `None`.
    pub async fn remove_discovered_tables_except(
        &self,
        data_source_id: &str,
        keep: Option<&str>,
    ) -> Result<u64, DbError> {
        let query = match keep {
            Some(keep) => sqlx::query("DELETE FROM discovered_tables WHERE data_source_id = $1 AND job_id <> $2")
                .bind(data_source_id)
                .bind(keep),
            None => sqlx::query("DELETE FROM discovered_tables WHERE data_source_id = $1").bind(data_source_id),
        };
        Ok(query.execute(&self.pool).await?.rows_affected())
    }

    /// Removes what job `job_id` stored of a data source's tables.
    pub async fn remove_discovered_tables_of(&self, data_source_id: &str, job_id: &str) -> Result<u64, DbError> {
        Ok(sqlx::query("DELETE FROM discovered_tables WHERE data_source_id = $1 AND job_id = $2")
            .bind(data_source_id)
            .bind(job_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Completes the job whose tables are stored, making them the data
    /// source's catalog, with its diff against the previous catalog and the
    /// `schema_changed` event when there is one, atomically.
    pub async fn complete_discovery(
        &self,
        job_id: &str,
        tables_found: u64,
        diff: Option<&str>,
        event: Option<&super::NewEvent<'_>>,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE discovery_jobs SET status = 'succeeded', finished_at = $1, tables_found = $2, diff = $3 WHERE id = $4",
        )
        .bind(now())
        .bind(i64::try_from(tables_found).unwrap_or(i64::MAX))
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

fn repeated(schema: &str, table: &str) -> DbError {
    DbError::Conflict(format!("the connector returned {schema}.{table} twice"))
}

/// `($3, $4), ($5, $6), …` for `keys` (schema, table) pairs after $1 and $2.
fn key_placeholders(keys: usize) -> String {
    (0..keys).map(|i| format!("(${}, ${})", 3 + 2 * i, 4 + 2 * i)).collect::<Vec<_>>().join(", ")
}
