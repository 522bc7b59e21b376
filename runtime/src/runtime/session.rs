//! A connector instance in its own store, and the live `connection` resource
//! inside it. Every call first takes one of its plugin's call slots, then
//! runs under two guards: the epoch callback (yields to the scheduler every
//! tick, and traps a guest spinning in wasm at the deadline or past a budget)
//! and a tokio timeout (stops a guest blocked in a host call, which an epoch
//! cannot interrupt). After a trap, a timeout or a breached budget the store
//! is poisoned and must be thrown away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap};

use super::bounds::{BoundsUsage, Tally, prefix};
use super::budget::{self, Budgeted, LimitExceeded, Usage};
use super::error::CallError;
use super::store::StoreState;
use super::wit::Bindings;
use super::{LoadedPlugin, RuntimeStats};
use crate::model::{
    Batch, CheckStep, ConnectRequest, DiscoverPage, DiscoverRequest, ResultColumn, RowsRequest, TestReport,
};
use crate::plugin::Secrets;
use crate::sandbox::Grants;

/// What a connector needs to open a connection.
pub struct ConnectInput<'a> {
    pub source_type: &'a str,
    /// The validated config, with host-side rewrites applied (file paths).
    pub config: &'a serde_json::Value,
    pub secrets: &'a Secrets,
    /// The address to connect to, already allowed by the egress policy.
    pub endpoint: Option<SocketAddr>,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
}

impl ConnectInput<'_> {
    /// The request the connector gets.
    fn request(&self) -> ConnectRequest {
        ConnectRequest {
            source_type: self.source_type.to_owned(),
            config: self.config.to_string(),
            secrets: self.secrets.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            endpoint: self.endpoint.map(Into::into),
            connect_timeout: self.connect_timeout,
            query_timeout: self.query_timeout,
        }
    }
}

/// An instantiated connector, before it has a connection.
pub struct Instance {
    store: Store<StoreState>,
    bindings: Bindings,
    poisoned: bool,
    stats: Arc<RuntimeStats>,
    /// The plugin's call slots.
    calls: Arc<Semaphore>,
    /// What the connector's values needed from the bounds (`runtime::bounds`).
    tally: Tally,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stats.instances_live.fetch_sub(1, Ordering::Relaxed);
        // The store goes right after this; memory its resources held on the
        // heap then goes back to the system rather than staying with the
        // allocator (a fields flood leaves tens of MiB of small blocks).
        if self.store.data().limiter.host_bytes >= TRIM_AFTER_HOST_BYTES
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn_blocking(release_freed_heap);
        }
    }
}

/// Host memory a dropped store must have held for the heap to be trimmed.
const TRIM_AFTER_HOST_BYTES: usize = 1 << 20;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_heap() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it
    // takes no pointers and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_heap() {}

/// A live connection: what a pool holds.
pub struct Session {
    instance: Instance,
    connection: ResourceAny,
    /// The timed stages of connecting, as the connector reported them.
    pub connect_steps: Vec<CheckStep>,
    query_timeout: Duration,
}

impl LoadedPlugin {
    /// A fresh store with the plugin's limits and exactly `grants`,
    /// instantiated from the plugin's `InstancePre`.
    pub async fn instantiate(&self, grants: &Grants, timeout: Duration) -> Result<Instance, CallError> {
        let plugin_id: Arc<str> = Arc::from(self.manifest.id.as_str());
        let state =
            StoreState::new(plugin_id, grants, self.memory_limit_bytes, self.budget).map_err(CallError::Instantiate)?;
        let mut store = Store::new(self.bindings.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(budget::lift_bytes(self.memory_limit_bytes));
        store.epoch_deadline_callback(|mut context| budget::on_epoch(context.data_mut()));
        let (_slot, remaining) = call_slot(&self.calls, timeout).await?;
        store.data_mut().budget.start_call(remaining);
        store.set_epoch_deadline(1);
        let outcome = tokio::time::timeout(remaining, self.bindings.instantiate(&mut store)).await;
        if let Some(limit) = store.data().budget.meter.exceeded() {
            return Err(CallError::ResourceLimit(limit));
        }
        if store.data().limiter.exceeded {
            return Err(CallError::MemoryLimit { limit_mib: store.data().limiter.max_bytes >> 20 });
        }
        let bindings = match outcome {
            Ok(Ok(bindings)) => bindings,
            Ok(Err(error)) => {
                return Err(CallError::Instantiate(prefix(&format!("{error:#}"), 1024).to_owned()));
            }
            Err(_) => return Err(CallError::Timeout { timeout_ms: timeout.as_millis() as u64 }),
        };
        self.stats.instances_created.fetch_add(1, Ordering::Relaxed);
        self.stats.instances_live.fetch_add(1, Ordering::Relaxed);
        Ok(Instance {
            store,
            bindings,
            poisoned: false,
            stats: self.stats.clone(),
            calls: self.calls.clone(),
            tally: Tally::default(),
        })
    }

    /// Instantiates and connects.
    pub async fn connect(&self, input: &ConnectInput<'_>, grants: &Grants) -> Result<Session, CallError> {
        let instance = self.instantiate(grants, input.connect_timeout).await?;
        instance.connect(input).await
    }
}

impl Instance {
    /// Calls the connector's `connect`.
    pub async fn connect(mut self, input: &ConnectInput<'_>) -> Result<Session, CallError> {
        let timeout = input.connect_timeout;
        let request = input.request();
        let (_slot, remaining) = self.begin(timeout).await?;
        let call = self.bindings.connect(&mut self.store, &request, &self.tally);
        let outcome = tokio::time::timeout(remaining, call).await;
        self.store.data().log.end_call();
        // Endpoints granted while connecting are steps of the connect, passed or failed.
        let connected = self.settle(outcome, timeout)?.map_err(|mut failure| {
            failure.steps.extend(self.store.data_mut().endpoints.take_steps());
            CallError::Connector(failure)
        });
        let mut connected = connected?;
        connected.steps.extend(self.store.data_mut().endpoints.take_steps());
        Ok(Session {
            instance: self,
            connection: connected.connection,
            connect_steps: connected.steps,
            query_timeout: input.query_timeout,
        })
    }

    /// Takes a call slot of the plugin within `timeout` and starts the
    /// call's clock with what is left of it.
    async fn begin(&mut self, timeout: Duration) -> Result<(OwnedSemaphorePermit, Duration), CallError> {
        let (slot, remaining) = call_slot(&self.calls, timeout).await?;
        self.store.data_mut().budget.start_call(remaining);
        self.store.set_epoch_deadline(1);
        Ok((slot, remaining))
    }

    /// Turns the outcome of a guarded call into a result, poisoning the
    /// store on anything but a normal return within its budgets.
    fn settle<T>(
        &mut self,
        outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let timed_out = CallError::Timeout { timeout_ms: timeout.as_millis() as u64 };
        let state = self.store.data_mut();
        let usage = budget::usage(&mut state.table);
        state.budget.usage = usage;
        let host_memory_over = state.limiter.charge_host(usage.host_bytes);
        let error = match &outcome {
            Ok(Err(error)) => Some(error),
            _ => None,
        };
        // Host memory first: a flood of large fields fills the table too.
        if host_memory_over {
            self.poisoned = true;
            return Err(CallError::MemoryLimit { limit_mib: state.limiter.max_bytes >> 20 });
        }
        if let Some(limit) = budget::breach(&state.budget.meter, error, &state.budget.limits, &usage) {
            self.poisoned = true;
            self.stats.budget_breaches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(plugin = &*state.plugin_id, %limit, "connector went past a budget; its store is dropped");
            return Err(CallError::ResourceLimit(limit));
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Err(_) => {
                self.poisoned = true;
                Err(timed_out)
            }
            Ok(Err(error)) => {
                self.poisoned = true;
                let limiter = &self.store.data().limiter;
                if limiter.exceeded {
                    return Err(CallError::MemoryLimit { limit_mib: limiter.max_bytes >> 20 });
                }
                if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    return Err(timed_out);
                }
                let plugin = self.store.data().plugin_id.clone();
                tracing::warn!(plugin = &*plugin, error = %format!("{error:#}"), "connector trapped");
                // The wasm backtrace stays in the log; users get the cause.
                let cause = match error.downcast_ref::<Trap>() {
                    Some(trap) => trap.to_string(),
                    None => error.root_cause().to_string(),
                };
                Err(CallError::Trap(prefix(&cause, 1024).to_owned()))
            }
        }
    }

    fn check_usable(&self) -> Result<(), CallError> {
        if self.poisoned { Err(CallError::Poisoned) } else { Ok(()) }
    }
}

impl Session {
    /// Runs the connector's checks. The deadline covers one query round.
    pub async fn test(&mut self) -> Result<TestReport, CallError> {
        let timeout = self.query_timeout;
        let instance = &mut self.instance;
        instance.check_usable()?;
        let (_slot, remaining) = instance.begin(timeout).await?;
        let call = instance.bindings.test(&mut instance.store, self.connection, &instance.tally);
        let outcome = tokio::time::timeout(remaining, call).await;
        instance.store.data().log.end_call();
        // Endpoints granted during the test are steps of its report.
        let report = instance.settle(outcome, timeout)?.map_err(|mut failure| {
            failure.steps.extend(instance.store.data_mut().endpoints.take_steps());
            CallError::Connector(failure)
        });
        let mut report = report?;
        report.steps.extend(instance.store.data_mut().endpoints.take_steps());
        Ok(report)
    }

    /// Reads one page of the catalog.
    pub async fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, CallError> {
        let timeout = self.query_timeout;
        let instance = &mut self.instance;
        instance.check_usable()?;
        let (_slot, remaining) = instance.begin(timeout).await?;
        let call = instance.bindings.discover(&mut instance.store, self.connection, request, &instance.tally);
        let outcome = tokio::time::timeout(remaining, call).await;
        instance.store.data().log.end_call();
        instance.settle(outcome, timeout)?.map_err(CallError::Connector)
    }

    /// Whether the connector's WIT version can read data at all.
    pub fn reads_rows(&self) -> bool {
        self.instance.bindings.reads_rows()
    }

    /// Starts a preview or a query; the result is pulled with
    /// [`Session::next_batch`] and must end with [`Session::close_rows`]
    /// (the connector makes no other call on this connection meanwhile).
    /// `deadline` bounds the whole result, every batch included.
    pub async fn open_rows(&mut self, request: &RowsRequest, deadline: Instant) -> Result<OpenRows, CallError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let instance = &mut self.instance;
        instance.check_usable()?;
        let (_slot, remaining) = instance.begin(timeout).await?;
        let call = instance.bindings.open_rows(&mut instance.store, self.connection, request, &instance.tally);
        let outcome = tokio::time::timeout(remaining, call).await;
        instance.store.data().log.end_call();
        let opened = instance.settle(outcome, timeout)?.map_err(CallError::Connector)?;
        Ok(OpenRows { rows: opened.rows, columns: opened.columns })
    }

    /// The next batch of at most `max_rows` rows, or `None` at the end.
    pub async fn next_batch(
        &mut self,
        rows: &OpenRows,
        max_rows: u32,
        deadline: Instant,
    ) -> Result<Option<Batch>, CallError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let instance = &mut self.instance;
        instance.check_usable()?;
        let (_slot, remaining) = instance.begin(timeout).await?;
        let call =
            instance.bindings.next_batch(&mut instance.store, rows.rows, &rows.columns, max_rows, &instance.tally);
        let outcome = tokio::time::timeout(remaining, call).await;
        instance.store.data().log.end_call();
        instance.settle(outcome, timeout)?.map_err(CallError::Connector)
    }

    /// Ends a result: the connector stops the work (and cancels it at the
    /// server where the protocol allows), leaving the connection usable.
    pub async fn close_rows(&mut self, rows: OpenRows) -> Result<(), CallError> {
        let instance = &mut self.instance;
        instance.check_usable()?;
        let (_slot, remaining) = instance.begin(ROWS_CLOSE_TIMEOUT).await?;
        let drop = rows.rows.resource_drop_async(&mut instance.store);
        let outcome = tokio::time::timeout(remaining, drop).await;
        instance.store.data().log.end_call();
        instance.settle(outcome, ROWS_CLOSE_TIMEOUT)
    }

    /// What this connection's values and logs needed from the host's
    /// bounds so far: lines suppressed, values truncated, page bytes.
    pub fn bounds_usage(&self) -> BoundsUsage {
        BoundsUsage {
            log: self.instance.store.data().log.usage(),
            truncated_values: self.instance.tally.truncated_values(),
            largest_page_bytes: self.instance.tally.largest_page_bytes(),
        }
    }

    /// Whether the store is still usable (no trap or timeout happened).
    pub fn is_usable(&self) -> bool {
        !self.instance.poisoned
    }

    /// The memory the connector's store holds: its linear memories, tables
    /// and the host memory of its resources (what a pooled connection costs
    /// beyond the host's own bookkeeping), as of its last call.
    pub fn memory_bytes(&self) -> usize {
        self.instance.store.data().limiter.total_bytes()
    }

    /// The sockets and handles the store held after its last call.
    pub fn usage(&self) -> Usage {
        self.instance.store.data().budget.usage
    }

    /// Lets the connector close its connection cleanly (e.g. send Terminate),
    /// within a short deadline; the store goes either way.
    pub async fn close(mut self) {
        if self.instance.poisoned {
            return;
        }
        let timeout = Duration::from_secs(2);
        // A plugin too busy to close within the deadline just loses the store.
        let Ok((_slot, remaining)) = self.instance.begin(timeout).await else { return };
        let drop = self.connection.resource_drop_async(&mut self.instance.store);
        if let Ok(Err(error)) = tokio::time::timeout(remaining, drop).await {
            tracing::debug!(%error, "connector failed while closing a connection");
        }
    }
}

/// How long a connector may take to stop a result it was reading.
const ROWS_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A result being read on a session: the guest's `rows` resource and the
/// columns every batch has.
pub struct OpenRows {
    rows: ResourceAny,
    pub columns: Vec<ResultColumn>,
}

/// One of the plugin's call slots, waiting at most `timeout`; with the time
/// left for the call itself.
async fn call_slot(calls: &Arc<Semaphore>, timeout: Duration) -> Result<(OwnedSemaphorePermit, Duration), CallError> {
    let started = Instant::now();
    match tokio::time::timeout(timeout, calls.clone().acquire_owned()).await {
        Ok(Ok(slot)) => Ok((slot, timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1)))),
        // The semaphore is never closed; treat that like waiting too long.
        Ok(Err(_)) | Err(_) => Err(CallError::ResourceLimit(LimitExceeded::new(
            Budgeted::Calls,
            format!("every call slot of this plugin stayed busy for {} ms", timeout.as_millis()),
        ))),
    }
}
