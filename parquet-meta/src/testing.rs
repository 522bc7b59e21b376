//! Footers built by hand for tests (feature `testing`): a tiny
//! compact-protocol [`Writer`] and two sample footers. Also used by the
//! connectors' own tests (plugins/parquet, plugins/s3) through the feature.

use crate::thrift::ttype;

#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
    last: Vec<i16>,
}

impl Writer {
    pub fn new() -> Self {
        Self { bytes: vec![], last: vec![0] }
    }

    fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.bytes.push(byte);
                return;
            }
            self.bytes.push(byte | 0x80);
        }
    }

    fn zigzag(&mut self, value: i64) {
        self.varint(((value << 1) ^ (value >> 63)) as u64);
    }

    pub fn field(&mut self, id: i16, ttype: u8) -> &mut Self {
        let last = self.last.last_mut().expect("in a struct");
        let delta = id - *last;
        *last = id;
        if (1..=15).contains(&delta) {
            self.bytes.push(((delta as u8) << 4) | ttype);
        } else {
            self.bytes.push(ttype);
            self.zigzag(i64::from(id));
        }
        self
    }

    pub fn i32(&mut self, id: i16, value: i32) -> &mut Self {
        self.field(id, ttype::I32).zigzag(i64::from(value));
        self
    }

    pub fn i64(&mut self, id: i16, value: i64) -> &mut Self {
        self.field(id, ttype::I64).zigzag(value);
        self
    }

    pub fn bool(&mut self, id: i16, value: bool) -> &mut Self {
        self.field(id, if value { ttype::BOOL_TRUE } else { ttype::BOOL_FALSE })
    }

    pub fn string(&mut self, id: i16, value: &str) -> &mut Self {
        self.field(id, ttype::BINARY).varint(value.len() as u64);
        self.bytes.extend_from_slice(value.as_bytes());
        self
    }

    pub fn begin(&mut self, id: i16) -> &mut Self {
        self.field(id, ttype::STRUCT);
        self.last.push(0);
        self
    }

    /// Begins a struct as a list element.
    pub fn element(&mut self) -> &mut Self {
        self.last.push(0);
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.bytes.push(0);
        self.last.pop();
        self
    }

    pub fn list(&mut self, id: i16, elem: u8, size: usize) -> &mut Self {
        self.field(id, ttype::LIST);
        if size < 15 {
            self.bytes.push(((size as u8) << 4) | elem);
        } else {
            self.bytes.push(0xf0 | elem);
            self.varint(size as u64);
        }
        self
    }
}

/// One schema element as a list element.
pub fn element(w: &mut Writer, name: &str, physical: Option<i32>, repetition: i32, children: Option<i32>) {
    w.element();
    if let Some(physical) = physical {
        w.i32(1, physical);
    }
    w.i32(3, repetition);
    w.string(4, name);
    if let Some(children) = children {
        w.i32(5, children);
    }
}

/// A footer: schema `root { required int64 id; optional binary name (STRING);
/// optional int64 ts (TIMESTAMP(MICROS, UTC)); required fixed(16) amount (DECIMAL(38,4)) }`,
/// 2 row groups (snappy, zstd), 10 rows.
pub fn sample_footer() -> Vec<u8> {
    let mut w = Writer::new();
    w.i32(1, 2);
    w.list(2, ttype::STRUCT, 5);
    element(&mut w, "schema", None, 0, Some(4));
    w.end();
    element(&mut w, "id", Some(2), 0, None);
    w.field(99, ttype::DOUBLE); // unknown: skipped
    w.bytes.extend_from_slice(&[0; 8]);
    w.end();
    element(&mut w, "name", Some(6), 1, None);
    w.i32(6, 0).begin(10).begin(1).end().end();
    w.end();
    element(&mut w, "ts", Some(2), 1, None);
    w.begin(10).begin(8).bool(1, true).begin(2).begin(2).end().end().end().end();
    w.end();
    element(&mut w, "amount", Some(7), 0, None);
    w.i32(2, 16).i32(6, 5).i32(7, 4).i32(8, 38);
    w.begin(10).begin(5).i32(1, 4).i32(2, 38).end().end();
    w.end();
    w.i64(3, 10);
    w.list(4, ttype::STRUCT, 2);
    for (rows, codec) in [(6, 1), (4, 6)] {
        w.element();
        w.list(1, ttype::STRUCT, 1);
        w.element().begin(3).i32(4, codec).i64(7, 100).end().end();
        w.i64(2, 300).i64(3, rows);
        w.end();
    }
    w.list(5, ttype::STRUCT, 1);
    w.element().string(1, "ARROW:schema").string(2, "xyz").end();
    w.string(6, "hand-written");
    w.end();
    w.bytes
}

/// A footer with nested groups: `root { optional group tags (LIST) { repeated group list {
/// optional binary element (STRING) } }; optional group attrs (MAP) { repeated group key_value {
/// required binary key (STRING); optional double value } }; optional group s { required int32 x } }`.
pub fn nested_footer() -> Vec<u8> {
    let mut w = Writer::new();
    w.i32(1, 1);
    w.list(2, ttype::STRUCT, 10);
    element(&mut w, "schema", None, 0, Some(3));
    w.end();
    element(&mut w, "tags", None, 1, Some(1));
    w.i32(6, 3).begin(10).begin(3).end().end();
    w.end();
    element(&mut w, "list", None, 2, Some(1));
    w.end();
    element(&mut w, "element", Some(6), 1, None);
    w.begin(10).begin(1).end().end();
    w.end();
    element(&mut w, "attrs", None, 1, Some(1));
    w.i32(6, 1).begin(10).begin(2).end().end();
    w.end();
    element(&mut w, "key_value", None, 2, Some(2));
    w.end();
    element(&mut w, "key", Some(6), 0, None);
    w.i32(6, 0);
    w.end();
    element(&mut w, "value", Some(5), 1, None);
    w.end();
    element(&mut w, "s", None, 1, Some(1));
    w.end();
    element(&mut w, "x", Some(1), 0, None);
    w.begin(10).begin(10).field(1, ttype::BYTE).bytes.push(16);
    w.bool(2, true).end().end();
    w.end();
    w.i64(3, 0);
    w.list(4, ttype::STRUCT, 0);
    w.end();
    w.bytes
}

/// `PAR1`, some stand-in data, `footer`, its length and `PAR1`: a whole file.
pub fn file_with(footer: &[u8]) -> Vec<u8> {
    let mut bytes = b"PAR1".to_vec();
    bytes.extend_from_slice(&[0xAB; 100]); // "data"
    bytes.extend_from_slice(footer);
    bytes.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"PAR1");
    bytes
}
