//! `/api/v1/plugins` (platform admins): list, inspect, install, upgrade,
//! enable, disable and uninstall connectors, and read the audit log; and
//! `/api/v1/organization/plugins` (organization admins): switch off, for
//! one organization, connectors the platform enables.
//!
//! A package is verified (sizes, manifest, WIT API version, signature under
//! the trust policy) and compiled before anything is stored; every change is
//! audited and applied to this server at once (other replicas follow within
//! seconds).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::data_sources::org_of;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiMultipart, ApiPath, ApiQuery, Auth};
use crate::auth::{Principal, Role};
use crate::db::{Audit, AuditRow, NewPlugin, PluginRow};
use crate::plugin::package::{
    MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, MAX_WASM_BYTES, Package, PackageError, Seal, Verified,
};
use crate::runtime::LoadedPlugin;

/// The body limit of install and upgrade: the largest package and some slack.
pub const MAX_PACKAGE_BYTES: usize = MAX_WASM_BYTES + MAX_MANIFEST_BYTES + MAX_SIGNATURE_BYTES + (1 << 20);

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

#[derive(Debug, Serialize, ToSchema)]
pub struct PluginList {
    pub items: Vec<PluginInfo>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UninstallParams {
    /// Uninstall even though data sources use it (they become `inactive`).
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub plugin_id: Option<String>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub organization_id: Option<String>,
    /// `install`, `upgrade`, `enable`, `disable`, `uninstall`,
    /// `organization_enable`, `organization_disable`.
    pub action: String,
    pub plugin_id: String,
    pub version: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntry>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
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

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgPluginList {
    pub items: Vec<OrgPlugin>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPluginSwitch {
    pub enabled: bool,
}

/// The install/upgrade form (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PluginUpload {
    /// plugin.toml
    manifest: String,
    /// plugin.wasm
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    wasm: String,
    /// plugin.sig (optional)
    signature: Option<String>,
}

fn require_platform_admin(principal: &Principal) -> ApiResult<()> {
    if principal.role == Role::PlatformAdmin {
        Ok(())
    } else {
        Err(ApiError::forbidden("only platform admins manage the platform's plugins"))
    }
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

async fn usage(state: &AppState) -> ApiResult<BTreeMap<String, i64>> {
    Ok(state.db.data_sources_per_type().await?.into_iter().collect())
}

async fn plugin_info(state: &AppState, id: &str) -> ApiResult<PluginInfo> {
    let row = state.db.plugin_row(id).await?.ok_or_else(|| ApiError::not_found("plugin"))?;
    let catalog = state.connectors.catalog();
    let plugin = catalog.plugin(id).map(|entry| &entry.plugin);
    Ok(info(row, plugin, &usage(state).await?))
}

/// The types a plugin provides, from the running set or its bundled copy.
fn types_of(state: &AppState, id: &str) -> Vec<String> {
    let catalog = state.connectors.catalog();
    let plugin = catalog.plugin(id).map(|entry| entry.plugin.clone()).or_else(|| state.plugins.bundled(id).cloned());
    plugin.map(|p| p.manifest.types.iter().map(|t| t.id.clone()).collect()).unwrap_or_default()
}

/// Verifies, compiles, stores and starts a new plugin (the API's and the
/// CLI's install).
pub async fn install_package(state: &AppState, actor: &str, package: &Package) -> ApiResult<PluginInfo> {
    let (seal, plugin) = prepare(state, package).await?;
    let id = plugin.manifest.id.clone();
    if state.db.plugin_row(&id).await?.is_some() {
        return Err(ApiError::conflict(
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
    state.db.store_plugin(&new, false, &entry).await?;
    state.plugins.remember(plugin);
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, %version, %actor, "plugin installed");
    plugin_info(state, &id).await
}

/// Replaces an installed or bundled plugin with a newer version of it.
pub async fn upgrade_package(state: &AppState, actor: &str, id: &str, package: &Package) -> ApiResult<PluginInfo> {
    let current = state.db.plugin_row(id).await?.ok_or_else(|| ApiError::not_found("plugin"))?;
    let (seal, plugin) = prepare(state, package).await?;
    if plugin.manifest.id != id {
        return Err(ApiError::unprocessable(
            "plugin_id_mismatch",
            format!("the package is plugin `{}`, not `{id}`", plugin.manifest.id),
        ));
    }
    let from = semver::Version::parse(&current.version).ok();
    if from.as_ref().is_some_and(|from| plugin.manifest.version <= *from) {
        return Err(ApiError::conflict(
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
        return Err(ApiError::conflict(
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
    state.db.store_plugin(&new, true, &entry).await?;
    state.plugins.remember(plugin);
    // Pooled connections carry the old build's digest in their fingerprint:
    // idle ones close at their next checkout, lent ones when returned.
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, from = %current.version, to = %version, %actor, "plugin upgraded");
    plugin_info(state, id).await
}

/// Removes an installed plugin; with `force`, even while data sources use
/// it (they are held `inactive`).
pub async fn uninstall_plugin(state: &AppState, actor: &str, id: &str, force: bool) -> ApiResult<()> {
    let row = state.db.plugin_row(id).await?.ok_or_else(|| ApiError::not_found("plugin"))?;
    if row.origin != "installed" {
        return Err(ApiError::conflict(
            "bundled_plugin",
            format!("plugin `{id}` comes from the server's plugins directory; disable it instead"),
        ));
    }
    let types = types_of(state, id);
    let usage = usage(state).await?;
    let in_use: i64 = types.iter().filter_map(|t| usage.get(t)).sum();
    if in_use > 0 && !force {
        return Err(ApiError::conflict(
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
    let held = state.db.remove_plugin(id, &types, &entry).await?;
    for data_source in &held {
        state.pools.invalidate(data_source).await;
    }
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, forced = force, %actor, "plugin uninstalled");
    Ok(())
}

/// Every plugin the platform knows.
pub async fn plugin_infos(state: &AppState) -> ApiResult<Vec<PluginInfo>> {
    let catalog = state.connectors.catalog();
    let usage = usage(state).await?;
    Ok(state
        .db
        .plugin_rows()
        .await?
        .into_iter()
        .map(|row| {
            let plugin = catalog.plugin(&row.id).map(|entry| &entry.plugin);
            info(row, plugin, &usage)
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, body = PluginList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<PluginList>> {
    require_platform_admin(&principal)?;
    let items = plugin_infos(&state).await?;
    let total = items.len() as i64;
    let page_size = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
    Ok(Json(PluginList { items, total, page: 1, page_size }))
}

#[utoipa::path(get, path = "/api/v1/plugins/{plugin_id}", tag = "plugins", params(("plugin_id" = String, Path)),
    responses((status = 200, body = PluginInfo), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PluginInfo>> {
    require_platform_admin(&principal)?;
    Ok(Json(plugin_info(&state, &id).await?))
}

/// Reads the package's parts from the form, each within its limit.
async fn read_package(mut form: axum::extract::Multipart) -> ApiResult<Package> {
    let malformed = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("the multipart body is malformed: {}", e.body_text())).with_code("invalid_body")
    };
    let (mut manifest, mut wasm, mut signature) = (None, None, None);
    while let Some(mut field) = form.next_field().await.map_err(malformed)? {
        let (slot, limit, name) = match field.name() {
            Some("manifest") => (&mut manifest, MAX_MANIFEST_BYTES, "manifest"),
            Some("wasm") => (&mut wasm, MAX_WASM_BYTES, "wasm"),
            Some("signature") => (&mut signature, MAX_SIGNATURE_BYTES, "signature"),
            _ => continue,
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the {name} is larger than {limit} bytes"),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        *slot = Some(bytes);
    }
    let text = |bytes: Vec<u8>, name: &str| {
        String::from_utf8(bytes)
            .map_err(|_| ApiError::bad_request(format!("the {name} is not UTF-8 text")).with_code("invalid_body"))
    };
    let missing = |name: &str| {
        ApiError::bad_request(format!(
            "send the plugin as multipart fields `manifest`, `wasm` and optionally `signature`; `{name}` is missing"
        ))
        .with_code("invalid_body")
    };
    Ok(Package {
        manifest: text(manifest.ok_or_else(|| missing("manifest"))?, "manifest")?,
        wasm: wasm.ok_or_else(|| missing("wasm"))?,
        signature: signature.map(|bytes| text(bytes, "signature")).transpose()?,
    })
}

fn package_error(error: PackageError) -> ApiError {
    let status = match error {
        PackageError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, error.code(), error.to_string())
}

/// Verifies and compiles a package; nothing is stored yet.
async fn prepare(state: &AppState, package: &Package) -> ApiResult<(Seal, Arc<LoadedPlugin>)> {
    let Verified { manifest, seal } = package.verify(&state.plugins.trust).map_err(package_error)?;
    // Compiling checks that the wasm is a component of the declared world.
    let wasm = package.wasm.clone();
    let compiler = state.clone();
    let loaded = tokio::task::spawn_blocking(move || compiler.connectors.runtime().load_plugin_bytes(manifest, &wasm))
        .await
        .map_err(|e| ApiError::internal("compiling the plugin panicked", e))?
        .map_err(|e| ApiError::unprocessable("plugin_invalid", e.to_string()))?;
    Ok((seal, Arc::new(loaded)))
}

/// Refuses types another plugin already provides.
fn check_type_conflicts(state: &AppState, plugin: &LoadedPlugin) -> ApiResult<()> {
    let catalog = state.connectors.catalog();
    for spec in &plugin.manifest.types {
        if let Some(found) = catalog.source_type(&spec.id)
            && found.plugin.manifest.id != plugin.manifest.id
        {
            return Err(ApiError::conflict(
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

#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins",
    request_body(content = PluginUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = PluginInfo), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn install(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiMultipart(form): ApiMultipart,
) -> ApiResult<Response> {
    require_platform_admin(&principal)?;
    let package = read_package(form).await?;
    let body = install_package(&state, &principal.actor, &package).await?;
    let id = body.id.clone();
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, format!("/api/v1/plugins/{id}"))], Json(body))
        .into_response())
}

#[utoipa::path(put, path = "/api/v1/plugins/{plugin_id}", tag = "plugins", params(("plugin_id" = String, Path)),
    request_body(content = PluginUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = PluginInfo), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
              (status = 413, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)))]
pub async fn upgrade(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiMultipart(form): ApiMultipart,
) -> ApiResult<Json<PluginInfo>> {
    require_platform_admin(&principal)?;
    let package = read_package(form).await?;
    Ok(Json(upgrade_package(&state, &principal.actor, &id, &package).await?))
}

/// The platform's switch for a plugin.
pub async fn switch_plugin(state: &AppState, actor: &str, id: &str, enabled: bool) -> ApiResult<PluginInfo> {
    let row = state.db.plugin_row(id).await?.ok_or_else(|| ApiError::not_found("plugin"))?;
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
    let changed = state.db.set_plugin_enabled(id, enabled, &types, &entry).await?;
    for data_source in &changed {
        state.pools.invalidate(data_source).await;
    }
    state.sync_plugins(true).await?;
    tracing::info!(plugin = %id, action, data_sources = changed.len(), %actor, "plugin switched");
    plugin_info(state, id).await
}

#[utoipa::path(post, path = "/api/v1/plugins/{plugin_id}/enable", tag = "plugins", params(("plugin_id" = String, Path)),
    responses((status = 200, body = PluginInfo), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PluginInfo>> {
    require_platform_admin(&principal)?;
    Ok(Json(switch_plugin(&state, &principal.actor, &id, true).await?))
}

#[utoipa::path(post, path = "/api/v1/plugins/{plugin_id}/disable", tag = "plugins", params(("plugin_id" = String, Path)),
    responses((status = 200, body = PluginInfo), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<PluginInfo>> {
    require_platform_admin(&principal)?;
    Ok(Json(switch_plugin(&state, &principal.actor, &id, false).await?))
}

#[utoipa::path(delete, path = "/api/v1/plugins/{plugin_id}", tag = "plugins",
    params(("plugin_id" = String, Path), UninstallParams),
    responses((status = 204), (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn uninstall(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<UninstallParams>,
) -> ApiResult<StatusCode> {
    require_platform_admin(&principal)?;
    uninstall_plugin(&state, &principal.actor, &id, params.force.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/plugins/audit", tag = "plugins", params(AuditParams),
    responses((status = 200, body = AuditList), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditList>> {
    require_platform_admin(&principal)?;
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(50);
    if page == 0 || !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request("page starts at 1; page_size is 1-100").with_code("invalid_query"));
    }
    let offset = i64::from(page - 1) * i64::from(page_size);
    let (rows, total) = state.db.plugin_audit(params.plugin_id.as_deref(), i64::from(page_size), offset).await?;
    let items = rows.into_iter().map(audit_entry).collect();
    Ok(Json(AuditList { items, total, page, page_size }))
}

fn audit_entry(row: AuditRow) -> AuditEntry {
    AuditEntry {
        details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
        id: row.id,
        at: row.at,
        actor: row.actor,
        organization_id: row.organization_id,
        action: row.action,
        plugin_id: row.plugin_id,
        version: row.version,
    }
}

fn org_plugin(plugin: &LoadedPlugin, platform_enabled: bool, org_off: &[String]) -> OrgPlugin {
    OrgPlugin {
        id: plugin.manifest.id.clone(),
        name: plugin.manifest.name.clone(),
        version: plugin.manifest.version.to_string(),
        types: plugin.manifest.types.iter().map(|t| t.id.clone()).collect(),
        platform_enabled,
        enabled: !org_off.contains(&plugin.manifest.id),
    }
}

#[utoipa::path(get, path = "/api/v1/organization/plugins", tag = "plugins",
    responses((status = 200, body = OrgPluginList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)))]
pub async fn org_list(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<OrgPluginList>> {
    let org_id = org_of(&principal)?;
    let org_off = state.db.org_disabled_plugins(org_id).await?;
    let catalog = state.connectors.catalog();
    let items: Vec<OrgPlugin> =
        catalog.entries().iter().map(|entry| org_plugin(&entry.plugin, entry.enabled, &org_off)).collect();
    let total = items.len() as i64;
    let page_size = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
    Ok(Json(OrgPluginList { items, total, page: 1, page_size }))
}

#[utoipa::path(put, path = "/api/v1/organization/plugins/{plugin_id}", tag = "plugins",
    params(("plugin_id" = String, Path)), request_body = OrgPluginSwitch,
    responses((status = 200, body = OrgPlugin), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn org_switch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OrgPluginSwitch>,
) -> ApiResult<Json<OrgPlugin>> {
    let org_id = org_of(&principal)?.to_owned();
    if !principal.is_org_admin() {
        return Err(ApiError::forbidden("only organization admins switch connectors for their organization"));
    }
    let catalog = state.connectors.catalog();
    let entry = catalog.plugin(&id).ok_or_else(|| ApiError::not_found("plugin"))?;
    let types: Vec<String> = entry.plugin.manifest.types.iter().map(|t| t.id.clone()).collect();
    let action = if body.enabled { "organization_enable" } else { "organization_disable" };
    let version = entry.plugin.manifest.version.to_string();
    let audit = Audit {
        actor: &principal.actor,
        organization_id: Some(&org_id),
        action,
        plugin_id: &id,
        version: Some(&version),
        details: serde_json::json!({}),
    };
    let changed = state.db.set_org_plugin_enabled(&org_id, &id, body.enabled, entry.enabled, &types, &audit).await?;
    for data_source in &changed {
        state.pools.invalidate(data_source).await;
    }
    tracing::info!(plugin = %id, organization = %org_id, action, data_sources = changed.len(), "plugin switched for an organization");
    let org_off = state.db.org_disabled_plugins(&org_id).await?;
    Ok(Json(org_plugin(&entry.plugin, entry.enabled, &org_off)))
}
