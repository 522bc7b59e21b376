//! How a discovered table is stored: its definition as compact JSON (the
//! model's fields, absent ones left out rather than written as `null`: about
//! a third less to write, hold and read back for a typical catalog), its
//! kind, and the digest of what a diff compares
//! (`catalog_diff::columns_digest`).
//!
//! A definition reads back as a [`Table`] with serde's own rule that a
//! missing `Option` field is `None`; definitions stored before, with their
//! `null`s, read the same way.

use serde::Serialize;

use crate::catalog_diff::columns_digest;
use crate::db::StagedTable;
use crate::model::{Column, Constraint, ConstraintKind, ObjectKind, Table};

/// The row that stores `table` of schema `schema`.
pub fn stage(schema: &str, table: &Table) -> Result<StagedTable, serde_json::Error> {
    let kind = serde_json::to_value(table.kind)?.as_str().unwrap_or_default().to_owned();
    Ok(StagedTable {
        schema_name: schema.to_owned(),
        table_name: table.name.clone(),
        kind,
        definition: encode(table)?,
        columns_digest: columns_digest(table),
    })
}

/// A table's definition as stored.
pub fn encode(table: &Table) -> Result<String, serde_json::Error> {
    serde_json::to_string(&StoredTable::from(table))
}

/// A stored definition read back.
pub fn decode(definition: &str) -> Result<Table, serde_json::Error> {
    serde_json::from_str(definition)
}

// The model's shapes, borrowed, without their absent fields. The
// conversions destructure every field, so a field added to the model does
// not compile until it is stored too.

#[derive(Serialize)]
struct StoredTable<'a> {
    name: &'a str,
    kind: ObjectKind,
    columns: Vec<StoredColumn<'a>>,
    constraints: Vec<StoredConstraint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row_estimate: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
}

#[derive(Serialize)]
struct StoredColumn<'a> {
    name: &'a str,
    ordinal: u32,
    data_type: &'a str,
    native_type: &'a str,
    nullable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scale: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

#[derive(Serialize)]
struct StoredConstraint<'a> {
    name: &'a str,
    kind: ConstraintKind,
    columns: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    referenced_schema: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referenced_table: Option<&'a str>,
    referenced_columns: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    definition: Option<&'a str>,
}

impl<'a> From<&'a Table> for StoredTable<'a> {
    fn from(table: &'a Table) -> Self {
        let Table { name, kind, columns, constraints, comment, row_estimate, size_bytes } = table;
        Self {
            name,
            kind: *kind,
            columns: columns.iter().map(StoredColumn::from).collect(),
            constraints: constraints.iter().map(StoredConstraint::from).collect(),
            comment: comment.as_deref(),
            row_estimate: *row_estimate,
            size_bytes: *size_bytes,
        }
    }
}

impl<'a> From<&'a Column> for StoredColumn<'a> {
    fn from(column: &'a Column) -> Self {
        let Column {
            name,
            ordinal,
            data_type,
            native_type,
            nullable,
            default_value,
            max_length,
            precision,
            scale,
            comment,
        } = column;
        Self {
            name,
            ordinal: *ordinal,
            data_type,
            native_type,
            nullable: *nullable,
            default_value: default_value.as_deref(),
            max_length: *max_length,
            precision: *precision,
            scale: *scale,
            comment: comment.as_deref(),
        }
    }
}

impl<'a> From<&'a Constraint> for StoredConstraint<'a> {
    fn from(constraint: &'a Constraint) -> Self {
        let Constraint { name, kind, columns, referenced_schema, referenced_table, referenced_columns, definition } =
            constraint;
        Self {
            name,
            kind: *kind,
            columns,
            referenced_schema: referenced_schema.as_deref(),
            referenced_table: referenced_table.as_deref(),
            referenced_columns,
            definition: definition.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, full: bool) -> Column {
        Column {
            name: name.into(),
            ordinal: 3,
            data_type: "decimal".into(),
            native_type: "numeric(12,2)".into(),
            nullable: !full,
            default_value: full.then(|| "0".into()),
            max_length: full.then_some(12),
            precision: full.then_some(12),
            scale: full.then_some(2),
            comment: full.then(|| "amount in \"EUR\"\n".into()),
        }
    }

    fn table(full: bool) -> Table {
        Table {
            name: "orders".into(),
            kind: if full { ObjectKind::MaterializedView } else { ObjectKind::Table },
            columns: vec![column("id", false), column("amount", true)],
            constraints: vec![Constraint {
                name: "fk".into(),
                kind: ConstraintKind::ForeignKey,
                columns: vec!["id".into()],
                referenced_schema: full.then(|| "other".into()),
                referenced_table: full.then(|| "parents".into()),
                referenced_columns: if full { vec!["pid".into()] } else { vec![] },
                definition: full.then(|| "FOREIGN KEY (id)".into()),
            }],
            comment: full.then(|| "the orders".into()),
            row_estimate: full.then_some(10),
            size_bytes: full.then_some(8192),
        }
    }

    #[test]
    fn a_stored_definition_reads_back_as_the_same_table() {
        for full in [false, true] {
            let table = table(full);
            assert_eq!(decode(&encode(&table).unwrap()).unwrap(), table, "full: {full}");
        }
    }

    #[test]
    fn absent_fields_are_left_out_and_old_definitions_with_nulls_still_read() {
        let table = table(false);
        let compact = encode(&table).unwrap();
        assert!(!compact.contains(":null"), "{compact}");
        let with_nulls = serde_json::to_string(&table).unwrap();
        assert!(compact.len() < with_nulls.len());
        assert_eq!(decode(&with_nulls).unwrap(), table);
    }

    #[test]
    fn the_stored_row_names_the_table_its_kind_and_digest() {
        let staged = stage("sales", &table(true)).unwrap();
        assert_eq!((staged.schema_name.as_str(), staged.table_name.as_str()), ("sales", "orders"));
        assert_eq!(staged.kind, "materialized_view");
        assert_eq!(staged.columns_digest, columns_digest(&table(true)));
    }
}
