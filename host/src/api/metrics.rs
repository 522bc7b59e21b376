//! In-process counters for `GET /api/v1/data-sources/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counters {
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

impl Counters {
    pub fn record_test(&self, ok: bool, latency_ms: u64) {
        self.tests_run.fetch_add(1, Ordering::Relaxed);
        self.test_latency_ms_total.fetch_add(latency_ms, Ordering::Relaxed);
        if !ok {
            self.tests_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_discovery(&self, ok: bool) {
        self.discoveries_run.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.discoveries_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_breaker(&self, state: crate::health::BreakerState) {
        use crate::health::BreakerState;
        match state {
            BreakerState::Open => self.breakers_opened.fetch_add(1, Ordering::Relaxed),
            BreakerState::Closed => self.breakers_closed.fetch_add(1, Ordering::Relaxed),
            BreakerState::HalfOpen => 0,
        };
    }

    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
