//! `preview`: the first rows of the table, file after file in path order
//! until `limit` rows, each file read page by page by the shared reader
//! (`inlet_parquet_meta::preview`); partition columns come from the folders.

use inlet_parquet_meta::partition;
use inlet_parquet_meta::preview::{FileColumn, file_columns, read_rows};
use inlet_parquet_meta::source::{Chunks, LocalFile};
use inlet_sdk::file::{FileConnection, SCHEMA};
use inlet_sdk::prelude::*;
use inlet_sdk::rows::{BufferedRows, Rows, Value};

use crate::config::Config;
use crate::dataset::{self, DataFile};
use crate::footer;

/// Where a chosen column's values come from.
enum Source<'a> {
    /// The file's own column of this name.
    File(String),
    /// The partition folder of this key.
    Partition(&'a Column),
}

pub fn preview(
    config: &Config,
    request: &PreviewRequest,
) -> Result<Box<dyn Rows<FileConnection<Config>>>, ConnectorError> {
    let table = config.target.table_name();
    if request.schema != SCHEMA {
        return Err(ConnectorError::not_found(format!(
            "no schema `{}` (the data source has `{SCHEMA}`)",
            request.schema
        )));
    }
    if request.object != table {
        return Err(ConnectorError::not_found(format!(
            "no table `{}` (the data source has `{table}`)",
            request.object
        )));
    }
    let listing = dataset::list(config)?;
    // The columns as `discover` reports them: every file's footer agrees.
    let columns = dataset::read(&listing)?.columns;
    let chosen: Vec<&Column> = if request.columns.is_empty() {
        columns.iter().collect()
    } else {
        let find = |name: &String| {
            columns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| ConnectorError::not_found(format!("no column `{name}` in table `{table}`")))
        };
        request.columns.iter().map(find).collect::<Result<_, _>>()?
    };
    let first = listing.files.first().ok_or_else(|| ConnectorError::not_found("no Parquet file"))?;
    let first_columns = file_columns(&footer::read_file(&first.path, &first.name)?.meta)
        .map_err(|error| in_file(error, &first.name))?;
    let mut sources = Vec::with_capacity(chosen.len());
    let mut result_columns = Vec::with_capacity(chosen.len());
    for column in chosen {
        match first_columns.iter().find(|c| c.name() == column.name) {
            Some(file_column) => {
                result_columns.push(file_column.result_column());
                sources.push(Source::File(column.name.clone()));
            }
            None => {
                result_columns.push(partition::result_column(column));
                sources.push(Source::Partition(column));
            }
        }
    }
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let mut rows = Vec::new();
    for file in &listing.files {
        if rows.len() >= limit {
            break;
        }
        read_file(file, &sources, limit, &mut rows)?;
    }
    Ok(Box::new(BufferedRows::new(result_columns, rows)))
}

fn in_file(error: ConnectorError, name: &str) -> ConnectorError {
    ConnectorError::new(error.kind, format!("{name}: {}", error.message))
}

/// Adds `file`'s rows to `rows` until it holds `limit`.
fn read_file(
    file: &DataFile,
    sources: &[Source<'_>],
    limit: usize,
    rows: &mut Vec<Vec<Value>>,
) -> Result<(), ConnectorError> {
    let meta = footer::read_file(&file.path, &file.name)?.meta;
    let columns = file_columns(&meta).map_err(|error| in_file(error, &file.name))?;
    let mut wanted: Vec<&FileColumn> = Vec::new();
    for source in sources {
        if let Source::File(name) = source {
            let column = columns
                .iter()
                .find(|c| c.name() == name)
                .ok_or_else(|| ConnectorError::protocol(format!("{}: no column `{name}`", file.name)))?;
            wanted.push(column);
        }
    }
    let mut values = Vec::new();
    let chunks = Chunks::new(LocalFile::open(&file.path, &file.name)?);
    read_rows(chunks, &file.name, &meta, &wanted, limit - rows.len(), &mut values)?;
    for file_values in values {
        let mut file_values = file_values.into_iter();
        let mut row = Vec::with_capacity(sources.len());
        for source in sources {
            row.push(match source {
                Source::File(_) => file_values.next().unwrap_or(Value::Null),
                Source::Partition(column) => {
                    let text = file.partitions.iter().find(|(k, _)| *k == column.name).map(|(_, v)| v.as_str());
                    partition::value(text, column)?
                }
            });
        }
        rows.push(row);
    }
    Ok(())
}
