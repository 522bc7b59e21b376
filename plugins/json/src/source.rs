//! Opening the file and telling its layout (one array, or NDJSON) from its
//! first bytes.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use inlet_sdk::file::FileSource;
use inlet_sdk::{ConnectorError, file_error};

use crate::config::{Config, Format};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The layout the file turned out to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Array,
    Ndjson,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Array => "JSON array",
            Layout::Ndjson => "NDJSON",
        }
    }
}

/// The input positioned at its first non-space byte.
pub struct Source<R> {
    pub reader: BufReader<R>,
    pub layout: Layout,
    /// Where the reader is: 1-based line and byte column.
    pub line: u64,
    pub column: u64,
}

/// Opens the file and returns it with its length.
pub fn open(config: &Config) -> Result<(File, u64), ConnectorError> {
    inlet_sdk::file::open(&config.target.path)
}

/// Skips a byte order mark and leading whitespace, and decides the layout:
/// with `auto`, `[` first means an array, anything else NDJSON.
pub fn detect<R: Read>(config: &Config, input: R) -> Result<Source<R>, ConnectorError> {
    let name = config.file_name();
    let read_error = |error: std::io::Error| file_error(&error, &format!("read {name}"));
    let mut reader = BufReader::new(input);
    if reader.fill_buf().map_err(read_error)?.starts_with(BOM) {
        reader.consume(BOM.len());
    }
    let (mut line, mut column) = (1, 1);
    let first = loop {
        let chunk = reader.fill_buf().map_err(read_error)?;
        let Some(&first) = chunk.first() else {
            return Err(ConnectorError::protocol(format!("{name} is empty: there is no JSON to read")));
        };
        let spaces = chunk.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).count();
        if spaces == 0 {
            break first;
        }
        let skipped = &chunk[..spaces];
        line += skipped.iter().filter(|&&b| b == b'\n').count() as u64;
        column = match skipped.iter().rposition(|&b| b == b'\n') {
            Some(at) => (spaces - at) as u64,
            None => column + spaces as u64,
        };
        reader.consume(spaces);
    };
    let layout = match (config.format, first) {
        (Format::Auto, b'[') | (Format::Array, b'[') => Layout::Array,
        (Format::Auto, _) | (Format::Ndjson, _) => Layout::Ndjson,
        (Format::Array, _) => {
            return Err(ConnectorError::protocol(format!(
                "{name} does not start with `[` (line {line}), but `format` is `array`"
            )));
        }
    };
    Ok(Source { reader, layout, line, column })
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;
    use inlet_sdk::config::ConnectorConfig;

    fn config(format: &str) -> Config {
        Config::from_json(&format!(r#"{{"file_path":"/data/t.json","format":"{format}"}}"#)).unwrap()
    }

    #[test]
    fn layouts_are_detected_from_the_first_byte() {
        let source = detect(&config("auto"), &b"\xEF\xBB\xBF \n\n [{}]"[..]).unwrap();
        assert_eq!((source.layout, source.line, source.column), (Layout::Array, 3, 2));
        let source = detect(&config("auto"), &b"  \t[]"[..]).unwrap();
        assert_eq!((source.line, source.column), (1, 4));
        let source = detect(&config("auto"), &b"\n{\"a\":1}\n"[..]).unwrap();
        assert_eq!((source.layout, source.line), (Layout::Ndjson, 2));
        assert_eq!(detect(&config("ndjson"), &b"[1]"[..]).unwrap().layout, Layout::Ndjson);
        assert_eq!(detect(&config("auto"), &b"42"[..]).unwrap().layout, Layout::Ndjson);
    }

    #[test]
    fn empty_files_and_wrong_layouts_are_protocol_errors() {
        for bytes in [&b""[..], b"  \n\t", b"\xEF\xBB\xBF"] {
            let error = detect(&config("auto"), bytes).err().unwrap();
            assert_eq!(error.kind, ErrorKind::Protocol);
            assert!(error.message.contains("t.json is empty"), "{}", error.message);
        }
        let error = detect(&config("array"), &b"\n{}"[..]).err().unwrap();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains("line 2"), "{}", error.message);
    }
}
