//! What the sampled records look like: a tree of the keys seen, in the order
//! first seen, with per-key statistics. Objects within `max_depth` become
//! children (flattened later into dotted columns); everything else is
//! observed on the key itself.

use std::collections::HashMap;

use inlet_infer::ColumnStats;
/// JSON's value types, as a set of bits (shared with the HTTP API connector).
pub use inlet_infer::json::JsonTypes;

/// The most keys (at all levels) a file may have: each one is a column with
/// its own statistics. Past this an object is probably a map keyed by ids.
pub const MAX_COLUMNS: usize = 16_384;

/// What was seen inside a key's arrays.
#[derive(Debug, Clone, Default)]
pub struct ArrayStats {
    /// The scalar elements (and null elements).
    pub elements: ColumnStats,
    pub objects: bool,
    pub arrays: bool,
}

/// What was seen at one key.
#[derive(Debug, Clone, Default)]
pub struct FieldStats {
    /// Scalars and nulls at the key itself.
    pub scalars: ColumnStats,
    /// The types of the key's own non-null values (not flattened objects).
    pub types: JsonTypes,
    pub arrays: Option<ArrayStats>,
    /// Records in which the key held a non-null value of its own.
    pub values: u64,
    /// Records in which the key held an object that was flattened.
    pub objects: u64,
    last_value: u64,
    last_object: u64,
}

impl FieldStats {
    /// Counts `record` once however often the key repeats in it.
    pub fn own_value(&mut self, record: u64, types: JsonTypes) {
        self.types.insert(types);
        if self.last_value != record {
            self.last_value = record;
            self.values += 1;
        }
    }

    pub fn flattened_object(&mut self, record: u64) {
        if self.last_object != record {
            self.last_object = record;
            self.objects += 1;
        }
    }
}

/// A key and what was seen under it.
#[derive(Debug, Clone)]
pub struct Field {
    pub key: Box<str>,
    pub stats: FieldStats,
    pub children: Fields,
}

/// The keys of one object level, in the order first seen.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub entries: Vec<Field>,
    index: HashMap<Box<str>, usize>,
}

impl Fields {
    /// The position of `key`, added if new while `budget` allows.
    pub fn position(&mut self, key: &str, budget: &mut Budget) -> Option<usize> {
        if let Some(&at) = self.index.get(key) {
            return Some(at);
        }
        if budget.used >= MAX_COLUMNS {
            budget.exceeded = true;
            return None;
        }
        budget.used += 1;
        let at = self.entries.len();
        self.entries.push(Field { key: key.into(), stats: FieldStats::default(), children: Fields::default() });
        self.index.insert(key.into(), at);
        Some(at)
    }
}

/// Keys added across the whole tree, against [`MAX_COLUMNS`].
#[derive(Debug, Clone, Default)]
pub struct Budget {
    pub used: usize,
    pub exceeded: bool,
}

/// Everything the sample taught.
#[derive(Debug, Clone)]
pub struct Shape {
    pub root: Fields,
    /// Records observed so far; also the current record's number.
    pub records: u64,
    pub max_depth: u32,
    pub budget: Budget,
}

impl Shape {
    pub fn new(max_depth: u32) -> Self {
        Self { root: Fields::default(), records: 0, max_depth, budget: Budget::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_first_seen_order_and_the_budget_holds() {
        let mut fields = Fields::default();
        let mut budget = Budget::default();
        assert_eq!(fields.position("b", &mut budget), Some(0));
        assert_eq!(fields.position("a", &mut budget), Some(1));
        assert_eq!(fields.position("b", &mut budget), Some(0));
        assert_eq!(budget.used, 2);
        budget.used = MAX_COLUMNS;
        assert_eq!(fields.position("c", &mut budget), None);
        assert!(budget.exceeded);
        assert_eq!(fields.position("a", &mut budget), Some(1));
    }

    #[test]
    fn a_repeated_key_counts_its_record_once() {
        let mut stats = FieldStats::default();
        stats.own_value(1, JsonTypes::NUMBER);
        stats.own_value(1, JsonTypes::STRING);
        stats.own_value(2, JsonTypes::NUMBER);
        assert_eq!(stats.values, 2);
        assert_eq!(stats.types.names(), ["number", "string"]);
        stats.flattened_object(2);
        stats.flattened_object(2);
        assert_eq!(stats.objects, 1);
    }
}
