//! Key names to key patterns: `user:42:profile` → `user:*:profile`.
//!
//! Two passes. First each key on its own: split on its delimiter, and
//! replace segments that look like identifiers (numbers, UUIDs, hex, long
//! mixed letters and digits, e-mail addresses) with `*`. Then the sample as a
//! whole: where keys agree on every segment but one and that one takes many
//! literal values (`user:alice`, `user:bob`, …), it becomes `*` too, so that
//! a keyspace of names rather than numbers still summarizes to a few patterns.

use std::collections::{BTreeSet, HashMap};

/// Literal values one position may take before it is treated as a variable.
pub const MERGE_THRESHOLD: usize = 8;
const WILDCARD: &str = "*";

/// A key cut at its delimiters: `segments.len() == delimiters.len() + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Shape {
    segments: Vec<String>,
    delimiters: Vec<char>,
}

impl Shape {
    fn render(&self) -> String {
        let mut out = String::new();
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push(self.delimiters[i - 1]);
            }
            out.push_str(segment);
        }
        out
    }
}

/// The delimiter a key uses: `:` by Redis convention, else `/` (paths), else `.`.
fn delimiter(key: &str) -> Option<char> {
    [':', '/', '.'].into_iter().find(|d| key.contains(*d))
}

fn shape(key: &str) -> Shape {
    match delimiter(key) {
        None => Shape { segments: vec![generalize_segment(key, false)], delimiters: Vec::new() },
        Some(d) => {
            let segments: Vec<String> = key.split(d).map(|s| generalize_segment(s, d != '.')).collect();
            let delimiters = vec![d; segments.len() - 1];
            Shape { segments, delimiters }
        }
    }
}

/// The pattern of one key on its own (the first pass only).
pub fn key_pattern(key: &str) -> String {
    shape(key).render()
}

/// The pattern of each key, in order, after both passes.
pub fn infer_patterns(keys: &[String]) -> Vec<String> {
    let mut shapes: Vec<Shape> = keys.iter().map(|k| shape(k)).collect();
    // Merging one position can make another position's groups larger; a
    // few rounds settle every realistic keyspace.
    for _ in 0..3 {
        if !merge_round(&mut shapes) {
            break;
        }
    }
    shapes.iter().map(Shape::render).collect()
}

/// Replaces high-cardinality positions with `*`. Returns whether anything changed.
fn merge_round(shapes: &mut [Shape]) -> bool {
    let longest = shapes.iter().map(|s| s.segments.len()).max().unwrap_or(0);
    let mut changed = false;
    for position in 0..longest {
        // Shapes that agree on everything except `position`, and the
        // literal values they take there (counted up to one past the threshold).
        let mut groups: HashMap<(Vec<char>, Vec<String>), BTreeSet<String>> = HashMap::new();
        for shape in shapes.iter().filter(|s| s.segments.len() > position) {
            let key = masked(shape, position);
            // Only a literal context makes a variable: `user:alice` and
            // `user:bob` share `user`, but `user:*` and `item:*` share
            // nothing, and their first segments must stay apart.
            if !key.1.iter().enumerate().any(|(i, s)| i != position && s != WILDCARD) {
                continue;
            }
            let values = groups.entry(key).or_default();
            let value = &shape.segments[position];
            if value != WILDCARD && values.len() <= MERGE_THRESHOLD {
                values.insert(value.clone());
            }
        }
        groups.retain(|_, values| values.len() > MERGE_THRESHOLD);
        if groups.is_empty() {
            continue;
        }
        for shape in shapes.iter_mut().filter(|s| s.segments.len() > position) {
            if shape.segments[position] != WILDCARD && groups.contains_key(&masked(shape, position)) {
                shape.segments[position] = WILDCARD.to_owned();
                changed = true;
            }
        }
    }
    changed
}

/// A shape's delimiters and segments with one position blanked out.
fn masked(shape: &Shape, position: usize) -> (Vec<char>, Vec<String>) {
    let segments = shape
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| if i == position { WILDCARD.to_owned() } else { s.clone() })
        .collect();
    (shape.delimiters.clone(), segments)
}

/// One segment: `*` if it is an identifier, with the parts of `order_123`
/// or `123.png` handled apart when the rest is a word.
fn generalize_segment(segment: &str, allow_extension: bool) -> String {
    if is_id(segment) {
        return WILDCARD.to_owned();
    }
    if let Some((stem, extension)) = segment.rsplit_once('.').filter(|_| allow_extension) {
        let is_extension = (1..=5).contains(&extension.len()) && extension.chars().all(|c| c.is_ascii_alphanumeric());
        if is_extension && is_id(stem) {
            return format!("{WILDCARD}.{extension}");
        }
    }
    // `order_12345`, `2024-01-05`: parts joined by `_` or `-`.
    let parts: Vec<&str> = segment.split(['_', '-']).collect();
    if parts.len() < 2 {
        return segment.to_owned();
    }
    let ids = parts.iter().filter(|p| is_id(p)).count();
    if ids == 0 {
        return segment.to_owned();
    }
    if ids == parts.len() {
        return WILDCARD.to_owned();
    }
    let mut out = String::with_capacity(segment.len());
    let mut rest = segment;
    for part in parts {
        out.push_str(if is_id(part) { WILDCARD } else { part });
        rest = &rest[part.len()..];
        if let Some(separator) = rest.chars().next() {
            out.push(separator);
            rest = &rest[separator.len_utf8()..];
        }
    }
    out
}

/// Whether a segment looks like an identifier rather than a name.
pub fn is_id(segment: &str) -> bool {
    let len = segment.len();
    if len == 0 {
        return false;
    }
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let letters = segment.bytes().filter(u8::is_ascii_alphabetic).count();
    if digits == len {
        return true;
    }
    if is_uuid(segment) || segment.contains('@') {
        return true;
    }
    // Hex digests and ids: at least one digit, so that words like
    // `deadbeef` or `facebook` stay names.
    if len >= 8 && digits > 0 && segment.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    let token_chars = segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_+/=".contains(&b));
    // Base62/base64 ids, ULIDs, session tokens.
    if token_chars && len >= 12 && digits > 0 && letters > 0 {
        return true;
    }
    if token_chars && len >= 24 {
        return true;
    }
    // Signed or decimal numbers (`-5`, `3.25`) when `.` is not the delimiter.
    digits > 0 && letters == 0 && segment.parse::<f64>().is_ok()
}

fn is_uuid(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_segments_become_wildcards() {
        for (key, pattern) in [
            ("user:42:profile", "user:*:profile"),
            ("user:42", "user:*"),
            ("session:0b6b6a6e-9b1f-4c1e-8f57-3f1d2c3b4a59", "session:*"),
            ("cache:5f3a9c1be2d4", "cache:*"),
            ("token:Zx8aQ2pL9mN4", "token:*"),
            ("leaderboard:2024", "leaderboard:*"),
            ("order_12345", "order_*"),
            ("event:2024-01-05:count", "event:*:count"),
            ("cache/images/123.png", "cache/images/*.png"),
            ("login:alice@example.com", "login:*"),
            ("metrics.cpu.3", "metrics.cpu.*"),
            ("price:-3.5", "price:*"),
            ("config", "config"),
            ("queue:jobs", "queue:jobs"),
            ("feature:dark-mode", "feature:dark-mode"),
            ("deadbeef:facebook", "deadbeef:facebook"),
            ("a::b", "a::b"),
        ] {
            assert_eq!(key_pattern(key), pattern, "{key}");
        }
    }

    #[test]
    fn many_literal_values_in_one_position_merge() {
        let names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"];
        let mut keys: Vec<String> = names.iter().map(|n| format!("user:{n}:settings")).collect();
        keys.push("user:42:settings".into());
        keys.push("config:smtp".into());
        let patterns = infer_patterns(&keys);
        assert!(patterns[..10].iter().all(|p| p == "user:*:settings"), "{patterns:?}");
        assert_eq!(patterns[10], "config:smtp");
    }

    #[test]
    fn prefixes_of_wildcard_patterns_never_merge() {
        let prefixes = ["user", "item", "order", "cart", "session", "cache", "tags", "events", "page", "queue"];
        let keys: Vec<String> = prefixes.iter().map(|p| format!("{p}:42")).collect();
        let patterns = infer_patterns(&keys);
        assert_eq!(patterns, prefixes.iter().map(|p| format!("{p}:*")).collect::<Vec<_>>());
    }

    #[test]
    fn a_few_literal_values_stay_apart() {
        let keys: Vec<String> = ["queue:emails", "queue:sms", "queue:push"].iter().map(|k| (*k).to_owned()).collect();
        assert_eq!(infer_patterns(&keys), keys);
    }

    #[test]
    fn ids_are_recognized_and_words_are_not() {
        assert!(is_id("123"));
        assert!(is_id("0b6b6a6e-9b1f-4c1e-8f57-3f1d2c3b4a59"));
        assert!(is_id("01HZX3K9V7Q2M4N6P8R0S2T4V6"));
        assert!(is_id("507f1f77bcf86cd799439011"));
        assert!(!is_id("profile"));
        assert!(!is_id("v2"));
        assert!(!is_id("sessions"));
        assert!(!is_id(""));
    }
}
