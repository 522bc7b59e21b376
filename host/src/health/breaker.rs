//! A circuit breaker per data source: after `failure_threshold` consecutive
//! failures it opens; while open, scheduled work is skipped; once the
//! cooldown has passed one probe goes through (half-open); a success closes
//! it, a failure opens it again with a cooldown twice as long (up to the max).

use std::time::Duration;

use time::OffsetDateTime;

use crate::db::{BreakerColumns, DataSourceRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// The stored form; anything unknown is treated as closed.
    pub fn parse(text: &str) -> Self {
        match text {
            "open" => Self::Open,
            "half_open" => Self::HalfOpen,
            _ => Self::Closed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    pub failure_threshold: u32,
    pub base_cooldown: Duration,
    pub max_cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            base_cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(15 * 60),
        }
    }
}

impl BreakerPolicy {
    /// The cooldown after the `opens`-th consecutive opening (1-based).
    pub fn cooldown(&self, opens: u32) -> Duration {
        let doublings = opens.saturating_sub(1).min(30);
        self.base_cooldown.saturating_mul(1 << doublings).min(self.max_cooldown)
    }
}

/// What scheduled work may do with a data source now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Run,
    /// The cooldown is over: this one check decides (half-open).
    Probe,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    /// Openings since the breaker was last closed (drives the cooldown).
    pub opens: u32,
    pub open_until: Option<OffsetDateTime>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self { state: BreakerState::Closed, consecutive_failures: 0, opens: 0, open_until: None }
    }
}

impl Breaker {
    /// The breaker as stored on a data source's row.
    pub fn of_row(row: &DataSourceRow) -> Self {
        let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        Self {
            state: BreakerState::parse(&row.breaker_state),
            consecutive_failures: count(row.breaker_failures),
            opens: count(row.breaker_opens),
            open_until: row.breaker_open_until.as_deref().and_then(crate::db::parse_time),
        }
    }

    /// The breaker as it is stored.
    pub fn to_columns(&self) -> BreakerColumns {
        BreakerColumns {
            state: self.state.as_str(),
            failures: i64::from(self.consecutive_failures),
            opens: i64::from(self.opens),
            open_until: self.open_until.map(crate::db::format_time),
        }
    }

    pub fn admit(&self, now: OffsetDateTime) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Run,
            BreakerState::Open if self.open_until.is_some_and(|until| now < until) => Admission::Skip,
            BreakerState::Open | BreakerState::HalfOpen => Admission::Probe,
        }
    }

    /// Records a check's result; returns the new state when it changed.
    pub fn record(&mut self, ok: bool, now: OffsetDateTime, policy: &BreakerPolicy) -> Option<BreakerState> {
        let before = self.state;
        if ok {
            *self = Self::default();
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            let trips = match self.state {
                BreakerState::Closed => self.consecutive_failures >= policy.failure_threshold,
                // A failed probe, or a failure while open (a manual test): open again, longer.
                BreakerState::HalfOpen | BreakerState::Open => true,
            };
            if trips {
                self.opens = self.opens.saturating_add(1);
                self.state = BreakerState::Open;
                self.open_until = Some(now + policy.cooldown(self.opens));
            }
        }
        (self.state != before).then_some(self.state)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold: 3,
            base_cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(900),
        }
    }

    #[test]
    fn opens_after_the_threshold_and_skips_until_the_cooldown_ends() {
        let policy = policy();
        let now = datetime!(2026-11-27 10:00 UTC);
        let mut breaker = Breaker::default();
        assert_eq!(breaker.record(false, now, &policy), None);
        assert_eq!(breaker.record(false, now, &policy), None);
        assert_eq!(breaker.admit(now), Admission::Run);
        assert_eq!(breaker.record(false, now, &policy), Some(BreakerState::Open));
        assert_eq!(breaker.admit(now + Duration::from_secs(59)), Admission::Skip);
        assert_eq!(breaker.admit(now + Duration::from_secs(60)), Admission::Probe);
    }

    #[test]
    fn a_failed_probe_doubles_the_cooldown_up_to_the_max_and_a_success_closes() {
        let policy = policy();
        let now = datetime!(2026-11-27 10:00 UTC);
        let mut breaker = Breaker::default();
        for _ in 0..3 {
            breaker.record(false, now, &policy);
        }
        let mut cooldowns = Vec::new();
        for _ in 0..6 {
            breaker.state = BreakerState::HalfOpen;
            assert_eq!(breaker.record(false, now, &policy), Some(BreakerState::Open));
            cooldowns.push((breaker.open_until.expect("open") - now).whole_seconds());
        }
        assert_eq!(cooldowns, [120, 240, 480, 900, 900, 900]);
        breaker.state = BreakerState::HalfOpen;
        assert_eq!(breaker.record(true, now, &policy), Some(BreakerState::Closed));
        assert_eq!(breaker, Breaker::default());
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let policy = policy();
        let now = datetime!(2026-11-27 10:00 UTC);
        let mut breaker = Breaker::default();
        breaker.record(false, now, &policy);
        breaker.record(false, now, &policy);
        assert_eq!(breaker.record(true, now, &policy), None);
        breaker.record(false, now, &policy);
        breaker.record(false, now, &policy);
        assert_eq!(breaker.state, BreakerState::Closed);
    }

    #[test]
    fn cooldowns_never_overflow() {
        assert_eq!(policy().cooldown(u32::MAX), Duration::from_secs(900));
        assert_eq!(policy().cooldown(0), Duration::from_secs(60));
    }
}
