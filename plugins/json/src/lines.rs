//! NDJSON's lines, read one at a time into a reused buffer of bounded size.

use std::io::BufRead;

#[derive(Debug)]
pub enum LineError {
    Io(std::io::Error),
    TooLong { line: u64, max_bytes: usize },
}

/// Hands out the lines of `input` without their line break (LF or CRLF).
pub struct Lines<R> {
    input: R,
    /// The number of the next line.
    next: u64,
}

impl<R: BufRead> Lines<R> {
    /// `line` is the number of the line `input` starts on (1 for a file's start).
    pub fn new(input: R, line: u64) -> Self {
        Self { input, next: line }
    }

    /// Reads the next line into `buf` (replacing its contents) and returns
    /// its number; `None` at the end of the input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>, max_bytes: usize) -> Result<Option<u64>, LineError> {
        buf.clear();
        let line = self.next;
        let mut read_any = false;
        loop {
            let chunk = self.input.fill_buf().map_err(LineError::Io)?;
            if chunk.is_empty() {
                if !read_any {
                    return Ok(None);
                }
                break;
            }
            read_any = true;
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (at, true),
                None => (chunk.len(), false),
            };
            if buf.len() + take > max_bytes {
                return Err(LineError::TooLong { line, max_bytes });
            }
            buf.extend_from_slice(&chunk[..take]);
            self.input.consume(if done { take + 1 } else { take });
            if done {
                break;
            }
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        self.next += 1;
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, capacity: usize) -> Vec<(u64, String)> {
        let mut lines = Lines::new(std::io::BufReader::with_capacity(capacity, text.as_bytes()), 1);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(number) = lines.next_line(&mut buf, 64).unwrap() {
            out.push((number, String::from_utf8(buf.clone()).unwrap()));
        }
        out
    }

    #[test]
    fn lines_are_numbered_and_stripped_of_their_breaks() {
        for capacity in [1, 2, 5, 8192] {
            let got = lines("{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}", capacity);
            let want = [(1, "{\"a\":1}"), (2, ""), (3, "{\"b\":2}"), (4, "{\"c\":3}")];
            let want: Vec<_> = want.iter().map(|(n, s)| (*n, (*s).to_owned())).collect();
            assert_eq!(got, want, "capacity {capacity}");
        }
        assert_eq!(lines("x\n", 8).len(), 1);
        assert!(lines("", 8).is_empty());
    }

    #[test]
    fn a_line_past_the_limit_is_refused_with_its_number() {
        let text = format!("{{}}\n{}\n", "x".repeat(100));
        let mut lines = Lines::new(std::io::BufReader::with_capacity(8, text.as_bytes()), 1);
        let mut buf = Vec::new();
        assert_eq!(lines.next_line(&mut buf, 64).unwrap(), Some(1));
        match lines.next_line(&mut buf, 64) {
            Err(LineError::TooLong { line, max_bytes }) => assert_eq!((line, max_bytes), (2, 64)),
            other => panic!("expected TooLong, got {other:?}"),
        }
    }
}
