//! Background workers: each a small task with its own settings, all started
//! and stopped together by a [`Supervisor`].
//!
//! - [`health_scheduler`]: checks data sources when due, prunes history.
//! - [`schema_refresh`]: queues the automatic schema refreshes that are due.
//! - [`discovery_worker`]: runs queued discovery jobs.
//! - [`plugin_watcher`]: follows plugin changes made by other replicas or the CLI.
//! - the pool reaper: closes idle connections past their timeouts.
//! - the alert dispatcher and delivery ([`crate::alerts`]).

pub mod discovery_worker;
pub mod health_scheduler;
pub mod plugin_watcher;
pub mod schema_refresh;

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::alerts::AlertSettings;
use crate::core::App;
use crate::health::SchedulerConfig;
use crate::settings::{Settings, SettingsError};

/// How often a server checks whether plugins changed elsewhere.
const PLUGIN_POLL: Duration = Duration::from_secs(2);
/// How often idle pooled connections are checked for their timeouts.
const POOL_SWEEP: Duration = Duration::from_secs(5);
/// Automatic schema refreshes queued per tick at most.
const REFRESH_BATCH: i64 = 50;

/// Every worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The health scheduler; when it is off, so is the schema refresh (one
    /// replica may own both).
    pub scheduler: SchedulerConfig,
    pub refresh: schema_refresh::RefreshSettings,
    /// Discovery jobs running at once at most.
    pub discovery_concurrency: usize,
    pub plugin_poll: Duration,
    pub pool_sweep: Duration,
    pub alerts: AlertSettings,
}

impl WorkerSettings {
    /// From the server's settings (and the `INLET_ALERT_*` environment).
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        let scheduler = settings.health.scheduler.clone();
        Ok(Self {
            refresh: schema_refresh::RefreshSettings { tick: scheduler.tick, batch: REFRESH_BATCH },
            discovery_concurrency: scheduler.discovery_concurrency,
            plugin_poll: PLUGIN_POLL,
            pool_sweep: POOL_SWEEP,
            alerts: AlertSettings::from_env(settings.sandbox.egress, scheduler.retention)?,
            scheduler,
        })
    }
}

/// The running workers.
pub struct Supervisor {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Supervisor {
    /// Starts every worker on the current runtime.
    pub fn start(app: &App, settings: WorkerSettings) -> Self {
        let mut tasks = vec![
            ("plugin watcher", plugin_watcher::spawn(app.clone(), settings.plugin_poll)),
            ("pool reaper", app.pools().spawn_reaper(settings.pool_sweep)),
            ("discovery worker", discovery_worker::spawn_discovery_worker(app.clone(), settings.discovery_concurrency)),
        ];
        if settings.scheduler.enabled {
            tasks.push(("health scheduler", health_scheduler::spawn(app.clone(), settings.scheduler)));
            tasks.push(("schema refresh", schema_refresh::spawn(app.clone(), settings.refresh)));
        } else {
            tracing::info!("health scheduler and schema refresh are off (INLET_HEALTH_SCHEDULER=off)");
        }
        tasks.extend(crate::alerts::spawn(app.clone(), settings.alerts));
        Self { tasks }
    }

    /// The workers' names, in the order they started.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(name, _)| *name).collect()
    }

    /// Stops every worker at its next pause and waits until each has. Work a
    /// worker handed to a task of its own (a check, a job) runs on; anything
    /// claimed but unfinished is taken up again through its row lease.
    pub async fn shutdown(self) {
        for (_, task) in &self.tasks {
            task.abort();
        }
        for (name, task) in self.tasks {
            match task.await {
                Err(error) if error.is_panic() => tracing::error!(worker = name, "worker panicked"),
                _ => tracing::debug!(worker = name, "worker stopped"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_stops_every_task() {
        let never = || tokio::spawn(std::future::pending::<()>());
        let (first, second) = (never(), never());
        let (watch_first, watch_second) = (first.abort_handle(), second.abort_handle());
        let supervisor = Supervisor { tasks: vec![("first", first), ("second", second)] };
        assert_eq!(supervisor.names(), ["first", "second"]);
        supervisor.shutdown().await;
        assert!(watch_first.is_finished() && watch_second.is_finished());
    }
}
