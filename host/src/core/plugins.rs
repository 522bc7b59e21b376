//! The plugin administration service: verify, compile, store and start a
//! plugin package (install, upgrade), switch a plugin on or off for the
//! platform or one organization, uninstall it — each change audited and
//! applied to this server at once (other replicas follow within seconds) —
//! and describe plugins with what they may reach.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::App;
use super::error::{Error, Result};
use crate::db::{Audit, NewPlugin, PluginRow};
use crate::plugin::package::{Package, PackageError, Seal, Verified};
use crate::runtime::LoadedPlugin;

/// A plugin as the platform sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginInfo {
    pub id: String,
    pub name: String,
    pub version: String,
    /// The WIT API version it was built against.
    pub api_version: String,
    pub description: Option<String>,
    /// The data source types it provides.
    pub types: Vec<String>,
    pub enabled: bool,
    /// `bundled` (the server's plugins directory) or `installed` (uploaded).
    pub origin: String,
    /// SHA-256 of the wasm.
    pub sha256: String,
    pub signature: SignatureInfo,
    pub capabilities: Capabilities,
    /// Live data sources of its types, over every organization.
    pub data_sources: i64,
    /// False when the package is recorded but could not be loaded here.
    pub loaded: bool,
    pub installed_at: String,
    pub installed_by: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignatureInfo {
    /// `trusted` (signed by a trusted publisher key), `untrusted_allowed`
    /// and `unsigned_allowed` (installed while unsigned plugins were
    /// allowed), `operator` (from the plugins directory).
    pub status: String,
    pub key_id: Option<String>,
}

/// What the plugin may reach: the sandbox grants nothing beyond this.
#[derive(Debug, Serialize, ToSchema)]
pub struct Capabilities {
    /// Linear memory it may use (its manifest's ask, within the admin cap).
    pub memory_mib: u64,
    pub types: Vec<TypeCapabilities>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TypeCapabilities {
    #[serde(rename = "type")]
    pub type_id: String,
    /// TCP to the host and port a data source's config names.
    pub tcp: Option<TcpCapability>,
    /// HTTP(S) to the origin of the URL a data source's config names.
    pub http: Option<HttpCapability>,
    /// Read-only access to the one file or folder a data source names.
    pub file: Option<FileCapability>,
    /// Fields sealed in the vault and passed only to the connector.
    pub secret_fields: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TcpCapability {
    pub host_field: String,
    pub port_field: String,
    pub default_port: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HttpCapability {
    pub url_field: String,
    pub default_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileCapability {
    pub path_field: String,
}

/// A plugin as an organization sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgPlugin {
    pub id: String,
    pub name: String,
    pub version: String,
    pub types: Vec<String>,
    /// The platform's switch.
    pub platform_enabled: bool,
    /// The organization's own switch.
    pub enabled: bool,
}

fn capabilities(plugin: &LoadedPlugin) -> Capabilities {
    let types = plugin
        .manifest
        .types
        .iter()
        .map(|spec| TypeCapabilities {
            type_id: spec.id.clone(),
            tcp: spec.network.as_ref().map(|n| TcpCapability {
                host_field: n.host_field.clone(),
                port_field: n.port_field.clone(),
                default_port: n.default_port,
            }),
            http: spec
                .http
                .as_ref()
                .map(|h| HttpCapability { url_field: h.url_field.clone(), default_url: h.default_url.clone() }),
            file: spec.file.as_ref().map(|f| FileCapability { path_field: f.path_field.clone() }),
            secret_fields: spec.secret_fields.clone(),
        })
        .collect();
    Capabilities { memory_mib: (plugin.memory_limit_bytes() >> 20) as u64, types }
}

fn info(row: PluginRow, plugin: Option<&Arc<LoadedPlugin>>, usage: &BTreeMap<String, i64>) -> PluginInfo {
    let types: Vec<String> =
        plugin.map(|p| p.manifest.types.iter().map(|t| t.id.clone()).collect()).unwrap_or_default();
    PluginInfo {
        name: plugin.map_or_else(|| row.id.clone(), |p| p.manifest.name.clone()),
        api_version: plugin.map(|p| p.manifest.api_version.clone()).unwrap_or_default(),
        description: plugin.and_then(|p| p.manifest.description.clone()),
        data_sources: types.iter().filter_map(|t| usage.get(t)).sum(),
        capabilities: plugin.map_or(Capabilities { memory_mib: 0, types: Vec::new() }, |p| capabilities(p)),
        loaded: plugin.is_some(),
        types,
        enabled: row.enabled != 0,
        origin: row.origin,
        sha256: row.sha256,
        signature: SignatureInfo { status: row.signature_status, key_id: row.signer_key_id },
        id: row.id,
        version: row.version,
        installed_at: row.installed_at,
        installed_by: row.installed_by,
        updated_at: row.updated_at,
    }
}

async fn usage(state: &App) -> Result<BTreeMap<String, i64>> {
    Ok(state.db().data_sources_per_type().await?.into_iter().collect())
}

pub async fn plugin_info(state: &App, id: &str) -> Result<PluginInfo> {
    let row = state.db().plugin_row(id).await?.ok_or_else(|| Error::not_found("plugin"))?;
    let catalog = state.connectors().catalog();
    let plugin = catalog.plugin(id).map(|entry| &entry.plugin);
    Ok(info(row, plugin, &usage(state).await?))
}

/// The types a plugin provides, from the running set or its bundled copy.
fn types_of(state: &App, id: &str) -> Vec<String> {
    let catalog = state.connectors().catalog();
    let plugin =
        catalog.plugin(id).map(|entry| entry.plugin.clone()).or_else(|| state.plugin_registry().bundled(id).cloned());
    plugin.map(|p| p.manifest.types.iter().map(|t| t.id.clone()).collect()).unwrap_or_default()
}

/// Verifies, compiles, stores and starts a new plugin (the API's and the
/// CLI's install).
pub async fn install_package(state: &App, actor: &str, package: &Package) -> Result<PluginInfo> {
    let (seal, plugin) = prepare(state, package).await?;
    let id = plugin.manifest.id.clone();
    if state.db().plugin_row(&id).await?.is_some() {
        return Err(Error::conflict(
            "plugin_exists",
            format!("plugin `{id}` is already installed; upgrade it with PUT /api/v1/plugins/{id}"),
        ));
    }
    check_type_conflicts(state, &plugin)?;
    let version = plugin.manifest.version.to_string();
    let new = NewPlugin {
        id: &id,
        version: &version,
        sha256: &seal.sha256,
        signature_status: seal.signature_status,
        signer_key_id: seal.signer_key_id.as_deref(),
        manifest: &package.manifest,
        wasm: &package.wasm,
        signature: package.signature.as_deref(),
    };
    let entry = Audit {
        actor,
        organization_id: None,
        action: "install",
        plugin_id: &id,
        version: Some(&version),
        details: audit_details(&seal, &plugin),
    };
    state.db().store_plugin(&new, false, &entry).await?;
    state.plugin_registry().remember(plugin);
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, %version, %actor, "plugin installed");
    plugin_info(state, &id).await
}

/// Replaces an installed or bundled plugin with a newer version of it.
pub async fn upgrade_package(state: &App, actor: &str, id: &str, package: &Package) -> Result<PluginInfo> {
    let current = state.db().plugin_row(id).await?.ok_or_else(|| Error::not_found("plugin"))?;
    let (seal, plugin) = prepare(state, package).await?;
    if plugin.manifest.id != id {
        return Err(Error::rejected(
            "plugin_id_mismatch",
            format!("the package is plugin `{}`, not `{id}`", plugin.manifest.id),
        ));
    }
    let from = semver::Version::parse(&current.version).ok();
    if from.as_ref().is_some_and(|from| plugin.manifest.version <= *from) {
        return Err(Error::conflict(
            "version_not_newer",
            format!("version {} is not newer than the installed {}", plugin.manifest.version, current.version),
        ));
    }
    check_type_conflicts(state, &plugin)?;
    // Data sources keep working: every type in use must still be provided.
    let usage = usage(state).await?;
    let dropped: Vec<String> = types_of(state, id)
        .into_iter()
        .filter(|t| usage.get(t).is_some_and(|n| *n > 0) && plugin.manifest.source_type(t).is_none())
        .collect();
    if !dropped.is_empty() {
        return Err(Error::conflict(
            "types_in_use",
            format!("the new version drops types that data sources use: {}", dropped.join(", ")),
        ));
    }
    let version = plugin.manifest.version.to_string();
    let new = NewPlugin {
        id,
        version: &version,
        sha256: &seal.sha256,
        signature_status: seal.signature_status,
        signer_key_id: seal.signer_key_id.as_deref(),
        manifest: &package.manifest,
        wasm: &package.wasm,
        signature: package.signature.as_deref(),
    };
    let mut details = audit_details(&seal, &plugin);
    details["from_version"] = serde_json::json!(current.version);
    let entry =
        Audit { actor, organization_id: None, action: "upgrade", plugin_id: id, version: Some(&version), details };
    state.db().store_plugin(&new, true, &entry).await?;
    state.plugin_registry().remember(plugin);
    // Pooled connections carry the old build's digest in their fingerprint:
    // idle ones close at their next checkout, lent ones when returned.
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, from = %current.version, to = %version, %actor, "plugin upgraded");
    plugin_info(state, id).await
}

/// Removes an installed plugin; with `force`, even while data sources use
/// it (they are held `inactive`).
pub async fn uninstall_plugin(state: &App, actor: &str, id: &str, force: bool) -> Result<()> {
    let row = state.db().plugin_row(id).await?.ok_or_else(|| Error::not_found("plugin"))?;
    if row.origin != "installed" {
        return Err(Error::conflict(
            "bundled_plugin",
            format!("plugin `{id}` comes from the server's plugins directory; disable it instead"),
        ));
    }
    let types = types_of(state, id);
    let usage = usage(state).await?;
    let in_use: i64 = types.iter().filter_map(|t| usage.get(t)).sum();
    if in_use > 0 && !force {
        return Err(Error::conflict(
            "plugin_in_use",
            format!("{in_use} data sources use plugin `{id}`; delete them first, or uninstall with ?force=true"),
        ));
    }
    let entry = Audit {
        actor,
        organization_id: None,
        action: "uninstall",
        plugin_id: id,
        version: Some(&row.version),
        details: serde_json::json!({ "forced": force, "data_sources": in_use }),
    };
    let held = state.db().remove_plugin(id, &types, &entry).await?;
    for data_source in &held {
        state.retire_connections(data_source).await;
    }
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, forced = force, %actor, "plugin uninstalled");
    Ok(())
}

/// Every plugin the platform knows.
pub async fn plugin_infos(state: &App) -> Result<Vec<PluginInfo>> {
    let catalog = state.connectors().catalog();
    let usage = usage(state).await?;
    Ok(state
        .db()
        .plugin_rows()
        .await?
        .into_iter()
        .map(|row| {
            let plugin = catalog.plugin(&row.id).map(|entry| &entry.plugin);
            info(row, plugin, &usage)
        })
        .collect())
}

fn package_error(error: PackageError) -> Error {
    match error {
        PackageError::TooLarge { .. } => Error::TooLarge { code: error.code(), message: error.to_string() },
        _ => Error::rejected(error.code(), error.to_string()),
    }
}

/// Verifies and compiles a package; nothing is stored yet.
async fn prepare(state: &App, package: &Package) -> Result<(Seal, Arc<LoadedPlugin>)> {
    let Verified { manifest, seal } = package.verify(&state.plugin_registry().trust).map_err(package_error)?;
    // Compiling checks that the wasm is a component of the declared world.
    let wasm = package.wasm.clone();
    let compiler = state.clone();
    let loaded =
        tokio::task::spawn_blocking(move || compiler.connectors().runtime().load_plugin_bytes(manifest, &wasm))
            .await
            .map_err(|e| Error::internal("compiling the plugin panicked", e))?
            .map_err(|e| Error::rejected("plugin_invalid", e.to_string()))?;
    Ok((seal, Arc::new(loaded)))
}

/// Refuses types another plugin already provides.
fn check_type_conflicts(state: &App, plugin: &LoadedPlugin) -> Result<()> {
    let catalog = state.connectors().catalog();
    for spec in &plugin.manifest.types {
        if let Some(found) = catalog.source_type(&spec.id)
            && found.plugin.manifest.id != plugin.manifest.id
        {
            return Err(Error::conflict(
                "type_conflict",
                format!("type `{}` is already provided by plugin `{}`", spec.id, found.plugin.manifest.id),
            ));
        }
    }
    Ok(())
}

fn audit_details(seal: &Seal, plugin: &LoadedPlugin) -> serde_json::Value {
    serde_json::json!({
        "sha256": seal.sha256,
        "signature": seal.signature_status,
        "key_id": seal.signer_key_id,
        "capabilities": capabilities(plugin),
    })
}

/// The platform's switch for a plugin.
pub async fn switch_plugin(state: &App, actor: &str, id: &str, enabled: bool) -> Result<PluginInfo> {
    let row = state.db().plugin_row(id).await?.ok_or_else(|| Error::not_found("plugin"))?;
    let types = types_of(state, id);
    let action = if enabled { "enable" } else { "disable" };
    let entry = Audit {
        actor,
        organization_id: None,
        action,
        plugin_id: id,
        version: Some(&row.version),
        details: serde_json::json!({ "was_enabled": row.enabled != 0 }),
    };
    let changed = state.db().set_plugin_enabled(id, enabled, &types, &entry).await?;
    for data_source in &changed {
        state.retire_connections(data_source).await;
    }
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, action, data_sources = changed.len(), %actor, "plugin switched");
    plugin_info(state, id).await
}

/// A plugin as an organization sees it: the platform's switch and its own.
pub fn org_plugin(plugin: &LoadedPlugin, platform_enabled: bool, org_off: &[String]) -> OrgPlugin {
    OrgPlugin {
        id: plugin.manifest.id.clone(),
        name: plugin.manifest.name.clone(),
        version: plugin.manifest.version.to_string(),
        types: plugin.manifest.types.iter().map(|t| t.id.clone()).collect(),
        platform_enabled,
        enabled: !org_off.contains(&plugin.manifest.id),
    }
}

/// An organization's switch for a platform-enabled plugin; its data sources
/// that the switch stops are retired from their pools.
pub async fn switch_org_plugin(state: &App, actor: &str, org_id: &str, id: &str, enabled: bool) -> Result<OrgPlugin> {
    let catalog = state.connectors().catalog();
    let entry = catalog.plugin(id).ok_or_else(|| Error::not_found("plugin"))?;
    let types: Vec<String> = entry.plugin.manifest.types.iter().map(|t| t.id.clone()).collect();
    let action = if enabled { "organization_enable" } else { "organization_disable" };
    let version = entry.plugin.manifest.version.to_string();
    let audit = Audit {
        actor,
        organization_id: Some(org_id),
        action,
        plugin_id: id,
        version: Some(&version),
        details: serde_json::json!({}),
    };
    let changed = state.db().set_org_plugin_enabled(org_id, id, enabled, entry.enabled, &types, &audit).await?;
    for data_source in &changed {
        state.retire_connections(data_source).await;
    }
    tracing::info!(plugin = %id, organization = %org_id, action, data_sources = changed.len(), "plugin switched for an organization");
    let org_off = state.db().org_disabled_plugins(org_id).await?;
    Ok(org_plugin(&entry.plugin, entry.enabled, &org_off))
}
