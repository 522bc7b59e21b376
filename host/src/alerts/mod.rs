//! Alerts: the event outbox handed on to each organization's alert channels
//! (signed webhooks), at least once and in order per data source.
//!
//! - [`dispatcher`] follows the outbox, damps flapping, applies channel
//!   filters and queues deliveries (one transaction per batch).
//! - [`flapping`] decides, purely, what a flapping data source reports.
//! - [`delivery`] sends the queued deliveries with retries and backoff.
//! - [`webhook`] is one signed POST under the egress policy.
//!
//! Channels are managed by `/api/v1/alert-channels` ([`crate::api`]).

pub mod delivery;
pub mod dispatcher;
pub mod flapping;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::core::App;
use crate::sandbox::EgressPolicy;
use crate::settings::{SettingsError, var};
use crate::vault::{self, SecretAad, Zeroizing};

pub use flapping::FlapPolicy;

/// `INLET_ALERT_*` settings.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// `INLET_ALERT_FLAP_THRESHOLD` (5) transitions within `INLET_ALERT_FLAP_WINDOW_S` (300).
    pub flap: FlapPolicy,
    /// `INLET_ALERT_RETRY_BASE_MS` (1000): the first retry's delay, doubling.
    pub retry_base: Duration,
    /// The longest wait between attempts (1 h).
    pub retry_max: Duration,
    /// `INLET_ALERT_GIVE_UP_S` (86400): a delivery not made by then is dead.
    pub give_up: Duration,
    /// `INLET_ALERT_CONCURRENCY` (8): deliveries in flight per process.
    pub concurrency: usize,
    /// Per attempt (10 s).
    pub timeout: Duration,
    /// Delivered and dead deliveries are kept this long (`INLET_HEALTH_RETENTION_DAYS`).
    pub retention: Duration,
    /// The connectors' egress policy (`INLET_EGRESS_LOOPBACK`, `INLET_EGRESS_PRIVATE`).
    pub egress: EgressPolicy,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            flap: FlapPolicy::default(),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(3600),
            give_up: Duration::from_secs(86_400),
            concurrency: 8,
            timeout: webhook::TIMEOUT,
            retention: Duration::from_secs(30 * 86_400),
            egress: EgressPolicy::default(),
        }
    }
}

impl AlertSettings {
    /// Reads the environment; `egress` and `retention` come from the server's settings.
    pub fn from_env(egress: EgressPolicy, retention: Duration) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        Ok(Self {
            flap: FlapPolicy {
                threshold: positive("INLET_ALERT_FLAP_THRESHOLD", 5)? as usize,
                window: Duration::from_secs(positive("INLET_ALERT_FLAP_WINDOW_S", 300)?),
            },
            retry_base: Duration::from_millis(positive("INLET_ALERT_RETRY_BASE_MS", 1000)?),
            give_up: Duration::from_secs(positive("INLET_ALERT_GIVE_UP_S", 86_400)?),
            concurrency: positive("INLET_ALERT_CONCURRENCY", 8)? as usize,
            egress,
            retention,
            ..defaults
        })
    }
}

fn positive(name: &'static str, default: u64) -> Result<u64, SettingsError> {
    match var(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .ok()
            .filter(|n: &u64| *n > 0 && *n <= u64::from(u32::MAX))
            .ok_or(SettingsError { name, reason: format!("`{text}` is not a positive whole number") }),
    }
}

/// Starts the dispatcher and the delivery worker on the current runtime;
/// the dispatcher wakes the delivery worker when it queued deliveries.
pub fn spawn(state: App, settings: AlertSettings) -> [(&'static str, JoinHandle<()>); 2] {
    let wake = Arc::new(tokio::sync::Notify::new());
    [
        ("alert dispatcher", dispatcher::spawn(state.clone(), settings.clone(), wake.clone())),
        ("alert delivery", delivery::spawn(state, settings, wake)),
    ]
}

/// Where a channel's secret belongs. Data source secrets are sealed for
/// (organization, data source id, field); a channel's "data source" part is
/// `alert-channel:<id>`, which no data source id (a UUID) can be, so a sealed
/// channel secret never opens as a data source's, nor the other way round.
fn channel_location(channel_id: &str) -> String {
    format!("alert-channel:{channel_id}")
}

const SECRET_FIELD: &str = "webhook_secret";

/// Seals a channel's signing secret with the organization's data key.
pub async fn seal_secret(state: &App, org_id: &str, channel_id: &str, secret: &str) -> crate::core::Result<String> {
    let key = state.data_key(org_id).await?;
    let location = channel_location(channel_id);
    let aad = SecretAad { org_id, data_source_id: &location, field: SECRET_FIELD };
    vault::seal(&key, &aad, secret).map_err(|e| crate::core::Error::internal("cannot seal the channel's secret", e))
}

/// Opens a channel's signing secret; the error says why without quoting it.
pub async fn open_secret(
    state: &App,
    org_id: &str,
    channel_id: &str,
    sealed: &str,
) -> Result<Zeroizing<String>, String> {
    let key = state.data_key(org_id).await.map_err(|e| e.to_string())?;
    let location = channel_location(channel_id);
    let aad = SecretAad { org_id, data_source_id: &location, field: SECRET_FIELD };
    vault::open(&key, &aad, sealed).map_err(|e| format!("cannot open the channel's secret: {e}"))
}
