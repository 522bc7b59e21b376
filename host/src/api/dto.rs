//! Request and response bodies of the data source API, with their bounds.
//! Requests refuse unknown fields, so a typo is a 400 rather than a silent no-op.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::connectors::TestOutcome;

/// Pool and timeout settings of one data source, bounds-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionSettings {
    /// Live connections kept for this data source (1–50).
    #[schema(minimum = 1, maximum = 50)]
    pub pool_size: u32,
    /// Seconds to connect, including TLS and authentication (1–300).
    #[schema(minimum = 1, maximum = 300)]
    pub connect_timeout_s: u32,
    /// Seconds for one operation (1–3600).
    #[schema(minimum = 1, maximum = 3600)]
    pub query_timeout_s: u32,
    /// Retries of errors the connector marks retryable (0–10).
    #[schema(minimum = 0, maximum = 10)]
    pub max_retries: u32,
    /// Seconds a pooled connection may sit unused before it is closed (5–3600).
    #[schema(minimum = 5, maximum = 3600)]
    pub idle_timeout_s: u32,
    /// Seconds after which a pooled connection is replaced, however busy (60–86400).
    #[schema(minimum = 60, maximum = 86400)]
    pub max_lifetime_s: u32,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            pool_size: 5,
            connect_timeout_s: 30,
            query_timeout_s: 300,
            max_retries: 3,
            idle_timeout_s: 300,
            max_lifetime_s: 1800,
        }
    }
}

impl ConnectionSettings {
    pub fn check(&self) -> Result<(), (String, String)> {
        let bounds = [
            ("pool_size", self.pool_size, 1, 50),
            ("connect_timeout_s", self.connect_timeout_s, 1, 300),
            ("query_timeout_s", self.query_timeout_s, 1, 3600),
            ("max_retries", self.max_retries, 0, 10),
            ("idle_timeout_s", self.idle_timeout_s, 5, 3600),
            ("max_lifetime_s", self.max_lifetime_s, 60, 86_400),
        ];
        for (field, value, min, max) in bounds {
            if !(min..=max).contains(&value) {
                return Err((format!("/connection_settings/{field}"), format!("must be between {min} and {max}")));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SshAuth {
    Password,
    PrivateKey,
}

/// Reaching the database through an SSH bastion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshTunnel {
    pub enabled: bool,
    pub host: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    pub username: String,
    pub auth: SshAuth,
    /// `SHA256:…` of the bastion's host key.
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
}

fn default_ssh_port() -> u16 {
    22
}

/// When the schema is rediscovered on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRefresh {
    pub auto: bool,
    /// Seconds between automatic discoveries (60–604800).
    #[schema(minimum = 60, maximum = 604800)]
    pub interval_s: u32,
}

impl Default for SchemaRefresh {
    fn default() -> Self {
        Self { auto: true, interval_s: 3600 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Testing,
    Active,
    Inactive,
    Failed,
    Maintenance,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Testing => "testing",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Failed => "failed",
            Self::Maintenance => "maintenance",
        }
    }
}

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
    /// Changes since the previous successful discovery (absent for the first).
    pub diff: Option<crate::catalog_diff::SchemaDiff>,
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
            diff: job.diff.as_deref().and_then(|text| serde_json::from_str(text).ok()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SchemaParams {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Tables per page (1–500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub page_size: Option<u32>,
    /// Only this schema.
    pub schema: Option<String>,
    /// Case-insensitive substring of the table name.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchemaSummary {
    pub name: String,
    pub table_count: i64,
}

/// One discovered table (with its schema's name).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscoveredTable {
    pub schema: String,
    #[serde(flatten)]
    pub table: crate::model::Table,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaCatalog {
    pub discovery: Option<DiscoveryJob>,
    pub schemas: Vec<SchemaSummary>,
    pub items: Vec<DiscoveredTable>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
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
    pub category: Option<String>,
    pub plugin: String,
    pub plugin_version: String,
    #[schema(value_type = Object)]
    pub config_schema: Value,
    pub secret_fields: Vec<String>,
    pub default_port: Option<u16>,
    pub file_based: bool,
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
    pub schema_cache: super::schema_cache::SchemaCacheStats,
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
