//! Results of `preview` and `query`, built a row at a time and handed to the
//! host a columnar [`Batch`] at a time.
//!
//! A connector describes its result with [`ResultColumn`]s (see
//! [`result_column`]), pushes each row as a list of [`Value`]s into a
//! [`BatchBuilder`], and returns [`BatchBuilder::finish`] from
//! [`Rows::next`]. The builder picks each column's `values` case from its
//! `data-type` as the WIT table says, so a connector cannot send a case the
//! host does not expect for that column. [`BufferedRows`] does all of this
//! for a small result already in memory (a preview of a file or a key
//! pattern).
//!
//! ```
//! use inlet_sdk::data_type;
//! use inlet_sdk::rows::{BatchBuilder, Value, result_column};
//!
//! let columns = [result_column("id", data_type::INT64, "bigint"), result_column("name", data_type::STRING, "text")];
//! let mut builder = BatchBuilder::new(&columns);
//! builder.push_row(vec![Value::Int64(1), Value::Text("ada".into())]).unwrap();
//! builder.push_row(vec![Value::Int64(2), Value::Null]).unwrap();
//! let batch = builder.finish();
//! assert_eq!(batch.row_count, 2);
//! assert_eq!(batch.columns[1].validity, [true, false]);
//! ```

use std::collections::VecDeque;

use crate::{Batch, ByteVector, ColumnValues, ConnectorError, ResultColumn, TextVector, Values, data_type};

/// The rows of a preview or a query, pulled by the host a batch at a time.
///
/// `C` is the connector's connection: every call gets it, so the rows can
/// read from the same socket without owning it.
pub trait Rows<C: ?Sized>: 'static {
    /// The columns of every batch, in order.
    fn columns(&self) -> Vec<ResultColumn>;

    /// The next batch of at most `max_rows` rows, or `None` at the end.
    fn next(&mut self, connection: &mut C, max_rows: u32) -> Result<Option<Batch>, ConnectorError>;

    /// Called when the host drops the rows, at the end or before it: stop the
    /// work at the server (drain or cancel) so that the connection stays
    /// usable for the next call. Errors have nowhere to go; a connector that
    /// cannot recover should mark its connection broken.
    fn close(&mut self, _connection: &mut C) {}
}

/// A [`ResultColumn`] with only a name and types: nullable, no precision,
/// scale, time unit or zone (fill those in on the record when known).
pub fn result_column(name: impl Into<String>, data_type: &str, native_type: impl Into<String>) -> ResultColumn {
    ResultColumn {
        name: name.into(),
        data_type: data_type.to_owned(),
        native_type: native_type.into(),
        nullable: true,
        precision: None,
        scale: None,
        time_unit: None,
        time_zone: None,
    }
}

/// One cell of a result row. The variant must match the column's data type
/// ([`values_kind`]); `Null` fits every column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    UInt8(u8),
    UInt16(u16),
    UInt32(u32),
    UInt64(u64),
    Float32(f32),
    Float64(f64),
    /// Decimal text at full precision, e.g. "-1234.5600".
    Decimal(String),
    /// Text: string, uuid, enum, interval, geometry and other columns.
    Text(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Since midnight, in the column's time unit.
    Time(i64),
    /// Since 1970-01-01T00:00:00 (UTC for timestamp-tz), in the column's time unit.
    Timestamp(i64),
    /// One JSON text: json, array, map and struct columns.
    Json(String),
}

impl Value {
    fn kind_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Int16(_) => "int16",
            Self::Int32(_) => "int32",
            Self::Int64(_) => "int64",
            Self::UInt8(_) => "uint8",
            Self::UInt16(_) => "uint16",
            Self::UInt32(_) => "uint32",
            Self::UInt64(_) => "uint64",
            Self::Float32(_) => "float32",
            Self::Float64(_) => "float64",
            Self::Decimal(_) => "decimal",
            Self::Text(_) => "text",
            Self::Bytes(_) => "bytes",
            Self::Date(_) => "date",
            Self::Time(_) => "time",
            Self::Timestamp(_) => "timestamp",
            Self::Json(_) => "json",
        }
    }
}

/// The `values` case a column of `data_type` carries in every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValuesKind {
    Boolean,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Decimal,
    Utf8,
    Binary,
    Date,
    Time,
    Timestamp,
    Json,
}

/// The WIT's table from a portable data type to its `values` case; unknown
/// names travel as text, like `other`.
pub fn values_kind(data_type: &str) -> ValuesKind {
    match data_type {
        data_type::BOOLEAN => ValuesKind::Boolean,
        data_type::INT16 => ValuesKind::Int16,
        data_type::INT32 => ValuesKind::Int32,
        data_type::INT64 => ValuesKind::Int64,
        data_type::UINT8 => ValuesKind::UInt8,
        data_type::UINT16 => ValuesKind::UInt16,
        data_type::UINT32 => ValuesKind::UInt32,
        data_type::UINT64 => ValuesKind::UInt64,
        data_type::FLOAT32 => ValuesKind::Float32,
        data_type::FLOAT64 => ValuesKind::Float64,
        data_type::DECIMAL => ValuesKind::Decimal,
        data_type::DATE => ValuesKind::Date,
        data_type::TIME => ValuesKind::Time,
        data_type::TIMESTAMP | data_type::TIMESTAMP_TZ => ValuesKind::Timestamp,
        data_type::BINARY => ValuesKind::Binary,
        data_type::JSON | data_type::ARRAY | data_type::MAP | data_type::STRUCT => ValuesKind::Json,
        _ => ValuesKind::Utf8,
    }
}

/// Texts or bytes laid end to end with their offsets, as the WIT's vectors.
#[derive(Debug, Default)]
struct Packed<T> {
    offsets: Vec<u32>,
    data: T,
}

/// Why a value does not go into a column.
enum Misfit {
    Kind,
    Size,
}

/// One column's values so far, in the case its data type fixes.
#[derive(Debug)]
enum Vector {
    Boolean(Vec<bool>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    UInt8(Vec<u8>),
    UInt16(Vec<u16>),
    UInt32(Vec<u32>),
    UInt64(Vec<u64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Decimal(Packed<String>),
    Utf8(Packed<String>),
    Binary(Packed<Vec<u8>>),
    Date(Vec<i32>),
    Time(Vec<i64>),
    Timestamp(Vec<i64>),
    Json(Packed<String>),
}

fn packed<T: Default>() -> Packed<T> {
    Packed { offsets: vec![0], data: T::default() }
}

impl Vector {
    fn new(kind: ValuesKind) -> Self {
        match kind {
            ValuesKind::Boolean => Self::Boolean(Vec::new()),
            ValuesKind::Int16 => Self::Int16(Vec::new()),
            ValuesKind::Int32 => Self::Int32(Vec::new()),
            ValuesKind::Int64 => Self::Int64(Vec::new()),
            ValuesKind::UInt8 => Self::UInt8(Vec::new()),
            ValuesKind::UInt16 => Self::UInt16(Vec::new()),
            ValuesKind::UInt32 => Self::UInt32(Vec::new()),
            ValuesKind::UInt64 => Self::UInt64(Vec::new()),
            ValuesKind::Float32 => Self::Float32(Vec::new()),
            ValuesKind::Float64 => Self::Float64(Vec::new()),
            ValuesKind::Decimal => Self::Decimal(packed()),
            ValuesKind::Utf8 => Self::Utf8(packed()),
            ValuesKind::Binary => Self::Binary(packed()),
            ValuesKind::Date => Self::Date(Vec::new()),
            ValuesKind::Time => Self::Time(Vec::new()),
            ValuesKind::Timestamp => Self::Timestamp(Vec::new()),
            ValuesKind::Json => Self::Json(packed()),
        }
    }

    /// Whether `value` fits, and the bytes it adds to a packed vector
    /// (checked before any column of the row is touched, so a refused row
    /// leaves the batch as it was).
    fn check(&self, value: &Value) -> Result<(), Misfit> {
        let fits = matches!(
            (self, value),
            (_, Value::Null)
                | (Self::Boolean(_), Value::Bool(_))
                | (Self::Int16(_), Value::Int16(_))
                | (Self::Int32(_), Value::Int32(_))
                | (Self::Int64(_), Value::Int64(_))
                | (Self::UInt8(_), Value::UInt8(_))
                | (Self::UInt16(_), Value::UInt16(_))
                | (Self::UInt32(_), Value::UInt32(_))
                | (Self::UInt64(_), Value::UInt64(_))
                | (Self::Float32(_), Value::Float32(_))
                | (Self::Float64(_), Value::Float64(_))
                | (Self::Decimal(_), Value::Decimal(_))
                | (Self::Utf8(_), Value::Text(_))
                | (Self::Binary(_), Value::Bytes(_))
                | (Self::Date(_), Value::Date(_))
                | (Self::Time(_), Value::Time(_))
                | (Self::Timestamp(_), Value::Timestamp(_))
                | (Self::Json(_), Value::Json(_))
        );
        if !fits {
            return Err(Misfit::Kind);
        }
        let (held, added) = match (self, value) {
            (Self::Decimal(p) | Self::Utf8(p) | Self::Json(p), Value::Decimal(s) | Value::Text(s) | Value::Json(s)) => {
                (p.data.len(), s.len())
            }
            (Self::Binary(p), Value::Bytes(b)) => (p.data.len(), b.len()),
            _ => (0, 0),
        };
        // Offsets are u32 in the WIT: a batch's text column stays under 4 GiB.
        if u32::try_from(held + added).is_err() {
            return Err(Misfit::Size);
        }
        Ok(())
    }

    /// Appends a value that passed [`Vector::check`].
    fn push(&mut self, value: Value) {
        fn text(p: &mut Packed<String>, s: &str) {
            p.data.push_str(s);
            p.offsets.push(p.data.len() as u32);
        }
        match (self, value) {
            (Self::Boolean(v), Value::Bool(x)) => v.push(x),
            (Self::Int16(v), Value::Int16(x)) => v.push(x),
            (Self::Int32(v), Value::Int32(x)) => v.push(x),
            (Self::Int64(v), Value::Int64(x)) => v.push(x),
            (Self::UInt8(v), Value::UInt8(x)) => v.push(x),
            (Self::UInt16(v), Value::UInt16(x)) => v.push(x),
            (Self::UInt32(v), Value::UInt32(x)) => v.push(x),
            (Self::UInt64(v), Value::UInt64(x)) => v.push(x),
            (Self::Float32(v), Value::Float32(x)) => v.push(x),
            (Self::Float64(v), Value::Float64(x)) => v.push(x),
            (Self::Decimal(p), Value::Decimal(s))
            | (Self::Utf8(p), Value::Text(s))
            | (Self::Json(p), Value::Json(s)) => text(p, &s),
            (Self::Binary(p), Value::Bytes(b)) => {
                p.data.extend_from_slice(&b);
                p.offsets.push(p.data.len() as u32);
            }
            (Self::Date(v), Value::Date(x)) => v.push(x),
            (Self::Time(v), Value::Time(x)) => v.push(x),
            (Self::Timestamp(v), Value::Timestamp(x)) => v.push(x),
            (vector, _) => vector.push_placeholder(),
        }
    }

    /// A NULL's slot: 0, false or an empty text.
    fn push_placeholder(&mut self) {
        match self {
            Self::Boolean(v) => v.push(false),
            Self::Int16(v) => v.push(0),
            Self::Int32(v) | Self::Date(v) => v.push(0),
            Self::Int64(v) | Self::Time(v) | Self::Timestamp(v) => v.push(0),
            Self::UInt8(v) => v.push(0),
            Self::UInt16(v) => v.push(0),
            Self::UInt32(v) => v.push(0),
            Self::UInt64(v) => v.push(0),
            Self::Float32(v) => v.push(0.0),
            Self::Float64(v) => v.push(0.0),
            Self::Decimal(p) | Self::Utf8(p) | Self::Json(p) => p.offsets.push(p.data.len() as u32),
            Self::Binary(p) => p.offsets.push(p.data.len() as u32),
        }
    }

    fn byte_size(&self) -> usize {
        fn fixed<T>(v: &[T]) -> usize {
            std::mem::size_of_val(v)
        }
        match self {
            Self::Boolean(v) => v.len(),
            Self::Int16(v) => fixed(v),
            Self::Int32(v) | Self::Date(v) => fixed(v),
            Self::Int64(v) | Self::Time(v) | Self::Timestamp(v) => fixed(v),
            Self::UInt8(v) => v.len(),
            Self::UInt16(v) => fixed(v),
            Self::UInt32(v) => fixed(v),
            Self::UInt64(v) => fixed(v),
            Self::Float32(v) => fixed(v),
            Self::Float64(v) => fixed(v),
            Self::Decimal(p) | Self::Utf8(p) | Self::Json(p) => fixed(&p.offsets) + p.data.len(),
            Self::Binary(p) => fixed(&p.offsets) + p.data.len(),
        }
    }

    /// The values so far, leaving an empty vector of the same case.
    fn take(&mut self) -> Values {
        fn text(p: &mut Packed<String>) -> TextVector {
            let p = std::mem::replace(p, packed());
            TextVector { offsets: p.offsets, data: p.data }
        }
        match self {
            Self::Boolean(v) => Values::Boolean(std::mem::take(v)),
            Self::Int16(v) => Values::Int16(std::mem::take(v)),
            Self::Int32(v) => Values::Int32(std::mem::take(v)),
            Self::Int64(v) => Values::Int64(std::mem::take(v)),
            Self::UInt8(v) => Values::Uint8(std::mem::take(v)),
            Self::UInt16(v) => Values::Uint16(std::mem::take(v)),
            Self::UInt32(v) => Values::Uint32(std::mem::take(v)),
            Self::UInt64(v) => Values::Uint64(std::mem::take(v)),
            Self::Float32(v) => Values::Float32(std::mem::take(v)),
            Self::Float64(v) => Values::Float64(std::mem::take(v)),
            Self::Decimal(p) => Values::Decimal(text(p)),
            Self::Utf8(p) => Values::Utf8(text(p)),
            Self::Json(p) => Values::Json(text(p)),
            Self::Binary(p) => {
                let p = std::mem::replace(p, packed());
                Values::Binary(ByteVector { offsets: p.offsets, data: p.data })
            }
            Self::Date(v) => Values::Date(std::mem::take(v)),
            Self::Time(v) => Values::Time(std::mem::take(v)),
            Self::Timestamp(v) => Values::Timestamp(std::mem::take(v)),
        }
    }
}

#[derive(Debug)]
struct ColumnState {
    name: String,
    vector: Vector,
    /// Empty until the first NULL, then one entry per row so far.
    validity: Vec<bool>,
}

/// Builds one [`Batch`] a row at a time; reusable after [`BatchBuilder::finish`].
#[derive(Debug)]
pub struct BatchBuilder {
    columns: Vec<ColumnState>,
    rows: u32,
}

impl BatchBuilder {
    /// A builder for rows of `columns`, each column's case chosen from its data type.
    pub fn new(columns: &[ResultColumn]) -> Self {
        let columns = columns
            .iter()
            .map(|column| ColumnState {
                name: column.name.clone(),
                vector: Vector::new(values_kind(&column.data_type)),
                validity: Vec::new(),
            })
            .collect();
        Self { columns, rows: 0 }
    }

    /// Appends one row, a value per column in order. A row of the wrong
    /// width or with a value of the wrong kind is an `internal` error (a bug
    /// in the connector) and leaves the batch unchanged.
    pub fn push_row(&mut self, values: Vec<Value>) -> Result<(), ConnectorError> {
        if values.len() != self.columns.len() {
            return Err(ConnectorError::internal(format!(
                "a result row has {} values for {} columns",
                values.len(),
                self.columns.len()
            )));
        }
        if self.rows == u32::MAX {
            return Err(ConnectorError::internal("a batch cannot hold more than 2^32 - 1 rows"));
        }
        for (column, value) in self.columns.iter().zip(&values) {
            column.vector.check(value).map_err(|problem| match problem {
                Misfit::Size => ConnectorError::internal(format!(
                    "column `{}` holds more than 4 GiB of data in one batch; pull smaller batches",
                    column.name
                )),
                Misfit::Kind => ConnectorError::internal(format!(
                    "column `{}` got a {} value, which does not fit its {:?} values",
                    column.name,
                    value.kind_name(),
                    column.vector.kind()
                )),
            })?;
        }
        let rows = self.rows as usize;
        for (column, value) in self.columns.iter_mut().zip(values) {
            if value == Value::Null {
                if column.validity.is_empty() {
                    column.validity = vec![true; rows];
                }
                column.validity.push(false);
                column.vector.push_placeholder();
            } else {
                if !column.validity.is_empty() {
                    column.validity.push(true);
                }
                column.vector.push(value);
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows pushed since the last [`BatchBuilder::finish`].
    pub fn len(&self) -> u32 {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Roughly the bytes the batch will take on the wire, to end a batch
    /// before it grows too large for the guest's memory.
    pub fn byte_size(&self) -> usize {
        self.columns.iter().map(|c| c.vector.byte_size() + c.validity.len()).sum()
    }

    /// The batch so far; the builder starts over, empty, for the next one.
    pub fn finish(&mut self) -> Batch {
        let columns = self
            .columns
            .iter_mut()
            .map(|column| ColumnValues { values: column.vector.take(), validity: std::mem::take(&mut column.validity) })
            .collect();
        Batch { row_count: std::mem::replace(&mut self.rows, 0), columns }
    }
}

impl Vector {
    fn kind(&self) -> ValuesKind {
        match self {
            Self::Boolean(_) => ValuesKind::Boolean,
            Self::Int16(_) => ValuesKind::Int16,
            Self::Int32(_) => ValuesKind::Int32,
            Self::Int64(_) => ValuesKind::Int64,
            Self::UInt8(_) => ValuesKind::UInt8,
            Self::UInt16(_) => ValuesKind::UInt16,
            Self::UInt32(_) => ValuesKind::UInt32,
            Self::UInt64(_) => ValuesKind::UInt64,
            Self::Float32(_) => ValuesKind::Float32,
            Self::Float64(_) => ValuesKind::Float64,
            Self::Decimal(_) => ValuesKind::Decimal,
            Self::Utf8(_) => ValuesKind::Utf8,
            Self::Binary(_) => ValuesKind::Binary,
            Self::Date(_) => ValuesKind::Date,
            Self::Time(_) => ValuesKind::Time,
            Self::Timestamp(_) => ValuesKind::Timestamp,
            Self::Json(_) => ValuesKind::Json,
        }
    }
}

/// A batch ends early past this many bytes, whatever `max_rows` allows, so a
/// result of wide rows stays within the guest's memory.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// [`Rows`] over rows already in memory: the small previews of files and
/// key-value sources. Hands them out `max_rows` at a time (and at most
/// about [`MAX_BATCH_BYTES`] per batch).
#[derive(Debug)]
pub struct BufferedRows {
    columns: Vec<ResultColumn>,
    rows: VecDeque<Vec<Value>>,
    builder: BatchBuilder,
}

impl BufferedRows {
    pub fn new(columns: Vec<ResultColumn>, rows: Vec<Vec<Value>>) -> Self {
        let builder = BatchBuilder::new(&columns);
        Self { columns, rows: rows.into(), builder }
    }

    /// Rows not handed out yet.
    pub fn remaining(&self) -> usize {
        self.rows.len()
    }
}

impl<C: ?Sized> Rows<C> for BufferedRows {
    fn columns(&self) -> Vec<ResultColumn> {
        self.columns.clone()
    }

    fn next(&mut self, _connection: &mut C, max_rows: u32) -> Result<Option<Batch>, ConnectorError> {
        if self.rows.is_empty() {
            return Ok(None);
        }
        // Zero would hand out empty batches forever: at least one row.
        while self.builder.len() < max_rows.max(1) && self.builder.byte_size() < MAX_BATCH_BYTES {
            let Some(row) = self.rows.pop_front() else { break };
            self.builder.push_row(row)?;
        }
        Ok(Some(self.builder.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn columns() -> Vec<ResultColumn> {
        vec![
            result_column("id", data_type::INT32, "integer"),
            result_column("name", data_type::STRING, "text"),
            result_column("blob", data_type::BINARY, "bytea"),
        ]
    }

    #[test]
    fn data_types_pick_the_wit_values_case() {
        let cases = [
            (data_type::BOOLEAN, ValuesKind::Boolean),
            (data_type::UINT16, ValuesKind::UInt16),
            (data_type::DECIMAL, ValuesKind::Decimal),
            (data_type::TIMESTAMP_TZ, ValuesKind::Timestamp),
            (data_type::TIME, ValuesKind::Time),
            (data_type::STRUCT, ValuesKind::Json),
            (data_type::ARRAY, ValuesKind::Json),
            (data_type::UUID, ValuesKind::Utf8),
            (data_type::INTERVAL, ValuesKind::Utf8),
            ("no-such-type", ValuesKind::Utf8),
        ];
        for (name, kind) in cases {
            assert_eq!(values_kind(name), kind, "{name}");
        }
    }

    #[test]
    fn texts_are_laid_end_to_end_with_offsets() {
        let mut builder = BatchBuilder::new(&columns());
        builder.push_row(vec![Value::Int32(1), Value::Text("ab".into()), Value::Bytes(vec![1, 2, 3])]).unwrap();
        builder.push_row(vec![Value::Int32(2), Value::Text("é".into()), Value::Bytes(vec![])]).unwrap();
        assert_eq!(builder.len(), 2);
        assert!(builder.byte_size() >= 8 + 4 + 3);
        let batch = builder.finish();
        assert_eq!(batch.row_count, 2);
        assert!(batch.columns.iter().all(|c| c.validity.is_empty()), "no NULL, no validity");
        assert!(matches!(&batch.columns[0].values, Values::Int32(v) if v == &[1, 2]));
        match &batch.columns[1].values {
            Values::Utf8(t) => {
                assert_eq!(t.offsets, [0, 2, 4]);
                assert_eq!(t.data, "abé");
            }
            other => panic!("{other:?}"),
        }
        match &batch.columns[2].values {
            Values::Binary(b) => {
                assert_eq!((b.offsets.as_slice(), b.data.as_slice()), (&[0, 3, 3][..], &[1, 2, 3][..]))
            }
            other => panic!("{other:?}"),
        }
        // The builder starts over.
        assert!(builder.is_empty());
        assert_eq!(builder.finish().row_count, 0);
    }

    #[test]
    fn nulls_get_placeholders_and_validity() {
        let mut builder = BatchBuilder::new(&columns());
        builder.push_row(vec![Value::Int32(7), Value::Text("x".into()), Value::Null]).unwrap();
        builder.push_row(vec![Value::Null, Value::Null, Value::Bytes(vec![9])]).unwrap();
        builder.push_row(vec![Value::Int32(8), Value::Text("y".into()), Value::Bytes(vec![])]).unwrap();
        let batch = builder.finish();
        assert_eq!(batch.columns[0].validity, [true, false, true]);
        assert_eq!(batch.columns[1].validity, [true, false, true]);
        assert_eq!(batch.columns[2].validity, [false, true, true]);
        assert!(matches!(&batch.columns[0].values, Values::Int32(v) if v == &[7, 0, 8]));
        assert!(matches!(&batch.columns[1].values, Values::Utf8(t) if t.offsets == [0, 1, 1, 2] && t.data == "xy"));
        assert!(matches!(&batch.columns[2].values, Values::Binary(b) if b.offsets == [0, 0, 1, 1]));
    }

    #[test]
    fn a_wrong_value_names_the_column_and_changes_nothing() {
        let mut builder = BatchBuilder::new(&columns());
        builder.push_row(vec![Value::Int32(1), Value::Text("a".into()), Value::Null]).unwrap();
        let error = builder.push_row(vec![Value::Int32(2), Value::Int64(3), Value::Null]).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Internal);
        assert!(error.message.contains("`name`") && error.message.contains("int64"), "{}", error.message);
        let error = builder.push_row(vec![Value::Int32(2)]).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Internal);
        assert!(error.message.contains("1 values for 3 columns"), "{}", error.message);
        let batch = builder.finish();
        assert_eq!(batch.row_count, 1);
        assert!(matches!(&batch.columns[0].values, Values::Int32(v) if v.len() == 1));
    }

    #[test]
    fn buffered_rows_hand_out_max_rows_at_a_time() {
        let rows = (0..5).map(|i| vec![Value::Int32(i), Value::Text(i.to_string()), Value::Null]).collect();
        let mut buffered = BufferedRows::new(columns(), rows);
        assert_eq!(Rows::<()>::columns(&buffered).len(), 3);
        let mut sizes = Vec::new();
        while let Some(batch) = Rows::<()>::next(&mut buffered, &mut (), 2).unwrap() {
            assert!(batch.columns[2].validity.iter().all(|v| !v));
            sizes.push(batch.row_count);
        }
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(buffered.remaining(), 0);
        // Zero still makes progress.
        let mut one = BufferedRows::new(columns(), vec![vec![Value::Int32(1), Value::Null, Value::Null]]);
        assert_eq!(Rows::<()>::next(&mut one, &mut (), 0).unwrap().map(|b| b.row_count), Some(1));
        assert!(Rows::<()>::next(&mut one, &mut (), 0).unwrap().is_none());
    }
}
