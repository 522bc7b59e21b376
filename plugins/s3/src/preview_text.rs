//! `preview` of CSV, TSV, JSON and NDJSON objects (gzipped too): the first
//! `sample_bytes` of each file in key order (one ranged GET, as discovery
//! reads them), its complete records parsed and (JSON) flattened as
//! discovery does, each cell typed as discovery typed its column.

use std::collections::HashMap;

use inlet_parquet_meta::partition;
use inlet_sdk::http::Transport;
use inlet_sdk::prelude::*;
use inlet_sdk::rows::Value;
use inlet_sdk::rows::{ValuesKind, values_kind};

use crate::api::Client;
use crate::config::Config;
use crate::layout::DataFile;
use crate::sample;

/// Where a chosen column's cells are.
enum Origin {
    /// The cell at this position of a record.
    Cell(usize),
    Partition,
}

/// The columns and rows of CSV `files` (`columns` as discover describes them).
#[allow(clippy::too_many_arguments)]
pub fn csv<T: Transport>(
    client: &Client<T>,
    config: &Config,
    files: &[&DataFile],
    columns: &[Column],
    chosen: &[&Column],
    gzip: bool,
    delimiter: u8,
    limit: u32,
) -> Result<(Vec<ResultColumn>, Vec<Vec<Value>>), ConnectorError> {
    let origins: Vec<Origin> = chosen
        .iter()
        .map(|c| {
            let at = columns.iter().position(|d| d.name == c.name).unwrap_or(0);
            if c.native_type.starts_with("partition (") { Origin::Partition } else { Origin::Cell(at) }
        })
        .collect();
    let result_columns = chosen.iter().map(|c| partition::result_column(c)).collect();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for file in files {
        if rows.len() >= limit {
            break;
        }
        let (bytes, whole) = first_bytes(client, config, file, gzip)?;
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let text = sample::complete_lines(bytes, whole);
        let delimiter = if delimiter == b'\t' { b'\t' } else { sample::sniff_delimiter(text) };
        let mut reader =
            csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text);
        let mut record = csv::ByteRecord::new();
        let mut header = true;
        while rows.len() < limit {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => return Err(ConnectorError::protocol(format!("{}: {error}", file.key))),
            }
            if std::mem::take(&mut header) || (record.len() == 1 && record.get(0).is_some_and(<[u8]>::is_empty)) {
                continue;
            }
            let mut row = Vec::with_capacity(chosen.len());
            for (origin, column) in origins.iter().zip(chosen) {
                let value = match origin {
                    Origin::Cell(at) => {
                        let text = record.get(*at).map(String::from_utf8_lossy);
                        partition::text_value(text.as_deref(), column)
                    }
                    Origin::Partition => {
                        let text = file.partitions.iter().find(|(k, _)| *k == column.name).map(|(_, v)| v.as_str());
                        partition::value(text, column)
                    }
                }
                .map_err(|error| ConnectorError::protocol(format!("{}: {}", file.key, error.message)))?;
                row.push(value);
            }
            rows.push(row);
        }
    }
    Ok((result_columns, rows))
}

/// The first `sample_bytes` of `file` (inflated), and whether they are all of it.
fn first_bytes<T: Transport>(
    client: &Client<T>,
    config: &Config,
    file: &DataFile,
    gzip: bool,
) -> Result<(Vec<u8>, bool), ConnectorError> {
    let len = file.size.min(config.sample_bytes);
    let raw = client.get_range(&file.key, 0, len, file.size)?;
    let whole_object = len == file.size;
    if !gzip {
        return Ok((raw, whole_object));
    }
    let (inflated, ended) = sample::gunzip(&raw, sample::MAX_INFLATED)
        .map_err(|error| ConnectorError::protocol(format!("{}: {}", file.key, error.message)))?;
    Ok((inflated, whole_object && ended))
}

/// The columns and rows of JSON or NDJSON `files`.
pub fn json<T: Transport>(
    client: &Client<T>,
    config: &Config,
    files: &[&DataFile],
    chosen: &[&Column],
    gzip: bool,
    limit: u32,
) -> Result<(Vec<ResultColumn>, Vec<Vec<Value>>), ConnectorError> {
    let result_columns = chosen.iter().map(|c| partition::result_column(c)).collect();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for file in files {
        if rows.len() >= limit {
            break;
        }
        let (bytes, whole) = first_bytes(client, config, file, gzip)?;
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
        let records: Vec<&[u8]> = if bytes.get(start) == Some(&b'[') {
            sample::array_elements(&bytes[start..])
                .map_err(|at| {
                    ConnectorError::protocol(format!("{}: malformed JSON array at byte {}", file.key, start + at))
                })?
                .0
        } else {
            sample::complete_lines(bytes, whole)
                .split(|&b| b == b'\n')
                .map(<[u8]>::trim_ascii)
                .filter(|l| !l.is_empty())
                .collect()
        };
        for record in records {
            if rows.len() >= limit {
                break;
            }
            let record: serde_json::Value = serde_json::from_slice(record)
                .map_err(|error| ConnectorError::protocol(format!("{}: a record is not JSON: {error}", file.key)))?;
            let mut leaves = HashMap::new();
            match &record {
                serde_json::Value::Object(_) => flatten("", &record, 0, &mut leaves),
                other => flatten("value", other, 1, &mut leaves),
            }
            let mut row = Vec::with_capacity(chosen.len());
            for column in chosen {
                let value = match leaves.get(column.name.as_str()) {
                    Some(leaf) => json_value(leaf, column),
                    None if column.native_type.starts_with("partition (") => {
                        let text = file.partitions.iter().find(|(k, _)| *k == column.name).map(|(_, v)| v.as_str());
                        partition::value(text, column)
                    }
                    None => Ok(Value::Null),
                }
                .map_err(|error| ConnectorError::protocol(format!("{}: {}", file.key, error.message)))?;
                row.push(value);
            }
            rows.push(row);
        }
    }
    Ok((result_columns, rows))
}

/// A record's leaves by dotted path, flattened exactly as discovery
/// flattens them (`sample::json`): non-empty objects above
/// `sample::MAX_DEPTH` become their keys.
fn flatten<'v>(path: &str, value: &'v serde_json::Value, depth: u32, out: &mut HashMap<String, &'v serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) if depth < sample::MAX_DEPTH && !map.is_empty() => {
            for (key, child) in map {
                let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                flatten(&child_path, child, depth + 1, out);
            }
        }
        _ => {
            out.insert(path.to_owned(), value);
        }
    }
}

/// A JSON leaf as a value of `column`.
fn json_value(leaf: &serde_json::Value, column: &Column) -> Result<Value, ConnectorError> {
    use serde_json::Value as Json;
    let kind = values_kind(&column.data_type);
    Ok(match leaf {
        Json::Null => Value::Null,
        _ if kind == ValuesKind::Json => Value::Json(leaf.to_string()),
        // A string column keeps strings as they are, empty ones too.
        Json::String(text) if kind == ValuesKind::Utf8 => Value::Text(text.clone()),
        Json::String(text) => partition::text_value(Some(text), column)?,
        Json::Number(_) | Json::Bool(_) => partition::text_value(Some(&leaf.to_string()), column)?,
        Json::Object(_) | Json::Array(_) => Value::Text(leaf.to_string()),
    })
}
