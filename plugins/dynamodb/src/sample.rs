//! What a Scan sample says about a table's attributes.
//!
//! Items arrive in DynamoDB's attribute-value JSON: every value is an object
//! with one type tag — `S`, `N`, `B`, `BOOL`, `NULL`, `M`, `L`, `SS`, `NS`,
//! `BS`. Maps are flattened into dotted paths (`address.city`) down to
//! [`MAX_DEPTH`]; scalars are typed by `inlet-infer` (numbers from their
//! text, strings as strings, dates or timestamps); lists and sets are
//! arrays. The work per item is bounded by [`MAX_PATHS`].

use std::collections::BTreeMap;

use inlet_infer::{ColumnStats, Inferred};
use inlet_sdk::data_type;
use serde_json::{Map, Value};

/// Maps nested deeper than this stay one `map` column.
pub const MAX_DEPTH: usize = 4;
/// Distinct attribute paths kept per table; later ones are counted, not kept.
pub const MAX_PATHS: usize = 500;

/// The DynamoDB type tags, in the order native types are spelled.
const TAGS: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

/// A set of type tags (bit i: `TAGS[i]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tags(u16);

impl Tags {
    pub const S: Tags = Tags(1);
    pub const N: Tags = Tags(1 << 1);
    pub const B: Tags = Tags(1 << 2);
    pub const BOOL: Tags = Tags(1 << 3);
    pub const NULL: Tags = Tags(1 << 4);
    pub const M: Tags = Tags(1 << 5);
    pub const L: Tags = Tags(1 << 6);
    pub const SS: Tags = Tags(1 << 7);
    pub const NS: Tags = Tags(1 << 8);
    pub const BS: Tags = Tags(1 << 9);
    /// A value that is not valid attribute-value JSON.
    pub const OTHER: Tags = Tags(1 << 10);

    fn of(tag: &str) -> Tags {
        TAGS.iter().position(|t| *t == tag).map_or(Tags::OTHER, |i| Tags(1 << i))
    }

    pub fn contains(self, other: Tags) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn insert(&mut self, other: Tags) {
        self.0 |= other.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn without(self, other: Tags) -> Tags {
        Tags(self.0 & !other.0)
    }

    /// `N|S`: the tags in a fixed order.
    pub fn names(self) -> String {
        let mut names: Vec<&str> =
            TAGS.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0).map(|(_, t)| *t).collect();
        if self.contains(Tags::OTHER) {
            names.push("?");
        }
        names.join("|")
    }
}

/// What was seen at one attribute path.
#[derive(Debug, Clone, Default)]
pub struct Attribute {
    pub tags: Tags,
    /// Items in which the path exists (with any value, NULL included).
    pub present: u64,
    /// Scalars (S, N, BOOL) and NULLs, typed by inlet-infer.
    pub scalars: ColumnStats,
    /// The largest binary value, in bytes.
    pub max_binary: Option<u64>,
    /// The longest list or set.
    pub max_elements: Option<u64>,
    /// The tags of list elements.
    pub element_tags: Tags,
    /// Maps at this path were flattened into child paths.
    pub has_children: bool,
    /// A map here was nested deeper than [`MAX_DEPTH`] and kept whole.
    pub too_deep: bool,
}

/// The sample of one table.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub items: u64,
    pub attributes: BTreeMap<String, Attribute>,
    /// Paths left out because of [`MAX_PATHS`].
    pub dropped_paths: u64,
}

impl Sample {
    pub fn observe(&mut self, item: &Map<String, Value>) {
        self.items += 1;
        for (name, value) in item {
            self.value(name.clone(), value, 1);
        }
    }

    fn value(&mut self, path: String, value: &Value, depth: usize) {
        let Some(attribute) = self.attribute(&path) else { return };
        attribute.present += 1;
        let (tag, inner) = match value {
            Value::Object(object) if object.len() == 1 => match object.iter().next() {
                Some((tag, inner)) => (Tags::of(tag), inner),
                None => (Tags::OTHER, value),
            },
            _ => (Tags::OTHER, value),
        };
        attribute.tags.insert(tag);
        match (tag, inner) {
            (Tags::S, Value::String(text)) => attribute.scalars.observe_string(text),
            (Tags::N, Value::String(text)) => attribute.scalars.observe_text(text),
            (Tags::BOOL, Value::Bool(flag)) => attribute.scalars.observe_boolean(*flag),
            (Tags::NULL, _) => attribute.scalars.observe_null(),
            (Tags::B, Value::String(base64)) => {
                let bytes = base64_len(base64);
                attribute.max_binary = Some(attribute.max_binary.map_or(bytes, |max| max.max(bytes)));
            }
            (Tags::L | Tags::SS | Tags::NS | Tags::BS, Value::Array(elements)) => {
                let count = elements.len() as u64;
                attribute.max_elements = Some(attribute.max_elements.map_or(count, |max| max.max(count)));
                if tag == Tags::L {
                    for element in elements {
                        let element_tag = match element {
                            Value::Object(o) if o.len() == 1 => o.keys().next().map_or(Tags::OTHER, |t| Tags::of(t)),
                            _ => Tags::OTHER,
                        };
                        attribute.element_tags.insert(element_tag);
                    }
                }
            }
            (Tags::M, Value::Object(members)) => {
                if depth >= MAX_DEPTH {
                    attribute.too_deep = true;
                } else if !members.is_empty() {
                    attribute.has_children = true;
                    for (name, member) in members {
                        self.value(format!("{path}.{name}"), member, depth + 1);
                    }
                }
            }
            _ => attribute.tags.insert(Tags::OTHER),
        }
    }

    fn attribute(&mut self, path: &str) -> Option<&mut Attribute> {
        if !self.attributes.contains_key(path) {
            if self.attributes.len() >= MAX_PATHS {
                self.dropped_paths += 1;
                return None;
            }
            self.attributes.insert(path.to_owned(), Attribute::default());
        }
        self.attributes.get_mut(path)
    }
}

/// The decoded length of standard base64 text, without decoding it.
fn base64_len(text: &str) -> u64 {
    let text = text.trim_end_matches('=');
    (text.len() as u64 * 3) / 4
}

/// A column's type as the sample describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub data_type: &'static str,
    /// The DynamoDB type tags seen, e.g. `S`, `N|S`, `M`.
    pub native_type: String,
    pub nullable: bool,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub comment: Option<String>,
}

const SCALARS: Tags = Tags(Tags::S.0 | Tags::N.0 | Tags::BOOL.0);

impl Attribute {
    /// Whether the path gets a column of its own: a path that only ever held
    /// non-empty maps (flattened into its children) has none.
    pub fn has_column(&self) -> bool {
        let own = self.tags.without(Tags::NULL);
        !(own == Tags::M && self.has_children && !self.too_deep)
    }

    /// The column type, given how many items the sample had.
    pub fn describe(&self, items: u64) -> Described {
        let nullable = self.present < items || self.tags.contains(Tags::NULL);
        let tags = self.tags.without(Tags::NULL);
        let native_type = if tags.is_empty() { "NULL".to_owned() } else { tags.names() };
        let plain = |data_type: &'static str, comment: Option<String>| Described {
            data_type,
            native_type: native_type.clone(),
            nullable,
            max_length: None,
            precision: None,
            scale: None,
            comment,
        };
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        if tags.is_empty() {
            return Described {
                max_length: None,
                ..plain(data_type::STRING, Some("NULL in every sampled item".to_owned()))
            };
        }
        if tags.0 & !SCALARS.0 == 0 {
            let inferred: Inferred = self.scalars.infer();
            let mixed = tags.names().contains('|');
            let comment = mixed.then(|| format!("mixed types ({}), widened to {}", tags.names(), inferred.data_type));
            return Described {
                data_type: inferred.data_type,
                native_type,
                nullable,
                max_length: inferred.max_length,
                precision: inferred.precision,
                scale: inferred.scale,
                comment,
            };
        }
        if tags == Tags::B {
            return Described { max_length: self.max_binary.map(clamp), ..plain(data_type::BINARY, None) };
        }
        let longest = |what: &str| self.max_elements.map(|n| format!("{what}; at most {n} elements in the sample"));
        if tags == Tags::SS {
            return plain(data_type::ARRAY, longest("string set"));
        }
        if tags == Tags::NS {
            return plain(data_type::ARRAY, longest("number set"));
        }
        if tags == Tags::BS {
            return plain(data_type::ARRAY, longest("binary set"));
        }
        if tags == Tags::L {
            let elements =
                if self.element_tags.is_empty() { "none seen".to_owned() } else { self.element_tags.names() };
            return plain(data_type::ARRAY, longest(&format!("list of {elements}")));
        }
        if tags == Tags::M {
            let why = if self.too_deep {
                format!("a map nested deeper than {MAX_DEPTH} levels, kept whole")
            } else {
                "an empty map in every sampled item".to_owned()
            };
            return plain(data_type::MAP, Some(why));
        }
        let mut comment = format!("mixed types ({}), kept as JSON", tags.names());
        if self.has_children {
            let note = "maps flattened into the columns below";
            comment = format!("{comment}; {note}");
        }
        plain(data_type::JSON, Some(comment))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample(items: &[Value]) -> Sample {
        let mut sample = Sample::default();
        for item in items {
            sample.observe(item.as_object().unwrap());
        }
        sample
    }

    fn described(sample: &Sample, path: &str) -> Described {
        sample.attributes[path].describe(sample.items)
    }

    #[test]
    fn scalars_are_typed_from_their_values() {
        let sample = sample(&[
            json!({"id": {"S": "a"}, "qty": {"N": "3"}, "price": {"N": "12.50"}, "ok": {"BOOL": true},
                   "at": {"S": "2024-01-02T03:04:05Z"}, "big": {"N": "123456789012345678901234567890"}}),
            json!({"id": {"S": "bbb"}, "qty": {"N": "-7"}, "price": {"N": "3"}, "ok": {"BOOL": false},
                   "at": {"S": "2024-02-03T00:00:00Z"}, "gone": {"NULL": true}, "ratio": {"N": "1e3"}}),
        ]);
        let id = described(&sample, "id");
        assert_eq!(
            (id.data_type, id.native_type.as_str(), id.nullable, id.max_length),
            ("string", "S", false, Some(3))
        );
        let qty = described(&sample, "qty");
        assert_eq!((qty.data_type, qty.native_type.as_str(), qty.nullable), ("int64", "N", false));
        let price = described(&sample, "price");
        assert_eq!((price.data_type, price.precision, price.scale), ("decimal", Some(4), Some(2)));
        assert_eq!(described(&sample, "big").data_type, "decimal");
        assert_eq!(described(&sample, "ok").data_type, "boolean");
        assert_eq!(described(&sample, "at").data_type, "timestamp-tz");
        assert_eq!(described(&sample, "ratio").data_type, "float64");
        assert!(described(&sample, "ratio").nullable, "missing from one item");
        let gone = described(&sample, "gone");
        assert_eq!((gone.data_type, gone.native_type.as_str(), gone.nullable), ("string", "NULL", true));
    }

    #[test]
    fn maps_flatten_to_dotted_paths_and_deep_ones_stay_whole() {
        let sample = sample(&[
            json!({"address": {"M": {"city": {"S": "Oslo"}, "geo": {"M": {"lat": {"N": "59.9"}, "lon": {"N": "10.7"}}}}},
                   "deep": {"M": {"a": {"M": {"b": {"M": {"c": {"M": {"d": {"S": "x"}}}}}}}}},
                   "empty": {"M": {}}}),
            json!({"address": {"NULL": true}}),
        ]);
        assert!(!sample.attributes["address"].has_column());
        assert!(sample.attributes["address"].describe(2).nullable);
        let city = described(&sample, "address.city");
        assert_eq!((city.data_type, city.nullable), ("string", true));
        assert_eq!(described(&sample, "address.geo.lat").data_type, "decimal");
        assert!(sample.attributes.contains_key("deep.a.b.c"));
        assert!(!sample.attributes.contains_key("deep.a.b.c.d"));
        let deep = described(&sample, "deep.a.b.c");
        assert_eq!((deep.data_type, deep.native_type.as_str()), ("map", "M"));
        assert!(deep.comment.unwrap().contains("deeper than 4"));
        let empty = described(&sample, "empty");
        assert!(sample.attributes["empty"].has_column());
        assert_eq!(empty.data_type, "map");
    }

    #[test]
    fn lists_sets_and_binaries() {
        let sample = sample(&[json!({
            "tags": {"SS": ["a", "b", "c"]}, "scores": {"NS": ["1", "2"]}, "blobs": {"BS": ["AAE="]},
            "items": {"L": [{"S": "x"}, {"N": "1"}, {"M": {}}]}, "raw": {"B": "aGVsbG8="}
        })]);
        let tags = described(&sample, "tags");
        assert_eq!((tags.data_type, tags.native_type.as_str()), ("array", "SS"));
        assert_eq!(tags.comment.as_deref(), Some("string set; at most 3 elements in the sample"));
        assert_eq!(described(&sample, "scores").native_type, "NS");
        assert_eq!(described(&sample, "blobs").native_type, "BS");
        let items = described(&sample, "items");
        assert_eq!(items.comment.as_deref(), Some("list of S|N|M; at most 3 elements in the sample"));
        let raw = described(&sample, "raw");
        assert_eq!((raw.data_type, raw.max_length), ("binary", Some(5)));
    }

    #[test]
    fn mixed_types_widen_or_become_json() {
        let sample = sample(&[
            json!({"v": {"S": "x"}, "w": {"S": "a"}, "n": {"N": "1"}}),
            json!({"v": {"N": "2"}, "w": {"M": {"k": {"S": "z"}}}, "n": {"N": "2.5"}}),
            json!({"odd": {"X": 1}, "bad": "plain"}),
        ]);
        let v = described(&sample, "v");
        assert_eq!((v.data_type, v.native_type.as_str()), ("string", "S|N"));
        assert!(v.comment.unwrap().starts_with("mixed types (S|N)"));
        let w = described(&sample, "w");
        assert_eq!((w.data_type, w.native_type.as_str()), ("json", "S|M"));
        assert!(sample.attributes["w"].has_column());
        assert_eq!(described(&sample, "w.k").data_type, "string");
        assert_eq!(described(&sample, "n").data_type, "decimal");
        assert_eq!(described(&sample, "odd").native_type, "?");
        assert_eq!(described(&sample, "bad").data_type, "json");
    }

    #[test]
    fn paths_are_bounded() {
        let mut item = Map::new();
        for i in 0..(MAX_PATHS + 10) {
            item.insert(format!("a{i}"), json!({"S": "x"}));
        }
        let mut sample = Sample::default();
        sample.observe(&item);
        assert_eq!(sample.attributes.len(), MAX_PATHS);
        assert_eq!(sample.dropped_paths, 10);
    }
}
