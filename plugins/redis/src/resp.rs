//! RESP2 and RESP3, the Redis serialization protocols: the command encoder
//! and an incremental reply parser.
//!
//! The parser is fed whatever bytes have arrived and consumes only whole
//! tokens (a header line, plus the payload for bulk types), keeping the
//! aggregates it is inside on an explicit stack. So a reply that arrives in
//! many reads is parsed once, never re-scanned, and a partial token costs only
//! its header. Every length the server declares is checked against [`Limits`]
//! before anything is allocated: a hostile server can make a reply fail, not
//! make the guest allocate without bound.

use std::fmt;

/// One reply, or one element of an aggregate reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+OK`: short, line-safe text.
    Simple(String),
    /// `-ERR …` or a blob error `!`: an error the server reported.
    Error(ServerError),
    Integer(i64),
    /// `$`: binary-safe string.
    Bulk(Vec<u8>),
    /// `_`, and RESP2's `$-1` / `*-1`.
    Null,
    Double(f64),
    Boolean(bool),
    /// `(`: an integer beyond 64 bits, kept as its decimal digits.
    BigNumber(String),
    /// `=`: a string with a three-letter format (`txt`, `mkd`).
    Verbatim {
        format: String,
        text: Vec<u8>,
    },
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    /// `>`: out-of-band data (invalidations, pub/sub), not a reply.
    Push(Vec<Value>),
}

/// An error reply: its code (the first word, e.g. `WRONGPASS`) and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: String,
    pub message: String,
}

impl ServerError {
    fn from_text(text: &str) -> Self {
        let text = text.trim();
        match text.split_once(' ') {
            Some((code, message)) => Self { code: code.to_owned(), message: message.trim().to_owned() },
            None => Self { code: text.to_owned(), message: String::new() },
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() { f.write_str(&self.code) } else { write!(f, "{} {}", self.code, self.message) }
    }
}

impl Value {
    /// The RESP type's name, for messages (a value itself may be huge).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Simple(_) => "simple string",
            Self::Error(_) => "error",
            Self::Integer(_) => "integer",
            Self::Bulk(_) => "bulk string",
            Self::Null => "null",
            Self::Double(_) => "double",
            Self::Boolean(_) => "boolean",
            Self::BigNumber(_) => "big number",
            Self::Verbatim { .. } => "verbatim string",
            Self::Array(_) => "array",
            Self::Map(_) => "map",
            Self::Set(_) => "set",
            Self::Push(_) => "push",
        }
    }

    /// The bytes of any string-like value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bulk(bytes) => Some(bytes),
            Self::Simple(text) | Self::BigNumber(text) => Some(text.as_bytes()),
            Self::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// String-like values as text (lossy for non-UTF-8), numbers spelled out.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Self::Integer(n) => Some(n.to_string()),
            Self::Double(x) => Some(x.to_string()),
            Self::Boolean(b) => Some(b.to_string()),
            other => other.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()),
        }
    }

    /// An integer reply, or a string holding one (RESP2 sends some numbers as bulk strings).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Integer(n) => Some(*n),
            other => other.as_bytes().and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse().ok()),
        }
    }

    /// A number reply, whether a RESP3 double or a RESP2 string.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Double(x) => Some(*x),
            Self::Integer(n) => Some(*n as f64),
            other => other.as_bytes().and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse().ok()),
        }
    }

    /// The elements of an array, set or push.
    pub fn into_items(self) -> Option<Vec<Value>> {
        match self {
            Self::Array(items) | Self::Set(items) | Self::Push(items) => Some(items),
            _ => None,
        }
    }

    /// Key/value pairs: a RESP3 map, or the flat array RESP2 sends instead.
    pub fn into_pairs(self) -> Option<Vec<(Value, Value)>> {
        match self {
            Self::Map(pairs) => Some(pairs),
            Self::Array(items) if items.len() % 2 == 0 => {
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Some(pairs)
            }
            _ => None,
        }
    }
}

/// Appends one command, an array of bulk strings, to `out`.
pub fn encode<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Bounds on what one reply may declare or hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest bulk string (or streamed string chunk) in bytes.
    pub max_bulk: usize,
    /// Most elements one aggregate may declare (a map counts its pairs).
    pub max_elements: usize,
    /// Deepest nesting of aggregates.
    pub max_depth: usize,
    /// Longest header or simple line, without its CRLF.
    pub max_line: usize,
    /// Memory one reply may use in total, payloads plus per-value overhead.
    pub max_reply_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bulk: 16 << 20, max_elements: 1 << 20, max_depth: 32, max_line: 64 << 10, max_reply_bytes: 64 << 20 }
    }
}

/// The reply broke the protocol or a limit. The stream position is lost afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(message.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggregateKind {
    Array,
    Set,
    Push,
    Map,
    Attribute,
}

/// An aggregate whose elements are still arriving.
#[derive(Debug)]
enum Frame {
    Aggregate {
        kind: AggregateKind,
        /// Elements still expected; `None` for a streamed aggregate (ends with `.`).
        remaining: Option<usize>,
        items: Vec<Value>,
    },
    /// `$?`: chunks (`;len`) until an empty one.
    StreamedString(Vec<u8>),
}

/// One complete token.
enum Token {
    Value(Value),
    Open(Frame),
    Chunk(Vec<u8>),
    End,
}

/// The incremental parser. Feed it with [`Parser::parse`] until it yields a value.
#[derive(Debug, Default)]
pub struct Parser {
    limits: Limits,
    stack: Vec<Frame>,
    /// Bytes charged to the reply being parsed.
    used: usize,
    /// Attributes (`|`) seen since the last reply: metadata the reply does
    /// not need, kept so that nothing is silently dropped.
    attributes: Vec<(Value, Value)>,
}

/// What one value costs beyond its payload, for the reply budget.
const VALUE_OVERHEAD: usize = std::mem::size_of::<Value>();
/// The first allocation for an aggregate, whatever it declares.
const INITIAL_CAPACITY: usize = 64;

impl Parser {
    pub fn new(limits: Limits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// The attributes that came with the replies parsed so far; clears them.
    pub fn take_attributes(&mut self) -> Vec<(Value, Value)> {
        std::mem::take(&mut self.attributes)
    }

    /// Consumes whole tokens from `input`. Returns how many bytes were used
    /// and the top-level value, once one is complete; the caller drops the
    /// used bytes and calls again with more input when there is no value yet.
    pub fn parse(&mut self, input: &[u8]) -> Result<(usize, Option<Value>), ProtocolError> {
        let mut pos = 0;
        loop {
            let in_string = matches!(self.stack.last(), Some(Frame::StreamedString(_)));
            let Some((len, token)) = self.token(&input[pos..], in_string)? else {
                return Ok((pos, None));
            };
            pos += len;
            let finished = match token {
                Token::Value(value) => Some(value),
                Token::Open(frame) => {
                    if self.stack.len() >= self.limits.max_depth {
                        return fail(format!("reply nested deeper than {} levels", self.limits.max_depth));
                    }
                    match frame {
                        Frame::Aggregate { kind, remaining: Some(0), .. } => self.finish(kind, Vec::new()),
                        frame => {
                            self.stack.push(frame);
                            None
                        }
                    }
                }
                Token::Chunk(bytes) => match self.stack.last_mut() {
                    Some(Frame::StreamedString(buffer)) if bytes.is_empty() => {
                        let text = std::mem::take(buffer);
                        self.stack.pop();
                        Some(Value::Bulk(text))
                    }
                    Some(Frame::StreamedString(buffer)) => {
                        if buffer.len() + bytes.len() > self.limits.max_bulk {
                            return fail(format!("streamed string longer than {} bytes", self.limits.max_bulk));
                        }
                        buffer.extend_from_slice(&bytes);
                        None
                    }
                    _ => return fail("string chunk outside a streamed string"),
                },
                Token::End => match self.stack.pop() {
                    Some(Frame::Aggregate { kind, remaining: None, items }) => {
                        let paired = matches!(kind, AggregateKind::Map | AggregateKind::Attribute);
                        if paired && items.len() % 2 != 0 {
                            return fail("streamed map ended after a key without its value");
                        }
                        self.finish(kind, items)
                    }
                    _ => return fail("end marker `.` outside a streamed aggregate"),
                },
            };
            let reply = match finished {
                Some(value) => self.complete(value)?,
                None => None,
            };
            if let Some(reply) = reply {
                self.used = 0;
                return Ok((pos, Some(reply)));
            }
        }
    }

    /// Puts a finished value into the aggregate it belongs to, closing every
    /// aggregate it completes. Returns the top-level value when there is one.
    fn complete(&mut self, mut value: Value) -> Result<Option<Value>, ProtocolError> {
        loop {
            match self.stack.last_mut() {
                None => return Ok(Some(value)),
                Some(Frame::StreamedString(_)) => return fail("a value inside a streamed string"),
                Some(Frame::Aggregate { items, remaining, .. }) => {
                    items.push(value);
                    match remaining {
                        None => return Ok(None),
                        Some(left) => {
                            *left -= 1;
                            if *left > 0 {
                                return Ok(None);
                            }
                        }
                    }
                }
            }
            let Some(Frame::Aggregate { kind, items, .. }) = self.stack.pop() else {
                return fail("parser stack out of order");
            };
            match self.finish(kind, items) {
                Some(closed) => value = closed,
                None => return Ok(None),
            }
        }
    }

    /// Turns a closed aggregate into its value. An attribute is metadata
    /// about the value that follows: it is set aside, and that value takes
    /// its place in the parent.
    fn finish(&mut self, kind: AggregateKind, items: Vec<Value>) -> Option<Value> {
        match close(kind, items) {
            Value::Map(pairs) if kind == AggregateKind::Attribute => {
                self.attributes.extend(pairs);
                None
            }
            value => Some(value),
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), ProtocolError> {
        self.used = self.used.saturating_add(bytes).saturating_add(VALUE_OVERHEAD);
        if self.used > self.limits.max_reply_bytes {
            return fail(format!("reply larger than {} bytes", self.limits.max_reply_bytes));
        }
        Ok(())
    }

    /// Reads one whole token from the start of `input`, or `None` if it has
    /// not all arrived yet.
    fn token(&mut self, input: &[u8], in_string: bool) -> Result<Option<(usize, Token)>, ProtocolError> {
        // Type byte, line, CRLF.
        let window = self.limits.max_line + 3;
        let Some(line_end) = find_crlf(&input[..input.len().min(window)]) else {
            if input.len() >= window {
                return fail(format!("a reply line longer than {} bytes", self.limits.max_line));
            }
            return Ok(None);
        };
        if line_end == 0 {
            return fail("an empty line where a type byte was expected");
        }
        let after_line = line_end + 2;
        let marker = input[0];
        let line = &input[1..line_end];
        if in_string && marker != b';' {
            return fail(format!("expected a string chunk `;`, got byte 0x{marker:02x}"));
        }
        let token = match marker {
            b'+' => {
                self.charge(line.len())?;
                Token::Value(Value::Simple(String::from_utf8_lossy(line).into_owned()))
            }
            b'-' => {
                self.charge(line.len())?;
                Token::Value(Value::Error(ServerError::from_text(&String::from_utf8_lossy(line))))
            }
            b':' => {
                self.charge(0)?;
                Token::Value(Value::Integer(parse_int(line)?))
            }
            b'_' => {
                if !line.is_empty() {
                    return fail("a null `_` with content");
                }
                self.charge(0)?;
                Token::Value(Value::Null)
            }
            b'#' => {
                self.charge(0)?;
                Token::Value(Value::Boolean(match line {
                    b"t" => true,
                    b"f" => false,
                    _ => return fail("a boolean that is neither `t` nor `f`"),
                }))
            }
            b',' => {
                self.charge(0)?;
                Token::Value(Value::Double(parse_double(line)?))
            }
            b'(' => {
                let digits = line.strip_prefix(b"-").or_else(|| line.strip_prefix(b"+")).unwrap_or(line);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return fail("a big number that is not a decimal integer");
                }
                self.charge(line.len())?;
                Token::Value(Value::BigNumber(String::from_utf8_lossy(line).into_owned()))
            }
            b'$' | b'=' | b'!' => {
                if line == b"?" && marker == b'$' {
                    self.charge(0)?;
                    return Ok(Some((after_line, Token::Open(Frame::StreamedString(Vec::new())))));
                }
                let length = parse_int(line)?;
                if length == -1 && marker == b'$' {
                    self.charge(0)?;
                    return Ok(Some((after_line, Token::Value(Value::Null))));
                }
                let Some((payload, used)) = self.payload(input, after_line, length)? else {
                    return Ok(None);
                };
                let value = match marker {
                    b'$' => Value::Bulk(payload.to_vec()),
                    b'!' => Value::Error(ServerError::from_text(&String::from_utf8_lossy(payload))),
                    _ => {
                        if payload.len() < 4 || payload[3] != b':' {
                            return fail("a verbatim string without its `fmt:` prefix");
                        }
                        Value::Verbatim {
                            format: String::from_utf8_lossy(&payload[..3]).into_owned(),
                            text: payload[4..].to_vec(),
                        }
                    }
                };
                return Ok(Some((used, Token::Value(value))));
            }
            b';' => {
                if !in_string {
                    return fail("a string chunk `;` outside a streamed string");
                }
                let length = parse_int(line)?;
                if length == 0 {
                    // The terminating chunk has no payload and no second CRLF.
                    return Ok(Some((after_line, Token::Chunk(Vec::new()))));
                }
                let Some((payload, used)) = self.payload(input, after_line, length)? else {
                    return Ok(None);
                };
                return Ok(Some((used, Token::Chunk(payload.to_vec()))));
            }
            b'.' => {
                if !line.is_empty() {
                    return fail("an end marker `.` with content");
                }
                Token::End
            }
            b'*' | b'~' | b'%' | b'|' | b'>' => {
                let kind = match marker {
                    b'*' => AggregateKind::Array,
                    b'~' => AggregateKind::Set,
                    b'%' => AggregateKind::Map,
                    b'|' => AggregateKind::Attribute,
                    _ => AggregateKind::Push,
                };
                self.charge(0)?;
                if line == b"?" {
                    return Ok(Some((
                        after_line,
                        Token::Open(Frame::Aggregate { kind, remaining: None, items: Vec::new() }),
                    )));
                }
                let count = parse_int(line)?;
                if count == -1 && kind == AggregateKind::Array {
                    return Ok(Some((after_line, Token::Value(Value::Null))));
                }
                let count = usize::try_from(count).map_err(|_| ProtocolError("a negative aggregate length".into()))?;
                if count > self.limits.max_elements {
                    return fail(format!("an aggregate of {count} elements (limit {})", self.limits.max_elements));
                }
                let items =
                    if matches!(kind, AggregateKind::Map | AggregateKind::Attribute) { count * 2 } else { count };
                Token::Open(Frame::Aggregate {
                    kind,
                    remaining: Some(items),
                    // Never trust the declared size for the allocation.
                    items: Vec::with_capacity(items.min(INITIAL_CAPACITY)),
                })
            }
            other => return fail(format!("unknown RESP type byte 0x{other:02x}")),
        };
        Ok(Some((after_line, token)))
    }

    /// The `length` bytes after a header line ending at `start`, and where the
    /// token ends; `None` if they have not all arrived.
    fn payload<'a>(
        &mut self,
        input: &'a [u8],
        start: usize,
        length: i64,
    ) -> Result<Option<(&'a [u8], usize)>, ProtocolError> {
        let length = usize::try_from(length).map_err(|_| ProtocolError("a negative string length".into()))?;
        if length > self.limits.max_bulk {
            return fail(format!("a string of {length} bytes (limit {})", self.limits.max_bulk));
        }
        let end = start + length;
        if input.len() < end + 2 {
            return Ok(None);
        }
        if &input[end..end + 2] != b"\r\n" {
            return fail("a string not followed by CRLF");
        }
        self.charge(length)?;
        Ok(Some((&input[start..end], end + 2)))
    }
}

fn close(kind: AggregateKind, items: Vec<Value>) -> Value {
    match kind {
        AggregateKind::Array => Value::Array(items),
        AggregateKind::Set => Value::Set(items),
        AggregateKind::Push => Value::Push(items),
        AggregateKind::Map | AggregateKind::Attribute => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                pairs.push((key, value));
            }
            Value::Map(pairs)
        }
    }
}

fn find_crlf(input: &[u8]) -> Option<usize> {
    input.windows(2).position(|pair| pair == b"\r\n")
}

fn parse_int(line: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, digits) = match line.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, line.strip_prefix(b"+").unwrap_or(line)),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return fail(format!("`{}` is not an integer", String::from_utf8_lossy(line)));
    }
    let mut value: i64 = 0;
    for digit in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(digit - b'0')))
            .ok_or_else(|| ProtocolError("an integer out of range".into()))?;
    }
    Ok(if negative { -value } else { value })
}

fn parse_double(line: &[u8]) -> Result<f64, ProtocolError> {
    let text = std::str::from_utf8(line).map_err(|_| ProtocolError("a double that is not ASCII".into()))?;
    match text {
        "inf" | "+inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" | "-nan" => Ok(f64::NAN),
        // Rust also reads "infinity" and friends; RESP spells only the above.
        _ if text.is_empty() || text.bytes().any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') => {
            fail(format!("`{text}` is not a double"))
        }
        _ => text.parse().map_err(|_| ProtocolError(format!("`{text}` is not a double"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a whole input in one go.
    fn parse_all(input: &[u8]) -> Result<Value, ProtocolError> {
        let mut parser = Parser::new(Limits::default());
        let (used, value) = parser.parse(input)?;
        assert_eq!(used, input.len(), "left over input");
        value.ok_or_else(|| ProtocolError("incomplete".into()))
    }

    /// Parses feeding one byte at a time, as a slow network would.
    fn parse_bytewise(input: &[u8]) -> Result<Value, ProtocolError> {
        let mut parser = Parser::new(Limits::default());
        let mut buffer = Vec::new();
        for byte in input {
            buffer.push(*byte);
            let (used, value) = parser.parse(&buffer)?;
            buffer.drain(..used);
            if let Some(value) = value {
                assert!(buffer.is_empty());
                return Ok(value);
            }
        }
        fail("incomplete")
    }

    fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    #[test]
    fn encodes_commands_as_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&["SET", "k", ""], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn parses_every_resp2_type() {
        assert_eq!(parse_all(b"+OK\r\n").unwrap(), Value::Simple("OK".into()));
        assert_eq!(
            parse_all(b"-WRONGPASS invalid username-password pair\r\n").unwrap(),
            Value::Error(ServerError { code: "WRONGPASS".into(), message: "invalid username-password pair".into() })
        );
        assert_eq!(parse_all(b":-42\r\n").unwrap(), Value::Integer(-42));
        assert_eq!(parse_all(b"$5\r\nhe\r\no\r\n").unwrap(), bulk("he\r\no"));
        assert_eq!(parse_all(b"$0\r\n\r\n").unwrap(), bulk(""));
        assert_eq!(parse_all(b"$-1\r\n").unwrap(), Value::Null);
        assert_eq!(parse_all(b"*-1\r\n").unwrap(), Value::Null);
        assert_eq!(parse_all(b"*0\r\n").unwrap(), Value::Array(vec![]));
        assert_eq!(
            parse_all(b"*3\r\n:1\r\n*1\r\n$1\r\na\r\n$-1\r\n").unwrap(),
            Value::Array(vec![Value::Integer(1), Value::Array(vec![bulk("a")]), Value::Null])
        );
    }

    #[test]
    fn parses_every_resp3_type() {
        assert_eq!(parse_all(b"_\r\n").unwrap(), Value::Null);
        assert_eq!(parse_all(b",3.25\r\n").unwrap(), Value::Double(3.25));
        assert_eq!(parse_all(b",-inf\r\n").unwrap(), Value::Double(f64::NEG_INFINITY));
        assert!(matches!(parse_all(b",nan\r\n").unwrap(), Value::Double(x) if x.is_nan()));
        assert_eq!(parse_all(b",1e3\r\n").unwrap(), Value::Double(1000.0));
        assert_eq!(parse_all(b"#t\r\n").unwrap(), Value::Boolean(true));
        assert_eq!(parse_all(b"#f\r\n").unwrap(), Value::Boolean(false));
        assert_eq!(
            parse_all(b"(3492890328409238509324850943850943825024385\r\n").unwrap(),
            Value::BigNumber("3492890328409238509324850943850943825024385".into())
        );
        assert_eq!(
            parse_all(b"=15\r\ntxt:Some string\r\n").unwrap(),
            Value::Verbatim { format: "txt".into(), text: b"Some string".to_vec() }
        );
        assert_eq!(
            parse_all(b"!21\r\nSYNTAX invalid syntax\r\n").unwrap(),
            Value::Error(ServerError { code: "SYNTAX".into(), message: "invalid syntax".into() })
        );
        assert_eq!(
            parse_all(b"%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n").unwrap(),
            Value::Map(vec![
                (Value::Simple("first".into()), Value::Integer(1)),
                (bulk("second"), Value::Boolean(false))
            ])
        );
        assert_eq!(
            parse_all(b"~2\r\n+a\r\n+b\r\n").unwrap(),
            Value::Set(vec![Value::Simple("a".into()), Value::Simple("b".into())])
        );
        assert_eq!(
            parse_all(b">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n").unwrap(),
            Value::Push(vec![Value::Simple("invalidate".into()), Value::Array(vec![bulk("k")])])
        );
        assert_eq!(parse_all(b"%0\r\n").unwrap(), Value::Map(vec![]));
    }

    #[test]
    fn attributes_are_set_aside_and_the_value_takes_their_place() {
        let input = b"*2\r\n|1\r\n+ttl\r\n:3600\r\n:7\r\n:8\r\n";
        let mut parser = Parser::new(Limits::default());
        let (used, value) = parser.parse(input).unwrap();
        assert_eq!(used, input.len());
        assert_eq!(value, Some(Value::Array(vec![Value::Integer(7), Value::Integer(8)])));
        assert_eq!(parser.take_attributes(), vec![(Value::Simple("ttl".into()), Value::Integer(3600))]);
        // A top-level attribute precedes the reply.
        assert_eq!(parse_all(b"|1\r\n+a\r\n+b\r\n:1\r\n").unwrap(), Value::Integer(1));
        assert_eq!(parse_all(b"*1\r\n|0\r\n:2\r\n").unwrap(), Value::Array(vec![Value::Integer(2)]));
    }

    #[test]
    fn parses_streamed_strings_and_aggregates() {
        assert_eq!(parse_all(b"$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n").unwrap(), bulk("Hello"));
        assert_eq!(
            parse_all(b"*?\r\n:1\r\n:2\r\n.\r\n").unwrap(),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)])
        );
        assert_eq!(
            parse_all(b"%?\r\n+a\r\n:1\r\n.\r\n").unwrap(),
            Value::Map(vec![(Value::Simple("a".into()), Value::Integer(1))])
        );
        assert!(parse_all(b"%?\r\n+a\r\n.\r\n").is_err());
        assert!(parse_all(b".\r\n").is_err());
        assert!(parse_all(b";3\r\nabc\r\n").is_err());
        assert!(parse_all(b"$?\r\n:1\r\n").is_err());
    }

    #[test]
    fn byte_by_byte_input_gives_the_same_values() {
        let inputs: &[&[u8]] = &[
            b"*3\r\n:1\r\n*1\r\n$1\r\na\r\n$-1\r\n",
            b"%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n",
            b"=15\r\ntxt:Some string\r\n",
            b"$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n",
            b"*2\r\n|1\r\n+ttl\r\n:3600\r\n:7\r\n:8\r\n",
        ];
        for input in inputs {
            assert_eq!(parse_bytewise(input).unwrap(), parse_all(input).unwrap());
        }
    }

    const VALID: &[&[u8]] = &[
        b"*3\r\n:1\r\n*1\r\n$1\r\na\r\n$-1\r\n",
        b"%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n",
        b"=15\r\ntxt:Some string\r\n",
        b"!21\r\nSYNTAX invalid syntax\r\n",
        b"$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n",
        b"~?\r\n,1.5\r\n(123\r\n.\r\n",
        b">2\r\n+message\r\n_\r\n",
        b"*2\r\n|1\r\n+ttl\r\n:3600\r\n:7\r\n:8\r\n",
    ];

    #[test]
    fn every_prefix_of_a_valid_reply_is_incomplete_not_an_error() {
        for input in VALID {
            for cut in 0..input.len() {
                let mut parser = Parser::new(Limits::default());
                let (_, value) = parser.parse(&input[..cut]).unwrap_or_else(|e| panic!("{cut}: {e}"));
                assert_eq!(value, None, "a value from {cut} of {} bytes", input.len());
            }
        }
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        // xorshift: deterministic, so a failure reproduces.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"+-:$*_,#(=%~|>!;.?0123456789-\r\nabc";
        let limits = Limits { max_bulk: 64, max_elements: 16, max_depth: 4, max_line: 32, max_reply_bytes: 4096 };
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 2 == 0 {
                let len = (next() % 40) as usize;
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
            } else {
                let mut input = VALID[(next() % VALID.len() as u64) as usize].to_vec();
                let at = (next() % input.len() as u64) as usize;
                input[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                input
            };
            let mut parser = Parser::new(limits);
            let mut rest = &input[..];
            // Parse until an error, a stall, or the end; a panic fails the test.
            while let Ok((used, value)) = parser.parse(rest) {
                rest = &rest[used..];
                if value.is_none() || rest.is_empty() {
                    break;
                }
            }
        }
    }

    #[test]
    fn consecutive_replies_are_parsed_one_at_a_time() {
        let input = b"+OK\r\n:5\r\n$1\r\nx\r\n";
        let mut parser = Parser::new(Limits::default());
        let (first, value) = parser.parse(input).unwrap();
        assert_eq!((first, value), (5, Some(Value::Simple("OK".into()))));
        let (second, value) = parser.parse(&input[first..]).unwrap();
        assert_eq!((second, value), (4, Some(Value::Integer(5))));
        let (third, value) = parser.parse(&input[first + second..]).unwrap();
        assert_eq!((third, value), (7, Some(bulk("x"))));
    }

    #[test]
    fn an_incomplete_token_is_not_consumed() {
        let mut parser = Parser::new(Limits::default());
        assert_eq!(parser.parse(b"*2\r\n:1\r\n$5\r\nab").unwrap(), (8, None));
        assert_eq!(
            parser.parse(b"$5\r\nabcde\r\n").unwrap(),
            (11, Some(Value::Array(vec![Value::Integer(1), bulk("abcde")])))
        );
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let bad: &[&[u8]] = &[
            b"?what\r\n",
            b":12a\r\n",
            b":\r\n",
            b":99999999999999999999\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"*-2\r\n",
            b"%-1\r\n",
            b"#x\r\n",
            b",\r\n",
            b",infinity\r\n",
            b"(12x\r\n",
            b"=2\r\nab\r\n",
            b"_x\r\n",
            b"\r\n",
            b"$abc\r\n",
        ];
        for input in bad {
            assert!(parse_all(input).is_err(), "{:?} parsed", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn huge_declared_lengths_fail_before_allocating() {
        assert!(parse_all(b"$9223372036854775807\r\n").is_err());
        assert!(parse_all(b"$536870912\r\n").is_err());
        assert!(parse_all(b"*9223372036854775807\r\n").is_err());
        assert!(parse_all(b"%4611686018427387904\r\n").is_err());
        let mut parser = Parser::new(Limits { max_elements: 10, ..Limits::default() });
        assert!(parser.parse(b"*11\r\n").is_err());
    }

    #[test]
    fn long_lines_deep_nesting_and_big_replies_are_refused() {
        let limits = Limits { max_line: 16, max_depth: 3, max_reply_bytes: 1024, ..Limits::default() };
        let mut parser = Parser::new(limits);
        assert!(parser.parse(&[b'+'; 40]).is_err());
        let mut parser = Parser::new(limits);
        assert!(parser.parse(b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n").is_err());
        // Many small elements exhaust the budget through their overhead.
        let mut parser = Parser::new(limits);
        let mut input = b"*1000\r\n".to_vec();
        for _ in 0..1000 {
            input.extend_from_slice(b"_\r\n");
        }
        assert!(parser.parse(&input).is_err());
        // A line without CRLF is incomplete until it is too long.
        let mut parser = Parser::new(limits);
        assert_eq!(parser.parse(b"+short").unwrap(), (0, None));
    }

    #[test]
    fn pairs_come_from_maps_and_flat_arrays_alike() {
        let flat = Value::Array(vec![bulk("a"), Value::Integer(1)]);
        let map = Value::Map(vec![(bulk("a"), Value::Integer(1))]);
        assert_eq!(flat.into_pairs(), map.into_pairs());
        assert_eq!(Value::Array(vec![bulk("a")]).into_pairs(), None);
        assert_eq!(bulk("12").as_int(), Some(12));
        assert_eq!(Value::Verbatim { format: "txt".into(), text: b"hi".to_vec() }.to_text().as_deref(), Some("hi"));
    }
}
