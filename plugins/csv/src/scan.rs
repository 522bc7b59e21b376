//! Reading the file: opening it, the header, the sample that types are
//! inferred from, and the streaming row count. Records are read into one
//! reused buffer, so memory depends on the widest record, not the file size.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use inlet_infer::ColumnStats;
use inlet_sdk::ConnectorError;
use inlet_sdk::file::FileSource;

use crate::config::{Compression, Config};
use crate::decode::{DecodingReader, Encoding};

/// A column as the header (or its absence) names it.
pub type HeaderColumn = inlet_infer::names::Named;
pub use inlet_infer::names::unique_names;

/// What one pass over the file found.
#[derive(Debug)]
pub struct Scan {
    pub columns: Vec<HeaderColumn>,
    pub stats: Vec<ColumnStats>,
    /// Data records that fed the inference.
    pub sampled: u64,
    /// All data records, when the pass counted them.
    pub rows: Option<u64>,
}

/// How far a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// Up to `sample_rows` data records.
    Sample,
    /// The whole file, counting every record.
    Count,
}

/// Opens the file and returns it with its length.
pub fn open(config: &Config) -> Result<(File, u64), ConnectorError> {
    inlet_sdk::file::open(&config.target.path)
}

/// The file's bytes as text to parse: gunzipped when it is gzip (by config,
/// or under `auto` by its magic number), streamed either way, so a file of
/// any size is read in bounded memory.
pub fn decompressed(config: &Config, file: File) -> Result<Box<dyn Read>, ConnectorError> {
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let gzip = match config.compression {
        Compression::Gzip => true,
        Compression::None => false,
        Compression::Auto => reader
            .fill_buf()
            .map(|start| start.starts_with(&GZIP_MAGIC))
            .map_err(|error| file_error(&error, &format!("read {}", config.file_name())))?,
    };
    Ok(if gzip { Box::new(BufReader::with_capacity(64 << 10, MultiGzDecoder::new(reader))) } else { Box::new(reader) })
}

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads only the header (or, without one, the first record) for its columns.
/// `open` yields the input from its start; it is called again only to find
/// the line of a malformed record.
pub fn read_header<R: Read>(
    config: &Config,
    open: impl Fn() -> Result<R, ConnectorError>,
) -> Result<Vec<HeaderColumn>, ConnectorError> {
    let mut reader = csv_reader(config, open()?);
    let mut record = csv::ByteRecord::new();
    first_record(config, &mut reader, &mut record).map_err(|failure| failure.locate(config, &open))
}

/// One pass over the input: header, sample, and (for [`Extent::Count`]) the
/// count. `open` is as for [`read_header`].
pub fn scan<R: Read>(
    config: &Config,
    open: impl Fn() -> Result<R, ConnectorError>,
    extent: Extent,
) -> Result<Scan, ConnectorError> {
    scan_input(config, open()?, extent).map_err(|failure| failure.locate(config, &open))
}

fn scan_input(config: &Config, input: impl Read, extent: Extent) -> Result<Scan, Failure> {
    let mut reader = csv_reader(config, input);
    let mut record = csv::ByteRecord::new();
    let columns = first_record(config, &mut reader, &mut record)?;
    let mut stats = vec![ColumnStats::default(); columns.len()];
    let mut sampled = 0u64;
    // Without a header the first record is data, and is already in `record`.
    let mut have_record = !config.has_header;
    while sampled < config.sample_rows {
        if !have_record && !next_record(config, &mut reader, &mut record)? {
            break;
        }
        have_record = false;
        observe(config, &record, &mut stats)?;
        sampled += 1;
    }
    let rows = match extent {
        Extent::Sample => None,
        Extent::Count => Some(sampled + count_rest(config, &mut reader, &mut record)?),
    };
    Ok(Scan { columns, stats, sampled, rows })
}

/// The data records from the start of the input, one at a time (the
/// preview's pass): the header is skipped, each record is checked as the
/// scan checks it, and nothing past the last record asked for is read.
pub struct DataRecords<R> {
    config: Config,
    /// Opens the input again from its start, only to place a failure.
    reopen: fn(&Config) -> Result<R, ConnectorError>,
    reader: Records<DecodingReader<BufReader<R>>>,
    record: csv::ByteRecord,
    /// Without a header the first record is data, and is already read.
    first_is_data: bool,
}

impl<R: Read> DataRecords<R> {
    pub fn open(config: &Config, reopen: fn(&Config) -> Result<R, ConnectorError>) -> Result<Self, ConnectorError> {
        let mut reader = csv_reader(config, reopen(config)?);
        let mut record = csv::ByteRecord::new();
        first_record(config, &mut reader, &mut record).map_err(|failure| failure.locate(config, &|| reopen(config)))?;
        Ok(Self { config: config.clone(), reopen, reader, record, first_is_data: !config.has_header })
    }

    /// The next record's fields, `None` for a null value (the config's
    /// `null_values`); `Ok(None)` at the end of the input.
    pub fn next(&mut self) -> Result<Option<Vec<Option<&str>>>, ConnectorError> {
        if !std::mem::take(&mut self.first_is_data) {
            match next_record(&self.config, &mut self.reader, &mut self.record) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(failure) => return Err(self.locate(failure)),
            }
        }
        let values = match fields(&self.config, &self.record) {
            Ok(values) => values,
            Err(failure) => return Err(self.locate(failure)),
        };
        Ok(Some(values.into_iter().map(|value| (!self.config.is_null(value)).then_some(value)).collect()))
    }

    /// A `protocol` error about the record just read, placed at its line.
    pub fn record_error(&self, message: String) -> ConnectorError {
        let byte = self.record.position().map_or(0, csv::Position::byte);
        self.locate(Failure::Record { byte, message })
    }

    fn locate(&self, failure: Failure) -> ConnectorError {
        failure.locate(&self.config, &|| (self.reopen)(&self.config))
    }
}

/// A failure while reading, before it is turned into a [`ConnectorError`].
enum Failure {
    Error(ConnectorError),
    /// A malformed record: where the CSV parser says it starts, and what is wrong.
    Record {
        byte: u64,
        message: String,
    },
}

impl Failure {
    fn locate<R: Read>(self, config: &Config, open: &impl Fn() -> Result<R, ConnectorError>) -> ConnectorError {
        match self {
            Failure::Error(error) => error,
            Failure::Record { byte, message } => {
                let place = match open()
                    .and_then(|input| line_at(DecodingReader::new(BufReader::new(input), config.encoding), byte))
                {
                    Ok(line) => format!("line {line}"),
                    Err(_) => format!("near byte {byte}"),
                };
                ConnectorError::protocol(format!("{place}: {message}"))
            }
        }
    }
}

/// The line on which the record that the CSV parser places at `byte` starts.
///
/// The parser's own line numbers cannot be used: its position for a record
/// is where the previous record ended, so blank lines before the record are
/// not counted, and a CRLF counts as the line break only after the next
/// record. So this reads the (decoded) input again, which happens only on
/// the error path, and counts line breaks (LF, CRLF or a lone CR) before the
/// first byte at or after `byte` that is not a line break.
fn line_at(input: impl Read, byte: u64) -> Result<u64, ConnectorError> {
    let mut breaks = 0u64;
    let mut pending_cr = false;
    for (offset, next) in (0u64..).zip(BufReader::new(input).bytes()) {
        let b = next.map_err(|error| file_error(&error, "read"))?;
        if offset >= byte && b != b'\r' && b != b'\n' {
            break;
        }
        match b {
            b'\n' => {
                breaks += 1;
                pending_cr = false;
            }
            b'\r' => {
                breaks += u64::from(pending_cr);
                pending_cr = true;
            }
            _ => {
                breaks += u64::from(pending_cr);
                pending_cr = false;
            }
        }
    }
    Ok(breaks + u64::from(pending_cr) + 1)
}

/// Counts the records after the sample. Past the sample only the count
/// matters, but the text must still decode, so that a bad byte anywhere is
/// reported.
fn count_rest<D: Read>(config: &Config, reader: &mut Records<D>, record: &mut csv::ByteRecord) -> Result<u64, Failure> {
    let mut rows = 0u64;
    while next_record(config, reader, record)? {
        validate_utf8(config, record)?;
        rows += 1;
    }
    Ok(rows)
}

/// The most bytes one record may take. The parser holds a whole record in
/// memory, so a runaway one (an unclosed quote, a file that is not CSV) is
/// stopped here with its line, rather than by the sandbox's memory limit.
pub const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;

/// The most columns a file may have (a spreadsheet's limit): the sample
/// keeps statistics per column.
pub const MAX_COLUMNS: usize = 16_384;

/// The parser over the decoded input.
type Records<D> = csv::Reader<Bounded<D>>;

fn csv_reader<R: Read>(config: &Config, input: R) -> Records<DecodingReader<BufReader<R>>> {
    csv::ReaderBuilder::new()
        .delimiter(config.delimiter)
        .quote(config.quote)
        // The header is read as a record here, so that its field count is
        // checked like any other.
        .has_headers(false)
        .flexible(false)
        .from_reader(Bounded {
            inner: DecodingReader::new(BufReader::new(input), config.encoding),
            read: 0,
            record_start: 0,
        })
}

/// Fails a read once the record being parsed has grown past
/// [`MAX_RECORD_BYTES`]. The parser reads ahead by at most its buffer, so
/// bytes handed out since the record's start approximate its size.
struct Bounded<D> {
    inner: D,
    /// Decoded bytes handed to the parser.
    read: u64,
    /// Where the parser says the current record starts.
    record_start: u64,
}

impl<D: Read> Read for Bounded<D> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.saturating_sub(self.record_start) > MAX_RECORD_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RecordTooLong { start: self.record_start },
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[derive(Debug)]
struct RecordTooLong {
    start: u64,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a record is longer than {} MiB (is a quote left open?)", MAX_RECORD_BYTES / (1024 * 1024))
    }
}

impl std::error::Error for RecordTooLong {}

/// Reads the first record into `record` and names the columns from it.
fn first_record<D: Read>(
    config: &Config,
    reader: &mut Records<D>,
    record: &mut csv::ByteRecord,
) -> Result<Vec<HeaderColumn>, Failure> {
    if !next_record(config, reader, record)? {
        return Err(Failure::Error(ConnectorError::protocol(format!(
            "{} is empty: there is no {} to read",
            config.file_name(),
            if config.has_header { "header" } else { "record" }
        ))));
    }
    if record.len() > MAX_COLUMNS {
        return Err(Failure::Error(ConnectorError::unsupported(format!(
            "the first record has {} fields; at most {MAX_COLUMNS} columns are supported",
            record.len()
        ))));
    }
    if !config.has_header {
        return Ok((1..=record.len()).map(|i| HeaderColumn { name: format!("column_{i}"), comment: None }).collect());
    }
    let names = fields(config, record)?;
    Ok(unique_names(&names))
}

fn next_record<D: Read>(
    config: &Config,
    reader: &mut Records<D>,
    record: &mut csv::ByteRecord,
) -> Result<bool, Failure> {
    let more = reader.read_byte_record(record).map_err(|error| csv_error(config, &error))?;
    let next_start = reader.position().byte();
    reader.get_mut().record_start = next_start;
    Ok(more)
}

fn observe(config: &Config, record: &csv::ByteRecord, stats: &mut [ColumnStats]) -> Result<(), Failure> {
    let values = fields(config, record)?;
    for (i, column) in stats.iter_mut().enumerate() {
        // The reader rejects records of another length, but a short record
        // would mean missing values, which are nulls.
        match values.get(i) {
            Some(value) if !config.is_null(value) => column.observe_text(value),
            _ => column.observe_null(),
        }
    }
    Ok(())
}

/// The record's fields as text. After decoding, only a UTF-8 file can
/// hold bytes that are not UTF-8.
fn fields<'r>(config: &Config, record: &'r csv::ByteRecord) -> Result<Vec<&'r str>, Failure> {
    record
        .iter()
        .enumerate()
        .map(|(i, field)| std::str::from_utf8(field).map_err(|_| not_utf8(config, record, i)))
        .collect()
}

fn validate_utf8(config: &Config, record: &csv::ByteRecord) -> Result<(), Failure> {
    match record.iter().position(|field| std::str::from_utf8(field).is_err()) {
        Some(i) => Err(not_utf8(config, record, i)),
        None => Ok(()),
    }
}

fn not_utf8(config: &Config, record: &csv::ByteRecord, field: usize) -> Failure {
    let hint = match config.encoding {
        Encoding::Utf8 => " (set `encoding` if the file is not UTF-8)",
        _ => "",
    };
    Failure::Record {
        byte: record.position().map_or(0, csv::Position::byte),
        message: format!("field {} is not valid UTF-8{hint}", field + 1),
    }
}

fn csv_error(config: &Config, error: &csv::Error) -> Failure {
    match error.kind() {
        csv::ErrorKind::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<RecordTooLong>()) {
            Some(too_long) => Failure::Record { byte: too_long.start, message: too_long.to_string() },
            None if io.kind() == std::io::ErrorKind::InvalidData => {
                Failure::Error(ConnectorError::protocol(format!("{}: {io}", config.file_name())))
            }
            None => Failure::Error(file_error(io, &format!("read {}", config.file_name()))),
        },
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => Failure::Record {
            byte: pos.as_ref().map_or(0, csv::Position::byte),
            message: format!(
                "{len} field{} where {} has {expected_len}",
                if *len == 1 { "" } else { "s" },
                if config.has_header { "the header" } else { "the first record" },
            ),
        },
        _ => Failure::Error(ConnectorError::protocol(format!("{}: {error}", config.file_name()))),
    }
}

pub use inlet_sdk::file_error;

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;
    use inlet_sdk::config::ConnectorConfig;

    fn config(extra: &str) -> Config {
        let json = format!(r#"{{"file_path":"/data/t.csv"{extra}}}"#);
        Config::from_json(&json).unwrap()
    }

    fn scan_bytes(extra: &str, bytes: &[u8], extent: Extent) -> Result<Scan, ConnectorError> {
        scan(&config(extra), || Ok(bytes), extent)
    }

    fn scan_str(extra: &str, text: &str, extent: Extent) -> Result<Scan, ConnectorError> {
        scan_bytes(extra, text.as_bytes(), extent)
    }

    fn names(scan: &Scan) -> Vec<&str> {
        scan.columns.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn header_and_sample_and_count() {
        let text = "id,name,price\n1,ann,1.50\n2,,2\n3,NULL,30.25\n";
        let scan = scan_str("", text, Extent::Count).unwrap();
        assert_eq!(names(&scan), ["id", "name", "price"]);
        assert_eq!((scan.sampled, scan.rows), (3, Some(3)));
        let id = scan.stats[0].infer();
        assert_eq!((id.data_type, id.nullable), ("int64", false));
        let name = scan.stats[1].infer();
        assert_eq!((name.data_type, name.nullable, name.max_length), ("string", true, Some(3)));
        let price = scan.stats[2].infer();
        assert_eq!((price.native_type.as_str(), price.nullable), ("decimal(4,2)", false));
    }

    #[test]
    fn the_count_covers_rows_past_the_sample() {
        let mut text = String::from("n\n");
        for i in 0..250 {
            text.push_str(&format!("{i}\n"));
        }
        text.push_str("x\n");
        let scan = scan_str(r#","sample_rows":100"#, &text, Extent::Count).unwrap();
        assert_eq!((scan.sampled, scan.rows), (100, Some(251)));
        // The string in the last row lies outside the sample.
        assert_eq!(scan.stats[0].infer().data_type, "int64");
        let sample = scan_str(r#","sample_rows":100"#, &text, Extent::Sample).unwrap();
        assert_eq!((sample.sampled, sample.rows), (100, None));
    }

    #[test]
    fn without_a_header_columns_are_numbered_and_the_first_record_is_data() {
        let scan = scan_str(r#","has_header":false"#, "1;a\n2;b\n", Extent::Count);
        // The default delimiter is a comma: one column per line.
        assert_eq!(names(&scan.unwrap()), ["column_1"]);
        let scan = scan_str(r#","has_header":false,"delimiter":";""#, "1;a\n2;b\n", Extent::Count).unwrap();
        assert_eq!(names(&scan), ["column_1", "column_2"]);
        assert_eq!(scan.rows, Some(2));
        assert_eq!(scan.stats[0].infer().data_type, "int64");
    }

    #[test]
    fn quoted_fields_keep_delimiters_newlines_and_quotes() {
        let text = "a,b\n\"x, y\",\"line\nbreak\"\n'q',\"say \"\"hi\"\"\"\n";
        let scan = scan_str("", text, Extent::Count).unwrap();
        assert_eq!(scan.rows, Some(2));
        assert_eq!(scan.stats[1].infer().max_length, Some(10));
        let single = scan_str(r#","quote":"'""#, "a\n'1,5'\n", Extent::Count).unwrap();
        assert_eq!(single.stats[0].infer().data_type, "string");
    }

    #[test]
    fn header_names_are_made_unique() {
        let columns = unique_names(&["id", "", "id", "id_2", "", "column_2"]);
        let got: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.comment.is_some())).collect();
        assert_eq!(
            got,
            [
                ("id", false),
                ("column_2_2", true),
                ("id_3", true),
                ("id_2", false),
                ("column_5", true),
                ("column_2", false)
            ]
        );
        assert_eq!(columns[2].comment.as_deref(), Some("renamed from the duplicate header \"id\""));
        assert_eq!(columns[1].comment.as_deref(), Some("the header is empty"));
    }

    #[test]
    fn a_header_only_file_has_nullable_string_columns_and_no_rows() {
        let scan = scan_str("", "a,b\r\n", Extent::Count).unwrap();
        assert_eq!(scan.rows, Some(0));
        let a = scan.stats[0].infer();
        assert_eq!((a.data_type, a.nullable), ("string", true));
    }

    #[test]
    fn an_empty_file_is_a_protocol_error() {
        let error = scan_str("", "", Extent::Sample).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains("empty"), "{}", error.message);
    }

    #[test]
    fn unequal_field_counts_name_the_line() {
        let error = scan_str("", "a,b\n1,2\n\n3\n", Extent::Sample).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert_eq!(error.message, "line 4: 1 field where the header has 2");
        // Past the sample, the count finds it too.
        let error = scan_str(r#","sample_rows":1"#, "a,b\n1,2\n3,4\n5,6,7\n", Extent::Count).unwrap_err();
        assert_eq!(error.message, "line 4: 3 fields where the header has 2");
    }

    #[test]
    fn lines_count_blank_lines_crlf_and_quoted_breaks() {
        let cases: [(&str, &str); 6] = [
            ("a,b\n1,2\n\n3\n", "line 4"),
            ("a,b\r\n1,2\r\n\r\n\r\n3\r\n", "line 5"),
            ("a,b\n\"1\n\n\",2\n3\n", "line 5"),
            ("a,b\n1,2\n\n\n3,4\n5\n", "line 6"),
            ("\n\na,b\n1\n", "line 4"),
            ("a,b\r1,2\r\r3\r", "line 4"),
        ];
        for (text, line) in cases {
            let error = scan_str("", text, Extent::Sample).unwrap_err();
            assert!(error.message.starts_with(&format!("{line}: 1 field")), "{text:?}: {}", error.message);
        }
        let bom_utf16: Vec<u8> = "\u{FEFF}a,b\r\n\r\n1\r\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let error = scan_bytes(r#","encoding":"utf-16le""#, &bom_utf16, Extent::Sample).unwrap_err();
        assert!(error.message.starts_with("line 3: "), "{}", error.message);
    }

    #[test]
    fn a_runaway_record_is_stopped_with_its_line() {
        let mut text = String::from("a,b\n1,2\n\n3,\"");
        text.push_str(&"x".repeat(MAX_RECORD_BYTES as usize + 100_000));
        let error = scan_str("", &text, Extent::Sample).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert_eq!(error.message, "line 4: a record is longer than 8 MiB (is a quote left open?)");
        // Many records of any total size are fine.
        let mut many = String::from("a\n");
        for _ in 0..200_000 {
            many.push_str("0123456789012345678901234567890123456789\n");
        }
        assert_eq!(scan_str("", &many, Extent::Count).unwrap().rows, Some(200_000));
    }

    #[test]
    fn too_many_columns_are_unsupported() {
        let header = vec!["c"; MAX_COLUMNS + 1].join(",");
        let error = scan_str("", &header, Extent::Sample).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        let header = vec!["c"; MAX_COLUMNS].join(",");
        assert_eq!(scan_str("", &header, Extent::Sample).unwrap().columns.len(), MAX_COLUMNS);
    }

    #[test]
    fn bytes_that_are_not_utf8_name_the_line() {
        let error = scan_bytes("", b"a,b\n\n1,caf\xE9\n", Extent::Sample).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.starts_with("line 3: field 2 is not valid UTF-8"), "{}", error.message);
    }

    #[test]
    fn latin1_and_utf16_files_decode() {
        let latin1 = b"name;city\nJos\xE9;M\xFCnchen\nRen\xE9e;Z\xFCrich\n";
        let scan = scan_bytes(r#","delimiter":";","encoding":"latin1""#, latin1, Extent::Count).unwrap();
        assert_eq!(names(&scan), ["name", "city"]);
        assert_eq!(scan.stats[1].infer().max_length, Some(7));
        let text = "\u{FEFF}n,w\n1,é\n";
        let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let scan = scan_bytes(r#","encoding":"utf-16be""#, &utf16, Extent::Count).unwrap();
        assert_eq!(names(&scan), ["n", "w"]);
        assert_eq!(scan.rows, Some(1));
    }

    #[test]
    fn a_utf8_bom_is_not_part_of_the_first_name() {
        let scan = scan_str("", "\u{FEFF}id\n1\n", Extent::Sample).unwrap();
        assert_eq!(names(&scan), ["id"]);
    }

    #[test]
    fn custom_null_values_replace_the_defaults() {
        let scan = scan_str(r#","null_values":["-"]"#, "a,b\n-,\n1,x\n", Extent::Sample).unwrap();
        let a = scan.stats[0].infer();
        assert_eq!((a.data_type, a.nullable), ("int64", true));
        // An empty string is a value here, so the column is a non-null string.
        let b = scan.stats[1].infer();
        assert_eq!((b.data_type, b.nullable, b.max_length), ("string", false, Some(1)));
    }

    #[test]
    fn file_errors_map_to_kinds() {
        use std::io::{Error, ErrorKind as Io};
        assert_eq!(file_error(&Error::from(Io::NotFound), "open").kind, ErrorKind::NotFound);
        assert_eq!(file_error(&Error::from(Io::PermissionDenied), "open").kind, ErrorKind::Permission);
        let missing = open(&config("")).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::NotFound);
    }
}
