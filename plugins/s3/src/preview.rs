//! `preview` of a table as `discover` names it (bucket → schema, folder or
//! top-level file → table): its columns exactly as `discover` describes
//! them, its rows read file after file in key order until `limit`. Parquet
//! objects go through the shared page reader (`inlet_parquet_meta::preview`)
//! over ranged GETs, so only the footer and the pages decoded are fetched.

use std::sync::Arc;

use inlet_parquet_meta::partition;
use inlet_parquet_meta::preview::{FileColumn, file_columns, read_rows};
use inlet_parquet_meta::source::{Chunks, Source};
use inlet_sdk::http::Transport;
use inlet_sdk::prelude::*;
use inlet_sdk::rows::Value;

use crate::api::Client;
use crate::config::Config;
use crate::layout::{self, DataFile, Format, TableFiles};

/// One object read by ranged GETs.
pub struct Object<T: Transport> {
    client: Arc<Client<T>>,
    key: String,
    size: u64,
}

impl<T: Transport + Send + Sync + 'static> Source for Object<T> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, ConnectorError> {
        self.client.get_range(&self.key, offset, len as u64, self.size)
    }
}

/// Where a chosen column's values come from.
enum Origin<'a> {
    File(String),
    Partition(&'a Column),
}

/// The preview's columns and rows.
pub fn preview<T: Transport + Send + Sync + 'static>(
    client: &Arc<Client<T>>,
    config: &Config,
    request: &PreviewRequest,
) -> Result<(Vec<ResultColumn>, Vec<Vec<Value>>), ConnectorError> {
    if request.schema != config.bucket {
        return Err(ConnectorError::not_found(format!(
            "no schema `{}` (the data source's schema is its bucket, `{}`)",
            request.schema, config.bucket
        )));
    }
    let objects = crate::list_all(client, config)?;
    let prefix = config.folder_prefix();
    let root = prefix.trim_end_matches('/').rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&config.bucket);
    let table = layout::group(&prefix, root, &objects)
        .into_iter()
        .find(|t| t.name == request.object)
        .ok_or_else(|| ConnectorError::not_found(format!("no table `{}` in the bucket", request.object)))?;
    drop(objects);
    let format = table.format();
    if format == Format::Unknown {
        return Err(ConnectorError::unsupported(format!(
            "table `{}` holds no file of a format preview reads (Parquet, CSV, TSV, JSON, NDJSON)",
            table.name
        )));
    }
    // The columns exactly as discover describes them.
    let columns = crate::describe(client, config, &table)?.columns;
    let chosen: Vec<&Column> = if request.columns.is_empty() {
        columns.iter().collect()
    } else {
        let find = |name: &String| {
            columns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| ConnectorError::not_found(format!("no column `{name}` in table `{}`", table.name)))
        };
        request.columns.iter().map(find).collect::<Result<_, _>>()?
    };
    let files: Vec<&DataFile> = table.files.iter().filter(|f| f.format == format && f.size > 0).collect();
    match format {
        Format::Csv { gzip, delimiter } => {
            return crate::preview_text::csv(client, config, &files, &columns, &chosen, gzip, delimiter, request.limit);
        }
        Format::Json { gzip } => {
            return crate::preview_text::json(client, config, &files, &chosen, gzip, request.limit);
        }
        Format::Parquet | Format::Unknown => {}
    }
    let first = files.first().ok_or_else(|| ConnectorError::not_found("every file of the table is empty"))?;
    let first_columns = columns_of(client, first)?;
    let mut origins = Vec::with_capacity(chosen.len());
    let mut result_columns = Vec::with_capacity(chosen.len());
    for column in chosen {
        match first_columns.1.iter().find(|c| c.name() == column.name) {
            Some(file_column) => {
                result_columns.push(file_column.result_column());
                origins.push(Origin::File(column.name.clone()));
            }
            None => {
                result_columns.push(partition::result_column(column));
                origins.push(Origin::Partition(column));
            }
        }
    }
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for file in files {
        if rows.len() >= limit {
            break;
        }
        read_file(client, &table, file, &origins, limit, &mut rows)?;
    }
    Ok((result_columns, rows))
}

fn in_key(error: ConnectorError, key: &str) -> ConnectorError {
    ConnectorError::new(error.kind, format!("{key}: {}", error.message))
}

/// A file's footer and columns.
fn columns_of<T: Transport>(
    client: &Client<T>,
    file: &DataFile,
) -> Result<(inlet_parquet_meta::FileMeta, Vec<FileColumn>), ConnectorError> {
    let meta = crate::read_footer(client, &file.key, file.size)?.meta;
    let columns = file_columns(&meta).map_err(|error| in_key(error, &file.key))?;
    Ok((meta, columns))
}

/// Adds `file`'s rows to `rows` until it holds `limit`.
fn read_file<T: Transport + Send + Sync + 'static>(
    client: &Arc<Client<T>>,
    table: &TableFiles,
    file: &DataFile,
    origins: &[Origin<'_>],
    limit: usize,
    rows: &mut Vec<Vec<Value>>,
) -> Result<(), ConnectorError> {
    let (meta, columns) = columns_of(client, file)?;
    let mut wanted: Vec<&FileColumn> = Vec::new();
    for origin in origins {
        if let Origin::File(name) = origin {
            let column = columns.iter().find(|c| c.name() == name).ok_or_else(|| {
                ConnectorError::protocol(format!("{}: no column `{name}` (table `{}`)", file.key, table.name))
            })?;
            wanted.push(column);
        }
    }
    let object = Object { client: Arc::clone(client), key: file.key.clone(), size: file.size };
    let mut values = Vec::new();
    read_rows(Chunks::new(object), &file.key, &meta, &wanted, limit - rows.len(), &mut values)?;
    for file_values in values {
        let mut file_values = file_values.into_iter();
        let mut row = Vec::with_capacity(origins.len());
        for origin in origins {
            row.push(match origin {
                Origin::File(_) => file_values.next().unwrap_or(Value::Null),
                Origin::Partition(column) => {
                    let text = file.partitions.iter().find(|(k, _)| *k == column.name).map(|(_, v)| v.as_str());
                    partition::value(text, column)?
                }
            });
        }
        rows.push(row);
    }
    Ok(())
}
