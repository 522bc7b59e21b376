//! What sampled values look like (integers, floats, booleans, JSON, text)
//! and the statistics kept per key pattern (TTLs, sizes).

use inlet_sdk::data_type;

/// The narrowest description of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Float,
    Boolean,
    /// A JSON object (`{…}`).
    JsonObject,
    Text,
}

impl Kind {
    /// What a value's bytes look like. `complete` is false when only a
    /// prefix was fetched: a JSON object is then judged by its first byte.
    pub fn of(value: &[u8], complete: bool) -> Self {
        let Ok(text) = std::str::from_utf8(value) else {
            // A truncated prefix may cut a UTF-8 character; that is still text.
            return Self::Text;
        };
        let trimmed = text.trim();
        if complete && is_integer(text) {
            return Self::Integer;
        }
        if complete && is_float(text) {
            return Self::Float;
        }
        if complete && (text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false")) {
            return Self::Boolean;
        }
        if trimmed.starts_with('{') {
            let is_object =
                !complete || serde_json::from_str::<serde_json::Value>(trimmed).is_ok_and(|v| v.is_object());
            if is_object {
                return Self::JsonObject;
            }
        }
        Self::Text
    }

    /// The narrowest kind both values fit.
    pub fn join(self, other: Self) -> Self {
        match (self, other) {
            (a, b) if a == b => a,
            (Self::Integer, Self::Float) | (Self::Float, Self::Integer) => Self::Float,
            _ => Self::Text,
        }
    }

    pub fn data_type(self) -> &'static str {
        match self {
            Self::Integer => data_type::INT64,
            Self::Float => data_type::FLOAT64,
            Self::Boolean => data_type::BOOLEAN,
            Self::JsonObject => data_type::JSON,
            Self::Text => data_type::STRING,
        }
    }
}

/// Digits with an optional sign, no leading zeros (`007` is a code, not a number).
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text.parse::<i64>().is_ok()
}

fn is_float(text: &str) -> bool {
    let unsigned = text.trim_start_matches(['-', '+']).as_bytes();
    if unsigned.len() > 1 && unsigned[0] == b'0' && unsigned[1].is_ascii_digit() {
        return false;
    }
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    plain && text.bytes().any(|b| b.is_ascii_digit()) && text.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The kind of a column seen over several values: `None` until the first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSummary(Option<Kind>);

impl KindSummary {
    pub fn add(&mut self, kind: Kind) {
        self.0 = Some(self.0.map_or(kind, |seen| seen.join(kind)));
    }

    pub fn kind(self) -> Option<Kind> {
        self.0
    }

    /// The column's type; text when nothing was seen.
    pub fn data_type(self) -> &'static str {
        self.0.unwrap_or(Kind::Text).data_type()
    }
}

/// Expiry statistics over sampled keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlStats {
    pub keys: u64,
    pub with_ttl: u64,
    pub min_ms: u64,
    pub max_ms: u64,
    pub sum_ms: u128,
}

impl TtlStats {
    /// One key's PTTL in milliseconds; `None` for a key without expiry.
    pub fn add(&mut self, ttl_ms: Option<u64>) {
        self.keys += 1;
        let Some(ttl) = ttl_ms else { return };
        self.min_ms = if self.with_ttl == 0 { ttl } else { self.min_ms.min(ttl) };
        self.max_ms = self.max_ms.max(ttl);
        self.sum_ms += u128::from(ttl);
        self.with_ttl += 1;
    }

    pub fn avg_ms(&self) -> Option<u64> {
        (self.with_ttl > 0).then(|| u64::try_from(self.sum_ms / u128::from(self.with_ttl)).unwrap_or(u64::MAX))
    }

    /// E.g. `ttl on 3 of 10 sampled keys (min 5s, avg 7s, max 9s)` or `no ttl`.
    pub fn describe(&self) -> String {
        match self.avg_ms() {
            None => "no ttl".to_owned(),
            Some(avg) => format!(
                "ttl on {} of {} sampled keys (min {}, avg {}, max {})",
                self.with_ttl,
                self.keys,
                seconds(self.min_ms),
                seconds(avg),
                seconds(self.max_ms)
            ),
        }
    }
}

/// Milliseconds as whole seconds, rounded (`0s` for under half a second).
fn seconds(ms: u64) -> String {
    format!("{}s", ms.saturating_add(500) / 1000)
}

/// The number of keys a pattern has in the whole database, from its share
/// of the sample: exact when the sample is the whole database.
pub fn scale(count: u64, sampled: u64, database_keys: u64) -> u64 {
    if sampled == 0 {
        return 0;
    }
    let total = database_keys.max(sampled);
    ((u128::from(count) * u128::from(total) + u128::from(sampled) / 2) / u128::from(sampled)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_get_their_narrowest_kind() {
        assert_eq!(Kind::of(b"42", true), Kind::Integer);
        assert_eq!(Kind::of(b"-7", true), Kind::Integer);
        assert_eq!(Kind::of(b"007", true), Kind::Text);
        assert_eq!(Kind::of(b"3.25", true), Kind::Float);
        assert_eq!(Kind::of(b"1e-3", true), Kind::Float);
        assert_eq!(Kind::of(b"inf", true), Kind::Text);
        assert_eq!(Kind::of(b"True", true), Kind::Boolean);
        assert_eq!(Kind::of(br#" {"a": 1} "#, true), Kind::JsonObject);
        assert_eq!(Kind::of(br#"{"a": "#, true), Kind::Text);
        assert_eq!(Kind::of(br#"{"a": "#, false), Kind::JsonObject);
        assert_eq!(Kind::of(b"[1, 2]", true), Kind::Text);
        assert_eq!(Kind::of(b"", true), Kind::Text);
        assert_eq!(Kind::of(&[0xff, 0xfe], true), Kind::Text);
        // A prefix of digits says nothing about the rest.
        assert_eq!(Kind::of(b"12345", false), Kind::Text);
    }

    #[test]
    fn kinds_join_to_the_narrowest_common_one() {
        let mut summary = KindSummary::default();
        assert_eq!(summary.data_type(), "string");
        summary.add(Kind::Integer);
        assert_eq!(summary.data_type(), "int64");
        summary.add(Kind::Float);
        assert_eq!(summary.data_type(), "float64");
        summary.add(Kind::Boolean);
        assert_eq!(summary.data_type(), "string");
        let mut json = KindSummary::default();
        json.add(Kind::JsonObject);
        json.add(Kind::JsonObject);
        assert_eq!(json.data_type(), "json");
    }

    #[test]
    fn ttl_statistics_count_only_expiring_keys() {
        let mut stats = TtlStats::default();
        assert_eq!(stats.describe(), "no ttl");
        for ttl in [Some(5_000), None, Some(9_400), Some(6_000), None] {
            stats.add(ttl);
        }
        assert_eq!((stats.keys, stats.with_ttl, stats.min_ms, stats.max_ms), (5, 3, 5_000, 9_400));
        assert_eq!(stats.avg_ms(), Some(6_800));
        assert_eq!(stats.describe(), "ttl on 3 of 5 sampled keys (min 5s, avg 7s, max 9s)");
    }

    #[test]
    fn estimates_scale_by_the_sampled_share() {
        assert_eq!(scale(30, 100, 1_000), 300);
        assert_eq!(scale(1, 3, 10), 3);
        // A database that grew past its INFO count while sampling.
        assert_eq!(scale(7, 10, 8), 7);
        assert_eq!(scale(5, 0, 100), 0);
    }
}
