//! The REST API: `/api/v1/data-sources`, `/api/v1/data-source-types`, the
//! OpenAPI document with Swagger UI at `/docs`, and `/healthz`.
//!
//! An adapter over the application core ([`crate::core`]): handlers parse
//! the request, check the caller's role, call a service and answer in JSON,
//! mapping the core's error to a status in one place (`error.rs`). Every
//! query is scoped by the caller's organization: another organization's data
//! source is 404, never 403.

mod alert_channels;
pub mod catalog_dto;
mod data_sources;
pub mod dto;
mod error;
mod event_feed;
mod events;
mod extract;
mod files;
mod openapi;
mod organization;
pub mod plugins;
mod prometheus;
mod read_cache;
mod reading;
mod state;
mod storage;

pub use error::{ApiError, ApiResult};
pub use state::{AppState, AppStateInner};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use utoipa::OpenApi;

pub use openapi::ApiDoc;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Liveness, with the connectors this server runs (no auth: it reveals no data).
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::Json<serde_json::Value> {
    let plugins: Vec<serde_json::Value> = state
        .connectors()
        .plugins()
        .iter()
        .map(|plugin| {
            serde_json::json!({
                "id": plugin.manifest.id,
                "version": plugin.manifest.version.to_string(),
                "api_version": plugin.manifest.api_version,
                "types": plugin.manifest.types.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
                "sha256": plugin.sha256,
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "plugins": plugins }))
}

/// A NUL character in a path or query (`%00`) is never meaningful, and
/// PostgreSQL text cannot hold it: refuse it at the edge.
async fn refuse_nul(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let uri = request.uri();
    let has_nul = |text: &str| text.as_bytes().windows(3).any(|w| w == b"%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::bad_request("NUL characters are not allowed in URLs")
            .with_code("invalid_path")
            .into_response();
    }
    next.run(request).await
}

pub fn router(state: AppState) -> Router {
    // The file itself is capped while it streams; this bounds the rest of the form.
    let upload_limit = usize::try_from(state.files().max_upload_bytes).unwrap_or(usize::MAX).saturating_add(1 << 20);
    let api = Router::new()
        .route("/data-sources", get(data_sources::list).post(data_sources::create))
        .route("/data-sources/metrics", get(data_sources::metrics))
        .route(
            "/data-sources/{data_source_id}",
            get(data_sources::get).patch(data_sources::update).delete(data_sources::delete),
        )
        .route("/data-sources/{data_source_id}/credentials", axum::routing::patch(data_sources::update_credentials))
        .route("/data-sources/{data_source_id}/test", post(data_sources::test))
        .route("/data-sources/{data_source_id}/discover-schema", post(data_sources::discover))
        .route("/data-sources/{data_source_id}/schemas", get(data_sources::schemas))
        .route("/data-sources/{data_source_id}/preview", get(reading::preview))
        .route("/data-sources/{data_source_id}/query", post(reading::query))
        .route("/data-sources/{data_source_id}/health", get(data_sources::health))
        .route("/data-sources/{data_source_id}/file-url", get(files::file_url))
        .route("/files/{data_source_id}", get(files::download))
        .route("/data-source-types", get(data_sources::types))
        .route("/alert-channels", get(alert_channels::list).post(alert_channels::create))
        .route(
            "/alert-channels/{channel_id}",
            get(alert_channels::get).patch(alert_channels::update).delete(alert_channels::delete),
        )
        .route("/alert-channels/{channel_id}/test", post(alert_channels::test))
        .route("/alert-channels/{channel_id}/deliveries", get(alert_channels::deliveries))
        .route("/storage/files", get(storage::list).post(storage::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/storage/files/{file_id}", get(storage::get).delete(storage::delete))
        .route("/events", get(events::list))
        .route(
            "/plugins",
            get(plugins::list).post(plugins::install).layer(DefaultBodyLimit::max(plugins::MAX_PACKAGE_BYTES)),
        )
        .route("/plugins/audit", get(plugins::audit))
        .route(
            "/plugins/{plugin_id}",
            get(plugins::get)
                .put(plugins::upgrade)
                .delete(plugins::uninstall)
                .layer(DefaultBodyLimit::max(plugins::MAX_PACKAGE_BYTES)),
        )
        .route("/plugins/{plugin_id}/enable", post(plugins::enable))
        .route("/plugins/{plugin_id}/disable", post(plugins::disable))
        .route("/organization/settings", get(organization::get).patch(organization::patch))
        .route("/organization/plugins", get(plugins::org_list))
        .route("/organization/plugins/{plugin_id}", axum::routing::put(plugins::org_switch))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this path",
            )
        });
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus::metrics))
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/api/openapi.json", ApiDoc::openapi()))
        .layer(axum::middleware::from_fn(refuse_nul))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
