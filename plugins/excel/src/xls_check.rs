//! Checks an xls file before `calamine` parses it. calamine's xls reader
//! trusts the file: a truncated compound file, a sheet offset past the
//! stream, a record shorter than its fixed fields, or a DIMENSIONS record
//! asking for billions of cells make it panic or allocate without bound,
//! which traps the whole component. Found by mutating a real xls file; what
//! these checks refuse is what the mutations reached.
//!
//! The compound file is opened with the `cfb` crate, which reports damage as
//! errors; the `Workbook` stream's BIFF records are then walked once.

use std::io::{Read, Seek, SeekFrom};

use inlet_sdk::ConnectorError;

/// The fewest bytes the records calamine parses must have (their fixed
/// fields), by record type.
const MIN_LENGTHS: &[(u16, usize)] = &[
    (0x0809, 4),  // BOF
    (0x0085, 7),  // BoundSheet8
    (0x0042, 2),  // CodePage
    (0x0022, 2),  // Date1904
    (0x00FC, 8),  // SST
    (0x041E, 3),  // Format
    (0x00E0, 4),  // XF
    (0x013D, 2),  // RRTabId
    (0x0018, 14), // Lbl
    (0x0017, 2),  // ExternSheet
    (0x0200, 10), // Dimensions
    (0x0203, 14), // Number
    (0x0204, 8),  // Label
    (0x00D6, 8),  // RString
    (0x0205, 8),  // BoolErr
    (0x0207, 2),  // String
    (0x027E, 10), // RK
    (0x00FD, 10), // LabelSst
    (0x00BD, 12), // MulRk
    (0x00E5, 2),  // MergeCells
    (0x0006, 20), // Formula
];

/// More cells than an xls sheet can have (65,536 × 256).
const MAX_CELLS: u64 = 65_536 * 256;

/// Checks the file at its start; `name` is for messages.
pub fn check<F: Read + Seek>(name: &str, mut file: F, size: u64) -> Result<(), ConnectorError> {
    let damaged = |why: String| ConnectorError::protocol(format!("{name} is not a readable xls workbook: {why}"));
    let mut header = [0u8; 512];
    file.read_exact(&mut header).map_err(|_| damaged("it is shorter than an OLE2 header".into()))?;
    let shift = u16::from_le_bytes([header[30], header[31]]);
    let sector = match shift {
        9 | 12 => 1u64 << shift,
        _ => return Err(damaged(format!("an OLE2 sector size of 2^{shift} bytes"))),
    };
    if !size.is_multiple_of(sector) {
        return Err(damaged(format!(
            "its size ({size} bytes) is not a whole number of {sector}-byte sectors (is it truncated?)"
        )));
    }
    file.seek(SeekFrom::Start(0)).map_err(|error| damaged(error.to_string()))?;
    let mut compound = cfb::CompoundFile::open(file).map_err(|error| damaged(error.to_string()))?;
    let path = ["/Workbook", "/Book"].into_iter().find(|path| compound.is_stream(path));
    let Some(path) = path else {
        return Err(damaged("it has no Workbook stream (is it another Office document?)".into()));
    };
    let mut stream = Vec::new();
    compound
        .open_stream(path)
        .and_then(|mut s| s.read_to_end(&mut stream))
        .map_err(|error| damaged(error.to_string()))?;
    check_records(&stream).map_err(damaged)
}

/// Walks the BIFF records of the workbook stream.
pub fn check_records(stream: &[u8]) -> Result<(), String> {
    let len = stream.len();
    let mut pos = 0usize;
    while pos + 4 <= len {
        let typ = u16::from_le_bytes([stream[pos], stream[pos + 1]]);
        let size = usize::from(u16::from_le_bytes([stream[pos + 2], stream[pos + 3]]));
        let start = pos + 4;
        let Some(data) = stream.get(start..start + size) else {
            return Err(format!("the record at byte {pos} runs past the end of the stream"));
        };
        if let Some((_, min)) = MIN_LENGTHS.iter().find(|(t, _)| *t == typ)
            && size < *min
        {
            return Err(format!("record 0x{typ:04X} at byte {pos} has {size} bytes, fewer than its {min}"));
        }
        match typ {
            // BoundSheet8: where the sheet's substream starts.
            0x0085 => {
                let at = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
                let bof = stream.get(at..at.saturating_add(2));
                if bof != Some(&[0x09, 0x08][..]) {
                    return Err(format!("a sheet's offset ({at}) does not point at a sheet in the stream"));
                }
            }
            // Dimensions: calamine reserves room for the cells it declares.
            0x0200 => {
                let (first_row, last_row, first_col, last_col) = if size >= 14 {
                    (
                        u64::from(u32::from_le_bytes([data[0], data[1], data[2], data[3]])),
                        u64::from(u32::from_le_bytes([data[4], data[5], data[6], data[7]])),
                        u64::from(u16::from_le_bytes([data[8], data[9]])),
                        u64::from(u16::from_le_bytes([data[10], data[11]])),
                    )
                } else {
                    (
                        u64::from(u16::from_le_bytes([data[0], data[1]])),
                        u64::from(u16::from_le_bytes([data[2], data[3]])),
                        u64::from(u16::from_le_bytes([data[4], data[5]])),
                        u64::from(u16::from_le_bytes([data[6], data[7]])),
                    )
                };
                let rows = last_row.saturating_sub(first_row) + 1;
                let cols = last_col.saturating_sub(first_col) + 1;
                if last_row < first_row || last_col < first_col || rows.saturating_mul(cols) > MAX_CELLS {
                    return Err(format!(
                        "a sheet declares rows {first_row}–{last_row} and columns {first_col}–{last_col}, \
                         more than an xls sheet can hold"
                    ));
                }
            }
            // MergeCells: a count, then 8 bytes per range.
            0x00E5 => {
                let count = usize::from(u16::from_le_bytes([data[0], data[1]]));
                if size < 2 + 8 * count {
                    return Err(format!("record 0x00E5 at byte {pos} lists {count} merges in {size} bytes"));
                }
            }
            _ => {}
        }
        pos = start + size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut bytes = typ.to_le_bytes().to_vec();
        bytes.extend((data.len() as u16).to_le_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn records_are_walked_and_checked() {
        let bof = record(0x0809, &[0, 6, 16, 0]);
        assert_eq!(check_records(&bof), Ok(()));
        // A BoundSheet8 pointing at the BOF at 0 is fine; past the stream it is not.
        let mut good = bof.clone();
        good.extend(record(0x0085, &[0, 0, 0, 0, 0, 0, 1, 0, b'S']));
        assert_eq!(check_records(&good), Ok(()));
        let mut bad = bof.clone();
        bad.extend(record(0x0085, &[0xFF, 0, 0, 0, 0, 0, 1, 0, b'S']));
        assert!(check_records(&bad).unwrap_err().contains("does not point at a sheet"));
        // A Number record shorter than its fixed 14 bytes.
        let mut short = bof.clone();
        short.extend(record(0x0203, &[0; 6]));
        assert!(check_records(&short).unwrap_err().contains("fewer than its 14"));
        // A record longer than what is left.
        let mut cut = record(0x0203, &[0; 14]);
        cut.truncate(10);
        assert!(check_records(&cut).unwrap_err().contains("runs past the end"));
    }

    #[test]
    fn impossible_dimensions_are_refused() {
        let dims = |first: u32, last: u32, cols: (u16, u16)| {
            let mut data = first.to_le_bytes().to_vec();
            data.extend(last.to_le_bytes());
            data.extend(cols.0.to_le_bytes());
            data.extend(cols.1.to_le_bytes());
            data.extend([0, 0]);
            check_records(&record(0x0200, &data))
        };
        assert_eq!(dims(0, 10, (0, 5)), Ok(()));
        assert!(dims(0, u32::MAX, (0, 255)).is_err());
        assert!(dims(10, 2, (0, 1)).is_err());
        let merges = record(0x00E5, &[3, 0, 0, 0]);
        assert!(check_records(&merges).unwrap_err().contains("3 merges"));
    }

    #[test]
    fn a_truncated_compound_file_is_refused() {
        let mut header = vec![0u8; 512];
        header[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
        header[30] = 9;
        header.extend([0u8; 100]);
        let size = header.len() as u64;
        let error = check("t.xls", std::io::Cursor::new(header), size).unwrap_err();
        assert_eq!(error.kind, inlet_sdk::ErrorKind::Protocol);
        assert!(error.message.contains("not a whole number of 512-byte sectors"), "{}", error.message);
    }
}
