//! In-process counters for `GET /api/v1/data-sources/metrics` (one set per
//! organization, which is all its callers may see) and for the Prometheus
//! `/metrics` (the server's totals).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// One set of counters: the server's totals or one organization's.
#[derive(Debug, Default)]
pub struct CounterSet {
    pub tests_run: AtomicU64,
    pub tests_failed: AtomicU64,
    pub test_latency_ms_total: AtomicU64,
    pub discoveries_run: AtomicU64,
    pub discoveries_failed: AtomicU64,
    pub connections_opened: AtomicU64,
    pub breakers_opened: AtomicU64,
    pub breakers_closed: AtomicU64,
    pub checks_skipped_open: AtomicU64,
    pub scheduled_checks: AtomicU64,
}

/// The server's totals plus each organization's share of them.
#[derive(Debug, Default)]
pub struct Counters {
    total: CounterSet,
    orgs: RwLock<HashMap<String, Arc<CounterSet>>>,
}

impl std::ops::Deref for Counters {
    type Target = CounterSet;

    /// The server's totals.
    fn deref(&self) -> &CounterSet {
        &self.total
    }
}

impl Counters {
    /// `org_id`'s counters (zero until something happened there).
    pub fn of_org(&self, org_id: &str) -> Arc<CounterSet> {
        if let Some(set) = self.orgs.read().unwrap_or_else(PoisonError::into_inner).get(org_id) {
            return set.clone();
        }
        self.orgs.write().unwrap_or_else(PoisonError::into_inner).entry(org_id.to_owned()).or_default().clone()
    }

    /// Counts in the totals and in `org_id`'s set.
    fn both(&self, org_id: &str, count: impl Fn(&CounterSet)) {
        count(&self.total);
        count(&self.of_org(org_id));
    }

    pub fn record_test(&self, org_id: &str, ok: bool, latency_ms: u64) {
        self.both(org_id, |set| {
            set.tests_run.fetch_add(1, Ordering::Relaxed);
            set.test_latency_ms_total.fetch_add(latency_ms, Ordering::Relaxed);
            if !ok {
                set.tests_failed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    pub fn record_discovery(&self, org_id: &str, ok: bool) {
        self.both(org_id, |set| {
            set.discoveries_run.fetch_add(1, Ordering::Relaxed);
            if !ok {
                set.discoveries_failed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    pub fn record_breaker(&self, org_id: &str, state: crate::health::BreakerState) {
        use crate::health::BreakerState;
        self.both(org_id, |set| {
            match state {
                BreakerState::Open => set.breakers_opened.fetch_add(1, Ordering::Relaxed),
                BreakerState::Closed => set.breakers_closed.fetch_add(1, Ordering::Relaxed),
                BreakerState::HalfOpen => 0,
            };
        });
    }

    /// Adds one to the counter `pick` chooses, in the totals and `org_id`'s set.
    pub fn add(&self, org_id: &str, pick: fn(&CounterSet) -> &AtomicU64) {
        self.both(org_id, |set| {
            pick(set).fetch_add(1, Ordering::Relaxed);
        });
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_count_apart_and_the_totals_count_all() {
        let counters = Counters::default();
        counters.record_test("a", true, 10);
        counters.record_test("a", false, 30);
        counters.record_test("b", true, 5);
        counters.add("b", |set| &set.connections_opened);
        assert_eq!(Counters::get(&counters.tests_run), 3);
        assert_eq!(Counters::get(&counters.of_org("a").tests_run), 2);
        assert_eq!(Counters::get(&counters.of_org("a").tests_failed), 1);
        assert_eq!(Counters::get(&counters.of_org("b").tests_run), 1);
        assert_eq!(Counters::get(&counters.of_org("b").connections_opened), 1);
        assert_eq!(Counters::get(&counters.of_org("c").tests_run), 0);
    }
}
