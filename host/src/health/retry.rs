//! Retries of errors a connector marks retryable: exponential backoff with
//! jitter, so that many data sources failing together do not retry in step.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// The first retry waits about this long; each next one about twice as long.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based), given `jitter` in
    /// [0, 1): between half and all of the exponential delay.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let exponential = self.base_delay.saturating_mul(1 << retry.min(20)).min(self.max_delay);
        exponential.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// Whether a failure after `retries_done` retries gets another try.
    pub fn retries(&self, retryable: bool, retries_done: u32) -> bool {
        retryable && retries_done < self.max_retries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy =
        RetryPolicy { max_retries: 3, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(10) };

    #[test]
    fn delays_grow_exponentially_within_the_jitter_band_and_the_cap() {
        assert_eq!(POLICY.delay(0, 0.0), Duration::from_millis(250));
        assert_eq!(POLICY.delay(0, 1.0), Duration::from_millis(500));
        assert_eq!(POLICY.delay(2, 1.0), Duration::from_millis(2000));
        assert_eq!(POLICY.delay(30, 1.0), Duration::from_secs(10));
        assert!(POLICY.delay(1, 0.5) > POLICY.delay(1, 0.0));
    }

    #[test]
    fn only_retryable_errors_are_retried_and_only_so_often() {
        assert!(POLICY.retries(true, 0));
        assert!(POLICY.retries(true, 2));
        assert!(!POLICY.retries(true, 3));
        assert!(!POLICY.retries(false, 0));
    }
}
