//! The data source's config, checked again here although the host validated
//! it against the manifest's JSON Schema: a connector must not trust its caller.

use inlet_sdk::ConnectorError;
use inlet_sdk::config::{self, ConnectorConfig};
use inlet_sdk::file::FileTarget;
use serde::Deserialize;

pub const DEFAULT_SAMPLE_ROWS: u64 = 1000;
pub const MAX_SAMPLE_ROWS: u64 = 100_000;
pub const DEFAULT_MAX_FILE_MIB: u64 = 256;
pub const MAX_FILE_MIB: u64 = 1024;
/// Excel's own row limit; a header row past it cannot exist.
pub const MAX_ROW: u64 = 1_048_576;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    file_path: String,
    #[serde(default)]
    sheets: Option<Vec<String>>,
    #[serde(default = "default_true")]
    has_header: bool,
    #[serde(default)]
    header_row: Option<u64>,
    #[serde(default = "default_sample_rows")]
    sample_rows: u64,
    #[serde(default = "default_max_file_mib")]
    max_file_mib: u64,
}

fn default_true() -> bool {
    true
}

fn default_sample_rows() -> u64 {
    DEFAULT_SAMPLE_ROWS
}

fn default_max_file_mib() -> u64 {
    DEFAULT_MAX_FILE_MIB
}

/// Where a sheet's header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMode {
    /// The first non-empty row that looks like a header, if any.
    Detect,
    /// No header: every row is data.
    None,
    /// This 1-based sheet row; rows above it are skipped.
    Row(u32),
}

/// The checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file (the host rewrote its path to `/data/…`).
    pub target: FileTarget,
    /// Only these sheets, in the workbook's order; `None` for all.
    pub sheets: Option<Vec<String>>,
    pub header: HeaderMode,
    pub sample_rows: u64,
    pub max_file_bytes: u64,
}

impl ConnectorConfig for Config {
    type Raw = RawConfig;

    fn check(raw: RawConfig) -> Result<Self, ConnectorError> {
        let target = FileTarget::check(raw.file_path, None)?;
        config::in_range("sample_rows", raw.sample_rows, 1..=MAX_SAMPLE_ROWS)?;
        config::in_range("max_file_mib", raw.max_file_mib, 1..=MAX_FILE_MIB)?;
        if let Some(sheets) = &raw.sheets {
            if sheets.is_empty() {
                return Err(ConnectorError::config("`sheets` must name at least one sheet (leave it out for all)"));
            }
            if sheets.iter().any(|name| name.is_empty()) {
                return Err(ConnectorError::config("`sheets` must not hold an empty name"));
            }
        }
        let header = match (raw.has_header, raw.header_row) {
            (false, Some(_)) => {
                return Err(ConnectorError::config("`header_row` needs `has_header` to be true"));
            }
            (false, None) => HeaderMode::None,
            (true, None) => HeaderMode::Detect,
            (true, Some(row)) => match u32::try_from(row) {
                Ok(row) if (1..=MAX_ROW).contains(&u64::from(row)) => HeaderMode::Row(row),
                _ => {
                    return Err(ConnectorError::config(format!(
                        "`header_row` must be between 1 and {MAX_ROW}, not {row}"
                    )));
                }
            },
        };
        Ok(Self {
            target,
            sheets: raw.sheets,
            header,
            sample_rows: raw.sample_rows,
            max_file_bytes: raw.max_file_mib * 1024 * 1024,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::file::FileSource;
    use inlet_sdk::testing::assert_config_errors;

    #[test]
    fn defaults_apply() {
        let config = Config::from_json(r#"{"file_path":"/data/book.xlsx"}"#).unwrap();
        assert_eq!(config.header, HeaderMode::Detect);
        assert_eq!(config.sample_rows, 1000);
        assert_eq!(config.max_file_bytes, 256 * 1024 * 1024);
        assert_eq!(config.sheets, None);
        assert_eq!(config.file_name(), "book.xlsx");
    }

    #[test]
    fn every_option_is_read() {
        let config = Config::from_json(
            r#"{"file_path":"/data/a.xls","sheets":["A","B"],"header_row":3,"sample_rows":5,"max_file_mib":1024}"#,
        )
        .unwrap();
        assert_eq!(config.header, HeaderMode::Row(3));
        assert_eq!(config.sheets, Some(vec!["A".to_owned(), "B".to_owned()]));
        assert_eq!((config.sample_rows, config.max_file_bytes), (5, 1024 * 1024 * 1024));
        let none = Config::from_json(r#"{"file_path":"/data/a.ods","has_header":false}"#).unwrap();
        assert_eq!(none.header, HeaderMode::None);
    }

    #[test]
    fn bad_values_are_config_errors() {
        assert_config_errors::<Config>(&[
            r#"{}"#,
            r#"{"file_path":" "}"#,
            r#"{"file_path":"a","sample_rows":0}"#,
            r#"{"file_path":"a","sample_rows":100001}"#,
            r#"{"file_path":"a","max_file_mib":0}"#,
            r#"{"file_path":"a","max_file_mib":1025}"#,
            r#"{"file_path":"a","header_row":0}"#,
            r#"{"file_path":"a","header_row":1048577}"#,
            r#"{"file_path":"a","header_row":2,"has_header":false}"#,
            r#"{"file_path":"a","sheets":[]}"#,
            r#"{"file_path":"a","sheets":[""]}"#,
            r#"{"file_path":"a","delimiter":","}"#,
        ]);
    }
}
