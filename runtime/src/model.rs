//! What connectors are asked and answer, in the host's own terms:
//! independent of the WIT version a plugin was built against, serializable
//! for storage and the CLI. The HTTP API documents and maps its own types
//! (`api::catalog_dto`).
//!
//! Each supported WIT version converts between its generated types and these
//! (see `runtime::wit`), so everything above the runtime sees one model.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

/// What a connector gets to open a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub source_type: String,
    /// The validated config as JSON text.
    pub config: String,
    /// The secret config fields, by name.
    pub secrets: Vec<(String, String)>,
    /// Where to connect, already allowed by the egress policy.
    pub endpoint: Option<Endpoint>,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
}

/// A server address as the connector sees it: an IP literal (the host
/// resolves names itself) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl From<SocketAddr> for Endpoint {
    fn from(address: SocketAddr) -> Self {
        Self { host: address.ip().to_string(), port: address.port() }
    }
}

/// Why a connector call failed, as the platform acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CheckStep {
    pub name: String,
    pub passed: bool,
    pub duration_us: u64,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TestReport {
    pub server_version: Option<String>,
    pub steps: Vec<CheckStep>,
}

/// A failed call with the stages that ran before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Failure {
    pub error: ConnectorError,
    pub steps: Vec<CheckStep>,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>, retryable: bool) -> Self {
        Self { error: ConnectorError { kind, message: message.into(), retryable }, steps: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    pub columns: Vec<String>,
    pub referenced_schema: Option<String>,
    pub referenced_table: Option<String>,
    pub referenced_columns: Vec<String>,
    pub definition: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Table {
    pub name: String,
    pub kind: ObjectKind,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub comment: Option<String>,
    pub row_estimate: Option<u64>,
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DiscoverPage {
    pub schemas: Vec<Schema>,
    pub next_page_token: Option<String>,
}

/// The first rows of one discovered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRequest {
    pub schema: String,
    pub object: String,
    /// Only these columns, in this order (empty: all of them).
    pub columns: Vec<String>,
    pub limit: u32,
}

/// A parameter bound by the source's protocol, never spliced into text.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    Null,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    Binary(Vec<u8>),
}

/// A statement in the source's own language.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    pub statement: String,
    pub parameters: Vec<Parameter>,
    pub max_rows: u64,
    pub timeout: Duration,
}

/// What rows are asked for: a preview or a query.
#[derive(Debug, Clone, PartialEq)]
pub enum RowsRequest {
    Preview(PreviewRequest),
    Query(QueryRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Second,
    Millisecond,
    Microsecond,
    Nanosecond,
}

impl TimeUnit {
    /// How many of this unit make one second.
    pub fn per_second(self) -> i64 {
        match self {
            Self::Second => 1,
            Self::Millisecond => 1_000,
            Self::Microsecond => 1_000_000,
            Self::Nanosecond => 1_000_000_000,
        }
    }
}

/// One column of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultColumn {
    pub name: String,
    /// A portable type name (as `Column::data_type`); it fixes the
    /// [`Values`] case of every batch (see [`ValuesKind::of_data_type`]).
    pub data_type: String,
    pub native_type: String,
    pub nullable: bool,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    /// For time and timestamp columns.
    pub time_unit: TimeUnit,
    /// For timestamp-tz columns: the zone the source shows them in (values are UTC).
    pub time_zone: Option<String>,
}

impl ResultColumn {
    /// The [`Values`] case this column's batches carry.
    pub fn values_kind(&self) -> ValuesKind {
        ValuesKind::of_data_type(&self.data_type)
    }

    /// Whether the column's timestamps are instants in UTC (timestamp-tz).
    pub fn values_kind_is_utc(&self) -> bool {
        matches!(self.data_type.as_str(), "timestamp-tz" | "timestamp_tz")
    }
}

impl ResultColumn {
    /// A nullable column of `data_type` whose native type is the same name,
    /// with no precision, scale or zone, times in microseconds.
    pub fn plain(name: &str, data_type: &str) -> Self {
        Self {
            name: name.into(),
            data_type: data_type.into(),
            native_type: data_type.into(),
            nullable: true,
            precision: None,
            scale: None,
            time_unit: TimeUnit::Microsecond,
            time_zone: None,
        }
    }
}

/// Texts laid end to end: value `i` is `data[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextVector {
    pub offsets: Vec<u32>,
    pub data: String,
}

impl TextVector {
    /// Value `index`; the vector was checked when it crossed the boundary.
    pub fn get(&self, index: usize) -> &str {
        let (start, end) = (self.offsets[index] as usize, self.offsets[index + 1] as usize);
        &self.data[start..end]
    }
}

/// Byte strings laid end to end, as [`TextVector`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ByteVector {
    pub offsets: Vec<u32>,
    pub data: Vec<u8>,
}

impl ByteVector {
    pub fn get(&self, index: usize) -> &[u8] {
        let (start, end) = (self.offsets[index] as usize, self.offsets[index + 1] as usize);
        &self.data[start..end]
    }
}

/// The values of one column in one batch (a NULL has a placeholder).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Boolean(Vec<bool>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    UInt8(Vec<u8>),
    UInt16(Vec<u16>),
    UInt32(Vec<u32>),
    UInt64(Vec<u64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Decimal(TextVector),
    Utf8(TextVector),
    Binary(ByteVector),
    /// Days since 1970-01-01.
    Date(Vec<i32>),
    /// Since midnight, in the column's unit.
    Time(Vec<i64>),
    /// Since the epoch (UTC for timestamp-tz), in the column's unit.
    Timestamp(Vec<i64>),
    Json(TextVector),
}

/// Which case of [`Values`] a column carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValuesKind {
    Boolean,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Decimal,
    Utf8,
    Binary,
    Date,
    Time,
    Timestamp,
    Json,
}

impl ValuesKind {
    /// The contract's table from portable type names to value cases; names
    /// it does not list (string, uuid, enum, interval, geometry, other and
    /// any newer one) travel as text.
    pub fn of_data_type(data_type: &str) -> Self {
        match data_type {
            "boolean" => Self::Boolean,
            "int16" => Self::Int16,
            "int32" => Self::Int32,
            "int64" => Self::Int64,
            "uint8" => Self::UInt8,
            "uint16" => Self::UInt16,
            "uint32" => Self::UInt32,
            "uint64" => Self::UInt64,
            "float32" => Self::Float32,
            "float64" => Self::Float64,
            "decimal" => Self::Decimal,
            "date" => Self::Date,
            "time" => Self::Time,
            "timestamp" | "timestamp-tz" | "timestamp_tz" => Self::Timestamp,
            "binary" => Self::Binary,
            "json" | "array" | "map" | "struct" => Self::Json,
            _ => Self::Utf8,
        }
    }
}

impl Values {
    pub fn kind(&self) -> ValuesKind {
        match self {
            Self::Boolean(_) => ValuesKind::Boolean,
            Self::Int16(_) => ValuesKind::Int16,
            Self::Int32(_) => ValuesKind::Int32,
            Self::Int64(_) => ValuesKind::Int64,
            Self::UInt8(_) => ValuesKind::UInt8,
            Self::UInt16(_) => ValuesKind::UInt16,
            Self::UInt32(_) => ValuesKind::UInt32,
            Self::UInt64(_) => ValuesKind::UInt64,
            Self::Float32(_) => ValuesKind::Float32,
            Self::Float64(_) => ValuesKind::Float64,
            Self::Decimal(_) => ValuesKind::Decimal,
            Self::Utf8(_) => ValuesKind::Utf8,
            Self::Binary(_) => ValuesKind::Binary,
            Self::Date(_) => ValuesKind::Date,
            Self::Time(_) => ValuesKind::Time,
            Self::Timestamp(_) => ValuesKind::Timestamp,
            Self::Json(_) => ValuesKind::Json,
        }
    }

    /// How many values the vector holds.
    pub fn len(&self) -> usize {
        match self {
            Self::Boolean(v) => v.len(),
            Self::Int16(v) => v.len(),
            Self::Int32(v) | Self::Date(v) => v.len(),
            Self::Int64(v) | Self::Time(v) | Self::Timestamp(v) => v.len(),
            Self::UInt8(v) => v.len(),
            Self::UInt16(v) => v.len(),
            Self::UInt32(v) => v.len(),
            Self::UInt64(v) => v.len(),
            Self::Float32(v) => v.len(),
            Self::Float64(v) => v.len(),
            Self::Decimal(t) | Self::Utf8(t) | Self::Json(t) => t.offsets.len().saturating_sub(1),
            Self::Binary(b) => b.offsets.len().saturating_sub(1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the vector occupies (what batch caps count).
    pub fn byte_size(&self) -> usize {
        match self {
            Self::Boolean(v) => v.len(),
            Self::Int16(v) => v.len() * 2,
            Self::Int32(v) | Self::Date(v) => v.len() * 4,
            Self::Int64(v) | Self::Time(v) | Self::Timestamp(v) => v.len() * 8,
            Self::UInt8(v) => v.len(),
            Self::UInt16(v) => v.len() * 2,
            Self::UInt32(v) => v.len() * 4,
            Self::UInt64(v) => v.len() * 8,
            Self::Float32(v) => v.len() * 4,
            Self::Float64(v) => v.len() * 8,
            Self::Decimal(t) | Self::Utf8(t) | Self::Json(t) => t.offsets.len() * 4 + t.data.len(),
            Self::Binary(b) => b.offsets.len() * 4 + b.data.len(),
        }
    }
}

/// One column's values in a batch, with NULLs marked.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnValues {
    pub values: Values,
    /// One entry per row, `false` for NULL; empty when no value is NULL.
    pub validity: Vec<bool>,
}

impl ColumnValues {
    pub fn is_null(&self, row: usize) -> bool {
        self.validity.get(row).is_some_and(|valid| !valid)
    }
}

/// Some rows of a result, column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub row_count: u32,
    pub columns: Vec<ColumnValues>,
}

impl Batch {
    pub fn byte_size(&self) -> usize {
        self.columns.iter().map(|c| c.values.byte_size() + c.validity.len()).sum()
    }
}
