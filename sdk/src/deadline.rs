//! One rule for a connector's own time bounds: they end before the host's.
//!
//! The host ends a call when its timeout (`connect_timeout_ms` for
//! `connect`, `query_timeout_ms` for `test` and `discover`) runs out, throws
//! the instance away and can report only that the connector did not answer.
//! A connector that bounds its waits by a share of that timeout fails first,
//! as a `timeout` naming the step that waited. The shares:
//!
//! - [`SERVER_SHARE`] (80 %): a timeout the server enforces itself
//!   (PostgreSQL's `statement_timeout`, MySQL's `max_execution_time`), so
//!   that the server's clear cancellation comes first;
//! - [`SOCKET_SHARE`] (90 %): every socket read and write, and HTTP waits,
//!   the backstop for a server that goes silent.
//!
//! A timeout of zero means the data source set none: no bound of our own.
//!
//! ```
//! use std::time::Duration;
//! use inlet_sdk::deadline::Deadline;
//! let deadline = Deadline::after(Duration::from_secs(10));
//! assert!(deadline.socket_timeout().unwrap() <= Duration::from_secs(9));
//! assert_eq!(deadline.server_timeout_ms(), Some(8000));
//! assert_eq!(Deadline::after(Duration::ZERO).socket_timeout(), None);
//! ```

use std::time::{Duration, Instant};

/// The share of the host's timeout a server-side timeout gets.
pub const SERVER_SHARE: f64 = 0.8;
/// The share of the host's timeout socket and HTTP waits get.
pub const SOCKET_SHARE: f64 = 0.9;
/// The shortest bound handed out: a zero socket timeout would mean none.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// A host timeout, started now: what is left of each share of it.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    /// `None`: the data source sets no timeout.
    timeout: Option<Duration>,
}

impl Deadline {
    /// The host's `timeout` for a call that starts now (zero: none).
    pub fn after(timeout: Duration) -> Self {
        Self { started: Instant::now(), timeout: Some(timeout).filter(|t| !t.is_zero()) }
    }

    /// The host's timeout, `None` when the data source sets none.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// What is left of `share` of the timeout (at least [`MIN_TIMEOUT`]);
    /// `None` without a timeout.
    pub fn remaining(&self, share: f64) -> Option<Duration> {
        let timeout = self.timeout?;
        Some(timeout.mul_f64(share).saturating_sub(self.started.elapsed()).max(MIN_TIMEOUT))
    }

    /// The bound for the next socket read or write (or HTTP wait): what is
    /// left of [`SOCKET_SHARE`]. Set it again after each stage that took time.
    pub fn socket_timeout(&self) -> Option<Duration> {
        let timeout = self.timeout?;
        Some(socket_share(timeout).saturating_sub(self.started.elapsed()).max(MIN_TIMEOUT))
    }

    /// A server-side timeout for each statement, in milliseconds:
    /// [`SERVER_SHARE`] of the whole timeout (at least 1).
    pub fn server_timeout_ms(&self) -> Option<u32> {
        let timeout = self.timeout?;
        // Whole numbers: 80 % of 30 000 ms is 24 000, not 23 999.
        let ms = (timeout.as_millis() * 8 / 10).max(1);
        Some(u32::try_from(ms).unwrap_or(u32::MAX))
    }

    /// Whether `share` of the timeout has passed; never without a timeout.
    /// For work that starts optional steps (another table) only while time is left.
    pub fn is_past(&self, share: f64) -> bool {
        self.timeout.is_some_and(|timeout| self.started.elapsed() >= timeout.mul_f64(share))
    }
}

/// [`SOCKET_SHARE`] of a timeout for waits repeated on every call of a
/// pooled connection (each call gets the whole timeout again); `None` for
/// zero (no timeout).
pub fn per_call_socket_timeout(timeout: Duration) -> Option<Duration> {
    Deadline::after(timeout).timeout.map(|t| socket_share(t).max(MIN_TIMEOUT))
}

/// [`SERVER_SHARE`] of a timeout, in milliseconds, for a server-side
/// timeout set once per connection (each call gets the whole timeout
/// again); `None` for zero (no timeout).
pub fn per_call_server_timeout_ms(timeout: Duration) -> Option<u32> {
    Deadline::after(timeout).server_timeout_ms()
}

/// [`SOCKET_SHARE`] in whole arithmetic, so that 90 % of 1 s is exactly 900 ms.
fn socket_share(timeout: Duration) -> Duration {
    timeout * 9 / 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started_ago(timeout: Duration, ago: Duration) -> Deadline {
        let mut deadline = Deadline::after(timeout);
        deadline.started = Instant::now().checked_sub(ago).expect("a clock past boot");
        deadline
    }

    #[test]
    fn socket_bounds_end_before_the_hosts_deadline() {
        let fresh = Deadline::after(Duration::from_secs(10));
        let bound = fresh.socket_timeout().unwrap();
        assert!(bound <= Duration::from_secs(9) && bound > Duration::from_millis(8990), "{bound:?}");
        // What is left shrinks as the call goes on.
        let later = started_ago(Duration::from_secs(10), Duration::from_secs(4));
        assert!(later.socket_timeout().unwrap() <= Duration::from_secs(5));
        // Spent: the smallest bound, never zero (which would mean none).
        let spent = started_ago(Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(spent.socket_timeout(), Some(MIN_TIMEOUT));
    }

    #[test]
    fn the_server_gives_up_before_the_socket() {
        let deadline = Deadline::after(Duration::from_millis(30_000));
        assert_eq!(deadline.server_timeout_ms(), Some(24_000));
        assert!(u128::from(deadline.server_timeout_ms().unwrap()) < deadline.socket_timeout().unwrap().as_millis());
        assert_eq!(Deadline::after(Duration::from_micros(100)).server_timeout_ms(), Some(1));
    }

    #[test]
    fn zero_means_no_bound() {
        let none = Deadline::after(Duration::ZERO);
        assert_eq!((none.timeout(), none.socket_timeout(), none.server_timeout_ms()), (None, None, None));
        assert!(!started_ago(Duration::ZERO, Duration::from_secs(5)).is_past(0.0));
        assert_eq!(per_call_socket_timeout(Duration::ZERO), None);
        assert_eq!(per_call_server_timeout_ms(Duration::ZERO), None);
    }

    #[test]
    fn shares_pass_in_order() {
        let deadline = started_ago(Duration::from_secs(10), Duration::from_secs(6));
        assert!(deadline.is_past(0.5));
        assert!(!deadline.is_past(0.9));
        assert_eq!(per_call_socket_timeout(Duration::from_secs(10)), Some(Duration::from_secs(9)));
        assert_eq!(per_call_server_timeout_ms(Duration::from_secs(10)), Some(8000));
    }
}
