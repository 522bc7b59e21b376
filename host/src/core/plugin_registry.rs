//! Keeps this server's set of connectors equal to what the database says:
//! bundled plugins (the plugins directory, loaded at start) and installed
//! packages (stored in the database, so every replica runs the same bytes),
//! each enabled or not. A change made here is applied at once; one made by
//! another replica or the CLI is picked up by polling a generation counter
//! ([`crate::workers`]' plugin watcher calls [`App::sync_plugins`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::App;
use crate::connectors::{Catalog, CatalogEntry, Connectors};
use crate::db::{DbError, PluginRow};
use crate::plugin::Manifest;
use crate::plugin::package::TrustPolicy;
use crate::runtime::LoadedPlugin;

pub struct PluginRegistry {
    /// Plugins of the plugins directory, as loaded at start.
    bundled: Vec<Arc<LoadedPlugin>>,
    pub trust: TrustPolicy,
    /// Installed packages already compiled, by wasm digest.
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    /// The generation the current catalog reflects (-1: none yet).
    generation: AtomicI64,
    syncing: tokio::sync::Mutex<()>,
}

impl PluginRegistry {
    pub fn new(connectors: &Connectors, trust: TrustPolicy) -> Self {
        Self {
            bundled: connectors.plugins(),
            trust,
            loaded: Mutex::new(HashMap::new()),
            generation: AtomicI64::new(-1),
            syncing: tokio::sync::Mutex::new(()),
        }
    }

    /// A bundled plugin by id.
    pub fn bundled(&self, id: &str) -> Option<&Arc<LoadedPlugin>> {
        self.bundled.iter().find(|plugin| plugin.manifest.id == id)
    }

    /// Remembers a package compiled for an install or upgrade, so the next
    /// sync does not compile it again.
    pub fn remember(&self, plugin: Arc<LoadedPlugin>) {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(plugin.sha256.clone(), plugin);
    }

    fn cached(&self, sha256: &str) -> Option<Arc<LoadedPlugin>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(sha256).cloned()
    }
}

impl App {
    /// Records the bundled plugins and loads the database's view of plugins.
    pub async fn start_plugins(&self) -> Result<(), DbError> {
        for plugin in &self.plugin_registry().bundled {
            let status = "operator";
            let version = plugin.manifest.version.to_string();
            self.db().register_bundled(&plugin.manifest.id, &version, &plugin.sha256, status).await?;
        }
        self.sync_plugins(true).await
    }

    /// Rebuilds the set of connectors if the database changed since the
    /// last sync (or always, with `force`).
    pub async fn sync_plugins(&self, force: bool) -> Result<(), DbError> {
        let _guard = self.plugin_registry().syncing.lock().await;
        let generation = self.db().plugin_generation().await?;
        if !force && generation == self.plugin_registry().generation.load(Ordering::Acquire) {
            return Ok(());
        }
        let rows = self.db().plugin_rows().await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(plugin) = self.plugin_of(row).await? {
                entries.push(CatalogEntry { plugin, enabled: row.enabled != 0 });
            }
        }
        let (catalog, conflicts) = Catalog::new(entries);
        for reason in conflicts {
            tracing::error!(%reason, "plugin type skipped");
        }
        self.connectors().replace(catalog);
        self.plugin_registry().generation.store(generation, Ordering::Release);
        Ok(())
    }

    /// The loaded plugin a row stands for, compiling an installed package
    /// the first time; `None` (logged) when it cannot be loaded.
    async fn plugin_of(&self, row: &PluginRow) -> Result<Option<Arc<LoadedPlugin>>, DbError> {
        if row.origin != "installed" {
            let bundled = self.plugin_registry().bundled(&row.id).cloned();
            if bundled.is_none() {
                tracing::warn!(plugin = %row.id, "a bundled plugin is no longer in the plugins directory");
            }
            return Ok(bundled);
        }
        if let Some(plugin) = self.plugin_registry().cached(&row.sha256) {
            return Ok(Some(plugin));
        }
        let Some(package) = self.db().plugin_package(&row.id).await? else { return Ok(None) };
        let state = self.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let manifest = Manifest::parse(&package.manifest, "plugin.toml").map_err(|e| e.to_string())?;
            state.connectors().runtime().load_plugin_bytes(manifest, &package.wasm).map_err(|e| e.to_string())
        })
        .await;
        match loaded {
            Ok(Ok(plugin)) => {
                let plugin = Arc::new(plugin);
                self.plugin_registry().remember(plugin.clone());
                Ok(Some(plugin))
            }
            Ok(Err(reason)) => {
                tracing::error!(plugin = %row.id, %reason, "an installed plugin cannot be loaded");
                Ok(None)
            }
            Err(error) => {
                tracing::error!(plugin = %row.id, %error, "loading an installed plugin panicked");
                Ok(None)
            }
        }
    }
}
