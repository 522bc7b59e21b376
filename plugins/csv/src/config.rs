//! The data source's config, checked again here although the host validated
//! it against the manifest's JSON Schema: the schema cannot say "one ASCII
//! byte", and a connector must not trust its caller.

use std::collections::HashSet;

use inlet_sdk::ConnectorError;
use inlet_sdk::config::{self, ConnectorConfig};
use inlet_sdk::file::FileTarget;
use serde::Deserialize;

use crate::decode::Encoding;

pub const DEFAULT_SAMPLE_ROWS: u64 = 1000;
pub const MAX_SAMPLE_ROWS: u64 = 100_000;
pub const DEFAULT_NULL_VALUES: [&str; 5] = ["", "NULL", "null", "NA", "N/A"];

/// The config as it arrives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    file_path: String,
    #[serde(default = "default_delimiter")]
    delimiter: String,
    #[serde(default = "default_quote")]
    quote: String,
    #[serde(default = "default_true")]
    has_header: bool,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default = "default_sample_rows")]
    sample_rows: u64,
    #[serde(default = "default_null_values")]
    null_values: Vec<String>,
    #[serde(default)]
    compression: Compression,
}

/// Whether the file is compressed. `auto` looks at its first bytes (the
/// gzip magic number), not at its name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Auto,
    None,
    Gzip,
}

fn default_delimiter() -> String {
    ",".to_owned()
}

fn default_quote() -> String {
    "\"".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_sample_rows() -> u64 {
    DEFAULT_SAMPLE_ROWS
}

fn default_null_values() -> Vec<String> {
    DEFAULT_NULL_VALUES.iter().map(|s| (*s).to_owned()).collect()
}

/// The checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file (the host rewrote its path to `/data/…`).
    pub target: FileTarget,
    pub delimiter: u8,
    pub quote: u8,
    pub has_header: bool,
    pub encoding: Encoding,
    pub sample_rows: u64,
    pub null_values: HashSet<String>,
    pub compression: Compression,
}

impl ConnectorConfig for Config {
    type Raw = RawConfig;

    fn check(raw: RawConfig) -> Result<Self, ConnectorError> {
        let target = FileTarget::check(raw.file_path, None)?;
        let delimiter = single_ascii("delimiter", &raw.delimiter)?;
        let quote = single_ascii("quote", &raw.quote)?;
        if delimiter == quote {
            return Err(ConnectorError::config("`delimiter` and `quote` must differ"));
        }
        config::in_range("sample_rows", raw.sample_rows, 1..=MAX_SAMPLE_ROWS)?;
        Ok(Self {
            target,
            delimiter,
            quote,
            has_header: raw.has_header,
            encoding: raw.encoding,
            sample_rows: raw.sample_rows,
            null_values: raw.null_values.into_iter().collect(),
            compression: raw.compression,
        })
    }
}

impl Config {
    pub fn is_null(&self, value: &str) -> bool {
        self.null_values.contains(value)
    }
}

/// The CSV parser splits on bytes, and the file is decoded to UTF-8 first, so
/// the delimiter and quote must be one ASCII character (not a line break).
fn single_ascii(field: &str, value: &str) -> Result<u8, ConnectorError> {
    match value.as_bytes() {
        [byte] if byte.is_ascii() && !matches!(byte, b'\r' | b'\n') => Ok(*byte),
        _ => Err(ConnectorError::config(format!(
            "`{field}` must be one ASCII character other than a line break, not {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::testing::assert_config_errors;

    #[test]
    fn defaults_apply() {
        let config = Config::from_json(r#"{"file_path":"/data/a.csv"}"#).unwrap();
        assert_eq!((config.delimiter, config.quote), (b',', b'"'));
        assert!(config.has_header);
        assert_eq!(config.encoding, Encoding::Utf8);
        assert_eq!(config.sample_rows, 1000);
        for null in DEFAULT_NULL_VALUES {
            assert!(config.is_null(null));
        }
        assert!(!config.is_null("none"));
    }

    #[test]
    fn every_option_is_read() {
        let config = Config::from_json(
            r#"{"file_path":"/data/a.csv","delimiter":"\t","quote":"'","has_header":false,
                "encoding":"iso-8859-1","sample_rows":5,"null_values":["-"]}"#,
        )
        .unwrap();
        assert_eq!((config.delimiter, config.quote), (b'\t', b'\''));
        assert!(!config.has_header);
        assert_eq!(config.encoding, Encoding::Latin1);
        assert_eq!(config.sample_rows, 5);
        assert!(config.is_null("-"));
        assert!(!config.is_null(""));
    }

    #[test]
    fn bad_values_are_config_errors() {
        assert_config_errors::<Config>(&[
            r#"{}"#,
            r#"{"file_path":""}"#,
            r#"{"file_path":"a","delimiter":"ab"}"#,
            r#"{"file_path":"a","delimiter":""}"#,
            r#"{"file_path":"a","delimiter":"§"}"#,
            r#"{"file_path":"a","delimiter":"\n"}"#,
            r#"{"file_path":"a","quote":","}"#,
            r#"{"file_path":"a","sample_rows":0}"#,
            r#"{"file_path":"a","sample_rows":100001}"#,
            r#"{"file_path":"a","encoding":"ebcdic"}"#,
            r#"{"file_path":"a","password":"x"}"#,
        ]);
    }
}
