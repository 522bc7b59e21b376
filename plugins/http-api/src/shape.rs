//! Records → tables: nested objects flattened into dotted columns (up to
//! `max_depth`), arrays of records described as tables of their own
//! (`endpoint.field`), scalar types from the shared `inlet-infer`.

use std::collections::HashMap;

use inlet_infer::ColumnStats;
use inlet_infer::json::{JsonTypes, add_note, describe_values, observe_number};
use inlet_sdk::data_type;
use inlet_sdk::prelude::*;

use crate::json::Json;

/// Columns per table; past this the record is probably a map keyed by ids.
pub const MAX_COLUMNS: usize = 1000;
/// Records of a nested table observed, per record sampled from the endpoint.
const CHILD_RECORDS_PER_PARENT: u64 = 10;

/// JSON types seen in one field, and what kinds of arrays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Types {
    /// `ARRAY` for any of the arrays below; `OBJECT`, an object deeper than
    /// `max_depth`.
    json: JsonTypes,
    record_array: bool,
    scalar_array: bool,
    mixed_array: bool,
}

#[derive(Debug, Default)]
struct Field {
    name: String,
    /// The field whose object this one was flattened out of (`a` for `a.b`).
    parent: Option<usize>,
    /// Records in which the field held a value of its own column (not null,
    /// not an object flattened into children).
    values: u64,
    nulls: bool,
    /// Objects flattened into `name.…`.
    objects: u64,
    types: Types,
    scalars: ColumnStats,
    elements: ColumnStats,
}

/// What the sampled records of one table looked like.
#[derive(Debug)]
pub struct Shape {
    pub records: u64,
    max_depth: u32,
    max_records: u64,
    fields: Vec<Field>,
    index: HashMap<String, usize>,
    /// Arrays of records, by field path, in the order first seen.
    children: Vec<(String, Shape)>,
    /// Columns beyond [`MAX_COLUMNS`] were dropped.
    pub truncated: bool,
}

impl Shape {
    /// A shape that observes up to `max_records` records.
    pub fn new(max_depth: u32, max_records: u64) -> Self {
        Self {
            records: 0,
            max_depth,
            max_records,
            fields: Vec::new(),
            index: HashMap::new(),
            children: Vec::new(),
            truncated: false,
        }
    }

    /// Observes one record; `false` once the sample is full.
    pub fn observe(&mut self, record: &Json) -> bool {
        if self.records >= self.max_records {
            return false;
        }
        self.records += 1;
        match record {
            Json::Object(entries) => self.walk(entries, "", 1, None),
            // Scalars (or arrays) as records: one column holds them.
            other => self.value("value", other, 1, None),
        }
        true
    }

    fn walk(&mut self, entries: &[(String, Json)], prefix: &str, depth: u32, parent: Option<usize>) {
        for (key, value) in entries {
            let name = if key.is_empty() { format!("{prefix}(empty)") } else { format!("{prefix}{key}") };
            self.value(&name, value, depth, parent);
        }
    }

    fn value(&mut self, name: &str, value: &Json, depth: u32, parent: Option<usize>) {
        let Some(at) = self.field(name, parent) else { return };
        let field = &mut self.fields[at];
        match value {
            Json::Null => field.nulls = true,
            Json::Bool(b) => {
                field.values += 1;
                field.types.json.insert(JsonTypes::BOOLEAN);
                field.scalars.observe_boolean(*b);
            }
            Json::Number(n) => {
                field.values += 1;
                field.types.json.insert(JsonTypes::NUMBER);
                observe_number(&mut field.scalars, n);
            }
            Json::String(s) => {
                field.values += 1;
                field.types.json.insert(JsonTypes::STRING);
                field.scalars.observe_string(s);
            }
            Json::Object(entries) if depth < self.max_depth => {
                field.objects += 1;
                self.walk(entries, &format!("{name}."), depth + 1, Some(at));
            }
            Json::Object(_) => {
                field.values += 1;
                field.types.json.insert(JsonTypes::OBJECT);
            }
            Json::Array(items, _) => {
                field.values += 1;
                field.types.json.insert(JsonTypes::ARRAY);
                if items.is_empty() {
                    // Only an array: neither scalars nor records.
                } else if items.iter().all(|item| matches!(item, Json::Object(_))) {
                    field.types.record_array = true;
                    let budget = self.max_records.saturating_mul(CHILD_RECORDS_PER_PARENT);
                    let child = self.child(name, budget);
                    for item in items {
                        if !child.observe(item) {
                            break;
                        }
                    }
                } else if items.iter().all(|item| !matches!(item, Json::Object(_) | Json::Array(..))) {
                    field.types.scalar_array = true;
                    for item in items {
                        match item {
                            Json::Bool(b) => field.elements.observe_boolean(*b),
                            Json::Number(n) => observe_number(&mut field.elements, n),
                            Json::String(s) => field.elements.observe_string(s),
                            _ => field.elements.observe_null(),
                        }
                    }
                } else {
                    field.types.mixed_array = true;
                }
            }
        }
    }

    /// The field's index, added on first sight; `None` past [`MAX_COLUMNS`].
    fn field(&mut self, name: &str, parent: Option<usize>) -> Option<usize> {
        if let Some(at) = self.index.get(name) {
            return Some(*at);
        }
        if self.fields.len() >= MAX_COLUMNS {
            self.truncated = true;
            return None;
        }
        self.index.insert(name.to_owned(), self.fields.len());
        self.fields.push(Field { name: name.to_owned(), parent, ..Field::default() });
        Some(self.fields.len() - 1)
    }

    fn child(&mut self, name: &str, max_records: u64) -> &mut Shape {
        let at = match self.children.iter().position(|(path, _)| path == name) {
            Some(at) => at,
            None => {
                self.children.push((name.to_owned(), Shape::new(self.max_depth, max_records)));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }

    /// This table's columns.
    pub fn columns(&self, table: &str) -> Vec<Column> {
        self.ordered()
            .into_iter()
            .filter_map(|field| self.describe(field, table))
            .enumerate()
            .map(|(i, column)| Column { ordinal: u32::try_from(i + 1).unwrap_or(u32::MAX), ..column })
            .collect()
    }

    /// Fields in the order first seen, each object's fields right after it
    /// (`address.zip`, first seen in a later record, still beside `address.city`).
    fn ordered(&self) -> Vec<&Field> {
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); self.fields.len()];
        let mut roots = Vec::new();
        for (at, field) in self.fields.iter().enumerate() {
            match field.parent {
                Some(parent) if parent < at => children[parent].push(at),
                _ => roots.push(at),
            }
        }
        let mut ordered = Vec::with_capacity(self.fields.len());
        let mut stack: Vec<usize> = roots.into_iter().rev().collect();
        while let Some(at) = stack.pop() {
            ordered.push(&self.fields[at]);
            stack.extend(children[at].iter().rev());
        }
        ordered
    }

    /// The table named `table` and, after it, the tables of its arrays of
    /// records (`table.field`), depth first.
    pub fn tables(&self, table: &str, comment: String) -> Vec<Table> {
        let mut comment = comment;
        if self.truncated {
            comment.push_str(&format!("; only the first {MAX_COLUMNS} fields are columns"));
        }
        let mut tables = vec![
            TableBuilder::new(table, ObjectKind::Table).columns(self.columns(table)).comment(Some(comment)).build(),
        ];
        for (path, child) in &self.children {
            let name = format!("{table}.{path}");
            let note = format!(
                "records of the array `{path}` in `{table}`; column types inferred from {}",
                plural(child.records, "record")
            );
            tables.extend(child.tables(&name, note));
        }
        tables
    }

    /// The fields holding arrays of records, from this table's records
    /// (named `table`) down to those of the table named `wanted`
    /// (`table.a.b`): empty for this table itself, `None` for no such table.
    pub fn path_to(&self, table: &str, wanted: &str) -> Option<Vec<String>> {
        if table == wanted {
            return Some(Vec::new());
        }
        self.children.iter().find_map(|(path, child)| {
            let mut rest = child.path_to(&format!("{table}.{path}"), wanted)?;
            rest.insert(0, path.clone());
            Some(rest)
        })
    }

    fn describe(&self, field: &Field, table: &str) -> Option<Column> {
        let name = field.name.as_str();
        let nullable = field.values < self.records;
        let types = field.types;
        let mut column = if field.values == 0 {
            if field.objects > 0 {
                // Only objects (and nulls): the children are the columns.
                return None;
            }
            let comment = Some("null in every sampled record".to_owned());
            ColumnBuilder::new(name, 0, data_type::STRING, "null").nullable(true).comment(comment).build()
        } else if types.json == JsonTypes::ARRAY {
            let column = |data_type, comment| {
                ColumnBuilder::new(name, 0, data_type, "array").nullable(nullable).comment(Some(comment)).build()
            };
            if types.record_array && !types.scalar_array && !types.mixed_array {
                column(data_type::JSON, format!("array of records: see table `{table}.{name}`"))
            } else if !types.record_array && !types.mixed_array {
                let comment = match field.elements.kind() {
                    Some(_) => format!("array of {}", field.elements.infer().data_type),
                    None if field.elements.has_nulls() => "array of nulls".to_owned(),
                    None => "array, empty in every sampled record".to_owned(),
                };
                column(data_type::ARRAY, comment)
            } else {
                column(data_type::JSON, "array of arrays or of mixed values, kept as JSON".to_owned())
            }
        } else {
            describe_values(name, types.json, &field.scalars, nullable, self.max_depth)
        };
        if field.objects > 0 {
            add_note(&mut column, &format!("an object in some records, flattened into `{name}.…`"));
        }
        Some(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(records: &str, max_depth: u32, max_records: u64) -> Shape {
        let Json::Array(items, _) = Json::parse(records.as_bytes()).unwrap() else { panic!("not an array") };
        let mut shape = Shape::new(max_depth, max_records);
        for item in &items {
            shape.observe(item);
        }
        shape
    }

    fn summary(columns: &[Column]) -> Vec<(String, String, String, bool)> {
        columns.iter().map(|c| (c.name.clone(), c.data_type.clone(), c.native_type.clone(), c.nullable)).collect()
    }

    fn row(name: &str, data_type: &str, native: &str, nullable: bool) -> (String, String, String, bool) {
        (name.to_owned(), data_type.to_owned(), native.to_owned(), nullable)
    }

    #[test]
    fn nested_objects_flatten_to_dotted_columns_in_document_order() {
        let shape = shape_of(
            r#"[{"id":1,"name":"a","address":{"city":"Paris","geo":{"lat":48.8}},"joined":"2024-01-05"},
                {"id":2,"name":"b","address":{"city":"Oslo","zip":"0150"},"joined":"2024-02-01T10:00:00Z"},
                {"id":3,"name":"c","address":null,"joined":null}]"#,
            5,
            100,
        );
        let columns = shape.columns("users");
        assert_eq!(
            summary(&columns),
            [
                row("id", "int64", "integer", false),
                row("name", "string", "string", false),
                row("address.city", "string", "string", true),
                row("address.geo.lat", "float64", "number", true),
                row("address.zip", "string", "string", true),
                row("joined", "string", "string", true),
            ]
        );
        assert_eq!(columns.iter().map(|c| c.ordinal).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(columns[2].max_length, Some(5));
    }

    #[test]
    fn arrays_of_records_become_tables_of_their_own() {
        let shape = shape_of(
            r#"[{"id":1,"orders":[{"sku":"a","qty":2,"lines":[{"n":1}]},{"sku":"b","qty":1}],"tags":["x","y"]},
                {"id":2,"orders":[],"tags":[]},
                {"id":3,"scores":[1,2.5],"grid":[[1]],"mix":[1,{"a":1}]}]"#,
            5,
            100,
        );
        let tables = shape.tables("users", "GET /users".into());
        let names: Vec<_> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["users", "users.orders", "users.orders.lines"]);
        assert_eq!(
            summary(&tables[0].columns),
            [
                row("id", "int64", "integer", false),
                row("orders", "json", "array", true),
                row("tags", "array", "array", true),
                row("scores", "array", "array", true),
                row("grid", "json", "array", true),
                row("mix", "json", "array", true),
            ]
        );
        let comments: Vec<_> = tables[0].columns.iter().map(|c| c.comment.clone().unwrap_or_default()).collect();
        assert_eq!(comments[1], "array of records: see table `users.orders`");
        assert_eq!(comments[2], "array of string");
        assert_eq!(comments[3], "array of float64");
        assert_eq!(comments[4], "array of arrays or of mixed values, kept as JSON");
        assert_eq!(comments[5], comments[4]);
        // An empty array does not make `orders` a scalar array.
        assert_eq!(
            summary(&tables[1].columns),
            [
                row("sku", "string", "string", false),
                row("qty", "int64", "integer", false),
                row("lines", "json", "array", true)
            ]
        );
        assert_eq!(
            tables[1].comment.as_deref(),
            Some("records of the array `orders` in `users`; column types inferred from 2 records")
        );
        assert_eq!(summary(&tables[2].columns), [row("n", "int64", "integer", false)]);
    }

    #[test]
    fn mixed_null_deep_and_scalar_records() {
        let shape = shape_of(r#"[{"a":{"b":{"c":1}},"z":null,"m":1,"e":[]},{"m":"x","e":[],"a":"flat"}]"#, 2, 100);
        let columns = shape.columns("t");
        assert_eq!(
            summary(&columns),
            [
                row("a", "string", "string", true),
                row("a.b", "json", "object", true),
                row("z", "string", "null", true),
                row("m", "string", "number|string", false),
                row("e", "array", "array", false),
            ]
        );
        assert_eq!(columns[0].comment.as_deref(), Some("an object in some records, flattened into `a.…`"));
        assert_eq!(columns[1].comment.as_deref(), Some("an object nested deeper than max_depth (2), kept as JSON"));
        assert_eq!(columns[2].comment.as_deref(), Some("null in every sampled record"));
        assert_eq!(columns[3].comment.as_deref(), Some("mixed JSON types (number, string), widened to string"));
        assert_eq!(columns[4].comment.as_deref(), Some("array, empty in every sampled record"));

        let scalars = shape_of(r#"["a","b",null]"#, 5, 100);
        assert_eq!(summary(&scalars.columns("t")), [row("value", "string", "string", true)]);
    }

    #[test]
    fn samples_and_columns_are_bounded() {
        let shape = shape_of(r#"[{"a":1},{"a":2},{"a":"x"}]"#, 5, 2);
        assert_eq!(shape.records, 2);
        assert_eq!(summary(&shape.columns("t")), [row("a", "int64", "integer", false)]);

        let wide: String =
            format!("[{{{}}}]", (0..MAX_COLUMNS + 5).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        let shape = shape_of(&wide, 5, 10);
        assert!(shape.truncated);
        let tables = shape.tables("t", "c".into());
        assert_eq!(tables[0].columns.len(), MAX_COLUMNS);
        assert_eq!(tables[0].comment.as_deref(), Some("c; only the first 1000 fields are columns"));
    }
}
