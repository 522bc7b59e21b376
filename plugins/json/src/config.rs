//! The data source's config, checked again here although the host validated
//! it against the manifest's JSON Schema: a connector must not trust its caller.

use inlet_sdk::ConnectorError;
use inlet_sdk::config::{self, ConnectorConfig};
use inlet_sdk::file::FileTarget;
use serde::Deserialize;

pub const DEFAULT_SAMPLE_ROWS: u64 = 10_000;
pub const MAX_SAMPLE_ROWS: u64 = 1_000_000;
pub const DEFAULT_MAX_DEPTH: u32 = 5;
/// serde_json refuses nesting past 128 levels; stay well inside it.
pub const MAX_DEPTH: u32 = 64;

/// How records are laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `[` as the first non-space byte means an array, anything else NDJSON.
    #[default]
    Auto,
    /// One top-level array whose elements are the records.
    Array,
    /// One record per line (JSON Lines).
    Ndjson,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    file_path: String,
    #[serde(default)]
    format: Format,
    #[serde(default = "default_sample_rows")]
    sample_rows: u64,
    #[serde(default = "default_max_depth")]
    max_depth: u32,
    #[serde(default)]
    table_name: Option<String>,
}

fn default_sample_rows() -> u64 {
    DEFAULT_SAMPLE_ROWS
}

fn default_max_depth() -> u32 {
    DEFAULT_MAX_DEPTH
}

/// The checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file, and the table's name if the config sets it.
    pub target: FileTarget,
    pub format: Format,
    pub sample_rows: u64,
    /// Object nesting flattened into dotted columns; deeper objects are JSON.
    pub max_depth: u32,
}

impl ConnectorConfig for Config {
    type Raw = RawConfig;

    fn check(raw: RawConfig) -> Result<Self, ConnectorError> {
        let target = FileTarget::check(raw.file_path, raw.table_name)?;
        config::in_range("sample_rows", raw.sample_rows, 1..=MAX_SAMPLE_ROWS)?;
        config::in_range("max_depth", raw.max_depth, 1..=MAX_DEPTH)?;
        Ok(Self { target, format: raw.format, sample_rows: raw.sample_rows, max_depth: raw.max_depth })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::file::FileSource;
    use inlet_sdk::testing::assert_config_errors;

    #[test]
    fn defaults_apply() {
        let config = Config::from_json(r#"{"file_path":"/data/events.ndjson"}"#).unwrap();
        assert_eq!(config.format, Format::Auto);
        assert_eq!(config.sample_rows, 10_000);
        assert_eq!(config.max_depth, 5);
        assert_eq!(config.table_name(), "events");
        assert_eq!(config.file_name(), "events.ndjson");
    }

    #[test]
    fn every_option_is_read() {
        let config = Config::from_json(
            r#"{"file_path":"/data/a.json","format":"ndjson","sample_rows":7,"max_depth":2,"table_name":"t"}"#,
        )
        .unwrap();
        assert_eq!(config.format, Format::Ndjson);
        assert_eq!((config.sample_rows, config.max_depth), (7, 2));
        assert_eq!(config.table_name(), "t");
        let array = Config::from_json(r#"{"file_path":"/data/a.json","format":"array"}"#).unwrap();
        assert_eq!(array.format, Format::Array);
    }

    #[test]
    fn bad_values_are_config_errors() {
        assert_config_errors::<Config>(&[
            r#"{}"#,
            r#"{"file_path":" "}"#,
            r#"{"file_path":"a","format":"xml"}"#,
            r#"{"file_path":"a","sample_rows":0}"#,
            r#"{"file_path":"a","sample_rows":1000001}"#,
            r#"{"file_path":"a","max_depth":0}"#,
            r#"{"file_path":"a","max_depth":65}"#,
            r#"{"file_path":"a","table_name":""}"#,
            r#"{"file_path":"a","delimiter":","}"#,
        ]);
        assert_eq!(Config::from_json(r#"{"file_path":"/"}"#).unwrap().table_name(), "file");
    }
}
