//! The text log's field formatting, with every control character escaped:
//! a value that holds a newline, a carriage return or a terminal escape
//! (a connector's message, an error from the network) stays on its own line
//! and cannot forge another one or repaint a terminal. The JSON log escapes
//! them already, through JSON.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

/// `text` with C0 and C1 control characters, DEL and the Unicode line and
/// paragraph separators written as escapes (`\n`, `\r`, `\t`, `\x1b`,
/// `\u{85}`…); borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// [`DefaultFields`], then [`escape_controls`] over the result. Formatted
/// without colours: an escape sequence of our own would be escaped too.
#[derive(Debug, Default)]
pub struct EscapedFields {
    inner: DefaultFields,
}

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut buffer = String::new();
        self.inner.format_fields(Writer::new(&mut buffer), fields)?;
        writer.write_str(&escape_controls(&buffer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_kept() {
        assert!(matches!(escape_controls("plain text, é ✓"), Cow::Borrowed(_)));
        assert_eq!(escape_controls("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escape_controls("\u{1b}[31mred"), "\\x1b[31mred");
        assert_eq!(escape_controls("nul\0 del\u{7f}"), "nul\\x00 del\\x7f");
        assert_eq!(escape_controls("c1\u{85}\u{9b}"), "c1\\u{85}\\u{9b}");
        assert_eq!(escape_controls("sep\u{2028}"), "sep\\u{2028}");
    }

    #[test]
    fn the_text_log_keeps_a_forged_line_on_its_own_line() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::fmt::MakeWriter;

        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl<'a> MakeWriter<'a> for Captured {
            type Writer = Captured;
            fn make_writer(&'a self) -> Captured {
                self.clone()
            }
        }

        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(EscapedFields::default())
            .with_ansi(false)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let forged = "ok\n2026-01-01T00:00:00Z ERROR forged: admin token leaked\u{1b}[2J";
            tracing::info!(plugin = "p", detail = forged, "{forged}");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("ok\\n2026-01-01T00:00:00Z ERROR forged"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
