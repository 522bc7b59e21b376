//! The first rows of one Parquet file, read with the `parquet` crate's
//! record reader: only the top-level fields the chosen columns live in are
//! projected, pages are fetched one at a time, and reading stops at the
//! limit. Values are typed as `discover` types the columns ([`crate::columns`]).

use std::collections::BTreeSet;

use inlet_sdk::rows::Value;
use inlet_sdk::{Column, ConnectorError, ResultColumn, data_type};
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use parquet::schema::types::Type;

use crate::cells::{self, Shape};
use crate::meta::{FileMeta, Logical, Physical, SchemaElement, TimeUnit};
use crate::schema::{self, Node};
use crate::source::{Chunks, Source};

/// One column of a file as `discover` reports it, and where its values are.
#[derive(Debug, Clone)]
pub struct FileColumn {
    pub column: Column,
    /// Field names from the root: `["address", "city"]` for `address.city`.
    path: Vec<String>,
    unit: TimeUnit,
    /// The Arrow time zone Arrow writers noted for the column.
    zone: Option<String>,
    /// Why the record reader cannot read it, if it cannot.
    unreadable: Option<String>,
}

impl FileColumn {
    pub fn name(&self) -> &str {
        &self.column.name
    }

    /// The column of a preview: the discovered type, with the time unit
    /// and (for timestamp-tz) the zone the writer noted, else UTC.
    pub fn result_column(&self) -> ResultColumn {
        let column = &self.column;
        let mut result = inlet_sdk::rows::result_column(&column.name, &column.data_type, &column.native_type);
        result.nullable = column.nullable;
        result.precision = column.precision;
        result.scale = column.scale;
        if column.data_type == data_type::TIME || column.data_type.starts_with(data_type::TIMESTAMP) {
            result.time_unit = Some(match self.unit {
                TimeUnit::Millis => inlet_sdk::TimeUnit::Millisecond,
                TimeUnit::Micros => inlet_sdk::TimeUnit::Microsecond,
                TimeUnit::Nanos => inlet_sdk::TimeUnit::Nanosecond,
            });
        }
        if column.data_type == data_type::TIMESTAMP_TZ {
            result.time_zone = Some(self.zone.clone().unwrap_or_else(|| "UTC".to_owned()));
        }
        result
    }

    fn shape(&self) -> Shape<'_> {
        Shape { data_type: &self.column.data_type, unit: self.unit, scale: self.column.scale.unwrap_or(0) }
    }
}

/// The file's columns as `discover` reports them, with where their values are.
pub fn file_columns(meta: &FileMeta) -> Result<Vec<FileColumn>, ConnectorError> {
    let columns = crate::columns(meta)?;
    let paths = schema::column_paths(&meta.schema)?;
    if columns.len() != paths.len() {
        return Err(ConnectorError::internal("the schema's columns and paths differ in number"));
    }
    Ok(columns
        .into_iter()
        .zip(paths)
        .map(|(column, (path, element))| {
            let unit = match schema::logical_of(element) {
                Some(Logical::Time { unit, .. } | Logical::Timestamp { unit, .. }) => unit,
                // The record reader reads INT96 as milliseconds.
                _ => TimeUnit::Millis,
            };
            let zone = meta.time_zones.get(&column.name).cloned();
            FileColumn { column, path, unit, zone, unreadable: None }
        })
        .collect())
}

/// Marks the columns whose leaves the record reader cannot convert
/// (it would stop the component rather than answer an error).
fn mark_unreadable(meta: &FileMeta, columns: &mut [FileColumn]) -> Result<(), ConnectorError> {
    let root = schema::tree(&meta.schema)?;
    for column in columns {
        let Some(top) = root.children.iter().find(|c| c.element.name == column.path[0]) else { continue };
        column.unreadable = unreadable(top);
    }
    Ok(())
}

fn unreadable(node: &Node<'_>) -> Option<String> {
    let element = node.element;
    if element.physical.is_none() {
        if node.children.is_empty() {
            return Some(format!("`{}` is an empty group", element.name));
        }
        return node.children.iter().find_map(unreadable);
    }
    if convertible(element) { None } else { Some(format!("`{}` is {}", element.name, schema::leaf(element).native)) }
}

/// The (physical, converted) pairs the record reader converts.
fn convertible(element: &SchemaElement) -> bool {
    let converted = element.converted;
    match element.physical {
        Some(Physical::Int32) => matches!(converted, None | Some(5 | 6 | 7 | 11 | 12 | 13 | 15 | 16 | 17)),
        Some(Physical::Int64) => matches!(converted, None | Some(5 | 8 | 9 | 10 | 14 | 18)),
        Some(Physical::ByteArray) => matches!(converted, None | Some(0 | 4 | 5 | 19 | 20)),
        Some(Physical::FixedLenByteArray) => {
            matches!(converted, None | Some(5))
                && (element.logical != Some(Logical::Float16) || element.type_length == Some(2))
        }
        _ => true,
    }
}

/// Reads rows of the file behind `chunks` (called `name` in messages) into
/// `rows` until it holds `limit`: each row the values of `wanted`, in order.
pub fn read_rows<S: Source>(
    chunks: Chunks<S>,
    name: &str,
    meta: &FileMeta,
    wanted: &[&FileColumn],
    limit: usize,
    rows: &mut Vec<Vec<Value>>,
) -> Result<(), ConnectorError> {
    if rows.len() >= limit {
        return Ok(());
    }
    let mut wanted: Vec<FileColumn> = wanted.iter().map(|c| (*c).clone()).collect();
    mark_unreadable(meta, &mut wanted)?;
    if let Some(column) = wanted.iter().find(|c| c.unreadable.is_some()) {
        return Err(ConnectorError::unsupported(format!(
            "{name}: column `{}` cannot be previewed yet ({}); choose other columns",
            column.name(),
            column.unreadable.as_deref().unwrap_or_default()
        )));
    }
    let failed = |error: parquet::errors::ParquetError, chunks: &Chunks<S>| {
        chunks.take_failure().unwrap_or_else(|| ConnectorError::protocol(format!("{name}: {error}")))
    };
    let reader = SerializedFileReader::new(chunks.share()).map_err(|error| failed(error, &chunks))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let fields = schema.root_schema().get_fields();
    let mut tops: BTreeSet<&str> = wanted.iter().map(|c| c.path[0].as_str()).collect();
    if tops.is_empty() {
        // Only the row count is needed: the first readable field gives it.
        match fields.iter().find(|f| root_readable(meta, f.name())) {
            Some(field) => tops.insert(field.name()),
            None => return Ok(()),
        };
    }
    check_codecs(&reader, &tops, name)?;
    let projected: Vec<_> = fields.iter().filter(|f| tops.contains(f.name())).cloned().collect();
    let projection = Type::group_type_builder(schema.root_schema().name())
        .with_fields(projected)
        .build()
        .map_err(|error| ConnectorError::internal(format!("{name}: projection: {error}")))?;
    let batch = (limit - rows.len()).clamp(1, 1024);
    let records = RowIter::from_file_into(Box::new(reader))
        .project(Some(projection))
        .map_err(|error| failed(error, &chunks))?
        .with_batch_size(batch);
    for record in records {
        let record = record.map_err(|error| failed(error, &chunks))?;
        let mut row = Vec::with_capacity(wanted.len());
        for column in &wanted {
            let field = lookup(&record, &column.path);
            row.push(match field {
                Some(field) => cells::value(field, column.shape(), column.name())?,
                None => Value::Null,
            });
        }
        rows.push(row);
        if rows.len() >= limit {
            break;
        }
    }
    Ok(())
}

fn root_readable(meta: &FileMeta, name: &str) -> bool {
    schema::tree(&meta.schema)
        .ok()
        .and_then(|root| root.children.iter().find(|c| c.element.name == name).map(|top| unreadable(top).is_none()))
        .unwrap_or(false)
}

/// Refuses codecs this pure-Rust build cannot decompress, naming them.
fn check_codecs<R: parquet::file::reader::ChunkReader + 'static>(
    reader: &SerializedFileReader<R>,
    tops: &BTreeSet<&str>,
    name: &str,
) -> Result<(), ConnectorError> {
    for group in reader.metadata().row_groups() {
        for chunk in group.columns() {
            let top = chunk.column_path().parts().first().map(String::as_str).unwrap_or_default();
            if !tops.contains(top) {
                continue;
            }
            let codec = chunk.compression();
            if !matches!(
                codec,
                Compression::UNCOMPRESSED
                    | Compression::SNAPPY
                    | Compression::GZIP(_)
                    | Compression::LZ4
                    | Compression::LZ4_RAW
                    | Compression::BROTLI(_)
            ) {
                let codec = format!("{codec:?}");
                let codec = codec.split('(').next().unwrap_or_default();
                return Err(ConnectorError::unsupported(format!(
                    "{name}: column `{}` is compressed with {codec}, which preview cannot decompress yet \
                     (it reads UNCOMPRESSED, SNAPPY, GZIP, LZ4 and BROTLI)",
                    chunk.column_path().string()
                )));
            }
        }
    }
    Ok(())
}

/// The field at `path` in a record: `None` when a struct on the way is null.
fn lookup<'r>(record: &'r Row, path: &[String]) -> Option<&'r Field> {
    let (first, rest) = path.split_first()?;
    let field = record.get_column_iter().find(|(name, _)| *name == first).map(|(_, field)| field)?;
    if rest.is_empty() {
        return Some(field);
    }
    match field {
        Field::Group(group) => lookup(group, rest),
        _ => None,
    }
}
