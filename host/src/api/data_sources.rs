//! Handlers of `/api/v1/data-sources` and `/api/v1/data-source-types`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::catalog_dto::TestOutcome;
use super::dto::*;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::auth::Principal;
use crate::core::data_sources::Written;
use crate::db::{DataSourceRow, ListFilter, SideData, SortKey};

/// The caller's organization; platform admins without one cannot use
/// organization-scoped endpoints.
pub(super) fn org_of(principal: &Principal) -> ApiResult<&str> {
    Ok(crate::core::data_sources::org_of(principal)?)
}

fn require_write(principal: &Principal) -> ApiResult<()> {
    if principal.can_write() { Ok(()) } else { Err(ApiError::forbidden("viewers cannot change data sources")) }
}

/// Loads a data source the caller may see; anything else is 404.
pub(super) async fn visible_row(state: &AppState, principal: &Principal, id: &str) -> ApiResult<DataSourceRow> {
    Ok(state.visible_source(principal, id).await?)
}

/// The notice on answers to requests that used `storage_file_id`.
fn deprecation_headers() -> [(axum::http::HeaderName, &'static str); 2] {
    [
        (axum::http::HeaderName::from_static("deprecation"), "true"),
        (axum::http::header::WARNING, "299 - \"config.storage_file_id is deprecated: use file_path (storage://<id>)\""),
    ]
}

fn with_deprecation(mut response: Response, deprecated: bool) -> Response {
    if deprecated {
        response.headers_mut().extend(deprecation_headers().map(|(k, v)| (k, axum::http::HeaderValue::from_static(v))));
    }
    response
}

async fn to_dto(state: &AppState, rows: Vec<DataSourceRow>) -> ApiResult<Vec<DataSource>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let SideData { mut tags, mut shares, secret_fields: mut secrets } = state.db().side_data_of(&ids).await?;
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
                last_test: row
                    .last_test
                    .as_deref()
                    .and_then(|text| serde_json::from_str::<crate::connectors::TestOutcome>(text).ok().map(Into::into)),
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
        source_types: params.category.map(|category| state.connectors().type_ids_in(category)),
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
    if let Some(cached) = state.reads.page(state.db(), &filter) {
        return Ok(cached);
    }
    let ticket = state.reads.ticket(state.db(), org_id);
    let (rows, total) = state.db().list_data_sources(&filter).await?;
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
    ApiJson(body): ApiJson<CreateDataSource>,
) -> ApiResult<Response> {
    require_write(&principal)?;
    let Written { row, deprecated } = state.create_source(&principal, body.into()).await?;
    let id = row.id.clone();
    let dto = one_dto(&state, row).await?;
    let response =
        (StatusCode::CREATED, [(axum::http::header::LOCATION, format!("/api/v1/data-sources/{id}"))], Json(dto))
            .into_response();
    Ok(with_deprecation(response, deprecated))
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
    if let Some(cached) = state.reads.detail(state.db(), org_id, &id) {
        return cached.visible_to(&principal).ok_or_else(|| ApiError::not_found("data source"));
    }
    let ticket = state.reads.ticket(state.db(), org_id);
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
    ApiJson(body): ApiJson<UpdateDataSource>,
) -> ApiResult<Response> {
    require_write(&principal)?;
    let Written { row, deprecated } = state.update_source(&principal, &id, body.into()).await?;
    Ok(with_deprecation(Json(one_dto(&state, row).await?).into_response(), deprecated))
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
    require_write(&principal)?;
    let row = state.update_credentials(&principal, &id, &body.credentials).await?;
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
    org_of(&principal)?;
    if force && !principal.is_org_admin() {
        return Err(ApiError::forbidden("only organization admins can delete for good (force=true)"));
    }
    state.delete_source(&principal, &id, force).await?;
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
    Ok(Json(state.test_source(&row).await?.into()))
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
    let (job, created) = state.request_discovery(&row).await?;
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
    if page == 0 || !(1..=500).contains(&page_size) || (params.page.is_some() && params.cursor.is_some()) {
        return Err(
            ApiError::bad_request("page starts at 1, without a cursor; page_size is 1-500").with_code("invalid_query")
        );
    }
    let cursor = params.cursor.as_deref().map(crate::catalog_listing::Cursor::decode).transpose();
    let cursor = cursor.map_err(|error| ApiError::bad_request(error.to_string()).with_code("invalid_query"))?;
    // The job first: a discovery finishing meanwhile then shows a newer
    // catalog with an older status, never a finished status over no tables.
    let discovery = state.db().latest_discovery(&row.id).await?.map(DiscoveryJob::from);
    let request = crate::core::schema_cache::PageRequest {
        schema: params.schema.as_deref(),
        search: params.search.as_deref().filter(|s| !s.is_empty()),
        after: cursor.as_ref(),
        offset: (page as usize - 1).saturating_mul(page_size as usize),
        limit: page_size as usize,
    };
    let found = state.schemas().page(state.db(), &row.id, &request).await?;
    Ok(Json(SchemaCatalog {
        discovery,
        schemas: found.schemas,
        schemas_truncated: found.schemas_truncated,
        items: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        page: cursor.is_none().then_some(page),
        page_size,
        next_cursor: found.next_cursor,
        truncated: found.truncated,
    }))
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
    let stats = state.db().health_stats(&row.id, &since).await?;
    let (history, total) =
        state.db().health_history(&row.id, i64::from(page_size), i64::from(page - 1) * i64::from(page_size)).await?;
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
        state.db().health_history(&row.id, 1, 0).await?.0.into_iter().next().map(to_check)
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
    use crate::core::counters::Counters as C;
    let org_id = org_of(&principal)?;
    // Every figure is what the caller may see: counts and pools of the data
    // sources visible to it, counters of its organization only.
    let visible = state.db().visible_states(org_id, principal.workspaces.as_deref()).await?;
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_breaker: BTreeMap<String, i64> = BTreeMap::new();
    for (_, status, breaker) in &visible {
        *by_status.entry(status.clone()).or_default() += 1;
        *by_breaker.entry(breaker.clone()).or_default() += 1;
    }
    let pools = state
        .pools()
        .stats(Some(org_id))
        .into_iter()
        .filter(|pool| visible.iter().any(|(id, _, _)| *id == pool.data_source_id))
        .collect();
    let c = state.counters().of_org(org_id);
    let runtime = state.connectors().runtime().stats();
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
        plugins_loaded: state.connectors().plugins().len(),
        breakers_by_state: by_breaker,
        breakers_opened: C::get(&c.breakers_opened),
        breakers_closed: C::get(&c.breakers_closed),
        scheduled_checks: C::get(&c.scheduled_checks),
        checks_skipped_breaker_open: C::get(&c.checks_skipped_open),
        pools,
        idle_connections_total: state.pools().idle_total(),
        ssh_tunnels: state.tunnels().stats(),
        schema_cache: state.schemas().stats(),
        plugin_instances_live: runtime.instances_live.load(Ordering::Relaxed),
        plugin_instances_created: runtime.instances_created.load(Ordering::Relaxed),
        plugins_from_compile_cache: state
            .connectors()
            .plugins()
            .iter()
            .filter(|plugin| plugin.load == crate::runtime::LoadKind::Cached)
            .count(),
        started_at: state.started_at.clone(),
    }))
}

#[utoipa::path(get, path = "/api/v1/data-source-types", params(TypeListParams), tag = "data-sources",
    responses((status = 200, body = DataSourceTypeList), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody)))]
pub async fn types(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<TypeListParams>,
) -> ApiResult<Json<DataSourceTypeList>> {
    // Only what the caller's organization may use: enabled by the platform
    // and not switched off by the organization.
    let org_off = match principal.org_id.as_deref() {
        Some(org_id) => state.db().org_disabled_plugins(org_id).await?,
        None => Vec::new(),
    };
    let usable = state.connectors().types();
    let items: Vec<DataSourceType> = usable
        .iter()
        .filter(|found| found.enabled && !org_off.contains(&found.plugin.manifest.id))
        .map(|found| (&found.plugin, found.spec()))
        .filter(|(_, spec)| params.category.is_none_or(|category| spec.category == category))
        .map(|(plugin, spec)| DataSourceType {
            source_type: spec.id.clone(),
            name: spec.name.clone(),
            category: spec.category,
            plugin: plugin.manifest.id.clone(),
            plugin_version: plugin.manifest.version.to_string(),
            config_schema: spec.config_schema.clone(),
            secret_fields: spec.secret_fields.clone(),
            default_port: spec.network.as_ref().map(|n| n.default_port),
            file_based: spec.file.is_some(),
            preview: crate::runtime::wit::reads_rows(&plugin.manifest.api_version),
            query_language: spec.query.as_ref().map(|query| query.language.clone()),
        })
        .collect();
    let total = items.len() as i64;
    let page_size = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
    Ok(Json(DataSourceTypeList { items, total, page: 1, page_size }))
}
