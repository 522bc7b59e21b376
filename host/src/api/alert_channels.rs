//! `/api/v1/alert-channels`: an organization's alert channels (signed
//! webhooks), a test delivery, and each channel's delivery log. Organization
//! admins only. The signing secret is write-only: sealed in the vault, never
//! answered or logged.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::alerts::webhook::{self, Ids, Target};
use crate::auth::Principal;
use crate::db::{AlertChannelRow, AlertDeliveryRow, new_id, now};
use crate::events::{EventKind, Severity};

const MAX_NAME: usize = 200;
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 1024;
const MAX_TAGS: usize = 50;
const MAX_TAG: usize = 64;

/// The kinds of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// An HTTP POST of the event as JSON, signed with the channel's secret.
    Webhook,
}

/// An alert channel. Its secret is never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertChannel {
    pub id: String,
    pub name: String,
    pub kind: ChannelKind,
    pub url: String,
    /// The kinds delivered; empty: every kind.
    pub event_kinds: Vec<EventKind>,
    /// Only events of data sources with one of these tags; empty: any.
    pub tags: Vec<String>,
    pub min_severity: Severity,
    pub enabled: bool,
    pub created_at: String,
    pub created_by: Option<String>,
    pub updated_at: String,
}

impl TryFrom<AlertChannelRow> for AlertChannel {
    type Error = ApiError;

    fn try_from(row: AlertChannelRow) -> Result<Self, ApiError> {
        let corrupt = |what: &str| ApiError::internal("stored alert channel is corrupt", what);
        let kinds: Vec<String> = serde_json::from_str(&row.event_kinds).map_err(|_| corrupt("event_kinds"))?;
        Ok(Self {
            kind: match row.kind.as_str() {
                "webhook" => ChannelKind::Webhook,
                _ => return Err(corrupt("kind")),
            },
            event_kinds: kinds.iter().filter_map(|k| EventKind::parse(k)).collect(),
            tags: serde_json::from_str(&row.tags).map_err(|_| corrupt("tags"))?,
            min_severity: Severity::parse(&row.min_severity).ok_or_else(|| corrupt("min_severity"))?,
            enabled: row.enabled != 0,
            id: row.id,
            name: row.name,
            url: row.url,
            created_at: row.created_at,
            created_by: row.created_by,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlertChannel {
    /// Unique in the organization, 1-200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// `webhook` (the default).
    #[serde(default)]
    pub kind: Option<ChannelKind>,
    /// `http` or `https`, at most 2048 characters; no user information.
    #[schema(format = "uri", max_length = 2048, pattern = "^https?://")]
    pub url: String,
    /// Signs every delivery (HMAC-SHA256); 16-1024 characters, write-only.
    #[schema(write_only, min_length = 16, max_length = 1024)]
    pub secret: String,
    #[serde(default)]
    pub event_kinds: Vec<EventKind>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `info` (the default), `warning` or `critical`.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Fields to change; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAlertChannel {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(format = "uri", max_length = 2048, pattern = "^https?://")]
    pub url: Option<String>,
    #[schema(write_only, min_length = 16, max_length = 1024)]
    pub secret: Option<String>,
    pub event_kinds: Option<Vec<EventKind>>,
    pub tags: Option<Vec<String>>,
    pub min_severity: Option<Severity>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertChannelList {
    pub items: Vec<AlertChannel>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: waiting for its turn or its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the retry period.
    Dead,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
}

/// One event's delivery to a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDelivery {
    /// Sent as `X-Inlet-Delivery-Id` (the same on every attempt).
    pub id: String,
    pub event_id: String,
    pub event_seq: i64,
    pub event_kind: String,
    pub data_source_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<AlertDeliveryRow> for AlertDelivery {
    fn from(row: AlertDeliveryRow) -> Self {
        let status = match row.status.as_str() {
            "delivered" => DeliveryStatus::Delivered,
            "dead" => DeliveryStatus::Dead,
            _ => DeliveryStatus::Pending,
        };
        Self {
            id: row.id,
            event_id: row.event_id,
            event_seq: row.event_seq,
            event_kind: row.event_kind,
            data_source_id: row.data_source_id,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(row.next_attempt_at),
            status,
            attempts: row.attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            last_latency_ms: row.last_latency_ms,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDeliveryList {
    pub items: Vec<AlertDelivery>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

/// The outcome of a test delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestDelivery {
    /// True when the receiver answered 2xx.
    pub delivered: bool,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed: `refused by policy`, `could not connect` (never what
    /// the name resolved to), or the receiver's non-2xx status.
    pub error: Option<String>,
    /// The `X-Inlet-Delivery-Id` and `X-Inlet-Event-Id` sent.
    pub delivery_id: String,
    pub event_id: String,
}

/// The caller's organization, for an organization admin; anyone else is 403.
fn admin_org(principal: &Principal) -> ApiResult<&str> {
    let org = principal
        .org_id
        .as_deref()
        .ok_or_else(|| ApiError::forbidden("this token belongs to no organization; use an organization token"))?;
    if !principal.is_org_admin() {
        return Err(ApiError::forbidden("only organization admins manage alert channels"));
    }
    Ok(org)
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::unprocessable("validation_failed", format!("{field}: {message}"))
        .with_details(json!({ "fields": [{ "field": field, "message": message }] }))
}

fn paging(page: Option<u32>, page_size: Option<u32>) -> ApiResult<(u32, u32)> {
    let page = page.unwrap_or(1);
    let page_size = page_size.unwrap_or(20);
    if page == 0 || !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request("page starts at 1; page_size is 1-100").with_code("invalid_query"));
    }
    Ok((page, page_size))
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(invalid("name", format!("must be 1-{MAX_NAME} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(name.to_owned())
}

fn check_url(state: &AppState, url: &str) -> ApiResult<String> {
    let target = Target::parse(url).map_err(|reason| invalid("url", reason))?;
    // An address given literally is judged now; names when each delivery resolves them.
    if let Ok(ip) = target.host.parse::<IpAddr>()
        && let Err(denial) = state.connectors().sandbox().egress.check(ip)
    {
        return Err(invalid("url", format!("{ip} is refused: {denial}")));
    }
    Ok(url.to_owned())
}

fn check_secret(secret: &str) -> ApiResult<()> {
    let length = secret.chars().count();
    if !(MIN_SECRET..=MAX_SECRET).contains(&length) {
        return Err(invalid("secret", format!("must be {MIN_SECRET}-{MAX_SECRET} characters")));
    }
    if secret.contains('\0') {
        return Err(invalid("secret", "must not contain NUL"));
    }
    Ok(())
}

fn kinds_json(kinds: &[EventKind]) -> String {
    let mut names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    serde_json::Value::from(names).to_string()
}

fn tags_json(tags: &[String]) -> ApiResult<String> {
    if tags.len() > MAX_TAGS {
        return Err(invalid("tags", format!("at most {MAX_TAGS}")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() || tag.chars().count() > MAX_TAG || tag.chars().any(char::is_control) {
            return Err(invalid("tags", format!("each tag is 1-{MAX_TAG} characters, without control characters")));
        }
        clean.push(tag.to_owned());
    }
    clean.sort();
    clean.dedup();
    Ok(serde_json::Value::from(clean).to_string())
}

async fn channel_row(state: &AppState, org_id: &str, id: &str) -> ApiResult<AlertChannelRow> {
    state.db().alert_channel(org_id, id).await?.ok_or_else(|| ApiError::not_found("alert channel"))
}

#[utoipa::path(post, path = "/api/v1/alert-channels", operation_id = "create_alert_channel", request_body = CreateAlertChannel, tag = "alerts",
    responses((status = 201, body = AlertChannel), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<CreateAlertChannel>,
) -> ApiResult<Response> {
    let org_id = admin_org(&principal)?;
    let name = check_name(&body.name)?;
    let url = check_url(&state, &body.url)?;
    check_secret(&body.secret)?;
    let tags = tags_json(&body.tags)?;
    let id = new_id();
    let secret = crate::alerts::seal_secret(&state, org_id, &id, &body.secret).await?;
    let at = now();
    let row = AlertChannelRow {
        id,
        organization_id: org_id.to_owned(),
        name,
        kind: match body.kind.unwrap_or(ChannelKind::Webhook) {
            ChannelKind::Webhook => "webhook".into(),
        },
        url,
        secret,
        event_kinds: kinds_json(&body.event_kinds),
        tags,
        min_severity: body.min_severity.unwrap_or(Severity::Info).as_str().into(),
        enabled: i64::from(body.enabled.unwrap_or(true)),
        created_at: at.clone(),
        created_by: Some(principal.actor.clone()),
        updated_at: at,
    };
    state.db().insert_alert_channel(&row).await?;
    tracing::info!(channel = %row.id, "alert channel created");
    let location = format!("/api/v1/alert-channels/{}", row.id);
    let channel = AlertChannel::try_from(row)?;
    Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], Json(channel)).into_response())
}

#[utoipa::path(get, path = "/api/v1/alert-channels", operation_id = "list_alert_channels", tag = "alerts", params(PageParams),
    responses((status = 200, body = AlertChannelList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<AlertChannelList>> {
    let org_id = admin_org(&principal)?;
    let (page, page_size) = paging(params.page, params.page_size)?;
    let (rows, total) =
        state.db().alert_channels(org_id, i64::from(page_size), i64::from(page - 1) * i64::from(page_size)).await?;
    let items = rows.into_iter().map(AlertChannel::try_from).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(AlertChannelList { items, total, page, page_size }))
}

#[utoipa::path(get, path = "/api/v1/alert-channels/{channel_id}", operation_id = "get_alert_channel", tag = "alerts",
    params(("channel_id" = String, Path)),
    responses((status = 200, body = AlertChannel), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AlertChannel>> {
    let org_id = admin_org(&principal)?;
    Ok(Json(channel_row(&state, org_id, &id).await?.try_into()?))
}

#[utoipa::path(patch, path = "/api/v1/alert-channels/{channel_id}", operation_id = "update_alert_channel", request_body = UpdateAlertChannel, tag = "alerts",
    params(("channel_id" = String, Path)),
    responses((status = 200, body = AlertChannel), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateAlertChannel>,
) -> ApiResult<Json<AlertChannel>> {
    let org_id = admin_org(&principal)?;
    let mut row = channel_row(&state, org_id, &id).await?;
    if let Some(name) = &body.name {
        row.name = check_name(name)?;
    }
    if let Some(url) = &body.url {
        row.url = check_url(&state, url)?;
    }
    if let Some(secret) = &body.secret {
        check_secret(secret)?;
        row.secret = crate::alerts::seal_secret(&state, org_id, &row.id, secret).await?;
    }
    if let Some(kinds) = &body.event_kinds {
        row.event_kinds = kinds_json(kinds);
    }
    if let Some(tags) = &body.tags {
        row.tags = tags_json(tags)?;
    }
    if let Some(severity) = body.min_severity {
        row.min_severity = severity.as_str().into();
    }
    if let Some(enabled) = body.enabled {
        row.enabled = i64::from(enabled);
    }
    row.updated_at = now();
    if !state.db().update_alert_channel(&row).await? {
        return Err(ApiError::not_found("alert channel"));
    }
    tracing::info!(channel = %row.id, secret_changed = body.secret.is_some(), "alert channel updated");
    Ok(Json(row.try_into()?))
}

#[utoipa::path(delete, path = "/api/v1/alert-channels/{channel_id}", operation_id = "delete_alert_channel", tag = "alerts",
    params(("channel_id" = String, Path)),
    responses((status = 204), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let org_id = admin_org(&principal)?;
    if !state.db().delete_alert_channel(org_id, &id).await? {
        return Err(ApiError::not_found("alert channel"));
    }
    tracing::info!(channel = %id, "alert channel deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/alert-channels/{channel_id}/test", operation_id = "test_alert_channel", tag = "alerts",
    params(("channel_id" = String, Path)),
    responses((status = 200, body = TestDelivery), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TestDelivery>> {
    let org_id = admin_org(&principal)?;
    let row = channel_row(&state, org_id, &id).await?;
    let target = Target::parse(&row.url).map_err(|reason| invalid("url", reason))?;
    let secret = crate::alerts::open_secret(&state, org_id, &row.id, &row.secret)
        .await
        .map_err(|e| ApiError::internal("cannot open the channel's secret", e))?;
    let (event_id, delivery_id) = (new_id(), new_id());
    let body = json!({
        "id": event_id,
        "seq": 0,
        "kind": "test",
        "severity": "info",
        "organization_id": org_id,
        "data_source_id": null,
        "created_at": now(),
        "payload": { "message": "a test delivery from Inlet", "channel_id": row.id },
    });
    let ids = Ids { event_id: &event_id, delivery_id: &delivery_id };
    let egress = state.connectors().sandbox().egress;
    let (result, latency) =
        webhook::send(&target, Bytes::from(body.to_string()), secret.as_bytes(), ids, egress, webhook::TIMEOUT).await;
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    let (status_code, error) = match result {
        Ok(answer) if answer.is_success() => (Some(answer.status), None),
        Ok(answer) => (Some(answer.status), Some(format!("the receiver answered HTTP {}", answer.status))),
        Err(error) => {
            tracing::info!(channel = %row.id, %error, "alert channel test delivery failed");
            (None, Some(error.public_message().to_owned()))
        }
    };
    tracing::info!(channel = %row.id, status_code, latency_ms, "alert channel test delivery");
    Ok(Json(TestDelivery { delivered: error.is_none(), status_code, latency_ms, error, delivery_id, event_id }))
}

#[utoipa::path(get, path = "/api/v1/alert-channels/{channel_id}/deliveries", operation_id = "list_alert_deliveries", tag = "alerts",
    params(("channel_id" = String, Path), DeliveryParams),
    responses((status = 200, body = AlertDeliveryList), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> ApiResult<Json<AlertDeliveryList>> {
    let org_id = admin_org(&principal)?;
    let (page, page_size) = paging(params.page, params.page_size)?;
    channel_row(&state, org_id, &id).await?;
    let (rows, total) = state
        .db()
        .alert_deliveries(
            org_id,
            &id,
            params.status.map(DeliveryStatus::as_str),
            i64::from(page_size),
            i64::from(page - 1) * i64::from(page_size),
        )
        .await?;
    Ok(Json(AlertDeliveryList { items: rows.into_iter().map(AlertDelivery::from).collect(), total, page, page_size }))
}
