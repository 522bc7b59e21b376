//! The health scheduler: every tick, claims the data sources whose check is
//! due (row leases in the database, so replicas never double-check one) and
//! checks them with bounded concurrency, honouring each one's circuit
//! breaker and retry policy; queues the automatic schema refreshes that are
//! due; prunes old history once an hour.

use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::AppState;
use super::dto::SchemaRefresh;
use crate::db::{DataSourceRow, format_time};
use crate::health::{Admission, Breaker, BreakerState, next_check_at};

const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Automatic schema refreshes queued per tick at most.
const DISCOVERY_BATCH: i64 = 50;

/// Starts the scheduler on the current runtime, unless it is turned off.
pub fn spawn_scheduler(state: AppState) {
    let config = state.health.scheduler.clone();
    if !config.enabled {
        tracing::info!("health scheduler is off (INLET_HEALTH_SCHEDULER=off)");
        return;
    }
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
            queue_due_discoveries(&state).await;
            run_due_checks(&state, &permits, config.batch as usize).await;
        }
    });
}

/// Claims and starts due checks until none are left. Claims only what can
/// start now, so a claimed check never waits; as checks finish, more are
/// claimed at once rather than at the next tick, so throughput follows how
/// fast checks complete (not concurrency ÷ tick).
async fn run_due_checks(state: &AppState, permits: &Arc<Semaphore>, batch: usize) {
    loop {
        let Ok(first) = permits.clone().acquire_owned().await else { return };
        let free = (1 + permits.available_permits()).min(batch.max(1));
        let now = OffsetDateTime::now_utc();
        let claimed = state
            .db
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
async fn check(state: &AppState, row: DataSourceRow) {
    let breaker = Breaker::of_row(&row);
    match breaker.admit(OffsetDateTime::now_utc()) {
        Admission::Skip => {
            state.counters.add(&row.organization_id, |set| &set.checks_skipped_open);
            return;
        }
        Admission::Probe => {
            let half_open = BreakerState::HalfOpen;
            if let Err(error) = state.db.set_breaker_state(&row.organization_id, &row.id, half_open.as_str()).await {
                tracing::warn!(data_source = %row.id, %error, "cannot mark the breaker half-open");
            }
            tracing::info!(data_source = %row.id, "circuit breaker half-open: probing");
        }
        Admission::Run => {}
    }
    state.counters.add(&row.organization_id, |set| &set.scheduled_checks);
    let retry = state.retry_policy(&row);
    if let Err(error) = state.run_test(&row, super::state::CheckOrigin::Scheduler, Some(retry)).await {
        tracing::warn!(data_source = %row.id, error = %error.message, "scheduled health check failed to run");
    }
}

/// Queues a discovery job for every active data source whose automatic
/// schema refresh is due (the discovery worker runs them), and schedules
/// the ones seen for the first time one interval ahead.
async fn queue_due_discoveries(state: &AppState) {
    let now = OffsetDateTime::now_utc();
    let next_at = |row: &DataSourceRow| next_refresh(row, now);
    let due = match state.db.claim_due_discoveries(&format_time(now), DISCOVERY_BATCH, next_at).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "health scheduler cannot claim due schema refreshes");
            return;
        }
    };
    let mut queued = false;
    for row in due {
        match state.db.queue_discovery(&row.id).await {
            Ok((_, created)) => queued |= created,
            Err(error) => tracing::warn!(data_source = %row.id, %error, "cannot queue a schema refresh"),
        }
    }
    if queued {
        state.discovery_queued.notify_one();
    }
}

/// When a data source's schema is next refreshed, counted from `now`
/// (`None` when auto-refresh is off).
pub(super) fn next_refresh(row: &DataSourceRow, now: OffsetDateTime) -> Option<String> {
    let refresh: SchemaRefresh = serde_json::from_str(&row.schema_refresh).unwrap_or_default();
    refresh.auto.then(|| format_time(next_check_at(now, i64::from(refresh.interval_s), rand::random::<f64>())))
}

async fn prune(state: &AppState, retention: Duration) {
    let before = OffsetDateTime::now_utc() - retention;
    match state.db.prune_health(&format_time(before)).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned old health checks"),
        Err(error) => tracing::warn!(%error, "cannot prune health checks"),
    }
    // Events live as long as health history: a client resuming a stream
    // older than that starts at the oldest event kept.
    match state.db.prune_events(&format_time(before)).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned old events"),
        Err(error) => tracing::warn!(%error, "cannot prune events"),
    }
}
