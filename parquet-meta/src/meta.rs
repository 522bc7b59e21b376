//! Parquet's `FileMetaData` (parquet.thrift), decoded from the footer's
//! compact-protocol bytes: the schema elements in full, the row groups
//! summed up (rows, sizes, codecs), the writer and key/value metadata keys.
//! Fields this decoder does not know are skipped.

use std::collections::BTreeSet;

use inlet_sdk::ConnectorError;

use crate::thrift::{Field, Reader, Result, ttype};

/// More schema elements than this (columns and groups) are refused.
pub const MAX_SCHEMA_ELEMENTS: usize = 100_000;

/// Physical types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Physical {
    Boolean,
    Int32,
    Int64,
    Int96,
    Float,
    Double,
    ByteArray,
    FixedLenByteArray,
}

impl Physical {
    fn from_i32(value: i32) -> Result<Self> {
        Ok(match value {
            0 => Self::Boolean,
            1 => Self::Int32,
            2 => Self::Int64,
            3 => Self::Int96,
            4 => Self::Float,
            5 => Self::Double,
            6 => Self::ByteArray,
            7 => Self::FixedLenByteArray,
            other => return Err(malformed(format!("unknown physical type {other}"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Boolean => "BOOLEAN",
            Self::Int32 => "INT32",
            Self::Int64 => "INT64",
            Self::Int96 => "INT96",
            Self::Float => "FLOAT",
            Self::Double => "DOUBLE",
            Self::ByteArray => "BYTE_ARRAY",
            Self::FixedLenByteArray => "FIXED_LEN_BYTE_ARRAY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repetition {
    Required,
    Optional,
    Repeated,
}

/// A time unit of TIME and TIMESTAMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Millis,
    Micros,
    Nanos,
}

impl TimeUnit {
    pub fn name(self) -> &'static str {
        match self {
            Self::Millis => "MILLIS",
            Self::Micros => "MICROS",
            Self::Nanos => "NANOS",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Self::Millis => "milliseconds",
            Self::Micros => "microseconds",
            Self::Nanos => "nanoseconds",
        }
    }
}

/// The `LogicalType` union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logical {
    String,
    Map,
    List,
    Enum,
    Decimal {
        scale: i32,
        precision: i32,
    },
    Date,
    Time {
        utc: bool,
        unit: TimeUnit,
    },
    Timestamp {
        utc: bool,
        unit: TimeUnit,
    },
    Integer {
        bits: i8,
        signed: bool,
    },
    Unknown,
    Json,
    Bson,
    Uuid,
    Float16,
    Variant,
    Geometry,
    Geography,
    /// A union member this decoder does not know (its field id).
    Other(i16),
}

/// One `SchemaElement`: a group (with `num_children`) or a leaf (with a type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaElement {
    pub physical: Option<Physical>,
    pub type_length: Option<i32>,
    pub repetition: Option<Repetition>,
    pub name: String,
    pub num_children: Option<i32>,
    /// The legacy `ConvertedType` code.
    pub converted: Option<i32>,
    pub scale: Option<i32>,
    pub precision: Option<i32>,
    pub field_id: Option<i32>,
    pub logical: Option<Logical>,
}

/// What the footer says, the row groups summed.
#[derive(Debug, Clone, Default)]
pub struct FileMeta {
    pub version: i32,
    pub schema: Vec<SchemaElement>,
    pub num_rows: i64,
    pub row_groups: u64,
    /// Rows summed over the row groups (should equal `num_rows`).
    pub row_group_rows: i64,
    pub uncompressed_bytes: i64,
    pub compressed_bytes: i64,
    /// Compression codecs of the column chunks, by name.
    pub codecs: BTreeSet<&'static str>,
    pub created_by: Option<String>,
    pub metadata_keys: Vec<String>,
    /// Column → time zone, from the Arrow schema an Arrow writer left in the metadata.
    pub time_zones: std::collections::BTreeMap<String, String>,
}

fn malformed(what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::protocol(format!("malformed Parquet footer: {what}"))
}

pub fn codec_name(code: i32) -> &'static str {
    match code {
        0 => "UNCOMPRESSED",
        1 => "SNAPPY",
        2 => "GZIP",
        3 => "LZO",
        4 => "BROTLI",
        5 => "LZ4",
        6 => "ZSTD",
        7 => "LZ4_RAW",
        _ => "UNKNOWN",
    }
}

/// Decodes `FileMetaData` from the footer's bytes.
pub fn decode(bytes: &[u8]) -> Result<FileMeta> {
    let mut reader = Reader::new(bytes);
    let mut meta = FileMeta::default();
    let (mut seen_schema, mut seen_rows, mut seen_groups) = (false, false, false);
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            1 if field.ttype == ttype::I32 => meta.version = reader.i32()?,
            2 if field.ttype == ttype::LIST => {
                let (elem, size) = reader.list_header()?;
                if size > MAX_SCHEMA_ELEMENTS {
                    return Err(ConnectorError::unsupported(format!(
                        "the schema has {size} elements, more than the {MAX_SCHEMA_ELEMENTS} this connector reads"
                    )));
                }
                if size > 0 && elem != ttype::STRUCT {
                    return Err(malformed("the schema is not a list of structs"));
                }
                meta.schema.reserve(size.min(4096));
                for _ in 0..size {
                    meta.schema.push(schema_element(&mut reader)?);
                }
                seen_schema = true;
            }
            3 if field.ttype == ttype::I64 => {
                meta.num_rows = reader.i64()?;
                seen_rows = true;
            }
            4 if field.ttype == ttype::LIST => {
                let (elem, size) = reader.list_header()?;
                if size > 0 && elem != ttype::STRUCT {
                    return Err(malformed("the row groups are not a list of structs"));
                }
                for _ in 0..size {
                    row_group(&mut reader, &mut meta)?;
                }
                seen_groups = true;
            }
            5 if field.ttype == ttype::LIST => {
                let pairs = reader.list(ttype::STRUCT, "key_value_metadata", key_value)?;
                for (key, value) in pairs {
                    if key == "ARROW:schema"
                        && let Some(value) = value
                    {
                        meta.time_zones = crate::arrow::time_zones(value);
                    }
                    meta.metadata_keys.push(key);
                }
            }
            6 if field.ttype == ttype::BINARY => meta.created_by = Some(reader.string()?),
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    if !seen_schema || !seen_rows || !seen_groups {
        return Err(malformed("a required field (schema, num_rows or row_groups) is missing"));
    }
    if meta.num_rows < 0 {
        return Err(malformed(format!("num_rows is negative ({})", meta.num_rows)));
    }
    Ok(meta)
}

fn i32_field(reader: &mut Reader<'_>, field: Field, what: &str) -> Result<i32> {
    reader.expect(field, ttype::I32, what)?;
    reader.i32()
}

fn schema_element(reader: &mut Reader<'_>) -> Result<SchemaElement> {
    let mut element = SchemaElement::default();
    let mut has_name = false;
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            1 => element.physical = Some(Physical::from_i32(i32_field(reader, field, "type")?)?),
            2 => element.type_length = Some(i32_field(reader, field, "type_length")?),
            3 => {
                element.repetition = Some(match i32_field(reader, field, "repetition_type")? {
                    0 => Repetition::Required,
                    1 => Repetition::Optional,
                    2 => Repetition::Repeated,
                    other => return Err(malformed(format!("unknown repetition {other}"))),
                })
            }
            4 => {
                reader.expect(field, ttype::BINARY, "name")?;
                element.name = reader.string()?;
                has_name = true;
            }
            5 => element.num_children = Some(i32_field(reader, field, "num_children")?),
            6 => element.converted = Some(i32_field(reader, field, "converted_type")?),
            7 => element.scale = Some(i32_field(reader, field, "scale")?),
            8 => element.precision = Some(i32_field(reader, field, "precision")?),
            9 => element.field_id = Some(i32_field(reader, field, "field_id")?),
            10 => {
                reader.expect(field, ttype::STRUCT, "logicalType")?;
                element.logical = logical(reader)?;
            }
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    if !has_name {
        return Err(malformed("a schema element has no name"));
    }
    Ok(element)
}

/// The `LogicalType` union: one member set; `None` when empty.
fn logical(reader: &mut Reader<'_>) -> Result<Option<Logical>> {
    let mut found = None;
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        if field.ttype != ttype::STRUCT {
            reader.skip(field.ttype)?;
            continue;
        }
        let value = match field.id {
            1 => skip_empty(reader, Logical::String)?,
            2 => skip_empty(reader, Logical::Map)?,
            3 => skip_empty(reader, Logical::List)?,
            4 => skip_empty(reader, Logical::Enum)?,
            5 => decimal(reader)?,
            6 => skip_empty(reader, Logical::Date)?,
            7 => {
                let (utc, unit) = time_like(reader)?;
                Logical::Time { utc, unit }
            }
            8 => {
                let (utc, unit) = time_like(reader)?;
                Logical::Timestamp { utc, unit }
            }
            10 => integer(reader)?,
            11 => skip_empty(reader, Logical::Unknown)?,
            12 => skip_empty(reader, Logical::Json)?,
            13 => skip_empty(reader, Logical::Bson)?,
            14 => skip_empty(reader, Logical::Uuid)?,
            15 => skip_empty(reader, Logical::Float16)?,
            16 => skip_empty(reader, Logical::Variant)?,
            17 => skip_empty(reader, Logical::Geometry)?,
            18 => skip_empty(reader, Logical::Geography)?,
            other => skip_empty(reader, Logical::Other(other))?,
        };
        found = Some(value);
    }
    reader.end_struct();
    Ok(found)
}

/// A member whose struct's fields do not matter here.
fn skip_empty(reader: &mut Reader<'_>, value: Logical) -> Result<Logical> {
    reader.skip(ttype::STRUCT)?;
    Ok(value)
}

fn decimal(reader: &mut Reader<'_>) -> Result<Logical> {
    let (mut scale, mut precision) = (None, None);
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            1 => scale = Some(i32_field(reader, field, "decimal scale")?),
            2 => precision = Some(i32_field(reader, field, "decimal precision")?),
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    match (scale, precision) {
        (Some(scale), Some(precision)) => Ok(Logical::Decimal { scale, precision }),
        _ => Err(malformed("a DECIMAL logical type lacks its scale or precision")),
    }
}

fn time_like(reader: &mut Reader<'_>) -> Result<(bool, TimeUnit)> {
    let (mut utc, mut unit) = (None, None);
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            1 => utc = Some(reader.bool_field(field)?),
            2 if field.ttype == ttype::STRUCT => unit = time_unit(reader)?,
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    match (utc, unit) {
        (Some(utc), Some(unit)) => Ok((utc, unit)),
        _ => Err(malformed("a TIME or TIMESTAMP logical type lacks its unit or isAdjustedToUTC")),
    }
}

fn time_unit(reader: &mut Reader<'_>) -> Result<Option<TimeUnit>> {
    let mut unit = None;
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        let this = match field.id {
            1 => Some(TimeUnit::Millis),
            2 => Some(TimeUnit::Micros),
            3 => Some(TimeUnit::Nanos),
            _ => None,
        };
        reader.skip(field.ttype)?;
        if field.ttype == ttype::STRUCT && this.is_some() {
            unit = this;
        }
    }
    reader.end_struct();
    Ok(unit)
}

fn integer(reader: &mut Reader<'_>) -> Result<Logical> {
    let (mut bits, mut signed) = (None, None);
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            1 => {
                reader.expect(field, ttype::BYTE, "bitWidth")?;
                bits = Some(reader.i8()?);
            }
            2 => signed = Some(reader.bool_field(field)?),
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    match (bits, signed) {
        (Some(bits @ (8 | 16 | 32 | 64)), Some(signed)) => Ok(Logical::Integer { bits, signed }),
        (Some(bits), Some(_)) => Err(malformed(format!("an INTEGER logical type of {bits} bits"))),
        _ => Err(malformed("an INTEGER logical type lacks its bitWidth or isSigned")),
    }
}

/// A `KeyValue`: its key and its value's bytes (borrowed, not copied).
fn key_value<'a>(reader: &mut Reader<'a>) -> Result<(String, Option<&'a [u8]>)> {
    let (mut key, mut value) = (None, None);
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            1 if field.ttype == ttype::BINARY => key = Some(reader.string()?),
            2 if field.ttype == ttype::BINARY => value = Some(reader.binary()?),
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    let key = key.ok_or_else(|| malformed("a key/value metadata entry has no key"))?;
    Ok((key, value))
}

/// A `RowGroup`, added to the file's sums.
fn row_group(reader: &mut Reader<'_>, meta: &mut FileMeta) -> Result<()> {
    let mut last = reader.begin_struct()?;
    let mut compressed = None;
    let mut chunk_compressed = 0i64;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            1 if field.ttype == ttype::LIST => {
                let (elem, size) = reader.list_header()?;
                if size > 0 && elem != ttype::STRUCT {
                    return Err(malformed("a row group's columns are not a list of structs"));
                }
                for _ in 0..size {
                    chunk_compressed = chunk_compressed.saturating_add(column_chunk(reader, meta)?);
                }
            }
            2 if field.ttype == ttype::I64 => {
                meta.uncompressed_bytes = meta.uncompressed_bytes.saturating_add(reader.i64()?);
            }
            3 if field.ttype == ttype::I64 => {
                let rows = reader.i64()?;
                if rows < 0 {
                    return Err(malformed(format!("a row group has {rows} rows")));
                }
                meta.row_group_rows = meta.row_group_rows.saturating_add(rows);
            }
            6 if field.ttype == ttype::I64 => compressed = Some(reader.i64()?),
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    meta.compressed_bytes = meta.compressed_bytes.saturating_add(compressed.unwrap_or(chunk_compressed));
    meta.row_groups += 1;
    Ok(())
}

/// A `ColumnChunk`: its codec joins the file's set; returns its compressed size.
fn column_chunk(reader: &mut Reader<'_>, meta: &mut FileMeta) -> Result<i64> {
    let mut size = 0;
    let mut last = reader.begin_struct()?;
    while let Some(field) = reader.field(&mut last)? {
        match field.id {
            3 if field.ttype == ttype::STRUCT => {
                let mut last = reader.begin_struct()?;
                while let Some(field) = reader.field(&mut last)? {
                    match field.id {
                        4 if field.ttype == ttype::I32 => {
                            meta.codecs.insert(codec_name(reader.i32()?));
                        }
                        7 if field.ttype == ttype::I64 => size = reader.i64()?,
                        _ => reader.skip(field.ttype)?,
                    }
                }
                reader.end_struct();
            }
            _ => reader.skip(field.ttype)?,
        }
    }
    reader.end_struct();
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{nested_footer, sample_footer};

    #[test]
    fn a_nested_footer_maps_to_columns() {
        let meta = decode(&nested_footer()).unwrap();
        let columns = crate::schema::columns(&meta.schema).unwrap();
        let got: Vec<_> =
            columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.comment.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("tags", "array", Some("list<string>")),
                ("attrs", "map", Some("map<string, float64>")),
                ("s.x", "int16", None),
            ]
        );
        assert_eq!(meta.row_groups, 0);
    }

    #[test]
    fn a_hand_written_footer_decodes() {
        let meta = decode(&sample_footer()).unwrap();
        assert_eq!(meta.version, 2);
        assert_eq!(meta.schema.len(), 5);
        assert_eq!(meta.schema[0].num_children, Some(4));
        assert_eq!(meta.schema[1].physical, Some(Physical::Int64));
        assert_eq!(meta.schema[2].logical, Some(Logical::String));
        assert_eq!(meta.schema[2].converted, Some(0));
        assert_eq!(meta.schema[3].logical, Some(Logical::Timestamp { utc: true, unit: TimeUnit::Micros }));
        assert_eq!(meta.schema[4].logical, Some(Logical::Decimal { scale: 4, precision: 38 }));
        assert_eq!(meta.schema[4].type_length, Some(16));
        assert_eq!((meta.num_rows, meta.row_groups, meta.row_group_rows), (10, 2, 10));
        assert_eq!((meta.uncompressed_bytes, meta.compressed_bytes), (600, 200));
        assert_eq!(meta.codecs.iter().copied().collect::<Vec<_>>(), ["SNAPPY", "ZSTD"]);
        assert_eq!(meta.created_by.as_deref(), Some("hand-written"));
        assert_eq!(meta.metadata_keys, ["ARROW:schema"]);
    }

    #[test]
    fn every_truncation_is_a_protocol_error() {
        let footer = sample_footer();
        for cut in 0..footer.len() {
            let error = decode(&footer[..cut]).unwrap_err();
            assert_eq!(error.kind, inlet_sdk::ErrorKind::Protocol, "{cut}");
        }
    }

    #[test]
    fn random_and_mutated_footers_never_panic() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds = [sample_footer(), nested_footer()];
        let mut decoded = 0;
        for round in 0..40_000 {
            let valid = &seeds[round % 2];
            let input: Vec<u8> = match (round / 2) % 3 {
                0 => {
                    let len = (next() % 200) as usize;
                    (0..len).map(|_| next() as u8).collect()
                }
                1 => {
                    let mut input = valid.to_vec();
                    for _ in 0..1 + next() % 4 {
                        let at = (next() % input.len() as u64) as usize;
                        input[at] = next() as u8;
                    }
                    input
                }
                _ => {
                    let mut input = valid.to_vec();
                    let at = (next() % input.len() as u64) as usize;
                    let len = (next() % 16) as usize;
                    let end = (at + len).min(input.len());
                    if next() % 2 == 0 {
                        input.drain(at..end);
                    } else {
                        let copy = input[at..end].to_vec();
                        input.splice(at..at, copy);
                    }
                    input
                }
            };
            if let Ok(meta) = decode(&input) {
                decoded += 1;
                // Whatever decoded must also map to columns without panicking.
                let _ = crate::schema::columns(&meta.schema);
            }
        }
        assert!(decoded > 0, "no mutation decoded at all");
    }
}
