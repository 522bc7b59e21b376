//! The per-connection store state: the WASI context built from the grants,
//! the memory limiter, the resource budget, and the log budget every guest
//! line goes through (tagged with the plugin id).

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsCtxView};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::budget::{BudgetLimits, FIELD_SIZE_LIMIT, MAX_MEMORIES, SocketsView, StoreBudget};
use super::endpoints::{Endpoints, TcpAllowList};
use super::http::HttpEgress;
use super::log_limit::{LogLimit, Origin};
use super::output::GuestOutput;
use crate::sandbox::Grants;

pub struct StoreState {
    wasi: WasiCtx,
    pub(super) table: ResourceTable,
    http_ctx: WasiHttpCtx,
    http: HttpEgress,
    pub(super) limiter: MemoryLimiter,
    pub(super) budget: StoreBudget,
    /// Further endpoints the connector asked for (`request-endpoint`).
    pub(super) endpoints: Endpoints,
    pub(super) plugin_id: Arc<str>,
    /// The connection's log budget, shared with its stdout and stderr.
    pub(super) log: Arc<LogLimit>,
}

impl StoreState {
    /// A context that grants exactly `grants`: no env, no args, no stdin, no
    /// name lookup, no UDP, HTTP to the granted origin only; stdout/stderr
    /// go to tracing.
    pub fn new(
        plugin_id: Arc<str>,
        grants: &Grants,
        memory_limit_bytes: usize,
        limits: BudgetLimits,
    ) -> Result<Self, String> {
        let budget = StoreBudget::new(limits);
        let log = LogLimit::new(plugin_id.clone());
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(GuestOutput::new(log.clone(), "stdout"))
            .stderr(GuestOutput::new(log.clone(), "stderr"))
            .allow_ip_name_lookup(false)
            .allow_udp(false)
            .allow_tcp(!grants.tcp.is_empty() || grants.further.is_some());
        let tcp = TcpAllowList::new(&grants.tcp);
        let endpoints = Endpoints::new(grants, tcp.clone());
        let meter = budget.meter.clone();
        builder.socket_addr_check(move |addr, usage| {
            let allowed =
                tcp.allows(addr, usage) && (!matches!(usage, SocketAddrUse::TcpConnect) || meter.admit_connection());
            Box::pin(async move { allowed })
        });
        if let Some(file) = &grants.file {
            file.verify_unchanged().map_err(|error| error.to_string())?;
            builder
                .preopened_dir(&file.host_dir, crate::sandbox::files::GUEST_DATA_DIR, FsPerms::ReadOnly)
                .map_err(|error| format!("cannot open {}: {error}", file.host_dir.display()))?;
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.handles as usize);
        let mut http_ctx = WasiHttpCtx::new();
        http_ctx.set_field_size_limit(FIELD_SIZE_LIMIT);
        Ok(Self {
            wasi: builder.build(),
            table,
            http_ctx,
            http: HttpEgress::new(grants.http.clone(), budget.meter.clone(), limits.server_sockets),
            limiter: MemoryLimiter::new(memory_limit_bytes),
            budget,
            endpoints,
            plugin_id,
            log,
        })
    }

    /// wasi:sockets as the guest sees it, with the sockets budget in front.
    pub(super) fn sockets_view(&mut self) -> SocketsView<'_> {
        let inner = WasiSocketsCtxView { ctx: self.wasi.sockets(), table: &mut self.table };
        SocketsView::new(inner, &mut self.budget)
    }

    /// A line from the `host.log` import, through the connection's budget.
    pub(super) fn log(&self, level: tracing::Level, message: &str) {
        self.log.write(Origin::Log(level), message);
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http_ctx, table: &mut self.table, hooks: &mut self.http }
    }
}

/// Caps what a store holds in memory: all its linear memories, its tables
/// and the host memory its resources hold, together, against one limit; and
/// remembers that the cap was hit so the caller can say "memory limit"
/// rather than "crashed".
pub struct MemoryLimiter {
    pub max_bytes: usize,
    pub exceeded: bool,
    /// Linear memory the store holds now, over all its memories.
    pub in_use_bytes: usize,
    /// Its tables, at [`TABLE_ELEMENT_BYTES`] an element.
    pub table_bytes: usize,
    /// Host memory its wasi:http fields hold, as of the last epoch tick.
    pub host_bytes: usize,
}

/// What one table element costs the host (a pointer).
const TABLE_ELEMENT_BYTES: usize = 8;

/// The most elements one table may have, whatever memory is left.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, exceeded: false, in_use_bytes: 0, table_bytes: 0, host_bytes: 0 }
    }

    /// Everything counted against the limit.
    pub fn total_bytes(&self) -> usize {
        self.in_use_bytes.saturating_add(self.table_bytes).saturating_add(self.host_bytes)
    }

    /// Whether `more` bytes fit; remembers the breach when not.
    fn fits(&mut self, more: usize) -> bool {
        let fits = self.total_bytes().saturating_add(more) <= self.max_bytes;
        self.exceeded |= !fits;
        fits
    }

    /// Records the host memory the store's resources hold; true when that
    /// takes the store past its limit.
    pub fn charge_host(&mut self, bytes: u64) -> bool {
        self.host_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        let over = self.total_bytes() > self.max_bytes;
        self.exceeded |= over;
        over
    }

    fn refused(&self) -> wasmtime::Error {
        // An error (not `false`) traps at once: a guest allocator that is
        // refused memory tends to spin or abort with a vaguer message.
        wasmtime::format_err!("memory limit of {} MiB exceeded", self.max_bytes >> 20)
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        if !self.fits(more) {
            return Err(self.refused());
        }
        self.in_use_bytes = self.in_use_bytes.saturating_add(more);
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        let more = desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES);
        if !self.fits(more) {
            return Err(self.refused());
        }
        self.table_bytes = self.table_bytes.saturating_add(more);
        Ok(true)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_refuses_growth_past_the_cap_and_remembers() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limiter.exceeded);
        assert_eq!(limiter.in_use_bytes, 1 << 20);
        assert!(limiter.memory_growing(1 << 20, 2 << 20, None).is_err());
        assert!(limiter.exceeded);
        assert_eq!(limiter.in_use_bytes, 1 << 20, "a refused growth is not counted");
    }

    #[test]
    fn all_memories_tables_and_host_memory_count_against_one_limit() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 600 << 10, None).unwrap(), "the first memory fits");
        assert!(limiter.memory_growing(0, 600 << 10, None).is_err(), "a second memory does not fit beside it");
        assert!(limiter.exceeded);

        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 512 << 10, None).unwrap());
        assert!(limiter.table_growing(0, 1024, None).unwrap());
        assert_eq!(limiter.table_bytes, 8 << 10);
        assert!(!limiter.charge_host(256 << 10), "host memory within what is left");
        assert!(limiter.charge_host(512 << 10), "host memory past the limit");
        assert!(limiter.exceeded);
        assert!(!limiter.table_growing(0, MAX_TABLE_ELEMENTS + 1, None).unwrap());
    }
}
