//! What changed between two discoveries of one data source: tables and
//! columns added, removed, or changed (type, nullability or default).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Column, Table};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SchemaDiff {
    /// `schema.table`
    pub tables_added: Vec<String>,
    pub tables_removed: Vec<String>,
    /// `schema.table.column`
    pub columns_added: Vec<String>,
    pub columns_removed: Vec<String>,
    pub columns_changed: Vec<ColumnChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnChange {
    /// `schema.table.column`
    pub column: String,
    pub before: String,
    pub after: String,
}

/// How many names an event's summary lists per change; the counts are whole.
const SUMMARY_NAMES: usize = 20;

impl SchemaDiff {
    /// Counts of every change and the first names of each, small enough
    /// for an event or a webhook whatever the catalog's size.
    pub fn summary(&self) -> serde_json::Value {
        let first = |names: &[String]| names.iter().take(SUMMARY_NAMES).cloned().collect::<Vec<_>>();
        let changed: Vec<String> = self.columns_changed.iter().map(|c| c.column.clone()).collect();
        serde_json::json!({
            "tables_added": self.tables_added.len(),
            "tables_removed": self.tables_removed.len(),
            "columns_added": self.columns_added.len(),
            "columns_removed": self.columns_removed.len(),
            "columns_changed": self.columns_changed.len(),
            "examples": {
                "tables_added": first(&self.tables_added),
                "tables_removed": first(&self.tables_removed),
                "columns_added": first(&self.columns_added),
                "columns_removed": first(&self.columns_removed),
                "columns_changed": first(&changed),
            },
        })
    }

    pub fn is_empty(&self) -> bool {
        self.tables_added.is_empty()
            && self.tables_removed.is_empty()
            && self.columns_added.is_empty()
            && self.columns_removed.is_empty()
            && self.columns_changed.is_empty()
    }
}

/// Compares two catalogs given as (schema name, table); the result is sorted.
pub fn diff<'a>(
    before: impl IntoIterator<Item = (&'a str, &'a Table)>,
    after: impl IntoIterator<Item = (&'a str, &'a Table)>,
) -> SchemaDiff {
    let index = |tables: &mut dyn Iterator<Item = (&'a str, &'a Table)>| -> BTreeMap<String, &'a Table> {
        tables.map(|(schema, table)| (format!("{schema}.{}", table.name), table)).collect()
    };
    let before = index(&mut before.into_iter());
    let after = index(&mut after.into_iter());
    let mut diff = SchemaDiff::default();
    for (name, old) in &before {
        match after.get(name) {
            None => diff.tables_removed.push(name.clone()),
            Some(new) => diff_columns(name, old, new, &mut diff),
        }
    }
    diff.tables_added = after.keys().filter(|name| !before.contains_key(*name)).cloned().collect();
    diff
}

fn diff_columns(table: &str, old: &Table, new: &Table, diff: &mut SchemaDiff) {
    let columns =
        |t: &'_ Table| -> BTreeMap<String, Column> { t.columns.iter().map(|c| (c.name.clone(), c.clone())).collect() };
    let (old, new) = (columns(old), columns(new));
    for (name, before) in &old {
        let path = format!("{table}.{name}");
        match new.get(name) {
            None => diff.columns_removed.push(path),
            Some(after) => {
                let (before, after) = (signature(before), signature(after));
                if before != after {
                    diff.columns_changed.push(ColumnChange { column: path, before, after });
                }
            }
        }
    }
    diff.columns_added.extend(new.keys().filter(|name| !old.contains_key(*name)).map(|name| format!("{table}.{name}")));
}

/// A column's type, nullability and default, as people read them.
fn signature(column: &Column) -> String {
    let mut text = column.native_type.clone();
    text.push_str(if column.nullable { " NULL" } else { " NOT NULL" });
    if let Some(default) = &column.default_value {
        text.push_str(" DEFAULT ");
        text.push_str(default);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectKind;

    fn column(name: &str, native_type: &str, nullable: bool) -> Column {
        Column {
            name: name.into(),
            ordinal: 1,
            data_type: "x".into(),
            native_type: native_type.into(),
            nullable,
            default_value: None,
            max_length: None,
            precision: None,
            scale: None,
            comment: None,
        }
    }

    fn table(name: &str, columns: Vec<Column>) -> Table {
        Table {
            name: name.into(),
            kind: ObjectKind::Table,
            columns,
            constraints: vec![],
            comment: None,
            row_estimate: None,
            size_bytes: None,
        }
    }

    #[test]
    fn reports_tables_and_columns_added_removed_and_changed() {
        let before = [
            table(
                "orders",
                vec![column("id", "int4", false), column("total", "numeric", true), column("x", "text", true)],
            ),
            table("legacy", vec![column("id", "int4", false)]),
        ];
        let after = [
            table(
                "orders",
                vec![column("id", "int8", false), column("total", "numeric", true), column("note", "text", true)],
            ),
            table("lines", vec![column("id", "int4", false)]),
        ];
        let diff = diff(before.iter().map(|t| ("public", t)), after.iter().map(|t| ("public", t)));
        assert_eq!(diff.tables_added, ["public.lines"]);
        assert_eq!(diff.tables_removed, ["public.legacy"]);
        assert_eq!(diff.columns_added, ["public.orders.note"]);
        assert_eq!(diff.columns_removed, ["public.orders.x"]);
        assert_eq!(
            diff.columns_changed,
            [ColumnChange {
                column: "public.orders.id".into(),
                before: "int4 NOT NULL".into(),
                after: "int8 NOT NULL".into()
            }]
        );
        assert!(!diff.is_empty());
    }

    #[test]
    fn the_same_catalog_has_an_empty_diff() {
        let tables = [table("t", vec![column("a", "text", true)])];
        assert!(diff(tables.iter().map(|t| ("s", t)), tables.iter().map(|t| ("s", t))).is_empty());
    }
}
