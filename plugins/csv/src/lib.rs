//! The CSV file connector: one file, read through the sandbox's read-only
//! `/data` preopen, described as one object of kind `file` whose column types
//! are inferred from a sample of its rows.
//!
//! - `config` — the options and their checks
//! - `decode` — the file's encoding to UTF-8, streaming
//! - `scan` — header, sample and row count over one pass
//! - `preview` — the first rows, typed as the sample types them

mod config;
mod decode;
mod preview;
mod scan;

use inlet_sdk::file::{FileConnector, FileSource, FileTarget, discover_one_table, open_step};
use inlet_sdk::prelude::*;

use crate::config::Config;
use crate::scan::{Extent, HeaderColumn, Scan};

/// The connector: the file is opened again for every call, so that a
/// pooled connection sees the file as it is now.
pub type Csv = FileConnector<Config>;

impl FileSource for Config {
    fn target(&self) -> &FileTarget {
        &self.target
    }

    fn table_name(&self) -> String {
        table_name(&self.target.path)
    }

    fn connect(&self, steps: &mut Steps) -> Result<(), ConnectorError> {
        open_step(steps, || scan::open(self))?;
        let columns = steps.run("read header", || scan::read_header(self, || open_file(self)))?;
        steps.annotate_last(plural(columns.len() as u64, "column"));
        Ok(())
    }

    fn test(&self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let scan = steps.run("parse sample", || scan::scan(self, || open_file(self), Extent::Sample))?;
        steps.annotate_last(format!(
            "{} of {} parsed",
            plural(scan.sampled, "row"),
            plural(scan.columns.len() as u64, "column")
        ));
        // A file has no server.
        Ok(None)
    }

    fn discover(&self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        let name = self.table_name();
        // Only a page that holds the file costs a pass over it.
        discover_one_table(request, name.clone(), || {
            let (_, size) = scan::open(self)?;
            let scan = scan::scan(self, || open_file(self), Extent::Count)?;
            Ok(describe(name, size, &scan))
        })
    }

    fn preview(&self, request: &PreviewRequest) -> Result<preview::Preview, ConnectorError> {
        preview::preview(self, request)
    }
}

fn open_file(config: &Config) -> Result<Box<dyn std::io::Read>, ConnectorError> {
    let (file, _) = scan::open(config)?;
    scan::decompressed(config, file)
}

/// The object is named after the file without its extension (`.csv.gz`
/// counts as one).
fn table_name(path: &str) -> String {
    let path = path.strip_suffix(".gz").or_else(|| path.strip_suffix(".GZ")).unwrap_or(path);
    inlet_sdk::file::file_stem(path)
}

fn describe(name: String, size: u64, scan: &Scan) -> Table {
    let columns = scan
        .columns
        .iter()
        .zip(&scan.stats)
        .enumerate()
        .map(|(i, (header, stats))| column(u32::try_from(i + 1).unwrap_or(u32::MAX), header, &stats.infer()));
    TableBuilder::new(name, ObjectKind::File)
        .columns(columns)
        .comment(Some(format!("column types inferred from the first {}", plural(scan.sampled, "row"))))
        .row_estimate(scan.rows)
        .size_bytes(Some(size))
        .build()
}

pub(crate) fn column(ordinal: u32, header: &HeaderColumn, inferred: &inlet_infer::Inferred) -> Column {
    ColumnBuilder::new(header.name.clone(), ordinal, inferred.data_type, inferred.native_type.clone())
        .nullable(inferred.nullable)
        .max_length(inferred.max_length)
        .precision_scale(inferred.precision, inferred.scale)
        .comment(header.comment.clone())
        .build()
}

// Natively the exports only break the cdylib link (the linker's version
// script rejects the component-model symbol names), and nothing calls them.
inlet_sdk::export_connector!(Csv);

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use inlet_sdk::testing::write_file;

    fn request(config: serde_json::Value) -> ConnectRequest {
        inlet_sdk::testing::connect_request("csv", &config)
    }

    fn discover_request(token: Option<&str>, exclude: &[&str]) -> DiscoverRequest {
        inlet_sdk::testing::discover_request(token, exclude, 100)
    }

    #[test]
    fn connect_test_and_discover_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "orders.csv", b"id,total,when\n1,9.99,2024-01-01\n2,,2024-01-02 10:00:00\n");
        let mut steps = Steps::new();
        let mut connection = Csv::connect(&request(serde_json::json!({ "file_path": path })), &mut steps).unwrap();
        let names: Vec<_> = steps.as_slice().iter().map(|s| (s.name.as_str(), s.passed)).collect();
        assert_eq!(names, [("open file", true), ("read header", true)]);
        assert_eq!(steps.as_slice()[1].message.as_deref(), Some("3 columns"));

        let mut steps = Steps::new();
        assert_eq!(connection.test(&mut steps).unwrap(), None);
        assert_eq!(steps.as_slice()[0].name, "parse sample");
        assert_eq!(steps.as_slice()[0].message.as_deref(), Some("2 rows of 3 columns parsed"));

        let page = connection.discover(&discover_request(None, &[])).unwrap();
        assert_eq!(page.next_page_token, None);
        assert_eq!(page.schemas.len(), 1);
        assert_eq!(page.schemas[0].name, "default");
        let table = &page.schemas[0].tables[0];
        assert_eq!(table.name, "orders");
        assert_eq!(table.kind, ObjectKind::File);
        assert_eq!(table.row_estimate, Some(2));
        assert_eq!(table.size_bytes, Some(55));
        let types: Vec<_> = table.columns.iter().map(|c| (c.ordinal, c.data_type.as_str(), c.nullable)).collect();
        assert_eq!(types, [(1, "int64", false), (2, "decimal", true), (3, "timestamp", false)]);
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_is_read_as_it_streams_whatever_the_name() {
        let dir = tempfile::tempdir().unwrap();
        // Two gzip members back to back, as `cat a.gz b.gz` makes.
        let mut bytes = gzip(b"id,name\n1,ada\n");
        bytes.extend(gzip(b"2,grace\n3,linus\n"));
        for name in ["people.csv.gz", "people.data"] {
            let path = write_file(dir.path(), name, &bytes);
            let mut connection =
                Csv::connect(&request(serde_json::json!({ "file_path": path })), &mut Steps::new()).unwrap();
            let page = connection.discover(&discover_request(None, &[])).unwrap();
            let table = &page.schemas[0].tables[0];
            assert_eq!(table.name, "people", "{name}");
            assert_eq!(table.row_estimate, Some(3), "{name}");
            assert_eq!(table.size_bytes, Some(bytes.len() as u64), "the size on disk");
            let columns: Vec<_> = table.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
            assert_eq!(columns, [("id", "int64"), ("name", "string")]);
        }
        // Told it is plain text, the same bytes are not CSV text.
        let path = write_file(dir.path(), "x.csv", &bytes);
        let plain = serde_json::json!({ "file_path": path, "compression": "none" });
        assert!(Csv::connect(&request(plain), &mut Steps::new()).is_err());
        // A truncated gzip stream is an error, not a short count.
        let path = write_file(dir.path(), "cut.csv.gz", &bytes[..bytes.len() / 2]);
        let cut = serde_json::json!({ "file_path": path, "compression": "gzip" });
        match Csv::connect(&request(cut), &mut Steps::new()) {
            Err(_) => {}
            Ok(mut connection) => assert!(connection.discover(&discover_request(None, &[])).is_err()),
        }
    }

    #[test]
    fn discover_honours_exclusions_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "a.csv", b"x\n1\n");
        let mut connection =
            Csv::connect(&request(serde_json::json!({ "file_path": path })), &mut Steps::new()).unwrap();
        let excluded = connection.discover(&discover_request(None, &["default"])).unwrap();
        assert!(excluded.schemas.is_empty());
        let later = connection.discover(&discover_request(Some("1"), &[])).unwrap();
        assert!(later.schemas.is_empty());
        assert_eq!(later.next_page_token, None);
        let bad = connection.discover(&discover_request(Some("nope"), &[])).unwrap_err();
        assert_eq!(bad.kind, ErrorKind::Config);
    }

    #[test]
    fn connect_failures_name_their_step() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.csv");
        let mut steps = Steps::new();
        let error = Csv::connect(&request(serde_json::json!({ "file_path": missing })), &mut steps).err().unwrap();
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(steps.as_slice().len(), 1);
        assert!(!steps.as_slice()[0].passed);

        let empty = write_file(dir.path(), "empty.csv", b"");
        let mut steps = Steps::new();
        let error = Csv::connect(&request(serde_json::json!({ "file_path": empty })), &mut steps).err().unwrap();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert_eq!(steps.as_slice()[1].name, "read header");

        let error =
            Csv::connect(&request(serde_json::json!({ "file_path": dir.path() })), &mut Steps::new()).err().unwrap();
        assert_eq!(error.kind, ErrorKind::Config);
    }

    #[test]
    fn a_malformed_file_fails_the_test_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "bad.csv", b"a,b\n1,2\n3\n");
        let mut connection =
            Csv::connect(&request(serde_json::json!({ "file_path": path })), &mut Steps::new()).unwrap();
        let mut steps = Steps::new();
        let error = connection.test(&mut steps).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert_eq!(error.message, "line 3: 1 field where the header has 2");
        assert!(!steps.as_slice()[0].passed);
    }

    #[test]
    fn table_names_are_file_stems() {
        assert_eq!(table_name("/data/orders.2024.csv"), "orders.2024");
        assert_eq!(table_name("/data/plain"), "plain");
        assert_eq!(table_name("/"), "file");
    }
}
