//! The data source's config, checked again here although the host validated
//! it against the manifest's JSON Schema: a connector must not trust its caller.

use inlet_sdk::ConnectorError;
use inlet_sdk::config::{self, ConnectorConfig};
use serde::Deserialize;

pub const DEFAULT_MAX_FILES: u32 = 10_000;
pub const MAX_MAX_FILES: u32 = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    file_path: String,
    #[serde(default = "default_max_files")]
    max_files: u32,
    #[serde(default)]
    table_name: Option<String>,
}

fn default_max_files() -> u32 {
    DEFAULT_MAX_FILES
}

/// The checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file's or folder's path inside the guest (`/data/…` or `/data`).
    pub file_path: String,
    /// A folder holding more `.parquet` files than this is refused.
    pub max_files: u32,
    pub table_name: Option<String>,
}

impl ConnectorConfig for Config {
    type Raw = RawConfig;

    fn check(raw: RawConfig) -> Result<Self, ConnectorError> {
        config::non_empty("file_path", &raw.file_path)?;
        config::in_range("max_files", raw.max_files, 1..=MAX_MAX_FILES)?;
        config::non_empty_if_set("table_name", raw.table_name.as_deref())?;
        Ok(Self { file_path: raw.file_path, max_files: raw.max_files, table_name: raw.table_name })
    }
}

impl Config {
    /// The table's name: `table_name`, or the file's (folder's) name without extension.
    pub fn table_name(&self) -> String {
        self.table_name.clone().unwrap_or_else(|| inlet_sdk::file::file_stem(&self.file_path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;

    #[test]
    fn defaults_and_options() {
        let config = Config::from_json(r#"{"file_path":"/data/trips.parquet"}"#).unwrap();
        assert_eq!((config.max_files, config.table_name()), (10_000, "trips".to_owned()));
        let config = Config::from_json(r#"{"file_path":"/data","max_files":3,"table_name":"t"}"#).unwrap();
        assert_eq!((config.max_files, config.table_name()), (3, "t".to_owned()));
    }

    #[test]
    fn bad_values_are_config_errors() {
        for json in [
            r#"{}"#,
            r#"{"file_path":" "}"#,
            r#"{"file_path":"a","max_files":0}"#,
            r#"{"file_path":"a","max_files":1000001}"#,
            r#"{"file_path":"a","table_name":""}"#,
            r#"{"file_path":"a","delimiter":","}"#,
        ] {
            assert_eq!(Config::from_json(json).unwrap_err().kind, ErrorKind::Config, "{json}");
        }
    }
}
