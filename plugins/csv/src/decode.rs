//! Turns the file's bytes into UTF-8 as they stream past, so that the CSV
//! parser and the row counter see one encoding and memory stays bounded.
//!
//! Written here rather than pulled from `encoding_rs`: the five encodings the
//! connector offers need a 32-entry table and `char::decode_utf16`, while
//! `encoding_rs` would link every CJK table into the component.

use std::io::{self, Read};

use serde::Deserialize;

/// The text encodings a CSV file may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Encoding {
    /// UTF-8; a leading byte order mark is dropped.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same number.
    #[serde(rename = "latin1", alias = "iso-8859-1")]
    Latin1,
    /// Windows-1252: ISO-8859-1 with printable characters in 0x80–0x9F.
    #[serde(rename = "windows-1252")]
    Windows1252,
    /// UTF-16, little endian; a leading byte order mark is dropped.
    #[serde(rename = "utf-16le")]
    Utf16Le,
    /// UTF-16, big endian; a leading byte order mark is dropped.
    #[serde(rename = "utf-16be")]
    Utf16Be,
}

/// Windows-1252 bytes 0x80..=0x9F. The five bytes the code page leaves
/// undefined map to the C1 control of the same number, as browsers do.
const WINDOWS_1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
    '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
    '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
    '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const CHUNK: usize = 16 * 1024;

/// A reader that yields the inner reader's text as UTF-8. Malformed input
/// (a lone UTF-16 surrogate, an odd trailing byte) is an `InvalidData` error
/// naming the byte offset; UTF-8 input passes through unchecked, because the
/// scanner validates each record and can name its line.
pub struct DecodingReader<R> {
    inner: R,
    encoding: Encoding,
    /// Raw bytes read but not yet decoded (a partial code unit or pair).
    pending: Vec<u8>,
    /// Decoded UTF-8 waiting to be handed out, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// Raw bytes decoded so far, for error messages.
    offset: u64,
    /// Whether the start of the input (and a byte order mark) was dealt with.
    started: bool,
    eof: bool,
}

impl<R: Read> DecodingReader<R> {
    pub fn new(inner: R, encoding: Encoding) -> Self {
        Self {
            inner,
            encoding,
            pending: Vec::new(),
            out: Vec::with_capacity(CHUNK * 2),
            out_pos: 0,
            offset: 0,
            started: false,
            eof: false,
        }
    }

    /// Reads one chunk and decodes what it can of `pending`.
    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        let mut chunk = [0u8; CHUNK];
        let read = loop {
            match self.inner.read(&mut chunk) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if read == 0 {
            self.eof = true;
        }
        self.pending.extend_from_slice(&chunk[..read]);
        self.decode_pending()
    }

    fn decode_pending(&mut self) -> io::Result<()> {
        if !self.started {
            if !self.skip_bom() {
                return Ok(());
            }
            self.started = true;
        }
        let used = match self.encoding {
            Encoding::Utf8 => {
                self.out.extend_from_slice(&self.pending);
                self.pending.len()
            }
            Encoding::Latin1 => {
                for &byte in &self.pending {
                    push_char(&mut self.out, char::from(byte));
                }
                self.pending.len()
            }
            Encoding::Windows1252 => {
                for &byte in &self.pending {
                    let c = match byte {
                        0x80..=0x9F => WINDOWS_1252_HIGH[usize::from(byte - 0x80)],
                        _ => char::from(byte),
                    };
                    push_char(&mut self.out, c);
                }
                self.pending.len()
            }
            Encoding::Utf16Le | Encoding::Utf16Be => self.decode_utf16()?,
        };
        self.pending.drain(..used);
        self.offset += used as u64;
        if self.eof && !self.pending.is_empty() {
            return Err(invalid(format!("the file ends in the middle of a UTF-16 character (byte {})", self.offset)));
        }
        Ok(())
    }

    /// Drops a byte order mark at the very start. Returns false while too few
    /// bytes have arrived to tell.
    fn skip_bom(&mut self) -> bool {
        let bom: &[u8] = match self.encoding {
            Encoding::Utf8 => UTF8_BOM,
            Encoding::Utf16Le => b"\xFF\xFE",
            Encoding::Utf16Be => b"\xFE\xFF",
            // A single-byte file has no byte order mark.
            Encoding::Latin1 | Encoding::Windows1252 => return true,
        };
        if self.pending.len() < bom.len() && !self.eof {
            return false;
        }
        if self.pending.starts_with(bom) {
            self.pending.drain(..bom.len());
            self.offset += bom.len() as u64;
        }
        true
    }

    /// Decodes whole code units and pairs of `pending`; returns the bytes used.
    fn decode_utf16(&mut self) -> io::Result<usize> {
        let little = self.encoding == Encoding::Utf16Le;
        let unit = |pair: &[u8]| {
            let bytes = [pair[0], pair[1]];
            if little { u16::from_le_bytes(bytes) } else { u16::from_be_bytes(bytes) }
        };
        let mut used = 0;
        while used + 2 <= self.pending.len() {
            let first = unit(&self.pending[used..used + 2]);
            let (c, width) = match first {
                0xD800..=0xDBFF => {
                    if used + 4 > self.pending.len() {
                        // The low half has not arrived yet; at the end of the
                        // file the caller reports the leftover bytes.
                        break;
                    }
                    let second = unit(&self.pending[used + 2..used + 4]);
                    match char::decode_utf16([first, second]).next() {
                        Some(Ok(c)) => (c, 4),
                        _ => return Err(self.bad_surrogate(used)),
                    }
                }
                0xDC00..=0xDFFF => return Err(self.bad_surrogate(used)),
                // Every other unit is a scalar value of its own.
                _ => (char::from_u32(u32::from(first)).unwrap_or(char::REPLACEMENT_CHARACTER), 2),
            };
            push_char(&mut self.out, c);
            used += width;
        }
        Ok(used)
    }

    fn bad_surrogate(&self, at: usize) -> io::Error {
        invalid(format!("invalid UTF-16: unpaired surrogate at byte {}", self.offset + at as u64))
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.refill()?;
        }
        let available = &self.out[self.out_pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut utf8 = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads through a reader that hands out one byte at a time, so that
    /// every boundary case (BOM, surrogate pairs) is split across reads.
    fn decode(bytes: &[u8], encoding: Encoding) -> io::Result<String> {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.split_first() {
                    Some((&b, rest)) if !buf.is_empty() => {
                        buf[0] = b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut text = String::new();
        DecodingReader::new(Trickle(bytes), encoding).read_to_string(&mut text)?;
        Ok(text)
    }

    #[test]
    fn utf8_drops_only_a_leading_bom() {
        assert_eq!(decode(b"\xEF\xBB\xBFa,b\n", Encoding::Utf8).unwrap(), "a,b\n");
        assert_eq!(decode(b"a\xEF\xBB\xBF", Encoding::Utf8).unwrap(), "a\u{FEFF}");
        assert_eq!(decode(b"ab", Encoding::Utf8).unwrap(), "ab");
        assert_eq!(decode(b"", Encoding::Utf8).unwrap(), "");
    }

    #[test]
    fn latin1_maps_bytes_to_code_points() {
        assert_eq!(decode(b"caf\xE9;M\xFCller\x80", Encoding::Latin1).unwrap(), "café;Müller\u{80}");
    }

    #[test]
    fn windows_1252_uses_the_high_table() {
        assert_eq!(decode(b"\x80 \x93q\x94 \xE9 \x81", Encoding::Windows1252).unwrap(), "€ “q” é \u{81}");
    }

    #[test]
    fn utf16_handles_bom_and_surrogate_pairs_in_both_orders() {
        let text = "a,😀\né";
        let le: Vec<u8> =
            [0xFEFFu16].iter().chain(&text.encode_utf16().collect::<Vec<_>>()).flat_map(|u| u.to_le_bytes()).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(decode(&le, Encoding::Utf16Le).unwrap(), text);
        assert_eq!(decode(&be, Encoding::Utf16Be).unwrap(), text);
    }

    #[test]
    fn malformed_utf16_is_invalid_data() {
        let lone = decode(&[b'a', 0, 0x00, 0xDC], Encoding::Utf16Le).unwrap_err();
        assert_eq!(lone.kind(), io::ErrorKind::InvalidData);
        assert!(lone.to_string().contains("byte 2"), "{lone}");
        let odd = decode(&[b'a', 0, b'b'], Encoding::Utf16Le).unwrap_err();
        assert_eq!(odd.kind(), io::ErrorKind::InvalidData);
        let high_then_text = decode(&[0x3D, 0xD8, b'a', 0], Encoding::Utf16Le).unwrap_err();
        assert_eq!(high_then_text.kind(), io::ErrorKind::InvalidData);
    }
}
