//! Connection pools: per data source, live connector connections (a store,
//! an instance and its `connection` resource) kept between operations.
//!
//! A pool lends at most `max_size` connections at once; a borrower that finds
//! none free waits up to the connect timeout. Connections go back to the pool
//! only after a clean operation, and are closed when idle too long, when too
//! old, when the data source's definition changes (a new fingerprint) or when
//! it is invalidated (config, credentials, status or deletion).
//!
//! It knows nothing about data sources beyond an id, an organization and a
//! fingerprint: callers decide what identity means and how to connect.

mod lease;
mod source_pool;

pub use lease::Lease;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

use crate::model::{ErrorKind, Failure};
use crate::runtime::Session;
use source_pool::SourcePool;

/// The identity a pooled connection must match to be lent: a digest of
/// everything that shaped it (plugin build, config, settings, credentials).
pub type Fingerprint = [u8; 32];

/// How one data source's pool behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_size: u32,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// How long a borrower waits for a busy pool (the connect timeout).
    pub wait_timeout: Duration,
}

/// Which connection a borrower wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A pooled one when there is one, else a new one.
    Any,
    /// A new one, e.g. for a manual test that must show the connect stages;
    /// a full pool retires its least recently used idle connection for it.
    Fresh,
}

/// One pool's figures, for metrics.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PoolStats {
    pub data_source_id: String,
    #[serde(skip)]
    pub organization_id: String,
    pub max_size: u32,
    pub in_use: u32,
    pub idle: u32,
    /// Borrowers that found every connection busy and waited.
    pub waits: u64,
    /// Borrowers that gave up waiting.
    pub timeouts: u64,
    pub opened: u64,
    pub reused: u64,
    /// Connections closed as broken, expired or invalidated.
    pub closed: u64,
    /// Memory of the pooled and lent connectors' stores: linear memories,
    /// tables and host memory their resources hold, each store bounded by
    /// its plugin's memory limit.
    pub memory_bytes: u64,
    /// TCP sockets the pooled and lent stores hold open (each store bounded
    /// by its plugin's socket budget).
    pub sockets: u64,
    /// Resource handles of every kind they hold (each store bounded by its
    /// plugin's handle budget).
    pub handles: u64,
}

/// Every data source's pool, and the limit on idle connections they hold in all.
pub struct Pools {
    pools: Mutex<HashMap<String, Arc<SourcePool>>>,
    shared: Arc<Shared>,
}

/// What every pool (and every lease) needs from the registry.
pub(crate) struct Shared {
    /// Idle connections across all pools now.
    idle_total: AtomicUsize,
    /// Above this, a returned connection is closed rather than kept, so that
    /// thousands of quiet data sources cannot exhaust file descriptors.
    max_idle_total: usize,
}

impl Shared {
    fn try_reserve_idle(&self) -> bool {
        self.idle_total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max_idle_total).then_some(n + 1))
            .is_ok()
    }

    fn release_idle(&self, count: usize) {
        self.idle_total.fetch_sub(count, Ordering::AcqRel);
    }
}

impl Pools {
    pub fn new(max_idle_total: usize) -> Self {
        Self {
            pools: Mutex::new(HashMap::new()),
            shared: Arc::new(Shared { idle_total: AtomicUsize::new(0), max_idle_total }),
        }
    }

    /// Lends a connection of the data source `id`, opening one with `open`
    /// when none is pooled (or `want` is [`Want::Fresh`]).
    pub async fn checkout<F, Fut>(
        &self,
        id: &str,
        org_id: &str,
        fingerprint: Fingerprint,
        settings: PoolSettings,
        want: Want,
        open: F,
    ) -> Result<Lease, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Session, Failure>>,
    {
        let pool = self.pool_for(id, org_id, settings);
        let permit = pool.acquire(settings.wait_timeout).await.map_err(|waited| {
            Failure::new(
                ErrorKind::Timeout,
                format!(
                    "all {} connections of this data source stayed busy for {} s (raise connection_settings.pool_size)",
                    settings.max_size,
                    waited.as_secs()
                ),
                true,
            )
        })?;
        if want == Want::Any
            && let Some(pooled) = pool.take_idle(fingerprint, settings, &self.shared).await
        {
            return Ok(Lease::reused(pool, permit, pooled, self.shared.clone()));
        }
        if want == Want::Fresh {
            pool.make_room(fingerprint, settings, &self.shared).await;
        }
        let generation = pool.generation();
        let session = open().await?;
        Ok(Lease::opened(pool, permit, session, generation, self.shared.clone()))
    }

    /// Closes the data source's idle connections now and makes sure the lent
    /// ones are closed when they come back (the pool itself, and so its
    /// bound on connections, stays).
    pub async fn invalidate(&self, id: &str) {
        let pool = self.lock().get(id).cloned();
        if let Some(pool) = pool {
            pool.invalidate(&self.shared).await;
        }
    }

    /// Closes idle connections past their idle timeout or lifetime and forgets
    /// pools that hold nothing. The reaper calls this every few seconds.
    pub async fn sweep(&self) {
        let pools: Vec<Arc<SourcePool>> = self.lock().values().cloned().collect();
        for pool in &pools {
            pool.close_expired(&self.shared).await;
        }
        // Our own clones must go before counting who else holds a pool.
        drop(pools);
        self.lock().retain(|_, pool| !pool.is_empty() || Arc::strong_count(pool) > 1);
    }

    /// Runs [`Pools::sweep`] every `every` for as long as the pools live.
    pub fn spawn_reaper(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let pools = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(pools) = pools.upgrade() else { return };
                pools.sweep().await;
            }
        })
    }

    /// Figures of the pools of one organization, or of all when `org_id` is `None`.
    pub fn stats(&self, org_id: Option<&str>) -> Vec<PoolStats> {
        let mut stats: Vec<PoolStats> = self
            .lock()
            .iter()
            .filter(|(_, pool)| org_id.is_none_or(|org| pool.org_id() == org))
            .map(|(id, pool)| pool.stats(id))
            .collect();
        stats.sort_by(|a, b| a.data_source_id.cmp(&b.data_source_id));
        stats
    }

    /// Idle connections across all pools.
    pub fn idle_total(&self) -> usize {
        self.shared.idle_total.load(Ordering::Acquire)
    }

    /// The data source's pool, made or remade when its size changed. A
    /// replaced pool is retired: its lent connections close when returned.
    fn pool_for(&self, id: &str, org_id: &str, settings: PoolSettings) -> Arc<SourcePool> {
        let mut pools = self.lock();
        if let Some(pool) = pools.get(id)
            && pool.max_size() == settings.max_size
        {
            return pool.clone();
        }
        let pool = Arc::new(SourcePool::new(org_id, settings.max_size));
        if let Some(old) = pools.insert(id.to_owned(), pool.clone()) {
            let shared = self.shared.clone();
            tokio::spawn(async move { old.retire(&shared).await });
        }
        pool
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<SourcePool>>> {
        // The map holds no invariant a panicking holder could break halfway.
        self.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
