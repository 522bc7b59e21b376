//! Responses to a command: OK, ERR and EOF packets, and text-protocol result
//! sets (column count, column definitions, rows of length-encoded strings).

use std::io::{Read, Write};

use inlet_sdk::ConnectorError;

use crate::error::{ServerError, parse_err};
use crate::packet::{Cursor, MAX_CHUNK, PacketIo, ParseError};

/// One row of a text result; `None` is SQL NULL.
pub type Row = Vec<Option<String>>;

/// The most data one query may return: past it the query fails with a clear
/// error (ask for smaller pages) instead of exhausting guest memory.
pub const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// More columns than any catalog query asks for; a larger count is hostile.
const MAX_COLUMNS: u64 = 4096;

/// SERVER_MORE_RESULTS_EXISTS: another result follows this one.
const MORE_RESULTS_EXISTS: u16 = 0x0008;

/// The status flags of an OK packet (affected rows and insert id are not needed).
pub fn parse_ok_status(payload: &[u8]) -> Result<u16, ParseError> {
    let mut c = Cursor::new(payload);
    c.skip(1, "OK packet")?;
    c.lenenc_u64("affected rows")?;
    c.lenenc_u64("last insert id")?;
    c.u16("status flags")
}

/// Whether a packet that starts with 0xFE ends a result: a classic EOF packet
/// (under 9 bytes) or, with DEPRECATE_EOF, an OK packet with an 0xFE header.
/// A row can start with 0xFE too (an 8-byte length), but then it is longer
/// than 16 MiB and so comes as a full chunk.
pub fn is_end_of_rows(payload: &[u8], deprecate_eof: bool) -> bool {
    payload.first() == Some(&0xFE) && if deprecate_eof { payload.len() < MAX_CHUNK } else { payload.len() < 9 }
}

/// The status flags of the packet that ended a result.
fn end_status(payload: &[u8], deprecate_eof: bool) -> Result<u16, ParseError> {
    if deprecate_eof {
        parse_ok_status(payload)
    } else {
        let mut c = Cursor::new(payload);
        c.skip(1, "EOF packet")?;
        c.skip(2, "warning count")?;
        c.u16("status flags")
    }
}

/// A column definition (Protocol::ColumnDefinition41); only the name is kept.
pub fn parse_column_name(payload: &[u8]) -> Result<String, ParseError> {
    let mut c = Cursor::new(payload);
    for what in ["catalog", "schema", "table", "original table"] {
        c.lenenc_bytes(what)?;
    }
    let name = c.lenenc_bytes("column name")?.ok_or(ParseError::Malformed("column name"))?;
    c.lenenc_bytes("original column name")?;
    // Character set, length, type, flags, decimals: 12 bytes behind a length.
    let fixed = c.lenenc_u64("column fields")?;
    if fixed < 12 {
        return Err(ParseError::Malformed("column fields"));
    }
    c.skip(12, "column fields")?;
    Ok(String::from_utf8_lossy(name).into_owned())
}

/// One text-protocol row of `width` values.
pub fn parse_row(payload: &[u8], width: usize) -> Result<Row, ParseError> {
    let mut c = Cursor::new(payload);
    let mut row = Vec::with_capacity(width);
    for _ in 0..width {
        row.push(c.lenenc_bytes("row value")?.map(|bytes| String::from_utf8_lossy(bytes).into_owned()));
    }
    if !c.is_empty() {
        return Err(ParseError::Malformed("row (more values than columns)"));
    }
    Ok(row)
}

/// Reads the whole response to COM_QUERY. The outer error means the
/// connection can no longer be trusted (transport or protocol failure); the
/// inner one is the server's own error, after which the session is fine.
pub fn read_response<S: Read + Write>(
    io: &mut PacketIo<S>,
    deprecate_eof: bool,
) -> Result<Result<Vec<Row>, ServerError>, ConnectorError> {
    let mut rows = Vec::new();
    let mut result_bytes = 0usize;
    loop {
        let first = io.read_packet()?;
        let more = match first.first() {
            None => return Err(ConnectorError::protocol("the server sent an empty response")),
            Some(0x00) => parse_ok_status(&first)? & MORE_RESULTS_EXISTS != 0,
            Some(0xFF) => return Ok(Err(parse_err(&first)?)),
            Some(0xFB) => {
                // LOAD DATA LOCAL INFILE: never enabled by this client.
                return Err(ConnectorError::protocol("the server asked to read a local file; refused"));
            }
            Some(_) => {
                let width = Cursor::new(&first).lenenc_u64("column count")?;
                if width == 0 || width > MAX_COLUMNS {
                    return Err(ConnectorError::protocol(format!("the server announced {width} columns")));
                }
                let width = width as usize;
                for _ in 0..width {
                    parse_column_name(&io.read_packet()?)?;
                }
                if !deprecate_eof {
                    let eof = io.read_packet()?;
                    if !is_end_of_rows(&eof, false) {
                        return Err(ConnectorError::protocol("expected an EOF packet after the column definitions"));
                    }
                }
                loop {
                    let packet = io.read_packet()?;
                    if packet.first() == Some(&0xFF) {
                        return Ok(Err(parse_err(&packet)?));
                    }
                    if is_end_of_rows(&packet, deprecate_eof) {
                        break end_status(&packet, deprecate_eof)? & MORE_RESULTS_EXISTS != 0;
                    }
                    result_bytes += packet.len();
                    if result_bytes > MAX_RESULT_BYTES {
                        return Err(ConnectorError::protocol(format!(
                            "the result exceeds {MAX_RESULT_BYTES} bytes; use a smaller page size"
                        )));
                    }
                    rows.push(parse_row(&packet, width)?);
                }
            }
        };
        if !more {
            return Ok(Ok(rows));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{frame, put_lenenc_bytes, put_lenenc_int};
    use std::io::Cursor as IoCursor;

    struct Script {
        input: IoCursor<Vec<u8>>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Packets numbered from 1 (the response to a command sent as packet 0).
    fn server(payloads: &[Vec<u8>]) -> PacketIo<Script> {
        let mut seq = 1;
        let bytes = payloads.iter().flat_map(|p| frame(p, &mut seq)).collect();
        PacketIo::with_seq(Script { input: IoCursor::new(bytes) }, 1)
    }

    fn column(name: &str) -> Vec<u8> {
        let mut p = Vec::new();
        for part in ["def", "information_schema", "TABLES", "TABLES", name, name] {
            put_lenenc_bytes(&mut p, part.as_bytes());
        }
        p.push(0x0C);
        p.extend_from_slice(&[0x21, 0x00, 0x00, 0x01, 0x00, 0x00, 0xFD, 0x01, 0x10, 0x00, 0x00, 0x00]);
        p
    }

    fn row(values: &[Option<&str>]) -> Vec<u8> {
        let mut p = Vec::new();
        for value in values {
            match value {
                Some(v) => put_lenenc_bytes(&mut p, v.as_bytes()),
                None => p.push(0xFB),
            }
        }
        p
    }

    fn count(n: u64) -> Vec<u8> {
        let mut p = Vec::new();
        put_lenenc_int(&mut p, n);
        p
    }

    const OK_END: [u8; 7] = [0xFE, 0, 0, 0x02, 0, 0, 0];
    const EOF: [u8; 5] = [0xFE, 0, 0, 0x02, 0];

    #[test]
    fn reads_a_result_set_with_deprecate_eof() {
        let mut io = server(&[
            count(2),
            column("a"),
            column("b"),
            row(&[Some("1"), None]),
            row(&[Some(""), Some("x")]),
            OK_END.to_vec(),
        ]);
        let rows = read_response(&mut io, true).unwrap().unwrap();
        assert_eq!(rows, vec![vec![Some("1".into()), None], vec![Some("".into()), Some("x".into())]]);
    }

    #[test]
    fn reads_a_result_set_with_classic_eof_packets() {
        let mut io = server(&[count(1), column("a"), EOF.to_vec(), row(&[Some("v")]), EOF.to_vec()]);
        assert_eq!(read_response(&mut io, false).unwrap().unwrap(), vec![vec![Some("v".into())]]);
    }

    #[test]
    fn an_ok_is_an_empty_result_and_an_err_a_server_error() {
        let mut io = server(&[vec![0x00, 0, 0, 0x02, 0, 0, 0]]);
        assert_eq!(read_response(&mut io, true).unwrap().unwrap(), Vec::<Row>::new());
        let mut err = vec![0xFF, 0x7A, 0x04];
        err.extend_from_slice(b"#42S02Table 'x.y' doesn't exist");
        let mut io = server(&[err]);
        assert_eq!(read_response(&mut io, true).unwrap().unwrap_err().code, 1146);
    }

    #[test]
    fn an_error_in_the_middle_of_rows_is_the_servers() {
        let mut err = vec![0xFF, 0xB1, 0x07];
        err.extend_from_slice(b"#70100Query execution was interrupted (max_statement_time exceeded)");
        let mut io = server(&[count(1), column("a"), row(&[Some("1")]), err]);
        assert_eq!(read_response(&mut io, true).unwrap().unwrap_err().code, 1969);
    }

    #[test]
    fn following_results_are_read_to_the_end() {
        let more = [0xFE, 0, 0, 0x0A, 0, 0, 0];
        let mut io =
            server(&[count(1), column("a"), row(&[Some("1")]), more.to_vec(), vec![0x00, 0, 0, 0x02, 0, 0, 0]]);
        assert_eq!(read_response(&mut io, true).unwrap().unwrap(), vec![vec![Some("1".into())]]);
    }

    #[test]
    fn malformed_responses_are_protocol_errors() {
        let kind = |packets: &[Vec<u8>]| read_response(&mut server(packets), true).unwrap_err().kind;
        use inlet_sdk::ErrorKind::Protocol;
        // A row wider than its columns, a row value past the packet, a local-file request.
        assert_eq!(kind(&[count(1), column("a"), row(&[Some("1"), Some("2")]), OK_END.to_vec()]), Protocol);
        assert_eq!(kind(&[count(1), column("a"), vec![5, b'a'], OK_END.to_vec()]), Protocol);
        assert_eq!(kind(&[vec![0xFB, b'/', b'e', b't', b'c']]), Protocol);
        assert_eq!(kind(&[count(100_000)]), Protocol);
        assert_eq!(kind(&[vec![]]), Protocol);
        assert_eq!(kind(&[count(1), vec![1, 2, 3]]), Protocol);
    }

    #[test]
    fn column_definitions_parse_and_truncations_fail() {
        let def = column("TABLE_NAME");
        assert_eq!(parse_column_name(&def).unwrap(), "TABLE_NAME");
        for cut in 0..def.len() {
            assert!(parse_column_name(&def[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn end_of_rows_needs_the_right_shape() {
        assert!(is_end_of_rows(&EOF, false));
        assert!(is_end_of_rows(&OK_END, true));
        // A row whose first value has an 8-byte length is not an end.
        let mut long_row = vec![0xFE];
        long_row.extend_from_slice(&[0; 8]);
        assert!(!is_end_of_rows(&long_row, false));
        assert!(!is_end_of_rows(&[0x00], true));
    }
}

/// Whatever bytes arrive, the parsers answer with an error, never a panic.
#[cfg(test)]
mod hostile_input {
    use super::*;
    use crate::packet::frame;
    use std::io::Cursor as IoCursor;

    /// xorshift64: deterministic noise without a dependency.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn bytes(&mut self, max: usize) -> Vec<u8> {
            let length = (self.next() as usize) % max;
            // Bias towards the bytes the protocol treats specially.
            let special = [0x00, 0x01, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF, b'#', 0x0C];
            (0..length)
                .map(|_| {
                    let n = self.next();
                    if n.is_multiple_of(3) { special[(n as usize / 3) % special.len()] } else { n as u8 }
                })
                .collect()
        }
    }

    struct Replay(IoCursor<Vec<u8>>);

    impl Read for Replay {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Replay {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// One of each way a binary value is read (and one twice).
    const ROW_DECODERS: [crate::values::Decoder; 8] = {
        use crate::values::Decoder::*;
        [Int8, Text, Date, Time, Timestamp, Float64, Decimal, Bytes]
    };

    #[test]
    fn random_payloads_never_panic() {
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let payload = noise.bytes(64);
            let _ = crate::handshake::parse_handshake(&payload);
            let _ = crate::handshake::parse_auth_switch(&payload);
            let _ = parse_err(&payload);
            let _ = parse_ok_status(&payload);
            let _ = parse_column_name(&payload);
            let _ = parse_row(&payload, (noise.next() % 5) as usize);
            let _ = crate::auth::parse_public_key(&payload);
            let _ = crate::values::parse_column_def(&payload);
            let _ = crate::values::decode_row(&payload, &ROW_DECODERS[..(noise.next() % 8) as usize]);
        }
    }

    #[test]
    fn random_responses_never_panic() {
        let mut noise = Noise(42);
        for _ in 0..5_000 {
            let mut seq = 1;
            let mut wire = Vec::new();
            for _ in 0..(noise.next() % 6) {
                wire.extend(frame(&noise.bytes(24), &mut seq));
            }
            // Sometimes a raw, unframed tail too.
            wire.extend(noise.bytes(8));
            let mut io = PacketIo::with_seq(Replay(IoCursor::new(wire)), 1);
            let _ = read_response(&mut io, noise.next().is_multiple_of(2));
        }
    }
}
