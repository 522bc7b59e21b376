//! The preview: the columns typed as `discover` types them (a pass over the
//! sample, the same shape), then the first `limit` records, read as the host
//! pulls batches. Each column's value is found by its keys from the record:
//! scalars in the column's type, arrays and objects kept whole as JSON text,
//! an object that was flattened into other columns NULL here.

use std::fs::File;

use inlet_infer::parse::text_value;
use inlet_infer::preview::{check_object, misfit, result_column_of, select};
use inlet_sdk::file::{FileConnection, FileSource, SCHEMA};
use inlet_sdk::prelude::*;
use inlet_sdk::rows::MAX_BATCH_BYTES;
use inlet_sdk::{Batch, Rows};
use serde_json::{Map, Value as Json};

use crate::config::Config;
use crate::records::{Place, Records};
use crate::scan::{self, Extent};
use crate::{columns, record, source};

pub type Preview = Box<dyn Rows<FileConnection<Config>>>;

pub fn preview(config: &Config, request: &PreviewRequest) -> Result<Preview, ConnectorError> {
    let name = config.table_name();
    check_object(request, SCHEMA, &name)?;
    let (file, _) = source::open(config)?;
    let scan = scan::scan(config, file, Extent::Sample)?;
    let described = columns::columns_with_paths(&scan.shape);
    let all: Vec<Column> = described.iter().map(|(column, _)| column.clone()).collect();
    let picked = select(&all, &request.columns, &name)?;
    let result: Vec<ResultColumn> = picked.iter().map(|&i| result_column_of(&all[i])).collect();
    if request.limit == 0 {
        return Ok(Box::new(BufferedRows::new(result, Vec::new())));
    }
    let (file, _) = source::open(config)?;
    let records = Records::new(source::detect(config, file)?, config.file_name());
    let picked = picked
        .into_iter()
        .map(|i| {
            let (column, path) = &described[i];
            Picked {
                name: column.name.clone(),
                data_type: column.data_type.clone(),
                whole_objects: column.native_type == "object",
                path: path.clone(),
            }
        })
        .collect();
    Ok(Box::new(JsonRows {
        builder: BatchBuilder::new(&result),
        columns: result,
        picked,
        records: Some(records),
        buf: Vec::new(),
        remaining: u64::from(request.limit),
        max_depth: config.max_depth,
        sampled: scan.sampled,
    }))
}

/// A column of the result: the keys to its value, and its type.
struct Picked {
    name: String,
    data_type: String,
    /// A JSON column of objects alone (empty ones, or deeper than
    /// `max_depth`): an object is its value, never flattened elsewhere.
    whole_objects: bool,
    path: Vec<Box<str>>,
}

struct JsonRows {
    columns: Vec<ResultColumn>,
    picked: Vec<Picked>,
    /// `None` once the input or the limit is reached.
    records: Option<Records<File>>,
    buf: Vec<u8>,
    remaining: u64,
    builder: BatchBuilder,
    /// Objects above this depth were flattened into other columns.
    max_depth: u32,
    /// Records the types were inferred from, for messages.
    sampled: u64,
}

impl JsonRows {
    fn next_row(&mut self) -> Result<Option<Vec<Value>>, ConnectorError> {
        let Some(records) = self.records.as_mut() else { return Ok(None) };
        let Some(place) = records.next(&mut self.buf)? else {
            self.records = None;
            return Ok(None);
        };
        // Checked as the scan checks a record: an object, valid JSON.
        record::validate(&self.buf, place)?;
        let object: Map<String, Json> = serde_json::from_slice(&self.buf)
            .map_err(|error| ConnectorError::protocol(format!("{}: invalid JSON: {error}", place.describe())))?;
        let row = self
            .picked
            .iter()
            .map(|column| cell(column, &object, self.max_depth, self.sampled, place))
            .collect::<Result<Vec<_>, _>>()?;
        self.remaining -= 1;
        if self.remaining == 0 {
            self.records = None;
        }
        Ok(Some(row))
    }
}

/// The value of `column` in one record.
fn cell(
    column: &Picked,
    record: &Map<String, Json>,
    max_depth: u32,
    sampled: u64,
    place: Place,
) -> Result<Value, ConnectorError> {
    let Some((last, parents)) = column.path.split_last() else { return Ok(Value::Null) };
    let mut object = record;
    for key in parents {
        match object.get(&**key) {
            Some(Json::Object(inner)) => object = inner,
            // The parent is missing, null or a scalar here: no value below it.
            _ => return Ok(Value::Null),
        }
    }
    let value = match object.get(&**last) {
        None | Some(Json::Null) => return Ok(Value::Null),
        Some(value) => value,
    };
    let kept_whole = matches!(column.data_type.as_str(), data_type::JSON | data_type::ARRAY);
    if let Json::Object(_) = value
        && !column.whole_objects
        && (column.path.len() as u64) < u64::from(max_depth)
    {
        // Flattened into `name.…` columns.
        return Ok(Value::Null);
    }
    let converted = match (column.data_type.as_str(), value) {
        (data_type::JSON, _) | (data_type::ARRAY, Json::Array(_)) => Some(Value::Json(value.to_string())),
        _ if kept_whole => None,
        (_, Json::Array(_) | Json::Object(_)) => None,
        (data_type::STRING, Json::String(text)) => Some(Value::Text(text.clone())),
        // A column of mixed scalars widened to string: their JSON text.
        (data_type::STRING, scalar) => Some(Value::Text(scalar.to_string())),
        (data_type::BOOLEAN, Json::Bool(flag)) => Some(Value::Bool(*flag)),
        (data_type::INT64, Json::Number(number)) => number.as_i64().map(Value::Int64),
        // Decimals are integers beyond i64.
        (data_type::DECIMAL, Json::Number(number)) if number.is_u64() || number.is_i64() => {
            Some(Value::Decimal(number.to_string()))
        }
        (data_type::FLOAT64, Json::Number(number)) => number.as_f64().map(Value::Float64),
        (data_type::DATE | data_type::TIMESTAMP | data_type::TIMESTAMP_TZ, Json::String(text)) => {
            text_value(&column.data_type, text, None)
        }
        _ => None,
    };
    converted.ok_or_else(|| {
        let shown = match value {
            Json::String(text) => text.clone(),
            other => other.to_string(),
        };
        ConnectorError::protocol(format!(
            "{}: {}",
            place.describe(),
            misfit(&column.name, &shown, &column.data_type, sampled)
        ))
    })
}

impl Rows<FileConnection<Config>> for JsonRows {
    fn columns(&self) -> Vec<ResultColumn> {
        self.columns.clone()
    }

    fn next(&mut self, _: &mut FileConnection<Config>, max_rows: u32) -> Result<Option<Batch>, ConnectorError> {
        while self.builder.len() < max_rows.max(1) && self.builder.byte_size() < MAX_BATCH_BYTES {
            let Some(row) = self.next_row()? else { break };
            self.builder.push_row(row)?;
        }
        Ok((!self.builder.is_empty()).then(|| self.builder.finish()))
    }
}

#[cfg(test)]
mod tests {
    use inlet_sdk::testing::{drain, texts, write_file};
    use inlet_sdk::{TimeUnit, Values};

    use super::*;
    use crate::Json as JsonSource;

    fn connect(config: serde_json::Value) -> FileConnection<Config> {
        let request = inlet_sdk::testing::connect_request("json", &config);
        <JsonSource as inlet_sdk::Connector>::connect(&request, &mut Steps::new()).ok().unwrap()
    }

    fn request(object: &str, columns: &[&str], limit: u32) -> PreviewRequest {
        PreviewRequest {
            schema: SCHEMA.to_owned(),
            object: object.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            limit,
        }
    }

    fn run(
        connection: &mut FileConnection<Config>,
        request: &PreviewRequest,
        max_rows: u32,
    ) -> Result<(Vec<ResultColumn>, Vec<Batch>), ConnectorError> {
        let rows = connection.preview(request)?;
        let columns = rows.columns();
        Ok((columns, drain(rows, connection, max_rows)?))
    }

    fn some(value: &str) -> Option<String> {
        Some(value.to_owned())
    }

    const RECORDS: [&str; 3] = [
        r#"{"id":1,"big":18446744073709551615,"x":1.5,"ok":true,"day":"2024-02-29","at":"2024-01-05T10:20:30","tz":"2024-01-05T10:20:30Z","user":{"name":"ada","geo":{"lat":1}},"tags":["a","b"],"v":"s","e":{}}"#,
        r#"{"id":-2,"big":3,"x":2,"ok":false,"day":null,"at":"2024-01-05","tz":"2024-01-05T12:20:30+02:00","user":{"name":""},"tags":[],"v":[1],"e":{}}"#,
        r#"{"id":3,"big":null,"x":-0.25,"user":null,"v":{"k":true}}"#,
    ];

    #[test]
    fn arrays_and_ndjson_preview_typed_as_discovered() {
        let dir = tempfile::tempdir().unwrap();
        let ndjson = RECORDS.join("\n");
        let array = format!("[\n{}\n]", RECORDS.join(",\n"));
        for (file, text) in [("r.ndjson", ndjson), ("r.json", array)] {
            let path = write_file(dir.path(), file, text.as_bytes());
            let mut connection = connect(serde_json::json!({ "file_path": path, "max_depth": 2 }));
            let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 10)).unwrap();
            let discovered: Vec<_> =
                page.schemas[0].tables[0].columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
            let (columns, batches) = run(&mut connection, &request("r", &[], 10), 100).unwrap();
            let previewed: Vec<_> = columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
            assert_eq!(previewed, discovered, "{file}");
            let names: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
            assert_eq!(
                names,
                [
                    ("id", "int64"),
                    ("big", "decimal"),
                    ("x", "float64"),
                    ("ok", "boolean"),
                    ("day", "date"),
                    ("at", "timestamp"),
                    ("tz", "timestamp-tz"),
                    ("user.name", "string"),
                    ("user.geo", "json"),
                    ("tags", "array"),
                    ("v", "json"),
                    ("v.k", "boolean"),
                    ("e", "json"),
                ],
                "{file}"
            );
            assert_eq!(columns[6].time_unit, Some(TimeUnit::Microsecond));
            assert_eq!(batches.len(), 1);
            let c = &batches[0].columns;
            assert!(matches!(&c[0].values, Values::Int64(v) if v == &[1, -2, 3]));
            assert_eq!(texts(&c[1]), [some("18446744073709551615"), some("3"), None]);
            assert!(matches!(&c[2].values, Values::Float64(v) if v == &[1.5, 2.0, -0.25]));
            assert!(matches!(&c[3].values, Values::Boolean(v) if v[..2] == [true, false]));
            assert_eq!(c[3].validity, [true, true, false], "a missing key is NULL");
            assert!(matches!(&c[4].values, Values::Date(v) if v[0] == 19_782));
            assert_eq!(c[4].validity, [true, false, false]);
            let day = 19_727_i64 * 86_400_000_000;
            let at = day + (10 * 3600 + 20 * 60 + 30) * 1_000_000;
            assert!(matches!(&c[5].values, Values::Timestamp(v) if v[..2] == [at, day]));
            assert!(matches!(&c[6].values, Values::Timestamp(v) if v[..2] == [at, at]));
            // An empty string is not NULL; a null parent is.
            assert_eq!(texts(&c[7]), [some("ada"), some(""), None]);
            // Deeper than max_depth: the object whole.
            assert_eq!(texts(&c[8]), [some(r#"{"lat":1}"#), None, None]);
            assert_eq!(texts(&c[9]), [some(r#"["a","b"]"#), some("[]"), None]);
            // Mixed: scalars and arrays as JSON; an object flattened (`v.k`) is NULL here.
            assert_eq!(texts(&c[10]), [some(r#""s""#), some("[1]"), None]);
            assert!(matches!(&c[11].values, Values::Boolean(v) if v[2]));
            assert_eq!(c[11].validity, [false, false, true]);
            assert_eq!(texts(&c[12]), [some("{}"), some("{}"), None]);
        }
    }

    #[test]
    fn columns_are_picked_in_order_and_unknown_names_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "p.ndjson", b"{\"a\":1,\"b\":{\"c\":\"x\"}}\n{\"a\":2}\n");
        let mut connection = connect(serde_json::json!({ "file_path": path, "table_name": "p" }));
        let (columns, batches) = run(&mut connection, &request("p", &["b.c", "a"], 10), 10).unwrap();
        let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b.c", "a"]);
        assert_eq!(texts(&batches[0].columns[0]), [some("x"), None]);
        assert!(matches!(&batches[0].columns[1].values, Values::Int64(v) if v == &[1, 2]));
        for (schema, object, columns) in [("default", "q", &[][..]), ("x", "p", &[][..]), ("default", "p", &["b"][..])]
        {
            let mut bad = request(object, columns, 10);
            bad.schema = schema.to_owned();
            let error = connection.preview(&bad).err().unwrap();
            assert_eq!(error.kind, ErrorKind::NotFound, "{schema}.{object} {columns:?}");
        }
    }

    #[test]
    fn the_limit_stops_reading_early() {
        let dir = tempfile::tempdir().unwrap();
        let mut text: String = (0..100_000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        // Broken far past the rows asked for: never read.
        text.push_str("{\"i\":\n");
        let path = write_file(dir.path(), "big.ndjson", text.as_bytes());
        let mut connection = connect(serde_json::json!({ "file_path": path }));
        let (_, batches) = run(&mut connection, &request("big", &[], 5), 2).unwrap();
        let sizes: Vec<_> = batches.iter().map(|b| b.row_count).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(matches!(&batches[2].columns[0].values, Values::Int64(v) if v == &[4]));
        let (columns, none) = run(&mut connection, &request("big", &[], 0), 2).unwrap();
        assert_eq!((columns.len(), none.len()), (1, 0));
        assert!(connection.discover(&inlet_sdk::testing::discover_request(None, &[], 10)).is_err());
    }

    #[test]
    fn a_value_past_the_sample_that_does_not_fit_is_an_error_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "s.json", b"[{\"n\":1},\n{\"n\":\"2\"}]");
        let mut connection = connect(serde_json::json!({ "file_path": path, "sample_rows": 1 }));
        let (_, one) = run(&mut connection, &request("s", &[], 1), 10).unwrap();
        assert_eq!(one[0].row_count, 1);
        let error = run(&mut connection, &request("s", &[], 2), 10).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.starts_with("line 2 (element 2): column `n`: \"2\" is not a int64"), "{}", error.message);
    }
}
