//! The core's domain types: a data source's status and settings (pool and
//! timeouts, SSH tunnel, schema refresh), why a check ran, and a discovered
//! catalog's shapes. Stored as JSON in the data source's row; the API's
//! DTOs carry them as they are (their schemas are part of the API).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::DataSourceRow;
use crate::pool::Want;

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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SchemaSummary {
    pub name: String,
    pub table_count: i64,
}

/// One discovered table (with its schema's name). Serialized only to
/// measure its size; the API's DTO maps it for responses.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveredTable {
    pub schema: String,
    #[serde(flatten)]
    pub table: crate::model::Table,
}

impl std::str::FromStr for Status {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "testing" => Self::Testing,
            "active" => Self::Active,
            "inactive" => Self::Inactive,
            "failed" => Self::Failed,
            "maintenance" => Self::Maintenance,
            other => return Err(format!("`{other}` is not a status")),
        })
    }
}

impl Status {
    /// A data source's stored status (a row that names none counts as failed:
    /// only a status written by this code is ever stored).
    pub fn of_row(row: &DataSourceRow) -> Self {
        row.status.parse().unwrap_or(Self::Failed)
    }

    /// Held by a user: checks do not move it, config changes do not test it.
    pub fn is_held(self) -> bool {
        matches!(self, Self::Inactive | Self::Maintenance)
    }
}

impl ConnectionSettings {
    /// A data source's settings as stored (defaults where unset or
    /// unreadable: they were validated when written).
    pub fn of_row(row: &DataSourceRow) -> Self {
        serde_json::from_str(&row.connection_settings).unwrap_or_default()
    }
}

impl SchemaRefresh {
    /// A data source's schema refresh as stored (the default when unreadable).
    pub fn of_row(row: &DataSourceRow) -> Self {
        serde_json::from_str(&row.schema_refresh).unwrap_or_default()
    }
}

/// What caused a connection test; stored with the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOrigin {
    Create,
    Update,
    Manual,
    Scheduler,
}

impl CheckOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Manual => "manual",
            Self::Scheduler => "scheduler",
        }
    }

    /// A test a person asked for, or of a definition just written, opens a
    /// new connection, so TCP, TLS and authentication really run and are
    /// shown (a password changed at the server is noticed). It stays within
    /// the pool's size: a full pool retires an idle connection first.
    /// Scheduled checks reuse a pooled connection.
    pub fn wants(self) -> Want {
        match self {
            Self::Scheduler => Want::Any,
            Self::Create | Self::Update | Self::Manual => Want::Fresh,
        }
    }
}
