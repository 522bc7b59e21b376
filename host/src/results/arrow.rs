//! Arrow IPC (the streaming format): one schema message from the result's
//! columns, then one record batch per connector batch. The vectors move
//! into Arrow buffers as they are (text offsets become Arrow's i32 offsets);
//! only decimals are parsed, into Decimal128 at the column's precision and
//! scale (text when the source gave no precision, or more than 38 digits).
//!
//! Types: boolean, (u)int8–64 and float32/64 as themselves; date as Date32;
//! time as Time32/Time64 in its unit; timestamp as Timestamp in its unit,
//! with time zone `UTC` for timestamp-tz; binary as Binary; text, and JSON
//! with the `arrow.json` extension name, as Utf8.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{ArrayRef, BinaryArray, BooleanArray, Decimal128Array, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit as ArrowUnit};

use crate::model::{Batch, ResultColumn, TimeUnit, Values, ValuesKind};

/// The widest decimal Decimal128 holds.
const DECIMAL128_MAX_PRECISION: u32 = 38;

/// Writes one result as an Arrow IPC stream, a piece at a time.
pub struct ArrowEncoder {
    schema: SchemaRef,
    columns: Vec<ResultColumn>,
    writer: StreamWriter<Vec<u8>>,
}

impl ArrowEncoder {
    /// The encoder and the stream's first bytes (the schema message).
    pub fn new(columns: &[ResultColumn]) -> Result<(Self, Vec<u8>), ArrowError> {
        let schema = Arc::new(Schema::new(columns.iter().map(field).collect::<Vec<_>>()));
        let mut writer = StreamWriter::try_new(Vec::new(), &schema)?;
        let head = std::mem::take(writer.get_mut());
        Ok((Self { schema, columns: columns.to_vec(), writer }, head))
    }

    /// The bytes of one record batch.
    pub fn batch(&mut self, batch: Batch) -> Result<Vec<u8>, ArrowError> {
        let arrays = self
            .columns
            .iter()
            .zip(batch.columns)
            .map(|(column, values)| array(column, values.values, values.validity))
            .collect::<Result<Vec<_>, _>>()?;
        let record = RecordBatch::try_new(self.schema.clone(), arrays)?;
        self.writer.write(&record)?;
        Ok(std::mem::take(self.writer.get_mut()))
    }

    /// The stream's end marker.
    pub fn finish(mut self) -> Result<Vec<u8>, ArrowError> {
        self.writer.finish()?;
        Ok(std::mem::take(self.writer.get_mut()))
    }
}

fn unit(unit: TimeUnit) -> ArrowUnit {
    match unit {
        TimeUnit::Second => ArrowUnit::Second,
        TimeUnit::Millisecond => ArrowUnit::Millisecond,
        TimeUnit::Microsecond => ArrowUnit::Microsecond,
        TimeUnit::Nanosecond => ArrowUnit::Nanosecond,
    }
}

/// The decimal's Arrow precision and scale, when Decimal128 can hold it.
fn decimal_shape(column: &ResultColumn) -> Option<(u8, i8)> {
    let precision = column.precision.filter(|p| (1..=DECIMAL128_MAX_PRECISION).contains(p))?;
    let scale = column.scale.unwrap_or(0);
    (scale <= precision).then_some((precision as u8, scale as i8))
}

fn data_type(column: &ResultColumn) -> DataType {
    match column.values_kind() {
        ValuesKind::Boolean => DataType::Boolean,
        ValuesKind::Int16 => DataType::Int16,
        ValuesKind::Int32 => DataType::Int32,
        ValuesKind::Int64 => DataType::Int64,
        ValuesKind::UInt8 => DataType::UInt8,
        ValuesKind::UInt16 => DataType::UInt16,
        ValuesKind::UInt32 => DataType::UInt32,
        ValuesKind::UInt64 => DataType::UInt64,
        ValuesKind::Float32 => DataType::Float32,
        ValuesKind::Float64 => DataType::Float64,
        ValuesKind::Decimal => match decimal_shape(column) {
            Some((precision, scale)) => DataType::Decimal128(precision, scale),
            None => DataType::Utf8,
        },
        ValuesKind::Utf8 | ValuesKind::Json => DataType::Utf8,
        ValuesKind::Binary => DataType::Binary,
        ValuesKind::Date => DataType::Date32,
        ValuesKind::Time => match column.time_unit {
            TimeUnit::Second | TimeUnit::Millisecond => DataType::Time32(unit(column.time_unit)),
            TimeUnit::Microsecond | TimeUnit::Nanosecond => DataType::Time64(unit(column.time_unit)),
        },
        ValuesKind::Timestamp => {
            DataType::Timestamp(unit(column.time_unit), column.values_kind_is_utc().then(|| "UTC".into()))
        }
    }
}

fn field(column: &ResultColumn) -> Field {
    let mut metadata = HashMap::from([("inlet:native_type".to_owned(), column.native_type.clone())]);
    if column.values_kind() == ValuesKind::Json {
        metadata.insert("ARROW:extension:name".to_owned(), "arrow.json".to_owned());
    }
    Field::new(&column.name, data_type(column), column.nullable).with_metadata(metadata)
}

fn nulls(validity: Vec<bool>) -> Option<NullBuffer> {
    (!validity.is_empty()).then(|| NullBuffer::from(validity))
}

fn primitive<T: arrow_array::ArrowPrimitiveType>(values: Vec<T::Native>, validity: Vec<bool>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), nulls(validity)))
}

/// Offsets as Arrow's i32 (checked at the boundary to fit and run forward).
fn offsets(offsets: Vec<u32>) -> Result<OffsetBuffer<i32>, ArrowError> {
    let offsets = offsets
        .into_iter()
        .map(|offset| i32::try_from(offset).map_err(|_| ArrowError::InvalidArgumentError("offset over 2 GiB".into())))
        .collect::<Result<Vec<i32>, _>>()?;
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

fn array(column: &ResultColumn, values: Values, validity: Vec<bool>) -> Result<ArrayRef, ArrowError> {
    let time_unit = column.time_unit;
    Ok(match values {
        Values::Boolean(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls(validity))),
        Values::Int16(v) => primitive::<Int16Type>(v, validity),
        Values::Int32(v) => primitive::<Int32Type>(v, validity),
        Values::Int64(v) => primitive::<Int64Type>(v, validity),
        Values::UInt8(v) => primitive::<UInt8Type>(v, validity),
        Values::UInt16(v) => primitive::<UInt16Type>(v, validity),
        Values::UInt32(v) => primitive::<UInt32Type>(v, validity),
        Values::UInt64(v) => primitive::<UInt64Type>(v, validity),
        Values::Float32(v) => primitive::<Float32Type>(v, validity),
        Values::Float64(v) => primitive::<Float64Type>(v, validity),
        Values::Date(v) => primitive::<Date32Type>(v, validity),
        Values::Time(v) => match time_unit {
            TimeUnit::Second => primitive::<Time32SecondType>(narrow(v)?, validity),
            TimeUnit::Millisecond => primitive::<Time32MillisecondType>(narrow(v)?, validity),
            TimeUnit::Microsecond => primitive::<Time64MicrosecondType>(v, validity),
            TimeUnit::Nanosecond => primitive::<Time64NanosecondType>(v, validity),
        },
        Values::Timestamp(v) => {
            let zone = column.values_kind_is_utc().then_some("UTC");
            match time_unit {
                TimeUnit::Second => Arc::new(
                    PrimitiveArray::<TimestampSecondType>::new(ScalarBuffer::from(v), nulls(validity))
                        .with_timezone_opt(zone),
                ),
                TimeUnit::Millisecond => Arc::new(
                    PrimitiveArray::<TimestampMillisecondType>::new(ScalarBuffer::from(v), nulls(validity))
                        .with_timezone_opt(zone),
                ),
                TimeUnit::Microsecond => Arc::new(
                    PrimitiveArray::<TimestampMicrosecondType>::new(ScalarBuffer::from(v), nulls(validity))
                        .with_timezone_opt(zone),
                ),
                TimeUnit::Nanosecond => Arc::new(
                    PrimitiveArray::<TimestampNanosecondType>::new(ScalarBuffer::from(v), nulls(validity))
                        .with_timezone_opt(zone),
                ),
            }
        }
        Values::Binary(b) => {
            Arc::new(BinaryArray::try_new(offsets(b.offsets)?, Buffer::from(b.data), nulls(validity))?)
        }
        Values::Decimal(t) => match decimal_shape(column) {
            Some((precision, scale)) => {
                let parsed = (0..t.offsets.len().saturating_sub(1))
                    .map(|row| {
                        let null = validity.get(row).is_some_and(|valid| !valid);
                        if null { Ok(0) } else { decimal128(t.get(row), scale) }
                    })
                    .collect::<Result<Vec<i128>, _>>()?;
                Arc::new(
                    Decimal128Array::new(ScalarBuffer::from(parsed), nulls(validity))
                        .with_precision_and_scale(precision, scale)?,
                )
            }
            None => text_array(t, validity)?,
        },
        Values::Utf8(t) | Values::Json(t) => text_array(t, validity)?,
    })
}

fn text_array(text: crate::model::TextVector, validity: Vec<bool>) -> Result<ArrayRef, ArrowError> {
    let data = Buffer::from(text.data.into_bytes());
    Ok(Arc::new(StringArray::try_new(offsets(text.offsets)?, data, nulls(validity))?))
}

fn narrow(values: Vec<i64>) -> Result<Vec<i32>, ArrowError> {
    values
        .into_iter()
        .map(|v| i32::try_from(v).map_err(|_| ArrowError::InvalidArgumentError(format!("time {v} out of range"))))
        .collect()
}

/// Decimal text (`-12.3400`, `5`, `.5`) as an integer scaled by `scale`.
/// More fraction digits than the scale, or anything else, is an error:
/// a value is never rounded on the way.
fn decimal128(text: &str, scale: i8) -> Result<i128, ArrowError> {
    let invalid = || ArrowError::InvalidArgumentError(format!("`{text}` is not a decimal of scale {scale}"));
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = fraction.trim_end_matches('0');
    let scale = usize::try_from(scale).map_err(|_| invalid())?;
    if (whole.is_empty() && fraction.is_empty()) || fraction.len() > scale {
        return Err(invalid());
    }
    if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let mut value: i128 = 0;
    let padded = fraction.bytes().chain(std::iter::repeat_n(b'0', scale - fraction.len()));
    for digit in whole.bytes().chain(padded) {
        value = value.checked_mul(10).and_then(|v| v.checked_add(i128::from(digit - b'0'))).ok_or_else(invalid)?;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ColumnValues, TextVector};
    use arrow_array::Array;

    #[test]
    fn decimals_parse_exactly_or_not_at_all() {
        assert_eq!(decimal128("-1234.5600", 4).ok(), Some(-12_345_600));
        assert_eq!(decimal128("5", 2).ok(), Some(500));
        assert_eq!(decimal128(".5", 1).ok(), Some(5));
        assert!(decimal128("1.234", 2).is_err());
        assert!(decimal128("NaN", 2).is_err());
        assert!(decimal128("", 2).is_err());
        assert!(decimal128("1e5", 2).is_err());
    }

    #[test]
    fn a_batch_round_trips_through_the_ipc_reader() {
        let column = |name: &str, data_type: &str, precision| ResultColumn {
            name: name.into(),
            data_type: data_type.into(),
            native_type: data_type.into(),
            nullable: true,
            precision,
            scale: Some(2),
            time_unit: TimeUnit::Microsecond,
            time_zone: None,
        };
        let columns = [column("amount", "decimal", Some(10)), column("at", "timestamp-tz", None)];
        let (mut encoder, mut bytes) = ArrowEncoder::new(&columns).unwrap();
        let batch = Batch {
            row_count: 2,
            columns: vec![
                ColumnValues {
                    values: Values::Decimal(TextVector { offsets: vec![0, 4, 4], data: "1.50".into() }),
                    validity: vec![true, false],
                },
                ColumnValues { values: Values::Timestamp(vec![1, 2]), validity: vec![] },
            ],
        };
        bytes.extend(encoder.batch(batch).unwrap());
        bytes.extend(encoder.finish().unwrap());
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.len(), 1);
        let amounts = batches[0].column(0).as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(amounts.value(0), 150);
        assert!(amounts.is_null(1));
        assert_eq!(
            batches[0].schema().field(1).data_type(),
            &DataType::Timestamp(ArrowUnit::Microsecond, Some("UTC".into()))
        );
    }
}
