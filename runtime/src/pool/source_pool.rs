//! One data source's pool: a semaphore bounding the connections lent at
//! once, and the idle connections waiting to be lent again.
//!
//! Why the bound holds: a connection is opened only by a permit holder that
//! found no idle one or made room for it (retiring an idle one when idle +
//! lent would exceed `max_size`), and every live connection is either idle
//! or held by a permit holder; so idle + lent never exceeds `max_size`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Fingerprint, PoolSettings, PoolStats, Shared};
use crate::runtime::Session;

/// Connections a sweep or an invalidation closes at once (each close has
/// its own short deadline inside `Session::close`).
const CLOSE_CONCURRENCY: usize = 8;

pub(super) struct SourcePool {
    org_id: String,
    max_size: u32,
    permits: Arc<Semaphore>,
    state: Mutex<State>,
    pub(super) counters: Counters,
}

struct State {
    fingerprint: Option<Fingerprint>,
    /// Bumped whenever pooled connections stop being valid.
    generation: u64,
    /// Most recently returned last: lending from the back keeps a few
    /// connections warm and lets the rest reach their idle timeout.
    idle: VecDeque<Idle>,
    /// Invalidated or replaced: nothing returned is kept.
    retired: bool,
    settings: Option<PoolSettings>,
}

impl State {
    /// Records the settings, and a new fingerprint: pooled and lent
    /// connections of an older one are not lent again.
    fn follow(&mut self, fingerprint: Fingerprint, settings: PoolSettings) {
        self.settings = Some(settings);
        if self.fingerprint != Some(fingerprint) {
            if self.fingerprint.is_some() {
                self.generation += 1;
            }
            self.fingerprint = Some(fingerprint);
        }
    }
}

/// A connection in the pool, with what decides whether it may be lent.
pub(super) struct Idle {
    pub session: Session,
    pub generation: u64,
    pub opened_at: Instant,
    pub idle_since: Instant,
}

#[derive(Default)]
pub(super) struct Counters {
    pub waits: AtomicU64,
    pub timeouts: AtomicU64,
    pub opened: AtomicU64,
    pub reused: AtomicU64,
    pub closed: AtomicU64,
    /// Memory of the lent connections' stores, as of when they were lent.
    pub lent_memory_bytes: AtomicU64,
    /// Sockets and handles of the lent connections' stores, likewise.
    pub lent_sockets: AtomicU64,
    pub lent_handles: AtomicU64,
}

impl SourcePool {
    pub fn new(org_id: &str, max_size: u32) -> Self {
        Self {
            org_id: org_id.to_owned(),
            max_size,
            permits: Arc::new(Semaphore::new(max_size as usize)),
            state: Mutex::new(State {
                fingerprint: None,
                generation: 0,
                idle: VecDeque::new(),
                retired: false,
                settings: None,
            }),
            counters: Counters::default(),
        }
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    pub fn max_size(&self) -> u32 {
        self.max_size
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// A permit to hold one connection, waiting up to `wait` for one.
    /// Err carries how long it waited.
    pub async fn acquire(&self, wait: Duration) -> Result<OwnedSemaphorePermit, Duration> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        self.counters.waits.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it like a timeout anyway.
            Ok(Err(_)) | Err(_) => {
                self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(wait)
            }
        }
    }

    /// A pooled connection that still matches `fingerprint` and the limits,
    /// closing the ones that do not on the way. A new fingerprint invalidates
    /// everything pooled and lent.
    pub async fn take_idle(&self, fingerprint: Fingerprint, settings: PoolSettings, shared: &Shared) -> Option<Idle> {
        let mut stale = Vec::new();
        let found = {
            let mut state = self.lock();
            state.follow(fingerprint, settings);
            let now = Instant::now();
            let mut found = None;
            while let Some(idle) = state.idle.pop_back() {
                shared.release_idle(1);
                if idle.generation == state.generation && !expired(&idle, &settings, now) {
                    found = Some(idle);
                    break;
                }
                stale.push(idle.session);
            }
            found
        };
        self.close_all(stale).await;
        if found.is_some() {
            self.counters.reused.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Makes room for a new connection (a permit is held for it): follows
    /// `fingerprint` as [`SourcePool::take_idle`] does, closes idle
    /// connections that can no longer be lent, and when the pool is full
    /// (the new one would exceed `max_size`) retires the least recently used
    /// idle connection. Idle connections beyond that are kept.
    pub async fn make_room(&self, fingerprint: Fingerprint, settings: PoolSettings, shared: &Shared) {
        let closing = {
            let mut state = self.lock();
            state.follow(fingerprint, settings);
            let (generation, now) = (state.generation, Instant::now());
            let (usable, mut closing): (VecDeque<Idle>, VecDeque<Idle>) =
                state.idle.drain(..).partition(|idle| idle.generation == generation && !expired(idle, &settings, now));
            state.idle = usable;
            // Lent connections (this borrower's permit included) plus idle ones.
            let lent = (self.max_size as usize).saturating_sub(self.permits.available_permits());
            if lent + state.idle.len() > self.max_size as usize
                && let Some(oldest) = state.idle.pop_front()
            {
                closing.push_back(oldest);
            }
            shared.release_idle(closing.len());
            closing.into_iter().map(|idle| idle.session).collect::<Vec<_>>()
        };
        self.close_all(closing).await;
    }

    /// Takes back a connection after a clean operation. Returns it when the
    /// pool cannot keep it (retired, invalidated, too old, or the server-wide
    /// idle limit reached), for the caller to close.
    pub fn give_back(&self, idle: Idle, shared: &Shared) -> Option<Session> {
        let mut state = self.lock();
        let keep = !state.retired
            && idle.generation == state.generation
            && state.settings.is_none_or(|settings| idle.opened_at.elapsed() < settings.max_lifetime)
            && shared.try_reserve_idle();
        if keep {
            state.idle.push_back(idle);
            None
        } else {
            Some(idle.session)
        }
    }

    /// Closes idle connections past their idle timeout or lifetime.
    pub async fn close_expired(&self, shared: &Shared) {
        let expired_sessions = {
            let mut state = self.lock();
            let Some(settings) = state.settings else { return };
            let now = Instant::now();
            let (keep, gone): (VecDeque<Idle>, VecDeque<Idle>) =
                state.idle.drain(..).partition(|idle| !expired(idle, &settings, now));
            state.idle = keep;
            shared.release_idle(gone.len());
            gone.into_iter().map(|idle| idle.session).collect::<Vec<_>>()
        };
        self.close_all(expired_sessions).await;
    }

    /// Stops keeping connections for good (the pool was replaced).
    pub async fn retire(&self, shared: &Shared) {
        self.lock().retired = true;
        self.invalidate(shared).await;
    }

    /// Closes the idle connections now; lent ones are closed when they come back.
    pub async fn invalidate(&self, shared: &Shared) {
        let idle = {
            let mut state = self.lock();
            state.generation += 1;
            shared.release_idle(state.idle.len());
            state.idle.drain(..).map(|idle| idle.session).collect::<Vec<_>>()
        };
        self.close_all(idle).await;
    }

    /// Nothing idle and nothing lent.
    pub fn is_empty(&self) -> bool {
        self.lock().idle.is_empty() && self.permits.available_permits() == self.max_size as usize
    }

    pub async fn close(&self, session: Session) {
        self.counters.closed.fetch_add(1, Ordering::Relaxed);
        session.close().await;
    }

    async fn close_all(&self, sessions: Vec<Session>) {
        if sessions.is_empty() {
            return;
        }
        self.counters.closed.fetch_add(sessions.len() as u64, Ordering::Relaxed);
        let mut closing = tokio::task::JoinSet::new();
        for session in sessions {
            if closing.len() >= CLOSE_CONCURRENCY {
                closing.join_next().await;
            }
            closing.spawn(session.close());
        }
        closing.join_all().await;
    }

    pub fn stats(&self, id: &str) -> PoolStats {
        let (idle, idle_memory, idle_sockets, idle_handles) = {
            let state = self.lock();
            let usage = |idle: &Idle| idle.session.usage();
            (
                state.idle.len() as u32,
                state.idle.iter().map(|idle| idle.session.memory_bytes() as u64).sum::<u64>(),
                state.idle.iter().map(|idle| u64::from(usage(idle).sockets)).sum::<u64>(),
                state.idle.iter().map(|idle| u64::from(usage(idle).handles)).sum::<u64>(),
            )
        };
        let counters = &self.counters;
        PoolStats {
            data_source_id: id.to_owned(),
            organization_id: self.org_id.clone(),
            max_size: self.max_size,
            in_use: self.max_size - self.permits.available_permits() as u32,
            idle,
            waits: counters.waits.load(Ordering::Relaxed),
            timeouts: counters.timeouts.load(Ordering::Relaxed),
            opened: counters.opened.load(Ordering::Relaxed),
            reused: counters.reused.load(Ordering::Relaxed),
            closed: counters.closed.load(Ordering::Relaxed),
            memory_bytes: idle_memory + counters.lent_memory_bytes.load(Ordering::Relaxed),
            sockets: idle_sockets + counters.lent_sockets.load(Ordering::Relaxed),
            handles: idle_handles + counters.lent_handles.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state whole; a panic elsewhere
        // cannot leave it half-updated.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn expired(idle: &Idle, settings: &PoolSettings, now: Instant) -> bool {
    now.duration_since(idle.idle_since) >= settings.idle_timeout
        || now.duration_since(idle.opened_at) >= settings.max_lifetime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_makes_borrowers_wait_then_gives_up_at_the_deadline() {
        let pool = SourcePool::new("org", 2);
        let first = pool.acquire(Duration::from_millis(10)).await.expect("free permit");
        let _second = pool.acquire(Duration::from_millis(10)).await.expect("free permit");
        let waited = pool.acquire(Duration::from_millis(30)).await.expect_err("the pool is full");
        assert_eq!(waited, Duration::from_millis(30));
        assert_eq!(pool.counters.waits.load(Ordering::Relaxed), 1);
        assert_eq!(pool.counters.timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(pool.stats("ds").in_use, 2);

        // A permit given back wakes a waiter.
        let waiter = pool.acquire(Duration::from_secs(5));
        let release = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(first);
        };
        let (permit, ()) = tokio::join!(waiter, release);
        assert!(permit.is_ok(), "the waiter got the released permit");
        assert_eq!(pool.counters.waits.load(Ordering::Relaxed), 2);
        assert_eq!(pool.counters.timeouts.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_new_fingerprint_moves_the_generation_and_the_first_does_not() {
        let pool = SourcePool::new("org", 1);
        let shared = Shared { idle_total: std::sync::atomic::AtomicUsize::new(0), max_idle_total: 10 };
        let settings = PoolSettings {
            max_size: 1,
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(600),
            wait_timeout: Duration::from_secs(1),
        };
        assert!(pool.take_idle([1; 32], settings, &shared).await.is_none());
        assert_eq!(pool.generation(), 0, "the first definition is not a change");
        assert!(pool.take_idle([1; 32], settings, &shared).await.is_none());
        assert_eq!(pool.generation(), 0);
        assert!(pool.take_idle([2; 32], settings, &shared).await.is_none());
        assert_eq!(pool.generation(), 1, "a changed definition invalidates what was lent");
        pool.invalidate(&shared).await;
        assert_eq!(pool.generation(), 2);
        assert!(pool.is_empty());
    }

    #[test]
    fn the_server_wide_idle_limit_is_reserved_and_released() {
        let shared = Shared { idle_total: std::sync::atomic::AtomicUsize::new(0), max_idle_total: 2 };
        assert!(shared.try_reserve_idle());
        assert!(shared.try_reserve_idle());
        assert!(!shared.try_reserve_idle(), "the third idle connection is over the limit");
        shared.release_idle(1);
        assert!(shared.try_reserve_idle());
    }
}
