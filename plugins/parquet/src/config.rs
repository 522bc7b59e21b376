//! The data source's config, checked again here although the host validated
//! it against the manifest's JSON Schema: a connector must not trust its caller.

use inlet_sdk::ConnectorError;
use serde::Deserialize;

pub const DEFAULT_MAX_FILES: u32 = 10_000;
pub const MAX_MAX_FILES: u32 = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
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

impl Config {
    pub fn from_json(json: &str) -> Result<Self, ConnectorError> {
        let raw: RawConfig =
            serde_json::from_str(json).map_err(|error| ConnectorError::config(format!("invalid config: {error}")))?;
        if raw.file_path.trim().is_empty() {
            return Err(ConnectorError::config("`file_path` must not be empty"));
        }
        if !(1..=MAX_MAX_FILES).contains(&raw.max_files) {
            return Err(ConnectorError::config(format!(
                "`max_files` must be between 1 and {MAX_MAX_FILES}, not {}",
                raw.max_files
            )));
        }
        if raw.table_name.as_deref().is_some_and(|name| name.trim().is_empty()) {
            return Err(ConnectorError::config("`table_name` must not be empty"));
        }
        Ok(Self { file_path: raw.file_path, max_files: raw.max_files, table_name: raw.table_name })
    }

    /// The table's name: `table_name`, or the file's (folder's) name without extension.
    pub fn table_name(&self) -> String {
        if let Some(name) = &self.table_name {
            return name.clone();
        }
        std::path::Path::new(&self.file_path)
            .file_stem()
            .and_then(|stem| stem.to_str())
            .filter(|stem| !stem.is_empty())
            .unwrap_or("file")
            .to_owned()
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
