//! Time zones from the Arrow schema that Arrow writers (pyarrow, arrow-rs)
//! keep in the footer's `ARROW:schema` key: Parquet itself records only
//! whether a timestamp is adjusted to UTC, not the zone it was written in.
//! The value is base64 of an Arrow IPC schema message, a flatbuffer; this
//! reads just field names, struct children and Timestamp time zones, every
//! offset checked. Anything unexpected yields no time zones, never an error:
//! the Parquet schema is what counts.

use std::collections::BTreeMap;

/// Values longer than this are not looked at.
pub const MAX_SCHEMA_BYTES: usize = 4 << 20;
const MAX_DEPTH: u32 = 32;
const MAX_FIELDS: usize = 100_000;
/// Arrow's `Type` union: `Struct_` and `Timestamp`.
const TYPE_TIMESTAMP: u8 = 10;
const TYPE_STRUCT: u8 = 13;
/// `MessageHeader::Schema`.
const HEADER_SCHEMA: u8 = 1;

/// Column name (dotted for struct children) → time zone, for timestamps that have one.
pub fn time_zones(base64: &[u8]) -> BTreeMap<String, String> {
    let mut zones = BTreeMap::new();
    if base64.len() > MAX_SCHEMA_BYTES {
        return zones;
    }
    let Some(bytes) = decode_base64(base64) else { return zones };
    let _ = read_schema(&bytes, &mut zones);
    zones
}

fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A flatbuffer, read with every offset checked.
struct Buf<'a>(&'a [u8]);

impl Buf<'_> {
    fn u8(&self, at: usize) -> Option<u8> {
        self.0.get(at).copied()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.0.get(at..at.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.0.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Where field `index` of the table at `table` lives, if present.
    fn field(&self, table: usize, index: usize) -> Option<usize> {
        let soffset = self.u32(table)? as i32;
        let vtable = usize::try_from(i64::try_from(table).ok()? - i64::from(soffset)).ok()?;
        let vtable_len = usize::from(self.u16(vtable)?);
        let slot = 4 + 2 * index;
        if slot + 2 > vtable_len {
            return None;
        }
        let offset = usize::from(self.u16(vtable.checked_add(slot)?)?);
        if offset == 0 { None } else { table.checked_add(offset) }
    }

    /// Follows the offset stored at `at`.
    fn indirect(&self, at: usize) -> Option<usize> {
        at.checked_add(usize::try_from(self.u32(at)?).ok()?)
    }

    fn table_field(&self, table: usize, index: usize) -> Option<usize> {
        self.indirect(self.field(table, index)?)
    }

    fn string(&self, table: usize, index: usize) -> Option<String> {
        let at = self.table_field(table, index)?;
        let len = usize::try_from(self.u32(at)?).ok()?;
        let start = at.checked_add(4)?;
        let bytes = self.0.get(start..start.checked_add(len)?)?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    }

    /// The tables of the vector in field `index`.
    fn tables(&self, table: usize, index: usize) -> Option<Vec<usize>> {
        let at = self.table_field(table, index)?;
        let len = usize::try_from(self.u32(at)?).ok()?;
        if len > MAX_FIELDS || len.checked_mul(4)? > self.0.len() {
            return None;
        }
        (0..len).map(|i| self.indirect(at.checked_add(4 + 4 * i)?)).collect()
    }
}

fn read_schema(bytes: &[u8], zones: &mut BTreeMap<String, String>) -> Option<()> {
    // Encapsulated IPC message: [0xFFFFFFFF] <i32 length> <flatbuffer Message>.
    let mut start = 0;
    if bytes.get(..4)? == [0xff; 4] {
        start = 4;
    }
    let buf = Buf(bytes.get(start + 4..)?);
    let message = buf.indirect(0)?;
    if buf.u8(buf.field(message, 1)?)? != HEADER_SCHEMA {
        return None;
    }
    let schema = buf.table_field(message, 2)?;
    fields(&buf, schema, 1, "", 0, zones)
}

fn fields(
    buf: &Buf<'_>,
    table: usize,
    index: usize,
    prefix: &str,
    depth: u32,
    zones: &mut BTreeMap<String, String>,
) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    for field in buf.tables(table, index)? {
        let name = format!("{prefix}{}", buf.string(field, 0).unwrap_or_default());
        let kind = buf.field(field, 2).and_then(|at| buf.u8(at)).unwrap_or(0);
        match kind {
            TYPE_TIMESTAMP => {
                if let Some(zone) = buf.table_field(field, 3).and_then(|ty| buf.string(ty, 1))
                    && !zone.is_empty()
                {
                    zones.insert(name, zone);
                }
            }
            TYPE_STRUCT => {
                let _ = fields(buf, field, 5, &format!("{name}."), depth + 1, zones);
            }
            _ => {}
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes() {
        assert_eq!(decode_base64(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64(b"aGk").unwrap(), b"hi");
        assert!(decode_base64(b"a*b").is_none());
    }

    #[test]
    fn garbage_yields_nothing() {
        let mut state: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..5_000 {
            let len = (state % 300) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = read_schema(&bytes, &mut BTreeMap::new());
        }
        assert!(time_zones(b"////").is_empty());
    }
}
