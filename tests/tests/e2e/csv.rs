//! The CSV connector end to end: `inlet plugin exec` loads the built
//! component from `target/plugins/csv`, grants it the fixture's directory
//! read-only, and prints what `test` and `discover` return.
//!
//! Needs `target/release/inlet` and `target/plugins/csv` (`cargo xtask build`).

use std::path::PathBuf;

use inlet_tests::file_connector::{self, Col, FileConnector, assert_columns, col, file_size};
use inlet_tests::{ExecOutcome, plugin_dir, workspace_root};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures/csv").join(name)
}

const CSV: FileConnector =
    FileConnector { plugin: "csv", source_type: "csv", table_kind: "file", empty_constraints: true };

/// A config for the fixture, with `extra` options merged in.
fn config(name: &str, extra: Value) -> Value {
    file_connector::config(&workspace_root().join("tests/fixtures/csv"), name, extra)
}

fn run(command: &str, config: &Value) -> ExecOutcome {
    CSV.run(command, config)
}

/// Runs `discover` and returns the one table, after checking the envelope
/// (one page) and its size.
fn discover_table(name: &str, extra: Value) -> Value {
    let outcome = CSV.discover(&config(name, extra));
    assert_eq!(outcome.json["pages"], 1, "{}", outcome.json);
    let table = file_connector::only_table(&outcome);
    assert_eq!(table["size_bytes"], file_size(&fixture(name)), "size_bytes");
    table
}

const fn text(name: &'static str, nullable: bool, max_length: Option<u32>) -> Col {
    Col { max_length, ..col(name, "string", "text", nullable) }
}

const fn decimal(name: &'static str, native_type: &'static str, precision: u32, scale: u32) -> Col {
    Col { precision: Some(precision), scale: Some(scale), ..col(name, "decimal", native_type, false) }
}

#[inlet_tests::test]
fn test_parses_the_sample_and_passes_every_step() {
    let outcome = CSV.test_passes(&config("mixed.csv", json!({})));
    let json = &outcome.json;
    assert_eq!(outcome.code, Some(0));
    assert_eq!(json["ok"], true);
    assert_eq!(json["server_version"], Value::Null);
    assert!(json["duration_ms"].is_u64(), "{json}");
    let steps = json["steps"].as_array().expect("steps");
    let last = steps.last().expect("a step");
    assert_eq!(last["name"], "parse sample");
    assert_eq!(last["message"], "4 rows of 13 columns parsed");
    // When the host reports the connect stages too, they come first and in order.
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    if names.len() == 3 {
        assert_eq!(names, ["open file", "read header", "parse sample"]);
    }
}

#[inlet_tests::test]
fn discover_infers_every_type_from_mixed_values() {
    let table = discover_table("mixed.csv", json!({}));
    assert_eq!(table["name"], "mixed");
    assert_eq!(table["row_estimate"], 4);
    assert_eq!(table["comment"], "column types inferred from the first 4 rows");
    assert_columns(
        &table,
        &[
            col("id", "int64", "integer", false),
            decimal("price", "decimal(6,2)", 6, 2),
            col("ratio", "float64", "double", false),
            col("active", "boolean", "boolean", false),
            col("day", "date", "date", false),
            // Dates and timestamps in one column widen to timestamp.
            col("seen_at", "timestamp", "timestamp", false),
            col("updated_at", "timestamp-tz", "timestamp with time zone", false),
            // "hello, world" is the longest (a quoted comma); "multi\nline" spans lines.
            text("note", false, Some(12)),
            // "", NULL, NA, N/A: all null.
            text("empty", true, None),
            // Integers and decimals widen to decimal: -300 and 2.125.
            decimal("amount", "decimal(6,3)", 6, 3),
            col("maybe", "int64", "integer", true),
            // 0 and 1 are integers, not booleans.
            col("flag", "int64", "integer", false),
            // 12, abc, 3.5, true: mixed kinds are a string.
            text("word", false, Some(4)),
        ],
    );
}

#[inlet_tests::test]
fn a_semicolon_delimiter_and_quoted_delimiters() {
    let table = discover_table("semicolon.csv", json!({ "delimiter": ";" }));
    assert_eq!(table["name"], "semicolon");
    assert_eq!(table["row_estimate"], 3);
    assert_columns(
        &table,
        &[
            text("city", false, Some(13)),
            col("population", "int64", "integer", false),
            decimal("area_km2", "decimal(5,2)", 5, 2),
            col("founded", "date", "date", true),
        ],
    );
}

#[inlet_tests::test]
fn without_a_header_columns_are_numbered_and_every_record_is_data() {
    let table = discover_table("no_header.csv", json!({ "has_header": false }));
    assert_eq!(table["row_estimate"], 3);
    assert_columns(
        &table,
        &[
            col("column_1", "int64", "integer", false),
            text("column_2", true, Some(5)),
            col("column_3", "date", "date", false),
        ],
    );
}

#[inlet_tests::test]
fn duplicate_and_empty_header_names_are_made_unique() {
    let table = discover_table("duplicate_headers.csv", json!({}));
    assert_eq!(table["row_estimate"], 1);
    assert_columns(
        &table,
        &[
            col("id", "int64", "integer", false),
            Col { comment: Some("the header is empty"), ..text("column_2", false, Some(1)) },
            Col { comment: Some("renamed from the duplicate header \"id\""), ..col("id_3", "int64", "integer", false) },
            text("name", false, Some(1)),
            col("id_2", "int64", "integer", false),
        ],
    );
}

#[inlet_tests::test]
fn a_latin1_file_decodes_to_the_right_characters() {
    let table = discover_table("latin1.csv", json!({ "delimiter": ";", "encoding": "latin1" }));
    assert_eq!(table["row_estimate"], 3);
    // "Besançon" is 8 characters (9 bytes once decoded to UTF-8).
    assert_columns(
        &table,
        &[text("nom", false, Some(5)), text("ville", false, Some(8)), col("note", "int64", "integer", false)],
    );
    let alias = discover_table("latin1.csv", json!({ "delimiter": ";", "encoding": "iso-8859-1" }));
    assert_eq!(alias["columns"], table["columns"]);
}

#[inlet_tests::test]
fn a_latin1_file_read_as_utf8_names_the_first_bad_line() {
    let outcome = run("test", &config("latin1.csv", json!({ "delimiter": ";" })));
    assert!(!outcome.success, "{}", outcome.json);
    assert_eq!(outcome.code, Some(1));
    assert_eq!(outcome.error_kind(), Some("protocol"), "{}", outcome.json);
    let message = outcome.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("line 2: field 1 is not valid UTF-8"), "{message}");
}

#[inlet_tests::test]
fn a_utf16_file_with_a_byte_order_mark() {
    let table = discover_table("utf16le.csv", json!({ "encoding": "utf-16le" }));
    assert_eq!(table["row_estimate"], 2);
    assert_columns(&table, &[col("id", "int64", "integer", false), text("label", false, Some(4))]);
}

#[inlet_tests::test]
fn a_malformed_row_is_a_protocol_error_naming_its_line() {
    for command in ["test", "discover"] {
        let outcome = run(command, &config("malformed.csv", json!({})));
        assert!(!outcome.success, "{command}: {}", outcome.json);
        assert_eq!(outcome.json["ok"], false);
        assert_eq!(outcome.error_kind(), Some("protocol"), "{command}: {}", outcome.json);
        assert_eq!(outcome.json["error"]["retryable"], false);
        // Line 6: after a quoted line break and a blank line.
        let message = outcome.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("line 6: 2 fields where the header has 3"), "{command}: {message}");
    }
    let outcome = run("test", &config("malformed.csv", json!({})));
    let steps = outcome.json["steps"].as_array().expect("steps");
    let last = steps.last().expect("the failed step");
    assert_eq!(last["name"], "parse sample");
    assert_eq!(last["passed"], false);
}

#[inlet_tests::test]
fn a_missing_file_is_not_found() {
    let outcome = run("test", &config("no_such_file.csv", json!({})));
    assert!(!outcome.success, "{}", outcome.json);
    assert_eq!(outcome.json["ok"], false);
    assert_eq!(outcome.error_kind(), Some("not_found"), "{}", outcome.json);
}

#[inlet_tests::test]
fn an_empty_file_fails_at_the_header() {
    let outcome = run("test", &config("empty.csv", json!({})));
    assert!(!outcome.success, "{}", outcome.json);
    assert_eq!(outcome.error_kind(), Some("protocol"), "{}", outcome.json);
    let steps = outcome.json["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["open file", "read header"]);
    assert_eq!(steps[1]["passed"], false);
}

#[inlet_tests::test]
fn configs_that_fail_the_schema_are_config_errors() {
    for extra in [
        json!({ "delimiter": "ab" }),
        json!({ "quote": "" }),
        json!({ "encoding": "ebcdic" }),
        json!({ "sample_rows": 0 }),
        json!({ "sample_rows": 100_001 }),
        json!({ "has_header": "yes" }),
        json!({ "null_values": "NA" }),
        json!({ "password": "not a field" }),
    ] {
        let outcome = run("test", &config("mixed.csv", extra.clone()));
        assert!(!outcome.success, "{extra}: {}", outcome.json);
        assert_eq!(outcome.json["ok"], false);
        assert_eq!(outcome.error_kind(), Some("config"), "{extra}: {}", outcome.json);
    }
    let outcome = run("test", &json!({ "delimiter": ";" }));
    assert_eq!(outcome.error_kind(), Some("config"), "no file_path: {}", outcome.json);
}

#[inlet_tests::test]
fn a_config_the_schema_allows_but_the_connector_refuses() {
    // One character, but not one byte: the parser splits on bytes.
    let outcome = run("test", &config("mixed.csv", json!({ "delimiter": "§" })));
    assert_eq!(outcome.error_kind(), Some("config"), "{}", outcome.json);
    let message = outcome.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ASCII"), "{message}");
}

#[inlet_tests::test]
fn a_directory_is_a_config_error() {
    let dir = workspace_root().join("tests/fixtures/csv");
    let outcome = run("test", &json!({ "file_path": dir.to_str().expect("UTF-8 path") }));
    assert!(!outcome.success, "{}", outcome.json);
    assert_eq!(outcome.error_kind(), Some("config"), "{}", outcome.json);
}

/// gzip made by Python's gzip module (two members, as `cat a.gz b.gz`
/// makes), read as it streams whatever the file is called.
#[inlet_tests::test]
fn gzip_files_are_discovered_like_plain_ones() {
    inlet_tests::require::tool("python3");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.csv.gz");
    let script = r#"
import csv, gzip, io, sys
def member(rows):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    return gzip.compress(text.getvalue().encode())
head = [("id", "kind", "score")] + [(i, "click" if i % 2 else "view", i / 4) for i in range(60000)]
tail = [(i, "view", i / 4) for i in range(60000, 100000)]
open(sys.argv[1], "wb").write(member(head) + member(tail))
"#;
    let status = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).status().expect("python3");
    assert!(status.success());
    for extra in [json!({}), json!({ "compression": "gzip" })] {
        let mut config = json!({ "file_path": path.to_str().expect("UTF-8 path") });
        config.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        let outcome = run("discover", &config);
        assert!(outcome.success, "{}\n{}", outcome.json, outcome.stderr);
        let table = &outcome.json["schemas"][0]["tables"][0];
        assert_eq!(table["name"], "events");
        assert_eq!(table["row_estimate"], 100_000, "both members are read: {table}");
        let types: Vec<&str> =
            table["columns"].as_array().expect("columns").iter().filter_map(|c| c["data_type"].as_str()).collect();
        assert_eq!(types, ["int64", "string", "decimal"], "{table}");
    }
    let mut plain = json!({ "file_path": path.to_str().expect("UTF-8 path"), "compression": "none" });
    let outcome = run("test", &plain);
    assert!(!outcome.success, "gzip bytes read as text must fail: {}", outcome.json);
    plain["compression"] = json!("zip");
    assert!(!run("test", &plain).success, "an unknown compression is refused");
}

/// A 1 GiB file is counted exactly while the whole `inlet plugin exec`
/// process (host and connector) stays within a small, fixed memory budget:
/// the file is streamed, never held.
#[inlet_tests::test]
fn a_gigabyte_csv_is_counted_in_bounded_memory() {
    inlet_tests::require::tool("python3");
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.csv");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("create"));
    let header = "id,customer,amount,placed_at,note\n";
    out.write_all(header.as_bytes()).expect("write");
    let mut rows = 0u64;
    let mut written = header.len() as u64;
    while written < 1 << 30 {
        let line = format!(
            "{rows},customer-{:06},{}.{:02},2026-11-27T10:{:02}:00Z,\"note, {rows}\"\n",
            rows % 997_331,
            rows % 10_000,
            rows % 100,
            rows % 60
        );
        out.write_all(line.as_bytes()).expect("write");
        written += line.len() as u64;
        rows += 1;
    }
    out.flush().expect("flush");
    drop(out);

    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, json!({ "file_path": path.to_str().expect("UTF-8 path") }).to_string())
        .expect("config");
    // Python reports the child's peak resident memory (ru_maxrss, KiB).
    let measure = "import resource, subprocess, sys\n\
        r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n\
        sys.stdout.write(r.stdout.decode())\n\
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
        sys.exit(r.returncode)";
    let started = std::time::Instant::now();
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(measure)
        .arg(inlet_tests::inlet_bin())
        .args(["plugin", "exec"])
        .arg(plugin_dir("csv"))
        .args(["--type", "csv", "--config"])
        .arg(&config_path)
        .arg("discover")
        .env("INLET_DATA_DIR", workspace_root().join("target/test-data"))
        .output()
        .expect("run python3");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "discover failed: {}\n{stderr}", String::from_utf8_lossy(&output.stdout));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let table = &json["schemas"][0]["tables"][0];
    assert_eq!(table["row_estimate"], rows, "every row counted: {table}");
    assert_eq!(table["size_bytes"], written, "{table}");
    let peak_kib: u64 = stderr.lines().last().and_then(|l| l.trim().parse().ok()).expect("peak RSS");
    eprintln!("1 GiB CSV: {rows} rows in {elapsed:?}, peak RSS {} MiB", peak_kib >> 10);
    assert!(peak_kib < 200 << 10, "peak RSS {} MiB: the file must be streamed", peak_kib >> 10);
}

/// Preview through the API with the wasm connector: values typed as
/// discovery types them (decimals at their scale, dates, timestamps with and
/// without a zone), NULL apart from the empty string, a column subset in the
/// order asked, and unknown objects or columns `not_found`.
#[inlet_tests::test]
fn preview_through_the_api_types_values_as_discovered() {
    use inlet_tests::server::{Backend, Inlet};
    // Under the temp dir, one of the test servers' files roots.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("prices.csv");
    std::fs::write(
        &file,
        "id,price,ok,day,at,at_tz,name\n\
         1,9.99,yes,2024-02-29,2024-01-05 10:20:30.5,2024-01-05T10:20:30+02:00,ada\n\
         2,NULL,f,NULL,2024-01-05,2024-01-05T08:20:30Z,\n\
         3,12.5,true,1969-12-31,2024-01-06T00:00:01,NULL,NULL\n",
    )
    .expect("write the file");
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "prices", "type": "csv",
        "config": { "file_path": file.to_str().expect("utf-8 path"), "null_values": ["NULL"] },
        "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}");

    let preview = api.get(&format!("{path}/preview?schema=default&table=prices&limit=3")).expect(200).json();
    let types: Vec<&str> =
        preview["columns"].as_array().expect("columns").iter().filter_map(|c| c["data_type"].as_str()).collect();
    assert_eq!(types, ["int64", "decimal", "boolean", "date", "timestamp", "timestamp-tz", "string"], "{preview}");
    assert_eq!(
        (preview["columns"][1]["precision"].clone(), preview["columns"][1]["scale"].clone()),
        (json!(4), json!(2))
    );
    assert_eq!(
        preview["rows"],
        json!([
            [1, "9.99", true, "2024-02-29", "2024-01-05T10:20:30.500000", "2024-01-05T08:20:30.000000Z", "ada"],
            [2, null, false, null, "2024-01-05T00:00:00.000000", "2024-01-05T08:20:30.000000Z", ""],
            [3, "12.50", true, "1969-12-31", "2024-01-06T00:00:01.000000", null, null]
        ])
    );
    let subset =
        api.get(&format!("{path}/preview?schema=default&table=prices&columns=name,id&limit=2")).expect(200).json();
    assert_eq!(subset["rows"], json!([["ada", 1], ["", 2]]));
    api.get(&format!("{path}/preview?schema=default&table=nope")).expect_error(422, "not_found");
    api.get(&format!("{path}/preview?schema=default&table=prices&columns=nope")).expect_error(422, "not_found");
}
