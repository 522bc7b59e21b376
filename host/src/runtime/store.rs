//! The per-connection store state: the WASI context built from the grants,
//! the memory limiter, and the log budget every guest line goes through
//! (tagged with the plugin id).

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::http::HttpEgress;
use super::log_limit::{LogLimit, Origin};
use super::output::GuestOutput;
use crate::sandbox::Grants;

pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    http: HttpEgress,
    pub(super) limiter: MemoryLimiter,
    pub(super) plugin_id: Arc<str>,
    /// The connection's log budget, shared with its stdout and stderr.
    pub(super) log: Arc<LogLimit>,
}

impl StoreState {
    /// A context that grants exactly `grants`: no env, no args, no stdin, no
    /// name lookup, no UDP, HTTP to the granted origin only; stdout/stderr
    /// go to tracing.
    pub fn new(plugin_id: Arc<str>, grants: &Grants, memory_limit_bytes: usize) -> Result<Self, String> {
        let log = LogLimit::new(plugin_id.clone());
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(GuestOutput::new(log.clone(), "stdout"))
            .stderr(GuestOutput::new(log.clone(), "stderr"))
            .allow_ip_name_lookup(false)
            .allow_udp(false)
            .allow_tcp(!grants.tcp.is_empty());
        let socket_grants = grants.clone();
        builder.socket_addr_check(move |addr, usage| {
            let allowed = socket_grants.allows_socket(addr, usage);
            Box::pin(async move { allowed })
        });
        if let Some(file) = &grants.file {
            builder
                .preopened_dir(&file.host_dir, crate::sandbox::files::GUEST_DATA_DIR, FsPerms::ReadOnly)
                .map_err(|error| format!("cannot open {}: {error}", file.host_dir.display()))?;
        }
        Ok(Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http: HttpEgress::new(grants.http.clone()),
            limiter: MemoryLimiter { max_bytes: memory_limit_bytes, exceeded: false, in_use_bytes: 0 },
            plugin_id,
            log,
        })
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

/// Caps each linear memory, and remembers that the cap was hit so the caller
/// can say "memory limit" rather than "crashed".
pub struct MemoryLimiter {
    pub max_bytes: usize,
    pub exceeded: bool,
    /// Linear memory the store holds now, over all its memories.
    pub in_use_bytes: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            // An error (not `false`) traps at once: a guest allocator that is
            // refused memory tends to spin or abort with a vaguer message.
            return Err(wasmtime::format_err!("memory limit of {} MiB exceeded", self.max_bytes >> 20));
        }
        self.in_use_bytes = self.in_use_bytes.saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }

    fn instances(&self) -> usize {
        32
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        8
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn the_limiter_refuses_growth_past_the_cap_and_remembers() {
        let mut limiter = MemoryLimiter { max_bytes: 1 << 20, exceeded: false, in_use_bytes: 0 };
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limiter.exceeded);
        assert_eq!(limiter.in_use_bytes, 1 << 20);
        assert!(limiter.memory_growing(1 << 20, 2 << 20, None).is_err());
        assert!(limiter.exceeded);
        assert_eq!(limiter.in_use_bytes, 1 << 20, "a refused growth is not counted");
    }
}
