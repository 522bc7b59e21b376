//! Feeds one record into the [`Shape`] straight from serde_json's parser:
//! no `serde_json::Value` tree is built, so a record costs its bytes and
//! nothing more. Values below `max_depth` are skipped with `IgnoredAny`.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::shape::{ArrayStats, Budget, Field, Fields, JsonTypes, Shape};

/// Why a record could not be observed.
#[derive(Debug)]
pub enum WalkError {
    Json(serde_json::Error),
    /// More distinct keys than [`crate::shape::MAX_COLUMNS`].
    TooManyColumns,
}

/// Observes one record, which must be a JSON object.
pub fn observe(shape: &mut Shape, bytes: &[u8]) -> Result<(), WalkError> {
    shape.records += 1;
    let context = Context { record: shape.records, max_depth: shape.max_depth, budget: &mut shape.budget };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let outcome = (&mut deserializer)
        .deserialize_map(ObjectVisitor { fields: &mut shape.root, context, depth: 1 })
        .and_then(|()| deserializer.end());
    match outcome {
        Ok(()) => Ok(()),
        Err(_) if shape.budget.exceeded => Err(WalkError::TooManyColumns),
        Err(error) => Err(WalkError::Json(error)),
    }
}

/// What every level of the walk needs.
struct Context<'a> {
    record: u64,
    max_depth: u32,
    budget: &'a mut Budget,
}

impl Context<'_> {
    fn reborrow(&mut self) -> Context<'_> {
        Context { record: self.record, max_depth: self.max_depth, budget: self.budget }
    }
}

/// An object whose keys live in `fields`, at `depth` (top level: 1).
struct ObjectVisitor<'a, 'c> {
    fields: &'a mut Fields,
    context: Context<'c>,
    depth: u32,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        loop {
            let key = KeySeed { fields: &mut *self.fields, budget: &mut *self.context.budget };
            let Some(at) = map.next_key_seed(key)? else { return Ok(()) };
            let field = &mut self.fields.entries[at];
            map.next_value_seed(ValueSeed { field, context: self.context.reborrow(), depth: self.depth })?;
        }
    }
}

/// A key: its position in `fields`, added when new.
struct KeySeed<'a> {
    fields: &'a mut Fields,
    budget: &'a mut Budget,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        self.fields.position(key, self.budget).ok_or_else(|| E::custom("too many distinct keys"))
    }
}

/// The value of one key.
struct ValueSeed<'a, 'c> {
    field: &'a mut Field,
    context: Context<'c>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_, '_> {
    fn own(&mut self, types: JsonTypes) {
        self.field.stats.own_value(self.context.record, types);
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.field.stats.scalars.observe_null();
        Ok(())
    }

    fn visit_bool<E: de::Error>(mut self, value: bool) -> Result<(), E> {
        self.field.stats.scalars.observe_boolean(value);
        self.own(JsonTypes::BOOLEAN);
        Ok(())
    }

    fn visit_i64<E: de::Error>(mut self, value: i64) -> Result<(), E> {
        self.field.stats.scalars.observe_integer(value.into());
        self.own(JsonTypes::NUMBER);
        Ok(())
    }

    fn visit_u64<E: de::Error>(mut self, value: u64) -> Result<(), E> {
        self.field.stats.scalars.observe_integer(value.into());
        self.own(JsonTypes::NUMBER);
        Ok(())
    }

    fn visit_f64<E: de::Error>(mut self, value: f64) -> Result<(), E> {
        self.field.stats.scalars.observe_float(value);
        self.own(JsonTypes::NUMBER);
        Ok(())
    }

    fn visit_str<E: de::Error>(mut self, value: &str) -> Result<(), E> {
        self.field.stats.scalars.observe_string(value);
        self.own(JsonTypes::STRING);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let arrays = self.field.stats.arrays.get_or_insert_with(ArrayStats::default);
        while seq.next_element_seed(ElementSeed { arrays: &mut *arrays })?.is_some() {}
        self.own(JsonTypes::ARRAY);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        if self.depth < self.context.max_depth {
            self.field.stats.flattened_object(self.context.record);
            let children =
                ObjectVisitor { fields: &mut self.field.children, context: self.context, depth: self.depth + 1 };
            return children.visit_map(map);
        }
        // Deeper than `max_depth`: kept whole, as JSON.
        IgnoredAny.visit_map(map)?;
        self.own(JsonTypes::OBJECT);
        Ok(())
    }
}

/// One element of an array.
struct ElementSeed<'a> {
    arrays: &'a mut ArrayStats,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.arrays.elements.observe_null();
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        self.arrays.elements.observe_boolean(value);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.arrays.elements.observe_integer(value.into());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.arrays.elements.observe_integer(value.into());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        self.arrays.elements.observe_float(value);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.arrays.elements.observe_string(value);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.arrays.arrays = true;
        IgnoredAny.visit_seq(seq).map(drop)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.arrays.objects = true;
        IgnoredAny.visit_map(map).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_infer::Kind;

    fn shape(records: &[&str], max_depth: u32) -> Shape {
        let mut shape = Shape::new(max_depth);
        for record in records {
            observe(&mut shape, record.as_bytes()).unwrap();
        }
        shape
    }

    fn keys(fields: &Fields) -> Vec<&str> {
        fields.entries.iter().map(|f| &*f.key).collect()
    }

    #[test]
    fn nested_objects_become_children_up_to_max_depth() {
        let shape = shape(&[r#"{"id":1,"a":{"b":{"c":{"d":1}}},"z":true}"#], 3);
        assert_eq!(keys(&shape.root), ["id", "a", "z"]);
        let a = &shape.root.entries[1];
        assert_eq!(a.stats.objects, 1);
        assert_eq!(keys(&a.children), ["b"]);
        let c = &a.children.entries[0].children.entries[0];
        assert_eq!(&*c.key, "c");
        // `c` sits at depth 3 = max_depth: its object is kept whole.
        assert!(c.children.entries.is_empty());
        assert_eq!(c.stats.types, JsonTypes::OBJECT);
        assert_eq!(c.stats.values, 1);
    }

    #[test]
    fn scalars_widen_and_missing_keys_are_counted() {
        let shape = shape(&[r#"{"n":1,"s":"x"}"#, r#"{"n":2.5}"#, r#"{"n":null,"s":7}"#], 5);
        let n = &shape.root.entries[0].stats;
        assert_eq!(n.scalars.kind(), Some(Kind::Float64));
        assert!(n.scalars.has_nulls());
        assert_eq!(n.values, 2);
        let s = &shape.root.entries[1].stats;
        assert_eq!(s.scalars.kind(), Some(Kind::String));
        assert_eq!(s.types.names(), ["number", "string"]);
        assert_eq!((s.values, shape.records), (2, 3));
    }

    #[test]
    fn arrays_record_their_elements() {
        let shape = shape(&[r#"{"tags":["a","b"],"pts":[{"x":1}],"m":[[1],2],"e":[]}"#], 5);
        let stats = |i: usize| shape.root.entries[i].stats.arrays.clone().unwrap();
        assert_eq!(stats(0).elements.kind(), Some(Kind::String));
        assert!(!stats(0).objects);
        assert!(stats(1).objects && stats(1).elements.kind().is_none());
        assert!(stats(2).arrays);
        assert_eq!(stats(2).elements.kind(), Some(Kind::Int64));
        assert_eq!(stats(3).elements.kind(), None);
    }

    #[test]
    fn unicode_and_escaped_keys_are_read() {
        let shape = shape(&[r#"{"na\u00efve":"caf\u00e9","日本":"語"}"#], 5);
        assert_eq!(keys(&shape.root), ["naïve", "日本"]);
        assert_eq!(shape.root.entries[1].stats.scalars.infer().max_length, Some(1));
    }

    #[test]
    fn malformed_records_and_the_key_budget_fail() {
        let mut shape = Shape::new(5);
        let bad: [&[u8]; 5] = [br#"{"a":1"#, br#"{"a":1}}"#, br#"{"a":tru}"#, br#"{"a":[1,]}"#, b"{\"a\":\"\xff\"}"];
        for bytes in bad {
            let outcome = observe(&mut shape, bytes);
            assert!(matches!(outcome, Err(WalkError::Json(_))), "{}", String::from_utf8_lossy(bytes));
        }
        shape.budget.used = crate::shape::MAX_COLUMNS;
        assert!(matches!(observe(&mut shape, br#"{"new":1}"#), Err(WalkError::TooManyColumns)));
    }
}
