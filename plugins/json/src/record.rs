//! One record's bytes: observed into the shape (sampled records) or only
//! checked (the rest), with errors that say where the record is.

use inlet_sdk::ConnectorError;
use serde::de::IgnoredAny;

use crate::records::Place;
use crate::shape::{MAX_COLUMNS, Shape};
use crate::source::Layout;
use crate::walk::{self, WalkError};

/// Observes a sampled record.
pub fn observe(shape: &mut Shape, bytes: &[u8], place: Place) -> Result<(), ConnectorError> {
    require_object(bytes, place)?;
    walk::observe(shape, bytes).map_err(|error| match error {
        WalkError::Json(error) => json_error(&error, place),
        WalkError::TooManyColumns => ConnectorError::unsupported(format!(
            "{}: more than {MAX_COLUMNS} distinct keys; is an object used as a map (keys that are ids)? \
             Lower `max_depth` to keep it as one JSON column",
            place.describe()
        )),
    })
}

/// Checks a record past the sample: valid JSON and an object, without
/// building anything.
pub fn validate(bytes: &[u8], place: Place) -> Result<(), ConnectorError> {
    require_object(bytes, place)?;
    parse_whole(bytes).map_err(|error| json_error(&error, place))
}

fn parse_whole(bytes: &[u8]) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde::Deserialize::deserialize(&mut deserializer).map(|IgnoredAny| ())?;
    deserializer.end()
}

/// A record must be an object: a valid scalar or array is `unsupported`
/// (the file is JSON, but not rows), anything else a parse error.
fn require_object(bytes: &[u8], place: Place) -> Result<(), ConnectorError> {
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    let what = match first {
        Some(b'{') => return Ok(()),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    parse_whole(bytes).map_err(|error| json_error(&error, place))?;
    Err(ConnectorError::unsupported(format!(
        "{}: the record is {what}, but records must be JSON objects (an array of objects, or one object per line)",
        place.describe()
    )))
}

/// serde_json's message, placed in the file: its line is relative to the
/// record, so it is added to the record's first line.
fn json_error(error: &serde_json::Error, place: Place) -> ConnectorError {
    let message = error.to_string();
    // serde_json appends " at line L column C"; the place is given up front instead.
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => &message,
    };
    let (line, column) = (error.line() as u64, error.column() as u64);
    // On the record's first line, serde_json's column counts from the record's start.
    let column = if line <= 1 { place.column + column.saturating_sub(1) } else { column };
    let at = Place { line: place.line + line.saturating_sub(1), ..place }.describe();
    // A pretty-printed object read as NDJSON ends mid-record on its first line.
    let hint = if error.is_eof() && place.layout == Layout::Ndjson {
        " (NDJSON holds one whole record per line; a pretty-printed file must be one array of objects)"
    } else {
        ""
    };
    ConnectorError::protocol(format!("{at}, column {column}: invalid JSON: {message}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;

    const LINE_4: Place = Place { record: 2, line: 4, column: 1, layout: Layout::Ndjson };

    #[test]
    fn non_objects_are_unsupported_and_garbage_is_a_protocol_error() {
        for (bytes, what) in [("42", "a number"), (" [1,2]", "an array"), ("\"s\"", "a string"), ("null", "null")] {
            let error = validate(bytes.as_bytes(), LINE_4).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Unsupported, "{bytes}");
            assert!(error.message.starts_with(&format!("line 4: the record is {what},")), "{}", error.message);
        }
        for bytes in ["nope", "{\"a\":", "[1,"] {
            assert_eq!(validate(bytes.as_bytes(), LINE_4).unwrap_err().kind, ErrorKind::Protocol, "{bytes}");
        }
    }

    #[test]
    fn parse_errors_name_the_line_in_the_file() {
        let place = Place { record: 3, line: 10, column: 40, layout: Layout::Array };
        let error = validate(b"{\n\"a\": 1,\n\"b\": ]\n}", place).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(
            error.message.starts_with("line 12 (element 3), column 6: invalid JSON: expected value"),
            "{}",
            error.message
        );
        let mut shape = Shape::new(5);
        let error = observe(&mut shape, br#"{"a":1,}"#, LINE_4).unwrap_err();
        assert!(error.message.starts_with("line 4, column 8: invalid JSON: trailing comma"), "{}", error.message);
        assert!(validate(br#"{"a":[1,{"b":null}]}"#, LINE_4).is_ok());
        // On the element's first line the column counts from the line's start.
        let error = validate(br#"{"a" 1}"#, place).unwrap_err();
        assert!(
            error.message.starts_with("line 10 (element 3), column 45: invalid JSON: expected `:`"),
            "{}",
            error.message
        );
    }
}
