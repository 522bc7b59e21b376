//! Values of Hive partition columns (`key=value` folders), typed as the
//! connectors type the column from all its values (`inlet_infer`): shared
//! by the Parquet and S3 connectors (S3 types its CSV cells the same way).

use inlet_sdk::rows::{Value, ValuesKind, values_kind};
use inlet_sdk::{Column, ConnectorError, ResultColumn};

/// Hive's name for a null partition value.
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// The result column of a partition column (timestamps in microseconds, UTC).
pub fn result_column(column: &Column) -> ResultColumn {
    let mut result = inlet_sdk::rows::result_column(&column.name, &column.data_type, &column.native_type);
    result.nullable = column.nullable;
    result.precision = column.precision;
    result.scale = column.scale;
    if values_kind(&column.data_type) == ValuesKind::Timestamp {
        result.time_unit = Some(inlet_sdk::TimeUnit::Microsecond);
    }
    if column.data_type == inlet_sdk::data_type::TIMESTAMP_TZ {
        result.time_zone = Some("UTC".to_owned());
    }
    result
}

/// A folder's value (already percent-decoded) as a value of `column`.
pub fn value(text: Option<&str>, column: &Column) -> Result<Value, ConnectorError> {
    text_value(text.filter(|t| *t != HIVE_NULL), column)
}

/// Untyped text (a folder's value, a CSV cell; empty or absent is null) as
/// a value of `column`, whose type `inlet_infer` gave from such texts.
pub fn text_value(text: Option<&str>, column: &Column) -> Result<Value, ConnectorError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(Value::Null) };
    let bad =
        || ConnectorError::protocol(format!("partition `{}={text}` is not a {} value", column.name, column.data_type));
    Ok(match values_kind(&column.data_type) {
        ValuesKind::Int64 => Value::Int64(text.parse().map_err(|_| bad())?),
        ValuesKind::Float64 => Value::Float64(text.parse().map_err(|_| bad())?),
        // The words `inlet_infer` reads as booleans.
        ValuesKind::Boolean => Value::Bool(match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "t" => true,
            "false" | "no" | "f" => false,
            _ => return Err(bad()),
        }),
        ValuesKind::Decimal => Value::Decimal(text.to_owned()),
        ValuesKind::Date => Value::Date(date(text).ok_or_else(bad)?),
        ValuesKind::Timestamp => Value::Timestamp(timestamp(text).ok_or_else(bad)?),
        _ => Value::Text(text.to_owned()),
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYY-MM-DD`.
fn date(text: &str) -> Option<i32> {
    let mut parts = text.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    i32::try_from(days_from_civil(year, month, day)).ok()
}

/// `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]` with an optional `Z` or `±HH:MM`,
/// as microseconds since the epoch (UTC when an offset is given).
fn timestamp(text: &str) -> Option<i64> {
    let (day, rest) = text.split_at_checked(10)?;
    let days = i64::from(date(day)?);
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let mut fields = clock.splitn(3, ':');
    let hours: i64 = fields.next()?.parse().ok()?;
    let minutes: i64 = fields.next()?.parse().ok()?;
    let (seconds, micros) = match fields.next() {
        None => (0, 0),
        Some(seconds) => {
            let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
            let digits: String = fraction.chars().chain(std::iter::repeat('0')).take(6).collect();
            (whole.parse::<i64>().ok()?, if fraction.is_empty() { 0 } else { digits.parse().ok()? })
        }
    };
    let offset_minutes = match offset {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (h, m) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
            sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?)
        }
    };
    let seconds = days * 86_400 + hours * 3_600 + (minutes - offset_minutes) * 60 + seconds;
    seconds.checked_mul(1_000_000)?.checked_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_parse() {
        assert_eq!(date("1970-01-02"), Some(1));
        assert_eq!(date("2024-02-29"), Some(19_782));
        assert_eq!(date("2024-13-01"), None);
        assert_eq!(timestamp("1970-01-01T00:00:01.5"), Some(1_500_000));
        assert_eq!(timestamp("1970-01-01 01:00:00+01:00"), Some(0));
        assert_eq!(timestamp("1970-01-01"), None);
    }
}
