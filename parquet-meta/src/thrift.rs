//! A reader for Thrift's compact protocol, just enough for Parquet's footer:
//! field headers, varints, strings, lists and a generic skip for whatever
//! the decoder does not know. Every length is checked against the bytes
//! that remain and nesting is bounded, so hostile input ends in a
//! `protocol` error, never a panic or a huge allocation.

use inlet_sdk::ConnectorError;

/// Nested structs, lists and maps skipped or decoded beyond this depth are refused.
pub const MAX_DEPTH: u32 = 64;

/// The compact protocol's type codes.
pub mod ttype {
    pub const STOP: u8 = 0;
    pub const BOOL_TRUE: u8 = 1;
    pub const BOOL_FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
}

pub type Result<T> = std::result::Result<T, ConnectorError>;

/// A field header: its id and its type code; `None` at the struct's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub id: i16,
    pub ttype: u8,
}

/// Bytes of one Thrift message, read front to back.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

fn malformed(what: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::protocol(format!("malformed Parquet footer: {what}"))
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0, depth: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8> {
        let byte =
            *self.bytes.get(self.pos).ok_or_else(|| malformed(format!("it ends early (at byte {})", self.pos)))?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(malformed(format!("a value of {len} bytes at byte {} runs past the footer's end", self.pos)));
        }
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err(malformed(format!("a varint overflows 64 bits at byte {}", self.pos)));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed(format!("a varint is longer than 10 bytes at byte {}", self.pos)))
    }

    fn zigzag(&mut self) -> Result<i64> {
        let raw = self.varint()?;
        Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
    }

    pub fn i64(&mut self) -> Result<i64> {
        self.zigzag()
    }

    pub fn i32(&mut self) -> Result<i32> {
        let value = self.zigzag()?;
        i32::try_from(value).map_err(|_| malformed(format!("{value} does not fit an i32")))
    }

    pub fn i16(&mut self) -> Result<i16> {
        let value = self.zigzag()?;
        i16::try_from(value).map_err(|_| malformed(format!("{value} does not fit an i16")))
    }

    pub fn i8(&mut self) -> Result<i8> {
        Ok(self.byte()? as i8)
    }

    pub fn binary(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| malformed(format!("a length of {len} bytes")))?;
        self.take(len)
    }

    /// A string; invalid UTF-8 is replaced rather than refused.
    pub fn string(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(self.binary()?).into_owned())
    }

    /// A bool field's value travels in its header's type code.
    pub fn bool_field(&self, field: Field) -> Result<bool> {
        match field.ttype {
            ttype::BOOL_TRUE => Ok(true),
            ttype::BOOL_FALSE => Ok(false),
            other => Err(malformed(format!("field {} should be a bool, not type {other}", field.id))),
        }
    }

    /// Enters a struct: field ids restart. Returns the id the caller keeps.
    pub fn begin_struct(&mut self) -> Result<i16> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(malformed(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(0)
    }

    pub fn end_struct(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The next field header, or `None` at the struct's STOP.
    pub fn field(&mut self, last_id: &mut i16) -> Result<Option<Field>> {
        let header = self.byte()?;
        let ttype = header & 0x0f;
        if ttype == ttype::STOP {
            return Ok(None);
        }
        let delta = header >> 4;
        let id = if delta == 0 {
            self.i16()?
        } else {
            last_id.checked_add(i16::from(delta)).ok_or_else(|| malformed("a field id overflows"))?
        };
        *last_id = id;
        Ok(Some(Field { id, ttype }))
    }

    /// A list or set header: element type and count. The count is checked
    /// against the bytes left (every element takes at least one byte, bar
    /// bools packed in headers, which lists do not use).
    pub fn list_header(&mut self) -> Result<(u8, usize)> {
        let header = self.byte()?;
        let elem = header & 0x0f;
        let size = match header >> 4 {
            15 => self.varint()?,
            small => u64::from(small),
        };
        let size = usize::try_from(size).map_err(|_| malformed(format!("a list of {size} elements")))?;
        if size > self.remaining() {
            return Err(malformed(format!(
                "a list of {size} elements at byte {} cannot fit in the {} bytes left",
                self.pos,
                self.remaining()
            )));
        }
        Ok((elem, size))
    }

    /// Checks that a field has the expected type code before reading it.
    pub fn expect(&self, field: Field, ttype: u8, what: &str) -> Result<()> {
        let matches = field.ttype == ttype
            || (ttype == ttype::BOOL_TRUE && field.ttype == ttype::BOOL_FALSE)
            || (ttype == ttype::LIST && field.ttype == ttype::SET);
        if matches {
            Ok(())
        } else {
            Err(malformed(format!("{what} (field {}) has type {} instead of {ttype}", field.id, field.ttype)))
        }
    }

    /// Reads a list of `elem`-typed elements, one `read` per element.
    pub fn list<T>(&mut self, elem: u8, what: &str, mut read: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let (actual, size) = self.list_header()?;
        if size > 0 && actual != elem {
            return Err(malformed(format!("{what} holds elements of type {actual} instead of {elem}")));
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(malformed(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let mut items = Vec::with_capacity(size.min(4096));
        for _ in 0..size {
            items.push(read(self)?);
        }
        self.depth -= 1;
        Ok(items)
    }

    /// Skips a value of type `ttype` whatever it holds.
    pub fn skip(&mut self, ttype: u8) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(malformed(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match ttype {
            ttype::BOOL_TRUE | ttype::BOOL_FALSE => {}
            ttype::BYTE => {
                self.byte()?;
            }
            ttype::I16 | ttype::I32 | ttype::I64 => {
                self.varint()?;
            }
            ttype::DOUBLE => {
                self.take(8)?;
            }
            ttype::BINARY => {
                self.binary()?;
            }
            ttype::LIST | ttype::SET => {
                let (elem, size) = self.list_header()?;
                for _ in 0..size {
                    self.skip_element(elem)?;
                }
            }
            ttype::MAP => {
                let size = self.varint()?;
                if size > 0 {
                    if size > self.remaining() as u64 {
                        return Err(malformed(format!("a map of {size} entries cannot fit")));
                    }
                    let types = self.byte()?;
                    for _ in 0..size {
                        self.skip_element(types >> 4)?;
                        self.skip_element(types & 0x0f)?;
                    }
                }
            }
            ttype::STRUCT => {
                let mut last = 0;
                while let Some(field) = self.field(&mut last)? {
                    self.skip(field.ttype)?;
                }
            }
            other => return Err(malformed(format!("unknown type code {other} at byte {}", self.pos))),
        }
        self.depth -= 1;
        Ok(())
    }

    /// Inside lists and maps a bool takes one byte.
    fn skip_element(&mut self, ttype: u8) -> Result<()> {
        match ttype {
            ttype::BOOL_TRUE | ttype::BOOL_FALSE => self.byte().map(drop),
            other => self.skip(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag() {
        assert_eq!(Reader::new(&[0x00]).i32().unwrap(), 0);
        assert_eq!(Reader::new(&[0x01]).i32().unwrap(), -1);
        assert_eq!(Reader::new(&[0x02]).i32().unwrap(), 1);
        assert_eq!(Reader::new(&[0xac, 0x02]).i64().unwrap(), 150);
        assert!(Reader::new(&[0x80, 0x80]).i64().is_err());
        assert!(Reader::new(&[0xff; 11]).i64().is_err());
        assert!(Reader::new(&[0xfe, 0xff, 0xff, 0xff, 0x1f]).i16().is_err());
    }

    #[test]
    fn fields_use_deltas_and_long_ids() {
        // field 1 i32 = 3, then field 16 (long form) binary "ab", then stop.
        let bytes = [0x15, 0x06, 0x08, 0x20, 0x02, b'a', b'b', 0x00];
        let mut reader = Reader::new(&bytes);
        let mut last = reader.begin_struct().unwrap();
        let field = reader.field(&mut last).unwrap().unwrap();
        assert_eq!(field, Field { id: 1, ttype: ttype::I32 });
        assert_eq!(reader.i32().unwrap(), 3);
        let field = reader.field(&mut last).unwrap().unwrap();
        assert_eq!(field, Field { id: 16, ttype: ttype::BINARY });
        assert_eq!(reader.string().unwrap(), "ab");
        assert_eq!(reader.field(&mut last).unwrap(), None);
    }

    #[test]
    fn lists_are_checked_against_the_bytes_left() {
        let mut reader = Reader::new(&[0xf5, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(reader.list_header().unwrap_err().message.contains("cannot fit"));
        let mut reader = Reader::new(&[0x35, 0x02, 0x04, 0x06]);
        assert_eq!(reader.list(ttype::I32, "ints", |r| r.i32()).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn deep_nesting_is_refused() {
        // A struct whose field 1 is a struct whose field 1 is …
        let bytes = vec![0x1c; 1000];
        let error = Reader::new(&bytes).skip(ttype::STRUCT).unwrap_err();
        assert!(error.message.contains("nesting deeper"), "{}", error.message);
    }
}
