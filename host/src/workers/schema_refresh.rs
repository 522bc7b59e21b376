//! Automatic schema refresh: every tick, queues a discovery job for each
//! active data source whose refresh is due (the discovery worker runs them)
//! and schedules the ones seen for the first time one interval ahead.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::core::App;
use crate::core::discovery::next_refresh;
use crate::db::{DataSourceRow, format_time};

/// How the refresh runs.
#[derive(Debug, Clone, Copy)]
pub struct RefreshSettings {
    /// How often due refreshes are claimed.
    pub tick: Duration,
    /// Refreshes queued per tick at most.
    pub batch: i64,
}

pub fn spawn(state: App, settings: RefreshSettings) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(settings.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            queue_due_discoveries(&state, settings.batch).await;
        }
    })
}

async fn queue_due_discoveries(state: &App, batch: i64) {
    let now = OffsetDateTime::now_utc();
    let next_at = |row: &DataSourceRow| next_refresh(row, now);
    let due = match state.db().claim_due_discoveries(&format_time(now), batch, next_at).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot claim due schema refreshes");
            return;
        }
    };
    let mut queued = false;
    for row in due {
        match state.db().queue_discovery(&row.id).await {
            Ok((_, created)) => queued |= created,
            Err(error) => tracing::warn!(data_source = %row.id, %error, "cannot queue a schema refresh"),
        }
    }
    if queued {
        state.discovery_queued();
    }
}
