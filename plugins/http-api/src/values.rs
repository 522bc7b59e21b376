//! Record fields as cells of the columns discover described: a column's
//! dotted name is looked up through the record's objects (as
//! [`crate::shape`] flattened them), and the value converted to the column's
//! data type. A value that does not fit the type the sample gave (a record
//! past the sample) is NULL, never a wrong value.

use inlet_infer::parse::{date_days, decimal_text, timestamp_micros};
use inlet_sdk::data_type;
use inlet_sdk::rows::Value as Cell;

use crate::json::Json;

/// How [`crate::shape`] names the field of an empty key.
const EMPTY_KEY: &str = "(empty)";

fn key_name(key: &str) -> &str {
    if key.is_empty() { EMPTY_KEY } else { key }
}

/// The value at the flattened `path` of `record`: a member of that name, or
/// a member of an object member (`address.city`). Keys may hold dots too, so
/// every way of cutting the path at a member's name is tried.
pub fn lookup<'a>(record: &'a Json, path: &str) -> Option<&'a Json> {
    let Json::Object(entries) = record else {
        // A scalar or array record is the one column `value`.
        return (path == "value").then_some(record);
    };
    if let Some((_, value)) = entries.iter().find(|(key, _)| key_name(key) == path) {
        return Some(value);
    }
    entries.iter().find_map(|(key, value)| {
        let rest = path.strip_prefix(key_name(key))?.strip_prefix('.')?;
        match value {
            Json::Object(_) => lookup_member(value, rest),
            _ => None,
        }
    })
}

/// [`lookup`] inside an object member (where no `value` column stands for the object).
fn lookup_member<'a>(object: &'a Json, path: &str) -> Option<&'a Json> {
    match object {
        Json::Object(_) => lookup(object, path),
        _ => None,
    }
}

/// One field (or its absence) as a cell of a column of `data_type` with `scale` (decimals).
pub fn cell(value: Option<&Json>, data_type: &str, scale: Option<u32>) -> Cell {
    let converted = match (value, data_type) {
        (None | Some(Json::Null), _) => None,
        (Some(value), data_type::JSON | data_type::ARRAY | data_type::MAP | data_type::STRUCT) => {
            Some(Cell::Json(to_json_text(value)))
        }
        (Some(Json::Bool(flag)), data_type::BOOLEAN) => Some(Cell::Bool(*flag)),
        (Some(Json::Number(n)), data_type::INT64) => n.as_i64().map(Cell::Int64),
        (Some(Json::Number(n)), data_type::FLOAT64) => n.as_f64().map(Cell::Float64),
        (Some(Json::Number(n)), data_type::DECIMAL) => {
            decimal_text(&n.to_string(), scale.unwrap_or(0)).map(Cell::Decimal)
        }
        (Some(Json::String(s)), data_type::DATE) => date_days(s).map(Cell::Date),
        (Some(Json::String(s)), data_type::TIMESTAMP) => timestamp_micros(s, false).map(Cell::Timestamp),
        (Some(Json::String(s)), data_type::TIMESTAMP_TZ) => timestamp_micros(s, true).map(Cell::Timestamp),
        // Strings, and mixed scalars widened to strings: the value as written.
        (Some(Json::String(s)), data_type::STRING) => Some(Cell::Text(s.clone())),
        (Some(Json::Number(n)), data_type::STRING) => Some(Cell::Text(n.to_string())),
        (Some(Json::Bool(flag)), data_type::STRING) => Some(Cell::Text(flag.to_string())),
        (Some(other @ (Json::Array(..) | Json::Object(_))), data_type::STRING) => Some(Cell::Text(to_json_text(other))),
        _ => None,
    };
    converted.unwrap_or(Cell::Null)
}

/// The value as JSON text, members in document order.
pub fn to_json_text(value: &Json) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Json, out: &mut String) {
    let string = |text: &str, out: &mut String| out.push_str(&serde_json::Value::from(text).to_string());
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => string(s, out),
        Json::Array(items, _) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (key, member)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(key, out);
                out.push(':');
                write_json(member, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn dotted_names_reach_into_objects_and_keys_with_dots_win() {
        let record = parse(r#"{"address": {"city": "Oslo", "geo": {"lat": 59.9}}, "a.b": 1, "a": {"b": 2}, "": 3}"#);
        assert_eq!(lookup(&record, "address.city"), Some(&parse(r#""Oslo""#)));
        assert_eq!(lookup(&record, "address.geo.lat"), Some(&parse("59.9")));
        assert_eq!(lookup(&record, "a.b"), Some(&parse("1")));
        assert_eq!(lookup(&record, "(empty)"), Some(&parse("3")));
        assert_eq!(lookup(&record, "address.zip"), None);
        assert_eq!(lookup(&parse("7"), "value"), Some(&parse("7")));
    }

    #[test]
    fn fields_take_their_column_type_or_null() {
        let cases = [
            ("-42", data_type::INT64, None, Cell::Int64(-42)),
            ("4.5", data_type::INT64, None, Cell::Null),
            ("12.5", data_type::DECIMAL, Some(2), Cell::Decimal("12.50".into())),
            ("1e3", data_type::FLOAT64, None, Cell::Float64(1000.0)),
            // serde_json keeps an exponent number as a float: its digits.
            ("1e3", data_type::DECIMAL, Some(0), Cell::Decimal("1000.0".into())),
            ("false", data_type::BOOLEAN, None, Cell::Bool(false)),
            (r#""""#, data_type::STRING, None, Cell::Text(String::new())),
            ("7", data_type::STRING, None, Cell::Text("7".into())),
            ("null", data_type::STRING, None, Cell::Null),
            (r#""2024-02-29""#, data_type::DATE, None, Cell::Date(19_782)),
            (r#""2023-02-29""#, data_type::DATE, None, Cell::Null),
            (r#""2024-01-31T13:00:00.5+01:00""#, data_type::TIMESTAMP_TZ, None, Cell::Timestamp(1_706_702_400_500_000)),
            (r#""2024-01-31""#, data_type::TIMESTAMP, None, Cell::Timestamp(1_706_659_200_000_000)),
            (r#"{"b": [1, "x"], "a": null}"#, data_type::JSON, None, Cell::Json(r#"{"b":[1,"x"],"a":null}"#.into())),
            (r#"["x", "y"]"#, data_type::ARRAY, None, Cell::Json(r#"["x","y"]"#.into())),
        ];
        for (text, data_type, scale, expected) in cases {
            assert_eq!(cell(Some(&parse(text)), data_type, scale), expected, "{text} as {data_type}");
        }
        assert_eq!(cell(None, data_type::INT64, None), Cell::Null);
    }
}
