//! How much of a discovered catalog one API response lists.
//!
//! A connector decides how many tables, schemas and changes a catalog has,
//! and how long their names are (within `runtime::bounds`), so
//! `GET /data-sources/{id}/schemas` bounds its answer in bytes as well as in
//! rows: the tables of a page stop at [`limits::ITEMS_BYTES`] of JSON (the
//! page then says `truncated` and its `next_cursor` continues right after
//! its last table: nothing skipped, nothing repeated), the schema summary at
//! [`limits::SUMMARY_BYTES`] and the discovery's diff at
//! [`limits::DIFF_BYTES`] (counts stay whole). Together with the job's own
//! bounded fields the response stays within [`limits::RESPONSE_BYTES`],
//! except for a single table larger than the items cap, which is served
//! alone on its page so that paging always moves on.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use thiserror::Error;

use crate::catalog_diff::{ColumnChange, SchemaDiff};

/// The documented sizes, in bytes of JSON.
pub mod limits {
    /// One response of `GET /data-sources/{id}/schemas`.
    pub const RESPONSE_BYTES: usize = 4 << 20;
    /// The `schemas` summary of a response.
    pub const SUMMARY_BYTES: usize = 256 << 10;
    /// The names a discovery's `diff` lists.
    pub const DIFF_BYTES: usize = 256 << 10;
    /// The job's own fields (its error is a connector error, already cut to
    /// a few KiB) and the envelope.
    pub const RESERVE_BYTES: usize = 64 << 10;
    /// The tables of one page: what is left of the response.
    pub const ITEMS_BYTES: usize = RESPONSE_BYTES - SUMMARY_BYTES - DIFF_BYTES - RESERVE_BYTES;
    /// The longest cursor accepted (two names of at most 1 KiB, escaped, in base64).
    pub const CURSOR_CHARS: usize = 16 << 10;
}

/// Where a cursor-paged listing goes on: right after this table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub schema: String,
    pub table: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`cursor` is not one this API gave out")]
pub struct CursorError;

impl Cursor {
    pub fn after(schema: &str, table: &str) -> Self {
        Self { schema: schema.to_owned(), table: table.to_owned() }
    }

    /// Opaque text for a URL: base64url of `["schema","table"]`.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::json!([self.schema, self.table]).to_string())
    }

    pub fn decode(text: &str) -> Result<Self, CursorError> {
        if text.len() > limits::CURSOR_CHARS {
            return Err(CursorError);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError)?;
        let (schema, table): (String, String) = serde_json::from_slice(&bytes).map_err(|_| CursorError)?;
        Ok(Self { schema, table })
    }

    /// Whether a table sorted by (schema, name) in byte order comes at or
    /// before the cursor.
    pub fn covers(&self, schema: &str, table: &str) -> bool {
        (schema, table) <= (self.schema.as_str(), self.table.as_str())
    }
}

/// What [`take`] kept, and why it stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct Taken<T> {
    pub items: Vec<T>,
    /// More candidates followed the last item kept.
    pub more: bool,
    /// The byte budget, not the row limit, ended the list.
    pub cut_by_bytes: bool,
}

/// Keeps candidates in order, each with its size in bytes, while there are
/// fewer than `limit` and their sizes (plus a separator each) fit in
/// `budget`. The first candidate is kept whatever its size, so that a list
/// paged this way always moves on.
pub fn take<T>(candidates: impl IntoIterator<Item = (T, usize)>, limit: usize, budget: usize) -> Taken<T> {
    let mut taken = Taken { items: Vec::new(), more: false, cut_by_bytes: false };
    let mut used = 0usize;
    for (item, size) in candidates {
        let cost = size.saturating_add(1);
        if taken.items.len() >= limit {
            taken.more = true;
            break;
        }
        if !taken.items.is_empty() && used.saturating_add(cost) > budget {
            taken.more = true;
            taken.cut_by_bytes = true;
            break;
        }
        used = used.saturating_add(cost);
        taken.items.push(item);
    }
    taken
}

/// Bytes of `value` as JSON (0 if it cannot be serialized, which plain
/// data cannot fail).
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_vec(value).map(|bytes| bytes.len()).unwrap_or(0)
}

/// How many changes of each kind a diff has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DiffCounts {
    pub tables_added: usize,
    pub tables_removed: usize,
    pub columns_added: usize,
    pub columns_removed: usize,
    pub columns_changed: usize,
}

/// A diff as a response lists it: the names (within a byte cap), how many
/// there are in all, and whether the names stop short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DiffListing {
    #[serde(flatten)]
    pub listed: SchemaDiff,
    pub counts: DiffCounts,
    /// The lists stop short of `counts` (the listing's byte cap); the lists
    /// are kept in order: tables added, removed, columns added, removed,
    /// changed, and nothing is listed after the first cut.
    pub truncated: bool,
}

/// `diff` with its names cut to `budget` bytes of JSON.
pub fn list_diff(diff: SchemaDiff, budget: usize) -> DiffListing {
    let counts = DiffCounts {
        tables_added: diff.tables_added.len(),
        tables_removed: diff.tables_removed.len(),
        columns_added: diff.columns_added.len(),
        columns_removed: diff.columns_removed.len(),
        columns_changed: diff.columns_changed.len(),
    };
    let mut left = budget;
    let mut cut = false;
    let mut names = |names: Vec<String>| -> Vec<String> { keep(names, &mut left, &mut cut, json_len) };
    let tables_added = names(diff.tables_added);
    let tables_removed = names(diff.tables_removed);
    let columns_added = names(diff.columns_added);
    let columns_removed = names(diff.columns_removed);
    let columns_changed = keep(diff.columns_changed, &mut left, &mut cut, |c: &ColumnChange| json_len(c));
    let listed = SchemaDiff { tables_added, tables_removed, columns_added, columns_removed, columns_changed };
    DiffListing { listed, counts, truncated: cut }
}

/// The items of `all` that fit in `left` bytes, once nothing was cut before.
fn keep<T>(all: Vec<T>, left: &mut usize, cut: &mut bool, size: impl Fn(&T) -> usize) -> Vec<T> {
    if *cut {
        return Vec::new();
    }
    let total = all.len();
    let mut kept = Vec::new();
    for item in all {
        let cost = size(&item).saturating_add(1);
        if cost > *left {
            break;
        }
        *left -= cost;
        kept.push(item);
    }
    *cut = kept.len() < total;
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor::after("pub lic", "naïve \"t\"");
        let text = cursor.encode();
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
        assert_eq!(Cursor::decode(&text), Ok(cursor));
        assert_eq!(Cursor::decode("not base64!"), Err(CursorError));
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("[1,2]")), Err(CursorError));
        assert_eq!(Cursor::decode(&"a".repeat(limits::CURSOR_CHARS + 1)), Err(CursorError));
    }

    #[test]
    fn a_cursor_covers_what_sorts_at_or_before_it() {
        let cursor = Cursor::after("b", "m");
        assert!(cursor.covers("a", "z"));
        assert!(cursor.covers("b", "m"));
        assert!(!cursor.covers("b", "n"));
        assert!(!cursor.covers("c", "a"));
    }

    #[test]
    fn take_stops_at_the_row_limit_or_the_byte_budget_whichever_comes_first() {
        let sized = |n: usize, size: usize| (0..n).map(move |i| (i, size));
        assert_eq!(take(sized(5, 10), 3, 1000), Taken { items: vec![0, 1, 2], more: true, cut_by_bytes: false });
        // 10 bytes and a separator each: three fit in 33.
        assert_eq!(take(sized(5, 10), 10, 33), Taken { items: vec![0, 1, 2], more: true, cut_by_bytes: true });
        assert_eq!(take(sized(3, 10), 3, 1000), Taken { items: vec![0, 1, 2], more: false, cut_by_bytes: false });
        assert_eq!(take(sized(0, 10), 3, 1000), Taken { items: vec![], more: false, cut_by_bytes: false });
    }

    #[test]
    fn an_item_larger_than_the_budget_goes_alone_so_paging_moves_on() {
        let items = [("huge", 100), ("next", 1)];
        assert_eq!(take(items, 10, 50), Taken { items: vec!["huge"], more: true, cut_by_bytes: true });
    }

    #[test]
    fn pages_taken_after_each_others_last_item_list_everything_once() {
        let all: Vec<(String, usize)> = (0..100).map(|i| (format!("t{i:03}"), 7 + i % 13)).collect();
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let rest = all.iter().filter(|(name, _)| after.as_ref().is_none_or(|a| name > a)).cloned();
            let page = take(rest, 30, 64);
            assert!(!page.items.is_empty());
            seen.extend(page.items.iter().cloned());
            if !page.more {
                break;
            }
            after = page.items.last().cloned();
        }
        assert_eq!(seen, all.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn a_diff_listing_keeps_whole_counts_and_cuts_names_in_order() {
        let diff = SchemaDiff {
            tables_added: (0..1000).map(|i| format!("s.table_{i}")).collect(),
            tables_removed: vec!["s.gone".into()],
            columns_added: vec![],
            columns_removed: vec![],
            columns_changed: vec![ColumnChange { column: "s.t.c".into(), before: "a".into(), after: "b".into() }],
        };
        let whole = list_diff(diff.clone(), 1 << 20);
        assert!(!whole.truncated);
        assert_eq!(whole.listed, diff);
        let cut = list_diff(diff, 1024);
        assert!(cut.truncated);
        assert_eq!(cut.counts.tables_added, 1000);
        assert_eq!(cut.counts.columns_changed, 1);
        assert!(!cut.listed.tables_added.is_empty() && cut.listed.tables_added.len() < 1000);
        assert!(cut.listed.tables_removed.is_empty() && cut.listed.columns_changed.is_empty(), "nothing after a cut");
        assert!(json_len(&cut) < 1024 + 512, "{} bytes", json_len(&cut));
        let json = serde_json::to_value(&cut).expect("json");
        assert_eq!(json["counts"]["tables_added"], 1000);
        assert!(json["tables_added"].is_array(), "the lists stay where they were: {json}");
    }
}
