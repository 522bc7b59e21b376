//! Result columns of the binary protocol: column definitions, the portable
//! type each one maps to, and binary result rows decoded into [`Value`]s.

use inlet_sdk::rows::{Value, result_column};
use inlet_sdk::{ConnectorError, ResultColumn, TimeUnit, data_type as dt};

use crate::packet::{Cursor, ParseError};

/// The `binary` character set: a string column with it holds bytes.
pub const BINARY_CHARSET: u16 = 63;

/// Column flags used here.
const UNSIGNED_FLAG: u16 = 32;
const NOT_NULL_FLAG: u16 = 1;

/// Column types (`enum_field_types`).
pub mod field {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// A column definition (Protocol::ColumnDefinition41), the parts used here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub charset: u16,
    pub length: u32,
    pub column_type: u8,
    pub flags: u16,
    pub decimals: u8,
}

impl ColumnDef {
    fn unsigned(&self) -> bool {
        self.flags & UNSIGNED_FLAG != 0
    }
}

/// Parses a column definition packet.
pub fn parse_column_def(payload: &[u8]) -> Result<ColumnDef, ParseError> {
    let mut c = Cursor::new(payload);
    for what in ["catalog", "schema", "table", "original table"] {
        c.lenenc_bytes(what)?;
    }
    let name = c.lenenc_bytes("column name")?.ok_or(ParseError::Malformed("column name"))?;
    c.lenenc_bytes("original column name")?;
    if c.lenenc_u64("column fields")? < 12 {
        return Err(ParseError::Malformed("column fields"));
    }
    Ok(ColumnDef {
        name: String::from_utf8_lossy(name).into_owned(),
        charset: c.u16("character set")?,
        length: c.u32("column length")?,
        column_type: c.u8("column type")?,
        flags: c.u16("column flags")?,
        decimals: c.u8("decimals")?,
    })
}

/// How a column's binary values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
    Decimal,
    Text,
    Bytes,
    Json,
    Date,
    Time,
    Timestamp,
}

/// The result column for a definition, and how to read its values.
pub fn result_column_for(def: &ColumnDef) -> (ResultColumn, Decoder) {
    use field as f;
    let unsigned = def.unsigned();
    let binary = def.charset == BINARY_CHARSET;
    let pick = |u: (&'static str, &'static str, Decoder), s: (&'static str, &'static str, Decoder)| {
        if unsigned { u } else { s }
    };
    let (data_type, native, decoder) = match def.column_type {
        // TINYINT: no int8 in the contract, so signed widens to int16.
        f::TINY => pick((dt::UINT8, "tinyint unsigned", Decoder::UInt8), (dt::INT16, "tinyint", Decoder::Int8)),
        f::SHORT => pick((dt::UINT16, "smallint unsigned", Decoder::UInt16), (dt::INT16, "smallint", Decoder::Int16)),
        f::INT24 => pick((dt::UINT32, "mediumint unsigned", Decoder::UInt32), (dt::INT32, "mediumint", Decoder::Int32)),
        f::LONG => pick((dt::UINT32, "int unsigned", Decoder::UInt32), (dt::INT32, "int", Decoder::Int32)),
        f::LONGLONG => pick((dt::UINT64, "bigint unsigned", Decoder::UInt64), (dt::INT64, "bigint", Decoder::Int64)),
        f::YEAR => (dt::INT16, "year", Decoder::Int16),
        f::FLOAT => (dt::FLOAT32, "float", Decoder::Float32),
        f::DOUBLE => (dt::FLOAT64, "double", Decoder::Float64),
        f::DECIMAL | f::NEWDECIMAL => (dt::DECIMAL, "decimal", Decoder::Decimal),
        f::DATE | f::NEWDATE => (dt::DATE, "date", Decoder::Date),
        f::TIME => (dt::TIME, "time", Decoder::Time),
        f::DATETIME => (dt::TIMESTAMP, "datetime", Decoder::Timestamp),
        f::TIMESTAMP => (dt::TIMESTAMP_TZ, "timestamp", Decoder::Timestamp),
        f::BIT => (dt::BINARY, "bit", Decoder::Bytes),
        f::JSON => (dt::JSON, "json", Decoder::Json),
        f::ENUM => (dt::STRING, "enum", Decoder::Text),
        f::SET => (dt::STRING, "set", Decoder::Text),
        f::GEOMETRY => (dt::BINARY, "geometry", Decoder::Bytes),
        f::TINY_BLOB | f::MEDIUM_BLOB | f::LONG_BLOB | f::BLOB if binary => (dt::BINARY, "blob", Decoder::Bytes),
        f::TINY_BLOB | f::MEDIUM_BLOB | f::LONG_BLOB | f::BLOB => (dt::STRING, "text", Decoder::Text),
        f::VARCHAR | f::VAR_STRING if binary => (dt::BINARY, "varbinary", Decoder::Bytes),
        f::VARCHAR | f::VAR_STRING => (dt::STRING, "varchar", Decoder::Text),
        f::STRING if binary => (dt::BINARY, "binary", Decoder::Bytes),
        // ENUM and SET columns arrive as STRING with a flag: text either way.
        f::STRING => (dt::STRING, "char", Decoder::Text),
        f::NULL => (dt::STRING, "null", Decoder::Text),
        _ => (dt::OTHER, "", Decoder::Text),
    };
    let native = if native.is_empty() { format!("type {}", def.column_type) } else { native.to_owned() };
    let mut column = result_column(def.name.clone(), data_type, native);
    column.nullable = def.flags & NOT_NULL_FLAG == 0;
    match decoder {
        Decoder::Decimal => {
            // The display length counts the sign (signed) and the point (scale > 0).
            let scale = u32::from(def.decimals);
            let precision = def.length.saturating_sub(u32::from(scale > 0)).saturating_sub(u32::from(!unsigned)).max(1);
            column.native_type = format!("decimal({precision},{scale})");
            (column.precision, column.scale) = (Some(precision), Some(scale));
        }
        Decoder::Time | Decoder::Timestamp => column.time_unit = Some(TimeUnit::Microsecond),
        _ => {}
    }
    if def.column_type == field::TIMESTAMP {
        // The transaction sets the session zone to UTC, so values come as UTC.
        column.time_zone = Some("UTC".to_owned());
    }
    (column, decoder)
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A binary DATE/DATETIME/TIMESTAMP: (days since the epoch, µs into the day),
/// or `None` for a zero or partial-zero date ('0000-00-00'), which has no
/// calendar day and so is reported as NULL.
fn read_datetime(c: &mut Cursor<'_>) -> Result<Option<(i32, i64)>, ParseError> {
    let length = c.u8("date length")?;
    if !matches!(length, 0 | 4 | 7 | 11) {
        return Err(ParseError::Malformed("date length"));
    }
    if length == 0 {
        return Ok(None);
    }
    let year = i64::from(c.u16("year")?);
    let (month, day) = (i64::from(c.u8("month")?), i64::from(c.u8("day")?));
    let (mut hour, mut minute, mut second, mut micros) = (0i64, 0i64, 0i64, 0i64);
    if length >= 7 {
        (hour, minute, second) = (i64::from(c.u8("hour")?), i64::from(c.u8("minute")?), i64::from(c.u8("second")?));
    }
    if length == 11 {
        micros = i64::from(c.u32("microseconds")?);
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Ok(None);
    }
    let days = i32::try_from(days_from_civil(year, month, day)).map_err(|_| ParseError::Malformed("date"))?;
    Ok(Some((days, ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros)))
}

/// A binary TIME: µs, negative and beyond 24 hours as MySQL allows (±838:59:59).
fn read_time(c: &mut Cursor<'_>) -> Result<i64, ParseError> {
    let length = c.u8("time length")?;
    if !matches!(length, 0 | 8 | 12) {
        return Err(ParseError::Malformed("time length"));
    }
    if length == 0 {
        return Ok(0);
    }
    let negative = c.u8("time sign")? == 1;
    let days = i64::from(c.u32("time days")?);
    let (hour, minute, second) = (i64::from(c.u8("hour")?), i64::from(c.u8("minute")?), i64::from(c.u8("second")?));
    let micros = if length == 12 { i64::from(c.u32("microseconds")?) } else { 0 };
    let total = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + micros;
    Ok(if negative { -total } else { total })
}

fn fixed<const N: usize>(c: &mut Cursor<'_>, what: &'static str) -> Result<[u8; N], ParseError> {
    let bytes = c.bytes(N, what)?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

fn lenenc<'a>(c: &mut Cursor<'a>) -> Result<&'a [u8], ParseError> {
    c.lenenc_bytes("value")?.ok_or(ParseError::Malformed("value (NULL outside the bitmap)"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One value of a binary row.
fn read_value(c: &mut Cursor<'_>, decoder: Decoder) -> Result<Value, ParseError> {
    Ok(match decoder {
        Decoder::Int8 => Value::Int16(i16::from(i8::from_le_bytes(fixed(c, "tinyint")?))),
        Decoder::UInt8 => Value::UInt8(c.u8("tinyint")?),
        Decoder::Int16 => Value::Int16(i16::from_le_bytes(fixed(c, "smallint")?)),
        Decoder::UInt16 => Value::UInt16(c.u16("smallint")?),
        Decoder::Int32 => Value::Int32(i32::from_le_bytes(fixed(c, "int")?)),
        Decoder::UInt32 => Value::UInt32(c.u32("int")?),
        Decoder::Int64 => Value::Int64(i64::from_le_bytes(fixed(c, "bigint")?)),
        Decoder::UInt64 => Value::UInt64(c.u64("bigint")?),
        Decoder::Float32 => Value::Float32(f32::from_le_bytes(fixed(c, "float")?)),
        Decoder::Float64 => Value::Float64(f64::from_le_bytes(fixed(c, "double")?)),
        Decoder::Decimal => Value::Decimal(text(lenenc(c)?)),
        Decoder::Text => Value::Text(text(lenenc(c)?)),
        Decoder::Json => Value::Json(text(lenenc(c)?)),
        Decoder::Bytes => Value::Bytes(lenenc(c)?.to_vec()),
        Decoder::Date => match read_datetime(c)? {
            Some((days, _)) => Value::Date(days),
            None => Value::Null,
        },
        Decoder::Time => Value::Time(read_time(c)?),
        Decoder::Timestamp => match read_datetime(c)? {
            Some((days, micros)) => Value::Timestamp(i64::from(days) * 86_400_000_000 + micros),
            None => Value::Null,
        },
    })
}

/// A binary result row (ProtocolBinary::ResultsetRow): 0x00, the NULL
/// bitmap (offset by 2 bits), then the non-NULL values.
pub fn decode_row(payload: &[u8], decoders: &[Decoder]) -> Result<Vec<Value>, ConnectorError> {
    let mut c = Cursor::new(payload);
    if c.u8("row header")? != 0x00 {
        return Err(ParseError::Malformed("binary row header").into());
    }
    let bitmap = c.bytes((decoders.len() + 9) / 8, "NULL bitmap")?;
    let mut values = Vec::with_capacity(decoders.len());
    for (i, decoder) in decoders.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            values.push(Value::Null);
        } else {
            values.push(read_value(&mut c, *decoder)?);
        }
    }
    if !c.is_empty() {
        return Err(ParseError::Malformed("binary row (bytes after the last value)").into());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(column_type: u8, flags: u16, charset: u16, length: u32, decimals: u8) -> ColumnDef {
        ColumnDef { name: "c".into(), charset, length, column_type, flags, decimals }
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
    }

    #[test]
    fn types_map_to_portable_ones() {
        let ty = |d: ColumnDef| result_column_for(&d).0.data_type;
        assert_eq!(ty(def(field::TINY, 0, 63, 4, 0)), dt::INT16);
        assert_eq!(ty(def(field::TINY, UNSIGNED_FLAG, 63, 3, 0)), dt::UINT8);
        assert_eq!(ty(def(field::VAR_STRING, 0, 45, 40, 0)), dt::STRING);
        assert_eq!(ty(def(field::VAR_STRING, 0, 63, 40, 0)), dt::BINARY);
        assert_eq!(ty(def(field::BLOB, 0, 63, 65535, 0)), dt::BINARY);
        assert_eq!(ty(def(field::TIMESTAMP, 0, 63, 19, 0)), dt::TIMESTAMP_TZ);
        let (decimal, _) = result_column_for(&def(field::NEWDECIMAL, 0, 63, 12, 2));
        assert_eq!((decimal.precision, decimal.scale), (Some(10), Some(2)));
        let (unsigned, _) = result_column_for(&def(field::NEWDECIMAL, UNSIGNED_FLAG, 63, 5, 0));
        assert_eq!((unsigned.precision, unsigned.scale), (Some(5), Some(0)));
    }

    #[test]
    fn binary_rows_decode_and_truncations_fail() {
        // (NULL, -2 tinyint, 'ab', 2024-02-29 12:00:00.5)
        let decoders = [Decoder::Text, Decoder::Int8, Decoder::Text, Decoder::Timestamp];
        let mut row = vec![0x00, 0b0000_0100];
        row.push(0xFE);
        row.extend_from_slice(&[2, b'a', b'b']);
        row.extend_from_slice(&[11, 0xE8, 0x07, 2, 29, 12, 0, 0]);
        row.extend_from_slice(&500_000u32.to_le_bytes());
        let values = decode_row(&row, &decoders).unwrap();
        let day = days_from_civil(2024, 2, 29);
        assert_eq!(
            values,
            vec![
                Value::Null,
                Value::Int16(-2),
                Value::Text("ab".into()),
                Value::Timestamp(day * 86_400_000_000 + 43_200_500_000)
            ]
        );
        for cut in 0..row.len() {
            assert!(decode_row(&row[..cut], &decoders).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn negative_and_long_times() {
        let mut time = vec![8, 1];
        time.extend_from_slice(&1u32.to_le_bytes());
        time.extend_from_slice(&[2, 3, 4]);
        let mut c = Cursor::new(&time);
        assert_eq!(read_time(&mut c).unwrap(), -(((26 * 60 + 3) * 60 + 4) * 1_000_000));
    }
}
