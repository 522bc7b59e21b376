//! From the sampled [`Shape`] to columns: nested keys flattened to dotted
//! names, scalars typed by `inlet-infer`, arrays and deep objects described.

use std::collections::HashSet;

use inlet_infer::json::{JsonTypes, add_note, describe_values, json_column, scalar_column};
use inlet_infer::{ColumnStats, Kind};
use inlet_sdk::data_type;
use inlet_sdk::prelude::*;

use crate::shape::{ArrayStats, Field, Fields, Shape};

/// The table's columns, depth first in the order keys were first seen.
pub fn columns(shape: &Shape) -> Vec<Column> {
    columns_with_paths(shape).into_iter().map(|(column, _)| column).collect()
}

/// The columns with the keys that lead to each one's value from the
/// record (a name alone cannot tell: keys may hold dots, names are made
/// unique).
pub fn columns_with_paths(shape: &Shape) -> Vec<(Column, Vec<Box<str>>)> {
    let mut described = Vec::new();
    flatten(&shape.root, "", &[], shape, &mut described);
    let mut used = HashSet::new();
    described
        .into_iter()
        .enumerate()
        .map(|(i, (column, path))| {
            let ordinal = u32::try_from(i + 1).unwrap_or(u32::MAX);
            (Column { ordinal, ..unique(column, ordinal, &mut used) }, path)
        })
        .collect()
}

fn flatten(fields: &Fields, prefix: &str, path: &[Box<str>], shape: &Shape, out: &mut Vec<(Column, Vec<Box<str>>)>) {
    for field in &fields.entries {
        let name = format!("{prefix}{}", field.key);
        let mut own_path = path.to_vec();
        own_path.push(field.key.clone());
        if let Some(mut column) = describe(field, &name, shape) {
            if !field.children.entries.is_empty() {
                add_note(&mut column, &format!("an object in some rows, flattened into `{name}.…`"));
            }
            out.push((column, own_path.clone()));
        }
        flatten(&field.children, &format!("{name}."), &own_path, shape, out);
    }
}

/// The key's own column, when it has one: a key that only ever held objects
/// (flattened into its children) or nulls beside them has none.
fn describe(field: &Field, name: &str, shape: &Shape) -> Option<Column> {
    let stats = &field.stats;
    let missing = stats.values < shape.records;
    let nullable = stats.scalars.has_nulls() || missing;
    let types = stats.types;
    if types.is_empty() {
        if stats.objects > 0 && field.children.entries.is_empty() {
            let nullable = stats.scalars.has_nulls() || stats.objects < shape.records;
            return Some(json_column(name, "object", nullable, "an empty object in every sampled row".to_owned()));
        }
        if stats.objects > 0 || !stats.scalars.has_nulls() {
            return None;
        }
        let inferred = stats.scalars.infer();
        return Some(Column {
            native_type: "null".to_owned(),
            comment: Some("null in every sampled row".to_owned()),
            ..scalar_column(name, &inferred, true)
        });
    }
    if let (JsonTypes::ARRAY, Some(arrays)) = (types, &stats.arrays) {
        return Some(array(name, arrays, nullable));
    }
    Some(describe_values(name, types, &stats.scalars, nullable, shape.max_depth))
}

/// Arrays of scalars are `array` columns; arrays holding objects or arrays
/// are JSON.
fn array(name: &str, arrays: &ArrayStats, nullable: bool) -> Column {
    let scalars = arrays.elements.kind().is_some();
    let (data_type, comment) = match (scalars, arrays.objects, arrays.arrays) {
        (false, false, false) => (data_type::ARRAY, "array, empty in every sampled row".to_owned()),
        (true, false, false) => (data_type::ARRAY, format!("array of {}", element_type(&arrays.elements))),
        (false, true, false) => (data_type::JSON, "array of objects".to_owned()),
        (false, false, true) => (data_type::JSON, "array of arrays".to_owned()),
        _ => (data_type::JSON, "array of mixed values".to_owned()),
    };
    ColumnBuilder::new(name, 0, data_type, "array").nullable(nullable).comment(Some(comment)).build()
}

fn element_type(elements: &ColumnStats) -> String {
    let inferred = elements.infer();
    match inferred.kind {
        Kind::Decimal => inferred.native_type,
        _ => inferred.data_type.to_owned(),
    }
}

/// A name no earlier column has: an empty key becomes `column_<n>`, and a
/// dotted name that collides (a key holding a dot) gets `_2`, `_3`, ….
fn unique(mut column: Column, ordinal: u32, used: &mut HashSet<String>) -> Column {
    let original = column.name.clone();
    let base = if original.is_empty() { format!("column_{ordinal}") } else { original.clone() };
    let mut candidate = base.clone();
    let mut suffix = 2u64;
    while used.contains(&candidate) {
        candidate = format!("{base}_{suffix}");
        suffix += 1;
    }
    if candidate != original {
        let note = if original.is_empty() {
            "the key is empty".to_owned()
        } else {
            format!("renamed: another column is already named {original:?}")
        };
        add_note(&mut column, &note);
    }
    used.insert(candidate.clone());
    column.name = candidate;
    column
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::observe;

    fn columns_of(records: &[&str], max_depth: u32) -> Vec<Column> {
        let mut shape = Shape::new(max_depth);
        for record in records {
            observe(&mut shape, record.as_bytes()).unwrap();
        }
        columns(&shape)
    }

    fn summary(columns: &[Column]) -> Vec<(String, String, String, bool)> {
        columns.iter().map(|c| (c.name.clone(), c.data_type.clone(), c.native_type.clone(), c.nullable)).collect()
    }

    fn row(name: &str, data_type: &str, native: &str, nullable: bool) -> (String, String, String, bool) {
        (name.to_owned(), data_type.to_owned(), native.to_owned(), nullable)
    }

    #[test]
    fn nested_objects_flatten_to_dotted_columns() {
        let columns = columns_of(
            &[
                r#"{"id":1,"address":{"city":"Paris","geo":{"lat":48.8}},"name":"a"}"#,
                r#"{"id":2,"address":{"city":"Oslo","zip":"0150"},"name":"b"}"#,
                r#"{"id":3,"address":null,"name":"c"}"#,
            ],
            5,
        );
        assert_eq!(
            summary(&columns),
            [
                row("id", "int64", "integer", false),
                row("address.city", "string", "string", true),
                row("address.geo.lat", "float64", "number", true),
                row("address.zip", "string", "string", true),
                row("name", "string", "string", false),
            ]
        );
        assert_eq!(columns.iter().map(|c| c.ordinal).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(columns[1].max_length, Some(5));
    }

    #[test]
    fn objects_past_max_depth_are_json() {
        let columns = columns_of(&[r#"{"a":{"b":{"c":1}}}"#], 2);
        assert_eq!(summary(&columns), [row("a.b", "json", "object", false)]);
        assert_eq!(columns[0].comment.as_deref(), Some("an object nested deeper than max_depth (2), kept as JSON"));
        let flat = columns_of(&[r#"{"a":{"b":1}}"#], 1);
        assert_eq!(summary(&flat), [row("a", "json", "object", false)]);
    }

    #[test]
    fn heterogeneous_values_widen() {
        let columns = columns_of(
            &[r#"{"n":1,"m":1,"d":"2024-01-01","b":true}"#, r#"{"n":2.5,"m":"x","d":"2024-01-02T10:00:00Z","b":1}"#],
            5,
        );
        assert_eq!(
            summary(&columns),
            [
                row("n", "float64", "number", false),
                row("m", "string", "number|string", false),
                row("d", "string", "string", false),
                row("b", "string", "boolean|number", false),
            ]
        );
        assert_eq!(columns[1].comment.as_deref(), Some("mixed JSON types (number, string), widened to string"));
        assert_eq!(columns[1].max_length, Some(1));
        let dates = columns_of(&[r#"{"d":"2024-01-01"}"#, r#"{"d":"2024-01-02 03:04:05"}"#], 5);
        assert_eq!(summary(&dates), [row("d", "timestamp", "string (date-time)", false)]);
    }

    #[test]
    fn arrays_are_noted_in_the_comment() {
        let columns = columns_of(
            &[
                r#"{"tags":["a","b"],"scores":[1,2.5],"items":[{"sku":1}],"grid":[[1]],"mix":[1,{}],"none":[]}"#,
                r#"{"tags":[],"items":[]}"#,
            ],
            5,
        );
        assert_eq!(
            summary(&columns),
            [
                row("tags", "array", "array", false),
                row("scores", "array", "array", true),
                row("items", "json", "array", false),
                row("grid", "json", "array", true),
                row("mix", "json", "array", true),
                row("none", "array", "array", true),
            ]
        );
        let comments: Vec<_> = columns.iter().map(|c| c.comment.as_deref().unwrap_or("")).collect();
        assert_eq!(
            comments,
            [
                "array of string",
                "array of float64",
                "array of objects",
                "array of arrays",
                "array of mixed values",
                "array, empty in every sampled row"
            ]
        );
    }

    #[test]
    fn mixed_structures_are_json_and_objects_beside_scalars_keep_both() {
        let columns = columns_of(&[r#"{"v":[1],"a":"flat"}"#, r#"{"v":"x","a":{"b":1}}"#], 5);
        assert_eq!(
            summary(&columns),
            [
                row("v", "json", "array|string", false),
                row("a", "string", "string", true),
                row("a.b", "int64", "integer", true),
            ]
        );
        assert_eq!(columns[1].comment.as_deref(), Some("an object in some rows, flattened into `a.…`"));
    }

    #[test]
    fn nulls_empty_objects_and_name_collisions() {
        let columns = columns_of(&[r#"{"z":null,"e":{},"a.b":1,"a":{"b":2},"":3}"#, r#"{"z":null,"e":{}}"#], 5);
        assert_eq!(
            summary(&columns),
            [
                row("z", "string", "null", true),
                row("e", "json", "object", false),
                row("a.b", "int64", "integer", true),
                row("a.b_2", "int64", "integer", true),
                row("column_5", "int64", "integer", true),
            ]
        );
        assert_eq!(columns[0].comment.as_deref(), Some("null in every sampled row"));
        assert!(columns[3].comment.as_deref().unwrap().contains("renamed"));
        assert_eq!(columns[4].comment.as_deref(), Some("the key is empty"));
    }

    #[test]
    fn big_integers_are_exact_decimals() {
        let columns = columns_of(&[r#"{"n":18446744073709551615}"#, r#"{"n":-3}"#], 5);
        assert_eq!(summary(&columns), [row("n", "decimal", "integer", false)]);
        assert_eq!((columns[0].precision, columns[0].scale), (Some(20), Some(0)));
    }
}
