//! The checks service: test a data source's connection (retrying what the
//! connector marks retryable, when asked), record the check in its history,
//! and move its status and circuit breaker.

use super::App;
use super::domain::{CheckOrigin, ConnectionSettings, Status};
use super::error::{Error, Result};
use crate::connectors::TestOutcome;
use crate::db::{DataSourceRow, HealthCheckRow, Outcome};
use crate::health::{Breaker, RetryPolicy};

impl App {
    /// Tests a data source now (retrying retryable errors when `retry` says
    /// so), records the check, and moves its status (active/failed, unless a
    /// user holds it inactive or in maintenance) and its circuit breaker.
    pub async fn run_test(
        &self,
        row: &DataSourceRow,
        origin: CheckOrigin,
        retry: Option<RetryPolicy>,
    ) -> Result<TestOutcome> {
        let mut retries_done = 0;
        let outcome = loop {
            let outcome = self.test_connection(row, origin.wants()).await?;
            let retryable = outcome.error.as_ref().is_some_and(|e| e.retryable);
            match retry {
                Some(policy) if policy.retries(retryable, retries_done) => {
                    tokio::time::sleep(policy.delay(retries_done, rand::random::<f64>())).await;
                    retries_done += 1;
                }
                _ => break outcome,
            }
        };
        self.counters().record_test(&row.organization_id, outcome.ok, outcome.latency_ms);
        let check = HealthCheckRow {
            checked_at: outcome.tested_at.clone(),
            ok: i64::from(outcome.ok),
            response_time_ms: outcome.latency_ms as i64,
            error_kind: outcome.error.as_ref().map(|e| e.kind.as_str().to_owned()),
            message: outcome.error.as_ref().map(|e| e.message.clone()),
            origin: origin.as_str().to_owned(),
        };
        self.db().record_check(&row.id, &check).await?;
        // The breaker as stored now: another check may have moved it meanwhile.
        let Some(current) = self.db().data_source(&row.organization_id, &row.id, false).await? else {
            return Ok(outcome);
        };
        let mut breaker = Breaker::of_row(&current);
        if let Some(state) = breaker.record(outcome.ok, time::OffsetDateTime::now_utc(), &self.health().breaker) {
            self.counters().record_breaker(&row.organization_id, state);
            tracing::warn!(
                data_source = %row.id,
                state = state.as_str(),
                consecutive_failures = breaker.consecutive_failures,
                open_until = ?breaker.open_until.map(crate::db::format_time),
                "circuit breaker changed state"
            );
        }
        let (status, reason) = match &outcome.error {
            None => (Status::Active, None),
            Some(error) => (Status::Failed, Some(format!("{}: {}", error.kind.as_str(), error.message))),
        };
        let last_test = serde_json::to_string(&outcome).map_err(|e| Error::internal("cannot store the test", e))?;
        let stored = Outcome {
            status: status.as_str(),
            reason: reason.as_deref(),
            last_test: &last_test,
            breaker: breaker.to_columns(),
        };
        self.db().record_outcome(&row.organization_id, &row.id, &stored).await?;
        Ok(outcome)
    }

    /// The retry policy for a data source's background work.
    pub fn retry_policy(&self, row: &DataSourceRow) -> RetryPolicy {
        let settings = ConnectionSettings::of_row(row);
        RetryPolicy {
            max_retries: settings.max_retries,
            base_delay: self.health().retry_base_delay,
            max_delay: self.health().retry_max_delay,
        }
    }

    /// Runs `run_test` in the background (after create and config changes).
    pub fn spawn_test(&self, row: DataSourceRow, origin: CheckOrigin) {
        let state = self.clone();
        tokio::spawn(async move {
            if let Err(error) = state.run_test(&row, origin, None).await {
                let message = error.to_string();
                tracing::warn!(data_source = %row.id, error = %message, "background test failed to run");
                let _ = state
                    .db()
                    .set_status(&row.organization_id, &row.id, Status::Failed.as_str(), Some(&message), None)
                    .await;
            }
        });
    }
}
