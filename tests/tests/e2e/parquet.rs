//! The Parquet connector end to end: fixtures are written at test time by
//! pyarrow (`tests/fixtures/parquet/make.py`) into a temporary directory;
//! `inlet plugin exec` loads the built component from `target/plugins/parquet`,
//! grants it the file's (or folder's) directory read-only, and prints what
//! `test` and `discover` return; preview goes through the server's API.
//!
//! Needs `target/release/inlet`, `target/plugins/parquet` (`cargo xtask build`),
//! `python3` and pyarrow (`.ci/run` installs it). Without pyarrow the tests
//! are reported as ignored, or fail under `INLET_REQUIRE_SERVICES=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use inlet_tests::file_connector::{Col, FileConnector, assert_columns, assert_fails, col, config, file_size, noted};
use inlet_tests::server::{Backend, Inlet};
use inlet_tests::{ExecOutcome, inlet_bin, plugin_dir, require, workspace_root};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Runs `make.py` into a fresh directory; requires python3 and pyarrow.
fn fixtures(big_mib: Option<u32>) -> TempDir {
    require::tool("python3");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut make = Command::new("python3");
    make.arg(workspace_root().join("tests/fixtures/parquet/make.py")).arg(dir.path());
    if let Some(mib) = big_mib {
        make.arg("--big-mib").arg(mib.to_string());
    }
    let output = make.output().expect("run make.py");
    // make.py exits with 3 when it cannot import pyarrow.
    require::that(output.status.code() != Some(3), "pyarrow for python3 (python3 -m pip install pyarrow)");
    assert!(output.status.success(), "make.py failed: {}", String::from_utf8_lossy(&output.stderr));
    dir
}

const PARQUET: FileConnector =
    FileConnector { plugin: "parquet", source_type: "parquet", table_kind: "file", empty_constraints: true };

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn run(command: &str, config: &Value) -> ExecOutcome {
    PARQUET.run(command, config)
}

/// Runs `discover` and returns the one table, after checking the envelope.
fn discover_table(dir: &Path, name: &str, extra: Value) -> Value {
    PARQUET.discover_one(&config(dir, name, extra), None)
}

const fn decimal(column: Col, precision: u32, scale: u32) -> Col {
    Col { precision: Some(precision), scale: Some(scale), ..column }
}

#[inlet_tests::test]
fn test_reads_the_first_footer_only() {
    let dir = fixtures(None);
    let outcome = PARQUET.test_passes(&config(dir.path(), "types.parquet", json!({})));
    let json = &outcome.json;
    // The writer stands in for a server version.
    let writer = json["server_version"].as_str().expect("created_by");
    assert!(writer.starts_with("parquet-cpp-arrow version "), "{writer}");
    let steps = json["steps"].as_array().expect("steps");
    let last = steps.last().expect("a step");
    assert_eq!(last["name"], "read footer");
    let message = last["message"].as_str().expect("message");
    assert!(message.starts_with("types.parquet: 28 columns, 3 rows, 1 row group ("), "{message}");
    if steps.len() == 2 {
        assert_eq!(steps[0]["name"], "list files");
        assert_eq!(steps[0]["message"], "one file");
    }
}

#[inlet_tests::test]
fn every_primitive_and_logical_type_maps() {
    let dir = fixtures(None);
    let table = discover_table(dir.path(), "types.parquet", json!({}));
    assert_eq!(table["name"], "types");
    assert_eq!(table["row_estimate"], 3);
    assert_eq!(table["size_bytes"], file_size(&path(dir.path(), "types.parquet")));
    let comment = table["comment"].as_str().expect("comment");
    assert!(
        comment.starts_with("Parquet file; 1 row group; compression SNAPPY; written by parquet-cpp-arrow version "),
        "{comment}"
    );
    assert_columns(
        &table,
        &[
            col("b", "boolean", "BOOLEAN", true),
            noted(col("i8", "int16", "INT32 (INT(8, signed))", true), "8-bit signed integer"),
            col("i16", "int16", "INT32 (INT(16, signed))", true),
            col("i32", "int32", "INT32", true),
            // Declared not-null in Arrow: REQUIRED in Parquet.
            col("i64", "int64", "INT64", false),
            col("u8", "uint8", "INT32 (INT(8, unsigned))", true),
            col("u16", "uint16", "INT32 (INT(16, unsigned))", true),
            col("u32", "uint32", "INT32 (INT(32, unsigned))", true),
            col("u64", "uint64", "INT64 (INT(64, unsigned))", true),
            noted(col("f16", "float32", "FIXED_LEN_BYTE_ARRAY(2) (FLOAT16)", true), "16-bit float"),
            col("f32", "float32", "FLOAT", true),
            col("f64", "float64", "DOUBLE", true),
            col("s", "string", "BYTE_ARRAY (STRING)", false),
            col("ls", "string", "BYTE_ARRAY (STRING)", true),
            col("bin", "binary", "BYTE_ARRAY", true),
            Col { max_length: Some(4), ..col("fixed", "binary", "FIXED_LEN_BYTE_ARRAY(4)", true) },
            decimal(col("dec_small", "decimal", "FIXED_LEN_BYTE_ARRAY(4) (DECIMAL(9,2))", true), 9, 2),
            decimal(col("dec_mid", "decimal", "FIXED_LEN_BYTE_ARRAY(8) (DECIMAL(18,4))", true), 18, 4),
            decimal(col("dec_big", "decimal", "FIXED_LEN_BYTE_ARRAY(16) (DECIMAL(38,10))", true), 38, 10),
            col("d", "date", "INT32 (DATE)", true),
            noted(col("t_ms", "time", "INT32 (TIME(MILLIS))", true), "time of day in milliseconds, local time"),
            noted(col("t_us", "time", "INT64 (TIME(MICROS))", true), "time of day in microseconds, local time"),
            noted(col("t_ns", "time", "INT64 (TIME(NANOS))", true), "time of day in nanoseconds, local time"),
            noted(
                col("ts_ms", "timestamp", "INT64 (TIMESTAMP(MILLIS))", true),
                "timestamp in milliseconds, local (not adjusted to UTC)",
            ),
            noted(
                col("ts_us_utc", "timestamp-tz", "INT64 (TIMESTAMP(MICROS, UTC))", true),
                "timestamp in microseconds, adjusted to UTC; Arrow time zone UTC",
            ),
            // Parquet keeps only "adjusted to UTC"; the zone's name comes from
            // the Arrow schema pyarrow leaves in the footer (`ARROW:schema`).
            noted(
                col("ts_ns_ny", "timestamp-tz", "INT64 (TIMESTAMP(NANOS, UTC))", true),
                "timestamp in nanoseconds, adjusted to UTC; Arrow time zone America/New_York",
            ),
            // Dictionary encoding is an encoding, not a type.
            col("dict", "string", "BYTE_ARRAY (STRING)", true),
            noted(col("nothing", "other", "INT32 (UNKNOWN)", true), "always null (UNKNOWN logical type)"),
        ],
    );
    // Format 1.0 has no unsigned 32-bit type: pyarrow widens it to INT64.
    let legacy = discover_table(dir.path(), "legacy.parquet", json!({ "table_name": "old" }));
    assert_eq!(legacy["name"], "old");
    assert_columns(
        &legacy,
        &[
            noted(col("i8", "int16", "INT32 (INT(8, signed))", true), "8-bit signed integer"),
            col("u32", "int64", "INT64", true),
            col("s", "string", "BYTE_ARRAY (STRING)", false),
            decimal(col("dec_small", "decimal", "FIXED_LEN_BYTE_ARRAY(4) (DECIMAL(9,2))", true), 9, 2),
            col("d", "date", "INT32 (DATE)", true),
            noted(
                col("ts_ms", "timestamp", "INT64 (TIMESTAMP(MILLIS))", true),
                "timestamp in milliseconds, local (not adjusted to UTC)",
            ),
        ],
    );
}

#[inlet_tests::test]
fn structs_flatten_and_lists_and_maps_are_described() {
    let dir = fixtures(None);
    let table = discover_table(dir.path(), "nested.parquet", json!({}));
    assert_eq!(table["row_estimate"], 2);
    assert_columns(
        &table,
        &[
            col("id", "int64", "INT64", false),
            col("address.city", "string", "BYTE_ARRAY (STRING)", true),
            col("address.geo.lat", "float64", "DOUBLE", true),
            col("address.geo.lon", "float64", "DOUBLE", true),
            // Required inside a required struct: not nullable.
            col("required_struct.a", "int32", "INT32", false),
            noted(col("tags", "array", "group (LIST)", true), "list<string>"),
            noted(col("points", "array", "group (LIST)", true), "list<struct<x: float64, y: float64>>"),
            noted(col("matrix", "array", "group (LIST)", true), "list<list<int32>>"),
            noted(col("attrs", "map", "group (MAP)", true), "map<string, int64>"),
            noted(col("fixed_list", "array", "group (LIST)", true), "list<int16>"),
            // Arrow's time zone, found for a field inside a struct too.
            noted(
                col("event.at", "timestamp-tz", "INT64 (TIMESTAMP(MILLIS, UTC))", true),
                "timestamp in milliseconds, adjusted to UTC; Arrow time zone Europe/Paris",
            ),
        ],
    );
}

#[inlet_tests::test]
fn row_groups_and_compression_codecs_are_reported() {
    let dir = fixtures(None);
    let table = discover_table(dir.path(), "row_groups.parquet", json!({}));
    assert_eq!(table["row_estimate"], 1000);
    let comment = table["comment"].as_str().expect("comment");
    assert!(comment.starts_with("Parquet file; 10 row groups; compression SNAPPY; "), "{comment}");
    for (file, codecs) in [
        ("codec_snappy.parquet", "SNAPPY"),
        ("codec_gzip.parquet", "GZIP"),
        ("codec_zstd.parquet", "ZSTD"),
        ("codec_none.parquet", "UNCOMPRESSED"),
        ("codec_mixed.parquet", "GZIP, UNCOMPRESSED, ZSTD"),
    ] {
        let table = discover_table(dir.path(), file, json!({}));
        assert_eq!(table["row_estimate"], 50, "{file}");
        assert_eq!(table["size_bytes"], file_size(&path(dir.path(), file)), "{file}");
        let comment = table["comment"].as_str().expect("comment");
        let expected = format!("Parquet file; 1 row group; compression {codecs}; written by ");
        assert!(comment.starts_with(&expected), "{file}: {comment}");
        assert_columns(
            &table,
            &[
                col("id", "int64", "INT64", true),
                col("name", "string", "BYTE_ARRAY (STRING)", true),
                col("value", "float64", "DOUBLE", true),
            ],
        );
    }
}

#[inlet_tests::test]
fn a_partitioned_folder_is_one_table() {
    let dir = fixtures(None);
    let sales = path(dir.path(), "sales");
    let mut files = Vec::new();
    for year in std::fs::read_dir(&sales).expect("sales") {
        let year = year.expect("entry").path();
        if year.is_dir() {
            for month in std::fs::read_dir(&year).expect("year") {
                files.push(month.expect("entry").path().join("part-0.parquet"));
            }
        }
    }
    assert_eq!(files.len(), 8);
    let total: u64 = files.iter().map(|f| file_size(f)).sum();
    // The host grants the folder itself, which the guest sees as `/data`.
    let table = discover_table(dir.path(), "sales", json!({}));
    assert_eq!(table["name"], "data");
    let table = discover_table(dir.path(), "sales", json!({ "table_name": "sales" }));
    assert_eq!(table["name"], "sales");
    assert_eq!(table["row_estimate"], 12);
    assert_eq!(table["size_bytes"], total);
    let comment = table["comment"].as_str().expect("comment");
    assert!(
        comment.starts_with("8 Parquet files partitioned by year, month; 8 row groups; compression SNAPPY; "),
        "{comment}"
    );
    assert_columns(
        &table,
        &[
            col("order_id", "int64", "INT64", true),
            decimal(col("amount", "decimal", "FIXED_LEN_BYTE_ARRAY(5) (DECIMAL(10,2))", true), 10, 2),
            noted(
                col("year", "int64", "partition (integer)", false),
                "Hive partition column from `year=…` folders; 2 distinct values",
            ),
            // Folder names are text: "01" … "12" read as integers, as in CSV.
            noted(
                col("month", "int64", "partition (integer)", false),
                "Hive partition column from `month=…` folders; 4 distinct values",
            ),
        ],
    );
    let outcome = run("test", &config(dir.path(), "sales", json!({})));
    assert!(outcome.success, "{}", outcome.json);
    assert_eq!(outcome.json["steps"][0]["message"], "8 Parquet files in the folder");
    // `max_files` bounds how many footers a folder may cost.
    let outcome = run("discover", &config(dir.path(), "sales", json!({ "max_files": 4 })));
    assert_fails(&outcome, "config", "more than 4 `.parquet` files");
    // Files whose schemas disagree are not one table.
    let outcome = run("discover", &config(dir.path(), "mixed", json!({})));
    assert_fails(&outcome, "protocol", "the files' schemas disagree: b.parquet has column `label` where `name`");
}

#[inlet_tests::test]
fn broken_and_foreign_files_fail_clearly() {
    let dir = fixtures(None);
    let cases = [
        ("truncated.parquet", "protocol", "truncated.parquet does not end with `PAR1`: the file is truncated"),
        ("corrupt_footer.parquet", "protocol", "corrupt_footer.parquet: malformed Parquet footer"),
        ("bad_length.parquet", "protocol", "bad_length.parquet claims a footer of"),
        ("not_parquet.parquet", "protocol", "not_parquet.parquet is not a Parquet file"),
    ];
    for (name, kind, message) in cases {
        assert_fails(&run("discover", &config(dir.path(), name, json!({}))), kind, message);
        let outcome = run("test", &config(dir.path(), name, json!({})));
        assert_fails(&outcome, kind, message);
        let steps = outcome.json["steps"].as_array().expect("steps");
        let last = steps.last().expect("a step");
        assert_eq!((last["name"].as_str(), last["passed"].as_bool()), (Some("read footer"), Some(false)));
    }
    assert_fails(&run("test", &config(dir.path(), "none.parquet", json!({}))), "not_found", "none.parquet");
    for extra in [json!({ "max_files": 0 }), json!({ "table_name": "" }), json!({ "delimiter": "," })] {
        let outcome = run("test", &config(dir.path(), "types.parquet", extra.clone()));
        assert_eq!(outcome.error_kind(), Some("config"), "{extra}: {}", outcome.json);
    }
}

/// Runs `inlet plugin exec … discover` under `/usr/bin/time -v`: the table,
/// the peak resident set of the process in KiB, and the wall time.
fn discover_measured(config: &Value) -> (Value, u64, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).expect("write config");
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(inlet_bin())
        .args(["plugin", "exec"])
        .arg(plugin_dir("parquet"))
        .args(["--type", "parquet", "--config"])
        .arg(&config_path)
        .arg("discover")
        .env("INLET_DATA_DIR", workspace_root().join("target/test-data"))
        .output()
        .expect("run /usr/bin/time");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "discover failed:\n{}\n{stderr}", String::from_utf8_lossy(&output.stdout));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let rss = stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in /usr/bin/time's output:\n{stderr}"));
    (json["schemas"][0]["tables"][0].clone(), rss, elapsed)
}

#[inlet_tests::test]
fn a_huge_file_costs_no_more_than_a_small_one() {
    require::tool("/usr/bin/time");
    // 300 one-MiB rows, uncompressed: a 300 MiB file whose footer is a few KiB.
    let dir = fixtures(Some(300));
    let big = path(dir.path(), "big_blob.parquet");
    assert!(file_size(&big) > 300 << 20, "the big fixture is only {} bytes", file_size(&big));
    let small_config = config(dir.path(), "small_blob.parquet", json!({}));
    let big_config = config(dir.path(), "big_blob.parquet", json!({}));
    // Once to fill the compiled-component cache.
    discover_measured(&small_config);
    let (small, small_rss, small_time) = discover_measured(&small_config);
    let (table, big_rss, big_time) = discover_measured(&big_config);
    eprintln!(
        "peak RSS: {small_rss} KiB for {} bytes, {big_rss} KiB for {} bytes; wall time {small_time:?} vs {big_time:?}",
        file_size(&path(dir.path(), "small_blob.parquet")),
        file_size(&big)
    );
    assert_eq!(small["row_estimate"], 1);
    assert_eq!(table["row_estimate"], 300);
    assert_eq!(table["size_bytes"], file_size(&big));
    assert!(
        table["comment"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Parquet file; 19 row groups; compression UNCOMPRESSED"),
        "{}",
        table["comment"]
    );
    assert!(big_rss < 100 * 1024, "discovering a 300 MiB file peaked at {big_rss} KiB");
    assert!(big_rss < small_rss + 16 * 1024, "{big_rss} KiB for the big file, {small_rss} KiB for the small one");
    assert!(big_time < small_time + Duration::from_secs(2), "{big_time:?} vs {small_time:?}");
}

#[inlet_tests::test]
fn preview_through_the_api_reads_typed_rows() {
    let dir = fixtures(None);
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let source = |name: &str, file: &str| {
        let created = api.create(&json!({
            "name": name, "type": "parquet", "config": { "file_path": path(dir.path(), file) },
            "health_check_interval_s": 3600
        }));
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(api.wait_settled(&id)["status"], "active");
        format!("/api/v1/data-sources/{id}")
    };

    let types = source("types", "types.parquet");
    let preview = api
        .get(&format!(
            "{types}/preview?schema=default&table=types&columns=i64,s,dec_big,d,bin,f32,ts_ms,ts_ns_ny&limit=2"
        ))
        .expect(200)
        .json();
    let columns: Vec<(&str, &str)> = preview["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["data_type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [
            ("i64", "int64"),
            ("s", "string"),
            ("dec_big", "decimal"),
            ("d", "date"),
            ("bin", "binary"),
            ("f32", "float32"),
            ("ts_ms", "timestamp"),
            ("ts_ns_ny", "timestamp-tz")
        ],
        "{preview}"
    );
    let zoned = &preview["columns"][7];
    assert_eq!(
        (zoned["time_unit"].clone(), zoned["time_zone"].clone()),
        (json!("nanosecond"), json!("America/New_York"))
    );
    assert_eq!(
        (preview["columns"][2]["precision"].clone(), preview["columns"][2]["scale"].clone()),
        (json!(38), json!(10))
    );
    assert_eq!(
        preview["rows"],
        json!([
            [
                10,
                "a",
                "1.0000000001",
                "2024-02-29",
                "AAE=",
                1.5,
                "2024-01-02T03:04:05.000",
                "2024-01-02T03:04:05.000000000Z"
            ],
            [20, "bé", null, null, null, null, null, null]
        ])
    );

    let nested = source("nested", "nested.parquet");
    let preview = api
        .get(&format!("{nested}/preview?schema=default&table=nested&columns=address.city,tags,attrs&limit=5"))
        .expect(200)
        .json();
    assert_eq!(preview["rows"], json!([["Paris", ["a", "b"], {"k": 1}], [null, null, null]]));
    api.get(&format!("{nested}/preview?schema=default&table=nested&columns=nope")).expect_error(422, "not_found");
    api.get(&format!("{nested}/preview?schema=default&table=other")).expect_error(422, "not_found");

    let zstd = source("zstd", "codec_zstd.parquet");
    api.get(&format!("{zstd}/preview?schema=default&table=codec_zstd&limit=5")).expect_error(422, "unsupported");
}
