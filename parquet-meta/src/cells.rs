//! One value of a Parquet record (`parquet::record::Field`) as the SDK's
//! [`Value`] of the type `discover` reports for its column: integers of the
//! declared width, decimals as text at full precision, times and timestamps
//! in the column's unit, UUIDs as text, lists, maps and structs as JSON.

use inlet_sdk::rows::{Value, ValuesKind, values_kind};
use inlet_sdk::{ConnectorError, data_type};
use parquet::record::Field;

use crate::meta::TimeUnit;

/// What a column's values need besides their data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape<'a> {
    pub data_type: &'a str,
    /// The unit of time and timestamp values.
    pub unit: TimeUnit,
    /// The scale of decimals stored as plain integers.
    pub scale: u32,
}

/// `field` as a value of a column of `shape`; `name` is the column's, for errors.
pub fn value(field: &Field, shape: Shape<'_>, name: &str) -> Result<Value, ConnectorError> {
    if matches!(field, Field::Null) {
        return Ok(Value::Null);
    }
    let misfit =
        || ConnectorError::protocol(format!("column `{name}`: a {} value in a {} column", field, shape.data_type));
    Ok(match values_kind(shape.data_type) {
        ValuesKind::Boolean => match field {
            Field::Bool(b) => Value::Bool(*b),
            _ => return Err(misfit()),
        },
        ValuesKind::Int16 => Value::Int16(integer(field).and_then(|n| i16::try_from(n).ok()).ok_or_else(misfit)?),
        ValuesKind::Int32 => Value::Int32(integer(field).and_then(|n| i32::try_from(n).ok()).ok_or_else(misfit)?),
        ValuesKind::Int64 => Value::Int64(integer(field).and_then(|n| i64::try_from(n).ok()).ok_or_else(misfit)?),
        // Unsigned values stored in signed physical types: their bits.
        ValuesKind::UInt8 => Value::UInt8(integer(field).ok_or_else(misfit)? as u8),
        ValuesKind::UInt16 => Value::UInt16(integer(field).ok_or_else(misfit)? as u16),
        ValuesKind::UInt32 => Value::UInt32(integer(field).ok_or_else(misfit)? as u32),
        ValuesKind::UInt64 => Value::UInt64(integer(field).ok_or_else(misfit)? as u64),
        ValuesKind::Float32 => match field {
            Field::Float(f) => Value::Float32(*f),
            Field::Float16(f) => Value::Float32(f32::from(*f)),
            _ => return Err(misfit()),
        },
        ValuesKind::Float64 => match field {
            Field::Double(f) => Value::Float64(*f),
            Field::Float(f) => Value::Float64(f64::from(*f)),
            _ => return Err(misfit()),
        },
        ValuesKind::Decimal => match field {
            Field::Decimal(d) => Value::Decimal(decimal_text(d.data(), u32::try_from(d.scale()).unwrap_or(0))),
            Field::Int(n) => Value::Decimal(decimal_text(&n.to_be_bytes(), shape.scale)),
            Field::Long(n) => Value::Decimal(decimal_text(&n.to_be_bytes(), shape.scale)),
            Field::Bytes(b) => Value::Decimal(decimal_text(b.data(), shape.scale)),
            _ => return Err(misfit()),
        },
        ValuesKind::Date => match field {
            Field::Date(days) | Field::Int(days) => Value::Date(*days),
            _ => return Err(misfit()),
        },
        ValuesKind::Time => Value::Time(match field {
            Field::TimeMillis(ms) => convert(i64::from(*ms), TimeUnit::Millis, shape.unit),
            Field::TimeMicros(us) => convert(*us, TimeUnit::Micros, shape.unit),
            Field::Int(n) => i64::from(*n),
            Field::Long(n) => *n,
            _ => return Err(misfit()),
        }),
        ValuesKind::Timestamp => Value::Timestamp(match field {
            Field::TimestampMillis(ms) => convert(*ms, TimeUnit::Millis, shape.unit),
            Field::TimestampMicros(us) => convert(*us, TimeUnit::Micros, shape.unit),
            Field::Long(n) => *n,
            _ => return Err(misfit()),
        }),
        ValuesKind::Binary => match field {
            Field::Bytes(b) => Value::Bytes(b.data().to_vec()),
            Field::Str(s) => Value::Bytes(s.as_bytes().to_vec()),
            _ => return Err(misfit()),
        },
        ValuesKind::Json => match field {
            Field::Str(s) if shape.data_type == data_type::JSON => Value::Json(s.clone()),
            other => Value::Json(other.to_json_value().to_string()),
        },
        ValuesKind::Utf8 => match field {
            Field::Str(s) => Value::Text(s.clone()),
            Field::Bytes(b) if shape.data_type == data_type::UUID && b.data().len() == 16 => {
                Value::Text(uuid_text(b.data()))
            }
            Field::Bytes(b) => match std::str::from_utf8(b.data()) {
                Ok(text) => Value::Text(text.to_owned()),
                Err(_) => Value::Text(hex(b.data())),
            },
            other => Value::Text(other.to_string()),
        },
    })
}

fn integer(field: &Field) -> Option<i128> {
    Some(match field {
        Field::Byte(n) => i128::from(*n),
        Field::Short(n) => i128::from(*n),
        Field::Int(n) => i128::from(*n),
        Field::Long(n) => i128::from(*n),
        Field::UByte(n) => i128::from(*n),
        Field::UShort(n) => i128::from(*n),
        Field::UInt(n) => i128::from(*n),
        Field::ULong(n) => i128::from(*n),
        _ => return None,
    })
}

fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Millis => 1_000,
        TimeUnit::Micros => 1_000_000,
        TimeUnit::Nanos => 1_000_000_000,
    }
}

/// `value` in `from` units as `to` units (saturating; finer to coarser truncates).
fn convert(value: i64, from: TimeUnit, to: TimeUnit) -> i64 {
    let (from, to) = (per_second(from), per_second(to));
    if to >= from { value.saturating_mul(to / from) } else { value.div_euclid(from / to) }
}

/// A big-endian two's complement integer with `scale` decimal places, as text.
pub fn decimal_text(bytes: &[u8], scale: u32) -> String {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    // The magnitude, big-endian.
    let mut magnitude: Vec<u8> = bytes.to_vec();
    if negative {
        for byte in &mut magnitude {
            *byte = !*byte;
        }
        for byte in magnitude.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
    }
    let mut digits = Vec::new();
    while magnitude.iter().any(|b| *b != 0) {
        let mut remainder = 0u32;
        for byte in &mut magnitude {
            let current = (remainder << 8) | u32::from(*byte);
            *byte = (current / 10) as u8;
            remainder = current % 10;
        }
        digits.push(b'0' + remainder as u8);
    }
    let scale = scale as usize;
    while digits.len() <= scale {
        digits.push(b'0');
    }
    digits.reverse();
    let mut text = String::with_capacity(digits.len() + 2);
    if negative {
        text.push('-');
    }
    let point = digits.len() - scale;
    text.push_str(std::str::from_utf8(&digits[..point]).unwrap_or("0"));
    if scale > 0 {
        text.push('.');
        text.push_str(std::str::from_utf8(&digits[point..]).unwrap_or(""));
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex = hex(bytes);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_every_digit_and_sign() {
        assert_eq!(decimal_text(&[0x04, 0xD2], 2), "12.34");
        assert_eq!(decimal_text(&(-123_456i32).to_be_bytes(), 4), "-12.3456");
        assert_eq!(decimal_text(&[0xFF], 3), "-0.001");
        assert_eq!(decimal_text(&[], 2), "0.00");
        assert_eq!(decimal_text(&[0x00], 0), "0");
        // 10^38 - 1 needs all 16 bytes; 17 bytes go past i128.
        let big = (10i128.pow(38) - 1).to_be_bytes();
        assert_eq!(decimal_text(&big, 10), "9999999999999999999999999999.9999999999");
        let mut wide = vec![0xFF];
        wide.extend_from_slice(&[0; 16]);
        assert_eq!(decimal_text(&wide, 0), "-340282366920938463463374607431768211456");
    }

    #[test]
    fn times_change_units() {
        assert_eq!(convert(1_500, TimeUnit::Millis, TimeUnit::Micros), 1_500_000);
        assert_eq!(convert(-1, TimeUnit::Nanos, TimeUnit::Micros), -1);
        assert_eq!(uuid_text(&[0xAB; 16]), "abababab-abab-abab-abab-abababababab");
    }
}
