//! Handlers of `/api/v1/data-sources` and `/api/v1/data-source-types`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::dto::*;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use super::{AppState, CheckOrigin};
use crate::auth::Principal;
use crate::connectors::{TestOutcome, TypeRef};
use crate::db::{DataSourceRow, ListFilter, NewDataSource, SideData, SortKey, new_id, now};
use crate::plugin::{ConfigError, SSH_SECRET_FIELDS, Secrets, SourceType, retarget};

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_TAGS: usize = 50;
const MAX_TAG: usize = 64;
const MAX_SECRET: usize = 64 * 1024;
const MAX_HEALTH_INTERVAL_S: u32 = 86_400;

/// The caller's organization; platform admins without one cannot use
/// organization-scoped endpoints.
pub(super) fn org_of(principal: &Principal) -> ApiResult<&str> {
    principal
        .org_id
        .as_deref()
        .ok_or_else(|| ApiError::forbidden("this token belongs to no organization; use an organization token"))
}

fn require_write(principal: &Principal) -> ApiResult<()> {
    if principal.can_write() { Ok(()) } else { Err(ApiError::forbidden("viewers cannot change data sources")) }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::unprocessable("validation_failed", format!("{field}: {message}"))
        .with_details(json!({ "fields": [{ "field": field, "message": message }] }))
}

/// Loads a data source the caller may see; anything else is 404.
pub(super) async fn visible_row(state: &AppState, principal: &Principal, id: &str) -> ApiResult<DataSourceRow> {
    let org_id = org_of(principal)?;
    let row = state.db.data_source(org_id, id, false).await?.ok_or_else(|| ApiError::not_found("data source"))?;
    if principal.workspaces.is_some() {
        let shares: Vec<String> =
            state.db.shares_of(std::slice::from_ref(&row.id)).await?.into_iter().map(|(_, w)| w).collect();
        if !principal.sees(&row.workspace_id, &shares) {
            return Err(ApiError::not_found("data source"));
        }
    }
    Ok(row)
}

/// Loads a data source the caller may change: visible, and owned by one of
/// the caller's workspaces (or the caller is an org admin). A share with the
/// caller's workspace grants use (read, test, discover), never change: 403.
pub(super) async fn changeable_row(state: &AppState, principal: &Principal, id: &str) -> ApiResult<DataSourceRow> {
    require_write(principal)?;
    let row = visible_row(state, principal, id).await?;
    if !principal.may_change(&row.workspace_id) {
        return Err(ApiError::forbidden(
            "this data source is shared with your workspace: you may use it, only its own workspace may change it",
        ));
    }
    Ok(row)
}

/// 422 `credentials_required`: the change sends the stored credentials
/// elsewhere, so they must be sent again with it.
fn credentials_required(retargeted: &[String], missing: &[String]) -> ApiError {
    ApiError::unprocessable(
        "credentials_required",
        format!(
            "changing {} sends this data source's credentials elsewhere: send {} again under `credentials` in the same request",
            retargeted.join(", "),
            missing.join(", ")
        ),
    )
    .with_details(json!({ "changed": retargeted, "credentials": missing }))
}

/// Checks that every named credential is a secret field of this type (or an
/// SSH field of a type that can use a tunnel).
fn check_secret_names(spec: &SourceType, secrets: &Secrets) -> ApiResult<()> {
    for field in secrets.names() {
        let ssh_field = spec.network.is_some() && SSH_SECRET_FIELDS.contains(&field);
        if !spec.is_secret(field) && !ssh_field {
            return Err(invalid(&format!("/credentials/{field}"), "is not a secret field of this type"));
        }
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(invalid("/name", format!("must be 1-{MAX_NAME} characters without control characters")));
    }
    Ok(name.to_owned())
}

fn check_description(description: Option<String>) -> ApiResult<Option<String>> {
    match description {
        Some(text) if text.chars().count() > MAX_DESCRIPTION => {
            Err(invalid("/description", format!("must be at most {MAX_DESCRIPTION} characters")))
        }
        Some(text) if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') => {
            Err(invalid("/description", "must not contain control characters"))
        }
        other => Ok(other),
    }
}

fn check_tags(tags: Vec<String>) -> ApiResult<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(invalid("/tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.into_iter().enumerate() {
        let tag = tag.trim().to_owned();
        if tag.is_empty() || tag.chars().count() > MAX_TAG || tag.chars().any(char::is_control) {
            return Err(invalid(&format!("/tags/{i}"), format!("must be 1-{MAX_TAG} characters")));
        }
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

fn check_interval(state: &AppState, interval: u32) -> ApiResult<u32> {
    let min = state.health.min_interval_s;
    if !(min..=MAX_HEALTH_INTERVAL_S).contains(&interval) {
        return Err(invalid("/health_check_interval_s", format!("must be between {min} and {MAX_HEALTH_INTERVAL_S}")));
    }
    Ok(interval)
}

fn check_settings(settings: &ConnectionSettings) -> ApiResult<()> {
    settings.check().map_err(|(field, message)| invalid(&field, message))
}

fn check_refresh(state: &AppState, refresh: &SchemaRefresh) -> ApiResult<()> {
    let min = state.health.min_schema_refresh_s;
    if !(min..=604_800).contains(&refresh.interval_s) {
        return Err(invalid("/schema_refresh/interval_s", format!("must be between {min} and 604800")));
    }
    Ok(())
}

/// A tunnel's settings, and when it is enabled, that this type can use one,
/// that its host key is pinned (or the server trusts on first use) and that
/// the credentials its authentication needs are there.
fn check_tunnel(state: &AppState, spec: &SourceType, tunnel: &Option<SshTunnel>, ssh: &Secrets) -> ApiResult<()> {
    let Some(tunnel) = tunnel else { return Ok(()) };
    if tunnel.host.trim().is_empty() || tunnel.username.trim().is_empty() {
        return Err(invalid("/ssh_tunnel", "host and username are required"));
    }
    if tunnel.port == 0 {
        return Err(invalid("/ssh_tunnel/port", "must be a port number"));
    }
    if let Some(fingerprint) = &tunnel.host_key_fingerprint
        && !is_sha256_fingerprint(fingerprint)
    {
        return Err(invalid("/ssh_tunnel/host_key_fingerprint", "use the SHA256:… form that ssh-keygen -lf prints"));
    }
    if !tunnel.enabled {
        return Ok(());
    }
    if spec.network.is_none() {
        return Err(invalid("/ssh_tunnel", "only data sources reached over TCP can use an SSH tunnel"));
    }
    if tunnel.host_key_fingerprint.is_none() && !state.ssh_trust_on_first_use {
        return Err(invalid(
            "/ssh_tunnel/host_key_fingerprint",
            "is required: this server does not trust host keys on first use (INLET_SSH_TRUST_ON_FIRST_USE)",
        ));
    }
    let needed = match tunnel.auth {
        SshAuth::Password => "ssh_password",
        SshAuth::PrivateKey => "ssh_private_key",
    };
    if !ssh.contains(needed) {
        return Err(invalid(&format!("/credentials/{needed}"), "is required by the tunnel's authentication"));
    }
    Ok(())
}

/// `SHA256:` and 43 characters of unpadded base64: a SHA-256 digest.
fn is_sha256_fingerprint(text: &str) -> bool {
    text.strip_prefix("SHA256:").is_some_and(|digest| {
        digest.len() == 43 && digest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    })
}

/// A file type's config that names a stored file by the deprecated
/// `storage_file_id`: rewritten to `file_path: storage://<id>`. True when it
/// did, so the answer can carry a deprecation notice.
fn migrate_storage_file_id(spec: &SourceType, config: &mut Value) -> bool {
    let (Some(file), Value::Object(fields)) = (&spec.file, config) else { return false };
    let Some(Value::String(id)) = fields.get("storage_file_id").cloned() else { return false };
    fields.remove("storage_file_id");
    fields.entry(file.path_field.clone()).or_insert_with(|| Value::String(format!("{}{id}", crate::storage::SCHEME)));
    true
}

/// A file type's `file_path` must name a stored file the caller can see
/// (`storage://<id>`, parsed strictly) or a server path the files policy
/// allows (by default none: `INLET_FILES_ROOT`).
async fn check_file_path(state: &AppState, principal: &Principal, spec: &SourceType, config: &Value) -> ApiResult<()> {
    let Some(file) = &spec.file else { return Ok(()) };
    let Some(path) = config.get(&file.path_field).and_then(Value::as_str) else { return Ok(()) };
    let field = format!("/config/{}", file.path_field);
    match crate::storage::StorageRef::parse(path).map_err(|error| invalid(&field, error.to_string()))? {
        Some(reference) => match super::storage::visible_file(state, principal, reference.id()).await {
            Ok(_) => Ok(()),
            Err(error) if error.status == StatusCode::NOT_FOUND => {
                Err(invalid(&field, format!("no stored file `{}` in your workspaces", reference.id())))
            }
            Err(error) => Err(error),
        },
        None => state.connectors.sandbox().files.check(path).map_err(|error| invalid(&field, error.to_string())),
    }
}

/// The notice on answers to requests that used `storage_file_id`.
fn deprecation_headers() -> [(axum::http::HeaderName, &'static str); 2] {
    [
        (axum::http::HeaderName::from_static("deprecation"), "true"),
        (axum::http::header::WARNING, "299 - \"config.storage_file_id is deprecated: use file_path (storage://<id>)\""),
    ]
}

/// Splits credentials into the connector's and the tunnel's; SSH fields are
/// accepted only for types that can use a tunnel.
fn split_credentials(spec: &SourceType, mut secrets: Secrets) -> ApiResult<(Secrets, Secrets)> {
    let ssh = secrets.split_off(&SSH_SECRET_FIELDS);
    if spec.network.is_none()
        && let Some(field) = ssh.names().next()
    {
        return Err(invalid(
            &format!("/credentials/{field}"),
            "only data sources reached over TCP have SSH credentials",
        ));
    }
    Ok((secrets, ssh))
}

fn config_error(error: ConfigError) -> ApiError {
    let fields: Vec<Value> = error
        .field_errors()
        .into_iter()
        .map(|f| json!({ "field": if f.field.is_empty() { "/config".to_owned() } else { format!("/config{}", f.field) }, "message": f.message }))
        .collect();
    ApiError::unprocessable("validation_failed", error.to_string()).with_details(json!({ "fields": fields }))
}

/// The type's plugin and spec, or 422 when no plugin provides it.
fn known_type(state: &AppState, source_type: &str) -> ApiResult<TypeRef> {
    state.connectors.source_type(source_type).ok_or_else(|| {
        ApiError::unprocessable("unknown_type", format!("no enabled connector provides the type `{source_type}`"))
            .with_details(json!({ "fields": [{ "field": "/type", "message": "unknown or disabled type" }] }))
    })
}

/// [`known_type`], and usable by the organization: a type whose plugin the
/// platform or the organization disabled is `status` `plugin_disabled`
/// (422 when creating, 409 for an existing data source).
async fn usable_type(state: &AppState, org_id: &str, source_type: &str, status: StatusCode) -> ApiResult<TypeRef> {
    let found = known_type(state, source_type)?;
    let plugin = &found.plugin.manifest.id;
    let who = if !found.enabled {
        Some("the platform")
    } else if state.db.org_disabled_plugins(org_id).await?.contains(plugin) {
        Some("this organization")
    } else {
        None
    };
    if let Some(who) = who {
        return Err(ApiError::new(
            status,
            "plugin_disabled",
            format!("the `{plugin}` connector, which provides `{source_type}`, is disabled by {who}"),
        ));
    }
    Ok(found)
}

fn secrets_from(credentials: BTreeMap<String, String>) -> ApiResult<Secrets> {
    let mut secrets = Secrets::new();
    for (field, value) in credentials {
        if value.len() > MAX_SECRET {
            return Err(invalid(&format!("/credentials/{field}"), "is longer than 64 KiB"));
        }
        secrets.insert(field, value);
    }
    Ok(secrets)
}

async fn to_dto(state: &AppState, rows: Vec<DataSourceRow>) -> ApiResult<Vec<DataSource>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let SideData { mut tags, mut shares, secret_fields: mut secrets } = state.db.side_data_of(&ids).await?;
    rows.into_iter()
        .map(|row| {
            let corrupt =
                |what: &str, e: serde_json::Error| ApiError::internal(&format!("stored {what} is not valid"), e);
            let status = serde_json::from_value(Value::String(row.status.clone())).map_err(|e| corrupt("status", e))?;
            Ok(DataSource {
                config: serde_json::from_str(&row.config).map_err(|e| corrupt("config", e))?,
                connection_settings: serde_json::from_str(&row.connection_settings)
                    .map_err(|e| corrupt("connection settings", e))?,
                ssh_tunnel: row
                    .ssh_tunnel
                    .as_deref()
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| corrupt("tunnel", e))?,
                schema_refresh: serde_json::from_str(&row.schema_refresh).map_err(|e| corrupt("schema refresh", e))?,
                last_test: row.last_test.as_deref().and_then(|text| serde_json::from_str::<TestOutcome>(text).ok()),
                circuit_breaker: CircuitBreaker::of(&crate::health::Breaker::of_row(&row)),
                secret_fields: secrets.remove(&row.id).unwrap_or_default(),
                tags: tags.remove(&row.id).unwrap_or_default(),
                shared_with_workspaces: shares.remove(&row.id).unwrap_or_default(),
                health_check_interval_s: u32::try_from(row.health_check_interval_s).unwrap_or(60),
                status,
                id: row.id,
                organization_id: row.organization_id,
                workspace_id: row.workspace_id,
                name: row.name,
                description: row.description,
                source_type: row.source_type,
                status_reason: row.status_reason,
                last_tested_at: row.last_tested_at,
                created_at: row.created_at,
                created_by: row.created_by,
                updated_at: row.updated_at,
                updated_by: row.updated_by,
                deleted_at: row.deleted_at,
                deleted_by: row.deleted_by,
            })
        })
        .collect()
}

async fn one_dto(state: &AppState, row: DataSourceRow) -> ApiResult<DataSource> {
    to_dto(state, vec![row]).await?.pop().ok_or_else(|| ApiError::internal("data source vanished", "empty"))
}

/// Workspaces named in a request must belong to the caller's organization
/// (and, for members, be theirs).
async fn check_workspaces(
    state: &AppState,
    principal: &Principal,
    org_id: &str,
    ids: &[String],
    field: &str,
) -> ApiResult<()> {
    let known: Vec<String> = state.db.workspaces(org_id).await?.into_iter().map(|w| w.id).collect();
    for (i, id) in ids.iter().enumerate() {
        if !known.contains(id) || !principal.may_use_workspace(id) {
            return Err(invalid(&format!("{field}/{i}"), "unknown workspace"));
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/data-sources", params(ListParams), tag = "data-sources",
    responses((status = 200, body = DataSourceList), (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Response> {
    let org_id = org_of(&principal)?;
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(20);
    if page == 0 {
        return Err(ApiError::bad_request("page starts at 1").with_code("invalid_query"));
    }
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request("page_size must be between 1 and 100").with_code("invalid_query"));
    }
    let sort = params.sort.as_deref().unwrap_or("-created_at");
    let (descending, key) = match sort.strip_prefix('-') {
        Some(key) => (true, key),
        None => (false, sort),
    };
    let sort = match key {
        "name" => SortKey::Name,
        "created_at" => SortKey::CreatedAt,
        "updated_at" => SortKey::UpdatedAt,
        "status" => SortKey::Status,
        "type" => SortKey::Type,
        other => {
            return Err(ApiError::bad_request(format!(
                "cannot sort by `{other}`: use name, created_at, updated_at, status or type, with - for descending"
            ))
            .with_code("invalid_query"));
        }
    };
    let filter = ListFilter {
        org_id: org_id.to_owned(),
        visible_workspaces: principal.workspaces.clone(),
        source_type: params.source_type,
        status: params.status.map(|s| s.as_str().to_owned()),
        workspace_id: params.workspace_id,
        search: params.search.filter(|s| !s.is_empty()),
        tag: params.tag,
        include_deleted: params.include_deleted.unwrap_or(false),
        sort,
        descending,
        limit: i64::from(page_size),
        offset: i64::from(page - 1) * i64::from(page_size),
    };
    if let Some(cached) = state.reads.page(&state.db, &filter) {
        return Ok(cached);
    }
    let ticket = state.reads.ticket(&state.db, org_id);
    let (rows, total) = state.db.list_data_sources(&filter).await?;
    let list = DataSourceList { items: to_dto(&state, rows).await?, total, page, page_size };
    state.reads.store_page(ticket, filter, &list)
}

#[utoipa::path(post, path = "/api/v1/data-sources", request_body = CreateDataSource, tag = "data-sources",
    responses((status = 201, body = DataSource), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(mut body): ApiJson<CreateDataSource>,
) -> ApiResult<Response> {
    require_write(&principal)?;
    let org_id = org_of(&principal)?.to_owned();
    let name = check_name(&body.name)?;
    let description = check_description(body.description)?;
    let found = usable_type(&state, &org_id, &body.source_type, StatusCode::UNPROCESSABLE_ENTITY).await?;
    let spec = found.spec();
    let deprecated = migrate_storage_file_id(spec, &mut body.config);
    let (connector_secrets, ssh_secrets) =
        split_credentials(spec, secrets_from(body.credentials.unwrap_or_default())?)?;
    spec.validate(&body.config, &connector_secrets).map_err(config_error)?;
    check_file_path(&state, &principal, spec, &body.config).await?;
    let settings = body.connection_settings.unwrap_or_default();
    check_settings(&settings)?;
    check_tunnel(&state, spec, &body.ssh_tunnel, &ssh_secrets)?;
    let mut secrets = connector_secrets;
    for (field, value) in ssh_secrets.iter() {
        secrets.insert(field, value);
    }
    let refresh = body.schema_refresh.unwrap_or_default();
    check_refresh(&state, &refresh)?;
    let interval = check_interval(&state, body.health_check_interval_s.unwrap_or(60))?;
    let tags = check_tags(body.tags.unwrap_or_default())?;
    let workspace_id = match body.workspace_id {
        Some(id) => {
            check_workspaces(&state, &principal, &org_id, std::slice::from_ref(&id), "/workspace_id")
                .await
                .map_err(|_| invalid("/workspace_id", "unknown workspace"))?;
            id
        }
        None => {
            let default = state.db.default_workspace(&org_id).await?.id;
            if !principal.may_use_workspace(&default) {
                return Err(invalid("/workspace_id", "name one of your workspaces"));
            }
            default
        }
    };
    let shared = body.shared_with_workspaces.unwrap_or_default();
    check_workspaces(&state, &principal, &org_id, &shared, "/shared_with_workspaces").await?;
    let id = new_id();
    let sealed = state.seal_secrets(&org_id, &id, &secrets).await?;
    drop(secrets);
    let at = now();
    let row = DataSourceRow {
        id: id.clone(),
        organization_id: org_id,
        workspace_id,
        name,
        description,
        source_type: body.source_type,
        config: body.config.to_string(),
        connection_settings: to_json(&settings)?,
        ssh_tunnel: body.ssh_tunnel.as_ref().map(to_json).transpose()?,
        schema_refresh: to_json(&refresh)?,
        health_check_interval_s: i64::from(interval),
        status: Status::Testing.as_str().to_owned(),
        status_reason: None,
        last_test: None,
        last_tested_at: None,
        created_at: at.clone(),
        created_by: Some(principal.actor.clone()),
        updated_at: at,
        updated_by: Some(principal.actor.clone()),
        deleted_at: None,
        deleted_by: None,
        version: 1,
        breaker_state: crate::health::BreakerState::Closed.as_str().to_owned(),
        breaker_failures: 0,
        breaker_opens: 0,
        breaker_open_until: None,
        next_discovery_at: None,
    };
    state
        .db
        .insert_data_source(&NewDataSource { row: row.clone(), tags, shared_with: shared, secrets: sealed })
        .await?;
    state.spawn_test(row.clone(), CheckOrigin::Create);
    let dto = one_dto(&state, row).await?;
    let mut response =
        (StatusCode::CREATED, [(axum::http::header::LOCATION, format!("/api/v1/data-sources/{id}"))], Json(dto))
            .into_response();
    if deprecated {
        response.headers_mut().extend(deprecation_headers().map(|(k, v)| (k, axum::http::HeaderValue::from_static(v))));
    }
    Ok(response)
}

/// Our own settings as stored JSON.
fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::internal("cannot serialize settings", e))
}

#[utoipa::path(get, path = "/api/v1/data-sources/{data_source_id}", tag = "data-sources",
    params(("data_source_id" = String, Path)),
    responses((status = 200, body = DataSource), (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let org_id = org_of(&principal)?;
    if let Some(cached) = state.reads.detail(&state.db, org_id, &id) {
        return cached.visible_to(&principal).ok_or_else(|| ApiError::not_found("data source"));
    }
    let ticket = state.reads.ticket(&state.db, org_id);
    let row = visible_row(&state, &principal, &id).await?;
    let dto = one_dto(&state, row).await?;
    state.reads.store_detail(ticket, &dto, &dto.id, org_id, &dto.workspace_id, &dto.shared_with_workspaces)
}

#[utoipa::path(patch, path = "/api/v1/data-sources/{data_source_id}", request_body = UpdateDataSource, tag = "data-sources",
    params(("data_source_id" = String, Path)),
    responses((status = 200, body = DataSource), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut body): ApiJson<UpdateDataSource>,
) -> ApiResult<Response> {
    let mut row = changeable_row(&state, &principal, &id).await?;
    let org_id = row.organization_id.clone();
    let deprecated = match (&mut body.config, state.connectors.source_type(&row.source_type)) {
        (Some(config), Some(found)) => migrate_storage_file_id(found.spec(), config),
        _ => false,
    };
    if let Some(name) = &body.name {
        row.name = check_name(name)?;
    }
    if let Some(description) = body.description {
        row.description = check_description(description)?;
    }
    let config_changed =
        body.config.as_ref().is_some_and(|c| serde_json::from_str::<Value>(&row.config).ok().as_ref() != Some(c));
    let given = secrets_from(body.credentials.take().unwrap_or_default())?;
    if body.config.is_some() || body.ssh_tunnel.is_some() || !given.is_empty() {
        let found = usable_type(&state, &org_id, &row.source_type, StatusCode::CONFLICT).await?;
        let spec = found.spec();
        check_secret_names(spec, &given)?;
        let stored = state.open_secrets(&row).await?;
        let before: Value =
            serde_json::from_str(&row.config).map_err(|e| ApiError::internal("stored config is not JSON", e))?;
        let tunnel_changed = match &body.ssh_tunnel {
            None => false,
            Some(tunnel) => {
                let stored_tunnel: Option<Value> = row.ssh_tunnel.as_deref().and_then(|t| serde_json::from_str(t).ok());
                let new_tunnel = tunnel
                    .as_ref()
                    .map(serde_json::to_value)
                    .transpose()
                    .map_err(|e| ApiError::internal("cannot serialize the tunnel", e))?;
                stored_tunnel != new_tunnel
            }
        };
        let retargeted = retarget::retargeted(spec, &before, body.config.as_ref().unwrap_or(&before), tunnel_changed);
        let missing = retarget::missing_credentials(&retargeted, stored.names(), |field| given.contains(field));
        if !missing.is_empty() {
            return Err(credentials_required(&retargeted, &missing));
        }
        // The secrets already set count toward the schema's required fields.
        let mut merged = Secrets::new();
        for (field, value) in stored.iter().chain(given.iter()) {
            merged.insert(field, value);
        }
        let (connector_secrets, ssh_secrets) = split_credentials(spec, merged)?;
        if let Some(config) = &body.config {
            spec.validate(config, &connector_secrets).map_err(config_error)?;
            check_file_path(&state, &principal, spec, config).await?;
            row.config = config.to_string();
        }
        if let Some(tunnel) = &body.ssh_tunnel {
            check_tunnel(&state, spec, tunnel, &ssh_secrets)?;
            row.ssh_tunnel = tunnel.as_ref().map(to_json).transpose()?;
        }
    }
    if let Some(settings) = &body.connection_settings {
        check_settings(settings)?;
        row.connection_settings = to_json(settings)?;
    }
    if let Some(refresh) = &body.schema_refresh {
        check_refresh(&state, refresh)?;
        row.schema_refresh = to_json(refresh)?;
    }
    if let Some(interval) = body.health_check_interval_s {
        row.health_check_interval_s = i64::from(check_interval(&state, interval)?);
    }
    let tags = body.tags.map(check_tags).transpose()?;
    if let Some(shared) = &body.shared_with_workspaces {
        check_workspaces(&state, &principal, &org_id, shared, "/shared_with_workspaces").await?;
    }
    row.updated_at = now();
    row.updated_by = Some(principal.actor.clone());
    // The credentials first: the new target never sees the old ones, even
    // from a scheduled check that runs between the two writes.
    let credentials_changed = !given.is_empty();
    if credentials_changed {
        let sealed = state.seal_secrets(&org_id, &row.id, &given).await?;
        drop(given);
        state.db.replace_secrets(&org_id, &row.id, &sealed, &[]).await?;
        // Writing secrets bumps the version the row update below expects.
        row.version += 1;
    }
    let config_changed = config_changed || credentials_changed;
    let mut row = state.db.update_data_source(&row, tags.as_deref(), body.shared_with_workspaces.as_deref()).await?;
    let stops_use = matches!(body.status, Some(SettableStatus::Inactive | SettableStatus::Maintenance));
    if config_changed || body.connection_settings.is_some() || body.ssh_tunnel.is_some() || stops_use {
        // Close the pooled connections (and the tunnel they used) now rather
        // than at their next use.
        state.pools.invalidate(&row.id).await;
        state.tunnels.close(&row.id).await;
    }
    if let Some(status) = body.status {
        let status = match status {
            SettableStatus::Active => Status::Active,
            SettableStatus::Inactive => Status::Inactive,
            SettableStatus::Maintenance => Status::Maintenance,
        };
        let reason = format!("set by {}", principal.actor);
        state.db.set_status(&row.organization_id, &row.id, status.as_str(), Some(&reason), None).await?;
        row.status = status.as_str().to_owned();
        row.status_reason = Some(reason);
        if status == Status::Active {
            // "Active" is a claim to check, not a state to take on faith.
            state.db.set_status(&row.organization_id, &row.id, Status::Testing.as_str(), None, None).await?;
            row.status = Status::Testing.as_str().to_owned();
            row.status_reason = None;
            state.spawn_test(row.clone(), CheckOrigin::Update);
        }
    } else if config_changed && row.status != "inactive" && row.status != "maintenance" {
        state.db.set_status(&row.organization_id, &row.id, Status::Testing.as_str(), None, None).await?;
        row.status = Status::Testing.as_str().to_owned();
        row.status_reason = None;
        state.spawn_test(row.clone(), CheckOrigin::Update);
    }
    let mut response = Json(one_dto(&state, row).await?).into_response();
    if deprecated {
        response.headers_mut().extend(deprecation_headers().map(|(k, v)| (k, axum::http::HeaderValue::from_static(v))));
    }
    Ok(response)
}

#[utoipa::path(patch, path = "/api/v1/data-sources/{data_source_id}/credentials", request_body = UpdateCredentials, tag = "data-sources",
    params(("data_source_id" = String, Path)),
    responses((status = 200, body = DataSource), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)))]
pub async fn update_credentials(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateCredentials>,
) -> ApiResult<Json<DataSource>> {
    let row = changeable_row(&state, &principal, &id).await?;
    let found = usable_type(&state, &row.organization_id, &row.source_type, StatusCode::CONFLICT).await?;
    let spec = found.spec();
    if body.credentials.is_empty() {
        return Err(invalid("/credentials", "name at least one secret field"));
    }
    let mut merged = state.open_secrets(&row).await?;
    let mut set = Secrets::new();
    let mut remove = Vec::new();
    let mut after = Secrets::new();
    for (field, value) in &body.credentials {
        let ssh_field = spec.network.is_some() && SSH_SECRET_FIELDS.contains(&field.as_str());
        if !spec.is_secret(field) && !ssh_field {
            return Err(invalid(&format!("/credentials/{field}"), "is not a secret field of this type"));
        }
        match value {
            Some(value) if value.len() > MAX_SECRET => {
                return Err(invalid(&format!("/credentials/{field}"), "is longer than 64 KiB"));
            }
            Some(value) => set.insert(field.clone(), value.clone()),
            None => remove.push(field.clone()),
        }
    }
    for (field, value) in merged.iter().chain(set.iter()) {
        if !remove.iter().any(|r| r == field) {
            after.insert(field, value);
        }
    }
    merged = after;
    let config: Value =
        serde_json::from_str(&row.config).map_err(|e| ApiError::internal("stored config is not JSON", e))?;
    let (connector_secrets, ssh_secrets) = split_credentials(spec, merged)?;
    spec.validate(&config, &connector_secrets).map_err(config_error)?;
    let tunnel: Option<SshTunnel> = row
        .ssh_tunnel
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| ApiError::internal("stored tunnel settings are not valid", e))?;
    check_tunnel(&state, spec, &tunnel, &ssh_secrets)?;
    drop((connector_secrets, ssh_secrets));
    let sealed = state.seal_secrets(&row.organization_id, &row.id, &set).await?;
    drop(set);
    state.db.replace_secrets(&row.organization_id, &row.id, &sealed, &remove).await?;
    state.pools.invalidate(&row.id).await;
    state.tunnels.close(&row.id).await;
    let mut row = visible_row(&state, &principal, &id).await?;
    if row.status != "inactive" && row.status != "maintenance" {
        state.db.set_status(&row.organization_id, &row.id, Status::Testing.as_str(), None, None).await?;
        row.status = Status::Testing.as_str().to_owned();
        row.status_reason = None;
        state.spawn_test(row.clone(), CheckOrigin::Update);
    }
    Ok(Json(one_dto(&state, row).await?))
}

#[utoipa::path(delete, path = "/api/v1/data-sources/{data_source_id}", tag = "data-sources",
    params(("data_source_id" = String, Path), DeleteParams),
    responses((status = 204), (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> ApiResult<StatusCode> {
    require_write(&principal)?;
    let force = params.force.unwrap_or(false);
    let org_id = org_of(&principal)?.to_owned();
    if force {
        if !principal.is_org_admin() {
            return Err(ApiError::forbidden("only organization admins can delete for good (force=true)"));
        }
        // A soft-deleted data source can still be removed for good.
        let exists = state.db.data_source(&org_id, &id, true).await?.is_some();
        if !exists || !state.db.hard_delete_data_source(&org_id, &id).await? {
            return Err(ApiError::not_found("data source"));
        }
        state.schemas.forget(&id);
    } else {
        changeable_row(&state, &principal, &id).await?;
        if !state.db.soft_delete_data_source(&org_id, &id, &principal.actor).await? {
            return Err(ApiError::not_found("data source"));
        }
    }
    state.pools.invalidate(&id).await;
    state.tunnels.close(&id).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/data-sources/{data_source_id}/test", tag = "data-sources",
    params(("data_source_id" = String, Path)),
    responses((status = 200, body = TestOutcome), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TestOutcome>> {
    require_write(&principal)?;
    let row = visible_row(&state, &principal, &id).await?;
    usable_type(&state, &row.organization_id, &row.source_type, StatusCode::CONFLICT).await?;
    Ok(Json(state.run_test(&row, CheckOrigin::Manual, None).await?))
}

#[utoipa::path(post, path = "/api/v1/data-sources/{data_source_id}/discover-schema", tag = "data-sources",
    params(("data_source_id" = String, Path)),
    responses((status = 202, body = Accepted), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody),
              (status = 503, description = "The data source's circuit breaker is open (`circuit_open`)", body = super::error::ErrorBody)))]
pub async fn discover(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    require_write(&principal)?;
    let row = visible_row(&state, &principal, &id).await?;
    usable_type(&state, &row.organization_id, &row.source_type, StatusCode::CONFLICT).await?;
    let breaker = crate::health::Breaker::of_row(&row);
    if breaker.admit(time::OffsetDateTime::now_utc()) == crate::health::Admission::Skip {
        let until = breaker.open_until.map(crate::db::format_time).unwrap_or_default();
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "circuit_open",
            format!("the data source failed repeatedly; its circuit breaker is open until {until} (a manual test still runs)"),
        )
        .with_details(json!({ "open_until": until, "consecutive_failures": breaker.consecutive_failures })));
    }
    let (job, created) = state.db.queue_discovery(&row.id).await?;
    if created {
        state.discovery_queued.notify_one();
    }
    let body = Accepted { job_id: job.id, status: job.status, created };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/v1/data-sources/{data_source_id}/schemas", tag = "data-sources",
    params(("data_source_id" = String, Path), SchemaParams),
    responses((status = 200, body = SchemaCatalog), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn schemas(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<SchemaParams>,
) -> ApiResult<Json<SchemaCatalog>> {
    let row = visible_row(&state, &principal, &id).await?;
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(100);
    if page == 0 || !(1..=500).contains(&page_size) {
        return Err(ApiError::bad_request("page starts at 1; page_size is 1-500").with_code("invalid_query"));
    }
    // The job first: a discovery finishing meanwhile then shows a newer
    // catalog with an older status, never a finished status over no tables.
    let discovery = state.db.latest_discovery(&row.id).await?.map(DiscoveryJob::from);
    let request = super::schema_cache::PageRequest {
        schema: params.schema.as_deref(),
        search: params.search.as_deref().filter(|s| !s.is_empty()),
        offset: (page as usize - 1).saturating_mul(page_size as usize),
        limit: page_size as usize,
    };
    let super::schema_cache::Page { items, total, schemas } = state.schemas.page(&state.db, &row.id, &request).await?;
    Ok(Json(SchemaCatalog { discovery, schemas, items, total, page, page_size }))
}

#[utoipa::path(get, path = "/api/v1/data-sources/{data_source_id}/health", tag = "data-sources",
    params(("data_source_id" = String, Path), HealthParams),
    responses((status = 200, body = Health), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn health(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<HealthParams>,
) -> ApiResult<Json<Health>> {
    let row = visible_row(&state, &principal, &id).await?;
    let window = params.window.unwrap_or_else(|| "24h".into());
    let span = match window.as_str() {
        "24h" => time::Duration::hours(24),
        "7d" => time::Duration::days(7),
        "30d" => time::Duration::days(30),
        other => {
            return Err(
                ApiError::bad_request(format!("window `{other}` is not 24h, 7d or 30d")).with_code("invalid_query")
            );
        }
    };
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(50);
    if page == 0 || !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request("page starts at 1; page_size is 1-100").with_code("invalid_query"));
    }
    let since = crate::db::format_time(time::OffsetDateTime::now_utc() - span);
    let stats = state.db.health_stats(&row.id, &since).await?;
    let (history, total) =
        state.db.health_history(&row.id, i64::from(page_size), i64::from(page - 1) * i64::from(page_size)).await?;
    let to_check = |c: crate::db::HealthCheckRow| HealthCheck {
        checked_at: c.checked_at,
        ok: c.ok != 0,
        response_time_ms: c.response_time_ms,
        error_kind: c.error_kind,
        message: c.message,
        origin: c.origin,
    };
    let last_check = if page == 1 {
        history.first().cloned().map(to_check)
    } else {
        state.db.health_history(&row.id, 1, 0).await?.0.into_iter().next().map(to_check)
    };
    let status = serde_json::from_value(Value::String(row.status.clone()))
        .map_err(|e| ApiError::internal("stored status is not valid", e))?;
    Ok(Json(Health {
        status,
        status_reason: row.status_reason,
        last_check,
        window,
        checks_in_window: stats.checks,
        uptime_percent: (stats.checks > 0).then(|| stats.ok as f64 * 100.0 / stats.checks as f64),
        p50_response_ms: stats.p50_ms,
        p95_response_ms: stats.p95_ms,
        history: HealthHistory { items: history.into_iter().map(to_check).collect(), total, page, page_size },
    }))
}

#[utoipa::path(get, path = "/api/v1/data-sources/metrics", tag = "data-sources",
    responses((status = 200, body = Metrics), (status = 401, body = super::error::ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<Metrics>> {
    use super::metrics::Counters as C;
    let org_id = org_of(&principal)?;
    // Every figure is what the caller may see: counts and pools of the data
    // sources visible to it, counters of its organization only.
    let visible = state.db.visible_states(org_id, principal.workspaces.as_deref()).await?;
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_breaker: BTreeMap<String, i64> = BTreeMap::new();
    for (_, status, breaker) in &visible {
        *by_status.entry(status.clone()).or_default() += 1;
        *by_breaker.entry(breaker.clone()).or_default() += 1;
    }
    let pools = state
        .pools
        .stats(Some(org_id))
        .into_iter()
        .filter(|pool| visible.iter().any(|(id, _, _)| *id == pool.data_source_id))
        .collect();
    let c = state.counters.of_org(org_id);
    let runtime = state.connectors.runtime().stats();
    let tests = C::get(&c.tests_run);
    Ok(Json(Metrics {
        data_sources_total: by_status.values().sum(),
        data_sources_by_status: by_status,
        tests_run: tests,
        tests_failed: C::get(&c.tests_failed),
        average_test_latency_ms: (tests > 0).then(|| C::get(&c.test_latency_ms_total) as f64 / tests as f64),
        discoveries_run: C::get(&c.discoveries_run),
        discoveries_failed: C::get(&c.discoveries_failed),
        connections_opened: C::get(&c.connections_opened),
        plugins_loaded: state.connectors.plugins().len(),
        breakers_by_state: by_breaker,
        breakers_opened: C::get(&c.breakers_opened),
        breakers_closed: C::get(&c.breakers_closed),
        scheduled_checks: C::get(&c.scheduled_checks),
        checks_skipped_breaker_open: C::get(&c.checks_skipped_open),
        pools,
        idle_connections_total: state.pools.idle_total(),
        ssh_tunnels: state.tunnels.stats(),
        schema_cache: state.schemas.stats(),
        plugin_instances_live: runtime.instances_live.load(Ordering::Relaxed),
        plugin_instances_created: runtime.instances_created.load(Ordering::Relaxed),
        plugins_from_compile_cache: state
            .connectors
            .plugins()
            .iter()
            .filter(|plugin| plugin.load == crate::runtime::LoadKind::Cached)
            .count(),
        started_at: state.started_at.clone(),
    }))
}

#[utoipa::path(get, path = "/api/v1/data-source-types", tag = "data-sources",
    responses((status = 200, body = DataSourceTypeList), (status = 401, body = super::error::ErrorBody)))]
pub async fn types(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<DataSourceTypeList>> {
    // Only what the caller's organization may use: enabled by the platform
    // and not switched off by the organization.
    let org_off = match principal.org_id.as_deref() {
        Some(org_id) => state.db.org_disabled_plugins(org_id).await?,
        None => Vec::new(),
    };
    let usable = state.connectors.types();
    let items: Vec<DataSourceType> = usable
        .iter()
        .filter(|found| found.enabled && !org_off.contains(&found.plugin.manifest.id))
        .map(|found| (&found.plugin, found.spec()))
        .map(|(plugin, spec)| DataSourceType {
            source_type: spec.id.clone(),
            name: spec.name.clone(),
            category: spec.category.clone(),
            plugin: plugin.manifest.id.clone(),
            plugin_version: plugin.manifest.version.to_string(),
            config_schema: spec.config_schema.clone(),
            secret_fields: spec.secret_fields.clone(),
            default_port: spec.network.as_ref().map(|n| n.default_port),
            file_based: spec.file.is_some(),
        })
        .collect();
    let total = items.len() as i64;
    let page_size = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
    Ok(Json(DataSourceTypeList { items, total, page: 1, page_size }))
}
