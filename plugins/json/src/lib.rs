//! The JSON file connector: one file — a top-level array of objects, or
//! NDJSON (one object per line) — read through the sandbox's read-only
//! `/data` preopen and described as one object of kind `file`. Nested
//! objects become dotted columns; column types come from `inlet-infer`.
//!
//! - `config` — the options and their checks
//! - `source` — opening the file, telling array from NDJSON
//! - `split` — the top-level array, element by element
//! - `lines` — NDJSON, line by line
//! - `records` — either layout as a stream of records
//! - `record` — one record observed or checked, errors placed in the file
//! - `walk` — serde_json's events into the shape, without a value tree
//! - `shape` — the keys seen and what each held
//! - `columns` — the shape as flattened, typed columns
//! - `scan` — one pass: sample and exact count
//! - `preview` — the first records, typed as the sample types them

mod columns;
mod config;
mod lines;
mod preview;
mod record;
mod records;
mod scan;
mod shape;
mod source;
mod split;
mod walk;

use inlet_sdk::file::{FileConnector, FileSource, FileTarget, discover_one_table, open_step};
use inlet_sdk::prelude::*;

use crate::config::Config;
use crate::scan::{Extent, Scan};

/// The connector: the file is opened again for every call, so that a
/// pooled connection sees the file as it is now.
pub type Json = FileConnector<Config>;

impl FileSource for Config {
    fn target(&self) -> &FileTarget {
        &self.target
    }

    fn connect(&self, steps: &mut Steps) -> Result<(), ConnectorError> {
        let file = open_step(steps, || source::open(self))?;
        let layout = steps.run("detect format", || source::detect(self, file).map(|source| source.layout))?;
        steps.annotate_last(layout.name());
        Ok(())
    }

    fn test(&self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let scan = steps.run("parse first record", || scan::scan(self, open_file(self)?, Extent::First))?;
        steps.annotate_last(match scan.sampled {
            0 => format!("{}: no records", scan.layout.name()),
            _ => format!(
                "{}: the first record has {}",
                scan.layout.name(),
                plural(scan.shape.root.entries.len() as u64, "key")
            ),
        });
        // A file has no server.
        Ok(None)
    }

    fn discover(&self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        let name = self.table_name();
        // Only a page that holds the file costs a pass over it.
        discover_one_table(request, name.clone(), || {
            let (file, size) = source::open(self)?;
            let scan = scan::scan(self, file, Extent::Count)?;
            Ok(describe(name, size, &scan))
        })
    }

    fn preview(&self, request: &PreviewRequest) -> Result<preview::Preview, ConnectorError> {
        preview::preview(self, request)
    }
}

fn open_file(config: &Config) -> Result<std::fs::File, ConnectorError> {
    source::open(config).map(|(file, _)| file)
}

fn describe(name: String, size: u64, scan: &Scan) -> Table {
    TableBuilder::new(name, ObjectKind::File)
        .columns(columns::columns(&scan.shape))
        .comment(Some(format!(
            "{}; column types inferred from the first {}",
            scan.layout.name(),
            plural(scan.sampled, "record")
        )))
        .row_estimate(scan.rows)
        .size_bytes(Some(size))
        .build()
}

// Natively the exports only break the cdylib link (the linker's version
// script rejects the component-model symbol names), and nothing calls them.
inlet_sdk::export_connector!(Json);

#[cfg(test)]
mod tests {

    use super::*;
    use inlet_sdk::testing::write_file;

    fn request(config: serde_json::Value) -> ConnectRequest {
        inlet_sdk::testing::connect_request("json", &config)
    }

    fn discover_request(token: Option<&str>, exclude: &[&str]) -> DiscoverRequest {
        inlet_sdk::testing::discover_request(token, exclude, 100)
    }

    #[test]
    fn connect_test_and_discover_an_array_file() {
        let dir = tempfile::tempdir().unwrap();
        let text = br#"[{"id":1,"user":{"name":"a"},"tags":["x"]},{"id":2,"user":{"name":"b","age":3}}]"#;
        let path = write_file(dir.path(), "users.json", text);
        let mut steps = Steps::new();
        let mut connection = Json::connect(&request(serde_json::json!({ "file_path": path })), &mut steps).unwrap();
        let names: Vec<_> = steps.as_slice().iter().map(|s| (s.name.as_str(), s.passed)).collect();
        assert_eq!(names, [("open file", true), ("detect format", true)]);
        assert_eq!(steps.as_slice()[1].message.as_deref(), Some("JSON array"));

        let mut steps = Steps::new();
        assert_eq!(connection.test(&mut steps).unwrap(), None);
        assert_eq!(steps.as_slice()[0].name, "parse first record");
        assert_eq!(steps.as_slice()[0].message.as_deref(), Some("JSON array: the first record has 3 keys"));

        let page = connection.discover(&discover_request(None, &[])).unwrap();
        assert_eq!(page.schemas.len(), 1);
        let table = &page.schemas[0].tables[0];
        assert_eq!((table.name.as_str(), table.kind), ("users", ObjectKind::File));
        assert_eq!((table.row_estimate, table.size_bytes), (Some(2), Some(text.len() as u64)));
        let columns: Vec<_> =
            table.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.nullable)).collect();
        assert_eq!(
            columns,
            [
                ("id", "int64", false),
                ("user.name", "string", false),
                ("user.age", "int64", true),
                ("tags", "array", true)
            ]
        );
        assert_eq!(table.comment.as_deref(), Some("JSON array; column types inferred from the first 2 records"));
    }

    #[test]
    fn discover_honours_the_table_name_exclusions_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "a.ndjson", b"{\"x\":1}\n");
        let config = serde_json::json!({ "file_path": path, "table_name": "events" });
        let mut connection = Json::connect(&request(config), &mut Steps::new()).unwrap();
        let page = connection.discover(&discover_request(None, &[])).unwrap();
        assert_eq!(page.schemas[0].tables[0].name, "events");
        assert!(connection.discover(&discover_request(None, &["default"])).unwrap().schemas.is_empty());
        assert!(connection.discover(&discover_request(Some("1"), &[])).unwrap().schemas.is_empty());
    }

    #[test]
    fn connect_failures_name_their_step() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        let mut steps = Steps::new();
        let error = Json::connect(&request(serde_json::json!({ "file_path": missing })), &mut steps).err().unwrap();
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(steps.as_slice().len(), 1);

        let empty = write_file(dir.path(), "empty.json", b"\n");
        let mut steps = Steps::new();
        let error = Json::connect(&request(serde_json::json!({ "file_path": empty })), &mut steps).err().unwrap();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert_eq!(steps.as_slice()[1].name, "detect format");
        assert!(!steps.as_slice()[1].passed);

        let error =
            Json::connect(&request(serde_json::json!({ "file_path": dir.path() })), &mut Steps::new()).err().unwrap();
        assert_eq!(error.kind, ErrorKind::Config);
    }

    #[test]
    fn a_malformed_first_record_fails_the_test() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "bad.ndjson", b"\n{\"a\": nope}\n");
        let mut connection =
            Json::connect(&request(serde_json::json!({ "file_path": path })), &mut Steps::new()).unwrap();
        let mut steps = Steps::new();
        let error = connection.test(&mut steps).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.starts_with("line 2, column 8: invalid JSON"), "{}", error.message);
        assert!(!steps.as_slice()[0].passed);
    }
}
