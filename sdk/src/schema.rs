//! Builders for the catalog records, so that connectors fill in only what they know.

use crate::{Column, Constraint, ConstraintKind, ObjectKind, Table};

/// Builds a [`Column`]; everything but name, position and type is optional.
#[derive(Debug, Clone)]
pub struct ColumnBuilder(Column);

impl ColumnBuilder {
    pub fn new(name: impl Into<String>, ordinal: u32, data_type: &str, native_type: impl Into<String>) -> Self {
        Self(Column {
            name: name.into(),
            ordinal,
            data_type: data_type.to_owned(),
            native_type: native_type.into(),
            nullable: true,
            default_value: None,
            max_length: None,
            precision: None,
            scale: None,
            comment: None,
        })
    }

    pub fn nullable(mut self, nullable: bool) -> Self {
        self.0.nullable = nullable;
        self
    }

    pub fn default_value(mut self, value: Option<String>) -> Self {
        self.0.default_value = value;
        self
    }

    pub fn max_length(mut self, length: Option<u32>) -> Self {
        self.0.max_length = length;
        self
    }

    pub fn precision_scale(mut self, precision: Option<u32>, scale: Option<u32>) -> Self {
        self.0.precision = precision;
        self.0.scale = scale;
        self
    }

    pub fn comment(mut self, comment: Option<String>) -> Self {
        self.0.comment = comment;
        self
    }

    pub fn build(self) -> Column {
        self.0
    }
}

/// Builds a [`Table`] (or view, collection, file, …).
#[derive(Debug, Clone)]
pub struct TableBuilder(Table);

impl TableBuilder {
    pub fn new(name: impl Into<String>, kind: ObjectKind) -> Self {
        Self(Table {
            name: name.into(),
            kind,
            columns: Vec::new(),
            constraints: Vec::new(),
            comment: None,
            row_estimate: None,
            size_bytes: None,
        })
    }

    pub fn column(mut self, column: Column) -> Self {
        self.0.columns.push(column);
        self
    }

    pub fn columns(mut self, columns: impl IntoIterator<Item = Column>) -> Self {
        self.0.columns.extend(columns);
        self
    }

    pub fn constraint(mut self, constraint: Constraint) -> Self {
        self.0.constraints.push(constraint);
        self
    }

    pub fn comment(mut self, comment: Option<String>) -> Self {
        self.0.comment = comment;
        self
    }

    pub fn row_estimate(mut self, rows: Option<u64>) -> Self {
        self.0.row_estimate = rows;
        self
    }

    pub fn size_bytes(mut self, bytes: Option<u64>) -> Self {
        self.0.size_bytes = bytes;
        self
    }

    pub fn build(self) -> Table {
        self.0
    }
}

impl Constraint {
    pub fn primary_key(name: impl Into<String>, columns: Vec<String>) -> Self {
        Self::local(name, ConstraintKind::PrimaryKey, columns)
    }

    pub fn unique(name: impl Into<String>, columns: Vec<String>) -> Self {
        Self::local(name, ConstraintKind::Unique, columns)
    }

    pub fn check(name: impl Into<String>, columns: Vec<String>, definition: impl Into<String>) -> Self {
        Self { definition: Some(definition.into()), ..Self::local(name, ConstraintKind::Check, columns) }
    }

    pub fn foreign_key(
        name: impl Into<String>,
        columns: Vec<String>,
        referenced_schema: impl Into<String>,
        referenced_table: impl Into<String>,
        referenced_columns: Vec<String>,
    ) -> Self {
        Self {
            referenced_schema: Some(referenced_schema.into()),
            referenced_table: Some(referenced_table.into()),
            referenced_columns,
            ..Self::local(name, ConstraintKind::ForeignKey, columns)
        }
    }

    fn local(name: impl Into<String>, kind: ConstraintKind, columns: Vec<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            columns,
            referenced_schema: None,
            referenced_table: None,
            referenced_columns: Vec::new(),
            definition: None,
        }
    }
}
