//! The Excel connector end to end: fixtures are written at test time by the
//! real tools (`tests/fixtures/excel/make.py`: openpyxl for xlsx, odfpy for
//! ods, xlwt for xls) into a temporary directory; `inlet plugin exec` loads
//! the built component from `target/plugins/excel`, grants it the file's
//! directory read-only, and prints what `test` and `discover` return.
//!
//! Needs `target/release/inlet`, `target/plugins/excel` (`cargo xtask build`),
//! `python3` with openpyxl, xlwt and odfpy (`.ci/run` installs them).

use std::path::Path;
use std::process::Command;

use inlet_tests::catalog::table;
use inlet_tests::file_connector::{self, Col, FileConnector, assert_columns, col, config, noted};
use inlet_tests::{ExecOutcome, require, workspace_root};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Runs `make.py` into a fresh directory; requires python3 and its
/// spreadsheet packages.
fn fixtures() -> TempDir {
    require::tool("python3");
    let modules = Command::new("python3").args(["-c", "import openpyxl, xlwt, odf"]).output().expect("run python3");
    require::that(modules.status.success(), "openpyxl, xlwt and odfpy for python3 (pip install openpyxl xlwt odfpy)");
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new("python3")
        .arg(workspace_root().join("tests/fixtures/excel/make.py"))
        .arg(dir.path())
        .output()
        .expect("run make.py");
    assert!(output.status.success(), "make.py failed: {}", String::from_utf8_lossy(&output.stderr));
    dir
}

const EXCEL: FileConnector =
    FileConnector { plugin: "excel", source_type: "excel", table_kind: "table", empty_constraints: true };

fn run(command: &str, config: &Value) -> ExecOutcome {
    EXCEL.run(command, config)
}

/// Runs `discover`, checks the envelope, and returns it.
fn discover(dir: &Path, name: &str, extra: Value) -> ExecOutcome {
    EXCEL.discover(&config(dir, name, extra))
}

fn sheet_names(outcome: &ExecOutcome) -> Vec<&str> {
    outcome.json["schemas"][0]["tables"].as_array().expect("tables").iter().filter_map(|t| t["name"].as_str()).collect()
}

const fn int(name: &'static str, nullable: bool) -> Col {
    col(name, "int64", "integer", nullable)
}

const fn float(name: &'static str) -> Col {
    col(name, "float64", "double", false)
}

const fn text(name: &'static str, nullable: bool, max_length: u32) -> Col {
    Col { max_length: Some(max_length), ..col(name, "string", "text", nullable) }
}

/// A failed run also answers `ok: false`.
fn assert_fails(outcome: &ExecOutcome, kind: &str, message_part: &str) {
    assert_eq!(outcome.json["ok"], false, "{}", outcome.json);
    file_connector::assert_fails(outcome, kind, message_part);
}

#[inlet_tests::test]
fn test_reads_the_workbook_and_its_first_sheet() {
    let dir = fixtures();
    for (name, message) in [
        ("book.xlsx", "xlsx: sheet \"Orders\", 3 rows of 11 columns"),
        ("people.ods", "ods: sheet \"People\", 3 rows of 6 columns"),
        ("stock.xls", "xls: sheet \"Stock\", 3 rows of 5 columns"),
    ] {
        let outcome = EXCEL.test_passes(&config(dir.path(), name, json!({})));
        let json = &outcome.json;
        assert_eq!(json["server_version"], Value::Null);
        let steps = json["steps"].as_array().expect("steps");
        let last = steps.last().expect("a step");
        assert_eq!(last["name"], "read first sheet");
        assert_eq!(last["message"], message);
        let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
        if names.len() == 3 {
            assert_eq!(names, ["open file", "read workbook", "read first sheet"]);
        }
    }
    let outcome = run("test", &config(dir.path(), "book.xlsx", json!({})));
    if outcome.json["steps"].as_array().map_or(0, Vec::len) == 3 {
        assert_eq!(outcome.json["steps"][1]["message"], "xlsx: 5 sheets");
    }
}

#[inlet_tests::test]
fn an_xlsx_workbook_is_a_table_per_sheet() {
    let dir = fixtures();
    let outcome = discover(dir.path(), "book.xlsx", json!({}));
    assert_eq!(sheet_names(&outcome), ["Orders", "NoHeader", "Secret", "Empty", "Merged"]);

    let orders = table(&outcome, "default", "Orders");
    assert_eq!(orders["row_estimate"], 3);
    assert_eq!(orders["size_bytes"], Value::Null);
    assert_eq!(
        orders["comment"],
        "xlsx sheet 1 of 5; used range A1:K4 (4 rows × 11 columns); header on row 1; \
         column types inferred from the first 3 rows"
    );
    assert_columns(
        orders,
        &[
            int("id", false),
            // "Chloé": characters, not bytes.
            text("customer", false, 5),
            float("amount"),
            col("paid", "boolean", "boolean", false),
            col("ordered_on", "date", "date", false),
            col("shipped_at", "timestamp", "timestamp", false),
            col("pickup", "time", "time", false),
            // A formula: its cached value (A*10) is what is typed.
            int("total", false),
            text("note", true, 7),
            // No header and no value: a blank column keeps its place.
            noted(col("column_10", "string", "text", true), "the header is empty"),
            noted(int("id_2", false), "renamed from the duplicate header \"id\""),
        ],
    );

    let plain = table(&outcome, "default", "NoHeader");
    assert_eq!(plain["row_estimate"], 3);
    assert_eq!(
        plain["comment"],
        "xlsx sheet 2 of 5; used range A1:C3 (3 rows × 3 columns); no header row; \
         column types inferred from the first 3 rows"
    );
    assert_columns(plain, &[int("column_1", false), Col { ..float("column_2") }, text("column_3", true, 1)]);

    let secret = table(&outcome, "default", "Secret");
    assert_eq!(secret["row_estimate"], 1);
    assert_eq!(
        secret["comment"],
        "xlsx sheet 3 of 5; used range A1:B2 (2 rows × 2 columns); hidden sheet; header on row 1; \
         column types inferred from the first 1 row"
    );
    assert_columns(secret, &[text("key", false, 1), int("value", false)]);

    let empty = table(&outcome, "default", "Empty");
    assert_eq!(empty["row_estimate"], 0);
    assert_eq!(empty["columns"], json!([]));
    assert_eq!(empty["comment"], "xlsx sheet 4 of 5; empty sheet");

    let merged = table(&outcome, "default", "Merged");
    assert_eq!(merged["row_estimate"], 2);
    assert_eq!(
        merged["comment"],
        "xlsx sheet 5 of 5; used range A1:D5 (5 rows × 4 columns); header on row 3 (1 row above it skipped); \
         column types inferred from the first 2 rows; 1 error cell in the sample"
    );
    assert_columns(
        merged,
        &[
            text("region", false, 5),
            int("Sales", false),
            noted(int("column_3", false), "the header cell is merged into B's"),
            noted(int("error", true), "1 error cell in the sample (e.g. #DIV/0!), read as null"),
        ],
    );
}

#[inlet_tests::test]
fn sheets_header_row_and_has_header_are_honoured() {
    let dir = fixtures();
    let outcome = discover(dir.path(), "book.xlsx", json!({ "sheets": ["Merged", "Secret"] }));
    // Workbook order, not the config's.
    assert_eq!(sheet_names(&outcome), ["Secret", "Merged"]);

    let outcome = discover(dir.path(), "book.xlsx", json!({ "sheets": ["Orders"], "has_header": false }));
    let orders = table(&outcome, "default", "Orders");
    assert_eq!(orders["row_estimate"], 4);
    let columns = orders["columns"].as_array().expect("columns");
    assert_eq!(columns.len(), 11);
    // The header's names are now data: the id column holds "id" and numbers.
    assert_eq!(columns[0]["name"], "column_1");
    assert_eq!(columns[0]["data_type"], "string");
    assert_eq!(orders["comment"].as_str().map(|c| c.contains("no header row")), Some(true));

    let outcome = discover(dir.path(), "book.xlsx", json!({ "sheets": ["Merged"], "header_row": 4 }));
    let merged = table(&outcome, "default", "Merged");
    assert_eq!(merged["row_estimate"], 1);
    let names: Vec<&str> =
        merged["columns"].as_array().expect("columns").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["north", "10", "11", "column_4"]);
    assert!(merged["comment"].as_str().is_some_and(|c| c.contains("header on row 4 (2 rows above it skipped)")));

    let outcome = run("discover", &config(dir.path(), "book.xlsx", json!({ "sheets": ["Nope"] })));
    assert_fails(&outcome, "not_found", "has no worksheet \"Nope\" (it has \"Orders\", \"NoHeader\"");
}

#[inlet_tests::test]
fn an_ods_workbook_from_odfpy() {
    let dir = fixtures();
    let outcome = discover(dir.path(), "people.ods", json!({}));
    assert_eq!(sheet_names(&outcome), ["People"]);
    let people = table(&outcome, "default", "People");
    assert_eq!(people["row_estimate"], 3);
    assert_eq!(
        people["comment"],
        "ods sheet 1 of 1; used range A1:F4 (4 rows × 6 columns); header on row 1; \
         column types inferred from the first 3 rows"
    );
    assert_columns(
        people,
        &[
            text("name", false, 5),
            int("age", true),
            float("height"),
            col("member", "boolean", "boolean", false),
            col("born", "date", "date", false),
            // ODF time cells (PT06H30M00S) under a day are times of day.
            col("wakes", "time", "time", false),
        ],
    );
}

#[inlet_tests::test]
fn an_xls_workbook_from_xlwt() {
    let dir = fixtures();
    let outcome = discover(dir.path(), "stock.xls", json!({}));
    let stock = table(&outcome, "default", "Stock");
    assert_eq!(stock["row_estimate"], 3);
    assert_eq!(
        stock["comment"],
        "xls sheet 1 of 1; used range A1:E4 (4 rows × 5 columns); header on row 1; \
         column types inferred from the first 3 rows"
    );
    assert_columns(
        stock,
        &[
            text("sku", false, 3),
            int("qty", false),
            float("price"),
            col("in_stock", "boolean", "boolean", false),
            col("restocked", "date", "date", true),
        ],
    );
}

#[inlet_tests::test]
fn types_come_from_the_sample_and_every_row_is_counted() {
    let dir = fixtures();
    // Row 4000 holds "late" in an integer column: past the default sample.
    let outcome = discover(dir.path(), "large.xlsx", json!({}));
    let large = table(&outcome, "default", "Large");
    assert_eq!(large["row_estimate"], 5000);
    assert!(large["comment"].as_str().is_some_and(|c| c.ends_with("column types inferred from the first 1000 rows")));
    assert_columns(large, &[int("n", false), text("label", false, 8)]);

    let outcome = discover(dir.path(), "large.xlsx", json!({ "sample_rows": 5000 }));
    let large = table(&outcome, "default", "Large");
    assert_eq!(large["row_estimate"], 5000);
    assert_columns(large, &[text("n", false, 4), text("label", false, 8)]);
}

#[inlet_tests::test]
fn corrupt_and_foreign_files_fail_clearly() {
    let dir = fixtures();
    for command in ["test", "discover"] {
        let outcome = run(command, &config(dir.path(), "corrupt.xlsx", json!({})));
        assert_fails(&outcome, "protocol", "corrupt.xlsx cannot be read as an xlsx, xlsb or ods workbook");
        let outcome = run(command, &config(dir.path(), "notes.xlsx", json!({})));
        assert_fails(&outcome, "protocol", "notes.xlsx is not an Excel or OpenDocument spreadsheet");
        let outcome = run(command, &config(dir.path(), "other.xlsx", json!({})));
        assert_fails(&outcome, "protocol", "other.xlsx cannot be read as");
        // calamine's xls reader would panic on this one; the connector's own
        // check refuses it first.
        let outcome = run(command, &config(dir.path(), "corrupt.xls", json!({})));
        assert_fails(&outcome, "protocol", "corrupt.xls is not a readable xls workbook: its size (2816 bytes)");
    }
    // The failure is in the connect step that reads the workbook.
    let outcome = run("test", &config(dir.path(), "corrupt.xlsx", json!({})));
    let steps = outcome.json["steps"].as_array().expect("steps");
    assert!(steps.iter().any(|s| s["name"] == "read workbook" && s["passed"] == false), "{}", outcome.json);
}

#[inlet_tests::test]
fn the_size_cap_missing_files_and_bad_configs() {
    let dir = fixtures();
    let outcome = run("test", &config(dir.path(), "big.xlsx", json!({ "max_file_mib": 1 })));
    assert_fails(&outcome, "config", "big.xlsx is 2 MiB, more than `max_file_mib` (1 MiB) allows");
    assert_fails(&run("test", &config(dir.path(), "none.xlsx", json!({}))), "not_found", "none.xlsx");
    let directory = json!({ "file_path": dir.path().to_str().expect("UTF-8 path") });
    assert_eq!(run("test", &directory).error_kind(), Some("config"));
    for extra in [
        json!({ "sample_rows": 0 }),
        json!({ "max_file_mib": 1025 }),
        json!({ "header_row": 0 }),
        json!({ "sheets": [] }),
        json!({ "header_row": 2, "has_header": false }),
        json!({ "delimiter": "," }),
    ] {
        let outcome = run("test", &config(dir.path(), "book.xlsx", extra.clone()));
        assert_eq!(outcome.error_kind(), Some("config"), "{extra}: {}", outcome.json);
    }
}

/// Preview through the API with the wasm connector, on the openpyxl
/// workbook of `make.py`: a sheet's rows below its header, typed as
/// discovery types them (dates, timestamps, times, numbers, booleans, cached
/// formula values), blank and error cells NULL, a column subset in order.
#[inlet_tests::test]
fn preview_through_the_api_types_cells_as_discovered() {
    use inlet_tests::server::{Backend, Inlet};
    // Under the temp dir, one of the test servers' files roots.
    let dir = fixtures();
    let file = dir.path().join("book.xlsx");
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "book", "type": "excel", "config": { "file_path": file.to_str().expect("utf-8 path") },
        "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}");

    let preview = api.get(&format!("{path}/preview?schema=default&table=Orders&limit=3")).expect(200).json();
    let types: Vec<&str> =
        preview["columns"].as_array().expect("columns").iter().filter_map(|c| c["data_type"].as_str()).collect();
    assert_eq!(
        types,
        ["int64", "string", "float64", "boolean", "date", "timestamp", "time", "int64", "string", "string", "int64"],
        "{preview}"
    );
    assert_eq!(
        preview["rows"],
        json!([
            [
                1,
                "Ada",
                9.99,
                true,
                "2024-01-05",
                "2024-01-06T10:20:30.000000",
                "09:30:00.000000",
                10,
                "first",
                null,
                10
            ],
            [
                2,
                "Brian",
                20.5,
                false,
                "2024-02-29",
                "2024-03-01T08:00:00.000000",
                "17:45:15.000000",
                20,
                null,
                null,
                20
            ],
            [
                3,
                "Chloé",
                3.25,
                true,
                "2024-12-31",
                "2025-01-01T00:00:01.000000",
                "12:00:00.000000",
                30,
                "ünïcode",
                null,
                30
            ]
        ])
    );
    // The title above the header is skipped; the cached #DIV/0! is NULL.
    let merged =
        api.get(&format!("{path}/preview?schema=default&table=Merged&columns=error,region")).expect(200).json();
    assert_eq!(merged["rows"], json!([[null, "north"], [5, "south"]]));
    let limited = api.get(&format!("{path}/preview?schema=default&table=NoHeader&limit=2")).expect(200).json();
    assert_eq!(limited["rows"], json!([[1, 2.5, "x"], [2, 3.5, "y"]]));
    api.get(&format!("{path}/preview?schema=default&table=Nope")).expect_error(422, "not_found");
}
