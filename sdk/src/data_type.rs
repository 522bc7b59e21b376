//! The portable data type names of `column.data-type` (see the WIT docs).

pub const BOOLEAN: &str = "boolean";
pub const INT16: &str = "int16";
pub const INT32: &str = "int32";
pub const INT64: &str = "int64";
pub const UINT8: &str = "uint8";
pub const UINT16: &str = "uint16";
pub const UINT32: &str = "uint32";
pub const UINT64: &str = "uint64";
pub const FLOAT32: &str = "float32";
pub const FLOAT64: &str = "float64";
pub const DECIMAL: &str = "decimal";
pub const STRING: &str = "string";
pub const BINARY: &str = "binary";
pub const DATE: &str = "date";
pub const TIME: &str = "time";
pub const TIMESTAMP: &str = "timestamp";
pub const TIMESTAMP_TZ: &str = "timestamp-tz";
pub const INTERVAL: &str = "interval";
pub const UUID: &str = "uuid";
pub const JSON: &str = "json";
pub const ARRAY: &str = "array";
pub const MAP: &str = "map";
pub const STRUCT: &str = "struct";
pub const ENUM: &str = "enum";
pub const GEOMETRY: &str = "geometry";
pub const OTHER: &str = "other";
