//! `/api/v1/plugins` (platform admins): list, inspect, install, upgrade,
//! enable, disable and uninstall connectors, and read the audit log; and
//! `/api/v1/organization/plugins` (organization admins): switch off, for
//! one organization, connectors the platform enables.
//!
//! The rules (verify and compile a package before anything is stored, audit
//! every change, apply it at once) are the core's ([`crate::core::plugins`]).

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
use crate::core::plugins;
pub use crate::core::plugins::{
    Capabilities, FileCapability, HttpCapability, OrgPlugin, PluginInfo, SignatureInfo, TcpCapability, TypeCapabilities,
};
use crate::db::AuditRow;
use crate::plugin::package::{MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, MAX_WASM_BYTES, Package};

/// The body limit of install and upgrade: the largest package and some slack.
pub const MAX_PACKAGE_BYTES: usize = MAX_WASM_BYTES + MAX_MANIFEST_BYTES + MAX_SIGNATURE_BYTES + (1 << 20);

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

#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, body = PluginList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<PluginList>> {
    require_platform_admin(&principal)?;
    let items = plugins::plugin_infos(&state).await?;
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
    Ok(Json(plugins::plugin_info(&state, &id).await?))
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
    let body = plugins::install_package(&state, &principal.actor, &package).await?;
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
    Ok(Json(plugins::upgrade_package(&state, &principal.actor, &id, &package).await?))
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
    Ok(Json(plugins::switch_plugin(&state, &principal.actor, &id, true).await?))
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
    Ok(Json(plugins::switch_plugin(&state, &principal.actor, &id, false).await?))
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
    plugins::uninstall_plugin(&state, &principal.actor, &id, params.force.unwrap_or(false)).await?;
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
    let (rows, total) = state.db().plugin_audit(params.plugin_id.as_deref(), i64::from(page_size), offset).await?;
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

#[utoipa::path(get, path = "/api/v1/organization/plugins", tag = "plugins",
    responses((status = 200, body = OrgPluginList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)))]
pub async fn org_list(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<OrgPluginList>> {
    let org_id = org_of(&principal)?;
    let org_off = state.db().org_disabled_plugins(org_id).await?;
    let catalog = state.connectors().catalog();
    let items: Vec<OrgPlugin> =
        catalog.entries().iter().map(|entry| plugins::org_plugin(&entry.plugin, entry.enabled, &org_off)).collect();
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
    Ok(Json(plugins::switch_org_plugin(&state, &principal.actor, &org_id, &id, body.enabled).await?))
}
