//! The delivery worker: claims due deliveries (only the oldest pending one
//! of each channel and data source, so each of those queues is delivered in
//! order), sends them with bounded concurrency, and records the outcome: a
//! 2xx is delivered; anything else is retried with exponential backoff and
//! jitter until the give-up time after the delivery was queued, then dead.
//! A claim is a lease: an attempt whose process dies is retried when it ends.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};

use super::AlertSettings;
use super::webhook::{self, Ids, Target};
use crate::core::App;
use crate::db::{AttemptResult, DueDelivery, format_time, parse_time};

/// Deliveries claimed per query at most.
const BATCH: usize = 32;
/// How long a claimed delivery is leased to its attempt: well past the
/// webhook timeout, so only a dead process lets it expire.
const LEASE: Duration = Duration::from_secs(30);
/// The longest sleep between looks at the queue (retries, other replicas).
const POLL: Duration = Duration::from_secs(1);

/// The wait before attempt `attempts + 1` after `attempts` failures:
/// `base · 2^(attempts-1)`, capped at `max`, times a jitter factor in
/// [0.5, 1) from `jitter` in [0, 1).
pub fn backoff(attempts: i64, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    let full = base.checked_mul(1u32 << exponent.min(31)).unwrap_or(max).min(max);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// When a failed delivery is tried next, or `None` when it is given up.
pub fn next_attempt(
    now: OffsetDateTime,
    created: OffsetDateTime,
    attempts: i64,
    settings: &AlertSettings,
    jitter: f64,
) -> Option<OffsetDateTime> {
    let give_up = created + settings.give_up;
    if now >= give_up {
        return None;
    }
    Some((now + backoff(attempts, settings.retry_base, settings.retry_max, jitter)).min(give_up))
}

pub(super) fn spawn(state: App, settings: AlertSettings, wake: Arc<Notify>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        loop {
            let notified = wake.notified();
            claim_and_send(&state, &settings, &permits, &wake).await;
            let sleep = until_next_due(&state).await;
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    })
}

/// How long until the earliest pending delivery is due, at most [`POLL`].
async fn until_next_due(state: &App) -> Duration {
    let Ok(Some(next)) = state.db().next_delivery_due().await else { return POLL };
    let Some(next) = parse_time(&next) else { return POLL };
    let wait = next - OffsetDateTime::now_utc();
    Duration::try_from(wait).unwrap_or(Duration::ZERO).clamp(Duration::from_millis(10), POLL)
}

/// Claims what can start now and starts it; claims again while permits
/// are free and claims come back full.
async fn claim_and_send(state: &App, settings: &AlertSettings, permits: &Arc<Semaphore>, wake: &Arc<Notify>) {
    loop {
        let Ok(first) = permits.clone().acquire_owned().await else { return };
        let free = (1 + permits.available_permits()).min(BATCH);
        let now = OffsetDateTime::now_utc();
        let claimed = state.db().claim_due_deliveries(&format_time(now), &format_time(now + LEASE), free as i64).await;
        let rows = match claimed {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "alert delivery worker cannot claim deliveries");
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
            let (state, settings, wake) = (state.clone(), settings.clone(), wake.clone());
            tokio::spawn(async move {
                attempt(&state, &settings, row).await;
                drop(permit);
                // The next delivery of the same queue is eligible now.
                wake.notify_one();
            });
        }
        if drained {
            return;
        }
    }
}

/// Sends one claimed delivery and records what happened.
async fn attempt(state: &App, settings: &AlertSettings, row: DueDelivery) {
    let (status_code, error, latency) = match open_and_send(state, settings, &row).await {
        Ok((answer, latency)) if answer.is_success() => (Some(answer.status), None, latency),
        Ok((answer, latency)) => {
            (Some(answer.status), Some(format!("the receiver answered HTTP {}", answer.status)), latency)
        }
        Err((error, latency)) => (None, Some(error), latency),
    };
    let now = OffsetDateTime::now_utc();
    let attempts = row.attempts + 1;
    let latency_ms = i64::try_from(latency.as_millis()).unwrap_or(i64::MAX);
    let created = parse_time(&row.created_at).unwrap_or(now);
    let (status, next) = match &error {
        None => ("delivered", now),
        Some(_) => match next_attempt(now, created, attempts, settings, rand::random::<f64>()) {
            Some(next) => ("pending", next),
            None => ("dead", now),
        },
    };
    let (now_text, next_text) = (format_time(now), format_time(next));
    let result = AttemptResult {
        status,
        attempts,
        next_attempt_at: &next_text,
        status_code: status_code.map(i64::from),
        error: error.as_deref(),
        latency_ms,
        delivered_at: (status == "delivered").then_some(now_text.as_str()),
    };
    match status {
        "delivered" => {
            tracing::debug!(delivery = %row.id, channel = %row.channel_id, attempts, latency_ms, "alert delivered")
        }
        "dead" => tracing::warn!(
            delivery = %row.id, channel = %row.channel_id, attempts,
            error = error.as_deref().unwrap_or_default(), "alert delivery given up"
        ),
        _ => tracing::info!(
            delivery = %row.id, channel = %row.channel_id, attempts, next_attempt_at = %next_text,
            error = error.as_deref().unwrap_or_default(), "alert delivery failed; will retry"
        ),
    }
    if let Err(error) = state.db().record_delivery_attempt(&row.id, &result).await {
        // The lease runs out and the delivery is tried again: at least once.
        tracing::warn!(%error, delivery = %row.id, "cannot record an alert delivery attempt");
    }
}

async fn open_and_send(
    state: &App,
    settings: &AlertSettings,
    row: &DueDelivery,
) -> Result<(webhook::Answer, Duration), (String, Duration)> {
    let target = Target::parse(&row.url).map_err(|reason| (format!("the channel's URL {reason}"), Duration::ZERO))?;
    let secret = super::open_secret(state, &row.organization_id, &row.channel_id, &row.secret)
        .await
        .map_err(|error| (error, Duration::ZERO))?;
    let ids = Ids { event_id: &row.event_id, delivery_id: &row.id };
    let body = Bytes::from(row.body.clone());
    let (result, latency) =
        webhook::send(&target, body, secret.as_bytes(), ids, settings.egress, settings.timeout).await;
    result.map(|answer| (answer, latency)).map_err(|error| {
        tracing::info!(channel = %row.channel_id, %error, "alert delivery failed");
        (error.public_message().to_owned(), latency)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(3600));
        assert_eq!(backoff(1, base, max, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(2, base, max, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(5, base, max, 1.0), Duration::from_secs(16));
        for attempts in [13, 30, 64, 1000, i64::MAX] {
            assert_eq!(backoff(attempts, base, max, 1.0), max, "{attempts}");
        }
        for i in 0..100 {
            let jitter = f64::from(i) / 100.0;
            let delay = backoff(3, base, max, jitter);
            assert!(delay >= Duration::from_secs(2) && delay < Duration::from_secs(4), "{delay:?}");
        }
        assert_eq!(backoff(0, base, max, 1.0), base);
    }

    #[test]
    fn deliveries_are_given_up_after_the_limit_and_the_last_try_lands_on_it() {
        let settings = AlertSettings::default();
        let created = time::macros::datetime!(2026-01-01 00:00 UTC);
        let soon = created + Duration::from_secs(10);
        let next = next_attempt(soon, created, 3, &settings, 1.0).unwrap();
        assert_eq!(next, soon + Duration::from_secs(4));
        let late = created + Duration::from_secs(86_400 - 60);
        assert_eq!(next_attempt(late, created, 20, &settings, 1.0), Some(created + Duration::from_secs(86_400)));
        assert_eq!(next_attempt(created + Duration::from_secs(86_400), created, 21, &settings, 1.0), None);
    }
}
