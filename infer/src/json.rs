//! What the JSON connectors (files and HTTP APIs) share once their records
//! are sampled: the set of JSON types a key held ([`JsonTypes`]), numbers
//! fed to a [`ColumnStats`] ([`observe_number`]), and a key's values
//! described as a column ([`describe_values`]): scalars widened, objects
//! past `max_depth` and mixed structures kept as JSON.
//!
//! How records are walked (a streaming visitor, a parsed tree), how keys are
//! flattened and counted, and how arrays are described stay in the
//! connectors, which differ there.

use inlet_sdk::{Column, data_type, schema::ColumnBuilder};

use crate::{ColumnStats, Inferred, Kind};

/// JSON's value types, as a set of bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonTypes(u8);

impl JsonTypes {
    pub const BOOLEAN: JsonTypes = JsonTypes(1);
    pub const NUMBER: JsonTypes = JsonTypes(2);
    pub const STRING: JsonTypes = JsonTypes(4);
    pub const ARRAY: JsonTypes = JsonTypes(8);
    /// An object kept whole (deeper than `max_depth`).
    pub const OBJECT: JsonTypes = JsonTypes(16);
    const NAMES: [(JsonTypes, &'static str); 5] = [
        (Self::ARRAY, "array"),
        (Self::BOOLEAN, "boolean"),
        (Self::NUMBER, "number"),
        (Self::OBJECT, "object"),
        (Self::STRING, "string"),
    ];

    pub fn insert(&mut self, other: JsonTypes) {
        self.0 |= other.0;
    }

    pub fn contains(self, other: JsonTypes) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// The names of the types present, alphabetically.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES.iter().filter(|(t, _)| self.contains(*t)).map(|(_, name)| *name).collect()
    }
}

/// A JSON number: integers exactly (`i64`, then `u64`), the rest as floats.
pub fn observe_number(stats: &mut ColumnStats, number: &serde_json::Number) {
    if let Some(i) = number.as_i64() {
        stats.observe_integer(i128::from(i));
    } else if let Some(u) = number.as_u64() {
        stats.observe_integer(i128::from(u));
    } else {
        stats.observe_float(number.as_f64().unwrap_or(f64::NAN));
    }
}

/// JSON's own name for a scalar of `kind` (dates are strings in JSON).
pub fn native_type(kind: Kind) -> &'static str {
    match kind {
        // Decimals come only from integers beyond i64.
        Kind::Int64 | Kind::Decimal => "integer",
        Kind::Float64 => "number",
        Kind::Boolean => "boolean",
        Kind::Date => "string (date)",
        Kind::Timestamp | Kind::TimestampTz => "string (date-time)",
        Kind::String => "string",
    }
}

/// A column (its ordinal still 0) kept as JSON, with a comment that says why.
pub fn json_column(name: &str, native_type: &str, nullable: bool, comment: String) -> Column {
    ColumnBuilder::new(name, 0, data_type::JSON, native_type).nullable(nullable).comment(Some(comment)).build()
}

/// A scalar column (its ordinal still 0) of the inferred type, under JSON's
/// own type name.
pub fn scalar_column(name: &str, inferred: &Inferred, nullable: bool) -> Column {
    ColumnBuilder::new(name, 0, inferred.data_type, native_type(inferred.kind))
        .nullable(nullable)
        .max_length(inferred.max_length)
        .precision_scale(inferred.precision, inferred.scale)
        .build()
}

/// Adds `note` to a column's comment, after `; ` when there is one already.
pub fn add_note(column: &mut Column, note: &str) {
    column.comment = Some(match column.comment.take() {
        Some(comment) => format!("{comment}; {note}"),
        None => note.to_owned(),
    });
}

/// The column (its ordinal still 0) of a key whose own (non-null, not flattened) values had
/// `types` (not empty): several types among them an array or object are
/// JSON, an object alone is one nested deeper than `max_depth` (JSON too),
/// and scalars are the type `scalars` widened to (the JSON types named when
/// they were several). Arrays alone are the connector's to describe first;
/// here they would be typed from `scalars`.
pub fn describe_values(name: &str, types: JsonTypes, scalars: &ColumnStats, nullable: bool, max_depth: u32) -> Column {
    let structured = u32::from(types.contains(JsonTypes::ARRAY)) + u32::from(types.contains(JsonTypes::OBJECT));
    if types.count() > 1 && structured > 0 {
        let names = types.names();
        let comment = format!("mixed JSON types ({}), kept as JSON", names.join(", "));
        return json_column(name, &names.join("|"), nullable, comment);
    }
    if types == JsonTypes::OBJECT {
        let comment = format!("an object nested deeper than max_depth ({max_depth}), kept as JSON");
        return json_column(name, "object", nullable, comment);
    }
    let inferred = scalars.infer();
    let mut column = scalar_column(name, &inferred, nullable);
    if types.count() > 1 {
        let names = types.names();
        column.native_type = names.join("|");
        column.comment = Some(format!("mixed JSON types ({}), widened to {}", names.join(", "), inferred.data_type));
    }
    column
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> serde_json::Number {
        serde_json::from_str(text).unwrap()
    }

    fn stats(values: &[&str]) -> ColumnStats {
        let mut stats = ColumnStats::default();
        for value in values {
            match serde_json::from_str::<serde_json::Value>(value).unwrap() {
                serde_json::Value::Number(n) => observe_number(&mut stats, &n),
                serde_json::Value::String(s) => stats.observe_string(&s),
                serde_json::Value::Bool(b) => stats.observe_boolean(b),
                _ => stats.observe_null(),
            }
        }
        stats
    }

    #[test]
    fn types_are_a_set_named_alphabetically() {
        let mut types = JsonTypes::default();
        assert!(types.is_empty());
        types.insert(JsonTypes::STRING);
        types.insert(JsonTypes::ARRAY);
        types.insert(JsonTypes::STRING);
        assert_eq!(types.count(), 2);
        assert!(types.contains(JsonTypes::ARRAY) && !types.contains(JsonTypes::OBJECT));
        assert_eq!(types.names(), ["array", "string"]);
    }

    #[test]
    fn numbers_are_exact_integers_or_floats() {
        let mut big = ColumnStats::default();
        observe_number(&mut big, &number("18446744073709551615"));
        observe_number(&mut big, &number("-3"));
        let inferred = big.infer();
        assert_eq!((inferred.kind, inferred.precision, inferred.scale), (Kind::Decimal, Some(20), Some(0)));
        assert_eq!(native_type(inferred.kind), "integer");
        assert_eq!(stats(&["1", "2.5"]).kind(), Some(Kind::Float64));
        assert_eq!(stats(&["7"]).kind(), Some(Kind::Int64));
    }

    #[test]
    fn scalars_widen_and_name_their_json_types() {
        let one = describe_values("n", JsonTypes::NUMBER, &stats(&["1", "2"]), false, 5);
        assert_eq!(
            (one.data_type.as_str(), one.native_type.as_str(), one.comment),
            (data_type::INT64, "integer", None)
        );
        let date = describe_values("d", JsonTypes::STRING, &stats(&[r#""2024-01-05""#]), true, 5);
        assert_eq!((date.native_type.as_str(), date.nullable), ("string (date)", true));
        let mut types = JsonTypes::NUMBER;
        types.insert(JsonTypes::STRING);
        let mixed = describe_values("m", types, &stats(&["1", r#""x""#]), false, 5);
        assert_eq!((mixed.data_type.as_str(), mixed.native_type.as_str()), (data_type::STRING, "number|string"));
        assert_eq!(mixed.comment.as_deref(), Some("mixed JSON types (number, string), widened to string"));
        assert_eq!(mixed.max_length, Some(1));
    }

    #[test]
    fn deep_objects_and_mixed_structures_are_json() {
        let deep = describe_values("a.b", JsonTypes::OBJECT, &ColumnStats::default(), true, 2);
        assert_eq!((deep.data_type.as_str(), deep.native_type.as_str()), (data_type::JSON, "object"));
        assert_eq!(deep.comment.as_deref(), Some("an object nested deeper than max_depth (2), kept as JSON"));
        let mut types = JsonTypes::ARRAY;
        types.insert(JsonTypes::STRING);
        let mixed = describe_values("v", types, &stats(&[r#""x""#]), false, 5);
        assert_eq!((mixed.data_type.as_str(), mixed.native_type.as_str()), (data_type::JSON, "array|string"));
        assert_eq!(mixed.comment.as_deref(), Some("mixed JSON types (array, string), kept as JSON"));
    }

    #[test]
    fn notes_add_to_the_comment() {
        let mut column = json_column("a", "object", true, "first".to_owned());
        add_note(&mut column, "second");
        assert_eq!((column.name.as_str(), column.ordinal, column.nullable), ("a", 0, true));
        assert_eq!(column.comment.as_deref(), Some("first; second"));
        let mut plain = scalar_column("b", &ColumnStats::default().infer(), false);
        add_note(&mut plain, "only");
        assert_eq!(plain.comment.as_deref(), Some("only"));
    }
}
