//! The plugin runtime: one wasmtime [`Engine`] with epoch interruption,
//! compiled components cached on disk, an `InstancePre` per plugin, and a
//! fresh, limited store per connection.
//!
//! It owns how plugin code runs and what it can touch (through the grants the
//! caller passes in) and how much of the host it may use (the budgets). It
//! never decides what a connector may reach: the sandbox module does.

pub mod batches;
pub mod bounds;
pub mod budget;
mod cache;
mod catalog_calls;
mod endpoints;
mod engine;
mod error;
mod fs_guard;
mod http;
pub mod log_limit;
mod output;
mod session;
mod store;
mod v0_1_0;
mod v0_2_0;
pub mod wit;

pub use budget::{BudgetLimits, BudgetSettings, Budgeted, LimitExceeded, Usage};
pub use error::{CallError, LoadError};
pub use session::{ConnectInput, OpenRows, Session};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Instant;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::plugin::Manifest;
use cache::ComponentCache;
use engine::EpochTicker;
use store::StoreState;

/// How the runtime is set up; from the server's settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are kept (`<data dir>/cache/components`).
    pub cache_dir: PathBuf,
    /// The most memory any plugin may have, whatever its manifest asks.
    pub memory_cap_mib: u32,
    /// Per-connection budgets and the per-plugin bound on concurrent calls.
    pub budgets: BudgetSettings,
}

impl RuntimeConfig {
    /// A configuration with the default budgets.
    pub fn new(cache_dir: PathBuf, memory_cap_mib: u32) -> Self {
        Self { cache_dir, memory_cap_mib, budgets: BudgetSettings::default() }
    }
}

/// Counts of connector instances, for metrics.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    pub instances_created: AtomicU64,
    /// Stores alive now: pooled connections and calls in flight.
    pub instances_live: AtomicI64,
    /// Calls failed for going past a resource budget.
    pub budget_breaches: AtomicU64,
}

/// The engine, the linker and the compiled-component cache, shared by all plugins.
pub struct Runtime {
    engine: Engine,
    stats: Arc<RuntimeStats>,
    /// WASI and the host import: what every plugin gets.
    linker: Linker<StoreState>,
    /// The same plus wasi:http, for plugins with a type that declares
    /// `[types.http]`: nobody else may hold wasi:http resources.
    http_linker: Linker<StoreState>,
    cache: ComponentCache,
    memory_cap_mib: u32,
    budgets: BudgetSettings,
    _ticker: EpochTicker,
}

/// A plugin ready to instantiate: its manifest, its wasm's digest and the
/// pre-linked component.
pub struct LoadedPlugin {
    pub manifest: Arc<Manifest>,
    pub sha256: String,
    /// How the component got into memory, for logs and benchmarks.
    pub load: LoadKind,
    memory_limit_bytes: usize,
    budget: BudgetLimits,
    /// Bounds the guest calls of this plugin running at once.
    calls: Arc<Semaphore>,
    /// The component bound to the world of its API version.
    bindings: wit::BindingsPre,
    stats: Arc<RuntimeStats>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// Compiled now (and written to the cache).
    Compiled,
    /// Deserialized from the on-disk cache.
    Cached,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, LoadError> {
        let engine = engine::build().map_err(|error| LoadError::Engine(error.to_string()))?;
        let linker = build_linker(&engine, false).map_err(|error| LoadError::Engine(error.to_string()))?;
        let http_linker = build_linker(&engine, true).map_err(|error| LoadError::Engine(error.to_string()))?;
        let cache = ComponentCache::new(&engine, config.cache_dir);
        let ticker = EpochTicker::start(&engine);
        Ok(Self {
            engine,
            stats: Arc::default(),
            linker,
            http_linker,
            cache,
            memory_cap_mib: config.memory_cap_mib,
            budgets: config.budgets,
            _ticker: ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn stats(&self) -> &RuntimeStats {
        &self.stats
    }

    /// Loads `<dir>/plugin.toml` and `<dir>/plugin.wasm`: validates the
    /// manifest, compiles the component or takes it from the cache, checks it
    /// exports the world of its declared API version, and links it.
    pub fn load_plugin(&self, dir: &Path) -> Result<LoadedPlugin, LoadError> {
        let manifest = Manifest::load(dir)?;
        let wasm_path = dir.join("plugin.wasm");
        let wasm = std::fs::read(&wasm_path)
            .map_err(|error| LoadError::Read { path: wasm_path.display().to_string(), reason: error.to_string() })?;
        self.load_plugin_bytes(manifest, &wasm)
    }

    /// Like [`Runtime::load_plugin`], for a manifest and wasm already in memory.
    pub fn load_plugin_bytes(&self, manifest: Manifest, wasm: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let started = Instant::now();
        let memories =
            defined_memories(wasm).map_err(|reason| LoadError::Compile { plugin: manifest.id.clone(), reason })?;
        if memories > budget::MAX_MEMORIES {
            return Err(LoadError::TooManyMemories {
                plugin: manifest.id.clone(),
                count: memories,
                max: budget::MAX_MEMORIES,
            });
        }
        let (component, sha256, load) = self
            .cache
            .load(&self.engine, wasm)
            .map_err(|reason| LoadError::Compile { plugin: manifest.id.clone(), reason })?;
        let bindings = self.link(&manifest, &component)?;
        tracing::info!(
            plugin = %manifest.id,
            version = %manifest.version,
            sha256 = %sha256,
            load = ?load,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plugin loaded"
        );
        let memory_limit_bytes = manifest.memory_limit_bytes(self.memory_cap_mib);
        let budget = self.budgets.limits_for(&manifest.limits);
        Ok(LoadedPlugin {
            manifest: Arc::new(manifest),
            sha256,
            load,
            memory_limit_bytes,
            budget,
            calls: Arc::new(Semaphore::new(self.budgets.concurrent_calls as usize)),
            bindings,
            stats: self.stats.clone(),
        })
    }

    fn link(&self, manifest: &Manifest, component: &Component) -> Result<wit::BindingsPre, LoadError> {
        let mismatch = |reason: String| LoadError::WorldMismatch { plugin: manifest.id.clone(), reason };
        let expected = format!("inlet:connector/connector@{}", manifest.api_version);
        let exports: Vec<String> =
            component.component_type().exports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        if !exports.contains(&expected) {
            return Err(mismatch(format!(
                "it declares API version {} but does not export `{expected}` (it exports: {})",
                manifest.api_version,
                if exports.is_empty() { "nothing".to_owned() } else { exports.join(", ") }
            )));
        }
        let linker = if manifest.types.iter().any(|t| t.http.is_some()) { &self.http_linker } else { &self.linker };
        let instance_pre = linker
            .instantiate_pre(component)
            .map_err(|error| mismatch(format!("it imports something the sandbox does not provide: {error:#}")))?;
        wit::BindingsPre::link(&manifest.api_version, instance_pre).map_err(|error| match error {
            wit::LinkError::Mismatch(reason) => mismatch(format!("its exports do not match the world: {reason}")),
            wit::LinkError::Unsupported(unsupported) => {
                LoadError::Manifest(crate::plugin::ManifestError::UnsupportedApiVersion {
                    plugin: manifest.id.clone(),
                    declared: unsupported.declared,
                })
            }
        })
    }
}

impl LoadedPlugin {
    pub fn memory_limit_bytes(&self) -> usize {
        self.memory_limit_bytes
    }

    /// The per-connection budgets of this plugin's stores.
    pub fn budget(&self) -> BudgetLimits {
        self.budget
    }
}

/// WASI (with the sockets budget in front of socket creation), wasi:http
/// when `http`, and the host import of every supported API version.
fn build_linker(engine: &Engine, http: bool) -> wasmtime::Result<Linker<StoreState>> {
    use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    linker.allow_shadowing(true);
    tcp_create_socket::add_to_linker::<StoreState, budget::BudgetedSockets>(&mut linker, StoreState::sockets_view)?;
    linker.allow_shadowing(false);
    fs_guard::add_to_linker(&mut linker)?;
    if http {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    }
    wit::add_host_imports(&mut linker)?;
    Ok(linker)
}

/// The linear memories a component's core modules define (imported ones
/// are someone else's and not counted twice).
fn defined_memories(wasm: &[u8]) -> Result<u32, String> {
    let mut count = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::MemorySection(section) = payload.map_err(|error| error.to_string())? {
            count = count.saturating_add(section.count());
        }
    }
    Ok(count)
}
