//! What connectors answer, in the host's own terms: independent of the WIT
//! version a plugin was built against, serializable for the API and the CLI.
//!
//! Each supported WIT version converts its generated types into these
//! (see `runtime::v0_1_0`), so everything above the runtime sees one model.

use serde::Serialize;

/// Why a connector call failed, as the platform acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Config,
    Auth,
    Unreachable,
    Timeout,
    Permission,
    NotFound,
    Unsupported,
    Protocol,
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Auth => "auth",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Permission => "permission",
            Self::NotFound => "not_found",
            Self::Unsupported => "unsupported",
            Self::Protocol => "protocol",
            Self::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CheckStep {
    pub name: String,
    pub passed: bool,
    pub duration_us: u64,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TestReport {
    pub server_version: Option<String>,
    pub steps: Vec<CheckStep>,
}

/// A failed call with the stages that ran before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Failure {
    pub error: ConnectorError,
    pub steps: Vec<CheckStep>,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>, retryable: bool) -> Self {
        Self { error: ConnectorError { kind, message: message.into(), retryable }, steps: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Column {
    pub name: String,
    pub ordinal: u32,
    pub data_type: String,
    pub native_type: String,
    pub nullable: bool,
    pub default_value: Option<String>,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    pub columns: Vec<String>,
    pub referenced_schema: Option<String>,
    pub referenced_table: Option<String>,
    pub referenced_columns: Vec<String>,
    pub definition: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    ExternalTable,
    Collection,
    Index,
    KeySpace,
    File,
    Topic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Table {
    pub name: String,
    pub kind: ObjectKind,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub comment: Option<String>,
    pub row_estimate: Option<u64>,
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Schema {
    pub name: String,
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoverRequest {
    pub include_schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
    pub page_token: Option<String>,
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DiscoverPage {
    pub schemas: Vec<Schema>,
    pub next_page_token: Option<String>,
}
