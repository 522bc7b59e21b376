//! The JSON connector end to end: fixtures are written at test time by
//! Python's json module (`tests/fixtures/json/make.py`) into a temporary
//! directory; `inlet plugin exec` loads the built component from
//! `target/plugins/json`, grants it the file's directory read-only, and
//! prints what `test` and `discover` return.
//!
//! Needs `target/release/inlet`, `target/plugins/json` (`cargo xtask build`)
//! and `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;

use inlet_tests::file_connector::{Col, FileConnector, assert_columns, assert_fails, col, config, file_size, noted};
use inlet_tests::{ExecOutcome, require, workspace_root};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Runs `make.py` into a fresh directory; requires python3.
fn fixtures(large_rows: Option<u64>) -> TempDir {
    require::tool("python3");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut make = Command::new("python3");
    make.arg(workspace_root().join("tests/fixtures/json/make.py")).arg(dir.path());
    if let Some(rows) = large_rows {
        make.arg("--large-rows").arg(rows.to_string());
    }
    let output = make.output().expect("run make.py");
    assert!(output.status.success(), "make.py failed: {}", String::from_utf8_lossy(&output.stderr));
    dir
}

const JSON: FileConnector =
    FileConnector { plugin: "json", source_type: "json", table_kind: "file", empty_constraints: false };

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn run(command: &str, config: &Value) -> ExecOutcome {
    JSON.run(command, config)
}

/// Runs `discover` and returns the one table, after checking the envelope
/// and its size.
fn discover_table(dir: &Path, name: &str, extra: Value) -> Value {
    JSON.discover_one(&config(dir, name, extra), Some(file_size(&path(dir, name))))
}

const fn text(name: &'static str, nullable: bool, max_length: u32) -> Col {
    Col { max_length: Some(max_length), ..col(name, "string", "string", nullable) }
}

#[inlet_tests::test]
fn test_detects_the_format_and_parses_the_first_record() {
    let dir = fixtures(None);
    for (name, layout, keys) in [("people.json", "JSON array", 8), ("events.ndjson", "NDJSON", 5)] {
        let outcome = JSON.test_passes(&config(dir.path(), name, json!({})));
        let json = &outcome.json;
        assert_eq!(json["server_version"], Value::Null);
        let steps = json["steps"].as_array().expect("steps");
        let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
        let last = steps.last().expect("a step");
        assert_eq!(last["name"], "parse first record");
        assert_eq!(last["message"], format!("{layout}: the first record has {keys} keys"));
        if names.len() == 3 {
            assert_eq!(names, ["open file", "detect format", "parse first record"]);
            assert_eq!(steps[1]["message"], layout);
        }
    }
}

#[inlet_tests::test]
fn an_array_file_flattens_nested_objects_and_notes_arrays() {
    let dir = fixtures(None);
    let table = discover_table(dir.path(), "people.json", json!({}));
    assert_eq!(table["name"], "people");
    assert_eq!(table["row_estimate"], 4);
    assert_eq!(table["comment"], "JSON array; column types inferred from the first 4 records");
    assert_columns(
        &table,
        &[
            col("id", "int64", "integer", false),
            // "Zoë Ångström": 12 characters, more bytes.
            text("name", false, 12),
            col("active", "boolean", "boolean", true),
            // 10, 7.5, 3, 4: integers and floats widen to float64.
            col("score", "float64", "number", false),
            col("joined", "date", "string (date)", false),
            // `address` is null in one record: its keys are missing there.
            text("address.city", true, 5),
            col("address.geo.lat", "float64", "number", true),
            col("address.geo.lon", "float64", "number", true),
            text("address.zip", true, 8),
            noted(col("tags", "array", "array", false), "array of string"),
            noted(col("orders", "json", "array", false), "array of objects"),
            // Missing twice, null once.
            text("note", true, 11),
            Col {
                max_length: Some(3),
                comment: Some("mixed JSON types (number, string), widened to string"),
                ..col("code", "string", "number|string", true)
            },
            noted(
                col("deep.l2.l3.l4.l5", "json", "object", true),
                "an object nested deeper than max_depth (5), kept as JSON",
            ),
        ],
    );
}

#[inlet_tests::test]
fn max_depth_and_table_name_are_honoured() {
    let dir = fixtures(None);
    let table = discover_table(dir.path(), "people.json", json!({ "max_depth": 2, "table_name": "members" }));
    assert_eq!(table["name"], "members");
    let columns = table["columns"].as_array().expect("columns");
    let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "active",
            "score",
            "joined",
            "address.city",
            "address.geo",
            "address.zip",
            "tags",
            "orders",
            "note",
            "code",
            "deep.l2"
        ]
    );
    let geo = &columns[6];
    assert_eq!((geo["data_type"].as_str(), geo["nullable"].as_bool()), (Some("json"), Some(true)));
    assert_eq!(geo["comment"], "an object nested deeper than max_depth (2), kept as JSON");
}

#[inlet_tests::test]
fn an_ndjson_file_with_escapes_blank_lines_and_crlf() {
    let dir = fixtures(None);
    let table = discover_table(dir.path(), "events.ndjson", json!({}));
    assert_eq!(table["name"], "events");
    assert_eq!(table["row_estimate"], 3);
    assert_eq!(table["comment"], "NDJSON; column types inferred from the first 3 records");
    assert_columns(
        &table,
        &[
            text("event", false, 5),
            col("ts", "timestamp-tz", "string (date-time)", false),
            col("user.id", "int64", "integer", false),
            // "\u00c5sa" decodes to 3 characters.
            text("user.name", true, 4),
            col("value", "float64", "number", false),
            col("props.x", "int64", "integer", true),
            col("props.y", "int64", "integer", true),
            // ["a", 1]: string and integer elements widen to string.
            noted(col("labels", "array", "array", true), "array of string"),
            // u64::MAX does not fit int64: an exact decimal.
            Col { precision: Some(20), scale: Some(0), ..col("big", "decimal", "integer", true) },
        ],
    );
    // Forcing the array layout on NDJSON fails clearly.
    let outcome = run("discover", &config(dir.path(), "events.ndjson", json!({ "format": "array" })));
    assert_fails(&outcome, "protocol", "does not start with `[`");
    // Forcing NDJSON on an array reads its first line, `[`, as a broken record.
    let outcome = run("discover", &config(dir.path(), "people.json", json!({ "format": "ndjson" })));
    assert_fails(&outcome, "protocol", "line 1, column 1: invalid JSON");
}

#[inlet_tests::test]
fn large_ndjson_and_array_files_are_counted_exactly() {
    let rows = 200_000u64;
    let dir = fixtures(Some(rows));
    for (name, layout) in [("large.ndjson", "NDJSON"), ("large.json", "JSON array")] {
        let table = discover_table(dir.path(), name, json!({}));
        assert_eq!(table["row_estimate"], rows, "{name}");
        assert_eq!(table["comment"], format!("{layout}; column types inferred from the first 10000 records"));
        assert_large_columns(&table);
    }
}

fn assert_large_columns(table: &Value) {
    assert_columns(
        table,
        &[
            col("i", "int64", "integer", false),
            col("f", "float64", "number", false),
            // Every 1000th record lacks `k`, ten times within the sample, whose
            // longest value is "key-9999": later, longer ones are not sampled.
            text("k", true, 8),
            col("nested.even", "boolean", "boolean", false),
        ],
    );
}

#[inlet_tests::test]
fn malformed_files_fail_with_their_kind_and_place() {
    let dir = fixtures(None);
    let cases = [
        ("empty.json", "protocol", "empty.json is empty"),
        // serde_json reads the leading `t` as the start of `true`.
        ("not_json.json", "protocol", "line 1, column 2: invalid JSON: expected ident"),
        ("scalar.json", "unsupported", "line 1: the record is a number"),
        ("numbers.json", "unsupported", "line 1 (element 1): the record is a number"),
        ("bad_line.ndjson", "protocol", "line 3, column"),
        ("unclosed.json", "protocol", "the file ends before the array is closed with `]`"),
        ("huge_line.ndjson", "protocol", "line 2: a line is longer than 8 MiB"),
    ];
    for (name, kind, message) in cases {
        let outcome = run("discover", &config(dir.path(), name, json!({})));
        assert_fails(&outcome, kind, message);
    }
    // `test` reads only the first record: a file broken later passes it,
    // but `discover` checks every record for the exact count.
    let late = config(dir.path(), "bad_late.ndjson", json!({ "sample_rows": 5 }));
    let outcome = run("test", &late);
    assert!(outcome.success, "{}", outcome.json);
    assert_fails(&run("discover", &late), "protocol", "line 25, column");
    // The empty file already fails at connect, in the `detect format` step.
    let outcome = run("test", &config(dir.path(), "empty.json", json!({})));
    assert_fails(&outcome, "protocol", "is empty");
}

#[inlet_tests::test]
fn missing_files_directories_and_bad_configs() {
    let dir = fixtures(None);
    assert_fails(&run("test", &config(dir.path(), "none.json", json!({}))), "not_found", "none.json");
    let directory = json!({ "file_path": dir.path().to_str().expect("UTF-8 path") });
    assert_eq!(run("test", &directory).error_kind(), Some("config"));
    for extra in [
        json!({ "format": "xml" }),
        json!({ "max_depth": 0 }),
        json!({ "sample_rows": 0 }),
        json!({ "table_name": "" }),
        json!({ "delimiter": "," }),
    ] {
        let outcome = run("test", &config(dir.path(), "people.json", extra.clone()));
        assert_eq!(outcome.error_kind(), Some("config"), "{extra}: {}", outcome.json);
    }
}

/// Preview through the API with the wasm connector: NDJSON records with
/// nested keys flattened as discovery flattens them, arrays as JSON, numbers
/// and zoned timestamps typed, NULL apart from the empty string.
#[inlet_tests::test]
fn preview_through_the_api_types_values_as_discovered() {
    use inlet_tests::server::{Backend, Inlet};
    // Under the temp dir, one of the test servers' files roots.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("events.ndjson");
    std::fs::write(
        &file,
        concat!(
            r#"{"id":1,"user":{"name":"ada"},"tags":["a","b"],"score":1.5,"at":"2024-01-05T10:20:30Z"}"#,
            "\n",
            r#"{"id":2,"user":{"name":""},"tags":[],"score":null,"at":"2024-01-05T12:00:00+02:00"}"#,
            "\n",
            r#"{"id":3,"user":null,"score":-2,"at":"2024-01-06T00:00:00Z"}"#,
            "\n"
        ),
    )
    .expect("write the file");
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "events", "type": "json", "config": { "file_path": file.to_str().expect("utf-8 path") },
        "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}");

    let preview = api.get(&format!("{path}/preview?schema=default&table=events&limit=3")).expect(200).json();
    let columns: Vec<(&str, &str)> = preview["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?, c["data_type"].as_str()?)))
        .collect();
    assert_eq!(
        columns,
        [("id", "int64"), ("user.name", "string"), ("tags", "array"), ("score", "float64"), ("at", "timestamp-tz")],
        "{preview}"
    );
    assert_eq!(
        preview["rows"],
        json!([
            [1, "ada", ["a", "b"], 1.5, "2024-01-05T10:20:30.000000Z"],
            [2, "", [], null, "2024-01-05T10:00:00.000000Z"],
            [3, null, null, -2.0, "2024-01-06T00:00:00.000000Z"]
        ])
    );
    let subset =
        api.get(&format!("{path}/preview?schema=default&table=events&columns=at,id&limit=1")).expect(200).json();
    assert_eq!(subset["rows"], json!([["2024-01-05T10:20:30.000000Z", 1]]));
    api.get(&format!("{path}/preview?schema=default&table=events&columns=user")).expect_error(422, "not_found");
}
