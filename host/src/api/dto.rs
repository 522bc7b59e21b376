//! Request and response bodies of the data source API, with their bounds.
//! Requests refuse unknown fields, so a typo is a 400 rather than a silent no-op.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::catalog_dto::TestOutcome;
pub use crate::core::domain::{ConnectionSettings, SchemaRefresh, SchemaSummary, SshAuth, SshTunnel, Status};
pub use crate::plugin::Category;

/// The statuses a user may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettableStatus {
    Active,
    Inactive,
    Maintenance,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataSource {
    /// 1–200 characters, unique among the workspace's live data sources.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A type from `GET /api/v1/data-source-types`.
    #[serde(rename = "type")]
    pub source_type: String,
    /// Defaults to the organization's default workspace.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// Non-secret settings, validated against the type's JSON Schema.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Secret fields (write-only), e.g. `{"password": "…"}`.
    #[serde(default)]
    pub credentials: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub connection_settings: Option<ConnectionSettings>,
    #[serde(default)]
    pub ssh_tunnel: Option<SshTunnel>,
    #[serde(default)]
    pub schema_refresh: Option<SchemaRefresh>,
    #[serde(default)]
    pub health_check_interval_s: Option<u32>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Other workspaces of the organization that may use it.
    #[serde(default)]
    pub shared_with_workspaces: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDataSource {
    #[serde(default)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    #[serde(default)]
    pub connection_settings: Option<ConnectionSettings>,
    /// `null` removes the tunnel.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<SshTunnel>)]
    pub ssh_tunnel: Option<Option<SshTunnel>>,
    #[serde(default)]
    pub schema_refresh: Option<SchemaRefresh>,
    #[serde(default)]
    pub health_check_interval_s: Option<u32>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub shared_with_workspaces: Option<Vec<String>>,
    #[serde(default)]
    pub status: Option<SettableStatus>,
    /// Secret fields to set with this change. Required (every stored one)
    /// when the change re-targets the credentials: a network or identity
    /// config field, the file path or the SSH tunnel; otherwise 422
    /// `credentials_required`.
    #[serde(default)]
    pub credentials: Option<BTreeMap<String, String>>,
}

impl From<SettableStatus> for Status {
    fn from(status: SettableStatus) -> Self {
        match status {
            SettableStatus::Active => Self::Active,
            SettableStatus::Inactive => Self::Inactive,
            SettableStatus::Maintenance => Self::Maintenance,
        }
    }
}

impl From<CreateDataSource> for crate::core::data_sources::NewSource {
    fn from(body: CreateDataSource) -> Self {
        Self {
            name: body.name,
            description: body.description,
            source_type: body.source_type,
            workspace_id: body.workspace_id,
            config: body.config,
            credentials: body.credentials.unwrap_or_default(),
            connection_settings: body.connection_settings,
            ssh_tunnel: body.ssh_tunnel,
            schema_refresh: body.schema_refresh,
            health_check_interval_s: body.health_check_interval_s,
            tags: body.tags,
            shared_with_workspaces: body.shared_with_workspaces,
        }
    }
}

impl From<UpdateDataSource> for crate::core::data_sources::Changes {
    fn from(body: UpdateDataSource) -> Self {
        Self {
            name: body.name,
            description: body.description,
            config: body.config,
            connection_settings: body.connection_settings,
            ssh_tunnel: body.ssh_tunnel,
            schema_refresh: body.schema_refresh,
            health_check_interval_s: body.health_check_interval_s,
            tags: body.tags,
            shared_with_workspaces: body.shared_with_workspaces,
            status: body.status.map(Status::from),
            credentials: body.credentials.unwrap_or_default(),
        }
    }
}

/// Tells "absent" (None) from "null" (Some(None)).
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCredentials {
    /// Fields to set; a `null` value removes that field.
    #[schema(value_type = Object)]
    pub credentials: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataSource {
    pub id: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub source_type: String,
    #[schema(value_type = Object)]
    pub config: Value,
    /// Which secret fields are set; values are never returned.
    pub secret_fields: Vec<String>,
    pub connection_settings: ConnectionSettings,
    pub ssh_tunnel: Option<SshTunnel>,
    pub schema_refresh: SchemaRefresh,
    pub health_check_interval_s: u32,
    pub tags: Vec<String>,
    pub shared_with_workspaces: Vec<String>,
    pub status: Status,
    pub status_reason: Option<String>,
    pub last_test: Option<TestOutcome>,
    pub last_tested_at: Option<String>,
    pub circuit_breaker: CircuitBreaker,
    pub created_at: String,
    pub created_by: Option<String>,
    pub updated_at: String,
    pub updated_by: Option<String>,
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataSourceList {
    pub items: Vec<DataSource>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1-based.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub source_type: Option<String>,
    /// Only data sources whose type is in this category.
    pub category: Option<Category>,
    pub status: Option<Status>,
    pub workspace_id: Option<String>,
    /// Case-insensitive, over name and description.
    pub search: Option<String>,
    pub tag: Option<String>,
    pub include_deleted: Option<bool>,
    /// `name`, `created_at`, `updated_at`, `status` or `type`; `-` for descending.
    #[param(pattern = "^-?(name|created_at|updated_at|status|type)$")]
    pub sort: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TypeListParams {
    /// Only the types of this category.
    pub category: Option<Category>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Remove for good, with secrets, history and cached schemas (org admins).
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileUrlParams {
    /// Seconds until the URL expires (1–604800, default 900).
    #[param(minimum = 1, maximum = 604800)]
    pub expires_in: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FileUrl {
    pub url: String,
    pub expires_at: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileDownloadParams {
    pub expires: i64,
    pub signature: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoveryJob {
    pub job_id: String,
    pub status: String,
    pub requested_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub tables_found: Option<i64>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// Changes since the previous successful discovery (absent for the
    /// first); names listed up to a byte cap, counts whole.
    pub diff: Option<crate::catalog_listing::DiffListing>,
}

impl From<crate::db::DiscoveryJobRow> for DiscoveryJob {
    fn from(job: crate::db::DiscoveryJobRow) -> Self {
        Self {
            job_id: job.id,
            status: job.status,
            requested_at: job.requested_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            tables_found: job.tables_found,
            error_kind: job.error_kind,
            error: job.error,
            diff: job
                .diff
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .map(|diff| crate::catalog_listing::list_diff(diff, crate::catalog_listing::limits::DIFF_BYTES)),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SchemaParams {
    /// Not with `cursor`.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// The `next_cursor` of the previous page: this page starts right after
    /// its last table (the way to go on after a page cut by the byte cap).
    pub cursor: Option<String>,
    /// Tables per page (1–500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub page_size: Option<u32>,
    /// Only this schema.
    pub schema: Option<String>,
    /// Case-insensitive substring of the table name.
    pub search: Option<String>,
}

/// One discovered table (with its schema's name).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscoveredTable {
    pub schema: String,
    #[serde(flatten)]
    pub table: super::catalog_dto::Table,
}

impl From<crate::core::domain::DiscoveredTable> for DiscoveredTable {
    fn from(found: crate::core::domain::DiscoveredTable) -> Self {
        Self { schema: found.schema, table: found.table.into() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaCatalog {
    pub discovery: Option<DiscoveryJob>,
    /// Every schema, up to a byte cap (`schemas_truncated` then).
    pub schemas: Vec<SchemaSummary>,
    pub schemas_truncated: bool,
    pub items: Vec<DiscoveredTable>,
    pub total: i64,
    /// Absent when paging by cursor.
    pub page: Option<u32>,
    pub page_size: u32,
    /// Where the next page starts, while more tables match.
    pub next_cursor: Option<String>,
    /// The page's byte cap (4 MiB a response) ended it before `page_size`
    /// tables: go on with `next_cursor`, not with the next page number.
    pub truncated: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HealthParams {
    /// `24h`, `7d` or `30d` (default 24h).
    #[param(pattern = "^(24h|7d|30d)$")]
    pub window: Option<String>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthCheck {
    pub checked_at: String,
    pub ok: bool,
    pub response_time_ms: i64,
    pub error_kind: Option<String>,
    pub message: Option<String>,
    /// `create`, `manual`, `update` or `scheduler`.
    pub origin: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthHistory {
    pub items: Vec<HealthCheck>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: Status,
    pub status_reason: Option<String>,
    pub last_check: Option<HealthCheck>,
    pub window: String,
    pub checks_in_window: i64,
    /// Share of successful checks in the window; null without checks.
    pub uptime_percent: Option<f64>,
    pub p50_response_ms: Option<i64>,
    pub p95_response_ms: Option<i64>,
    pub history: HealthHistory,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataSourceType {
    #[serde(rename = "type")]
    pub source_type: String,
    pub name: String,
    pub category: Category,
    pub plugin: String,
    pub plugin_version: String,
    #[schema(value_type = Object)]
    pub config_schema: Value,
    pub secret_fields: Vec<String>,
    pub default_port: Option<u16>,
    pub file_based: bool,
    /// Whether `GET /{id}/preview` can read data (connectors built for
    /// API 0.2.0 and later).
    pub preview: bool,
    /// The language `POST /{id}/query` takes (e.g. `sql`), when the type runs queries.
    pub query_language: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataSourceTypeList {
    pub items: Vec<DataSourceType>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub job_id: String,
    pub status: String,
    /// False when a discovery was already queued or running (this is its id).
    pub created: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Metrics {
    /// Live data sources the caller can see, by status.
    #[schema(value_type = Object)]
    pub data_sources_by_status: BTreeMap<String, i64>,
    pub data_sources_total: i64,
    /// In the caller's organization since this server started.
    pub tests_run: u64,
    pub tests_failed: u64,
    pub average_test_latency_ms: Option<f64>,
    pub discoveries_run: u64,
    pub discoveries_failed: u64,
    pub connections_opened: u64,
    pub plugins_loaded: usize,
    /// Live data sources the caller can see, by circuit-breaker state.
    #[schema(value_type = Object)]
    pub breakers_by_state: BTreeMap<String, i64>,
    /// Breaker transitions and scheduled checks since this server started.
    pub breakers_opened: u64,
    pub breakers_closed: u64,
    pub scheduled_checks: u64,
    pub checks_skipped_breaker_open: u64,
    /// Connection pools of the data sources the caller can see; a pool
    /// appears once it has lent a connection.
    pub pools: Vec<crate::pool::PoolStats>,
    /// Idle pooled connections on this server, over every organization.
    pub idle_connections_total: usize,
    /// SSH tunnels on this server: open now, forwarded channels, reconnects, failures.
    #[schema(value_type = Object)]
    pub ssh_tunnels: crate::tunnel::TunnelsStats,
    pub schema_cache: crate::core::schema_cache::SchemaCacheStats,
    /// Connector stores alive now (pooled connections and calls in flight).
    pub plugin_instances_live: i64,
    pub plugin_instances_created: u64,
    /// Plugins whose compiled code came from the on-disk cache at start.
    pub plugins_from_compile_cache: usize,
    pub started_at: String,
}

/// A data source's circuit breaker: `open` after repeated failures (scheduled
/// checks and discovery wait until `open_until`), then `half_open` while one
/// probe decides.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CircuitBreaker {
    pub state: crate::health::BreakerState,
    pub consecutive_failures: u32,
    pub open_until: Option<String>,
}

impl CircuitBreaker {
    pub fn of(breaker: &crate::health::Breaker) -> Self {
        Self {
            state: breaker.state,
            consecutive_failures: breaker.consecutive_failures,
            open_until: breaker.open_until.map(crate::db::format_time),
        }
    }
}
