//! What the file connectors' tests (json, csv, parquet, excel) share: the
//! config for a file, running `inlet plugin exec` on the plugin, checking the
//! `discover` envelope, and comparing columns field by field.

use std::path::Path;

use serde_json::{Value, json};

use crate::{ExecOutcome, catalog, exec, plugin_dir};

/// One file connector: what differs between them in the shared checks.
pub struct FileConnector {
    /// The plugin's directory under `target/plugins`.
    pub plugin: &'static str,
    /// The source type passed as `--type`.
    pub source_type: &'static str,
    /// The `kind` every discovered table has.
    pub table_kind: &'static str,
    /// Whether every discovered table must have `constraints: []`.
    pub empty_constraints: bool,
}

impl FileConnector {
    /// Runs `inlet plugin exec` with `command` and `config` (no secrets).
    pub fn run(&self, command: &str, config: &Value) -> ExecOutcome {
        exec(&plugin_dir(self.plugin), self.source_type, config, None, command, &[])
    }

    /// Runs `test` and checks that it succeeded with every step passed and
    /// timed; returns the outcome for the connector's own checks.
    #[track_caller]
    pub fn test_passes(&self, config: &Value) -> ExecOutcome {
        let outcome = self.run("test", config);
        let json = &outcome.json;
        assert!(outcome.success, "{json}\n{}", outcome.stderr);
        let steps = json["steps"].as_array().expect("steps");
        assert!(steps.iter().all(|s| s["passed"] == true && s["duration_us"].is_u64()), "{json}");
        outcome
    }

    /// Runs `discover` and checks the envelope: success, `ok`, one schema
    /// named "default", and every table of the connector's kind (and, when
    /// the connector promises it, without constraints).
    #[track_caller]
    pub fn discover(&self, config: &Value) -> ExecOutcome {
        let outcome = self.run("discover", config);
        assert!(outcome.success, "discover failed: {}\n{}", outcome.json, outcome.stderr);
        let json = &outcome.json;
        assert_eq!(json["ok"], true, "{json}");
        let schemas = json["schemas"].as_array().expect("schemas");
        assert_eq!(schemas.len(), 1, "{json}");
        assert_eq!(schemas[0]["name"], "default");
        for table in catalog::tables(&outcome, "default") {
            assert_eq!(table["kind"], self.table_kind, "{table}");
            if self.empty_constraints {
                assert_eq!(table["constraints"], json!([]), "{table}");
            }
        }
        outcome
    }

    /// Runs `discover` (see [`Self::discover`]) and returns the one table;
    /// checks its `size_bytes` when `size` is given.
    #[track_caller]
    pub fn discover_one(&self, config: &Value, size: Option<u64>) -> Value {
        let outcome = self.discover(config);
        let table = only_table(&outcome);
        if let Some(size) = size {
            assert_eq!(table["size_bytes"], size, "size_bytes");
        }
        table
    }
}

/// The one table of a discovered catalog; panics unless there is exactly one.
#[track_caller]
pub fn only_table(outcome: &ExecOutcome) -> Value {
    let tables = catalog::tables(outcome, "default");
    assert_eq!(tables.len(), 1, "{}", outcome.json);
    tables[0].clone()
}

/// A config for the fixture `name` in `dir`, with `extra` options merged in.
pub fn config(dir: &Path, name: &str, extra: Value) -> Value {
    let mut config = json!({ "file_path": dir.join(name).to_str().expect("UTF-8 path") });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// The size of a fixture file in bytes.
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).expect("fixture").len()
}

/// The column fields the connector fills in (besides name and ordinal).
pub struct Col {
    pub name: &'static str,
    pub data_type: &'static str,
    pub native_type: &'static str,
    pub nullable: bool,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub comment: Option<&'static str>,
}

pub const fn col(name: &'static str, data_type: &'static str, native_type: &'static str, nullable: bool) -> Col {
    Col { name, data_type, native_type, nullable, max_length: None, precision: None, scale: None, comment: None }
}

pub const fn noted(column: Col, comment: &'static str) -> Col {
    Col { comment: Some(comment), ..column }
}

/// Compares every field of every column, naming the column and field that differ.
#[track_caller]
pub fn assert_columns(table: &Value, expected: &[Col]) {
    let columns = table["columns"].as_array().expect("columns");
    let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    let wanted: Vec<&str> = expected.iter().map(|c| c.name).collect();
    assert_eq!(names, wanted, "column names of {}", table["name"]);
    for (i, (actual, want)) in columns.iter().zip(expected).enumerate() {
        let fields = [
            ("ordinal", json!(i + 1)),
            ("data_type", json!(want.data_type)),
            ("native_type", json!(want.native_type)),
            ("nullable", json!(want.nullable)),
            ("default_value", Value::Null),
            ("max_length", json!(want.max_length)),
            ("precision", json!(want.precision)),
            ("scale", json!(want.scale)),
            ("comment", json!(want.comment)),
        ];
        for (field, value) in fields {
            let got = actual.get(field).unwrap_or_else(|| panic!("column {} has no `{field}`: {actual}", want.name));
            assert_eq!(got, &value, "column {} field {field}", want.name);
        }
    }
}

/// Checks a failed run: exit code 1, the error kind, and a part of its message.
#[track_caller]
pub fn assert_fails(outcome: &ExecOutcome, kind: &str, message_part: &str) {
    assert!(!outcome.success, "expected a failure: {}", outcome.json);
    assert_eq!(outcome.code, Some(1), "{}", outcome.json);
    assert_eq!(outcome.error_kind(), Some(kind), "{}", outcome.json);
    let message = outcome.json.pointer("/error/message").and_then(Value::as_str).unwrap_or_default();
    assert!(message.contains(message_part), "message {message:?} lacks {message_part:?}");
}
