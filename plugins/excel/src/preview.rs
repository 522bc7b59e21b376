//! The preview of one sheet: its columns as `discover` describes them (the
//! same pass over the sheet: where the header is and which columns there are
//! depend on every row), then its data rows again from the top, stopping at
//! `limit` (an xlsx sheet is not read past it). Cells come in their column's
//! type: numbers, booleans, dates and timestamps typed, error cells NULL (as
//! the column's comment says), empty cells NULL.

use inlet_infer::parse::{text_value, time_micros};
use inlet_infer::preview::{check_object, misfit, result_column_of, select};
use inlet_sdk::file::{FileConnection, SCHEMA};
use inlet_sdk::prelude::*;

use crate::config::Config;
use crate::sheet::{ColumnInfo, Row, Value as Cell, cell_ref};
use crate::workbook::{self, RowSink};

pub type Preview = Box<dyn Rows<FileConnection<Config>>>;

pub fn preview(config: &Config, request: &PreviewRequest) -> Result<Preview, ConnectorError> {
    let (mut book, format) = workbook::open_book(config)?;
    let sheets = crate::selected_sheets(config, &book)?;
    let found = sheets.iter().position(|sheet| sheet.name == request.object);
    check_object(request, SCHEMA, found.map_or("", |at| sheets[at].name.as_str()))?;
    let Some(position) = found else {
        return Err(ConnectorError::not_found(format!("no sheet `{}` in the workbook", request.object)));
    };
    let sheet = &sheets[position];
    let scan = crate::scan(config, &mut book, sheet)?;
    let table = crate::describe(sheet, position, sheets.len(), format, &scan);
    let picked = select(&table.columns, &request.columns, &sheet.name)?;
    let columns: Vec<ResultColumn> = picked.iter().map(|&i| result_column_of(&table.columns[i])).collect();
    let mut rows = SheetRows {
        header_row: scan.header_row,
        picked: picked.iter().map(|&i| &scan.columns[i]).collect(),
        limit: request.limit as usize,
        sampled: scan.sampled,
        rows: Vec::new(),
    };
    if rows.limit > 0 {
        book.rows(&sheet.name, &mut rows)?;
    }
    let rows = rows.rows;
    Ok(Box::new(BufferedRows::new(columns, rows)))
}

/// Collects the data rows below the header, converted, up to `limit`.
struct SheetRows<'a> {
    header_row: Option<u32>,
    picked: Vec<&'a ColumnInfo>,
    limit: usize,
    /// Rows the types were inferred from, for messages.
    sampled: u64,
    rows: Vec<Vec<Value>>,
}

impl RowSink for SheetRows<'_> {
    fn push(&mut self, row: Row) -> Result<bool, ConnectorError> {
        // The scan's data rows: non-empty, below the header.
        if row.cells.is_empty() || self.header_row.is_some_and(|header| row.index <= header) {
            return Ok(true);
        }
        let values = self
            .picked
            .iter()
            .map(|column| {
                // A repeated cell counts once, the first, as in the scan.
                let cell = row.cells.iter().find(|(c, _)| *c == column.sheet_column).map(|(_, cell)| cell);
                value(cell, column).ok_or_else(|| {
                    let shown = cell.map(cell_text).unwrap_or_default();
                    // The reader puts the sheet's name in front.
                    ConnectorError::protocol(format!(
                        "cell {}: {}",
                        cell_ref((row.index, column.sheet_column)),
                        misfit(&column.name, &shown, column.data_type, self.sampled)
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.rows.push(values);
        Ok(self.rows.len() < self.limit)
    }
}

/// A cell in its column's type; `None` when it does not fit (a cell past
/// the sample unlike those in it).
fn value(cell: Option<&Cell>, column: &ColumnInfo) -> Option<Value> {
    let Some(cell) = cell else { return Some(Value::Null) };
    Some(match (column.data_type, cell) {
        (_, Cell::Error(_)) => Value::Null,
        (data_type::INT64, Cell::Int(n)) => Value::Int64(*n),
        (data_type::DECIMAL, Cell::Int(n)) => Value::Decimal(n.to_string()),
        (data_type::FLOAT64, Cell::Int(n)) => Value::Float64(*n as f64),
        (data_type::FLOAT64, Cell::Float(x)) => Value::Float64(*x),
        (data_type::BOOLEAN, Cell::Bool(flag)) => Value::Bool(*flag),
        (data_type::DATE | data_type::TIMESTAMP | data_type::TIMESTAMP_TZ, Cell::DateTime(text) | Cell::Text(text)) => {
            text_value(column.data_type, text, None)?
        }
        (data_type::TIME, Cell::Time(text)) => Value::Time(time_micros(text)?),
        (data_type::INTERVAL, Cell::Duration(text)) => Value::Text(text.clone()),
        (data_type::STRING, cell) => Value::Text(cell_text(cell)),
        _ => return None,
    })
}

/// A cell as text, for a string column of mixed cells and for messages.
fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Int(n) => n.to_string(),
        Cell::Float(x) => x.to_string(),
        Cell::Bool(flag) => flag.to_string(),
        Cell::Text(text) | Cell::DateTime(text) | Cell::Time(text) | Cell::Duration(text) | Cell::Error(text) => {
            text.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use inlet_sdk::testing::{drain, texts};
    use inlet_sdk::{Batch, TimeUnit, Values};

    use super::*;
    use crate::Excel;

    /// Writes a workbook with openpyxl (`pip install openpyxl`).
    fn workbook(dir: &Path) -> String {
        let path = dir.join("book.xlsx");
        let script = r#"
import datetime, sys
from openpyxl import Workbook
wb = Workbook()
data = wb.active
data.title = "Data"
data.append(["id", "amount", "paid", "at", "day", "at_tz", "clock", "note", "mixed"])
data.append([1, 9.5, True, datetime.datetime(2024, 1, 5, 10, 20, 30), datetime.date(2024, 2, 29),
             "2024-01-05T10:20:30Z", datetime.time(9, 30), "ada", "x"])
data.append([2, 3, False, datetime.datetime(2024, 1, 6), datetime.date(1969, 12, 31),
             "2024-01-05T12:20:30+02:00", datetime.time(17, 45, 15), None, 5])
data.append([3, None, None, None, None, None, None, "", None])
data.append(["oops", 1.0, True, None, None, None, None, None, None])
big = wb.create_sheet("Big")
big.append(["n"])
for i in range(5000):
    big.append([i])
wb.save(sys.argv[1])
"#;
        let output = Command::new("python3").arg("-c").arg(script).arg(&path).output().expect("run python3");
        assert!(output.status.success(), "openpyxl: {}", String::from_utf8_lossy(&output.stderr));
        path.to_str().unwrap().to_owned()
    }

    fn connect(config: serde_json::Value) -> FileConnection<Config> {
        let request = inlet_sdk::testing::connect_request("excel", &config);
        <Excel as inlet_sdk::Connector>::connect(&request, &mut Steps::new()).ok().unwrap()
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
    ) -> Result<(Vec<ResultColumn>, Vec<Batch>), ConnectorError> {
        let rows = connection.preview(request)?;
        let columns = rows.columns();
        Ok((columns, drain(rows, connection, 1000)?))
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn cells_come_typed_as_discover_types_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(dir.path());
        let mut connection = connect(serde_json::json!({ "file_path": path }));
        let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 10)).unwrap();
        let data = page.schemas[0].tables.iter().find(|t| t.name == "Data").unwrap();
        let discovered: Vec<_> = data.columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
        let (columns, batches) = run(&mut connection, &request("Data", &[], 3)).unwrap();
        let previewed: Vec<_> = columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
        assert_eq!(previewed, discovered);
        let types: Vec<_> = columns.iter().map(|c| c.data_type.as_str()).collect();
        assert_eq!(
            types,
            ["string", "float64", "boolean", "timestamp", "date", "timestamp-tz", "time", "string", "string"]
        );
        assert_eq!(columns[6].time_unit, Some(TimeUnit::Microsecond));
        let c = &batches[0].columns;
        assert_eq!(batches[0].row_count, 3);
        // `oops` below made `id` a string column: its numbers are their text.
        assert_eq!(texts(&c[0]), [some("1"), some("2"), some("3")]);
        assert!(matches!(&c[1].values, Values::Float64(v) if v[..2] == [9.5, 3.0]));
        assert_eq!(c[1].validity, [true, true, false]);
        assert!(matches!(&c[2].values, Values::Boolean(v) if v[..2] == [true, false]));
        let day = 19_727_i64 * 86_400_000_000;
        let at = day + (10 * 3600 + 20 * 60 + 30) * 1_000_000;
        assert!(matches!(&c[3].values, Values::Timestamp(v) if v[..2] == [at, day + 86_400_000_000]));
        assert!(matches!(&c[4].values, Values::Date(v) if v[..2] == [19_782, -1]));
        assert!(matches!(&c[5].values, Values::Timestamp(v) if v[..2] == [at, at]));
        assert!(matches!(&c[6].values, Values::Time(v) if v[..2] == [34_200_000_000, 63_915_000_000]));
        assert_eq!(c[6].validity, [true, true, false]);
        // An empty string is an empty cell.
        assert_eq!(texts(&c[7]), [some("ada"), None, None]);
        assert_eq!(texts(&c[8]), [some("x"), some("5"), None]);
    }

    #[test]
    fn columns_limits_and_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(dir.path());
        let mut connection = connect(serde_json::json!({ "file_path": path }));
        let (columns, batches) = run(&mut connection, &request("Data", &["note", "paid"], 10)).unwrap();
        let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["note", "paid"]);
        assert_eq!(batches[0].row_count, 4);
        assert_eq!(texts(&batches[0].columns[0]), [some("ada"), None, None, None]);
        let (_, big) = run(&mut connection, &request("Big", &[], 7)).unwrap();
        assert!(matches!(&big[0].columns[0].values, Values::Int64(v) if v == &[0, 1, 2, 3, 4, 5, 6]));
        let (columns, none) = run(&mut connection, &request("Big", &[], 0)).unwrap();
        assert_eq!((columns.len(), none.len()), (1, 0));
        for (schema, object, columns) in
            [("default", "Nope", &[][..]), ("x", "Data", &[][..]), ("default", "Data", &["z"][..])]
        {
            let mut bad = request(object, columns, 10);
            bad.schema = schema.to_owned();
            let error = connection.preview(&bad).err().unwrap();
            assert_eq!(error.kind, ErrorKind::NotFound, "{schema}.{object} {columns:?}");
        }
        // A sheet left out by `sheets` is not found either.
        let mut only = connect(serde_json::json!({ "file_path": path, "sheets": ["Big"] }));
        assert_eq!(only.preview(&request("Data", &[], 1)).err().unwrap().kind, ErrorKind::NotFound);
    }

    #[test]
    fn reading_stops_once_the_sink_is_full() {
        struct Count(u32);
        impl RowSink for Count {
            fn push(&mut self, _: Row) -> Result<bool, ConnectorError> {
                self.0 += 1;
                Ok(self.0 < 3)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(dir.path());
        let config = <Config as ConnectorConfig>::from_json(&format!(r#"{{"file_path":{path:?}}}"#)).unwrap();
        let (mut book, _) = workbook::open_book(&config).unwrap();
        let mut count = Count(0);
        book.rows("Big", &mut count).unwrap();
        assert_eq!(count.0, 3, "5001 rows in the sheet, 3 read");
    }

    #[test]
    fn a_cell_past_the_sample_that_does_not_fit_is_an_error_with_its_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = workbook(dir.path());
        let mut connection = connect(serde_json::json!({ "file_path": path, "sample_rows": 3 }));
        let (columns, _) = run(&mut connection, &request("Data", &["id"], 3)).unwrap();
        assert_eq!(columns[0].data_type, "int64");
        let error = run(&mut connection, &request("Data", &["id"], 4)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(
            error.message.starts_with("sheet \"Data\": cell A5: column `id`: \"oops\" is not a int64"),
            "{}",
            error.message
        );
    }
}
