//! The health scheduler: every tick, claims the data sources whose check is
//! due (row leases in the database, so replicas never double-check one) and
//! checks them with bounded concurrency, honouring each one's circuit
//! breaker and retry policy; prunes old history once an hour.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::core::App;
use crate::core::domain::CheckOrigin;
use crate::db::{DataSourceRow, format_time};
use crate::health::{Admission, Breaker, BreakerState, SchedulerConfig, next_check_at};

const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts the scheduler on the current runtime.
pub fn spawn(state: App, config: SchedulerConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let mut ticker = tokio::time::interval(config.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune: Option<Instant> = None;
        loop {
            ticker.tick().await;
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                prune(&state, config.retention).await;
            }
            run_due_checks(&state, &permits, config.batch as usize).await;
        }
    })
}

/// Claims and starts due checks until none are left. Claims only what can
/// start now, so a claimed check never waits; as checks finish, more are
/// claimed at once rather than at the next tick, so throughput follows how
/// fast checks complete (not concurrency ÷ tick).
async fn run_due_checks(state: &App, permits: &Arc<Semaphore>, batch: usize) {
    loop {
        let Ok(first) = permits.clone().acquire_owned().await else { return };
        let free = (1 + permits.available_permits()).min(batch.max(1));
        let now = OffsetDateTime::now_utc();
        let claimed = state
            .db()
            .claim_due_checks(&format_time(now), free as i64, |interval_s| {
                format_time(next_check_at(now, interval_s, rand::random::<f64>()))
            })
            .await;
        let rows = match claimed {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "health scheduler cannot claim due checks");
                return;
            }
        };
        let drained = rows.len() < free;
        let mut first = Some(first);
        for row in rows {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match permits.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let state = state.clone();
            tokio::spawn(async move {
                check(&state, row).await;
                drop(permit);
            });
        }
        if drained {
            return;
        }
    }
}

/// One scheduled check, as the data source's breaker allows.
async fn check(state: &App, row: DataSourceRow) {
    let breaker = Breaker::of_row(&row);
    match breaker.admit(OffsetDateTime::now_utc()) {
        Admission::Skip => {
            state.counters().add(&row.organization_id, |set| &set.checks_skipped_open);
            return;
        }
        Admission::Probe => {
            let half_open = BreakerState::HalfOpen;
            if let Err(error) = state.db().set_breaker_state(&row.organization_id, &row.id, half_open.as_str()).await {
                tracing::warn!(data_source = %row.id, %error, "cannot mark the breaker half-open");
            }
            tracing::info!(data_source = %row.id, "circuit breaker half-open: probing");
        }
        Admission::Run => {}
    }
    state.counters().add(&row.organization_id, |set| &set.scheduled_checks);
    let retry = state.retry_policy(&row);
    if let Err(error) = state.run_test(&row, CheckOrigin::Scheduler, Some(retry)).await {
        tracing::warn!(data_source = %row.id, %error, "scheduled health check failed to run");
    }
}

async fn prune(state: &App, retention: Duration) {
    let before = OffsetDateTime::now_utc() - retention;
    match state.db().prune_health(&format_time(before)).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned old health checks"),
        Err(error) => tracing::warn!(%error, "cannot prune health checks"),
    }
    // Events live as long as health history: a client resuming a stream
    // older than that starts at the oldest event kept.
    match state.db().prune_events(&format_time(before)).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned old events"),
        Err(error) => tracing::warn!(%error, "cannot prune events"),
    }
}
