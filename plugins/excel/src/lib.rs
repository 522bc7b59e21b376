//! The Excel connector: one workbook (xlsx, xls, xlsb or ods), read through
//! the sandbox's read-only `/data` preopen with `calamine`, described as one
//! table per worksheet whose header is detected and whose column types are
//! inferred (`inlet-infer`) from a sample of typed cells.
//!
//! - `config` — the options and their checks
//! - `workbook` — the size cap, the format, the sheets, cells as typed values
//! - `preview` — a sheet's first data rows, typed as discover types them
//! - `sheet` — header detection, column names, sampling and inference
//! - `xls_check` — what calamine's xls reader would panic on, refused first

mod config;
mod preview;
mod sheet;
mod workbook;
mod xls_check;

use inlet_sdk::file::{self, FileConnector, FileSource, FileTarget};
use inlet_sdk::paging::page_lazily;
use inlet_sdk::prelude::*;

use crate::config::Config;
use crate::sheet::{Scanner, SheetScan, cell_ref};
use crate::workbook::{Book, Format, SheetInfo, Visibility};

/// The connector: the file is opened again for every call, so that a
/// pooled connection sees the file as it is now.
pub type Excel = FileConnector<Config>;

impl FileSource for Config {
    fn target(&self) -> &FileTarget {
        &self.target
    }

    fn connect(&self, steps: &mut Steps) -> Result<(), ConnectorError> {
        let config = self;
        file::open_step(steps, || workbook::open_file(config))?;
        let (format, sheets) = steps.run("read workbook", || {
            let (book, format) = workbook::open_book(config)?;
            Ok((format, selected_sheets(config, &book)?))
        })?;
        steps.annotate_last(format!("{}: {}", format.name(), plural(sheets.len() as u64, "sheet")));
        Ok(())
    }

    fn test(&self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let config = self;
        let (format, scanned) = steps.run("read first sheet", || {
            let (mut book, format) = workbook::open_book(config)?;
            let sheets = selected_sheets(config, &book)?;
            let scanned = match sheets.first() {
                Some(sheet) => Some((sheet.name.clone(), scan(config, &mut book, sheet)?)),
                None => None,
            };
            Ok((format, scanned))
        })?;
        steps.annotate_last(match scanned {
            Some((name, scan)) => format!(
                "{}: sheet {name:?}, {} of {}",
                format.name(),
                plural(scan.rows, "row"),
                plural(scan.columns.len() as u64, "column")
            ),
            None => format!("{}: no worksheet", format.name()),
        });
        // A file has no server.
        Ok(None)
    }

    fn discover(&self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        let config = self;
        let (mut book, format) = workbook::open_book(config)?;
        let sheets = selected_sheets(config, &book)?;
        let count = sheets.len();
        // Only the sheets on this page are read.
        let stand_ins = sheets.iter().map(|sheet| TableBuilder::new(sheet.name.clone(), ObjectKind::Table).build());
        page_lazily(request, vec![(file::SCHEMA.to_owned(), stand_ins.collect())], |_, stand_in| {
            let Some((position, sheet)) = sheets.iter().enumerate().find(|(_, s)| s.name == stand_in.name) else {
                return Ok(stand_in);
            };
            let scan = scan(config, &mut book, sheet)?;
            Ok(describe(sheet, position, count, format, &scan))
        })
    }

    fn preview(&self, request: &PreviewRequest) -> Result<preview::Preview, ConnectorError> {
        preview::preview(self, request)
    }
}

/// The worksheets `sheets` selects, in workbook order; a name the workbook
/// does not have is a `not_found` error listing the ones it has.
fn selected_sheets(config: &Config, book: &Book) -> Result<Vec<SheetInfo>, ConnectorError> {
    let all = book.sheets();
    let Some(wanted) = &config.sheets else { return Ok(all) };
    if let Some(missing) = wanted.iter().find(|name| !all.iter().any(|sheet| &sheet.name == *name)) {
        let names: Vec<String> = all.iter().map(|sheet| format!("{:?}", sheet.name)).collect();
        return Err(ConnectorError::not_found(format!(
            "{} has no worksheet {missing:?} (it has {})",
            config.file_name(),
            if names.is_empty() { "none".to_owned() } else { names.join(", ") }
        )));
    }
    Ok(all.into_iter().filter(|sheet| wanted.contains(&sheet.name)).collect())
}

fn scan(config: &Config, book: &mut Book, sheet: &SheetInfo) -> Result<SheetScan, ConnectorError> {
    book.scan(&sheet.name, Scanner::new(config.header, config.sample_rows))
}

/// The table comment: where the sheet is, its used range, whether it is
/// hidden, where the header is, and what the types came from.
fn table_comment(sheet: &SheetInfo, position: usize, count: usize, format: Format, scan: &SheetScan) -> String {
    let mut parts = vec![format!("{} sheet {} of {count}", format.name(), position + 1)];
    match scan.used {
        Some(used) => {
            let rows = u64::from(used.end.0 - used.start.0) + 1;
            let columns = u64::from(used.end.1 - used.start.1) + 1;
            parts.push(format!(
                "used range {}:{} ({} × {})",
                cell_ref(used.start),
                cell_ref(used.end),
                plural(rows, "row"),
                plural(columns, "column")
            ));
        }
        None => parts.push("empty sheet".to_owned()),
    }
    match sheet.visibility {
        Visibility::Visible => {}
        Visibility::Hidden => parts.push("hidden sheet".to_owned()),
        Visibility::VeryHidden => parts.push("very hidden sheet".to_owned()),
    }
    if scan.used.is_some() {
        match scan.header_row {
            Some(row) => {
                let mut header = format!("header on row {}", u64::from(row) + 1);
                if scan.skipped_above > 0 {
                    header.push_str(&format!(" ({} above it skipped)", plural(scan.skipped_above, "row")));
                }
                parts.push(header);
            }
            None => parts.push("no header row".to_owned()),
        }
        parts.push(format!("column types inferred from the first {}", plural(scan.sampled, "row")));
        if scan.errors > 0 {
            parts.push(format!("{} in the sample", plural(scan.errors, "error cell")));
        }
    }
    parts.join("; ")
}

fn describe(sheet: &SheetInfo, position: usize, count: usize, format: Format, scan: &SheetScan) -> Table {
    let columns = scan.columns.iter().enumerate().map(|(i, info)| {
        ColumnBuilder::new(
            info.name.clone(),
            u32::try_from(i + 1).unwrap_or(u32::MAX),
            info.data_type,
            info.native_type.clone(),
        )
        .nullable(info.nullable)
        .max_length(info.max_length)
        .precision_scale(info.precision, info.scale)
        .comment(info.comment.clone())
        .build()
    });
    TableBuilder::new(sheet.name.clone(), ObjectKind::Table)
        .columns(columns)
        .comment(Some(table_comment(sheet, position, count, format, scan)))
        .row_estimate(Some(scan.rows))
        .build()
}

// Natively the exports only break the cdylib link (the linker's version
// script rejects the component-model symbol names), and nothing calls them.
inlet_sdk::export_connector!(Excel);

#[cfg(test)]
mod tests {

    use super::*;
    use inlet_sdk::testing::write_file;

    fn request(config: serde_json::Value) -> ConnectRequest {
        inlet_sdk::testing::connect_request("excel", &config)
    }

    fn connect_error(config: serde_json::Value) -> (ConnectorError, Steps) {
        let mut steps = Steps::new();
        let error = Excel::connect(&request(config), &mut steps).err().unwrap();
        (error, steps)
    }

    #[test]
    fn a_missing_file_or_a_directory_fails_the_open_step() {
        let dir = tempfile::tempdir().unwrap();
        let (error, steps) = connect_error(serde_json::json!({ "file_path": dir.path().join("none.xlsx") }));
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(steps.as_slice().len(), 1);
        assert!(!steps.as_slice()[0].passed);
        let (error, _) = connect_error(serde_json::json!({ "file_path": dir.path() }));
        assert_eq!(error.kind, ErrorKind::Config);
    }

    #[test]
    fn a_file_over_the_cap_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        // Not a workbook at all: the size is checked first.
        let path = write_file(dir.path(), "big.xlsx", &vec![b'x'; 1024 * 1024 + 1]);
        let (error, steps) = connect_error(serde_json::json!({ "file_path": path, "max_file_mib": 1 }));
        assert_eq!(error.kind, ErrorKind::Config);
        assert!(error.message.contains("more than `max_file_mib` (1 MiB)"), "{}", error.message);
        assert_eq!(steps.as_slice()[0].name, "open file");
    }

    #[test]
    fn files_that_are_not_workbooks_are_protocol_errors() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes, part) in [
            ("text.xlsx", &b"id,name\n1,a\n"[..], "neither a ZIP nor an OLE2 signature"),
            ("empty.xlsx", b"", "is empty"),
            ("zip.xlsx", b"PK\x03\x04garbage", "cannot be read as an xlsx, xlsb or ods workbook"),
            ("ole.xls", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1garbage", "is not a readable xls workbook: it is shorter"),
        ] {
            let path = write_file(dir.path(), name, bytes);
            let (error, steps) = connect_error(serde_json::json!({ "file_path": path }));
            assert_eq!(error.kind, ErrorKind::Protocol, "{name}");
            assert!(error.message.contains(part), "{name}: {}", error.message);
            assert!(error.message.starts_with(name), "{name}: {}", error.message);
            assert_eq!(steps.as_slice()[1].name, "read workbook");
        }
    }

    #[test]
    fn table_comments_say_where_the_sheet_is() {
        let sheet = SheetInfo { name: "S".into(), visibility: Visibility::Hidden };
        let mut scanner = Scanner::new(crate::config::HeaderMode::Detect, 10);
        scanner.push(sheet::Row { index: 1, cells: vec![(1, sheet::Value::Text("a".into()))] }).unwrap();
        scanner.push(sheet::Row { index: 2, cells: vec![(1, sheet::Value::Int(1))] }).unwrap();
        let scan = scanner.finish();
        assert_eq!(
            table_comment(&sheet, 1, 3, Format::Ods, &scan),
            "ods sheet 2 of 3; used range B2:B3 (2 rows × 1 column); hidden sheet; header on row 2; \
             column types inferred from the first 1 row"
        );
        let table = describe(&sheet, 1, 3, Format::Ods, &scan);
        assert_eq!((table.row_estimate, table.kind), (Some(1), ObjectKind::Table));
        assert_eq!(table.columns[0].name, "a");
    }
}
