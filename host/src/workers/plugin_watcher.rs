//! The plugin catalog watcher: polls the database's plugin generation and
//! rebuilds this server's set of connectors when another replica or the
//! CLI changed plugins.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::core::App;

pub fn spawn(state: App, poll: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = state.sync_plugins(false).await {
                tracing::warn!(%error, "cannot check for plugin changes");
            }
        }
    })
}
