//! Per-connection resource budgets: what one connector store may hold or do
//! besides its linear memory, and fair CPU between stores.
//!
//! - **sockets**: TCP sockets alive in the store at once. Counted in the
//!   store's resource table when the guest creates one (`create-tcp-socket`
//!   is shadowed in the linker), so a socket the guest drops frees its slot.
//!   Every bound or connected socket holds at most one local port, so this
//!   also bounds the ports a store holds.
//! - **connections**: new TCP connections and HTTP requests per second (a
//!   sliding one-second window), so a store cannot fill the host's ephemeral
//!   ports with `TIME_WAIT` or flood its granted endpoint.
//! - **handles**: live entries of every kind in the store's resource table
//!   (sockets, streams, pollables, wasi:http fields and bodies, files).
//! - **memory**: host memory the store's wasi:http fields hold is added to
//!   its linear memories and tables, all against the plugin's `memory_mib`.
//! - **cpu**: wasm execution time per call; guest code also yields to the
//!   scheduler every epoch tick, so a spinning connector only ever holds a
//!   worker thread for one tick at a time.
//!
//! A breach fails the call with `resource limit: <what>` and poisons the
//! store, so the pool throws it away instead of lending it again.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use thiserror::Error;
use wasmtime::component::{HasData, Resource, ResourceTable, ResourceTableError};
use wasmtime::{Trap, UpdateDeadline};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::{SocketError, SocketResult, TcpSocket};
use wasmtime_wasi::sockets::WasiSocketsCtxView;
use wasmtime_wasi_http::FieldMap;

use super::engine::EPOCH_TICK;
use super::store::StoreState;

/// What a store may hold and do, for one plugin (defaults and the manifest's
/// requests, within the admin's caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    pub sockets: u32,
    pub handles: u32,
    pub connections_per_second: u32,
    /// Wasm execution time one call may use, whatever its deadline.
    pub cpu_per_call: Duration,
}

/// The server's budget settings: defaults, the caps on what a manifest may
/// ask for, and the per-plugin bound on calls running at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSettings {
    /// `INLET_PLUGIN_SOCKETS` (16).
    pub sockets: u32,
    /// `INLET_MAX_PLUGIN_SOCKETS` (256): the most a manifest may ask for.
    pub max_sockets: u32,
    /// `INLET_PLUGIN_HANDLES` (1024).
    pub handles: u32,
    /// `INLET_MAX_PLUGIN_HANDLES` (16384): the most a manifest may ask for.
    pub max_handles: u32,
    /// `INLET_PLUGIN_CONNECTIONS_PER_S` (20).
    pub connections_per_second: u32,
    /// `INLET_PLUGIN_CALL_CPU_S` (60).
    pub cpu_per_call: Duration,
    /// `INLET_PLUGIN_CONCURRENT_CALLS` (16): guest calls of one plugin at once.
    pub concurrent_calls: u32,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            sockets: 16,
            max_sockets: 256,
            handles: 1024,
            max_handles: 16384,
            connections_per_second: 20,
            cpu_per_call: Duration::from_secs(60),
            concurrent_calls: 16,
        }
    }
}

impl BudgetSettings {
    /// A plugin's limits: the defaults, or what its manifest asks for
    /// within the caps.
    pub fn limits_for(&self, asked: &crate::plugin::Limits) -> BudgetLimits {
        BudgetLimits {
            sockets: asked.sockets.map_or(self.sockets, |n| n.min(self.max_sockets)),
            handles: asked.handles.map_or(self.handles, |n| n.min(self.max_handles)),
            connections_per_second: self.connections_per_second,
            cpu_per_call: self.cpu_per_call,
        }
    }
}

/// Bytes of host memory one wasi:http `fields` resource may hold; the
/// store's total is bounded by `memory_mib` and by the handle budget.
pub const FIELD_SIZE_LIMIT: usize = 64 << 10;

/// Distinct linear memories a component may define; more is refused at
/// install (all of them count against one `memory_mib` anyway).
pub const MAX_MEMORIES: u32 = 4;

/// What a budget bounds, as named in errors and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budgeted {
    Sockets,
    Connections,
    Handles,
    Cpu,
    /// Calls of one plugin at once: a call that cannot start before its
    /// deadline fails with this.
    Calls,
}

impl fmt::Display for Budgeted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sockets => "sockets",
            Self::Connections => "connections",
            Self::Handles => "handles",
            Self::Cpu => "cpu",
            Self::Calls => "calls",
        })
    }
}

/// A budget the connector went past.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("resource limit: {resource} ({detail})")]
pub struct LimitExceeded {
    pub resource: Budgeted,
    pub detail: String,
}

impl LimitExceeded {
    pub fn new(resource: Budgeted, detail: impl Into<String>) -> Self {
        Self { resource, detail: detail.into() }
    }
}

/// Outgoing wasi:http requests one connection may start per second. Beyond
/// it requests wait for a slot rather than fail: an HTTP catalog of many
/// tables is legitimately many requests, and pacing still bounds the host
/// connections a connector makes (each request is one).
pub const HTTP_REQUESTS_PER_SECOND: usize = 100;

/// The part of a store's budget that the socket check and the HTTP hooks
/// (which live outside the store's data) share with it.
#[derive(Debug)]
pub struct Meter {
    connections_per_second: u32,
    state: Mutex<MeterState>,
}

#[derive(Debug, Default)]
struct MeterState {
    /// Start times of the connections of the last second.
    recent: VecDeque<Instant>,
    /// Start times (some maybe still to come) of the HTTP requests of the
    /// last second.
    http_starts: VecDeque<Instant>,
    exceeded: Option<LimitExceeded>,
}

impl Meter {
    pub fn new(connections_per_second: u32) -> Self {
        Self { connections_per_second, state: Mutex::default() }
    }

    /// Counts one new connection; false (and the breach remembered) when it
    /// is one too many for the last second.
    pub fn admit_connection(&self) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        while state.recent.front().is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(1)) {
            state.recent.pop_front();
        }
        if state.recent.len() >= self.connections_per_second as usize {
            state.exceeded.get_or_insert_with(|| {
                LimitExceeded::new(
                    Budgeted::Connections,
                    format!("at most {} new connections per second", self.connections_per_second),
                )
            });
            return false;
        }
        state.recent.push_back(now);
        true
    }

    /// Reserves a start for one outgoing HTTP request and says how long it
    /// must wait for it: none while fewer than [`HTTP_REQUESTS_PER_SECOND`]
    /// started in the last second, else until the oldest of those is a
    /// second old. Pending requests are bounded by the handle budget.
    pub fn pace_http_request(&self) -> Duration {
        let mut state = self.lock();
        let now = Instant::now();
        while state.http_starts.front().is_some_and(|at| now.saturating_duration_since(*at) >= Duration::from_secs(1)) {
            state.http_starts.pop_front();
        }
        let queued = state.http_starts.len();
        let start = match queued.checked_sub(HTTP_REQUESTS_PER_SECOND) {
            Some(index) => state.http_starts[index] + Duration::from_secs(1),
            None => now,
        };
        state.http_starts.push_back(start);
        start.saturating_duration_since(now)
    }

    pub fn exceed(&self, limit: LimitExceeded) {
        self.lock().exceeded.get_or_insert(limit);
    }

    /// The first budget the store went past, if any.
    pub fn exceeded(&self) -> Option<LimitExceeded> {
        self.lock().exceeded.clone()
    }

    fn lock(&self) -> MutexGuard<'_, MeterState> {
        // Every critical section leaves the state whole.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a store holds now, for the pool's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub sockets: u32,
    pub handles: u32,
    /// Host memory held by wasi:http fields.
    pub host_bytes: u64,
}

/// Counts the store's resource table.
pub fn usage(table: &mut ResourceTable) -> Usage {
    let mut usage = Usage::default();
    for entry in table.iter_mut() {
        usage.handles += 1;
        if entry.is::<TcpSocket>() {
            usage.sockets += 1;
        } else if let Some(fields) = entry.downcast_ref::<FieldMap>() {
            usage.host_bytes += field_bytes(fields);
        }
    }
    usage
}

fn field_bytes(fields: &FieldMap) -> u64 {
    fields.iter().map(|(name, value)| (name.as_str().len() + value.len()) as u64).sum()
}

/// The per-store side of the budget: the limits, the shared meter, and the
/// current call's deadline and CPU use.
pub struct StoreBudget {
    pub limits: BudgetLimits,
    pub meter: Arc<Meter>,
    deadline: Option<Instant>,
    cpu_ticks: u64,
    /// What the table held after the last call.
    pub usage: Usage,
}

impl StoreBudget {
    pub fn new(limits: BudgetLimits) -> Self {
        Self {
            limits,
            meter: Arc::new(Meter::new(limits.connections_per_second)),
            deadline: None,
            cpu_ticks: 0,
            usage: Usage::default(),
        }
    }

    /// Starts a call that must end within `timeout`.
    pub fn start_call(&mut self, timeout: Duration) {
        self.deadline = Some(Instant::now() + timeout);
        self.cpu_ticks = 0;
    }
}

/// Called by wasmtime each epoch tick a guest runs through: traps at the
/// call's deadline or on a breached budget, else yields to the scheduler and
/// lets the guest run one more tick.
pub(super) fn on_epoch(state: &mut StoreState) -> wasmtime::Result<UpdateDeadline> {
    let budget = &mut state.budget;
    if budget.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return Err(Trap::Interrupt.into());
    }
    budget.cpu_ticks += 1;
    if EPOCH_TICK * u32::try_from(budget.cpu_ticks).unwrap_or(u32::MAX) > budget.limits.cpu_per_call {
        budget.meter.exceed(LimitExceeded::new(
            Budgeted::Cpu,
            format!("at most {} s of wasm execution per call", budget.limits.cpu_per_call.as_secs()),
        ));
    }
    if let Some(limit) = budget.meter.exceeded() {
        return Err(limit.into());
    }
    let host_bytes = state.table.iter_mut().filter_map(|e| e.downcast_ref::<FieldMap>()).map(field_bytes).sum::<u64>();
    if state.limiter.charge_host(host_bytes) {
        return Err(wasmtime::format_err!("memory limit of {} MiB exceeded", state.limiter.max_bytes >> 20));
    }
    Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
}

/// The budget breach behind a failed call, when there is one: the meter's,
/// or a full resource table.
pub fn breach(
    meter: &Meter,
    error: Option<&wasmtime::Error>,
    limits: &BudgetLimits,
    usage: &Usage,
) -> Option<LimitExceeded> {
    if let Some(limit) = meter.exceeded() {
        return Some(limit);
    }
    let full = error.is_some_and(|error| {
        error.chain().any(|cause| matches!(cause.downcast_ref::<ResourceTableError>(), Some(ResourceTableError::Full)))
    });
    if let Some(limit) = error.and_then(|error| error.chain().find_map(|c| c.downcast_ref::<LimitExceeded>())) {
        return Some(limit.clone());
    }
    // A guest may swallow a failed push; a table at its cap is a breach too.
    (full || usage.handles >= limits.handles)
        .then(|| LimitExceeded::new(Budgeted::Handles, format!("at most {} resource handles", limits.handles)))
}

/// `wasi:sockets/tcp-create-socket` with the sockets budget in front.
pub struct BudgetedSockets;

impl HasData for BudgetedSockets {
    type Data<'a> = SocketsView<'a>;
}

pub struct SocketsView<'a> {
    inner: WasiSocketsCtxView<'a>,
    limit: u32,
    meter: &'a Meter,
}

impl<'a> SocketsView<'a> {
    pub(super) fn new(inner: WasiSocketsCtxView<'a>, limit: u32, meter: &'a Meter) -> Self {
        Self { inner, limit, meter }
    }
}

/// Required by the bindings of `tcp-create-socket`; the same as wasi's own.
impl network::Host for SocketsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.inner, error)
    }

    fn network_error_code(&mut self, error: Resource<network::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.inner, error)
    }
}

impl network::HostNetwork for SocketsView<'_> {
    fn drop(&mut self, this: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.inner, this)
    }
}

impl tcp_create_socket::Host for SocketsView<'_> {
    fn create_tcp_socket(&mut self, address_family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        let open = self.inner.table.iter_mut().filter(|entry| entry.is::<TcpSocket>()).count();
        if open >= self.limit as usize {
            let limit =
                LimitExceeded::new(Budgeted::Sockets, format!("at most {} open sockets per connection", self.limit));
            self.meter.exceed(limit.clone());
            return Err(SocketError::trap(limit));
        }
        tcp_create_socket::Host::create_tcp_socket(&mut self.inner, address_family)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_over_a_sliding_second() {
        let meter = Meter::new(3);
        assert!(meter.admit_connection());
        assert!(meter.admit_connection());
        assert!(meter.admit_connection());
        assert!(meter.exceeded().is_none());
        assert!(!meter.admit_connection(), "the fourth within a second is refused");
        let breach = meter.exceeded().expect("remembered");
        assert_eq!(breach.resource, Budgeted::Connections);
        assert_eq!(breach.to_string(), "resource limit: connections (at most 3 new connections per second)");
    }

    #[test]
    fn http_requests_past_the_rate_wait_for_a_slot_instead_of_failing() {
        let meter = Meter::new(3);
        let waits: Vec<Duration> = (0..HTTP_REQUESTS_PER_SECOND * 2 + 1).map(|_| meter.pace_http_request()).collect();
        assert!(waits[..HTTP_REQUESTS_PER_SECOND].iter().all(Duration::is_zero), "the first second's worth go at once");
        let next = waits[HTTP_REQUESTS_PER_SECOND];
        assert!(next > Duration::from_millis(900) && next <= Duration::from_secs(1), "{next:?}");
        let after = waits[HTTP_REQUESTS_PER_SECOND * 2];
        assert!(after > Duration::from_millis(1900) && after <= Duration::from_secs(2), "{after:?}");
        assert!(meter.exceeded().is_none(), "pacing is no breach");
    }

    #[test]
    fn the_first_breach_is_the_one_reported() {
        let meter = Meter::new(10);
        meter.exceed(LimitExceeded::new(Budgeted::Sockets, "first"));
        meter.exceed(LimitExceeded::new(Budgeted::Cpu, "second"));
        assert_eq!(meter.exceeded().map(|l| l.resource), Some(Budgeted::Sockets));
    }

    #[test]
    fn a_full_table_or_a_table_at_its_cap_is_a_handles_breach() {
        let meter = Meter::new(10);
        let limits =
            BudgetLimits { sockets: 16, handles: 8, connections_per_second: 10, cpu_per_call: Duration::from_secs(1) };
        let full = wasmtime::Error::from(ResourceTableError::Full).context("pushing fields");
        let breach = breach(&meter, Some(&full), &limits, &Usage::default()).expect("a full table");
        assert_eq!(breach.resource, Budgeted::Handles);
        let at_cap = Usage { handles: 8, ..Usage::default() };
        assert!(super::breach(&meter, None, &limits, &at_cap).is_some());
        assert!(super::breach(&meter, None, &limits, &Usage { handles: 7, ..Usage::default() }).is_none());
        let other = wasmtime::Error::from(ResourceTableError::NotPresent);
        assert!(super::breach(&meter, Some(&other), &limits, &Usage::default()).is_none());
    }

    #[test]
    fn the_table_is_counted_by_kind() {
        let mut table = ResourceTable::new();
        let mut fields = FieldMap::new_mutable(FIELD_SIZE_LIMIT);
        fields.append_raw(http::HeaderName::from_static("x-a"), http::HeaderValue::from_static("abcd")).expect("fits");
        table.push(fields).expect("push");
        table.push(7u32).expect("push");
        let usage = usage(&mut table);
        assert_eq!(usage.handles, 2);
        assert_eq!(usage.sockets, 0);
        assert_eq!(usage.host_bytes, 7);
    }
}
