//! Splits a top-level JSON array into its elements' bytes, incrementally.
//!
//! The splitter only tracks what decides where an element ends — nesting
//! depth, strings and their escapes — and leaves checking each element to
//! serde_json. So memory is bounded by the largest element, not the file.

use std::io::BufRead;

/// Where an element starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    /// 1-based position in the array.
    pub index: u64,
    /// 1-based line and byte column of the element's first byte.
    pub line: u64,
    pub column: u64,
}

#[derive(Debug)]
pub enum SplitError {
    Io(std::io::Error),
    /// The array itself is malformed (not its elements, which serde_json checks).
    Syntax {
        line: u64,
        message: String,
    },
    /// An element grew past the limit.
    TooLong {
        element: Element,
        max_bytes: usize,
    },
}

/// Where the splitter is between elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Between {
    /// Before the opening `[`.
    Start,
    /// After `[`: an element or `]`.
    Open,
    /// After `,`: an element.
    Comma,
    /// After an element: `,` or `]`.
    After,
    /// After the closing `]`: only whitespace.
    End,
}

/// Inside an element: what ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    /// An object or array: ends when `depth` returns to zero.
    Container { depth: u32, string: bool, escape: bool },
    /// A string: ends at the unescaped closing quote.
    String { escape: bool },
    /// A number or literal: ends before `,`, `]` or whitespace.
    Bare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Between(Between),
    Inside(Inside),
}

/// What one byte did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Not part of an element (whitespace, `[`, `,`).
    Skip,
    /// The first byte of an element.
    Start,
    /// A byte of the current element.
    Continue,
    /// The last byte of the current element.
    EndWith,
    /// The element ended just before this byte, which was a separator.
    EndBefore,
}

/// The byte-level state machine, apart from the input so that it can be fed
/// from a borrowed buffer.
#[derive(Debug)]
struct Machine {
    state: State,
    /// Where the next byte is (1-based line, 1-based byte column).
    line: u64,
    column: u64,
}

impl Machine {
    fn feed(&mut self, byte: u8) -> Result<Step, String> {
        let step = match self.state {
            State::Between(between) => self.between(between, byte)?,
            State::Inside(inside) => self.inside(inside, byte)?,
        };
        if byte == b'\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Ok(step)
    }

    /// How many leading bytes of `bytes` only continue the current element
    /// without changing the state (string contents, numbers and keys between
    /// brackets), so that they can be passed over in one step.
    fn plain_run(&self, bytes: &[u8]) -> usize {
        let run = match self.state {
            State::Inside(Inside::Container { string: true, escape: false, .. } | Inside::String { escape: false }) => {
                bytes.iter().position(|&b| matches!(b, b'"' | b'\\' | b'\n'))
            }
            State::Inside(Inside::Container { string: false, .. }) => {
                bytes.iter().position(|&b| matches!(b, b'"' | b'{' | b'}' | b'[' | b']' | b'\n'))
            }
            _ => return 0,
        };
        run.unwrap_or(bytes.len())
    }

    fn between(&mut self, between: Between, byte: u8) -> Result<Step, String> {
        if is_space(byte) {
            return Ok(Step::Skip);
        }
        let next = match (between, byte) {
            (Between::Start, b'[') => Between::Open,
            (Between::Start, _) => return Err(format!("expected `[` to open the array, found {}", show(byte))),
            (Between::Open, b']') | (Between::After, b']') => Between::End,
            (Between::After, b',') => Between::Comma,
            (Between::After, _) => return Err(format!("expected `,` or `]` after an element, found {}", show(byte))),
            (Between::Comma, b']') => return Err("a `,` is followed by `]` (trailing comma)".to_owned()),
            (Between::End, _) => return Err(format!("unexpected {} after the array's closing `]`", show(byte))),
            (Between::Open | Between::Comma, b',') => return Err("expected an element, found `,`".to_owned()),
            (Between::Open | Between::Comma, _) => {
                self.state = State::Inside(match byte {
                    b'{' | b'[' => Inside::Container { depth: 1, string: false, escape: false },
                    b'"' => Inside::String { escape: false },
                    _ => Inside::Bare,
                });
                return Ok(Step::Start);
            }
        };
        self.state = State::Between(next);
        Ok(Step::Skip)
    }

    fn inside(&mut self, inside: Inside, byte: u8) -> Result<Step, String> {
        let (next, step) = match inside {
            // The byte after a backslash is part of the string, whatever it is.
            Inside::Container { depth, string: true, escape: true } => {
                (Inside::Container { depth, string: true, escape: false }, Step::Continue)
            }
            Inside::Container { depth, string: true, escape: false } => match byte {
                b'\\' => (Inside::Container { depth, string: true, escape: true }, Step::Continue),
                b'"' => (Inside::Container { depth, string: false, escape: false }, Step::Continue),
                _ => (inside, Step::Continue),
            },
            Inside::Container { depth, string: false, .. } => match byte {
                b'"' => (Inside::Container { depth, string: true, escape: false }, Step::Continue),
                b'{' | b'[' => {
                    let depth = depth.checked_add(1).ok_or("nesting too deep")?;
                    (Inside::Container { depth, string: false, escape: false }, Step::Continue)
                }
                b'}' | b']' if depth == 1 => {
                    self.state = State::Between(Between::After);
                    return Ok(Step::EndWith);
                }
                b'}' | b']' => (Inside::Container { depth: depth - 1, string: false, escape: false }, Step::Continue),
                _ => (inside, Step::Continue),
            },
            Inside::String { escape: true } => (Inside::String { escape: false }, Step::Continue),
            Inside::String { escape: false } => match byte {
                b'\\' => (Inside::String { escape: true }, Step::Continue),
                b'"' => {
                    self.state = State::Between(Between::After);
                    return Ok(Step::EndWith);
                }
                _ => (inside, Step::Continue),
            },
            Inside::Bare if byte == b',' || byte == b']' || is_space(byte) => {
                // The separator belongs to what follows the element.
                self.state = State::Between(Between::After);
                self.between(Between::After, byte)?;
                return Ok(Step::EndBefore);
            }
            Inside::Bare => (inside, Step::Continue),
        };
        self.state = State::Inside(next);
        Ok(step)
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn show(byte: u8) -> String {
    if byte.is_ascii_graphic() { format!("`{}`", byte as char) } else { format!("byte 0x{byte:02x}") }
}

/// Hands out the elements of the array that `input` holds, one at a time.
pub struct ArraySplitter<R> {
    input: R,
    machine: Machine,
    elements: u64,
}

impl<R: BufRead> ArraySplitter<R> {
    /// `line` and `column` are where `input` starts (1, 1 for a file's start).
    pub fn new(input: R, line: u64, column: u64) -> Self {
        Self { input, machine: Machine { state: State::Between(Between::Start), line, column }, elements: 0 }
    }

    /// Reads the next element into `buf` (replacing its contents); `None`
    /// after the closing `]` and nothing but whitespace after it.
    pub fn next_element(&mut self, buf: &mut Vec<u8>, max_bytes: usize) -> Result<Option<Element>, SplitError> {
        buf.clear();
        let mut element = None;
        loop {
            let chunk = self.input.fill_buf().map_err(SplitError::Io)?;
            if chunk.is_empty() {
                return match self.machine.state {
                    State::Between(Between::End) => Ok(None),
                    _ => Err(SplitError::Syntax {
                        line: self.machine.line,
                        message: "the file ends before the array is closed with `]`".to_owned(),
                    }),
                };
            }
            // The start of the current element's bytes within this chunk.
            let mut from = element.map(|_| 0);
            let mut ended = None;
            let mut i = 0;
            while i < chunk.len() {
                let run = self.machine.plain_run(&chunk[i..]);
                if run > 0 {
                    self.machine.column += run as u64;
                    i += run;
                    continue;
                }
                let byte = chunk[i];
                let (line, column) = (self.machine.line, self.machine.column);
                let step = self.machine.feed(byte).map_err(|message| SplitError::Syntax { line, message })?;
                match step {
                    Step::Skip | Step::Continue => {}
                    Step::Start => {
                        self.elements += 1;
                        element = Some(Element { index: self.elements, line, column });
                        from = Some(i);
                    }
                    Step::EndWith => {
                        ended = Some((i + 1, i + 1));
                        break;
                    }
                    Step::EndBefore => {
                        ended = Some((i, i + 1));
                        break;
                    }
                }
                i += 1;
            }
            let (until, consumed) = ended.unwrap_or((chunk.len(), chunk.len()));
            if let Some(from) = from {
                buf.extend_from_slice(&chunk[from..until]);
            }
            self.input.consume(consumed);
            if let Some(element) = element {
                if buf.len() > max_bytes {
                    return Err(SplitError::TooLong { element, max_bytes });
                }
                if ended.is_some() {
                    return Ok(Some(element));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `text`, reading through a buffer of `capacity` bytes so that
    /// elements straddle refills.
    fn split(text: &str, capacity: usize) -> Result<Vec<(String, Element)>, SplitError> {
        let reader = std::io::BufReader::with_capacity(capacity, text.as_bytes());
        let mut splitter = ArraySplitter::new(reader, 1, 1);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(element) = splitter.next_element(&mut buf, 1024)? {
            out.push((String::from_utf8(buf.clone()).unwrap(), element));
        }
        Ok(out)
    }

    fn texts(text: &str) -> Vec<String> {
        for capacity in [1, 2, 3, 7, 64] {
            let small = split(text, capacity).unwrap();
            let large = split(text, 8192).unwrap();
            assert_eq!(small, large, "capacity {capacity}");
        }
        split(text, 8192).unwrap().into_iter().map(|(text, _)| text).collect()
    }

    fn syntax_error(text: &str) -> (u64, String) {
        match split(text, 8192) {
            Err(SplitError::Syntax { line, message }) => (line, message),
            other => panic!("{text:?}: expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn splits_objects_scalars_and_strings() {
        assert_eq!(
            texts(r#"[{"a":1},2,"three",true,null,[4,5]]"#),
            [r#"{"a":1}"#, "2", r#""three""#, "true", "null", "[4,5]"]
        );
        assert_eq!(texts(" \n[ ]\n "), Vec::<String>::new());
        assert_eq!(texts("[\n  1 ,\n  -2.5e3\n]"), ["1", "-2.5e3"]);
    }

    #[test]
    fn brackets_and_escapes_inside_strings_do_not_count() {
        let text = r#"[{"s":"]}[{,"},{"q":"a\"]b","e":"\\"},"x\"],y",{"k":"\\\""}]"#;
        assert_eq!(texts(text), [r#"{"s":"]}[{,"}"#, r#"{"q":"a\"]b","e":"\\"}"#, r#""x\"],y""#, r#"{"k":"\\\""}"#]);
    }

    #[test]
    fn nesting_is_tracked_to_the_outermost_close() {
        let text = r#"[{"a":{"b":[1,{"c":[]}]}},[[[]]]]"#;
        assert_eq!(texts(text), [r#"{"a":{"b":[1,{"c":[]}]}}"#, "[[[]]]"]);
    }

    #[test]
    fn elements_know_their_index_and_line() {
        let elements = split("[\n{\"a\":\n1},\n\n  {}]", 3).unwrap();
        let places: Vec<_> = elements.iter().map(|(_, e)| (e.index, e.line, e.column)).collect();
        assert_eq!(places, [(1, 2, 1), (2, 5, 3)]);
    }

    #[test]
    fn malformed_arrays_name_their_line() {
        assert_eq!(syntax_error(r#"{"a":1}"#), (1, "expected `[` to open the array, found `{`".to_owned()));
        assert_eq!(syntax_error("[1,\n2 3]").0, 2);
        assert!(syntax_error("[1,\n2 3]").1.contains("expected `,` or `]`"));
        assert!(syntax_error("[1,]").1.contains("trailing comma"));
        assert!(syntax_error("[,1]").1.contains("found `,`"));
        assert!(syntax_error("[1] x").1.contains("after the array"));
        assert!(syntax_error("[{\"a\":\n[1,2]").1.contains("ends before the array is closed"));
        assert!(syntax_error("[\"open string]").1.contains("ends before"));
        assert!(syntax_error("").1.contains("ends before"));
    }

    #[test]
    fn an_element_past_the_limit_is_refused() {
        let big = format!("[1,\"{}\"]", "x".repeat(2000));
        let reader = std::io::BufReader::with_capacity(16, big.as_bytes());
        let mut splitter = ArraySplitter::new(reader, 1, 1);
        let mut buf = Vec::new();
        assert_eq!(splitter.next_element(&mut buf, 1024).unwrap().map(|e| e.index), Some(1));
        match splitter.next_element(&mut buf, 1024) {
            Err(SplitError::TooLong { element, max_bytes }) => assert_eq!((element.index, max_bytes), (2, 1024)),
            other => panic!("expected TooLong, got {other:?}"),
        }
        // Memory stayed near the limit rather than the element's size.
        assert!(buf.len() <= 1024 + 16, "{}", buf.len());
    }
}
