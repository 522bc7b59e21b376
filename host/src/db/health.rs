//! Health history: one row per check of a data source.

use sqlx::FromRow;

use super::{Db, DbError};

#[derive(Debug, Clone, FromRow)]
pub struct HealthCheckRow {
    pub checked_at: String,
    pub ok: i64,
    pub response_time_ms: i64,
    pub error_kind: Option<String>,
    pub message: Option<String>,
    pub origin: String,
}

/// Uptime and response times over a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthStats {
    pub checks: i64,
    pub ok: i64,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
}

impl Db {
    pub async fn record_check(&self, data_source_id: &str, check: &HealthCheckRow) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO health_checks (data_source_id, checked_at, ok, response_time_ms, error_kind, message, origin) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(data_source_id)
        .bind(&check.checked_at)
        .bind(check.ok)
        .bind(check.response_time_ms)
        .bind(&check.error_kind)
        .bind(check.message.as_deref().map(super::storable))
        .bind(&check.origin)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A page of checks, newest first, and how many there are.
    pub async fn health_history(
        &self,
        data_source_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<HealthCheckRow>, i64), DbError> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM health_checks WHERE data_source_id = $1")
            .bind(data_source_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as(
            "SELECT checked_at, ok, response_time_ms, error_kind, message, origin FROM health_checks \
             WHERE data_source_id = $1 ORDER BY checked_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(data_source_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((rows, total))
    }

    /// Checks, successes and response-time percentiles since `since`.
    pub async fn health_stats(&self, data_source_id: &str, since: &str) -> Result<HealthStats, DbError> {
        let (checks, ok): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(ok), 0) AS BIGINT) FROM health_checks WHERE data_source_id = $1 AND checked_at >= $2",
        )
        .bind(data_source_id)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let percentile = |fraction: f64| {
            let offset = ((checks - 1).max(0) as f64 * fraction).round() as i64;
            sqlx::query_scalar::<_, i64>(
                "SELECT response_time_ms FROM health_checks WHERE data_source_id = $1 AND checked_at >= $2 \
                 ORDER BY response_time_ms LIMIT 1 OFFSET $3",
            )
            .bind(data_source_id)
            .bind(since)
            .bind(offset)
            .fetch_optional(&self.pool)
        };
        let (p50_ms, p95_ms) =
            if checks == 0 { (None, None) } else { (percentile(0.5).await?, percentile(0.95).await?) };
        Ok(HealthStats { checks, ok: ok.unwrap_or(0), p50_ms, p95_ms })
    }

    /// Deletes checks older than `before`; returns how many went.
    pub async fn prune_health(&self, before: &str) -> Result<u64, DbError> {
        let result =
            sqlx::query("DELETE FROM health_checks WHERE checked_at < $1").bind(before).execute(&self.pool).await?;
        Ok(result.rows_affected())
    }
}
