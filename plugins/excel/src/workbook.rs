//! The file as a workbook: its size checked against the cap before a byte is
//! parsed, its format told from its signature, its sheets listed, and one
//! sheet's cells turned into typed [`Row`]s for the [`Scanner`].
//!
//! xlsx sheets stream cell by cell (`calamine`'s cell reader), so their
//! memory is the shared strings plus a few rows; xls, xlsb and ods sheets
//! come from `calamine` as one cell range each.

use std::fs::File;
use std::io::{BufReader, Read, Seek};

use calamine::{
    CellErrorType, Data, DataRef, DataType, ExcelDateTime, Ods, Range, Reader, SheetType, SheetVisible, Xls, Xlsb, Xlsx,
};
use inlet_sdk::file::FileSource;
use inlet_sdk::{ConnectorError, file_error};

use crate::config::Config;
use crate::sheet::{Merge, Row, Scanner, SheetScan, Value};

type Input = BufReader<File>;

/// The file formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Xlsb => "xlsb",
            Format::Xls => "xls",
            Format::Ods => "ods",
        }
    }
}

/// A sheet as the workbook lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetInfo {
    pub name: String,
    pub visibility: Visibility,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Visible,
    Hidden,
    /// Hidden so that only a macro can show it (Excel's "very hidden").
    VeryHidden,
}

/// An open workbook.
pub enum Book {
    Xlsx(Box<Xlsx<Input>>),
    Xlsb(Box<Xlsb<Input>>),
    Xls(Box<Xls<Input>>),
    Ods(Box<Ods<Input>>),
}

const ZIP: &[u8] = b"PK\x03\x04";
const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Opens the file and checks its size against `max_file_mib`; returns it
/// with its length.
pub fn open_file(config: &Config) -> Result<(File, u64), ConnectorError> {
    let name = config.file_name();
    let (file, size) = inlet_sdk::file::open(&config.target.path)?;
    if size > config.max_file_bytes {
        return Err(ConnectorError::config(format!(
            "{name} is {} MiB, more than `max_file_mib` ({} MiB) allows; raise it (at most 1024) to read this file",
            size.div_ceil(1024 * 1024),
            config.max_file_bytes / (1024 * 1024)
        )));
    }
    Ok((file, size))
}

/// Opens the workbook: the format from the file's first bytes (and, for a
/// ZIP, its extension first), then `calamine`'s reader for it.
pub fn open_book(config: &Config) -> Result<(Book, Format), ConnectorError> {
    let name = config.file_name();
    let (mut file, size) = open_file(config)?;
    let mut magic = [0u8; 8];
    let read = read_prefix(&mut file, &mut magic).map_err(|error| file_error(&error, &format!("read {name}")))?;
    let magic = &magic[..read];
    let candidates: &[Format] = if magic.starts_with(OLE) {
        crate::xls_check::check(name, BufReader::new(file), size)?;
        &[Format::Xls]
    } else if magic.starts_with(ZIP) {
        let extension =
            std::path::Path::new(&config.target.path).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("ods") => &[Format::Ods, Format::Xlsx, Format::Xlsb],
            Some("xlsb") => &[Format::Xlsb, Format::Xlsx, Format::Ods],
            _ => &[Format::Xlsx, Format::Ods, Format::Xlsb],
        }
    } else if size == 0 {
        return Err(ConnectorError::protocol(format!("{name} is empty: there is no workbook to read")));
    } else {
        return Err(ConnectorError::protocol(format!(
            "{name} is not an Excel or OpenDocument spreadsheet (xlsx, xls, xlsb or ods): \
             it starts with neither a ZIP nor an OLE2 signature"
        )));
    };
    let mut first_error = None;
    for &format in candidates {
        let (file, _) = open_file(config)?;
        let input = BufReader::new(file);
        let opened = match format {
            Format::Xlsx => Xlsx::new(input).map(|b| Book::Xlsx(Box::new(b))).map_err(|e| e.to_string()),
            Format::Xlsb => Xlsb::new(input).map(|b| Book::Xlsb(Box::new(b))).map_err(|e| e.to_string()),
            Format::Xls => Xls::new(input).map(|b| Book::Xls(Box::new(b))).map_err(|e| e.to_string()),
            Format::Ods => Ods::new(input).map(|b| Book::Ods(Box::new(b))).map_err(|e| e.to_string()),
        };
        match opened {
            Ok(book) => return Ok((book, format)),
            Err(error) => {
                first_error.get_or_insert((format, error));
            }
        }
    }
    let (format, error) = first_error.unwrap_or((Format::Xlsx, "unknown format".to_owned()));
    Err(ConnectorError::protocol(format!(
        "{name} cannot be read as {} (is the file damaged?): {error}",
        if magic.starts_with(ZIP) && format != Format::Xls {
            "an xlsx, xlsb or ods workbook".to_owned()
        } else {
            format!("an {} workbook", format.name())
        }
    )))
}

fn read_prefix(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    file.rewind()?;
    Ok(filled)
}

impl Book {
    /// The worksheets in workbook order (chart and macro sheets hold no cells
    /// and are left out).
    pub fn sheets(&self) -> Vec<SheetInfo> {
        let metadata = match self {
            Book::Xlsx(book) => book.sheets_metadata(),
            Book::Xlsb(book) => book.sheets_metadata(),
            Book::Xls(book) => book.sheets_metadata(),
            Book::Ods(book) => book.sheets_metadata(),
        };
        metadata
            .iter()
            .filter(|sheet| matches!(sheet.typ, SheetType::WorkSheet))
            .map(|sheet| SheetInfo {
                name: sheet.name.clone(),
                visibility: match sheet.visible {
                    SheetVisible::Visible => Visibility::Visible,
                    SheetVisible::Hidden => Visibility::Hidden,
                    SheetVisible::VeryHidden => Visibility::VeryHidden,
                },
            })
            .collect()
    }

    /// Feeds the sheet's rows to `scanner`, in order, with its merged
    /// regions where the format lists them.
    pub fn scan(&mut self, sheet: &str, scanner: Scanner) -> Result<SheetScan, ConnectorError> {
        let merges = match self {
            Book::Xlsx(book) => book.merge_cells_by_sheet_name(sheet).map_err(|e| failed(sheet, &e))?,
            Book::Xls(book) => book.merge_cells_by_sheet_name(sheet).map_err(|e| failed(sheet, &e))?,
            Book::Xlsb(_) | Book::Ods(_) => Vec::new(),
        };
        let mut scanner = scanner.with_merges(merges.iter().map(to_merge).collect());
        self.rows(sheet, &mut scanner)?;
        Ok(scanner.finish())
    }

    /// Feeds the sheet's rows to `sink` in order, until it wants no more
    /// (xlsx cells stream: nothing past that row is read).
    pub fn rows(&mut self, sheet: &str, sink: &mut dyn RowSink) -> Result<(), ConnectorError> {
        let range = match self {
            Book::Xlsx(book) => {
                let mut reader = book.worksheet_cells_reader(sheet).map_err(|e| failed(sheet, &e))?;
                let mut rows = RowGrouper { sheet, sink, row: None };
                while let Some(cell) = reader.next_cell().map_err(|e| failed(sheet, &e))? {
                    if let Some(value) = from_ref(cell.get_value())
                        && !rows.cell(cell.get_position(), value)?
                    {
                        return Ok(());
                    }
                }
                return rows.finish();
            }
            Book::Xls(book) => book.worksheet_range(sheet).map_err(|e| failed(sheet, &e))?,
            Book::Xlsb(book) => book.worksheet_range(sheet).map_err(|e| failed(sheet, &e))?,
            Book::Ods(book) => book.worksheet_range(sheet).map_err(|e| failed(sheet, &e))?,
        };
        range_rows(sheet, &range, sink)
    }
}

/// Takes a sheet's rows in order.
pub trait RowSink {
    /// The next row; `false` when no more rows are wanted.
    fn push(&mut self, row: Row) -> Result<bool, ConnectorError>;
}

impl RowSink for Scanner {
    fn push(&mut self, row: Row) -> Result<bool, ConnectorError> {
        Scanner::push(self, row).map(|()| true)
    }
}

fn failed(sheet: &str, error: &dyn std::fmt::Display) -> ConnectorError {
    ConnectorError::protocol(format!("sheet {sheet:?}: {error}"))
}

fn in_sheet(sheet: &str, mut error: ConnectorError) -> ConnectorError {
    error.message = format!("sheet {sheet:?}: {}", error.message);
    error
}

fn to_merge(dimensions: &calamine::Dimensions) -> Merge {
    Merge { start: dimensions.start, end: dimensions.end }
}

/// Gathers cells that arrive in row order into rows for a sink.
struct RowGrouper<'s> {
    sheet: &'s str,
    sink: &'s mut dyn RowSink,
    row: Option<Row>,
}

impl RowGrouper<'_> {
    /// Adds a cell; `false` once the sink wants no more rows.
    fn cell(&mut self, (r, c): (u32, u32), value: Value) -> Result<bool, ConnectorError> {
        if let Some(done) = self.row.take_if(|row| row.index != r)
            && !self.sink.push(done).map_err(|e| in_sheet(self.sheet, e))?
        {
            return Ok(false);
        }
        self.row.get_or_insert_with(|| Row::new(r)).cells.push((c, value));
        Ok(true)
    }

    fn finish(mut self) -> Result<(), ConnectorError> {
        if let Some(done) = self.row.take() {
            self.sink.push(done).map_err(|e| in_sheet(self.sheet, e))?;
        }
        Ok(())
    }
}

fn range_rows(sheet: &str, range: &Range<Data>, sink: &mut dyn RowSink) -> Result<(), ConnectorError> {
    let (top, left) = range.start().unwrap_or((0, 0));
    let mut rows = RowGrouper { sheet, sink, row: None };
    for (r, c, data) in range.used_cells() {
        if let Some(value) = from_data(data) {
            // Positions are relative to the range's start.
            let r = top.saturating_add(u32::try_from(r).unwrap_or(u32::MAX));
            let c = left.saturating_add(u32::try_from(c).unwrap_or(u32::MAX));
            if !rows.cell((r, c), value)? {
                return Ok(());
            }
        }
    }
    rows.finish()
}

fn from_data(data: &Data) -> Option<Value> {
    match data {
        Data::Empty => None,
        Data::Int(value) => Some(Value::Int(*value)),
        Data::Float(value) => Some(number(*value)),
        Data::String(text) => text_value(text),
        Data::Bool(value) => Some(Value::Bool(*value)),
        Data::DateTime(value) => Some(date_time(value)),
        Data::DateTimeIso(text) => Some(iso_date_time(text)),
        Data::DurationIso(text) => Some(iso_duration(text)),
        Data::Error(error) => Some(error_value(error)),
    }
}

fn from_ref(data: &DataRef<'_>) -> Option<Value> {
    if data.is_empty() {
        return None;
    }
    match data {
        DataRef::Empty => None,
        DataRef::Int(value) => Some(Value::Int(*value)),
        DataRef::Float(value) => Some(number(*value)),
        DataRef::String(text) => text_value(text),
        DataRef::SharedString(text) => text_value(text),
        DataRef::Bool(value) => Some(Value::Bool(*value)),
        DataRef::DateTime(value) => Some(date_time(value)),
        DataRef::DateTimeIso(text) => Some(iso_date_time(text)),
        DataRef::DurationIso(text) => Some(iso_duration(text)),
        DataRef::Error(error) => Some(error_value(error)),
    }
}

/// An empty string is an empty cell.
fn text_value(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| Value::Text(text.to_owned()))
}

/// Spreadsheets store every number as a double: a whole one within the
/// exactly representable range is an integer.
pub fn number(value: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.is_finite() && value.fract() == 0.0 && value.abs() < EXACT {
        Value::Int(value as i64)
    } else {
        Value::Float(value)
    }
}

fn error_value(error: &CellErrorType) -> Value {
    Value::Error(error.to_string())
}

/// A serial date-time with a date or duration number format: a duration, a
/// time of day (below one day), a date (a whole day), or a date and time.
pub fn date_time(value: &ExcelDateTime) -> Value {
    let serial = value.as_f64();
    if value.is_duration() {
        let seconds = (serial * 86_400.0).round();
        return Value::Duration(format!("PT{seconds}S"));
    }
    let (year, month, day, hour, minute, second, milli) = value.to_ymd_hms_milli();
    let time = if milli > 0 {
        format!("{hour:02}:{minute:02}:{second:02}.{milli:03}")
    } else {
        format!("{hour:02}:{minute:02}:{second:02}")
    };
    if (0.0..1.0).contains(&serial) {
        return Value::Time(time);
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if (hour, minute, second, milli) == (0, 0, 0, 0) {
        Value::DateTime(date)
    } else {
        Value::DateTime(format!("{date}T{time}"))
    }
}

/// ODF (and xlsx `t="d"`) dates are ISO 8601 text; a bare time is a time.
fn iso_date_time(text: &str) -> Value {
    if !text.contains('-') && text.contains(':') {
        Value::Time(text.to_owned())
    } else {
        Value::DateTime(text.to_owned())
    }
}

/// ODF time cells are ISO 8601 durations (`PT10H20M30S`); spreadsheets use
/// them for times of day, so one under 24 hours with no day part is a time.
pub fn iso_duration(text: &str) -> Value {
    let Some(rest) = text.strip_prefix("PT") else { return Value::Duration(text.to_owned()) };
    let hours = rest.split_once('H').map_or(Some(0), |(h, _)| h.parse::<u64>().ok());
    match hours {
        Some(h) if h < 24 => {
            let part = |unit: char| -> f64 {
                let after = match unit {
                    'M' => rest.split_once('H').map_or(rest, |(_, r)| r),
                    _ => rest.split_once('M').map_or(rest.split_once('H').map_or(rest, |(_, r)| r), |(_, r)| r),
                };
                after.split_once(unit).and_then(|(n, _)| n.parse::<f64>().ok()).unwrap_or(0.0)
            };
            let minutes = part('M');
            let seconds = part('S');
            Value::Time(format!("{h:02}:{:02}:{:02}", minutes as u64, seconds as u64))
        }
        _ => Value::Duration(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    #[test]
    fn numbers_that_are_whole_are_integers() {
        assert_eq!(number(42.0), Value::Int(42));
        assert_eq!(number(-3.0), Value::Int(-3));
        assert_eq!(number(2.5), Value::Float(2.5));
        assert_eq!(number(1e300), Value::Float(1e300));
        assert!(matches!(number(f64::NAN), Value::Float(_)));
    }

    #[test]
    fn serial_dates_become_dates_times_and_durations() {
        let at = |serial, kind| date_time(&ExcelDateTime::new(serial, kind, false));
        assert_eq!(at(45296.0, ExcelDateTimeType::DateTime), Value::DateTime("2024-01-05".into()));
        assert_eq!(at(45296.5, ExcelDateTimeType::DateTime), Value::DateTime("2024-01-05T12:00:00".into()));
        assert_eq!(at(0.25, ExcelDateTimeType::DateTime), Value::Time("06:00:00".into()));
        assert_eq!(at(1.5, ExcelDateTimeType::TimeDelta), Value::Duration("PT129600S".into()));
    }

    #[test]
    fn iso_values() {
        assert_eq!(iso_date_time("2024-01-05"), Value::DateTime("2024-01-05".into()));
        assert_eq!(iso_date_time("10:20:30"), Value::Time("10:20:30".into()));
        assert_eq!(iso_duration("PT10H20M30S"), Value::Time("10:20:30".into()));
        assert_eq!(iso_duration("PT36H00M00S"), Value::Duration("PT36H00M00S".into()));
        assert_eq!(iso_duration("P1DT2H"), Value::Duration("P1DT2H".into()));
    }
}
