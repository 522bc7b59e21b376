//! One value of a batch as JSON and as text. Portable forms: dates
//! `YYYY-MM-DD`, times `HH:MM:SS[.fraction]`, timestamps ISO 8601 (with `Z`
//! for timestamp-tz, which is UTC), binary as standard base64, decimals as
//! their exact text, JSON columns embedded as JSON (as text when the
//! connector sent text that is not JSON), non-finite floats as the strings
//! `NaN`, `Infinity`, `-Infinity` (JSON has no numbers for them).

use base64::Engine;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use crate::model::{ColumnValues, ResultColumn, TimeUnit, Values};

/// A column as the JSON and NDJSON formats describe it.
pub fn column_json(column: &ResultColumn) -> Value {
    json!({
        "name": column.name,
        "data_type": column.data_type,
        "native_type": column.native_type,
        "nullable": column.nullable,
        "precision": column.precision,
        "scale": column.scale,
        "time_unit": matches!(column.values_kind(), crate::model::ValuesKind::Time | crate::model::ValuesKind::Timestamp)
            .then_some(column.time_unit),
        "time_zone": column.time_zone,
    })
}

/// Row `row` of a column as JSON (`null` for NULL).
pub fn cell_json(column: &ResultColumn, values: &ColumnValues, row: usize) -> Value {
    if values.is_null(row) {
        return Value::Null;
    }
    match &values.values {
        Values::Boolean(v) => Value::Bool(v[row]),
        Values::Int16(v) => v[row].into(),
        Values::Int32(v) => v[row].into(),
        Values::Int64(v) => v[row].into(),
        Values::UInt8(v) => v[row].into(),
        Values::UInt16(v) => v[row].into(),
        Values::UInt32(v) => v[row].into(),
        Values::UInt64(v) => v[row].into(),
        Values::Float32(v) => float_json(f64::from(v[row])),
        Values::Float64(v) => float_json(v[row]),
        Values::Json(t) => serde_json::from_str(t.get(row)).unwrap_or_else(|_| Value::String(t.get(row).to_owned())),
        _ => Value::String(cell_text(column, values, row).unwrap_or_default()),
    }
}

fn float_json(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or_else(|| Value::String(non_finite(value).to_owned()), Value::Number)
}

fn non_finite(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Row `row` of a column as text (`None` for NULL).
pub fn cell_text(column: &ResultColumn, values: &ColumnValues, row: usize) -> Option<String> {
    if values.is_null(row) {
        return None;
    }
    Some(match &values.values {
        Values::Boolean(v) => v[row].to_string(),
        Values::Int16(v) => v[row].to_string(),
        Values::Int32(v) => v[row].to_string(),
        Values::Int64(v) => v[row].to_string(),
        Values::UInt8(v) => v[row].to_string(),
        Values::UInt16(v) => v[row].to_string(),
        Values::UInt32(v) => v[row].to_string(),
        Values::UInt64(v) => v[row].to_string(),
        Values::Float32(v) => float_text(f64::from(v[row])),
        Values::Float64(v) => float_text(v[row]),
        Values::Decimal(t) | Values::Utf8(t) | Values::Json(t) => t.get(row).to_owned(),
        Values::Binary(b) => base64::engine::general_purpose::STANDARD.encode(b.get(row)),
        Values::Date(v) => date_text(v[row]),
        Values::Time(v) => time_text(v[row], column.time_unit),
        Values::Timestamp(v) => timestamp_text(v[row], column.time_unit, column.values_kind_is_utc()),
    })
}

fn float_text(value: f64) -> String {
    if value.is_finite() { value.to_string() } else { non_finite(value).to_owned() }
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (out of range: the day count).
fn date_text(days: i32) -> String {
    const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;
    days.checked_add(UNIX_EPOCH_JULIAN_DAY)
        .and_then(|julian| Date::from_julian_day(julian).ok())
        .map_or_else(|| format!("{days} days"), |date| date.to_string())
}

/// A fraction of a second in `unit`, as `.ffffff` trimmed of trailing zeros
/// to the unit's width.
fn fraction(sub: i64, unit: TimeUnit) -> String {
    match unit {
        TimeUnit::Second => String::new(),
        TimeUnit::Millisecond => format!(".{sub:03}"),
        TimeUnit::Microsecond => format!(".{sub:06}"),
        TimeUnit::Nanosecond => format!(".{sub:09}"),
    }
}

fn time_text(value: i64, unit: TimeUnit) -> String {
    let per_second = unit.per_second();
    let (seconds, sub) = (value.div_euclid(per_second), value.rem_euclid(per_second));
    let (hours, minutes, seconds) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    format!("{hours:02}:{minutes:02}:{seconds:02}{}", fraction(sub, unit))
}

fn timestamp_text(value: i64, unit: TimeUnit, utc: bool) -> String {
    let per_second = unit.per_second();
    let (seconds, sub) = (value.div_euclid(per_second), value.rem_euclid(per_second));
    let Ok(at) = OffsetDateTime::from_unix_timestamp(seconds) else { return format!("{value} ({unit:?} since 1970)") };
    let (date, time) = (at.date(), at.time());
    format!(
        "{date}T{:02}:{:02}:{:02}{}{}",
        time.hour(),
        time.minute(),
        time.second(),
        fraction(sub, unit),
        if utc { "Z" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TextVector;

    fn column(data_type: &str, unit: TimeUnit) -> ResultColumn {
        ResultColumn { time_unit: unit, ..ResultColumn::plain("c", data_type) }
    }

    fn one(values: Values) -> ColumnValues {
        ColumnValues { values, validity: vec![] }
    }

    #[test]
    fn dates_times_and_timestamps_are_iso() {
        let micros = TimeUnit::Microsecond;
        assert_eq!(cell_text(&column("date", micros), &one(Values::Date(vec![0])), 0).unwrap(), "1970-01-01");
        assert_eq!(cell_text(&column("date", micros), &one(Values::Date(vec![-1])), 0).unwrap(), "1969-12-31");
        let noon = 12 * 3600 * 1_000_000 + 5;
        assert_eq!(cell_text(&column("time", micros), &one(Values::Time(vec![noon])), 0).unwrap(), "12:00:00.000005");
        let instant = 1_700_000_000_123_456;
        let tz = cell_text(&column("timestamp-tz", micros), &one(Values::Timestamp(vec![instant])), 0).unwrap();
        assert_eq!(tz, "2023-11-14T22:13:20.123456Z");
        let before = cell_text(&column("timestamp", TimeUnit::Millisecond), &one(Values::Timestamp(vec![-1])), 0);
        assert_eq!(before.unwrap(), "1969-12-31T23:59:59.999");
    }

    #[test]
    fn nulls_floats_json_and_binary() {
        let c = column("float64", TimeUnit::Microsecond);
        let floats =
            ColumnValues { values: Values::Float64(vec![1.5, f64::NAN, 0.0]), validity: vec![true, true, false] };
        assert_eq!(cell_json(&c, &floats, 0), json!(1.5));
        assert_eq!(cell_json(&c, &floats, 1), json!("NaN"));
        assert_eq!(cell_json(&c, &floats, 2), Value::Null);
        assert_eq!(cell_text(&c, &floats, 2), None);
        let docs = one(Values::Json(TextVector { offsets: vec![0, 7, 10], data: "{\"a\":1}not".into() }));
        assert_eq!(cell_json(&column("json", TimeUnit::Microsecond), &docs, 0), json!({"a": 1}));
        assert_eq!(cell_json(&column("json", TimeUnit::Microsecond), &docs, 1), json!("not"));
        let bytes = one(Values::Binary(crate::model::ByteVector { offsets: vec![0, 3], data: vec![0, 255, 1] }));
        assert_eq!(cell_text(&column("binary", TimeUnit::Microsecond), &bytes, 0).unwrap(), "AP8B");
    }
}
