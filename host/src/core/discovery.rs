//! The discovery service's rules outside a job's run: when a data source's
//! schema is next refreshed on its own, and queuing a discovery a caller
//! asked for (refused while the circuit breaker is open). A claimed job runs
//! in [`App::run_discovery`]; the worker that claims jobs is in
//! [`crate::workers`].

use serde_json::json;
use time::OffsetDateTime;

use super::App;
use super::domain::SchemaRefresh;
use super::error::{Error, Result};
use crate::db::{DataSourceRow, DiscoveryJobRow, format_time};
use crate::health::{Admission, Breaker, next_check_at};

/// When a data source's schema is next refreshed, counted from `now`
/// (`None` when auto-refresh is off).
pub fn next_refresh(row: &DataSourceRow, now: OffsetDateTime) -> Option<String> {
    let refresh = SchemaRefresh::of_row(row);
    refresh.auto.then(|| format_time(next_check_at(now, i64::from(refresh.interval_s), rand::random::<f64>())))
}

/// Refuses a caller's use of the data source (`circuit_open`) while its
/// circuit breaker is open.
pub(super) fn admit(row: &DataSourceRow) -> Result<()> {
    let breaker = Breaker::of_row(row);
    if breaker.admit(OffsetDateTime::now_utc()) == Admission::Skip {
        let until = breaker.open_until.map(format_time).unwrap_or_default();
        return Err(Error::Unavailable {
            code: "circuit_open",
            message: format!(
                "the data source failed repeatedly; its circuit breaker is open until {until} (a manual test still runs)"
            ),
            details: Some(json!({ "open_until": until, "consecutive_failures": breaker.consecutive_failures })),
        });
    }
    Ok(())
}

impl App {
    /// Queues a discovery of the data source (or answers the one already
    /// queued or running: `false`), unless its circuit breaker is open.
    pub async fn request_discovery(&self, row: &DataSourceRow) -> Result<(DiscoveryJobRow, bool)> {
        self.usable_type(&row.organization_id, &row.source_type, super::data_sources::TypeUse::Existing).await?;
        admit(row)?;
        let (job, created) = self.db().queue_discovery(&row.id).await?;
        if created {
            self.discovery_queued();
        }
        Ok((job, created))
    }
}
