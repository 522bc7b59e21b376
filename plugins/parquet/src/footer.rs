//! Reading one file's footer without reading its data: the first four bytes
//! (`PAR1`), the last eight (footer length and `PAR1`), then the footer
//! itself, bounded by `inlet_parquet_meta::MAX_FOOTER` and by the file's size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

pub use inlet_parquet_meta::Footer;
use inlet_parquet_meta::footer::{self, TRAILER, check_head, check_size, footer_len};
use inlet_sdk::{ConnectorError, file_error};

/// Opens `path` and reads its footer; `name` is how messages call it.
pub fn read_file(path: &std::path::Path, name: &str) -> Result<Footer, ConnectorError> {
    let mut file = File::open(path).map_err(|error| file_error(&error, &format!("open {name}")))?;
    let metadata = file.metadata().map_err(|error| file_error(&error, &format!("stat {name}")))?;
    if metadata.is_dir() {
        return Err(ConnectorError::config(format!("{name} is a directory, not a Parquet file")));
    }
    read(&mut file, metadata.len(), name)
}

/// Reads the footer of a `size`-byte Parquet file (the checks and the
/// decoding are `inlet_parquet_meta`'s, shared with the S3 connector).
pub fn read<R: Read + Seek>(input: &mut R, size: u64, name: &str) -> Result<Footer, ConnectorError> {
    let io = |error: std::io::Error| file_error(&error, &format!("read {name}"));
    check_size(size, name)?;
    let mut head = [0u8; 4];
    input.seek(SeekFrom::Start(0)).map_err(io)?;
    input.read_exact(&mut head).map_err(io)?;
    check_head(&head, name)?;
    let mut tail = [0u8; TRAILER as usize];
    input.seek(SeekFrom::Start(size - TRAILER)).map_err(io)?;
    input.read_exact(&mut tail).map_err(io)?;
    let footer_len = footer_len(&tail, size, name)?;
    let mut bytes = Vec::new();
    let len = usize::try_from(footer_len).map_err(|_| ConnectorError::internal("footer length overflows"))?;
    bytes
        .try_reserve_exact(len)
        .map_err(|_| ConnectorError::internal(format!("cannot allocate {footer_len} bytes for {name}'s footer")))?;
    input.seek(SeekFrom::Start(size - TRAILER - footer_len)).map_err(io)?;
    input.take(footer_len).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 != footer_len {
        return Err(ConnectorError::protocol(format!("{name} ended while its footer was read")));
    }
    footer::decode(&bytes, size, name)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use inlet_parquet_meta::testing::{file_with, sample_footer};
    use inlet_sdk::ErrorKind;

    fn read_bytes(bytes: &[u8]) -> Result<Footer, ConnectorError> {
        read(&mut Cursor::new(bytes), bytes.len() as u64, "t.parquet")
    }

    #[test]
    fn a_valid_file_reads() {
        let footer = read_bytes(&file_with(&sample_footer())).unwrap();
        assert_eq!(footer.meta.num_rows, 10);
        assert_eq!(footer.footer_len, sample_footer().len() as u64);
    }

    #[test]
    fn bad_files_fail_clearly() {
        let good = file_with(&sample_footer());
        let cases: Vec<(Vec<u8>, ErrorKind, &str)> = vec![
            (b"PAR1PAR1".to_vec(), ErrorKind::Protocol, "too short"),
            (b"id,name\n1,a\n2,b\n".to_vec(), ErrorKind::Protocol, "does not start with `PAR1`"),
            (good[..good.len() - 3].to_vec(), ErrorKind::Protocol, "does not end with `PAR1`"),
            (
                {
                    let mut b = good.clone();
                    let at = b.len() - 8;
                    b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                    b
                },
                ErrorKind::Protocol,
                "more than the 64 MiB",
            ),
            (
                {
                    let mut b = good.clone();
                    let at = b.len() - 8;
                    b[at..at + 4].copy_from_slice(&5000u32.to_le_bytes());
                    b
                },
                ErrorKind::Protocol,
                "only",
            ),
            (
                {
                    let mut b = good.clone();
                    let at = b.len() - 4;
                    b[at..].copy_from_slice(b"PARE");
                    b
                },
                ErrorKind::Unsupported,
                "encrypted",
            ),
            (file_with(&sample_footer()[..20]), ErrorKind::Protocol, "t.parquet: malformed Parquet footer"),
        ];
        for (bytes, kind, part) in cases {
            let error = read_bytes(&bytes).unwrap_err();
            assert_eq!(error.kind, kind, "{}", error.message);
            assert!(error.message.contains(part), "{} lacks {part}", error.message);
        }
    }
}
