//! Columns from the first bytes of a CSV or JSON file (a ranged GET of
//! `sample_bytes`), typed by the shared `inlet-infer`: gzip is inflated as
//! far as the bytes go, a last line cut by the range is dropped.

use std::collections::HashMap;
use std::io::Read;

use inlet_infer::json::{JsonTypes, add_note, describe_values, json_column, observe_number};
use inlet_infer::{ColumnStats, names};
use inlet_sdk::prelude::*;
use serde_json::Value;

/// Inflated bytes kept from a gzipped sample, at most.
pub const MAX_INFLATED: usize = 64 << 20;
/// Nested objects deeper than this are kept as JSON.
pub const MAX_DEPTH: u32 = 5;
/// Distinct column paths kept, at most.
pub const MAX_COLUMNS: usize = 10_000;

/// What a sample gave.
#[derive(Debug, Clone)]
pub struct Sampled {
    pub columns: Vec<Column>,
    /// Complete rows (records) read.
    pub rows: u64,
    /// Bytes (inflated) those rows took, header included.
    pub bytes: u64,
    /// Whether the sample held the whole file.
    pub whole: bool,
}

/// Inflates as much of a gzip stream as `compressed` holds (the range may
/// cut it): the bytes so far, and whether the stream ended inside them.
pub fn gunzip(compressed: &[u8], max: usize) -> Result<(Vec<u8>, bool), ConnectorError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut out = Vec::new();
    let mut buffer = [0u8; 16 << 10];
    loop {
        match decoder.read(&mut buffer) {
            Ok(0) => return Ok((out, true)),
            Ok(n) => {
                let room = max.saturating_sub(out.len());
                out.extend_from_slice(&buffer[..n.min(room)]);
                if n > room {
                    return Ok((out, false));
                }
            }
            // The range ended inside the stream: keep what was inflated.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok((out, false));
            }
            Err(error) => {
                return Err(ConnectorError::protocol(format!("the gzip stream does not inflate: {error}")));
            }
        }
    }
}

/// The bytes up to the last line break when the sample is cut (`whole` false).
pub fn complete_lines(bytes: &[u8], whole: bool) -> &[u8] {
    if whole {
        return bytes;
    }
    match bytes.iter().rposition(|&b| b == b'\n') {
        Some(at) => &bytes[..=at],
        None => &[],
    }
}

/// The delimiter of a `.csv`: whichever of `,` `;` `\t` `|` the first line
/// holds most of (outside quotes), `,` when none.
pub fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &byte in line {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = candidates.iter().position(|&c| c == byte) {
            counts[i] += 1;
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    if counts[best] == 0 { b',' } else { candidates[best] }
}

/// CSV with a header row: names made unique, cells typed (an empty cell is null).
pub fn csv(bytes: &[u8], whole: bool, delimiter: Option<u8>) -> Result<Sampled, ConnectorError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = complete_lines(bytes, whole);
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(text));
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text);
    let mut header = csv::ByteRecord::new();
    match reader.read_byte_record(&mut header) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ConnectorError::protocol("the sample holds no complete line (is sample_bytes too small?)"));
        }
        Err(error) => return Err(ConnectorError::protocol(format!("the header row does not parse: {error}"))),
    }
    if header.len() > MAX_COLUMNS {
        return Err(ConnectorError::unsupported(format!("the header has more than {MAX_COLUMNS} columns")));
    }
    let header_text: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_owned()).collect();
    let named = names::unique_names(&header_text.iter().map(String::as_str).collect::<Vec<_>>());
    let mut stats = vec![ColumnStats::default(); named.len()];
    let mut rows = 0u64;
    let mut consumed = reader.position().byte();
    let mut failed = false;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
        if record.len() == 1 && record.get(0).is_some_and(<[u8]>::is_empty) {
            continue; // a blank line
        }
        for (i, column) in stats.iter_mut().enumerate() {
            match record.get(i).map(String::from_utf8_lossy) {
                Some(value) if !value.is_empty() => column.observe_text(&value),
                _ => column.observe_null(),
            }
        }
        rows += 1;
        consumed = reader.position().byte();
    }
    if failed && whole {
        return Err(ConnectorError::protocol(format!("row {} does not parse as CSV", rows + 2)));
    }
    let columns = named
        .into_iter()
        .zip(&stats)
        .enumerate()
        .map(|(i, (named, stats))| {
            let inferred = stats.infer();
            ColumnBuilder::new(
                named.name,
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                inferred.data_type,
                inferred.native_type,
            )
            .nullable(inferred.nullable || rows == 0)
            .max_length(inferred.max_length)
            .precision_scale(inferred.precision, inferred.scale)
            .comment(named.comment)
            .build()
        })
        .collect();
    Ok(Sampled { columns, rows, bytes: consumed, whole: whole && !failed })
}

/// One key path's values.
#[derive(Default)]
struct PathStats {
    types: JsonTypes,
    scalars: ColumnStats,
    /// Element types of arrays: objects among them make the column JSON.
    element_objects: bool,
    elements: JsonTypes,
    present: u64,
    nulls: bool,
}

struct Paths {
    order: Vec<String>,
    stats: HashMap<String, PathStats>,
    capped: bool,
}

impl Paths {
    fn get(&mut self, path: &str) -> Option<&mut PathStats> {
        if !self.stats.contains_key(path) {
            if self.order.len() >= MAX_COLUMNS {
                self.capped = true;
                return None;
            }
            self.order.push(path.to_owned());
            self.stats.insert(path.to_owned(), PathStats::default());
        }
        self.stats.get_mut(path)
    }

    fn observe(&mut self, path: &str, value: &Value, depth: u32) {
        match value {
            Value::Object(map) if depth < MAX_DEPTH && !map.is_empty() => {
                for (key, child) in map {
                    let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    self.observe(&child_path, child, depth + 1);
                }
            }
            _ => {
                let Some(stats) = self.get(path) else { return };
                stats.present += 1;
                match value {
                    Value::Null => stats.nulls = true,
                    Value::Bool(b) => {
                        stats.types.insert(JsonTypes::BOOLEAN);
                        stats.scalars.observe_boolean(*b);
                    }
                    Value::Number(n) => {
                        stats.types.insert(JsonTypes::NUMBER);
                        observe_number(&mut stats.scalars, n);
                    }
                    Value::String(s) => {
                        stats.types.insert(JsonTypes::STRING);
                        stats.scalars.observe_string(s);
                    }
                    Value::Array(items) => {
                        stats.types.insert(JsonTypes::ARRAY);
                        for item in items {
                            match item {
                                Value::Object(_) | Value::Array(_) => stats.element_objects = true,
                                Value::Bool(_) => stats.elements.insert(JsonTypes::BOOLEAN),
                                Value::Number(_) => stats.elements.insert(JsonTypes::NUMBER),
                                Value::String(_) => stats.elements.insert(JsonTypes::STRING),
                                Value::Null => {}
                            }
                        }
                    }
                    Value::Object(_) => stats.types.insert(JsonTypes::OBJECT),
                }
            }
        }
    }
}

/// Top-level elements of a JSON array whose end the range may have cut:
/// each complete element's bytes, and whether the array closed. Elements
/// not separated by commas are an error (at that byte).
pub fn array_elements(bytes: &[u8]) -> Result<(Vec<&[u8]>, bool), usize> {
    let mut elements = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start = None;
    // After an element's end, only `,` or `]` may follow.
    let mut ended = false;
    for (i, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        let starts_element =
            depth == 1 && start.is_none() && !matches!(byte, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n');
        if starts_element {
            if ended {
                return Err(i);
            }
            start = Some(i);
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth <= 1 => {
                if let Some(s) = start.take() {
                    elements.push(&bytes[s..i]);
                }
                return Ok((elements, true));
            }
            b']' | b'}' => {
                depth -= 1;
                if depth == 1
                    && let Some(s) = start.take()
                {
                    elements.push(&bytes[s..=i]);
                    ended = true;
                }
            }
            b',' if depth == 1 => {
                match start.take() {
                    Some(s) => elements.push(&bytes[s..i]),
                    None if !ended => return Err(i),
                    None => {}
                }
                ended = false;
            }
            _ => {}
        }
    }
    Ok((elements, false))
}

/// NDJSON (a record a line) or a JSON array of records; objects flattened
/// to dotted columns up to [`MAX_DEPTH`]. Columns come in the order keys
/// were first seen, the keys of one object in name order (serde_json's map).
pub fn json(bytes: &[u8], whole: bool) -> Result<Sampled, ConnectorError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let mut paths = Paths { order: Vec::new(), stats: HashMap::new(), capped: false };
    let mut rows = 0u64;
    let mut consumed = 0u64;
    let mut complete = whole;
    let observe = |value: Value, paths: &mut Paths| match value {
        Value::Object(_) => paths.observe("", &value, 0),
        // A scalar record (or an array): one column named `value`.
        other => paths.observe("value", &other, 1),
    };
    let is_array = bytes.get(start) == Some(&b'[');
    if is_array {
        let (elements, closed) = array_elements(&bytes[start..])
            .map_err(|at| ConnectorError::protocol(format!("the JSON array is malformed at byte {}", start + at)))?;
        complete = whole && closed;
        for element in elements {
            let value: Value = match serde_json::from_slice(element) {
                Ok(value) => value,
                Err(error) => {
                    return Err(ConnectorError::protocol(format!(
                        "element {} of the array is not JSON: {error}",
                        rows + 1
                    )));
                }
            };
            observe(value, &mut paths);
            rows += 1;
            consumed = (element.as_ptr() as usize - bytes.as_ptr() as usize + element.len()) as u64;
        }
    } else {
        let text = complete_lines(bytes, whole);
        for (number, line) in text.split(|&b| b == b'\n').enumerate() {
            let trimmed = line.trim_ascii();
            if !trimmed.is_empty() {
                let value: Value = serde_json::from_slice(trimmed).map_err(|error| {
                    ConnectorError::protocol(format!("line {} is not JSON (not NDJSON?): {error}", number + 1))
                })?;
                observe(value, &mut paths);
                rows += 1;
            }
            consumed += line.len() as u64 + 1;
        }
        consumed = consumed.min(text.len() as u64);
    }
    if rows == 0 {
        return Err(ConnectorError::protocol("the sample holds no complete record (is sample_bytes too small?)"));
    }
    let mut columns = Vec::with_capacity(paths.order.len());
    for (i, path) in paths.order.iter().enumerate() {
        let Some(stats) = paths.stats.get(path) else { continue };
        let nullable = stats.nulls || stats.present < rows;
        let mut column = if stats.types == JsonTypes::ARRAY {
            if stats.element_objects {
                json_column(path, "array", nullable, "an array of objects or arrays, kept as JSON".to_owned())
            } else {
                let names = stats.elements.names();
                let elements = if names.is_empty() { "no values seen".to_owned() } else { names.join("|") };
                ColumnBuilder::new(path.clone(), 0, data_type::ARRAY, "array")
                    .nullable(nullable)
                    .comment(Some(format!("array of {elements}")))
                    .build()
            }
        } else if stats.types.is_empty() {
            let mut column = ColumnBuilder::new(path.clone(), 0, data_type::STRING, "null").nullable(true).build();
            add_note(&mut column, "only nulls in the sample");
            column
        } else {
            describe_values(path, stats.types, &stats.scalars, nullable, MAX_DEPTH)
        };
        column.ordinal = u32::try_from(i + 1).unwrap_or(u32::MAX);
        columns.push(column);
    }
    if paths.capped
        && let Some(last) = columns.last_mut()
    {
        add_note(last, &format!("more than {MAX_COLUMNS} key paths: the rest are left out"));
    }
    Ok(Sampled { columns, rows, bytes: consumed, whole: complete })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn types(sampled: &Sampled) -> Vec<(&str, &str, bool)> {
        sampled.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.nullable)).collect()
    }

    #[test]
    fn csv_samples_type_columns_and_drop_a_cut_line() {
        let data = b"id,name,amount,day,,name\n1,ann,1.50,2024-01-02,x,a\n2,\"bo, b\",2.25,2024-01-03,,b\n3,cut";
        let sampled = csv(data, false, None).unwrap();
        assert_eq!(
            types(&sampled),
            [
                ("id", "int64", false),
                ("name", "string", false),
                ("amount", "decimal", false),
                ("day", "date", false),
                ("column_5", "string", true),
                ("name_2", "string", false)
            ]
        );
        assert_eq!((sampled.rows, sampled.whole), (2, false));
        assert_eq!(sampled.bytes, (data.len() - 5) as u64);
        // A whole file keeps its last line; `;` is sniffed.
        let sampled = csv(b"a;b\n1;x\n2;y", true, None).unwrap();
        assert_eq!((sampled.rows, sampled.whole), (2, true));
        assert_eq!(types(&sampled)[0], ("a", "int64", false));
        assert_eq!(sniff_delimiter(b"\"a,b\";c;d\n"), b';');
        assert_eq!(sniff_delimiter(b"abc\n"), b',');
        assert_eq!(csv(b"a\tb\n1\t2\n", true, Some(b'\t')).unwrap().columns.len(), 2);
        assert_eq!(csv(b"no newline at all", false, None).unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(csv(b"", true, None).unwrap_err().kind, ErrorKind::Protocol);
    }

    #[test]
    fn json_samples_flatten_and_note_arrays() {
        let data = br#"{"id":1,"user":{"name":"a","tags":["x"]},"v":null,"items":[{"q":1}]}
{"id":2,"user":{"name":"b","tags":[]},"extra":true,"items":[]}
{"id":3,"user":{"na"#;
        let sampled = json(data, false).unwrap();
        assert_eq!(
            types(&sampled),
            // Keys in name order within an object (serde_json's map), new keys after.
            [
                ("id", "int64", false),
                ("items", "json", false),
                ("user.name", "string", false),
                ("user.tags", "array", false),
                ("v", "string", true),
                ("extra", "boolean", true)
            ]
        );
        assert_eq!(sampled.columns[3].comment.as_deref(), Some("array of string"));
        assert_eq!(sampled.rows, 2);
        // An array, cut by the range.
        let sampled = json(br#" [ {"a": 1, "b": "x,]}"}, {"a": 2.5}, {"a": "#, false).unwrap();
        assert_eq!(types(&sampled), [("a", "float64", false), ("b", "string", true)]);
        assert_eq!((sampled.rows, sampled.whole), (2, false));
        let sampled = json(br#"[{"a":[1,[2]]}]"#, true).unwrap();
        assert_eq!((types(&sampled)[0], sampled.whole), (("a", "json", false), true));
        assert_eq!(json(b"{not json}\n", true).unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(json(b"[{\"a\":1} {\"b\":2}]", true).unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(json(b"", true).unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(types(&json(b"1\n2\n", true).unwrap()), [("value", "int64", false)]);
    }

    #[test]
    fn gzip_is_inflated_as_far_as_the_range_goes() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..5000 {
            writeln!(encoder, "{i},row {i}").unwrap();
        }
        let compressed = encoder.finish().unwrap();
        let (all, ended) = gunzip(&compressed, MAX_INFLATED).unwrap();
        assert!(ended);
        assert!(all.starts_with(b"0,row 0\n"));
        let (part, ended) = gunzip(&compressed[..compressed.len() / 2], MAX_INFLATED).unwrap();
        assert!(!ended && !part.is_empty() && part.len() < all.len());
        let (capped, ended) = gunzip(&compressed, 100).unwrap();
        assert_eq!((capped.len(), ended), (100, false));
        assert_eq!(gunzip(b"not gzip at all", MAX_INFLATED).unwrap_err().kind, ErrorKind::Protocol);
    }

    #[test]
    fn mutated_samples_never_panic() {
        let seeds: [&[u8]; 3] = [
            b"a,b,c\n1,\"x\ny\",2\n3,4,5\n",
            br#"{"a":{"b":[1,{"c":2}]},"d":"e\"f"}"#,
            br#"[{"a":1},{"b":[2,3]},"x",[4]]"#,
        ];
        let mut state: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..15_000 {
            let mut input = seeds[round % 3].to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() % input.len() as u64) as usize;
                input[at] = b"\"\\[]{},\n:x1"[(next() % 11) as usize];
            }
            let whole = next() % 2 == 0;
            let _ = csv(&input, whole, None);
            let _ = json(&input, whole);
        }
    }
}
