//! One pass over the file: its layout, the sample that types are inferred
//! from, and the exact record count. Records stream through one reused
//! buffer, so memory depends on the largest record, not the file.

use std::io::Read;

use inlet_sdk::ConnectorError;
use inlet_sdk::file::FileSource;

use crate::config::Config;
use crate::record;
use crate::records::Records;
use crate::shape::Shape;
use crate::source::{self, Layout};

/// How far a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// The first record only (`test`).
    First,
    /// `sample_rows` records observed, nothing more (`preview`'s types).
    Sample,
    /// `sample_rows` records observed, the rest checked and counted.
    Count,
}

/// What one pass found.
#[derive(Debug)]
pub struct Scan {
    pub layout: Layout,
    pub shape: Shape,
    /// Records that fed the inference.
    pub sampled: u64,
    /// All records, when the pass counted them.
    pub rows: Option<u64>,
}

pub fn scan<R: Read>(config: &Config, input: R, extent: Extent) -> Result<Scan, ConnectorError> {
    let source = source::detect(config, input)?;
    let layout = source.layout;
    let mut records = Records::new(source, config.file_name());
    let mut shape = Shape::new(config.max_depth);
    let mut buf = Vec::new();
    let limit = match extent {
        Extent::First => 1,
        Extent::Sample | Extent::Count => config.sample_rows,
    };
    let mut sampled = 0;
    while sampled < limit {
        let Some(place) = records.next(&mut buf)? else { break };
        record::observe(&mut shape, &buf, place)?;
        sampled += 1;
    }
    let rows = match extent {
        Extent::First | Extent::Sample => None,
        Extent::Count => {
            let mut rows = sampled;
            while let Some(place) = records.next(&mut buf)? {
                record::validate(&buf, place)?;
                rows += 1;
            }
            Some(rows)
        }
    };
    Ok(Scan { layout, shape, sampled, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;
    use inlet_sdk::config::ConnectorConfig;

    fn config(extra: &str) -> Config {
        Config::from_json(&format!(r#"{{"file_path":"/data/t.json"{extra}}}"#)).unwrap()
    }

    fn count(extra: &str, text: &str) -> Result<Scan, ConnectorError> {
        scan(&config(extra), text.as_bytes(), Extent::Count)
    }

    #[test]
    fn arrays_and_ndjson_give_the_same_shape_and_count() {
        let array = count("", "[\n {\"a\": 1, \"b\": {\"c\": \"x\"}},\n {\"a\": 2.5}\n]\n").unwrap();
        let ndjson = count("", "{\"a\": 1, \"b\": {\"c\": \"x\"}}\r\n\n{\"a\": 2.5}\n").unwrap();
        assert_eq!((array.layout, ndjson.layout), (Layout::Array, Layout::Ndjson));
        for scan in [&array, &ndjson] {
            assert_eq!((scan.sampled, scan.rows), (2, Some(2)));
            let columns = crate::columns::columns(&scan.shape);
            let names: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.nullable)).collect();
            assert_eq!(names, [("a", "float64", false), ("b.c", "string", true)]);
        }
    }

    #[test]
    fn the_count_is_exact_past_the_sample_and_later_records_are_checked() {
        let text: String = (0..50).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        let scan = count(r#","sample_rows":3"#, &text).unwrap();
        assert_eq!((scan.sampled, scan.rows, scan.shape.records), (3, Some(50), 3));
        let bad = format!("{text}{{\"i\":\n");
        let error = count(r#","sample_rows":3"#, &bad).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.starts_with("line 51, column 5: invalid JSON"), "{}", error.message);
        let first = scan_first("[{\"i\":1},{\"i\":");
        assert_eq!((first.sampled, first.rows), (1, None));
    }

    fn scan_first(text: &str) -> Scan {
        scan(&config(""), text.as_bytes(), Extent::First).unwrap()
    }

    #[test]
    fn bad_files_fail_with_the_right_kind() {
        let cases = [
            ("", ErrorKind::Protocol, "t.json is empty"),
            ("hello", ErrorKind::Protocol, "line 1, column 1: invalid JSON"),
            ("42", ErrorKind::Unsupported, "line 1: the record is a number"),
            ("\"text\"", ErrorKind::Unsupported, "line 1: the record is a string"),
            ("[1, 2]", ErrorKind::Unsupported, "line 1 (element 1): the record is a number"),
            (
                "[{\"a\":1}, {\"b\":}]",
                ErrorKind::Protocol,
                "line 1 (element 2), column 16: invalid JSON: expected value",
            ),
            ("{\"a\":1}\n{\"a\":2\n{\"a\":3}\n", ErrorKind::Protocol, "line 2, column 6: invalid JSON: EOF"),
            ("[{\"a\":1},\n{\"a\":2}", ErrorKind::Protocol, "line 2: the file ends before the array is closed"),
            ("[{\"a\":1}]\n[{\"a\":2}]", ErrorKind::Protocol, "line 2: unexpected `[` after the array"),
            ("{\n  \"a\": 1\n}\n", ErrorKind::Protocol, "line 1, column 1: invalid JSON: EOF"),
        ];
        for (text, kind, start) in cases {
            let error = count("", text).unwrap_err();
            assert_eq!(error.kind, kind, "{text:?}: {}", error.message);
            assert!(error.message.starts_with(start), "{text:?}: {}", error.message);
        }
    }

    #[test]
    fn a_runaway_record_is_stopped_with_its_place() {
        let blob = "x".repeat(crate::records::MAX_RECORD_BYTES);
        let error = count("", &format!("{{\"a\":1}}\n{{\"b\":\"{blob}\"}}\n")).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert_eq!(error.message, "line 2: a line is longer than 8 MiB (is this a JSON file?)");
        let error = count("", &format!("[{{\"a\":1}},\n \"{blob}\"]")).unwrap_err();
        assert_eq!(error.message, "line 2 (element 2): an array element is longer than 8 MiB (is this a JSON file?)");
    }

    #[test]
    fn an_empty_array_has_no_rows() {
        let scan = count("", " [ ] ").unwrap();
        assert_eq!((scan.sampled, scan.rows), (0, Some(0)));
        assert!(scan.shape.root.entries.is_empty());
    }
}
