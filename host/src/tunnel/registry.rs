//! One tunnel per data source, shared by its pool; replaced when its settings change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Tunnel, TunnelFailure, TunnelSpec, TunnelStep};

/// The live tunnels, keyed by data source id.
#[derive(Default)]
pub struct Tunnels {
    slots: StdMutex<HashMap<String, Arc<Slot>>>,
    /// Counters of tunnels already closed, so that totals never go down.
    retired_channels_total: AtomicU64,
    retired_reconnects: AtomicU64,
    retired_failures: AtomicU64,
    /// Opens that failed (no tunnel to count them on).
    open_failures: AtomicU64,
}

/// A data source's place: `opening` serialises opens and replacements for that one data
/// source only; `current` is what is live.
#[derive(Default)]
struct Slot {
    opening: Mutex<()>,
    current: StdMutex<Option<Entry>>,
}

#[derive(Clone)]
struct Entry {
    fingerprint: [u8; 32],
    tunnel: Arc<Tunnel>,
}

/// Counters over all tunnels (closed ones included in the totals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelsStats {
    pub tunnels_open: u64,
    pub channels_open: u64,
    pub channels_total: u64,
    pub reconnects: u64,
    pub failures: u64,
}

impl Tunnels {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, id: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(id.to_owned()).or_default().clone()
    }

    fn existing_slot(&self, id: &str) -> Option<Arc<Slot>> {
        let slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.get(id).cloned()
    }

    /// The data source's tunnel, if open with these settings: then it is checked (see
    /// [`Tunnel::check`]) and its steps answered. Otherwise a tunnel is opened (replacing and
    /// closing one with other settings) and the steps of [`Tunnel::open`] answered.
    ///
    /// A failed check keeps the tunnel (it reconnects by itself when the bastion is back);
    /// a failed open leaves the data source without a tunnel.
    pub async fn get_or_open(
        &self,
        id: &str,
        fingerprint: [u8; 32],
        spec: TunnelSpec,
        target_host: String,
        target_port: u16,
    ) -> Result<(Arc<Tunnel>, Vec<TunnelStep>), TunnelFailure> {
        let slot = self.slot(id);
        let _opening = slot.opening.lock().await;
        let current = slot.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if let Some(entry) = current {
            if entry.fingerprint == fingerprint && !entry.tunnel.is_closed() {
                let steps = entry.tunnel.check().await?;
                return Ok((entry.tunnel, steps));
            }
            self.take(&slot).await;
        }
        match Tunnel::open(spec, target_host, target_port).await {
            Ok((tunnel, steps)) => {
                *slot.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(Entry { fingerprint, tunnel: tunnel.clone() });
                Ok((tunnel, steps))
            }
            Err(failure) => {
                self.open_failures.fetch_add(1, Ordering::Relaxed);
                Err(failure)
            }
        }
    }

    /// The data source's tunnel, if one is open (whatever its settings).
    pub fn get(&self, id: &str) -> Option<Arc<Tunnel>> {
        let slot = self.existing_slot(id)?;
        let current = slot.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        current.as_ref().map(|entry| entry.tunnel.clone())
    }

    /// Closes the data source's tunnel (deleted, or its tunnel switched off). True if there was one.
    pub async fn close(&self, id: &str) -> bool {
        let Some(slot) = self.existing_slot(id) else {
            return false;
        };
        let closed = {
            let _opening = slot.opening.lock().await;
            self.take(&slot).await
        };
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slots.get(id).is_some_and(|current| Arc::ptr_eq(current, &slot)) && Arc::strong_count(&slot) <= 2 {
            slots.remove(id);
        }
        closed
    }

    /// Closes every tunnel (shutdown).
    pub async fn close_all(&self) {
        let ids: Vec<String> = {
            let slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            slots.keys().cloned().collect()
        };
        for id in ids {
            self.close(&id).await;
        }
    }

    /// Takes the slot's tunnel out, closes it and keeps its counters.
    async fn take(&self, slot: &Slot) -> bool {
        let entry = slot.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let Some(entry) = entry else {
            return false;
        };
        entry.tunnel.close().await;
        let stats = entry.tunnel.stats();
        self.retired_channels_total.fetch_add(stats.channels_total, Ordering::Relaxed);
        self.retired_reconnects.fetch_add(stats.reconnects, Ordering::Relaxed);
        self.retired_failures.fetch_add(stats.failures, Ordering::Relaxed);
        true
    }

    /// Tunnels open now and the counters summed over all tunnels, closed ones included.
    pub fn stats(&self) -> TunnelsStats {
        let tunnels: Vec<Arc<Tunnel>> = {
            let slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            slots
                .values()
                .filter_map(|slot| {
                    let current = slot.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    current.as_ref().map(|entry| entry.tunnel.clone())
                })
                .collect()
        };
        let mut stats = TunnelsStats {
            tunnels_open: 0,
            channels_open: 0,
            channels_total: self.retired_channels_total.load(Ordering::Relaxed),
            reconnects: self.retired_reconnects.load(Ordering::Relaxed),
            failures: self.retired_failures.load(Ordering::Relaxed) + self.open_failures.load(Ordering::Relaxed),
        };
        for tunnel in tunnels.iter().filter(|tunnel| !tunnel.is_closed()) {
            let one = tunnel.stats();
            stats.tunnels_open += 1;
            stats.channels_open += one.channels_open;
            stats.channels_total += one.channels_total;
            stats.reconnects += one.reconnects;
            stats.failures += one.failures;
        }
        stats
    }
}
