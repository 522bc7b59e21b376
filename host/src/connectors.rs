//! The connectors this server runs: every loaded plugin by the data source
//! types it provides, and the operations the API and the CLI perform with them
//! (open a session, test, discover every page).
//!
//! It owns no storage and no policy: callers pass config, secrets and
//! timeouts; the sandbox settings decide what the connector may reach.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::model::{CheckStep, ConnectorError, DiscoverRequest, ErrorKind, Failure, Schema};
use crate::plugin::{Category, Secrets, SourceType};
use crate::runtime::{CallError, ConnectInput, LoadedPlugin, Runtime, Session};
use crate::source::{self, Route, SandboxSettings};

/// Pages a connector may return in one discovery, so that a page token that
/// never ends cannot run forever.
pub const MAX_PAGES: u32 = 100_000;

/// Per-operation deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub query: Duration,
}

/// The outcome of a connection test, as it is stored (the API maps it).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TestOutcome {
    pub ok: bool,
    pub server_version: Option<String>,
    /// Connect stages, then the connector's checks.
    pub steps: Vec<CheckStep>,
    pub latency_ms: u64,
    pub error: Option<ConnectorError>,
    pub tested_at: String,
}

/// The connectors a server runs. The set can change while it serves (an
/// admin installs, upgrades, enables or disables a plugin): readers take a
/// snapshot ([`Catalog`]) that stays whole for as long as they hold it.
pub struct Connectors {
    runtime: Runtime,
    sandbox: SandboxSettings,
    catalog: RwLock<Arc<Catalog>>,
    /// Plugins of the plugins directory that were refused at start, with the
    /// reason (for admins and logs).
    pub refused: Vec<(PathBuf, String)>,
}

/// One consistent set of plugins.
#[derive(Default)]
pub struct Catalog {
    plugins: Vec<CatalogEntry>,
    /// Type id → index into `plugins`.
    by_type: BTreeMap<String, usize>,
}

/// A plugin and whether the platform lets it run.
#[derive(Clone)]
pub struct CatalogEntry {
    pub plugin: Arc<LoadedPlugin>,
    pub enabled: bool,
}

/// A data source type, with the plugin that provides it.
#[derive(Clone)]
pub struct TypeRef {
    pub plugin: Arc<LoadedPlugin>,
    /// False when the platform disabled the plugin.
    pub enabled: bool,
    index: usize,
}

impl TypeRef {
    pub fn spec(&self) -> &SourceType {
        &self.plugin.manifest.types[self.index]
    }
}

impl Catalog {
    /// A catalog of `entries`; a type already provided by an earlier entry
    /// is skipped (and reported in the second value).
    pub fn new(entries: Vec<CatalogEntry>) -> (Self, Vec<String>) {
        let mut catalog = Self::default();
        let mut conflicts = Vec::new();
        for entry in entries {
            let index = catalog.plugins.len();
            for source_type in &entry.plugin.manifest.types {
                if let Some(&other) = catalog.by_type.get(&source_type.id) {
                    conflicts.push(format!(
                        "type `{}` of plugin `{}` is already provided by plugin `{}`",
                        source_type.id, entry.plugin.manifest.id, catalog.plugins[other].plugin.manifest.id
                    ));
                    continue;
                }
                catalog.by_type.insert(source_type.id.clone(), index);
            }
            catalog.plugins.push(entry);
        }
        (catalog, conflicts)
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.plugins
    }

    /// The plugin with this id.
    pub fn plugin(&self, id: &str) -> Option<&CatalogEntry> {
        self.plugins.iter().find(|entry| entry.plugin.manifest.id == id)
    }

    /// The plugin and type spec for a data source type (enabled or not).
    pub fn source_type(&self, type_id: &str) -> Option<TypeRef> {
        let entry = &self.plugins[*self.by_type.get(type_id)?];
        let index = entry.plugin.manifest.types.iter().position(|t| t.id == type_id)?;
        Some(TypeRef { plugin: entry.plugin.clone(), enabled: entry.enabled, index })
    }

    /// Every type, ordered by id.
    pub fn types(&self) -> Vec<TypeRef> {
        self.by_type.keys().filter_map(|id| self.source_type(id)).collect()
    }
}

impl Connectors {
    /// Loads every `<dir>/<id>/` that has a plugin.toml, all enabled. A
    /// broken plugin is logged and skipped, so that one bad plugin cannot
    /// take the server down.
    pub fn load(runtime: Runtime, plugins_dir: &Path, sandbox: SandboxSettings) -> Self {
        let mut refused = Vec::new();
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(plugins_dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.join("plugin.toml").is_file())
                .collect(),
            Err(error) => {
                tracing::warn!(dir = %plugins_dir.display(), %error, "no plugins directory; serving without connectors");
                Vec::new()
            }
        };
        dirs.sort();
        let mut entries = Vec::new();
        for dir in dirs {
            match runtime.load_plugin(&dir) {
                Ok(plugin) => entries.push(CatalogEntry { plugin: Arc::new(plugin), enabled: true }),
                Err(error) => {
                    tracing::error!(dir = %dir.display(), %error, "plugin refused");
                    refused.push((dir, error.to_string()));
                }
            }
        }
        let (catalog, conflicts) = Catalog::new(entries);
        for reason in conflicts {
            tracing::error!(dir = %plugins_dir.display(), %reason, "plugin type skipped");
            refused.push((plugins_dir.to_path_buf(), reason));
        }
        Self { runtime, sandbox, catalog: RwLock::new(Arc::new(catalog)), refused }
    }

    /// The current set of plugins.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Replaces the set; calls in flight keep the plugins they started with.
    pub fn replace(&self, catalog: Catalog) {
        *self.catalog.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(catalog);
    }

    /// What connectors may reach; also what the API may serve from disk.
    pub fn sandbox(&self) -> &SandboxSettings {
        &self.sandbox
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Every plugin of the current set, enabled or not.
    pub fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        self.catalog().plugins.iter().map(|entry| entry.plugin.clone()).collect()
    }

    /// The plugin and type spec for a data source type (enabled or not).
    pub fn source_type(&self, type_id: &str) -> Option<TypeRef> {
        self.catalog().source_type(type_id)
    }

    /// Every type, ordered by id.
    pub fn types(&self) -> Vec<TypeRef> {
        self.catalog().types()
    }

    /// The ids of the types of one category, enabled or not (data sources of
    /// a disabled type still exist and still belong to its category).
    pub fn type_ids_in(&self, category: Category) -> Vec<String> {
        self.types()
            .iter()
            .map(TypeRef::spec)
            .filter(|spec| spec.category == category)
            .map(|spec| spec.id.clone())
            .collect()
    }

    /// Connects and runs the connector's checks, on a connection of its own.
    pub async fn test(&self, type_id: &str, config: &Value, secrets: &Secrets, timeouts: Timeouts) -> TestOutcome {
        let started = Instant::now();
        let result = match self.open(type_id, config, secrets, timeouts, &Route::default()).await {
            Ok(mut session) => {
                let steps = session.connect_steps.clone();
                let result = run_checks(&mut session, steps).await;
                session.close().await;
                result
            }
            Err(failure) => Err(failure),
        };
        TestOutcome::new(started, result)
    }

    /// Connects and reads every page of the catalog.
    pub async fn discover(
        &self,
        type_id: &str,
        config: &Value,
        secrets: &Secrets,
        timeouts: Timeouts,
        request: DiscoverRequest,
    ) -> Result<(Vec<Schema>, u32), Failure> {
        let mut session = self.open(type_id, config, secrets, timeouts, &Route::default()).await?;
        let result = discover_all(&mut session, request).await;
        session.close().await;
        result
    }

    /// Validates, resolves and connects, the way `route` says (an SSH
    /// tunnel, a stored file).
    pub async fn open(
        &self,
        type_id: &str,
        config: &Value,
        secrets: &Secrets,
        timeouts: Timeouts,
        route: &Route,
    ) -> Result<Session, Failure> {
        let found = self.source_type(type_id).filter(|found| found.enabled).ok_or_else(|| {
            Failure::new(ErrorKind::Config, format!("no enabled plugin provides type `{type_id}`"), false)
        })?;
        open_session(&found.plugin, found.spec(), config, secrets, &self.sandbox, timeouts, route).await
    }
}

impl TestOutcome {
    /// The outcome of a test that started at `started`: the server version
    /// and every step, or the failure with the steps that ran before it.
    pub fn new(started: Instant, result: Result<(Option<String>, Vec<CheckStep>), Failure>) -> Self {
        let latency_ms = started.elapsed().as_millis() as u64;
        let tested_at = crate::db::now();
        match result {
            Ok((server_version, steps)) => Self { ok: true, server_version, steps, latency_ms, error: None, tested_at },
            Err(failure) => Self {
                ok: false,
                server_version: None,
                steps: failure.steps,
                latency_ms,
                error: Some(failure.error),
                tested_at,
            },
        }
    }
}

/// Runs the connector's checks on an open session, after `steps` (how the
/// session came to be). Returns the server version and all steps.
pub async fn run_checks(
    session: &mut Session,
    mut steps: Vec<CheckStep>,
) -> Result<(Option<String>, Vec<CheckStep>), Failure> {
    match session.test().await {
        Ok(report) => {
            steps.extend(report.steps);
            Ok((report.server_version, steps))
        }
        Err(error) => {
            let mut failure = error.into_failure();
            steps.append(&mut failure.steps);
            failure.steps = steps;
            Err(failure)
        }
    }
}

/// Prepares (validate, resolve, grant) and connects one session.
pub async fn open_session(
    plugin: &LoadedPlugin,
    spec: &SourceType,
    config: &Value,
    secrets: &Secrets,
    sandbox: &SandboxSettings,
    timeouts: Timeouts,
    route: &Route,
) -> Result<Session, Failure> {
    let mut prepared = source::prepare(spec, config, secrets, sandbox, timeouts.connect, route).await?;
    if let Some(http) = &mut prepared.grants.http {
        http.io_timeout = timeouts.query;
    }
    let input = ConnectInput {
        source_type: &spec.id,
        config: &prepared.config,
        secrets,
        endpoint: prepared.endpoint,
        connect_timeout: timeouts.connect,
        query_timeout: timeouts.query,
    };
    plugin.connect(&input, &prepared.grants).await.map_err(CallError::into_failure)
}

/// Where a discovery's pages go as the connector returns them.
pub trait PageSink: Send {
    /// Takes one page's schemas; `false` when it can take no more (it
    /// failed), which ends the discovery early.
    fn accept(&mut self, schemas: Vec<Schema>) -> impl Future<Output = bool> + Send;
}

/// Reads every page, handing each to `sink` as it arrives. Returns the
/// number of pages read, fewer when the sink stopped taking them.
pub async fn discover_pages(
    session: &mut Session,
    mut request: DiscoverRequest,
    sink: &mut impl PageSink,
) -> Result<u32, Failure> {
    let mut pages = 0u32;
    loop {
        let page = session.discover(&request).await.map_err(CallError::into_failure)?;
        pages += 1;
        if !sink.accept(page.schemas).await {
            return Ok(pages);
        }
        match page.next_page_token {
            None => return Ok(pages),
            Some(token) if Some(&token) == request.page_token.as_ref() || pages >= MAX_PAGES => {
                return Err(Failure::new(
                    ErrorKind::Protocol,
                    format!("the connector's page token stopped advancing after {pages} pages"),
                    false,
                ));
            }
            Some(token) => request.page_token = Some(token),
        }
    }
}

/// Reads every page, merging schemas split across pages. Returns the
/// catalog and the number of pages.
pub async fn discover_all(session: &mut Session, request: DiscoverRequest) -> Result<(Vec<Schema>, u32), Failure> {
    let mut schemas = WholeCatalog::default();
    let pages = discover_pages(session, request, &mut schemas).await?;
    Ok((schemas.0, pages))
}

/// A whole catalog in memory.
#[derive(Default)]
struct WholeCatalog(Vec<Schema>);

impl PageSink for WholeCatalog {
    async fn accept(&mut self, schemas: Vec<Schema>) -> bool {
        for schema in schemas {
            match self.0.iter_mut().find(|s| s.name == schema.name) {
                Some(existing) => existing.tables.extend(schema.tables),
                None => self.0.push(schema),
            }
        }
        true
    }
}
