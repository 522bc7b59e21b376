//! A lent connection. Give it back with [`Lease::release`] after a clean
//! operation, or close it with [`Lease::discard`] after a failed one (its
//! protocol state is unknown). A lease dropped without either closes its
//! connection in the background, still holding the pool's permit until the
//! connector has closed, so the pool's bound holds at the server too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use super::Shared;
use super::source_pool::{Idle, SourcePool};
use crate::runtime::Session;

pub struct Lease {
    pool: Arc<SourcePool>,
    shared: Arc<Shared>,
    /// Taken out by `release` and `discard`; `None` only after them.
    held: Option<Held>,
}

struct Held {
    session: Session,
    generation: u64,
    opened_at: Instant,
    permit: OwnedSemaphorePermit,
    /// Memory, sockets and handles of the store when lent, counted in the
    /// pool's figures.
    lent_memory_bytes: u64,
    lent_sockets: u64,
    lent_handles: u64,
    reused: bool,
}

impl Lease {
    pub(super) fn opened(
        pool: Arc<SourcePool>,
        permit: OwnedSemaphorePermit,
        session: Session,
        generation: u64,
        shared: Arc<Shared>,
    ) -> Self {
        pool.counters.opened.fetch_add(1, Ordering::Relaxed);
        Self::lend(pool, shared, session, generation, Instant::now(), permit, false)
    }

    pub(super) fn reused(pool: Arc<SourcePool>, permit: OwnedSemaphorePermit, idle: Idle, shared: Arc<Shared>) -> Self {
        Self::lend(pool, shared, idle.session, idle.generation, idle.opened_at, permit, true)
    }

    fn lend(
        pool: Arc<SourcePool>,
        shared: Arc<Shared>,
        session: Session,
        generation: u64,
        opened_at: Instant,
        permit: OwnedSemaphorePermit,
        reused: bool,
    ) -> Self {
        let lent_memory_bytes = session.memory_bytes() as u64;
        let usage = session.usage();
        let (lent_sockets, lent_handles) = (u64::from(usage.sockets), u64::from(usage.handles));
        pool.counters.lent_memory_bytes.fetch_add(lent_memory_bytes, Ordering::Relaxed);
        pool.counters.lent_sockets.fetch_add(lent_sockets, Ordering::Relaxed);
        pool.counters.lent_handles.fetch_add(lent_handles, Ordering::Relaxed);
        let held =
            Held { session, generation, opened_at, permit, lent_memory_bytes, lent_sockets, lent_handles, reused };
        Self { pool, shared, held: Some(held) }
    }

    /// Whether the connection was pooled before this lease (so its connect
    /// stages happened earlier, and a failure may be a stale connection).
    pub fn is_reused(&self) -> bool {
        self.held.as_ref().is_some_and(|held| held.reused)
    }

    /// How long ago the connection was opened.
    pub fn age(&self) -> Duration {
        self.held.as_ref().map_or(Duration::ZERO, |held| held.opened_at.elapsed())
    }

    pub fn session(&mut self) -> &mut Session {
        match &mut self.held {
            Some(held) => &mut held.session,
            // `release` and `discard` consume the lease, so nobody can call
            // this after them.
            None => unreachable!("a lease is used after it was released"),
        }
    }

    /// Returns the connection to the pool if it is still sound; else closes it.
    pub async fn release(mut self) {
        let Some(held) = self.take() else { return };
        if !held.session.is_usable() {
            self.pool.close(held.session).await;
            return;
        }
        let idle = Idle {
            session: held.session,
            generation: held.generation,
            opened_at: held.opened_at,
            idle_since: Instant::now(),
        };
        if let Some(unwanted) = self.pool.give_back(idle, &self.shared) {
            self.pool.close(unwanted).await;
        }
        drop(held.permit);
    }

    /// Closes the connection instead of pooling it.
    pub async fn discard(mut self) {
        if let Some(held) = self.take() {
            self.pool.close(held.session).await;
            drop(held.permit);
        }
    }

    /// The held connection, with the lent memory taken off the pool's figures.
    fn take(&mut self) -> Option<HeldParts> {
        let held = self.held.take()?;
        self.pool.counters.lent_memory_bytes.fetch_sub(held.lent_memory_bytes, Ordering::Relaxed);
        self.pool.counters.lent_sockets.fetch_sub(held.lent_sockets, Ordering::Relaxed);
        self.pool.counters.lent_handles.fetch_sub(held.lent_handles, Ordering::Relaxed);
        Some(HeldParts {
            session: held.session,
            generation: held.generation,
            opened_at: held.opened_at,
            permit: held.permit,
        })
    }
}

struct HeldParts {
    session: Session,
    generation: u64,
    opened_at: Instant,
    permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(held) = self.take() else { return };
        let pool = self.pool.clone();
        // Dropped mid-operation (e.g. the request was cancelled): the
        // connection's state is unknown, so it is closed, never pooled.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                pool.close(held.session).await;
                drop(held.permit);
            });
        }
    }
}
