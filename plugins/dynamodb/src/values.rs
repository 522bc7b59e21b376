//! Attribute values (DynamoDB's typed JSON: `{"N": "12.5"}`) as cells of
//! the columns discover described: a column's path is looked up in the item
//! (maps flattened into `a.b` as [`crate::sample`] flattens them), and the
//! value converted to the column's data type. A value that does not fit the
//! type the sample gave (an item past the sample) is NULL, never a wrong value.

use base64::Engine as _;
use inlet_infer::parse::{date_days, decimal_text, timestamp_micros};
use inlet_sdk::data_type;
use inlet_sdk::rows::Value as Cell;
use serde_json::{Map, Value};

/// The value at `path` in `item`: the attribute of that exact name, or
/// (when there is none) the member of a map attribute, `a.b.c`.
pub fn lookup<'a>(item: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = item.get(path) {
        return Some(value);
    }
    let mut rest = path;
    let mut members = item;
    // Try every split, since attribute names may hold dots themselves.
    while let Some((head, tail)) = split_first_match(members, rest) {
        let Some(Value::Object(inner)) = members.get(head).and_then(|v| v.get("M")) else { return None };
        if let Some(value) = inner.get(tail) {
            return Some(value);
        }
        members = inner;
        rest = tail;
    }
    None
}

/// The shortest `head.` prefix of `path` that names an attribute of `members`.
fn split_first_match<'p>(members: &Map<String, Value>, path: &'p str) -> Option<(&'p str, &'p str)> {
    path.match_indices('.').map(|(i, _)| (&path[..i], &path[i + 1..])).find(|(head, _)| members.contains_key(*head))
}

/// One attribute value (or its absence) as a cell of a column of `data_type`
/// with `scale` (decimals).
pub fn cell(value: Option<&Value>, data_type: &str, scale: Option<u32>) -> Cell {
    let Some(value) = value else { return Cell::Null };
    let Some((tag, inner)) = tagged(value) else { return Cell::Null };
    if tag == "NULL" {
        return Cell::Null;
    }
    let text = inner.as_str();
    let converted = match data_type {
        data_type::JSON | data_type::ARRAY | data_type::MAP | data_type::STRUCT | data_type::OTHER => {
            plain_json(value).map(Cell::Json)
        }
        data_type::BINARY if tag == "B" => {
            text.and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok()).map(Cell::Bytes)
        }
        data_type::BOOLEAN if tag == "BOOL" => inner.as_bool().map(Cell::Bool),
        data_type::INT64 if tag == "N" => text.and_then(|t| t.parse().ok()).map(Cell::Int64),
        data_type::FLOAT64 if tag == "N" => text.and_then(|t| t.parse().ok()).map(Cell::Float64),
        data_type::DECIMAL if tag == "N" => text.and_then(|t| decimal_text(t, scale.unwrap_or(0))).map(Cell::Decimal),
        data_type::DATE if tag == "S" => text.and_then(date_days).map(Cell::Date),
        data_type::TIMESTAMP if tag == "S" => text.and_then(|t| timestamp_micros(t, false)).map(Cell::Timestamp),
        data_type::TIMESTAMP_TZ if tag == "S" => text.and_then(|t| timestamp_micros(t, true)).map(Cell::Timestamp),
        // Strings, and mixed scalars widened to strings: the value as written.
        data_type::STRING => match tag {
            "S" | "N" => text.map(|t| Cell::Text(t.to_owned())),
            "BOOL" => inner.as_bool().map(|b| Cell::Text(b.to_string())),
            _ => plain_json(value).map(Cell::Text),
        },
        _ => None,
    };
    converted.unwrap_or(Cell::Null)
}

/// `{"S": "x"}` → (`S`, `"x"`).
fn tagged(value: &Value) -> Option<(&str, &Value)> {
    match value {
        Value::Object(object) if object.len() == 1 => object.iter().next().map(|(tag, inner)| (tag.as_str(), inner)),
        _ => None,
    }
}

/// An attribute value as plain JSON text: maps as objects, lists and sets as
/// arrays, numbers as written (exact, however many digits), binary as base64.
pub fn plain_json(value: &Value) -> Option<String> {
    let mut out = String::new();
    write_plain(value, &mut out)?;
    Some(out)
}

fn write_plain(value: &Value, out: &mut String) -> Option<()> {
    let (tag, inner) = tagged(value)?;
    let string = |text: &str, out: &mut String| out.push_str(&Value::from(text).to_string());
    let number = |text: &str, out: &mut String| {
        // Written as is only when it is a JSON number (DynamoDB's always are).
        serde_json::from_str::<serde_json::Number>(text).ok().map(|_| out.push_str(text.trim()))
    };
    match (tag, inner) {
        ("S" | "B", Value::String(text)) => string(text, out),
        ("N", Value::String(text)) => number(text, out)?,
        ("BOOL", Value::Bool(flag)) => out.push_str(if *flag { "true" } else { "false" }),
        ("NULL", _) => out.push_str("null"),
        ("M", Value::Object(members)) => {
            out.push('{');
            for (i, (name, member)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(name, out);
                out.push(':');
                write_plain(member, out)?;
            }
            out.push('}');
        }
        ("L" | "SS" | "NS" | "BS", Value::Array(elements)) => {
            out.push('[');
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match (tag, element) {
                    ("L", element) => write_plain(element, out)?,
                    ("NS", Value::String(text)) => number(text, out)?,
                    (_, Value::String(text)) => string(text, out),
                    _ => return None,
                }
            }
            out.push(']');
        }
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_reach_into_maps_and_names_with_dots_win() {
        let item = json!({"address": {"M": {"city": {"S": "Oslo"}, "geo": {"M": {"lat": {"N": "59.9"}}}}},
                          "a.b": {"S": "dotted"}, "a": {"M": {"b": {"S": "nested"}}}});
        let item = item.as_object().unwrap();
        assert_eq!(lookup(item, "address.city"), Some(&json!({"S": "Oslo"})));
        assert_eq!(lookup(item, "address.geo.lat"), Some(&json!({"N": "59.9"})));
        assert_eq!(lookup(item, "a.b"), Some(&json!({"S": "dotted"})));
        assert_eq!(lookup(item, "address.zip"), None);
        assert_eq!(lookup(item, "missing"), None);
    }

    #[test]
    fn scalars_take_their_column_type() {
        let cases = [
            (json!({"N": "-42"}), data_type::INT64, None, Cell::Int64(-42)),
            (json!({"N": "4.5"}), data_type::INT64, None, Cell::Null),
            (json!({"N": "12.5"}), data_type::DECIMAL, Some(2), Cell::Decimal("12.50".into())),
            (json!({"N": "-0.0"}), data_type::DECIMAL, Some(1), Cell::Decimal("0.0".into())),
            (json!({"N": "1e3"}), data_type::FLOAT64, None, Cell::Float64(1000.0)),
            (json!({"BOOL": false}), data_type::BOOLEAN, None, Cell::Bool(false)),
            (json!({"S": ""}), data_type::STRING, None, Cell::Text(String::new())),
            (json!({"N": "7"}), data_type::STRING, None, Cell::Text("7".into())),
            (json!({"BOOL": true}), data_type::STRING, None, Cell::Text("true".into())),
            (json!({"NULL": true}), data_type::STRING, None, Cell::Null),
            (json!({"B": "AP8Q"}), data_type::BINARY, None, Cell::Bytes(vec![0, 255, 16])),
            (json!({"S": "2024-02-29"}), data_type::DATE, None, Cell::Date(19_782)),
            (json!({"S": "1969-12-31"}), data_type::DATE, None, Cell::Date(-1)),
            (json!({"S": "2023-02-29"}), data_type::DATE, None, Cell::Null),
            (
                json!({"S": "2024-01-31T13:00:00.1234567+01:00"}),
                data_type::TIMESTAMP_TZ,
                None,
                Cell::Timestamp(1_706_702_400_123_456),
            ),
            (json!({"S": "2024-01-31 12:00:00"}), data_type::TIMESTAMP, None, Cell::Timestamp(1_706_702_400_000_000)),
            (json!({"S": "2024-01-31"}), data_type::TIMESTAMP, None, Cell::Timestamp(1_706_659_200_000_000)),
            (json!({"S": "2024-01-31T12:00:00"}), data_type::TIMESTAMP_TZ, None, Cell::Null),
        ];
        for (value, data_type, scale, expected) in cases {
            assert_eq!(cell(Some(&value), data_type, scale), expected, "{value} as {data_type}");
        }
        assert_eq!(cell(None, data_type::INT64, None), Cell::Null);
    }

    #[test]
    fn documents_and_sets_become_plain_json_with_exact_numbers() {
        let value = json!({"M": {"n": {"N": "123456789012345678901234567890.5"}, "l": {"L": [{"S": "a\"b"}, {"NULL": true}, {"BOOL": true}]},
                           "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AQ=="]}, "ss": {"SS": ["x"]}}});
        let text = plain_json(&value).unwrap();
        assert_eq!(
            text,
            // Members by name (serde_json's map order).
            r#"{"bs":["AQ=="],"l":["a\"b",null,true],"n":123456789012345678901234567890.5,"ns":[1,2.5],"ss":["x"]}"#
        );
        assert_eq!(cell(Some(&value), data_type::MAP, None), Cell::Json(text));
        assert_eq!(plain_json(&json!({"N": "not a number"})), None);
        assert_eq!(plain_json(&json!({"X": 1})), None);
    }
}
