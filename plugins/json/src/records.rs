//! The file's records, whatever its layout: each one's bytes in a reused
//! buffer, with where it starts (for messages).

use std::io::{BufReader, Read};

use inlet_sdk::{ConnectorError, file_error};

use crate::lines::{LineError, Lines};
use crate::source::{Layout, Source};
use crate::split::{ArraySplitter, SplitError};

/// The most bytes one record (array element or line) may take: it is held
/// in memory whole, so a runaway one is stopped here, with its place, rather
/// than by the sandbox's memory limit.
pub const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// Where a record starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// 1-based among the records (blank NDJSON lines are not records).
    pub record: u64,
    /// 1-based line and byte column of the record's first byte.
    pub line: u64,
    pub column: u64,
    pub layout: Layout,
}

impl Place {
    /// `line 7`, and for an array also the element: messages name what the
    /// user can find in an editor.
    pub fn describe(&self) -> String {
        match self.layout {
            Layout::Ndjson => format!("line {}", self.line),
            Layout::Array => format!("line {} (element {})", self.line, self.record),
        }
    }
}

enum Reader<R> {
    Array(ArraySplitter<BufReader<R>>),
    Lines(Lines<BufReader<R>>),
}

pub struct Records<R> {
    reader: Reader<R>,
    layout: Layout,
    records: u64,
    /// The file's name, for messages.
    name: String,
}

impl<R: Read> Records<R> {
    pub fn new(source: Source<R>, name: &str) -> Self {
        let reader = match source.layout {
            Layout::Array => Reader::Array(ArraySplitter::new(source.reader, source.line, source.column)),
            Layout::Ndjson => Reader::Lines(Lines::new(source.reader, source.line)),
        };
        Self { reader, layout: source.layout, records: 0, name: name.to_owned() }
    }

    /// Reads the next record into `buf`; `None` after the last.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Place>, ConnectorError> {
        let start = match &mut self.reader {
            Reader::Array(splitter) => match splitter.next_element(buf, MAX_RECORD_BYTES) {
                Ok(element) => element.map(|e| (e.line, e.column)),
                Err(error) => return Err(self.split_error(error)),
            },
            Reader::Lines(lines) => loop {
                match lines.next_line(buf, MAX_RECORD_BYTES) {
                    // Blank lines separate nothing in NDJSON: skip them.
                    Ok(Some(_)) if buf.iter().all(u8::is_ascii_whitespace) => continue,
                    // A line's record starts at its first column: leading
                    // spaces are part of the bytes serde_json reads.
                    Ok(line) => break line.map(|line| (line, 1)),
                    Err(error) => return Err(self.line_error(error)),
                }
            },
        };
        Ok(start.map(|(line, column)| {
            self.records += 1;
            Place { record: self.records, line, column, layout: self.layout }
        }))
    }

    fn split_error(&self, error: SplitError) -> ConnectorError {
        match error {
            SplitError::Io(error) => file_error(&error, &format!("read {}", self.name)),
            SplitError::Syntax { line, message } => ConnectorError::protocol(format!("line {line}: {message}")),
            SplitError::TooLong { element, max_bytes } => ConnectorError::protocol(format!(
                "line {} (element {}): {}",
                element.line,
                element.index,
                too_long("an array element", max_bytes)
            )),
        }
    }

    fn line_error(&self, error: LineError) -> ConnectorError {
        match error {
            LineError::Io(error) => file_error(&error, &format!("read {}", self.name)),
            LineError::TooLong { line, max_bytes } => {
                ConnectorError::protocol(format!("line {line}: {}", too_long("a line", max_bytes)))
            }
        }
    }
}

fn too_long(what: &str, max_bytes: usize) -> String {
    format!("{what} is longer than {} MiB (is this a JSON file?)", max_bytes / (1024 * 1024))
}
