//! The columns of a result (from a RowDescription's type OIDs) and their
//! text-format values as [`Value`]s.
//!
//! The session is set up for one text format ([`crate::query`]): `DateStyle`
//! ISO, `TimeZone` UTC, `bytea_output` hex. Within it:
//!
//! - dates are days since 1970-01-01, times microseconds since midnight,
//!   timestamps microseconds since 1970-01-01T00:00:00 (UTC for
//!   timestamptz); years BC count astronomically (1 BC is year 0);
//! - `infinity` and `-infinity` dates and timestamps are clamped to the
//!   largest and smallest value of the type (`i32::MAX` days,
//!   `i64::MAX` µs, …), which is how PostgreSQL itself stores them, rather
//!   than failing a whole result for one sentinel;
//! - numeric is decimal text as the server prints it (`NaN` and, since
//!   PostgreSQL 14, `Infinity` included); floats keep `NaN` and the infinities;
//! - types without a portable counterpart (intervals, arrays, ranges, enums,
//!   timetz, money, …) travel as the server's text.

use inlet_sdk::prelude::*;
use inlet_sdk::{TimeUnit, data_type as dt};

use crate::catalog::numeric_typmod;
use crate::wire::Field;

/// How one column's text is turned into a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Decimal,
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    /// timestamptz: the text carries its offset from UTC.
    TimestampTz,
    Json,
}

/// The portable type, native name and decoder of a built-in type OID.
fn describe_oid(oid: u32) -> (&'static str, &'static str, Decoder) {
    match oid {
        16 => (dt::BOOLEAN, "boolean", Decoder::Bool),
        17 => (dt::BINARY, "bytea", Decoder::Bytea),
        19 => (dt::STRING, "name", Decoder::Text),
        20 => (dt::INT64, "bigint", Decoder::Int64),
        21 => (dt::INT16, "smallint", Decoder::Int16),
        23 => (dt::INT32, "integer", Decoder::Int32),
        25 => (dt::STRING, "text", Decoder::Text),
        114 => (dt::JSON, "json", Decoder::Json),
        700 => (dt::FLOAT32, "real", Decoder::Float32),
        701 => (dt::FLOAT64, "double precision", Decoder::Float64),
        1042 => (dt::STRING, "character", Decoder::Text),
        1043 => (dt::STRING, "character varying", Decoder::Text),
        1082 => (dt::DATE, "date", Decoder::Date),
        1083 => (dt::TIME, "time without time zone", Decoder::Time),
        1114 => (dt::TIMESTAMP, "timestamp without time zone", Decoder::Timestamp),
        1184 => (dt::TIMESTAMP_TZ, "timestamp with time zone", Decoder::TimestampTz),
        1700 => (dt::DECIMAL, "numeric", Decoder::Decimal),
        2950 => (dt::UUID, "uuid", Decoder::Text),
        3802 => (dt::JSON, "jsonb", Decoder::Json),
        _ => (dt::OTHER, "", Decoder::Text),
    }
}

/// The result column for a RowDescription field, and how to read its values.
/// `time_zone` is the session's zone before the query set UTC (what users
/// of the source see timestamptz values in).
pub fn result_column_for(field: &Field, time_zone: Option<&str>) -> (ResultColumn, Decoder) {
    let (data_type, native, decoder) = describe_oid(field.type_oid);
    let native = if native.is_empty() { format!("type oid {}", field.type_oid) } else { native.to_owned() };
    let mut column = result_column(field.name.clone(), data_type, native);
    match decoder {
        Decoder::Decimal => {
            let (precision, scale) = numeric_typmod(field.type_modifier);
            if let (Some(p), Some(s)) = (precision, scale) {
                column.native_type = format!("numeric({p},{s})");
            }
            (column.precision, column.scale) = (precision, scale);
        }
        Decoder::Time | Decoder::Timestamp => column.time_unit = Some(TimeUnit::Microsecond),
        Decoder::TimestampTz => {
            column.time_unit = Some(TimeUnit::Microsecond);
            column.time_zone = time_zone.map(str::to_owned);
        }
        _ => {}
    }
    (column, decoder)
}

/// A cell's text (`None`: NULL) as the value its column's decoder makes.
pub fn decode(decoder: Decoder, text: Option<&str>) -> Result<Value, ConnectorError> {
    let Some(text) = text else { return Ok(Value::Null) };
    let bad = |what: &str| ConnectorError::protocol(format!("the server sent `{}` for a {what} value", shorten(text)));
    Ok(match decoder {
        Decoder::Bool => match text {
            "t" | "true" => Value::Bool(true),
            "f" | "false" => Value::Bool(false),
            _ => return Err(bad("boolean")),
        },
        Decoder::Int16 => Value::Int16(text.parse().map_err(|_| bad("smallint"))?),
        Decoder::Int32 => Value::Int32(text.parse().map_err(|_| bad("integer"))?),
        Decoder::Int64 => Value::Int64(text.parse().map_err(|_| bad("bigint"))?),
        Decoder::Float32 => Value::Float32(parse_float(text).ok_or_else(|| bad("real"))? as f32),
        Decoder::Float64 => Value::Float64(parse_float(text).ok_or_else(|| bad("double precision"))?),
        Decoder::Decimal => Value::Decimal(text.to_owned()),
        Decoder::Text => Value::Text(text.to_owned()),
        Decoder::Json => Value::Json(text.to_owned()),
        Decoder::Bytea => Value::Bytes(parse_bytea(text).ok_or_else(|| bad("bytea"))?),
        Decoder::Date => Value::Date(parse_date(text).ok_or_else(|| bad("date"))?),
        Decoder::Time => Value::Time(parse_time(text).ok_or_else(|| bad("time"))?),
        Decoder::Timestamp => Value::Timestamp(parse_timestamp(text, false).ok_or_else(|| bad("timestamp"))?),
        Decoder::TimestampTz => Value::Timestamp(parse_timestamp(text, true).ok_or_else(|| bad("timestamptz"))?),
    })
}

/// At most 40 characters of a value for a message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// float4/float8 text, including PostgreSQL's `NaN`, `Infinity`, `-Infinity`.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

/// bytea in the hex format (`\x0aff`) or, from servers that use it, the
/// escape format (`a\\b\001`).
fn parse_bytea(text: &str) -> Option<Vec<u8>> {
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits = hex.as_bytes();
        if digits.len() % 2 != 0 {
            return None;
        }
        return digits
            .chunks(2)
            .map(|pair| {
                let pair = std::str::from_utf8(pair).ok()?;
                u8::from_str_radix(pair, 16).ok()
            })
            .collect();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = std::str::from_utf8(bytes.get(i + 1..i + 4)?).ok()?;
            out.push(u8::from_str_radix(octal, 8).ok()?);
            i += 4;
        }
    }
    Some(out)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (year 0 is 1 BC).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYY-MM-DD` (any number of year digits) and the rest of the text, with
/// a trailing ` BC` already taken into account.
fn split_date(text: &str) -> Option<(i64, &str)> {
    let (text, bc) = match text.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (year, rest) = text.split_once('-')?;
    let month = rest.get(0..2)?;
    let day = rest.get(3..5)?;
    if rest.as_bytes().get(2) != Some(&b'-') {
        return None;
    }
    let year: i64 = digits(year)?;
    let (month, day): (u32, u32) = (digits(month)?, digits(day)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = if bc { 1 - year } else { year };
    Some((days_from_civil(year, month, day), &rest[5..]))
}

/// Only ASCII digits (no sign, no spaces), parsed.
fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_date(text: &str) -> Option<i32> {
    match text {
        "infinity" => return Some(i32::MAX),
        "-infinity" => return Some(i32::MIN),
        _ => {}
    }
    match split_date(text)? {
        (days, "") => i32::try_from(days).ok(),
        _ => None,
    }
}

/// `HH:MM:SS[.ffffff]` as microseconds since midnight (24:00:00 allowed).
fn parse_time(text: &str) -> Option<i64> {
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, fraction),
        None => (text, ""),
    };
    let mut parts = clock.split(':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || hours.len() != 2 || minutes.len() != 2 || seconds.len() != 2 {
        return None;
    }
    let (hours, minutes, seconds): (i64, i64, i64) = (digits(hours)?, digits(minutes)?, digits(seconds)?);
    if hours > 24 || minutes > 59 || seconds > 60 || fraction.len() > 6 {
        return None;
    }
    let micros = if fraction.is_empty() { 0 } else { digits::<i64>(fraction)? * 10_i64.pow(6 - fraction.len() as u32) };
    Some(((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + micros)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]][ BC]` as microseconds since
/// the epoch; with `zoned`, the offset is required and taken out (UTC).
fn parse_timestamp(text: &str, zoned: bool) -> Option<i64> {
    match text {
        "infinity" => return Some(i64::MAX),
        "-infinity" => return Some(i64::MIN),
        _ => {}
    }
    // ` BC` follows the offset: take it off and put it back on the date.
    let (body, bc) = match text.strip_suffix(" BC") {
        Some(rest) => (rest, " BC"),
        None => (text, ""),
    };
    let (date, clock) = body.split_once(' ')?;
    let (days, rest) = split_date(&format!("{date}{bc}")).map(|(days, rest)| (days, rest.to_owned()))?;
    if !rest.is_empty() {
        return None;
    }
    let (clock, offset_seconds) = if zoned {
        let at = clock.rfind(['+', '-'])?;
        (&clock[..at], parse_offset(&clock[at..])?)
    } else {
        (clock, 0)
    };
    let micros = parse_time(clock)?;
    days.checked_mul(86_400_000_000)?.checked_add(micros)?.checked_sub(offset_seconds.checked_mul(1_000_000)?)
}

/// `+HH`, `-HH:MM`, `+HH:MM:SS` as seconds east of UTC.
fn parse_offset(text: &str) -> Option<i64> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let mut seconds = 0;
    let mut unit = 3600;
    for part in text[1..].split(':') {
        if part.len() != 2 || unit == 0 {
            return None;
        }
        seconds += digits::<i64>(part)? * unit;
        unit /= 60;
    }
    Some(sign * seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(type_oid: u32, type_modifier: i32) -> Field {
        Field { name: "c".into(), type_oid, type_modifier }
    }

    #[test]
    fn type_oids_map_to_portable_types() {
        let cases = [
            (16, dt::BOOLEAN, Decoder::Bool),
            (21, dt::INT16, Decoder::Int16),
            (23, dt::INT32, Decoder::Int32),
            (20, dt::INT64, Decoder::Int64),
            (700, dt::FLOAT32, Decoder::Float32),
            (701, dt::FLOAT64, Decoder::Float64),
            (1700, dt::DECIMAL, Decoder::Decimal),
            (25, dt::STRING, Decoder::Text),
            (1043, dt::STRING, Decoder::Text),
            (1042, dt::STRING, Decoder::Text),
            (19, dt::STRING, Decoder::Text),
            (17, dt::BINARY, Decoder::Bytea),
            (1082, dt::DATE, Decoder::Date),
            (1083, dt::TIME, Decoder::Time),
            (1114, dt::TIMESTAMP, Decoder::Timestamp),
            (1184, dt::TIMESTAMP_TZ, Decoder::TimestampTz),
            (114, dt::JSON, Decoder::Json),
            (3802, dt::JSON, Decoder::Json),
            (2950, dt::UUID, Decoder::Text),
            (1186, dt::OTHER, Decoder::Text),
            (1007, dt::OTHER, Decoder::Text),
        ];
        for (oid, data_type, decoder) in cases {
            let (column, got) = result_column_for(&field(oid, -1), None);
            assert_eq!((column.data_type.as_str(), got), (data_type, decoder), "oid {oid}");
        }
        let (numeric, _) = result_column_for(&field(1700, (12 << 16 | 3) + 4), None);
        assert_eq!(
            (numeric.precision, numeric.scale, numeric.native_type.as_str()),
            (Some(12), Some(3), "numeric(12,3)")
        );
        let (tz, _) = result_column_for(&field(1184, -1), Some("Europe/Paris"));
        assert_eq!((tz.time_unit, tz.time_zone.as_deref()), (Some(TimeUnit::Microsecond), Some("Europe/Paris")));
        let (other, _) = result_column_for(&field(424242, -1), None);
        assert_eq!(other.native_type, "type oid 424242");
    }

    #[test]
    fn scalars_parse_from_text() {
        assert_eq!(decode(Decoder::Bool, Some("t")).unwrap(), Value::Bool(true));
        assert_eq!(decode(Decoder::Bool, Some("f")).unwrap(), Value::Bool(false));
        assert_eq!(decode(Decoder::Int16, Some("-32768")).unwrap(), Value::Int16(i16::MIN));
        assert_eq!(decode(Decoder::Int64, Some("9223372036854775807")).unwrap(), Value::Int64(i64::MAX));
        assert_eq!(decode(Decoder::Float64, Some("1.5e-10")).unwrap(), Value::Float64(1.5e-10));
        assert_eq!(decode(Decoder::Float32, Some("-Infinity")).unwrap(), Value::Float32(f32::NEG_INFINITY));
        assert!(matches!(decode(Decoder::Float64, Some("NaN")).unwrap(), Value::Float64(v) if v.is_nan()));
        assert_eq!(decode(Decoder::Decimal, Some("-1234.5600")).unwrap(), Value::Decimal("-1234.5600".into()));
        assert_eq!(decode(Decoder::Json, Some("{\"a\":1}")).unwrap(), Value::Json("{\"a\":1}".into()));
        assert_eq!(decode(Decoder::Int32, None).unwrap(), Value::Null);
        let error = decode(Decoder::Int32, Some("12x")).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains("`12x`") && error.message.contains("integer"), "{}", error.message);
        assert!(decode(Decoder::Float64, Some("inf")).is_err(), "only PostgreSQL's spelling");
    }

    #[test]
    fn bytea_parses_hex_and_escape_formats() {
        assert_eq!(parse_bytea("\\x"), Some(vec![]));
        assert_eq!(parse_bytea("\\x00ff7A"), Some(vec![0, 255, 0x7a]));
        assert_eq!(parse_bytea("\\x0"), None);
        assert_eq!(parse_bytea("\\xzz"), None);
        assert_eq!(parse_bytea("a\\\\b\\001"), Some(vec![b'a', b'\\', b'b', 1]));
        assert_eq!(parse_bytea("\\9"), None);
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        // 1 BC is year 0 (a leap year): 0000-03-01 is 719,468 days before the epoch.
        assert_eq!(parse_date("0001-03-01 BC"), Some(-719_468));
        assert_eq!(parse_date("10000-01-01"), Some(2_932_897));
        assert_eq!(parse_date("infinity"), Some(i32::MAX));
        assert_eq!(parse_date("-infinity"), Some(i32::MIN));
        for bad in ["2024-13-01", "2024-1-01", "24/01/2024", "2024-01-01x", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_microseconds_since_midnight() {
        assert_eq!(parse_time("00:00:00"), Some(0));
        assert_eq!(parse_time("12:34:56.5"), Some(45_296_500_000));
        assert_eq!(parse_time("23:59:59.999999"), Some(86_399_999_999));
        assert_eq!(parse_time("24:00:00"), Some(86_400_000_000));
        for bad in ["1:00:00", "12:00", "12:00:00.1234567", "12:0a:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_microseconds_since_the_epoch() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00", false), Some(0));
        assert_eq!(parse_timestamp("2024-01-31 12:00:00.000001", false), Some(1_706_702_400_000_001));
        assert_eq!(parse_timestamp("1969-12-31 23:59:59", false), Some(-1_000_000));
        assert_eq!(parse_timestamp("2024-01-31 12:00:00+00", true), Some(1_706_702_400_000_000));
        assert_eq!(parse_timestamp("2024-01-31 13:30:00+01:30", true), Some(1_706_702_400_000_000));
        assert_eq!(parse_timestamp("2024-01-31 06:59:50-05:00:10", true), Some(1_706_702_400_000_000));
        assert_eq!(parse_timestamp("0001-01-01 00:00:00+00 BC", true), parse_timestamp("0000-01-01 00:00:00", false));
        assert_eq!(parse_timestamp("infinity", true), Some(i64::MAX));
        assert_eq!(parse_timestamp("-infinity", false), Some(i64::MIN));
        assert_eq!(parse_timestamp("2024-01-31 12:00:00", true), None, "timestamptz needs its offset");
        assert_eq!(parse_timestamp("2024-01-31T12:00:00", false), None);
        assert_eq!(parse_timestamp("294277-01-01 00:00:00", false), None, "out of range");
        let value = decode(Decoder::TimestampTz, Some("2024-01-31 12:00:00+00")).unwrap();
        assert_eq!(value, Value::Timestamp(1_706_702_400_000_000));
    }
}
