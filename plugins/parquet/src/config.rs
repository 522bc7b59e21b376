//! The data source's config, checked again here although the host validated
//! it against the manifest's JSON Schema: a connector must not trust its caller.

use inlet_sdk::ConnectorError;
use inlet_sdk::config::{self, ConnectorConfig};
use inlet_sdk::file::FileTarget;
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
    /// The file or folder (`/data/…` or `/data`), and the table's name if
    /// the config sets it.
    pub target: FileTarget,
    /// A folder holding more `.parquet` files than this is refused.
    pub max_files: u32,
}

impl ConnectorConfig for Config {
    type Raw = RawConfig;

    fn check(raw: RawConfig) -> Result<Self, ConnectorError> {
        let target = FileTarget::check(raw.file_path, raw.table_name)?;
        config::in_range("max_files", raw.max_files, 1..=MAX_MAX_FILES)?;
        Ok(Self { target, max_files: raw.max_files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::file::FileSource;
    use inlet_sdk::testing::assert_config_errors;

    #[test]
    fn defaults_and_options() {
        let config = Config::from_json(r#"{"file_path":"/data/trips.parquet"}"#).unwrap();
        assert_eq!((config.max_files, config.table_name()), (10_000, "trips".to_owned()));
        let config = Config::from_json(r#"{"file_path":"/data","max_files":3,"table_name":"t"}"#).unwrap();
        assert_eq!((config.max_files, config.table_name()), (3, "t".to_owned()));
    }

    #[test]
    fn bad_values_are_config_errors() {
        assert_config_errors::<Config>(&[
            r#"{}"#,
            r#"{"file_path":" "}"#,
            r#"{"file_path":"a","max_files":0}"#,
            r#"{"file_path":"a","max_files":1000001}"#,
            r#"{"file_path":"a","table_name":""}"#,
            r#"{"file_path":"a","delimiter":","}"#,
        ]);
    }
}
