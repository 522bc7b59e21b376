//! The Parquet connector: one file, or a folder of `.parquet` files that
//! together form one table (Hive-style `key=value/` partition folders
//! become columns), described from the footers alone. Discovery never reads
//! data pages: each file costs its first four bytes, its last eight and its
//! footer, so it takes the same time and memory for a kilobyte and a
//! terabyte. Preview reads pages only until it has its rows.
//!
//! - `config` — the options and their checks
//! - `footer` — reading one file's footer (decoded by the shared
//!   `inlet-parquet-meta`: Thrift compact decoder, `FileMetaData`, schema
//!   as columns — also used by the S3 connector)
//! - `dataset` — the file or folder as one table
//! - `preview` — the first rows, file after file (pages read by the shared
//!   `inlet_parquet_meta::preview`)

mod config;
mod dataset;
mod footer;
mod preview;

use inlet_sdk::file::{FileConnector, FileSource, FileTarget, discover_one_table};
use inlet_sdk::prelude::*;

use crate::config::Config;
use crate::dataset::Dataset;

/// The connector: files are listed and read again for every call, so that
/// a pooled connection sees them as they are now.
pub type Parquet = FileConnector<Config>;

impl FileSource for Config {
    fn target(&self) -> &FileTarget {
        &self.target
    }

    fn connect(&self, steps: &mut Steps) -> Result<(), ConnectorError> {
        let listing = steps.run("list files", || dataset::list(self))?;
        steps.annotate_last(if listing.folder {
            format!("{} in the folder", plural(listing.files.len() as u64, "Parquet file"))
        } else {
            "one file".to_owned()
        });
        Ok(())
    }

    fn test(&self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let footer = steps.run("read footer", || {
            let listing = dataset::list(self)?;
            let first = listing.files.first().ok_or_else(|| ConnectorError::not_found("no Parquet file"))?;
            let footer = footer::read_file(&first.path, &first.name)?;
            let columns = inlet_parquet_meta::schema::columns(&footer.meta.schema)
                .map_err(|error| ConnectorError::new(error.kind, format!("{}: {}", first.name, error.message)))?;
            Ok((first.name.clone(), footer, columns.len()))
        })?;
        let (name, footer, columns) = footer;
        steps.annotate_last(format!(
            "{name}: {}, {}, {} ({}-byte footer)",
            plural(columns as u64, "column"),
            plural(u64::try_from(footer.meta.num_rows).unwrap_or(0), "row"),
            plural(footer.meta.row_groups, "row group"),
            footer.footer_len
        ));
        // A file has no server; the writer is the closest thing to a version.
        Ok(footer.meta.created_by)
    }

    fn discover(&self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        let name = self.table_name();
        // Only a page that holds the table reads footers.
        discover_one_table(request, name.clone(), || {
            let listing = dataset::list(self)?;
            Ok(describe(name, dataset::read(&listing)?))
        })
    }

    fn preview(
        &self,
        request: &PreviewRequest,
    ) -> Result<Box<dyn Rows<inlet_sdk::file::FileConnection<Self>>>, ConnectorError> {
        preview::preview(self, request)
    }
}

/// The table comment: files and partitions, row groups, codecs, writer.
fn comment(dataset: &Dataset) -> String {
    let mut parts = Vec::new();
    if dataset.folder {
        let mut files = plural(dataset.files as u64, "Parquet file");
        if !dataset.partition_keys.is_empty() {
            files.push_str(&format!(" partitioned by {}", dataset.partition_keys.join(", ")));
        }
        parts.push(files);
    } else {
        parts.push("Parquet file".to_owned());
    }
    parts.push(plural(dataset.row_groups, "row group"));
    if !dataset.codecs.is_empty() {
        parts.push(format!("compression {}", dataset.codecs.iter().copied().collect::<Vec<_>>().join(", ")));
    }
    if dataset.row_group_rows != dataset.rows {
        parts.push(format!("the row groups hold {} rows", dataset.row_group_rows));
    }
    if !dataset.created_by.is_empty() {
        parts.push(format!("written by {}", dataset.created_by.iter().cloned().collect::<Vec<_>>().join(" / ")));
    }
    parts.join("; ")
}

fn describe(name: String, dataset: Dataset) -> Table {
    let comment = comment(&dataset);
    TableBuilder::new(name, ObjectKind::File)
        .columns(dataset.columns)
        .comment(Some(comment))
        .row_estimate(Some(dataset.rows))
        .size_bytes(Some(dataset.size))
        .build()
}

// Natively the exports only break the cdylib link (the linker's version
// script rejects the component-model symbol names), and nothing calls them.
inlet_sdk::export_connector!(Parquet);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use inlet_parquet_meta::testing::sample_footer;

    fn request(config: serde_json::Value) -> ConnectRequest {
        inlet_sdk::testing::connect_request("parquet", &config)
    }

    fn parquet_bytes(footer: &[u8]) -> Vec<u8> {
        let mut bytes = b"PAR1".to_vec();
        bytes.extend_from_slice(&[0; 64]);
        bytes.extend_from_slice(footer);
        bytes.extend_from_slice(&(footer.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"PAR1");
        bytes
    }

    fn write(path: &Path, bytes: &[u8]) -> String {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    #[test]
    fn a_file_connects_tests_and_discovers() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = parquet_bytes(&sample_footer());
        let path = write(&dir.path().join("trips.parquet"), &bytes);
        let mut steps = Steps::new();
        let mut connection = Parquet::connect(&request(serde_json::json!({ "file_path": path })), &mut steps).unwrap();
        assert_eq!(steps.as_slice()[0].name, "list files");
        let mut steps = Steps::new();
        assert_eq!(connection.test(&mut steps).unwrap().as_deref(), Some("hand-written"));
        let message = steps.as_slice()[0].message.clone().unwrap_or_default();
        assert!(message.starts_with("trips.parquet: 4 columns, 10 rows, 2 row groups"), "{message}");

        let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap();
        let table = &page.schemas[0].tables[0];
        assert_eq!(table.name, "trips");
        assert_eq!((table.row_estimate, table.size_bytes), (Some(10), Some(bytes.len() as u64)));
        assert_eq!(
            table.comment.as_deref(),
            Some("Parquet file; 2 row groups; compression SNAPPY, ZSTD; written by hand-written")
        );
        let columns: Vec<_> =
            table.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.nullable)).collect();
        assert_eq!(
            columns,
            [
                ("id", "int64", false),
                ("name", "string", true),
                ("ts", "timestamp-tz", true),
                ("amount", "decimal", false)
            ]
        );
        assert!(
            connection.discover(&inlet_sdk::testing::discover_request(Some("1"), &[], 100)).unwrap().schemas.is_empty()
        );
    }

    #[test]
    fn a_partitioned_folder_is_one_table() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = parquet_bytes(&sample_footer());
        for part in
            ["year=2023/part-0.parquet", "year=2024/part-0.parquet", "year=__HIVE_DEFAULT_PARTITION__/p.parquet"]
        {
            write(&dir.path().join(part), &bytes);
        }
        write(&dir.path().join("_SUCCESS"), b"");
        write(&dir.path().join("year=2024/notes.txt"), b"not parquet");
        let config = serde_json::json!({ "file_path": dir.path(), "table_name": "trips" });
        let mut connection = Parquet::connect(&request(config), &mut Steps::new()).unwrap();
        let page = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap();
        let table = &page.schemas[0].tables[0];
        assert_eq!((table.row_estimate, table.size_bytes), (Some(30), Some(3 * bytes.len() as u64)));
        let year = table.columns.last().unwrap();
        assert_eq!(
            (year.name.as_str(), year.data_type.as_str(), year.nullable, year.ordinal),
            ("year", "int64", true, 5)
        );
        assert!(table.comment.as_deref().unwrap().starts_with("3 Parquet files partitioned by year; 6 row groups"));

        let config = serde_json::json!({ "file_path": dir.path(), "max_files": 2 });
        let error = Parquet::connect(&request(config), &mut Steps::new()).err().unwrap();
        assert_eq!(error.kind, ErrorKind::Config);
    }

    #[test]
    fn disagreeing_schemas_and_bad_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.parquet"), &parquet_bytes(&sample_footer()));
        let mut other = sample_footer();
        // Rename the first column `id` → `ix`.
        let at = other.windows(2).position(|w| w == b"id").unwrap();
        other[at + 1] = b'x';
        write(&dir.path().join("b.parquet"), &parquet_bytes(&other));
        let config = serde_json::json!({ "file_path": dir.path() });
        let mut connection = Parquet::connect(&request(config), &mut Steps::new()).unwrap();
        let error = connection.discover(&inlet_sdk::testing::discover_request(None, &[], 100)).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains("schemas disagree: b.parquet has column `ix`"), "{}", error.message);

        let csv = write(&dir.path().join("x.csv"), b"a,b\n1,2\n");
        let mut connection =
            Parquet::connect(&request(serde_json::json!({ "file_path": csv })), &mut Steps::new()).unwrap();
        let mut steps = Steps::new();
        let error = connection.test(&mut steps).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains("x.csv is not a Parquet file"), "{}", error.message);

        let empty = tempfile::tempdir().unwrap();
        let error = Parquet::connect(&request(serde_json::json!({ "file_path": empty.path() })), &mut Steps::new())
            .err()
            .unwrap();
        assert_eq!(error.kind, ErrorKind::NotFound);
        let missing = dir.path().join("none.parquet");
        let error =
            Parquet::connect(&request(serde_json::json!({ "file_path": missing })), &mut Steps::new()).err().unwrap();
        assert_eq!(error.kind, ErrorKind::NotFound);
    }
}
