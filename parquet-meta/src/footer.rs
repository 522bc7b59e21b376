//! Finding and decoding a Parquet file's footer from its last bytes. A file
//! ends with the footer (Thrift `FileMetaData`), its length as a 4-byte
//! little-endian integer and `PAR1`; it starts with `PAR1` too. Whoever
//! reads the file (a local file, byte ranges over HTTP) hands the bytes in:
//! nothing here does I/O.
//!
//! Over HTTP: read the last [`TAIL_GUESS`] bytes (a suffix range); when
//! [`from_tail`] says the footer starts before them, read exactly the range
//! it names and hand it to [`decode`].

use inlet_sdk::ConnectorError;

use crate::meta::{self, FileMeta};

/// Footers longer than this are refused (real ones are kilobytes to a few MiB).
pub const MAX_FOOTER: u64 = 64 << 20;
/// The length and the closing `PAR1`.
pub const TRAILER: u64 = 8;
/// How many bytes from the end to read first: enough for most footers.
pub const TAIL_GUESS: u64 = 64 << 10;
pub const MAGIC: &[u8; 4] = b"PAR1";
pub const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// One file's footer, decoded.
#[derive(Debug, Clone)]
pub struct Footer {
    pub meta: FileMeta,
    /// The file's size in bytes.
    pub size: u64,
    /// The footer's length in bytes.
    pub footer_len: u64,
}

/// What the last bytes of a file gave.
#[derive(Debug, Clone)]
pub enum Tail {
    /// The whole footer was among them.
    Footer(Footer),
    /// The footer starts before them: read `len` bytes from `offset` and [`decode`] them.
    NeedRange { offset: u64, len: u64 },
}

/// Checks the file's first bytes: `PAR1` (or `PARE`, encrypted).
pub fn check_head(head: &[u8], name: &str) -> Result<(), ConnectorError> {
    match head.get(..4) {
        Some(magic) if magic == MAGIC || magic == ENCRYPTED_MAGIC => Ok(()),
        _ => Err(ConnectorError::protocol(format!("{name} is not a Parquet file: it does not start with `PAR1`"))),
    }
}

/// Refuses files too short to hold the two `PAR1` markers and a length.
pub fn check_size(size: u64, name: &str) -> Result<(), ConnectorError> {
    if size < 12 {
        return Err(ConnectorError::protocol(format!(
            "{name} is not a Parquet file: {size} bytes is too short to hold the `PAR1` markers and a footer"
        )));
    }
    Ok(())
}

/// The footer's length from the file's last eight bytes, checked against
/// the file's `size` and [`MAX_FOOTER`].
pub fn footer_len(trailer: &[u8], size: u64, name: &str) -> Result<u64, ConnectorError> {
    check_size(size, name)?;
    let [a, b, c, d, magic @ ..] = trailer else {
        return Err(ConnectorError::protocol(format!("{name}: the last 8 bytes of the file are needed")));
    };
    let footer_len = u64::from(u32::from_le_bytes([*a, *b, *c, *d]));
    if magic == ENCRYPTED_MAGIC {
        return Err(ConnectorError::unsupported(format!(
            "{name} has an encrypted footer (Parquet modular encryption), which this connector cannot read"
        )));
    }
    if magic != MAGIC {
        return Err(ConnectorError::protocol(format!(
            "{name} does not end with `PAR1`: the file is truncated or not a complete Parquet file"
        )));
    }
    if footer_len > MAX_FOOTER {
        return Err(ConnectorError::protocol(format!(
            "{name} claims a footer of {footer_len} bytes, more than the {} MiB this connector reads",
            MAX_FOOTER >> 20
        )));
    }
    if footer_len + 12 > size {
        return Err(ConnectorError::protocol(format!(
            "{name} claims a footer of {footer_len} bytes, but the file has only {size} bytes: it is truncated or corrupt"
        )));
    }
    Ok(footer_len)
}

/// Decodes the footer's bytes (exactly the footer: without length and magic).
pub fn decode(bytes: &[u8], size: u64, name: &str) -> Result<Footer, ConnectorError> {
    let meta = meta::decode(bytes).map_err(|error| ConnectorError::protocol(format!("{name}: {}", error.message)))?;
    Ok(Footer { meta, size, footer_len: bytes.len() as u64 })
}

/// From the last `tail.len()` bytes of a `size`-byte file: the footer, or
/// the range that holds it. When the bytes are the whole file its first
/// four are checked too.
pub fn from_tail(tail: &[u8], size: u64, name: &str) -> Result<Tail, ConnectorError> {
    let have = tail.len() as u64;
    if have > size {
        return Err(ConnectorError::protocol(format!(
            "{name}: {have} bytes arrived for the end of a {size}-byte file"
        )));
    }
    if have < TRAILER.min(size) {
        return Err(ConnectorError::protocol(format!("{name}: only {have} bytes arrived for the end of the file")));
    }
    let at = tail.len().saturating_sub(TRAILER as usize);
    let len = footer_len(&tail[at..], size, name)?;
    if have == size {
        check_head(tail, name)?;
    }
    let needed = len + TRAILER;
    if needed > have {
        return Ok(Tail::NeedRange { offset: size - needed, len });
    }
    // `needed <= have <= size`, so these are in bounds.
    let start = tail.len() - needed as usize;
    decode(&tail[start..at], size, name).map(Tail::Footer)
}

#[cfg(test)]
mod tests {
    use inlet_sdk::ErrorKind;

    use super::*;
    use crate::testing::{file_with, sample_footer};

    #[test]
    fn a_whole_file_or_its_tail_gives_the_footer() {
        let file = file_with(&sample_footer());
        let size = file.len() as u64;
        for tail in [&file[..], &file[file.len() - sample_footer().len() - 8..]] {
            let Tail::Footer(footer) = from_tail(tail, size, "t.parquet").unwrap() else { panic!("a footer") };
            assert_eq!((footer.meta.num_rows, footer.size), (10, size));
            assert_eq!(footer.footer_len, sample_footer().len() as u64);
        }
    }

    #[test]
    fn a_short_tail_names_the_range_to_read() {
        let footer = sample_footer();
        let file = file_with(&footer);
        let size = file.len() as u64;
        let Tail::NeedRange { offset, len } = from_tail(&file[file.len() - 20..], size, "t.parquet").unwrap() else {
            panic!("a range")
        };
        assert_eq!((offset, len), (104, footer.len() as u64));
        let range = &file[offset as usize..(offset + len) as usize];
        assert_eq!(decode(range, size, "t.parquet").unwrap().meta.num_rows, 10);
    }

    #[test]
    fn bad_tails_fail_clearly() {
        let good = file_with(&sample_footer());
        let size = good.len() as u64;
        let with = |at_end: usize, bytes: &[u8]| {
            let mut b = good.clone();
            let at = b.len() - at_end;
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        let cases: Vec<(Vec<u8>, u64, ErrorKind, &str)> = vec![
            (b"PAR1PAR1".to_vec(), 8, ErrorKind::Protocol, "too short"),
            (b"id,name\n1,a\n2,b\n".to_vec(), 16, ErrorKind::Protocol, "does not end with `PAR1`"),
            (with(8, &u32::MAX.to_le_bytes()), size, ErrorKind::Protocol, "more than the 64 MiB"),
            (with(8, &5000u32.to_le_bytes()), size, ErrorKind::Protocol, "only"),
            (with(4, b"PARE"), size, ErrorKind::Unsupported, "encrypted"),
            (good[..4].to_vec(), size, ErrorKind::Protocol, "only 4 bytes arrived"),
            (good.clone(), size - 1, ErrorKind::Protocol, "arrived for the end of a"),
            (
                {
                    let mut b = good.clone();
                    b[0] = b'X';
                    b
                },
                size,
                ErrorKind::Protocol,
                "does not start with `PAR1`",
            ),
            (file_with(&sample_footer()[..20]), 0, ErrorKind::Protocol, "t.parquet: malformed Parquet footer"),
        ];
        for (bytes, size, kind, part) in cases {
            let size = if size == 0 { bytes.len() as u64 } else { size };
            let error = from_tail(&bytes, size, "t.parquet").unwrap_err();
            assert_eq!(error.kind, kind, "{}", error.message);
            assert!(error.message.contains(part), "{} lacks {part}", error.message);
        }
    }
}
