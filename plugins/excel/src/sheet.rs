//! One sheet, as rows of typed cells arrive in order: where the header is,
//! what the columns are called, and what types a bounded sample of data rows
//! gives them, while every data row is counted. Rows are pushed one by one,
//! so memory holds a few look-ahead rows and a few numbers per column, not
//! the sheet.

use std::collections::HashSet;

use inlet_infer::ColumnStats;
use inlet_sdk::{ConnectorError, data_type};

use crate::config::HeaderMode;

/// The most columns a sheet may have (Excel's limit, XFD).
pub const MAX_COLUMNS: u32 = 16_384;

/// Non-empty rows read ahead before deciding where the header is.
pub const LOOKAHEAD: usize = 10;

/// One non-empty cell's value, already typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    /// An ISO 8601 date (`2024-01-05`) or date and time (`2024-01-05T10:20:30`).
    DateTime(String),
    /// A time of day (`10:20:30`).
    Time(String),
    /// A duration (`PT36H`, or Excel's `[h]:mm:ss` format).
    Duration(String),
    /// An error cell (`#DIV/0!`).
    Error(String),
}

impl Value {
    /// How the value reads as a column name.
    fn header_text(&self) -> String {
        match self {
            Value::Int(value) => value.to_string(),
            Value::Float(value) => value.to_string(),
            Value::Bool(true) => "TRUE".to_owned(),
            Value::Bool(false) => "FALSE".to_owned(),
            Value::Text(text) => text.trim().to_owned(),
            Value::DateTime(text) | Value::Time(text) | Value::Duration(text) => text.clone(),
            Value::Error(_) => String::new(),
        }
    }

    fn is_text(&self) -> bool {
        matches!(self, Value::Text(text) if !text.trim().is_empty())
    }
}

/// One row: its 0-based sheet index and its non-empty cells by 0-based column.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub index: u32,
    pub cells: Vec<(u32, Value)>,
}

impl Row {
    pub fn new(index: u32) -> Self {
        Self { index, cells: Vec::new() }
    }

    fn get(&self, column: u32) -> Option<&Value> {
        self.cells.iter().find(|(c, _)| *c == column).map(|(_, value)| value)
    }
}

/// A merged region's corners, 0-based and inclusive: `(row, column)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub start: (u32, u32),
    pub end: (u32, u32),
}

/// What a column's sample holds.
#[derive(Debug, Clone, Default)]
struct ColumnAcc {
    stats: ColumnStats,
    /// Non-null values observed, and how many of them were times or durations.
    values: u64,
    times: u64,
    durations: u64,
    /// Error cells in the sample (counted as nulls), and the first one.
    errors: u64,
    first_error: Option<String>,
    /// Whether any row (sampled or not) has a value here.
    used: bool,
}

impl ColumnAcc {
    fn observe(&mut self, value: Option<&Value>) {
        let Some(value) = value else {
            self.stats.observe_null();
            return;
        };
        match value {
            Value::Error(error) => {
                self.stats.observe_null();
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(error.clone());
                }
                return;
            }
            Value::Int(value) => self.stats.observe_integer(i128::from(*value)),
            Value::Float(value) => self.stats.observe_float(*value),
            Value::Bool(value) => self.stats.observe_boolean(*value),
            Value::Text(text) | Value::DateTime(text) => self.stats.observe_string(text),
            Value::Time(text) => {
                self.times += 1;
                self.stats.observe_string(text);
            }
            Value::Duration(text) => {
                self.durations += 1;
                self.stats.observe_string(text);
            }
        }
        self.values += 1;
    }
}

/// A column as the sheet describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// 0-based sheet column.
    pub sheet_column: u32,
    pub data_type: &'static str,
    pub native_type: String,
    pub nullable: bool,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub comment: Option<String>,
}

/// Where the header turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Header {
    None,
    /// The header row, and whether non-empty rows above it were skipped.
    Row {
        row: Row,
        skipped_above: u64,
    },
}

/// What one pass over a sheet found.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetScan {
    pub columns: Vec<ColumnInfo>,
    /// The 0-based sheet row of the header, if there is one.
    pub header_row: Option<u32>,
    /// Non-empty rows above the header that were skipped.
    pub skipped_above: u64,
    /// Data rows (non-empty rows after the header) in the sample, and in all.
    pub sampled: u64,
    pub rows: u64,
    /// The used range, 0-based and inclusive, `None` for an empty sheet.
    pub used: Option<Merge>,
    /// Error cells in the sample.
    pub errors: u64,
}

/// Takes a sheet's rows in order and ends in a [`SheetScan`].
pub struct Scanner {
    mode: HeaderMode,
    sample_rows: u64,
    merges: Vec<Merge>,
    /// Rows read ahead while the header is undecided.
    pending: Vec<Row>,
    /// Non-empty rows above a configured header row.
    above: u64,
    header: Option<Header>,
    columns: Vec<ColumnAcc>,
    sampled: u64,
    rows: u64,
    used: Option<Merge>,
}

impl Scanner {
    pub fn new(mode: HeaderMode, sample_rows: u64) -> Self {
        Self {
            mode,
            sample_rows,
            merges: Vec::new(),
            pending: Vec::new(),
            above: 0,
            header: None,
            columns: Vec::new(),
            sampled: 0,
            rows: 0,
            used: None,
        }
    }

    /// Merged regions (so that a header cell covered by a merge is named for it).
    pub fn with_merges(mut self, merges: Vec<Merge>) -> Self {
        self.merges = merges;
        self
    }

    /// The next row; rows must come in sheet order. Empty rows are ignored.
    pub fn push(&mut self, mut row: Row) -> Result<(), ConnectorError> {
        if row.cells.is_empty() {
            return Ok(());
        }
        row.cells.sort_by_key(|(column, _)| *column);
        row.cells.dedup_by_key(|(column, _)| *column);
        if let Some((column, _)) = row.cells.last()
            && *column >= MAX_COLUMNS
        {
            return Err(ConnectorError::protocol(format!(
                "row {} has a cell in column {}, past the last column a sheet can have ({MAX_COLUMNS})",
                u64::from(row.index) + 1,
                u64::from(*column) + 1
            )));
        }
        self.extend_used(&row);
        if self.header.is_some() {
            self.data(&row);
            return Ok(());
        }
        match self.mode {
            HeaderMode::None => {
                self.header = Some(Header::None);
                self.data(&row);
            }
            HeaderMode::Row(number) => {
                let header_index = number.saturating_sub(1);
                if row.index < header_index {
                    self.above += 1;
                } else {
                    let skipped_above = self.above;
                    if row.index == header_index {
                        self.header = Some(Header::Row { row, skipped_above });
                    } else {
                        // The header row is empty: the columns are numbered.
                        self.header = Some(Header::Row { row: Row::new(header_index), skipped_above });
                        self.data(&row);
                    }
                }
            }
            HeaderMode::Detect => {
                self.pending.push(row);
                if self.pending.len() >= LOOKAHEAD {
                    self.decide();
                }
            }
        }
        Ok(())
    }

    fn extend_used(&mut self, row: &Row) {
        let (Some((first, _)), Some((last, _))) = (row.cells.first(), row.cells.last()) else { return };
        self.used = Some(match self.used {
            None => Merge { start: (row.index, *first), end: (row.index, *last) },
            Some(used) => Merge {
                start: (used.start.0.min(row.index), used.start.1.min(*first)),
                end: (used.end.0.max(row.index), used.end.1.max(*last)),
            },
        });
    }

    /// Decides the header over the rows read ahead, then feeds the rows
    /// below it as data.
    fn decide(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let at = match self.mode {
            HeaderMode::Detect => detect_header(&pending),
            HeaderMode::None => None,
            // The header row never came: every row was above it.
            HeaderMode::Row(_) => None,
        };
        match at {
            Some(at) => {
                let mut rows = pending.into_iter();
                let row = rows.by_ref().nth(at).unwrap_or_else(|| Row::new(0));
                self.header = Some(Header::Row { row, skipped_above: at as u64 });
                for row in rows {
                    self.data(&row);
                }
            }
            None if matches!(self.mode, HeaderMode::Row(_)) => {
                let skipped_above = self.above;
                let index = match self.mode {
                    HeaderMode::Row(number) => number.saturating_sub(1),
                    _ => 0,
                };
                self.header = Some(Header::Row { row: Row::new(index), skipped_above });
            }
            None => {
                self.header = Some(Header::None);
                for row in &pending {
                    self.data(row);
                }
            }
        }
    }

    fn data(&mut self, row: &Row) {
        self.rows += 1;
        let width = row.cells.last().map_or(0, |(column, _)| *column as usize + 1);
        if self.columns.len() < width {
            // Columns first reached now were null in the rows sampled so far.
            let mut added = ColumnAcc::default();
            if self.sampled > 0 {
                added.stats.observe_null();
            }
            self.columns.resize(width, added);
        }
        for (column, _) in &row.cells {
            if let Some(acc) = self.columns.get_mut(*column as usize) {
                acc.used = true;
            }
        }
        if self.sampled >= self.sample_rows {
            return;
        }
        self.sampled += 1;
        let mut cells = row.cells.iter().peekable();
        for (i, acc) in self.columns.iter_mut().enumerate() {
            let value = match cells.peek() {
                Some((column, value)) if *column as usize == i => {
                    cells.next();
                    Some(value)
                }
                _ => None,
            };
            acc.observe(value);
        }
    }

    /// Ends the pass.
    pub fn finish(mut self) -> SheetScan {
        if self.header.is_none() {
            self.decide();
        }
        let header = self.header.take().unwrap_or(Header::None);
        let (header_row, skipped_above) = match &header {
            Header::None => (None, 0),
            Header::Row { row, skipped_above } => (Some(row), *skipped_above),
        };
        let header_width = header_row.and_then(|row| row.cells.last()).map_or(0, |(column, _)| *column as usize + 1);
        let width = self.columns.len().max(header_width);
        // Leading columns that hold nothing, neither header nor data, are
        // not columns of the table (the used range starts after them).
        let first = (0..width)
            .find(|&i| {
                self.columns.get(i).is_some_and(|acc| acc.used)
                    || header_row.is_some_and(|row| row.get(i as u32).is_some())
            })
            .unwrap_or(width);
        let header_names: Vec<String> = (first..width)
            .map(|i| header_row.and_then(|row| row.get(i as u32)).map(Value::header_text).unwrap_or_default())
            .collect();
        let named = unique_names(&header_names.iter().map(String::as_str).collect::<Vec<_>>());
        let empty = ColumnAcc { used: false, ..ColumnAcc::default() };
        let mut errors = 0;
        let mut columns = Vec::with_capacity(named.len());
        for (offset, named) in named.into_iter().enumerate() {
            let sheet_column = (first + offset) as u32;
            let acc = self.columns.get(sheet_column as usize).unwrap_or(&empty);
            errors += acc.errors;
            let mut notes = Vec::new();
            if let (Some(header), Some(note)) = (header_row, named.comment) {
                match self.merged_into(header.index, sheet_column) {
                    Some(start) if header_names[offset].is_empty() => {
                        notes.push(format!("the header cell is merged into {}'s", excel_column(start)))
                    }
                    _ => notes.push(note),
                }
            }
            if acc.errors > 0 {
                notes.push(format!(
                    "{} error cell{} in the sample (e.g. {}), read as null",
                    acc.errors,
                    if acc.errors == 1 { "" } else { "s" },
                    acc.first_error.as_deref().unwrap_or("?")
                ));
            }
            let mut column = infer_column(acc, self.sampled);
            column.name = named.name;
            column.sheet_column = sheet_column;
            column.comment = (!notes.is_empty()).then(|| notes.join("; "));
            columns.push(column);
        }
        SheetScan {
            columns,
            header_row: header_row.map(|row| row.index),
            skipped_above,
            sampled: self.sampled,
            rows: self.rows,
            used: self.used,
            errors,
        }
    }

    /// The first column of a merged region that covers `(row, column)` from
    /// the left.
    fn merged_into(&self, row: u32, column: u32) -> Option<u32> {
        self.merges
            .iter()
            .find(|m| m.start.0 <= row && row <= m.end.0 && m.start.1 < column && column <= m.end.1)
            .map(|m| m.start.1)
    }
}

/// Where the header is among the first non-empty rows, if anywhere: the
/// first row whose cells are mostly non-empty, distinct strings, above rows
/// that look like data. Rows above it (a title, a note) must be sparse: at
/// most half as many cells as the header.
pub fn detect_header(rows: &[Row]) -> Option<usize> {
    for (i, candidate) in rows.iter().enumerate() {
        let above_sparse = rows[..i].iter().all(|row| row.cells.len() * 2 <= candidate.cells.len());
        if !above_sparse {
            return None;
        }
        if looks_like_header(candidate, &rows[i + 1..]) {
            return Some(i);
        }
    }
    None
}

fn looks_like_header(candidate: &Row, below: &[Row]) -> bool {
    if candidate.cells.is_empty() || !candidate.cells.iter().all(|(_, value)| value.is_text()) {
        return false;
    }
    let distinct = candidate.cells.iter().map(|(_, value)| value.header_text()).collect::<HashSet<_>>().len();
    let all_distinct = distinct == candidate.cells.len();
    // Mostly non-empty over the width the rows below use.
    let first = candidate.cells.first().map_or(0, |(c, _)| *c);
    let last = candidate.cells.last().map_or(0, |(c, _)| *c);
    let (first, last) = below.iter().fold((first, last), |(first, last), row| {
        (row.cells.first().map_or(first, |(c, _)| first.min(*c)), row.cells.last().map_or(last, |(c, _)| last.max(*c)))
    });
    let span = (last - first + 1) as usize;
    if candidate.cells.len() * 2 < span {
        return false;
    }
    if below.is_empty() {
        // A sheet of one row of names: a header over no data.
        return all_distinct;
    }
    // Typed data (numbers, dates, booleans) below a column the header
    // names: a header, even with a repeated name or two.
    let typed_below =
        below.iter().any(|row| row.cells.iter().any(|(c, value)| !value.is_text() && candidate.get(*c).is_some()));
    if typed_below {
        return distinct * 2 > candidate.cells.len();
    }
    // Strings throughout: a header only if its names are distinct and none
    // comes back in its own column (then the first row is data like the
    // others).
    all_distinct
        && !below.iter().any(|row| {
            row.cells
                .iter()
                .any(|(c, value)| candidate.get(*c).is_some_and(|name| name.header_text() == value.header_text()))
        })
}

/// The column's type from its sample.
fn infer_column(acc: &ColumnAcc, sampled: u64) -> ColumnInfo {
    let column = |data_type: &'static str, native: &str| ColumnInfo {
        name: String::new(),
        sheet_column: 0,
        data_type,
        native_type: native.to_owned(),
        nullable: acc.stats.has_nulls(),
        max_length: None,
        precision: None,
        scale: None,
        comment: None,
    };
    if acc.values > 0 && acc.times == acc.values {
        return column(data_type::TIME, "time");
    }
    if acc.values > 0 && acc.durations == acc.values {
        return column(data_type::INTERVAL, "duration");
    }
    let inferred = acc.stats.infer();
    ColumnInfo {
        // A column that no sampled row reaches says nothing: keep it nullable.
        nullable: inferred.nullable || sampled == 0,
        max_length: inferred.max_length,
        precision: inferred.precision,
        scale: inferred.scale,
        ..column(inferred.data_type, &inferred.native_type)
    }
}

/// `A`, `B`, …, `Z`, `AA`, … for a 0-based column.
pub fn excel_column(column: u32) -> String {
    let mut n = u64::from(column) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// `A1`-style reference of a 0-based cell.
pub fn cell_ref((row, column): (u32, u32)) -> String {
    format!("{}{}", excel_column(column), u64::from(row) + 1)
}

pub use inlet_infer::names::unique_names;

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn row(index: u32, cells: Vec<(u32, Value)>) -> Row {
        Row { index, cells }
    }

    fn strings(index: u32, names: &[&str]) -> Row {
        row(index, names.iter().enumerate().map(|(i, s)| (i as u32, text(s))).collect())
    }

    fn scan(mode: HeaderMode, sample: u64, rows: Vec<Row>) -> SheetScan {
        let mut scanner = Scanner::new(mode, sample);
        for row in rows {
            scanner.push(row).unwrap();
        }
        scanner.finish()
    }

    fn names(scan: &SheetScan) -> Vec<&str> {
        scan.columns.iter().map(|c| c.name.as_str()).collect()
    }

    fn types(scan: &SheetScan) -> Vec<(&str, bool)> {
        scan.columns.iter().map(|c| (c.data_type, c.nullable)).collect()
    }

    #[test]
    fn a_header_above_typed_data_is_detected() {
        let rows = vec![
            strings(0, &["id", "name", "price"]),
            row(1, vec![(0, Value::Int(1)), (1, text("a")), (2, Value::Float(1.5))]),
            row(2, vec![(0, Value::Int(2)), (2, Value::Float(2.5))]),
        ];
        let scan = scan(HeaderMode::Detect, 1000, rows);
        assert_eq!(scan.header_row, Some(0));
        assert_eq!(names(&scan), ["id", "name", "price"]);
        assert_eq!(types(&scan), [("int64", false), ("string", true), ("float64", false)]);
        assert_eq!((scan.sampled, scan.rows), (2, 2));
        assert_eq!(scan.used, Some(Merge { start: (0, 0), end: (2, 2) }));
    }

    #[test]
    fn a_numeric_first_row_is_data() {
        let rows =
            vec![row(0, vec![(0, Value::Int(1)), (1, text("x"))]), row(1, vec![(0, Value::Int(2)), (1, text("y"))])];
        let scan = scan(HeaderMode::Detect, 1000, rows);
        assert_eq!(scan.header_row, None);
        assert_eq!(names(&scan), ["column_1", "column_2"]);
        assert_eq!(scan.rows, 2);
        assert!(scan.columns.iter().all(|c| c.comment.is_none()));
    }

    #[test]
    fn a_title_above_the_header_is_skipped() {
        let rows = vec![
            strings(0, &["Quarterly report"]),
            strings(2, &["region", "q1", "q2"]),
            row(3, vec![(0, text("north")), (1, Value::Int(3)), (2, Value::Int(4))]),
        ];
        let scan = scan(HeaderMode::Detect, 1000, rows);
        assert_eq!((scan.header_row, scan.skipped_above), (Some(2), 1));
        assert_eq!(names(&scan), ["region", "q1", "q2"]);
        assert_eq!(scan.rows, 1);
    }

    #[test]
    fn strings_throughout_are_a_header_unless_a_name_repeats() {
        let header = scan(HeaderMode::Detect, 10, vec![strings(0, &["city", "country"]), strings(1, &["Lyon", "FR"])]);
        assert_eq!(header.header_row, Some(0));
        let data = scan(HeaderMode::Detect, 10, vec![strings(0, &["a", "b"]), strings(1, &["a", "c"])]);
        assert_eq!(data.header_row, None);
        let dup = scan(HeaderMode::Detect, 10, vec![strings(0, &["a", "a"]), row(1, vec![(0, Value::Int(1))])]);
        assert_eq!(dup.header_row, None);
        // One repeated name among distinct ones above typed data: a header.
        let typed = row(1, (0..3).map(|c| (c, Value::Int(1))).collect());
        let repeat = scan(HeaderMode::Detect, 10, vec![strings(0, &["id", "x", "id"]), typed]);
        assert_eq!(repeat.header_row, Some(0));
        assert_eq!(names(&repeat), ["id", "x", "id_2"]);
        let twice = scan(
            HeaderMode::Detect,
            10,
            vec![strings(0, &["a", "b"]), strings(1, &["c", "d"]), strings(2, &["a", "e"])],
        );
        assert_eq!(twice.header_row, None);
        // A sparse first row (one name over four columns) is not a header.
        let sparse = scan(
            HeaderMode::Detect,
            10,
            vec![strings(0, &["x"]), row(1, (0..4).map(|c| (c, Value::Int(1))).collect())],
        );
        assert_eq!(sparse.header_row, None);
    }

    #[test]
    fn header_row_and_no_header_override_detection() {
        let rows = || {
            vec![
                row(0, vec![(0, Value::Int(7))]),
                strings(1, &["a", "b"]),
                row(2, vec![(0, Value::Int(1)), (1, Value::Bool(true))]),
            ]
        };
        let fixed = scan(HeaderMode::Row(2), 10, rows());
        assert_eq!((fixed.header_row, fixed.skipped_above, fixed.rows), (Some(1), 1, 1));
        assert_eq!(names(&fixed), ["a", "b"]);
        assert_eq!(types(&fixed), [("int64", false), ("boolean", false)]);
        let none = scan(HeaderMode::None, 10, rows());
        assert_eq!((none.header_row, none.rows), (None, 3));
        assert_eq!(types(&none), [("string", false), ("string", true)]);
        // A header row below every row: nothing is data.
        let past = scan(HeaderMode::Row(9), 10, rows());
        assert_eq!((past.header_row, past.rows, past.columns.len()), (Some(8), 0, 0));
    }

    #[test]
    fn empty_and_duplicate_headers_and_merges_are_named() {
        let header = row(0, vec![(1, text("id")), (2, text("Totals")), (4, text("id")), (5, text("x"))]);
        let data = row(1, (1..7).map(|c| (c, Value::Int(i64::from(c)))).collect());
        let mut scanner = Scanner::new(HeaderMode::Row(1), 10).with_merges(vec![Merge { start: (0, 2), end: (0, 3) }]);
        scanner.push(header).unwrap();
        scanner.push(data).unwrap();
        let scan = scanner.finish();
        // Column A is empty throughout and is left out.
        assert_eq!(names(&scan), ["id", "Totals", "column_3", "id_2", "x", "column_6"]);
        let comments: Vec<_> = scan.columns.iter().map(|c| c.comment.as_deref()).collect();
        assert_eq!(
            comments,
            [
                None,
                None,
                Some("the header cell is merged into C's"),
                Some("renamed from the duplicate header \"id\""),
                None,
                Some("the header is empty")
            ]
        );
        assert_eq!(scan.columns[0].sheet_column, 1);
    }

    #[test]
    fn cells_map_to_types() {
        let values = |values: Vec<Value>| {
            let rows = values.into_iter().enumerate().map(|(i, v)| row(i as u32 + 1, vec![(0, v)])).collect::<Vec<_>>();
            let mut all = vec![strings(0, &["c"])];
            all.extend(rows);
            let scan = scan(HeaderMode::Row(1), 100, all);
            let c = &scan.columns[0];
            (c.data_type, c.native_type.clone(), c.nullable, c.comment.clone())
        };
        assert_eq!(values(vec![Value::Int(1), Value::Int(-2)]).0, "int64");
        assert_eq!(values(vec![Value::Int(1), Value::Float(0.5)]).0, "float64");
        assert_eq!(values(vec![Value::Bool(true)]).0, "boolean");
        assert_eq!(values(vec![Value::DateTime("2024-01-05".into())]).0, "date");
        assert_eq!(
            values(vec![Value::DateTime("2024-01-05".into()), Value::DateTime("2024-01-05T10:00:00".into())]).0,
            "timestamp"
        );
        assert_eq!(values(vec![Value::Time("10:20:30".into())]).1, "time");
        assert_eq!(values(vec![Value::Duration("PT36H".into())]).0, "interval");
        assert_eq!(values(vec![Value::Time("10:20:30".into()), Value::Int(1)]).0, "string");
        let errors = values(vec![Value::Int(1), Value::Error("#DIV/0!".into())]);
        assert_eq!((errors.0, errors.2), ("int64", true));
        assert_eq!(errors.3.as_deref(), Some("1 error cell in the sample (e.g. #DIV/0!), read as null"));
    }

    #[test]
    fn the_sample_is_bounded_but_every_row_counts() {
        let mut rows = vec![strings(0, &["n", "late"])];
        rows.extend((1..=50).map(|i| row(i, vec![(0, Value::Int(i64::from(i)))])));
        // A value past the sample does not change the type; its column exists.
        rows.push(row(51, vec![(0, text("oops")), (1, Value::Int(1))]));
        let scan = scan(HeaderMode::Detect, 10, rows);
        assert_eq!((scan.sampled, scan.rows), (10, 51));
        assert_eq!(types(&scan), [("int64", false), ("string", true)]);
    }

    #[test]
    fn columns_reached_late_are_null_before() {
        let rows = vec![
            strings(0, &["a", "b"]),
            row(1, vec![(0, Value::Int(1))]),
            row(2, vec![(0, Value::Int(2)), (2, Value::Int(3))]),
        ];
        let scan = scan(HeaderMode::Detect, 10, rows);
        assert_eq!(names(&scan), ["a", "b", "column_3"]);
        assert_eq!(types(&scan), [("int64", false), ("string", true), ("int64", true)]);
    }

    #[test]
    fn an_empty_sheet_has_no_columns() {
        let scan = scan(HeaderMode::Detect, 10, vec![]);
        assert!(scan.columns.is_empty());
        assert_eq!((scan.rows, scan.used, scan.header_row), (0, None, None));
    }

    #[test]
    fn cells_past_the_last_column_are_refused() {
        let mut scanner = Scanner::new(HeaderMode::Detect, 10);
        let error = scanner.push(row(0, vec![(MAX_COLUMNS, Value::Int(1))])).unwrap_err();
        assert_eq!(error.kind, inlet_sdk::ErrorKind::Protocol);
    }

    #[test]
    fn column_letters() {
        assert_eq!(excel_column(0), "A");
        assert_eq!(excel_column(25), "Z");
        assert_eq!(excel_column(26), "AA");
        assert_eq!(excel_column(16_383), "XFD");
        assert_eq!(cell_ref((9, 27)), "AB10");
    }

    #[test]
    fn unique_names_follow_the_csv_rule() {
        let named = unique_names(&["a", "", "a", "column_2", "a_2"]);
        let names: Vec<_> = named.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "column_2_2", "a_3", "column_2", "a_2"]);
    }
}
