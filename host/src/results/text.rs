//! The text formats, a batch at a time: NDJSON (a header line with the
//! columns, then a JSON array per row) and CSV (RFC 4180, CRLF line ends).

use serde_json::{Value, json};

use super::cells::{cell_json, cell_text, column_json};
use crate::model::{Batch, ResultColumn};

/// Every row of `batch` as a JSON array.
pub fn json_rows(columns: &[ResultColumn], batch: &Batch) -> Vec<Value> {
    (0..batch.row_count as usize)
        .map(|row| {
            Value::Array(
                columns.iter().zip(&batch.columns).map(|(column, values)| cell_json(column, values, row)).collect(),
            )
        })
        .collect()
}

/// The first NDJSON line: `{"columns":[…]}`.
pub fn ndjson_header(columns: &[ResultColumn]) -> Vec<u8> {
    let mut line = json!({ "columns": columns.iter().map(column_json).collect::<Vec<_>>() }).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// One NDJSON line per row of `batch`.
pub fn ndjson_batch(columns: &[ResultColumn], batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    for row in json_rows(columns, batch) {
        // Writing a Value to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &row);
        out.push(b'\n');
    }
    out
}

/// The NDJSON line that ends a stream cut short by an error.
pub fn ndjson_error(kind: &str, message: &str) -> Vec<u8> {
    let mut line = json!({ "error": { "code": kind, "message": message } }).to_string().into_bytes();
    line.push(b'\n');
    line
}

/// The CSV header: the column names.
pub fn csv_header(columns: &[ResultColumn]) -> Vec<u8> {
    let mut out = Vec::new();
    write_record(&mut out, columns.iter().map(|column| Some(column.name.clone())));
    out
}

/// One CSV record per row of `batch`; NULL is an empty field and an empty
/// string is `""`.
pub fn csv_batch(columns: &[ResultColumn], batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    for row in 0..batch.row_count as usize {
        let fields = columns.iter().zip(&batch.columns).map(|(column, values)| cell_text(column, values, row));
        write_record(&mut out, fields);
    }
    out
}

fn write_record(out: &mut Vec<u8>, fields: impl Iterator<Item = Option<String>>) {
    for (index, field) in fields.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        match field {
            None => {}
            Some(text) if text.is_empty() => out.extend_from_slice(b"\"\""),
            Some(text) if text.contains([',', '"', '\r', '\n']) || text.starts_with(' ') || text.ends_with(' ') => {
                out.push(b'"');
                out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
                out.push(b'"');
            }
            Some(text) => out.extend_from_slice(text.as_bytes()),
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ColumnValues, TextVector, Values};

    fn column(name: &str, data_type: &str) -> ResultColumn {
        ResultColumn::plain(name, data_type)
    }

    #[test]
    fn csv_tells_null_from_empty_and_quotes_what_needs_it() {
        let columns = [column("id", "int32"), column("note, with comma", "string")];
        let notes = TextVector { offsets: vec![0, 0, 0, 9], data: "say \"hi\"".to_owned() + "\n" };
        let batch = Batch {
            row_count: 3,
            columns: vec![
                ColumnValues { values: Values::Int32(vec![1, 2, 3]), validity: vec![] },
                ColumnValues { values: Values::Utf8(notes), validity: vec![true, false, true] },
            ],
        };
        let mut out = csv_header(&columns);
        out.extend(csv_batch(&columns, &batch));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,\"note, with comma\"\r\n1,\"\"\r\n2,\r\n3,\"say \"\"hi\"\"\n\"\r\n"
        );
    }

    #[test]
    fn ndjson_is_a_header_then_a_line_per_row() {
        let columns = [column("n", "int64")];
        let batch =
            Batch { row_count: 2, columns: vec![ColumnValues { values: Values::Int64(vec![7, 8]), validity: vec![] }] };
        let mut out = ndjson_header(&columns);
        out.extend(ndjson_batch(&columns, &batch));
        let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("{\"columns\":[{"));
        assert_eq!(&lines[1..], ["[7]", "[8]"]);
    }
}
