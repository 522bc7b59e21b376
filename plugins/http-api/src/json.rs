//! A JSON value that keeps object keys in document order (serde_json's map
//! sorts them unless a feature is switched on for every crate in the build),
//! so that columns come out in the order the API writes fields; and finding
//! the records in a response.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    /// The elements kept, and how many the array had.
    Array(Vec<Json>, u64),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The whole document.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        Self::parse_sampled(bytes, usize::MAX)
    }

    /// The document with at most `keep` elements of each array (the rest are
    /// checked and counted, not kept): a response of a million records
    /// costs the memory of the sample, not of a million values.
    pub fn parse_sampled(bytes: &[u8], keep: usize) -> Result<Self, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = Sampled { keep }.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }

    /// JSON's own name for the value's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(..) => "array",
            Json::Object(_) => "object",
        }
    }

    /// A member of an object (the first, if a key repeats).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// RFC 6901: `/data/items`, `~1` for `/` and `~0` for `~`; `""` is the whole value.
    pub fn pointer(&self, pointer: &str) -> Option<&Json> {
        if pointer.is_empty() {
            return Some(self);
        }
        let mut current = self;
        for token in pointer.strip_prefix('/')?.split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            current = match current {
                Json::Object(_) => current.get(&token)?,
                Json::Array(items, _) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }
}

/// Deserializes a [`Json`] keeping at most `keep` elements per array.
#[derive(Clone, Copy)]
struct Sampled {
    keep: usize,
}

impl<'de> DeserializeSeed<'de> for Sampled {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Sampled {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        // JSON text has no NaN or infinity, so this never falls back.
        Ok(serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        let mut total = 0u64;
        loop {
            let more = if items.len() < self.keep {
                seq.next_element_seed(self)?.map(|item| items.push(item)).is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                break;
            }
            total += 1;
        }
        Ok(Json::Array(items, total))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

/// Member names that usually hold the records of a list response.
const RECORD_KEYS: [&str; 10] =
    ["data", "items", "results", "records", "rows", "value", "values", "entries", "list", "content"];

/// Where the records of a response are and what they are.
#[derive(Debug, PartialEq)]
pub struct Records<'a> {
    /// The records kept by [`Json::parse_sampled`].
    pub records: Vec<&'a Json>,
    /// How many the response had.
    pub total: u64,
    /// The JSON pointer they were found at (`""`: the whole response).
    pub pointer: String,
    /// The response is one object, described as a single record.
    pub single: bool,
}

/// The records of `response`: at `pointer` when given (an array, or one
/// object), else the top-level array, else the one array of objects in a
/// top-level object (or the one with a usual name such as `data`), else the
/// object itself as one record. Errors say what was found instead.
pub fn locate<'a>(response: &'a Json, pointer: Option<&str>) -> Result<Records<'a>, String> {
    if let Some(pointer) = pointer.filter(|p| !p.is_empty()) {
        let found = response
            .pointer(pointer)
            .ok_or_else(|| format!("the records pointer `{pointer}` matches nothing in the response"))?;
        return match found {
            Json::Array(items, total) => Ok(Records {
                records: items.iter().collect(),
                total: *total,
                pointer: pointer.to_owned(),
                single: false,
            }),
            Json::Object(_) => {
                Ok(Records { records: vec![found], total: 1, pointer: pointer.to_owned(), single: true })
            }
            other => Err(format!(
                "the records pointer `{pointer}` points at a {}, not an array of records",
                other.type_name()
            )),
        };
    }
    match response {
        Json::Array(items, total) => {
            Ok(Records { records: items.iter().collect(), total: *total, pointer: String::new(), single: false })
        }
        Json::Object(entries) => {
            let arrays: Vec<(&String, &Vec<Json>, u64)> = entries
                .iter()
                .filter_map(|(key, value)| match value {
                    Json::Array(items, total) if items.iter().any(Json::is_object) => Some((key, items, *total)),
                    _ => None,
                })
                .collect();
            let chosen = match arrays.as_slice() {
                [one] => Some(*one),
                [] => None,
                several => RECORD_KEYS
                    .iter()
                    .find_map(|name| several.iter().find(|(key, ..)| key.eq_ignore_ascii_case(name)))
                    .copied(),
            };
            Ok(match chosen {
                Some((key, items, total)) => Records {
                    records: items.iter().collect(),
                    total,
                    pointer: format!("/{}", escape(key)),
                    single: false,
                },
                None => Records { records: vec![response], total: 1, pointer: String::new(), single: true },
            })
        }
        other => Err(format!("the response is a JSON {}, not records (an array or an object)", other.type_name())),
    }
}

/// A key as one JSON pointer token.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn keys_keep_document_order_and_pointers_resolve() {
        let value = parse(r#"{"z":1,"a":{"m/n":[10,{"x~y":true}]},"b":null}"#);
        let Json::Object(entries) = &value else { panic!() };
        assert_eq!(entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["z", "a", "b"]);
        assert_eq!(value.pointer("/a/m~1n/1/x~0y"), Some(&Json::Bool(true)));
        assert_eq!(value.pointer(""), Some(&value));
        assert_eq!(value.pointer("/a/m~1n/9"), None);
        assert_eq!(value.pointer("a"), None);
        assert_eq!(parse("18446744073709551615"), Json::Number(u64::MAX.into()));
        assert!(Json::parse(b"{\"a\":").is_err());
        assert!(Json::parse(b"[1] x").is_err());
    }

    #[test]
    fn sampled_parses_keep_a_few_elements_and_count_the_rest() {
        let value = Json::parse_sampled(br#"{"data":[{"a":[1,2,3]},{"b":2},{"c":3}],"n":1}"#, 2).unwrap();
        let found = locate(&value, None).unwrap();
        assert_eq!((found.records.len(), found.total), (2, 3));
        assert_eq!(
            value.pointer("/data/0/a"),
            Some(&Json::Array(vec![Json::Number(1.into()), Json::Number(2.into())], 3))
        );
        // What is skipped is still checked.
        assert!(Json::parse_sampled(b"[1, 2, {\"a\": nope}]", 1).is_err());
    }

    #[test]
    fn records_are_found_where_apis_put_them() {
        let top = parse(r#"[{"id":1},{"id":2}]"#);
        let found = locate(&top, None).unwrap();
        assert_eq!((found.records.len(), found.pointer.as_str(), found.single), (2, "", false));

        let wrapped = parse(r#"{"total":2,"tags":["a"],"data":[{"id":1},{"id":2}],"next":null}"#);
        let found = locate(&wrapped, None).unwrap();
        assert_eq!((found.records.len(), found.pointer.as_str()), (2, "/data"));

        let several = parse(r#"{"links":[{"rel":"x"}],"items":[{"id":1}]}"#);
        assert_eq!(locate(&several, None).unwrap().pointer, "/items");

        let single = parse(r#"{"status":"ok","version":"1.2"}"#);
        let found = locate(&single, None).unwrap();
        assert_eq!((found.records.len(), found.single), (1, true));

        let explicit = parse(r#"{"result":{"rows":[{"a":1}]}}"#);
        assert_eq!(locate(&explicit, Some("/result/rows")).unwrap().records.len(), 1);
        assert!(locate(&explicit, Some("/result")).unwrap().single);
        let error = locate(&explicit, Some("/nope")).unwrap_err();
        assert_eq!(error, "the records pointer `/nope` matches nothing in the response");
        assert!(locate(&parse(r#"{"a":3}"#), Some("/a")).unwrap_err().contains("points at a number"));
        assert!(locate(&parse("42"), None).unwrap_err().contains("is a JSON number"));
    }
}
