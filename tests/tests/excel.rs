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
use inlet_tests::{ExecOutcome, tool_available, workspace_root};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Runs `make.py` into a fresh directory; `None` when python3 or its
/// spreadsheet packages are missing (the test is then skipped, or fails
/// under `INLET_REQUIRE_SERVICES=1`).
fn fixtures() -> Option<TempDir> {
    if !tool_available("python3") {
        return None;
    }
    let modules = Command::new("python3").args(["-c", "import openpyxl, xlwt, odf"]).output().expect("run python3");
    if !modules.status.success() {
        if std::env::var("INLET_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("python3 lacks openpyxl, xlwt or odfpy, and INLET_REQUIRE_SERVICES=1");
        }
        eprintln!("SKIPPED: python3 lacks openpyxl, xlwt or odfpy (pip install openpyxl xlwt odfpy)");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new("python3")
        .arg(workspace_root().join("tests/fixtures/excel/make.py"))
        .arg(dir.path())
        .output()
        .expect("run make.py");
    assert!(output.status.success(), "make.py failed: {}", String::from_utf8_lossy(&output.stderr));
    Some(dir)
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

#[test]
fn test_reads_the_workbook_and_its_first_sheet() {
    let Some(dir) = fixtures() else { return };
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

#[test]
fn an_xlsx_workbook_is_a_table_per_sheet() {
    let Some(dir) = fixtures() else { return };
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

#[test]
fn sheets_header_row_and_has_header_are_honoured() {
    let Some(dir) = fixtures() else { return };
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

#[test]
fn an_ods_workbook_from_odfpy() {
    let Some(dir) = fixtures() else { return };
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

#[test]
fn an_xls_workbook_from_xlwt() {
    let Some(dir) = fixtures() else { return };
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

#[test]
fn types_come_from_the_sample_and_every_row_is_counted() {
    let Some(dir) = fixtures() else { return };
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

#[test]
fn corrupt_and_foreign_files_fail_clearly() {
    let Some(dir) = fixtures() else { return };
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

#[test]
fn the_size_cap_missing_files_and_bad_configs() {
    let Some(dir) = fixtures() else { return };
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
