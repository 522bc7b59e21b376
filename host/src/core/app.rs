//! The application core's shared state ([`App`]): the database, the
//! organizations' data keys, the connectors and their plugin registry,
//! connection pools and tunnels, counters and caches. The services are
//! `impl App` blocks in the sibling modules; this one holds the secrets and
//! the discovery service (a claimed job run to the end).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::counters::Counters;
use super::error::{Error, Result};
use super::plugin_registry::PluginRegistry;
use super::schema_cache::SchemaCache;
use crate::catalog_store;
use crate::connectors::Connectors;
use crate::db::{DataSourceRow, Db};
use crate::health::HealthSettings;
use crate::model::DiscoverRequest;
use crate::plugin::Secrets;
use crate::pool::Pools;
use crate::settings::Settings;
use crate::storage::FileStore;
use crate::tunnel::Tunnels;
use crate::vault::{self, DataKey, Keyring, SecretAad};

/// Tables per page when the server pages through a connector's catalog.
const DISCOVERY_PAGE_SIZE: u32 = 500;

/// The application core: cheap to clone, shared by the API, the CLI and
/// the workers.
#[derive(Clone)]
pub struct App(Arc<Inner>);

struct Inner {
    db: Db,
    keyring: Keyring,
    connectors: Connectors,
    /// Which plugins run, kept in step with the database.
    plugins: PluginRegistry,
    counters: Counters,
    /// Health checks: lowest interval, breaker and retry policies, scheduler.
    health: HealthSettings,
    /// Wakes the discovery worker when a job is queued.
    discovery_queued: tokio::sync::Notify,
    /// Live connector connections per data source.
    pools: Arc<Pools>,
    /// Discovered catalogs, parsed, by data source.
    schemas: SchemaCache,
    /// Whether a tunnel without a pinned host key learns the first one.
    ssh_trust_on_first_use: bool,
    /// Open SSH tunnels, one per data source that uses one.
    tunnels: Tunnels,
    /// Uploaded files (`/api/v1/storage`).
    files: FileStore,
    data_keys: RwLock<HashMap<String, Arc<DataKey>>>,
}

impl App {
    pub fn new(db: Db, keyring: Keyring, connectors: Connectors, settings: &Settings, files: FileStore) -> Self {
        let plugins = PluginRegistry::new(&connectors, settings.plugin_trust.clone());
        Self(Arc::new(Inner {
            db,
            keyring,
            connectors,
            plugins,
            counters: Counters::default(),
            health: settings.health.clone(),
            discovery_queued: tokio::sync::Notify::new(),
            pools: Arc::new(Pools::new(settings.pool_max_idle)),
            schemas: SchemaCache::new(settings.schema_cache_mib << 20),
            ssh_trust_on_first_use: settings.ssh_trust_on_first_use,
            tunnels: Tunnels::new(),
            files,
            data_keys: RwLock::new(HashMap::new()),
        }))
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    pub fn connectors(&self) -> &Connectors {
        &self.0.connectors
    }

    pub fn plugin_registry(&self) -> &PluginRegistry {
        &self.0.plugins
    }

    pub fn counters(&self) -> &Counters {
        &self.0.counters
    }

    pub fn health(&self) -> &HealthSettings {
        &self.0.health
    }

    pub fn pools(&self) -> &Arc<Pools> {
        &self.0.pools
    }

    pub fn schemas(&self) -> &SchemaCache {
        &self.0.schemas
    }

    pub fn tunnels(&self) -> &Tunnels {
        &self.0.tunnels
    }

    pub fn files(&self) -> &FileStore {
        &self.0.files
    }

    pub fn ssh_trust_on_first_use(&self) -> bool {
        self.0.ssh_trust_on_first_use
    }

    /// Wakes the discovery worker: a job was queued.
    pub fn discovery_queued(&self) {
        self.0.discovery_queued.notify_one();
    }

    /// Resolves when a discovery job is queued (the worker waits on it).
    pub async fn discovery_wanted(&self) {
        self.0.discovery_queued.notified().await;
    }

    /// A key of its own for `purpose`, derived from the master key.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        self.0.keyring.derive_key(purpose)
    }

    /// The organization's data key, unwrapped once and kept in memory.
    pub async fn data_key(&self, org_id: &str) -> Result<Arc<DataKey>> {
        if let Some(key) = self.0.data_keys.read().ok().and_then(|keys| keys.get(org_id).cloned()) {
            return Ok(key);
        }
        let org = self.db().org(org_id).await?.ok_or_else(|| Error::not_found("organization"))?;
        let key = Arc::new(
            self.0
                .keyring
                .unwrap_data_key(org_id, &org.data_key)
                .map_err(|e| Error::internal("cannot unwrap the organization's data key", e))?,
        );
        if let Ok(mut keys) = self.0.data_keys.write() {
            keys.insert(org_id.to_owned(), key.clone());
        }
        Ok(key)
    }

    /// Seals secret fields for one data source.
    pub async fn seal_secrets(
        &self,
        org_id: &str,
        data_source_id: &str,
        secrets: &Secrets,
    ) -> Result<Vec<(String, String)>> {
        let key = self.data_key(org_id).await?;
        secrets
            .iter()
            .map(|(field, value)| {
                let aad = SecretAad { org_id, data_source_id, field };
                vault::seal(&key, &aad, value)
                    .map(|sealed| (field.to_owned(), sealed))
                    .map_err(|e| Error::internal("cannot seal a secret", e))
            })
            .collect()
    }

    /// Opens every secret of a data source.
    pub async fn open_secrets(&self, row: &DataSourceRow) -> Result<Secrets> {
        let sealed = self.db().sealed_secrets(&row.id).await?;
        self.open_sealed(row, &sealed).await
    }

    /// Runs one claimed discovery job to the end (succeeded or failed):
    /// pages go into storage as the connector returns them, so memory holds
    /// a page or two rather than the catalog.
    pub async fn run_discovery(&self, row: &DataSourceRow, job_id: &str) -> Result<()> {
        let request = DiscoverRequest { page_size: DISCOVERY_PAGE_SIZE, ..DiscoverRequest::default() };
        let (sink, writing) = catalog_store::start(self.db().clone(), &row.organization_id, &row.id, job_id);
        let outcome = match self.discover_into(row, request, sink).await {
            Ok(outcome) => outcome,
            Err(error) => {
                writing.stop().await;
                return Err(error);
            }
        };
        let finished = writing.finish(outcome).await.map_err(|error| match error {
            catalog_store::CatalogError::Db(error) => Error::from(error),
            other => Error::internal("cannot store the catalog", other),
        })?;
        if let catalog_store::Finished::Failed(failure) = finished {
            self.counters().record_discovery(&row.organization_id, false);
            self.db().fail_discovery(job_id, failure.error.kind.as_str(), &failure.error.message).await?;
            return Ok(());
        }
        let next = super::discovery::next_refresh(row, time::OffsetDateTime::now_utc());
        self.db().schedule_discovery(&row.id, next.as_deref()).await?;
        self.counters().record_discovery(&row.organization_id, true);
        Ok(())
    }
}
