//! What changed between two discoveries of one data source: tables and
//! columns added, removed, or changed (type, nullability or default).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    let index = |tables: &mut dyn Iterator<Item = (&'a str, &'a Table)>| -> BTreeMap<String, (&'a str, &'a Table)> {
        tables.map(|(schema, table)| (format!("{schema}.{}", table.name), (schema, table))).collect()
    };
    let before = index(&mut before.into_iter());
    let after = index(&mut after.into_iter());
    let mut diff = DiffBuilder::default();
    for (name, (schema, old)) in &before {
        match after.get(name) {
            None => diff.table_removed(schema, &old.name),
            Some((_, new)) => diff.table_kept(schema, old, new),
        }
    }
    for (name, (schema, new)) in &after {
        if !before.contains_key(name) {
            diff.table_added(schema, &new.name);
        }
    }
    diff.finish()
}

/// A [`SchemaDiff`] built a table at a time in any order (a discovery's
/// pages arrive as the connector reads them); [`DiffBuilder::finish`] sorts
/// it as [`diff`] does: tables by `schema.table`, columns by table, then
/// column name.
#[derive(Debug, Default)]
pub struct DiffBuilder {
    tables_added: Vec<String>,
    tables_removed: Vec<String>,
    /// (`schema.table`, column)
    columns_added: Vec<(String, String)>,
    columns_removed: Vec<(String, String)>,
    columns_changed: Vec<(String, String, String, String)>,
}

impl DiffBuilder {
    pub fn table_added(&mut self, schema: &str, table: &str) {
        self.tables_added.push(format!("{schema}.{table}"));
    }

    pub fn table_removed(&mut self, schema: &str, table: &str) {
        self.tables_removed.push(format!("{schema}.{table}"));
    }

    /// A table in both catalogs: its columns added, removed or changed.
    pub fn table_kept(&mut self, schema: &str, old: &Table, new: &Table) {
        let table = format!("{schema}.{}", new.name);
        let columns = |t: &'_ Table| -> BTreeMap<String, String> {
            t.columns.iter().map(|c| (c.name.clone(), signature(c))).collect()
        };
        let (old, new) = (columns(old), columns(new));
        for (name, before) in &old {
            match new.get(name) {
                None => self.columns_removed.push((table.clone(), name.clone())),
                Some(after) if after != before => {
                    self.columns_changed.push((table.clone(), name.clone(), before.clone(), after.clone()));
                }
                Some(_) => {}
            }
        }
        for name in new.keys().filter(|name| !old.contains_key(*name)) {
            self.columns_added.push((table.clone(), name.clone()));
        }
    }

    pub fn finish(mut self) -> SchemaDiff {
        self.tables_added.sort_unstable();
        self.tables_removed.sort_unstable();
        self.columns_added.sort_unstable();
        self.columns_removed.sort_unstable();
        self.columns_changed.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let path = |(table, column): (String, String)| format!("{table}.{column}");
        SchemaDiff {
            tables_added: self.tables_added,
            tables_removed: self.tables_removed,
            columns_added: self.columns_added.into_iter().map(path).collect(),
            columns_removed: self.columns_removed.into_iter().map(path).collect(),
            columns_changed: self
                .columns_changed
                .into_iter()
                .map(|(table, column, before, after)| ColumnChange {
                    column: format!("{table}.{column}"),
                    before,
                    after,
                })
                .collect(),
        }
    }
}

/// What the diff compares of a table's columns (names, types, nullability,
/// defaults), as a short hex digest: two tables with the same digest have
/// no column changes between them, so a rediscovery need not read the
/// stored definition of a table whose digest did not move.
pub fn columns_digest(table: &Table) -> String {
    // By name, as the diff compares them (a repeated name counts once, last wins).
    let columns: BTreeMap<&str, String> = table.columns.iter().map(|c| (c.name.as_str(), signature(c))).collect();
    let mut hash = Sha256::new();
    for (name, signature) in &columns {
        for part in [*name, signature.as_str()] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
    }
    hex::encode(&hash.finalize()[..16])
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
    #[test]
    fn a_diff_built_in_any_order_is_the_diff_of_the_catalogs() {
        let before = [
            table("b", vec![column("z", "int4", false), column("y", "text", true), column("gone", "text", true)]),
            table("a", vec![column("id", "int4", false)]),
            table("old", vec![]),
        ];
        let after = [
            table("a", vec![column("id", "int8", false), column("new", "text", true)]),
            table("b", vec![column("z", "int4", true), column("y", "text", true), column("x", "date", true)]),
            table("c", vec![]),
        ];
        let whole = diff(before.iter().map(|t| ("s", t)), after.iter().map(|t| ("s", t)));
        let mut built = DiffBuilder::default();
        // Pages in the order a connector might send them, removals last.
        built.table_added("s", "c");
        built.table_kept("s", &before[0], &after[1]);
        built.table_kept("s", &before[1], &after[0]);
        built.table_removed("s", "old");
        assert_eq!(built.finish(), whole);
        assert_eq!(whole.columns_changed.iter().map(|c| c.column.as_str()).collect::<Vec<_>>(), ["s.a.id", "s.b.z"]);
        assert_eq!(whole.columns_added, ["s.a.new", "s.b.x"]);
        assert_eq!(whole.columns_removed, ["s.b.gone"]);
    }

    #[test]
    fn the_columns_digest_moves_exactly_when_the_diff_would_see_a_change() {
        let base = table("t", vec![column("a", "int4", false), column("b", "text", true)]);
        let digest = columns_digest(&base);
        let mut reordered = base.clone();
        reordered.columns.reverse();
        reordered.row_estimate = Some(42);
        assert_eq!(columns_digest(&reordered), digest, "order and estimates are not compared");
        let mut retyped = base.clone();
        retyped.columns[0].native_type = "int8".into();
        let mut renamed = base.clone();
        renamed.columns[1].name = "c".into();
        let mut defaulted = base.clone();
        defaulted.columns[1].default_value = Some("''".into());
        let mut fewer = base.clone();
        fewer.columns.pop();
        for changed in [retyped, renamed, defaulted, fewer] {
            assert_ne!(columns_digest(&changed), digest, "{changed:?}");
            assert!(!diff([("s", &base)], [("s", &changed)]).is_empty());
        }
    }
}
