//! Keeping data sources honest over time: the circuit breaker that stops
//! hammering a source that keeps failing, the retry policy for errors a
//! connector marks retryable, and the scheduler that checks every source on
//! its interval. The decisions (breaker, backoff) are pure and unit-tested
//! here; the scheduler loop (`workers/health_scheduler.rs`) only wires them to the
//! database and the connectors.

pub mod breaker;
pub mod retry;

pub use breaker::{Admission, Breaker, BreakerPolicy, BreakerState};
pub use retry::RetryPolicy;

use std::time::Duration;

/// How health checks run (`INLET_*` settings, see `settings.rs`).
#[derive(Debug, Clone)]
pub struct HealthSettings {
    /// Lowest health-check interval users may set (5 s; lower only for tests).
    pub min_interval_s: u32,
    /// Lowest automatic schema-refresh interval users may set (60 s; lower only for tests).
    pub min_schema_refresh_s: u32,
    pub breaker: BreakerPolicy,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub scheduler: SchedulerConfig,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            min_interval_s: 5,
            min_schema_refresh_s: 60,
            breaker: BreakerPolicy::default(),
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(30),
            scheduler: SchedulerConfig::default(),
        }
    }
}

/// The background health scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// `INLET_HEALTH_SCHEDULER=off` turns it off (one replica may own it).
    pub enabled: bool,
    /// How often due data sources are claimed.
    pub tick: Duration,
    /// Data sources claimed per tick at most.
    pub batch: u32,
    /// Checks running at once at most.
    pub concurrency: usize,
    /// Checks older than this are pruned.
    pub retention: Duration,
    /// Schema discoveries running at once at most.
    pub discovery_concurrency: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tick: Duration::from_secs(1),
            batch: 200,
            concurrency: 16,
            retention: Duration::from_secs(30 * 86_400),
            discovery_concurrency: 4,
        }
    }
}

/// The next check time for an interval: `interval_s` from now, give or take
/// up to a tenth (`jitter` in [0, 1)), so data sources created together
/// spread out instead of being checked in bursts.
pub fn next_check_at(now: time::OffsetDateTime, interval_s: i64, jitter: f64) -> time::OffsetDateTime {
    let interval = interval_s.max(1) as f64;
    let spread = interval * 0.1 * (2.0 * jitter.clamp(0.0, 1.0) - 1.0);
    now + time::Duration::seconds_f64(interval + spread)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn next_checks_stay_within_a_tenth_of_the_interval() {
        let now = datetime!(2026-11-27 10:00 UTC);
        assert_eq!(next_check_at(now, 60, 0.5), now + time::Duration::seconds(60));
        assert_eq!(next_check_at(now, 60, 0.0), now + time::Duration::seconds(54));
        assert_eq!(next_check_at(now, 60, 1.0), now + time::Duration::seconds(66));
        assert!(next_check_at(now, 0, 0.5) > now, "never due again at once");
    }
}
