//! Flapping damping, as pure decisions over one data source's recent status
//! transitions: more than `threshold` transitions within `window` make it
//! flapping, reported once (a `flapping` event) instead of each transition;
//! while it flaps its transitions are not delivered; a whole window without
//! a transition settles it (`flapping_settled`, with the status it settled in).

use std::time::Duration;

use crate::db::FlapRow;

/// `INLET_ALERT_FLAP_THRESHOLD` (5) transitions within `INLET_ALERT_FLAP_WINDOW_S` (300).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapPolicy {
    pub threshold: usize,
    pub window: Duration,
}

impl Default for FlapPolicy {
    fn default() -> Self {
        Self { threshold: 5, window: Duration::from_secs(300) }
    }
}

impl FlapPolicy {
    fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
}

/// What to do with one status transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Deliver it.
    Deliver,
    /// The same status as the last one seen (a repeat, not a transition): drop it.
    Repeat,
    /// It made the data source flapping: report `flapping` instead.
    StartFlapping { transitions: usize },
    /// Flapping: not delivered.
    Suppress,
}

/// One data source's flapping state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlapState {
    /// Times (unix ms) of the transitions within the window, oldest first.
    pub transitions: Vec<i64>,
    pub flapping: bool,
    pub last_status: Option<String>,
    /// Unix ms of the last transition.
    pub last_transition_ms: Option<i64>,
}

impl FlapState {
    /// Records a transition to `to` at `at_ms` and decides its fate.
    pub fn on_transition(&mut self, at_ms: i64, to: &str, policy: &FlapPolicy) -> Decision {
        if self.last_status.as_deref() == Some(to) {
            return Decision::Repeat;
        }
        self.last_status = Some(to.to_owned());
        // Events are dispatched in commit order; a clock step back must not
        // make the window grow.
        let at_ms = at_ms.max(self.last_transition_ms.unwrap_or(i64::MIN));
        self.last_transition_ms = Some(at_ms);
        let since = at_ms.saturating_sub(policy.window_ms());
        self.transitions.retain(|&t| t > since);
        self.transitions.push(at_ms);
        if self.flapping {
            return Decision::Suppress;
        }
        if self.transitions.len() > policy.threshold {
            self.flapping = true;
            return Decision::StartFlapping { transitions: self.transitions.len() };
        }
        Decision::Deliver
    }

    /// Whether a flapping data source has held still for a whole window by `now_ms`.
    pub fn settles(&self, now_ms: i64, policy: &FlapPolicy) -> bool {
        self.flapping && self.last_transition_ms.is_some_and(|last| now_ms.saturating_sub(last) >= policy.window_ms())
    }

    pub fn from_row(row: &FlapRow) -> Self {
        Self {
            transitions: serde_json::from_str(&row.transitions).unwrap_or_default(),
            flapping: row.flapping != 0,
            last_status: row.last_status.clone(),
            last_transition_ms: crate::db::parse_time(&row.last_transition_at).map(unix_ms),
        }
    }

    pub fn to_row(&self, data_source_id: &str, organization_id: &str) -> FlapRow {
        let last = self.last_transition_ms.and_then(from_unix_ms).unwrap_or_else(time::OffsetDateTime::now_utc);
        FlapRow {
            data_source_id: data_source_id.to_owned(),
            organization_id: organization_id.to_owned(),
            transitions: serde_json::to_string(&self.transitions).unwrap_or_else(|_| "[]".into()),
            flapping: i64::from(self.flapping),
            last_status: self.last_status.clone(),
            last_transition_at: crate::db::format_time(last),
        }
    }
}

pub fn unix_ms(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_unix_ms(ms: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// The stored time before which a flapping data source's last transition
/// must lie for it to settle at `now`.
pub fn settle_cutoff(now: time::OffsetDateTime, policy: &FlapPolicy) -> String {
    crate::db::format_time(now - policy.window)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: FlapPolicy = FlapPolicy { threshold: 3, window: Duration::from_secs(60) };

    fn flip(state: &mut FlapState, at_s: i64, i: usize) -> Decision {
        let to = if i.is_multiple_of(2) { "failed" } else { "active" };
        state.on_transition(at_s * 1000, to, &POLICY)
    }

    #[test]
    fn transitions_up_to_the_threshold_are_delivered_then_one_flapping_then_silence() {
        let mut state = FlapState::default();
        let decisions: Vec<Decision> = (0..10).map(|i| flip(&mut state, i as i64 * 2, i)).collect();
        assert_eq!(decisions[..3], [Decision::Deliver; 3]);
        assert_eq!(decisions[3], Decision::StartFlapping { transitions: 4 });
        assert!(decisions[4..].iter().all(|d| *d == Decision::Suppress), "{decisions:?}");
        assert!(state.flapping);
    }

    #[test]
    fn transitions_spread_over_more_than_the_window_never_flap() {
        let mut state = FlapState::default();
        for i in 0..20 {
            assert_eq!(flip(&mut state, i as i64 * 25, i), Decision::Deliver, "transition {i}");
            assert!(state.transitions.len() <= 3);
        }
    }

    #[test]
    fn a_repeated_status_is_not_a_transition() {
        let mut state = FlapState::default();
        assert_eq!(state.on_transition(0, "failed", &POLICY), Decision::Deliver);
        for at in 1..10 {
            assert_eq!(state.on_transition(at, "failed", &POLICY), Decision::Repeat);
        }
        assert_eq!(state.transitions.len(), 1);
        assert_eq!(state.on_transition(20, "active", &POLICY), Decision::Deliver);
    }

    #[test]
    fn it_settles_after_a_quiet_window_and_can_flap_again() {
        let mut state = FlapState::default();
        for i in 0..6 {
            flip(&mut state, i as i64, i);
        }
        assert!(state.flapping);
        let last = state.last_transition_ms.unwrap();
        assert!(!state.settles(last + 59_999, &POLICY));
        assert!(state.settles(last + 60_000, &POLICY));
        // What the settle sweep stores.
        state.flapping = false;
        state.transitions.clear();
        let start = last / 1000 + 120;
        let decisions: Vec<Decision> = (0..5).map(|i| flip(&mut state, start + i as i64, i)).collect();
        assert_eq!(decisions[3], Decision::StartFlapping { transitions: 4 }, "{decisions:?}");
    }

    #[test]
    fn a_clock_stepping_back_does_not_widen_the_window() {
        let mut state = FlapState::default();
        state.on_transition(100_000, "failed", &POLICY);
        state.on_transition(50_000, "active", &POLICY);
        assert_eq!(state.last_transition_ms, Some(100_000));
    }

    #[test]
    fn state_round_trips_through_its_row() {
        let mut state = FlapState::default();
        for i in 0..5 {
            flip(&mut state, 1_800_000_000 + i as i64, i);
        }
        let row = state.to_row("ds", "org");
        assert_eq!(row.flapping, 1);
        assert_eq!(FlapState::from_row(&row), state);
    }
}
