//! The preview: the columns typed as `discover` types them (a pass over the
//! sample, the same inference), then the first `limit` records, read as the
//! host pulls batches, each field parsed in its column's type. Nothing past
//! the last record asked for is read.

use std::io::Read;

use inlet_infer::parse::text_value;
use inlet_infer::preview::{check_object, misfit, result_column_of, select};
use inlet_sdk::file::{FileConnection, FileSource, SCHEMA};
use inlet_sdk::prelude::*;
use inlet_sdk::rows::MAX_BATCH_BYTES;
use inlet_sdk::{Batch, Rows};

use crate::config::Config;
use crate::scan::{self, DataRecords, Extent};

pub type Preview = Box<dyn Rows<FileConnection<Config>>>;

pub fn preview(config: &Config, request: &PreviewRequest) -> Result<Preview, ConnectorError> {
    let name = config.table_name();
    check_object(request, SCHEMA, &name)?;
    let scan = scan::scan(config, || crate::open_file(config), Extent::Sample)?;
    let columns: Vec<Column> =
        scan.columns.iter().zip(&scan.stats).map(|(header, stats)| crate::column(0, header, &stats.infer())).collect();
    let picked = select(&columns, &request.columns, &name)?;
    let result: Vec<ResultColumn> = picked.iter().map(|&i| result_column_of(&columns[i])).collect();
    if request.limit == 0 {
        return Ok(Box::new(BufferedRows::new(result, Vec::new())));
    }
    let records = DataRecords::open(config, crate::open_file)?;
    let picked = picked
        .into_iter()
        .map(|i| Picked {
            field: i,
            name: columns[i].name.clone(),
            data_type: columns[i].data_type.clone(),
            scale: columns[i].scale,
        })
        .collect();
    Ok(Box::new(CsvRows {
        builder: BatchBuilder::new(&result),
        columns: result,
        picked,
        records: Some(records),
        remaining: u64::from(request.limit),
        sampled: scan.sampled,
    }))
}

/// A column of the result: which field of the record, and its type.
struct Picked {
    field: usize,
    name: String,
    data_type: String,
    scale: Option<u32>,
}

struct CsvRows<R> {
    columns: Vec<ResultColumn>,
    picked: Vec<Picked>,
    /// `None` once the input or the limit is reached.
    records: Option<DataRecords<R>>,
    remaining: u64,
    builder: BatchBuilder,
    /// Records the types were inferred from, for messages.
    sampled: u64,
}

impl<R: Read + 'static> CsvRows<R> {
    /// The next record as a row, `None` at the end.
    fn next_row(&mut self) -> Result<Option<Vec<Value>>, ConnectorError> {
        let Some(records) = self.records.as_mut() else { return Ok(None) };
        let Some(fields) = records.next()? else {
            self.records = None;
            return Ok(None);
        };
        let mut row = Vec::with_capacity(self.picked.len());
        for column in &self.picked {
            // The parser refuses records of another width; a missing field
            // would be a null, as in the scan.
            let value = match fields.get(column.field).copied().flatten() {
                None => Value::Null,
                Some(text) => match text_value(&column.data_type, text, column.scale) {
                    Some(value) => value,
                    None => {
                        let message = misfit(&column.name, text, &column.data_type, self.sampled);
                        return Err(records.record_error(message));
                    }
                },
            };
            row.push(value);
        }
        self.remaining -= 1;
        if self.remaining == 0 {
            self.records = None;
        }
        Ok(Some(row))
    }
}

impl<R: Read + 'static> Rows<FileConnection<Config>> for CsvRows<R> {
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
    use std::io::Write;

    use inlet_sdk::testing::{drain, texts, write_file};
    use inlet_sdk::{TimeUnit, Values};

    use super::*;
    use crate::Csv;

    fn connect(config: serde_json::Value) -> FileConnection<Config> {
        let request = inlet_sdk::testing::connect_request("csv", &config);
        Csv::connect(&request, &mut Steps::new()).ok().unwrap()
    }

    fn request(object: &str, columns: &[&str], limit: u32) -> PreviewRequest {
        PreviewRequest {
            schema: SCHEMA.to_owned(),
            object: object.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            limit,
        }
    }

    fn batches(
        connection: &mut FileConnection<Config>,
        request: &PreviewRequest,
        max_rows: u32,
    ) -> Result<(Vec<ResultColumn>, Vec<Batch>), ConnectorError> {
        let rows = connection.preview(request)?;
        let columns = rows.columns();
        Ok((columns, drain(rows, connection, max_rows)?))
    }

    fn one_batch(connection: &mut FileConnection<Config>, request: &PreviewRequest) -> (Vec<ResultColumn>, Batch) {
        let (columns, mut batches) = batches(connection, request, 1000).unwrap();
        assert_eq!(batches.len(), 1, "{batches:?}");
        (columns, batches.remove(0))
    }

    #[test]
    fn values_come_typed_as_discover_types_them() {
        let dir = tempfile::tempdir().unwrap();
        let text = "id,price,ratio,ok,day,at,at_tz,name\n\
                    1,9.99,1e3,yes,2024-02-29,2024-01-05 10:20:30.5,2024-01-05T10:20:30+02:00,ada\n\
                    -2,NULL,NaN,F,1969-12-31,2024-01-05,2024-01-05T08:20:30Z,\n\
                    +3,12.5,-inf,true,NULL,2024-01-06T00:00:01,NULL,NULL\n";
        let path = write_file(dir.path(), "t.csv", text.as_bytes());
        // Only `NULL` is null: an empty field is an empty string.
        let mut connection = connect(serde_json::json!({ "file_path": path, "null_values": ["NULL"] }));
        let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 10)).unwrap();
        let discovered: Vec<_> =
            page.schemas[0].tables[0].columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
        let (columns, batch) = one_batch(&mut connection, &request("t", &[], 10));
        let previewed: Vec<_> = columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
        assert_eq!(previewed, discovered);
        let types: Vec<_> = columns.iter().map(|c| c.data_type.as_str()).collect();
        assert_eq!(types, ["int64", "decimal", "float64", "boolean", "date", "timestamp", "timestamp-tz", "string"]);
        assert_eq!((columns[1].precision, columns[1].scale), (Some(4), Some(2)));
        assert_eq!(columns[5].time_unit, Some(TimeUnit::Microsecond));
        assert_eq!(batch.row_count, 3);
        let c = &batch.columns;
        assert!(matches!(&c[0].values, Values::Int64(v) if v == &[1, -2, 3]));
        assert_eq!(texts(&c[1]), [Some("9.99".to_owned()), None, Some("12.50".to_owned())]);
        match &c[2].values {
            Values::Float64(v) => {
                assert_eq!(v[0], 1000.0);
                assert!(v[1].is_nan());
                assert_eq!(v[2], f64::NEG_INFINITY);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&c[3].values, Values::Boolean(v) if v == &[true, false, true]));
        assert!(matches!(&c[4].values, Values::Date(v) if v[..2] == [19_782, -1]));
        assert_eq!(c[4].validity, [true, true, false]);
        let day = 19_727_i64 * 86_400_000_000;
        let at = day + (10 * 3600 + 20 * 60 + 30) * 1_000_000;
        assert!(
            matches!(&c[5].values, Values::Timestamp(v) if v == &[at + 500_000, day, day + 86_400_000_000 + 1_000_000])
        );
        assert!(matches!(&c[6].values, Values::Timestamp(v) if v[..2] == [at - 7_200_000_000, at - 7_200_000_000]));
        assert_eq!(c[6].validity, [true, true, false]);
        assert_eq!(texts(&c[7]), [Some("ada".to_owned()), Some(String::new()), None]);
    }

    #[test]
    fn columns_are_picked_in_order_and_unknown_names_are_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "p.csv", b"a,b,c\n1,x,2\n3,y,4\n");
        let mut connection = connect(serde_json::json!({ "file_path": path }));
        let (columns, batch) = one_batch(&mut connection, &request("p", &["c", "a"], 10));
        let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["c", "a"]);
        assert!(matches!(&batch.columns[0].values, Values::Int64(v) if v == &[2, 4]));
        assert!(matches!(&batch.columns[1].values, Values::Int64(v) if v == &[1, 3]));
        for (schema, object, columns) in
            [("default", "q", &[][..]), ("public", "p", &[][..]), ("default", "p", &["z"][..])]
        {
            let mut bad = request(object, columns, 10);
            bad.schema = schema.to_owned();
            let error = connection.preview(&bad).err().unwrap();
            assert_eq!(error.kind, ErrorKind::NotFound, "{schema}.{object} {columns:?}");
        }
    }

    #[test]
    fn the_limit_is_respected_and_zero_gives_the_columns_only() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = std::iter::once("n\n".to_owned()).chain((0..10).map(|i| format!("{i}\n"))).collect();
        let path = write_file(dir.path(), "n.csv", text.as_bytes());
        let mut connection = connect(serde_json::json!({ "file_path": path }));
        let (_, seven) = batches(&mut connection, &request("n", &[], 7), 3).unwrap();
        let sizes: Vec<_> = seven.iter().map(|b| b.row_count).collect();
        assert_eq!(sizes, [3, 3, 1]);
        assert!(matches!(&seven[2].columns[0].values, Values::Int64(v) if v == &[6]));
        let (columns, none) = batches(&mut connection, &request("n", &[], 0), 3).unwrap();
        assert_eq!((columns.len(), none.len()), (1, 0));
        let (_, all) = batches(&mut connection, &request("n", &[], 100), 100).unwrap();
        assert_eq!(all.iter().map(|b| b.row_count).sum::<u32>(), 10);
    }

    #[test]
    fn reading_stops_at_the_limit_in_a_big_gzip_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"id,name\n").unwrap();
        for i in 0..200_000 {
            writeln!(encoder, "{i},name {i}").unwrap();
        }
        // A malformed record far past the rows asked for is never reached.
        encoder.write_all(b"oops\n").unwrap();
        let path = write_file(dir.path(), "big.csv.gz", &encoder.finish().unwrap());
        let mut connection = connect(serde_json::json!({ "file_path": path }));
        let (_, batch) = one_batch(&mut connection, &request("big", &["name"], 5));
        assert_eq!(texts(&batch.columns[0])[4].as_deref(), Some("name 4"));
        let error = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 10)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol, "the whole file is malformed for a count");
    }

    #[test]
    fn a_value_past_the_sample_that_does_not_fit_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "s.csv", b"n\n1\n2\n\nabc\n");
        let mut connection = connect(serde_json::json!({ "file_path": path, "sample_rows": 2 }));
        let (_, batch) = one_batch(&mut connection, &request("s", &[], 2));
        assert_eq!(batch.row_count, 2);
        let error = batches(&mut connection, &request("s", &[], 3), 10).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(
            error
                .message
                .starts_with("line 5: column `n`: \"abc\" is not a int64, the type inferred from the first 2 rows"),
            "{}",
            error.message
        );
    }

    #[test]
    fn delimiter_quote_encoding_and_no_header_are_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "l.csv", b"'caf\xE9; cr\xE8me';1\n'a''b';2\n");
        let mut connection = connect(serde_json::json!({
            "file_path": path, "delimiter": ";", "quote": "'", "encoding": "latin1", "has_header": false
        }));
        let (columns, batch) = one_batch(&mut connection, &request("l", &[], 10));
        let names: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
        assert_eq!(names, [("column_1", "string"), ("column_2", "int64")]);
        assert_eq!(texts(&batch.columns[0]), [Some("café; crème".to_owned()), Some("a'b".to_owned())]);
        assert!(matches!(&batch.columns[1].values, Values::Int64(v) if v == &[1, 2]));
    }
}
