//! The discovery worker: runs queued schema-discovery jobs from the database
//! with bounded concurrency. Jobs live in the database, not in memory: a
//! running job is kept alive by heartbeats, and a job whose worker died (a
//! crash, `kill -9`) is found by its stale heartbeat and run again, up to
//! [`MAX_ATTEMPTS`] times.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::core::{App, Error};
use crate::db::{DiscoveryJobRow, format_time};

/// How often a running job proves its worker is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// A running job without a heartbeat for this long has lost its worker.
const STALE_AFTER: Duration = Duration::from_secs(45);
/// How often the worker looks for queued and orphaned jobs without a nudge.
const POLL: Duration = Duration::from_secs(2);
/// Tries before a job that keeps losing its worker is failed.
const MAX_ATTEMPTS: i64 = 3;

pub fn spawn_discovery_worker(state: App, concurrency: usize) -> JoinHandle<()> {
    tokio::spawn(async move {
        // SQLite has one owning process: whatever was running died with the
        // last one, so it is recovered at once rather than after STALE_AFTER.
        let owner = state.db().sees_every_write();
        recover(&state, if owner { Duration::ZERO } else { STALE_AFTER }).await;
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut polls = 0u32;
        loop {
            tokio::select! {
                () = state.discovery_wanted() => {}
                () = tokio::time::sleep(POLL) => polls += 1,
            }
            if !owner && polls.is_multiple_of(10) {
                recover(&state, STALE_AFTER).await;
            }
            let free = permits.available_permits();
            if free == 0 {
                continue;
            }
            let jobs = match state.db().claim_discovery_jobs(free as i64).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, "discovery worker cannot claim jobs");
                    continue;
                }
            };
            for job in jobs {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let state = state.clone();
                tokio::spawn(async move {
                    run(&state, job).await;
                    drop(permit);
                });
            }
        }
    })
}

async fn recover(state: &App, stale_after: Duration) {
    let stale_before = format_time(OffsetDateTime::now_utc() - stale_after);
    match state.db().recover_discovery_jobs(&stale_before, MAX_ATTEMPTS).await {
        Ok((0, 0)) => {}
        Ok((requeued, failed)) => tracing::warn!(requeued, failed, "recovered discovery jobs whose worker stopped"),
        Err(error) => tracing::warn!(%error, "cannot recover orphaned discovery jobs"),
    }
}

/// One job, with a heartbeat beside it for as long as it runs.
async fn run(state: &App, job: DiscoveryJobRow) {
    let heartbeat = {
        let state = state.clone();
        let job_id = job.id.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(HEARTBEAT);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                if let Err(error) = state.db().heartbeat_discovery(&job_id).await {
                    tracing::warn!(job = %job_id, %error, "discovery heartbeat failed");
                }
            }
        })
    };
    let loaded = state.db().data_source_any_org(&job.data_source_id).await;
    let org_id = loaded.as_ref().ok().and_then(Option::as_ref).map(|row| row.organization_id.clone());
    let result = match loaded {
        Ok(Some(row)) => state.run_discovery(&row, &job.id).await,
        Ok(None) => Err(Error::not_found("data source")),
        Err(error) => Err(error.into()),
    };
    heartbeat.abort();
    if let Err(error) = result {
        if let Some(org_id) = &org_id {
            state.counters().record_discovery(org_id, false);
        }
        let message = error.to_string();
        tracing::warn!(job = %job.id, error = %message, "discovery job failed to run");
        let _ = state.db().fail_discovery(&job.id, error.code(), &message).await;
    }
}
