//! Per-connection resource budgets: what one connector store may hold or do
//! besides its linear memory, and fair CPU between stores.
//!
//! - **sockets**: TCP sockets alive in the store at once. Counted in the
//!   store's resource table when the guest creates one (`create-tcp-socket`
//!   is shadowed in the linker), so a socket the guest drops frees its slot.
//!   Every bound or connected socket holds at most one local port, so this
//!   also bounds the ports a store holds. Besides, every guest socket and
//!   every host connection of a wasi:http request takes one of the
//!   server's slots ([`ServerSocket`]): many data sources together cannot
//!   use up the process's file descriptors either.
//! - **connections**: new TCP connections and HTTP requests per second (a
//!   sliding one-second window), so a store cannot fill the host's ephemeral
//!   ports with `TIME_WAIT` or flood its granted endpoint.
//! - **handles**: live entries of every kind in the store's resource table
//!   (sockets, streams, pollables, wasi:http fields and bodies, files).
//! - **memory**: host memory the store's wasi:http fields hold is added to
//!   its linear memories and tables, all against the plugin's `memory_mib`.
//! - **values**: host memory one value crossing the boundary may cost while
//!   wasmtime lifts it (its strings and lists are copied to the host before
//!   any of our conversions can cut them, and a guest may point many list
//!   entries at one big string): wasmtime's hostcall fuel, set per store to
//!   [`lift_bytes`] of the plugin's `memory_mib`.
//! - **cpu**: wasm execution time per call; guest code also yields to the
//!   scheduler every epoch tick, so a spinning connector only ever holds a
//!   worker thread for one tick at a time.
//!
//! A breach fails the call with `resource limit: <what>` and poisons the
//! store, so the pool throws it away instead of lending it again.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
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
    /// Guest sockets the whole server may hold ([`ServerSocket`]).
    pub server_sockets: u32,
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
    /// `INLET_SERVER_SOCKETS` (from `RLIMIT_NOFILE`, see
    /// [`default_server_sockets`]): guest sockets of all connections together.
    pub server_sockets: u32,
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
            server_sockets: default_server_sockets(),
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
            server_sockets: self.server_sockets,
        }
    }
}

/// File descriptors kept for the API, the database, logs and plugin files
/// whatever the guests do.
pub const RESERVED_FDS: u64 = 256;

/// The fewest guest sockets a server allows, however low its fd limit.
pub const MIN_SERVER_SOCKETS: u32 = 16;

/// Half of what the process may open beyond [`RESERVED_FDS`]
/// (`RLIMIT_NOFILE`, soft limit), at least [`MIN_SERVER_SOCKETS`]: with the
/// usual 1024 that is 384, and the other half stays with the API, the
/// database pool, tunnels and files.
pub fn default_server_sockets() -> u32 {
    server_sockets_for(open_files_limit())
}

fn server_sockets_for(open_files: u64) -> u32 {
    let half = open_files.saturating_sub(RESERVED_FDS) / 2;
    u32::try_from(half).unwrap_or(u32::MAX).max(MIN_SERVER_SOCKETS)
}

fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    // Unknown or unlimited: as if it were the usual 1024.
    if ok && limit.rlim_cur != libc::RLIM_INFINITY { limit.rlim_cur } else { 1024 }
}

/// Guest sockets open in this process now.
static SERVER_SOCKETS: AtomicU32 = AtomicU32::new(0);

/// One of the server's guest socket slots, given back on drop.
#[derive(Debug)]
pub struct ServerSocket(());

impl ServerSocket {
    /// A slot, unless `cap` are taken already.
    pub fn take(cap: u32) -> Option<Self> {
        SERVER_SOCKETS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| (open < cap).then_some(open + 1))
            .ok()
            .map(|_| Self(()))
    }

    /// Slots taken now, over the whole process.
    pub fn in_use() -> u32 {
        SERVER_SOCKETS.load(Ordering::Acquire)
    }

    /// The breach when every slot is taken.
    pub fn exhausted(cap: u32) -> LimitExceeded {
        LimitExceeded::new(Budgeted::Sockets, format!("the server's {cap} guest sockets are all in use"))
    }
}

impl Drop for ServerSocket {
    fn drop(&mut self) {
        SERVER_SOCKETS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The server slots a store holds for its TCP sockets: one per socket it
/// had when last counted (at each new socket and each epoch tick), all
/// given back when the store goes.
#[derive(Debug, Default)]
pub struct SocketSlots {
    held: Vec<ServerSocket>,
}

impl SocketSlots {
    /// Gives back the slots of sockets the guest has dropped since.
    pub fn settle_to(&mut self, open: usize) {
        self.held.truncate(open);
    }

    fn take_one(&mut self, cap: u32) -> bool {
        ServerSocket::take(cap).map(|slot| self.held.push(slot)).is_some()
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// The least and the most host memory one value may cost to lift.
pub const LIFT_BYTES_MIN: usize = 16 << 20;
pub const LIFT_BYTES_MAX: usize = 128 << 20;

/// Host memory one value crossing the boundary (a call's result, or the
/// arguments of one host call) may cost while wasmtime lifts it: the
/// plugin's memory limit, within [`LIFT_BYTES_MIN`]–[`LIFT_BYTES_MAX`]. A
/// value without aliasing costs at most a few times the guest memory it
/// occupies, so only a guest that points many list entries at one string
/// goes past it.
pub fn lift_bytes(memory_limit_bytes: usize) -> usize {
    memory_limit_bytes.clamp(LIFT_BYTES_MIN, LIFT_BYTES_MAX)
}

/// Whether wasmtime refused to lift a value for running out of the store's
/// hostcall fuel. Its error type is private; its message is what is stable.
fn is_lift_over_budget(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| cause.to_string().contains("fuel allocated for hostcalls has been exhausted"))
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
    /// Host memory to lift one returned or passed value ([`lift_bytes`]).
    Values,
}

impl fmt::Display for Budgeted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sockets => "sockets",
            Self::Connections => "connections",
            Self::Handles => "handles",
            Self::Cpu => "cpu",
            Self::Calls => "calls",
            Self::Values => "values",
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
    /// The server's socket slots its sockets hold.
    pub slots: SocketSlots,
}

impl StoreBudget {
    pub fn new(limits: BudgetLimits) -> Self {
        Self {
            limits,
            meter: Arc::new(Meter::new(limits.connections_per_second)),
            deadline: None,
            cpu_ticks: 0,
            usage: Usage::default(),
            slots: SocketSlots::default(),
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
    let (mut host_bytes, mut sockets) = (0u64, 0usize);
    for entry in state.table.iter_mut() {
        if entry.is::<TcpSocket>() {
            sockets += 1;
        } else if let Some(fields) = entry.downcast_ref::<FieldMap>() {
            host_bytes += field_bytes(fields);
        }
    }
    state.budget.slots.settle_to(sockets);
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
    if error.is_some_and(is_lift_over_budget) {
        return Some(LimitExceeded::new(
            Budgeted::Values,
            "a value from the connector would cost the host more memory than its limit allows".to_owned(),
        ));
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
    limits: &'a BudgetLimits,
    meter: &'a Meter,
    slots: &'a mut SocketSlots,
}

impl<'a> SocketsView<'a> {
    pub(super) fn new(inner: WasiSocketsCtxView<'a>, budget: &'a mut StoreBudget) -> Self {
        Self { inner, limits: &budget.limits, meter: &budget.meter, slots: &mut budget.slots }
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
        let limit = self.limits.sockets;
        if open >= limit as usize {
            let limit = LimitExceeded::new(Budgeted::Sockets, format!("at most {limit} open sockets per connection"));
            self.meter.exceed(limit.clone());
            return Err(SocketError::trap(limit));
        }
        self.slots.settle_to(open);
        if !self.slots.take_one(self.limits.server_sockets) {
            let limit = ServerSocket::exhausted(self.limits.server_sockets);
            self.meter.exceed(limit.clone());
            return Err(SocketError::trap(limit));
        }
        let created = tcp_create_socket::Host::create_tcp_socket(&mut self.inner, address_family);
        if created.is_err() {
            self.slots.settle_to(open);
        }
        created
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
        let limits = BudgetLimits {
            sockets: 16,
            handles: 8,
            connections_per_second: 10,
            cpu_per_call: Duration::from_secs(1),
            server_sockets: 100,
        };
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
    fn a_lift_past_the_hostcall_fuel_is_a_values_breach() {
        let meter = Meter::new(10);
        let limits = BudgetLimits {
            sockets: 16,
            handles: 8,
            connections_per_second: 10,
            cpu_per_call: Duration::from_secs(1),
            server_sockets: 100,
        };
        // wasmtime's message for `HostcallFuelExhausted`, under the context it adds.
        let error = wasmtime::format_err!(
            "too much data is being copied between the host and the guest: fuel allocated for hostcalls has been exhausted"
        )
        .context("lifting the result");
        let breach = breach(&meter, Some(&error), &limits, &Usage::default()).expect("a breach");
        assert_eq!(breach.resource, Budgeted::Values);
        assert!(breach.to_string().starts_with("resource limit: values"), "{breach}");
        assert_eq!(lift_bytes(32 << 20), LIFT_BYTES_MIN.max(32 << 20));
        assert_eq!(lift_bytes(1 << 20), LIFT_BYTES_MIN);
        assert_eq!(lift_bytes(4 << 30), LIFT_BYTES_MAX);
    }

    #[test]
    fn server_sockets_default_to_half_the_fd_limit_past_a_reserve() {
        assert_eq!(server_sockets_for(1024), 384);
        assert_eq!(server_sockets_for(65536), 32640);
        assert_eq!(server_sockets_for(100), MIN_SERVER_SOCKETS);
        assert!(default_server_sockets() >= MIN_SERVER_SOCKETS);
    }

    #[test]
    fn server_socket_slots_are_capped_and_given_back() {
        // Other tests of this process may hold slots: count from what is in use.
        let cap = ServerSocket::in_use() + 3;
        let mut slots = SocketSlots::default();
        assert!(slots.take_one(cap) && slots.take_one(cap) && slots.take_one(cap));
        let one_more = ServerSocket::take(cap);
        assert!(one_more.is_none(), "the cap holds across stores");
        assert_eq!(
            ServerSocket::exhausted(cap).to_string(),
            format!("resource limit: sockets (the server's {cap} guest sockets are all in use)")
        );
        slots.settle_to(1);
        assert_eq!(slots.held(), 1);
        let again = ServerSocket::take(cap).expect("a slot given back is free again");
        drop(slots);
        drop(again);
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
