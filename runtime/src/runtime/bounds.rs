//! How large a value a connector may hand the host: every string that crosses
//! the boundary is cut to a documented size (with a visible marker) before
//! anything stores, logs or serves it, and a catalog page has a byte cap as
//! well as a row cap.
//!
//! The sizes live here, in one table, and the README's sandbox table repeats
//! them. This module only measures and cuts; the WIT conversions call it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The documented sizes, in bytes unless the name says otherwise.
pub mod limits {
    /// `connector-error.message`.
    pub const ERROR_MESSAGE: usize = 4 * 1024;
    /// `check-step.name`.
    pub const STEP_NAME: usize = 128;
    /// `check-step.message`.
    pub const STEP_MESSAGE: usize = 1024;
    /// Steps kept from one list a connector returns (connect, test, failure).
    pub const STEPS: usize = 32;
    /// `test-report.server-version`.
    pub const SERVER_VERSION: usize = 256;
    /// Schema, table, column and constraint names, and the column names a
    /// constraint lists.
    pub const NAME: usize = 1024;
    /// `column.data-type` and `column.native-type`.
    pub const TYPE_NAME: usize = 256;
    /// Comments, column defaults and check definitions.
    pub const TEXT: usize = 4 * 1024;
    /// A page token (never cut: a cut token would page wrongly, so a longer
    /// one fails the page).
    pub const PAGE_TOKEN: usize = 4 * 1024;
    /// A catalog page, measured as the bytes of its strings plus
    /// [`RECORD_OVERHEAD`] per schema, table, column and constraint.
    pub const PAGE_BYTES: usize = 16 * 1024 * 1024;
    /// What each record of a page counts beyond its strings.
    pub const RECORD_OVERHEAD: usize = 32;
}

/// The most a marker adds to a cut value (` … [truncated 1023.9 GiB]`).
pub const MARKER_MAX: usize = 32;

/// What one connection's values needed from these bounds, for
/// `inlet plugin check` ("came near").
#[derive(Debug, Default)]
pub struct Tally {
    truncated_values: AtomicU64,
    largest_page_bytes: AtomicUsize,
}

impl Tally {
    pub fn note_truncated(&self) {
        self.truncated_values.fetch_add(1, Ordering::Relaxed);
    }

    pub fn note_page(&self, bytes: usize) {
        self.largest_page_bytes.fetch_max(bytes, Ordering::Relaxed);
    }

    pub fn truncated_values(&self) -> u64 {
        self.truncated_values.load(Ordering::Relaxed)
    }

    pub fn largest_page_bytes(&self) -> usize {
        self.largest_page_bytes.load(Ordering::Relaxed)
    }
}

/// What one connection needed from the bounds on its values and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoundsUsage {
    pub log: super::log_limit::LogUsage,
    pub truncated_values: u64,
    pub largest_page_bytes: usize,
}

/// `text` cut to at most `max` bytes (on a character boundary) followed by
/// a marker saying how much was cut; unchanged when it fits.
pub fn bound(text: String, max: usize, tally: &Tally) -> String {
    if text.len() <= max {
        return text;
    }
    tally.note_truncated();
    let kept = prefix(&text, max);
    let cut = text.len() - kept.len();
    let mut out = String::with_capacity(kept.len() + MARKER_MAX);
    out.push_str(kept);
    out.push_str(&marker(cut));
    out
}

/// [`bound`] for an optional value.
pub fn bound_opt(text: Option<String>, max: usize, tally: &Tally) -> Option<String> {
    text.map(|text| bound(text, max, tally))
}

/// The marker appended to a cut value: ` … [truncated 120.0 MiB]`.
pub fn marker(cut_bytes: usize) -> String {
    format!(" … [truncated {}]", human_bytes(cut_bytes))
}

/// `n` bytes for people: `512 B`, `3.5 KiB`, `120.0 MiB`.
pub fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Why a page was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("the connector's catalog page holds {bytes} bytes, over the host's cap of {cap} bytes ({}): ask for smaller pages", human_bytes(*.cap))]
    TooLarge { bytes: usize, cap: usize },
    #[error("the connector's catalog page holds {tables} tables, more than the {page_size} asked for")]
    TooManyTables { tables: usize, page_size: u32 },
    #[error("the connector's page token is {bytes} bytes long, over the host's cap of {cap} bytes")]
    TokenTooLong { bytes: usize, cap: usize },
}

/// Adds up a page's size the way [`limits::PAGE_BYTES`] counts it, stopping
/// early once it is over `cap` (a hostile page may be large).
#[derive(Debug, Default)]
pub struct PageMeter {
    pub bytes: usize,
}

impl PageMeter {
    /// One record (schema, table, column, constraint) and its strings.
    pub fn record<'a>(&mut self, strings: impl IntoIterator<Item = &'a str>) {
        self.bytes = self.bytes.saturating_add(limits::RECORD_OVERHEAD);
        for text in strings {
            self.bytes = self.bytes.saturating_add(text.len());
        }
    }
}

/// The checks of a page's shape that need no conversion: rows, bytes, token.
pub fn check_page(tables: usize, page_size: u32, bytes: usize, token: Option<&str>) -> Result<(), PageError> {
    if bytes > limits::PAGE_BYTES {
        return Err(PageError::TooLarge { bytes, cap: limits::PAGE_BYTES });
    }
    // A page size of 0 means "the connector's default": only the byte cap holds.
    if page_size > 0 && tables > page_size as usize {
        return Err(PageError::TooManyTables { tables, page_size });
    }
    if let Some(token) = token
        && token.len() > limits::PAGE_TOKEN
    {
        return Err(PageError::TokenTooLong { bytes: token.len(), cap: limits::PAGE_TOKEN });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_end_on_character_boundaries() {
        assert_eq!(prefix("héllo", 2), "h");
        assert_eq!(prefix("héllo", 3), "hé");
        assert_eq!(prefix("abc", 10), "abc");
    }

    #[test]
    fn a_long_value_is_cut_on_a_character_boundary_with_a_marker() {
        let tally = Tally::default();
        let text = "é".repeat(100); // 200 bytes
        let cut = bound(text, 11, &tally);
        assert_eq!(cut, format!("{} … [truncated 190 B]", "é".repeat(5)));
        assert_eq!(tally.truncated_values(), 1);
        assert_eq!(bound("short".into(), 11, &tally), "short");
        assert_eq!(tally.truncated_values(), 1, "a value that fits is not counted");
    }

    #[test]
    fn a_huge_value_says_how_much_was_cut_and_stays_within_its_bound() {
        let tally = Tally::default();
        let huge = "x".repeat(120 << 20);
        let cut = bound(huge, limits::ERROR_MESSAGE, &tally);
        assert!(cut.ends_with(" … [truncated 120.0 MiB]"), "{}", &cut[cut.len() - 40..]);
        assert!(cut.len() <= limits::ERROR_MESSAGE + MARKER_MAX);
    }

    #[test]
    fn pages_are_refused_over_their_byte_row_and_token_caps() {
        assert_eq!(check_page(10, 10, 1000, Some("next")), Ok(()));
        assert_eq!(check_page(10, 0, 1000, None), Ok(()), "page size 0: the byte cap alone");
        let over = limits::PAGE_BYTES + 1;
        let error = check_page(1, 10, over, None).unwrap_err();
        assert_eq!(error, PageError::TooLarge { bytes: over, cap: limits::PAGE_BYTES });
        assert!(error.to_string().contains("16.0 MiB"), "{error}");
        assert!(matches!(check_page(11, 10, 10, None), Err(PageError::TooManyTables { tables: 11, page_size: 10 })));
        let token = "t".repeat(limits::PAGE_TOKEN + 1);
        assert!(matches!(check_page(1, 10, 10, Some(&token)), Err(PageError::TokenTooLong { .. })));
    }

    #[test]
    fn the_meter_counts_strings_and_records() {
        let mut meter = PageMeter::default();
        meter.record(["abc", "de"]);
        meter.record([]);
        assert_eq!(meter.bytes, 5 + 2 * limits::RECORD_OVERHEAD);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(120 << 20), "120.0 MiB");
    }
}
