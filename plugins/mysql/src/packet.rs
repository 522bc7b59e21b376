//! MySQL packet framing and the payload encodings every packet uses.
//!
//! A packet is a 3-byte little-endian payload length, a 1-byte sequence id
//! and the payload. A payload of 2^24 - 1 bytes or more is split: every full
//! chunk is followed by another packet, and a payload that is an exact
//! multiple of the chunk size ends with an empty one. Sequence ids restart at
//! 0 with each command and must arrive in order.

use std::io::{Read, Write};

use inlet_sdk::{ConnectorError, IoErrorExt};

/// The largest payload one packet can carry; longer ones continue.
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// The largest reassembled payload accepted from the server. A catalog row is
/// far smaller; anything bigger is treated as hostile rather than buffered
/// (the sandbox's memory limit would end the call less clearly).
pub const MAX_PACKET_BYTES: usize = 16 * 1024 * 1024;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A payload that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the {0} runs past the end of its packet")]
    Truncated(&'static str),
    #[error("the {0} is malformed")]
    Malformed(&'static str),
}

impl From<ParseError> for ConnectorError {
    fn from(error: ParseError) -> Self {
        ConnectorError::protocol(format!("malformed packet from the server: {error}"))
    }
}

/// Reads and writes packets on a stream, tracking the sequence id.
pub struct PacketIo<S> {
    stream: S,
    /// The id the next packet (either way) must carry.
    seq: u8,
    /// Bytes read from the stream but not yet consumed.
    buffer: Vec<u8>,
    start: usize,
    /// The largest reassembled payload accepted.
    max_packet: usize,
}

impl<S: Read + Write> PacketIo<S> {
    pub fn new(stream: S) -> Self {
        Self { stream, seq: 0, buffer: Vec::new(), start: 0, max_packet: MAX_PACKET_BYTES }
    }

    /// Continues a conversation on another stream (after the TLS upgrade),
    /// keeping the sequence id.
    pub fn with_seq(stream: S, seq: u8) -> Self {
        Self { seq, ..Self::new(stream) }
    }

    /// Accepts payloads up to `max_packet` bytes instead of [`MAX_PACKET_BYTES`].
    pub fn with_max_packet(mut self, max_packet: usize) -> Self {
        self.max_packet = max_packet;
        self
    }

    /// The start of a new command: its first packet has id 0.
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    pub fn seq(&self) -> u8 {
        self.seq
    }

    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream, for the TLS upgrade. Fails if the server sent bytes that
    /// were not read yet: before the handshake nothing may be pending, and
    /// bytes injected there must never be taken as protocol data.
    pub fn into_parts(self) -> Result<(S, u8), ConnectorError> {
        if self.start < self.buffer.len() {
            return Err(ConnectorError::protocol("the server sent unexpected data before the TLS handshake"));
        }
        Ok((self.stream, self.seq))
    }

    /// Writes one payload, split into as many packets as it needs.
    pub fn write_packet(&mut self, payload: &[u8]) -> Result<(), ConnectorError> {
        let frame = frame(payload, &mut self.seq);
        self.stream.write_all(&frame).and_then(|()| self.stream.flush()).io_context("send to the server")
    }

    /// Reads one payload, joining split packets. Nothing is consumed until
    /// the whole payload is buffered, so a read that timed out can simply be
    /// tried again: the stream stays in step.
    pub fn read_packet(&mut self) -> Result<Vec<u8>, ConnectorError> {
        // The chunks found so far: where each body starts (after `start`) and its length.
        let mut chunks = Vec::new();
        let mut offset = 0;
        let mut total = 0;
        let mut seq = self.seq;
        loop {
            self.fill(offset + 4)?;
            let at = self.start + offset;
            let header = &self.buffer[at..at + 4];
            let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            if header[3] != seq {
                return Err(ConnectorError::protocol(format!(
                    "packets out of order: expected sequence id {seq}, got {}",
                    header[3]
                )));
            }
            seq = seq.wrapping_add(1);
            if total + length > self.max_packet {
                return Err(ConnectorError::protocol(format!(
                    "the server sent a packet larger than {} bytes",
                    self.max_packet
                )));
            }
            total += length;
            self.fill(offset + 4 + length)?;
            chunks.push((offset + 4, length));
            offset += 4 + length;
            if length < MAX_CHUNK {
                break;
            }
        }
        let mut payload = Vec::with_capacity(total);
        for (at, length) in chunks {
            let at = self.start + at;
            payload.extend_from_slice(&self.buffer[at..at + length]);
        }
        self.seq = seq;
        self.start += offset;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
        Ok(payload)
    }

    /// Reads from the stream until `n` unconsumed bytes are buffered. A
    /// failed read leaves what was buffered in place.
    fn fill(&mut self, n: usize) -> Result<(), ConnectorError> {
        while self.buffer.len() - self.start < n {
            if self.start > 0 {
                self.buffer.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; READ_CHUNK];
            let read = self.stream.read(&mut chunk).io_context("read from the server")?;
            if read == 0 {
                return Err(ConnectorError::unreachable("the server closed the connection"));
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
        Ok(())
    }
}

/// The packets for one payload, numbered from `seq` on (which is advanced).
pub fn frame(payload: &[u8], seq: &mut u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4 * (payload.len() / MAX_CHUNK + 1));
    let mut rest = payload;
    loop {
        let chunk = &rest[..rest.len().min(MAX_CHUNK)];
        let length = chunk.len();
        out.extend_from_slice(&[length as u8, (length >> 8) as u8, (length >> 16) as u8, *seq]);
        out.extend_from_slice(chunk);
        *seq = seq.wrapping_add(1);
        rest = &rest[length..];
        // A full chunk says "more follows", even when nothing does: then an
        // empty packet ends the payload.
        if length < MAX_CHUNK {
            return out;
        }
    }
}

/// Reads the encodings of the protocol out of one payload, never past its end.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        if self.remaining() < n {
            return Err(ParseError::Truncated(what));
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), ParseError> {
        self.bytes(n, what).map(|_| ())
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, ParseError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u24(&mut self, what: &'static str) -> Result<u32, ParseError> {
        let b = self.bytes(3, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, ParseError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, ParseError> {
        let b = self.bytes(8, what)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// A length-encoded integer; `None` is 0xFB, which means NULL in a row.
    pub fn lenenc_int(&mut self, what: &'static str) -> Result<Option<u64>, ParseError> {
        match self.u8(what)? {
            first @ 0..=0xFA => Ok(Some(u64::from(first))),
            0xFB => Ok(None),
            0xFC => self.u16(what).map(|v| Some(u64::from(v))),
            0xFD => self.u24(what).map(|v| Some(u64::from(v))),
            0xFE => self.u64(what).map(Some),
            // 0xFF starts an ERR packet, never an integer.
            0xFF => Err(ParseError::Malformed(what)),
        }
    }

    /// A length-encoded integer where NULL is not allowed.
    pub fn lenenc_u64(&mut self, what: &'static str) -> Result<u64, ParseError> {
        self.lenenc_int(what)?.ok_or(ParseError::Malformed(what))
    }

    /// A length-encoded string; `None` is NULL. The length is checked against
    /// what the packet holds before anything is taken, so a lying length
    /// cannot make it allocate.
    pub fn lenenc_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, ParseError> {
        match self.lenenc_int(what)? {
            None => Ok(None),
            Some(length) => {
                let length = usize::try_from(length).map_err(|_| ParseError::Truncated(what))?;
                self.bytes(length, what).map(Some)
            }
        }
    }

    /// A NUL-terminated string (the NUL is consumed, not returned).
    pub fn nul_terminated(&mut self, what: &'static str) -> Result<&'a [u8], ParseError> {
        let rest = &self.buf[self.pos..];
        let end = rest.iter().position(|b| *b == 0).ok_or(ParseError::Truncated(what))?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc_int(out: &mut Vec<u8>, value: u64) {
    match value {
        0..=0xFA => out.push(value as u8),
        0xFB..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(value as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(value as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_lenenc_int(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor as IoCursor;

    /// A stream that reads from `input` and records what is written.
    struct Duplex {
        input: IoCursor<Vec<u8>>,
        output: Vec<u8>,
        /// At most this many bytes per read, to exercise partial reads.
        max_read: usize,
        /// Times out once when the input reaches this position (a slow server).
        stall_at: Option<u64>,
    }

    impl Duplex {
        fn new(input: Vec<u8>) -> Self {
            Self { input: IoCursor::new(input), output: Vec::new(), max_read: usize::MAX, stall_at: None }
        }
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.stall_at == Some(self.input.position()) {
                self.stall_at = None;
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            let mut n = buf.len().min(self.max_read);
            if let Some(stall) = self.stall_at {
                n = n.min(usize::try_from(stall - self.input.position()).unwrap());
            }
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn small_payloads_get_one_header() {
        let mut seq = 3;
        assert_eq!(frame(&[1, 2, 3], &mut seq), vec![3, 0, 0, 3, 1, 2, 3]);
        assert_eq!(seq, 4);
        let mut seq = 255;
        assert_eq!(frame(&[], &mut seq), vec![0, 0, 0, 255]);
        assert_eq!(seq, 0, "sequence ids wrap");
    }

    #[test]
    fn a_payload_of_exactly_one_chunk_ends_with_an_empty_packet() {
        let payload = vec![7u8; MAX_CHUNK];
        let mut seq = 0;
        let framed = frame(&payload, &mut seq);
        assert_eq!(framed.len(), MAX_CHUNK + 8);
        assert_eq!(&framed[..4], &[0xFF, 0xFF, 0xFF, 0]);
        assert_eq!(&framed[MAX_CHUNK + 4..], &[0, 0, 0, 1]);
        assert_eq!(seq, 2);
    }

    #[test]
    fn split_packets_are_joined_on_read() {
        let payload: Vec<u8> = (0..MAX_CHUNK + 10).map(|i| i as u8).collect();
        let mut seq = 0;
        let mut io = PacketIo::new(Duplex::new(frame(&payload, &mut seq))).with_max_packet(2 * MAX_CHUNK);
        io.get_mut().max_read = 1000;
        assert_eq!(io.read_packet().unwrap(), payload);
        assert_eq!(io.seq(), 2);
    }

    #[test]
    fn writes_frame_and_reads_continue_the_sequence() {
        let mut io = PacketIo::new(Duplex::new(vec![1, 0, 0, 1, 0x00]));
        io.write_packet(b"hi").unwrap();
        assert_eq!(io.get_ref().output, vec![2, 0, 0, 0, b'h', b'i']);
        assert_eq!(io.read_packet().unwrap(), vec![0]);
    }

    #[test]
    fn out_of_order_packets_are_refused() {
        let mut io = PacketIo::new(Duplex::new(vec![1, 0, 0, 5, 0x00]));
        let error = io.read_packet().unwrap_err();
        assert_eq!(error.kind, inlet_sdk::ErrorKind::Protocol);
        assert!(error.message.contains("out of order"));
    }

    #[test]
    fn a_truncated_stream_is_a_lost_connection_not_a_panic() {
        let mut io = PacketIo::new(Duplex::new(vec![10, 0, 0, 0, 1, 2]));
        assert_eq!(io.read_packet().unwrap_err().kind, inlet_sdk::ErrorKind::Unreachable);
        let mut io = PacketIo::new(Duplex::new(vec![10, 0]));
        assert_eq!(io.read_packet().unwrap_err().kind, inlet_sdk::ErrorKind::Unreachable);
    }

    #[test]
    fn oversized_payloads_are_refused_before_they_are_buffered() {
        // Two full chunks claimed (32 MiB), nothing behind them.
        let mut input = vec![0xFF, 0xFF, 0xFF, 0];
        input.extend(std::iter::repeat_n(0u8, MAX_CHUNK));
        input.extend_from_slice(&[0xFF, 0xFF, 0xFF, 1]);
        let mut io = PacketIo::new(Duplex::new(input));
        let error = io.read_packet().unwrap_err();
        assert!(error.message.contains("larger than"), "{}", error.message);
    }

    #[test]
    fn a_read_that_times_out_mid_packet_consumes_nothing() {
        // Two packets; the server stalls inside the second one's body, then
        // (for a split payload) between its chunks.
        let mut input = vec![1, 0, 0, 0, 9, 3, 0, 0, 1, b'a', b'b', b'c'];
        for stall in [2u64, 7, 10] {
            let mut io = PacketIo::new(Duplex::new(input.clone()));
            io.get_mut().stall_at = Some(stall);
            let mut packets = Vec::new();
            while packets.len() < 2 {
                match io.read_packet() {
                    Ok(packet) => packets.push(packet),
                    Err(error) => assert_eq!(error.kind, inlet_sdk::ErrorKind::Timeout, "stall at {stall}"),
                }
            }
            assert_eq!(packets, [vec![9], b"abc".to_vec()], "stall at {stall}");
        }
        // One byte past a full chunk: the largest payload accepted.
        let payload: Vec<u8> = (0..MAX_CHUNK + 1).map(|i| i as u8).collect();
        input = frame(&payload, &mut 0);
        let mut io = PacketIo::new(Duplex::new(input));
        io.get_mut().stall_at = Some(MAX_CHUNK as u64 + 6);
        assert_eq!(io.read_packet().unwrap_err().kind, inlet_sdk::ErrorKind::Timeout);
        assert_eq!(io.read_packet().unwrap(), payload);
        assert_eq!(io.seq(), 2);
    }

    #[test]
    fn pending_bytes_block_the_tls_upgrade() {
        let mut io = PacketIo::new(Duplex::new(vec![1, 0, 0, 0, 9, b'x']));
        io.read_packet().unwrap();
        assert!(io.into_parts().is_err());
    }

    #[test]
    fn lenenc_integers_round_trip_at_every_width() {
        for value in [0u64, 250, 251, 0xFFFF, 0x1_0000, 0xFF_FFFF, 0x100_0000, u64::MAX] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, value);
            let mut cursor = Cursor::new(&out);
            assert_eq!(cursor.lenenc_int("n").unwrap(), Some(value), "{value}");
            assert!(cursor.is_empty());
        }
        assert_eq!(Cursor::new(&[0xFB]).lenenc_int("n").unwrap(), None);
        assert_eq!(Cursor::new(&[0xFF]).lenenc_int("n"), Err(ParseError::Malformed("n")));
        assert_eq!(Cursor::new(&[0xFC, 1]).lenenc_int("n"), Err(ParseError::Truncated("n")));
        assert_eq!(Cursor::new(&[0xFE, 1, 2, 3]).lenenc_int("n"), Err(ParseError::Truncated("n")));
    }

    #[test]
    fn lenenc_strings_with_lying_lengths_fail_cleanly() {
        let mut out = Vec::new();
        put_lenenc_bytes(&mut out, b"abc");
        assert_eq!(Cursor::new(&out).lenenc_bytes("s").unwrap(), Some(&b"abc"[..]));
        // Claims 2^64 - 1 bytes.
        let lying = [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, b'a'];
        assert_eq!(Cursor::new(&lying).lenenc_bytes("s"), Err(ParseError::Truncated("s")));
        assert_eq!(Cursor::new(&[5, b'a']).lenenc_bytes("s"), Err(ParseError::Truncated("s")));
    }

    #[test]
    fn nul_terminated_strings_need_their_nul() {
        let mut cursor = Cursor::new(b"abc\0def");
        assert_eq!(cursor.nul_terminated("s").unwrap(), b"abc");
        assert_eq!(cursor.rest(), b"def");
        assert_eq!(Cursor::new(b"abc").nul_terminated("s"), Err(ParseError::Truncated("s")));
    }
}
