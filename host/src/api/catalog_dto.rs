//! What the API says about connectors' answers (test outcomes and
//! discovered tables), with their OpenAPI schemas. The model
//! ([`crate::model`]) knows nothing of the API; these types convert from it
//! and serialize to the same JSON, under the same schema names.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{connectors, model};

/// Why a connector call failed, as the platform acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Config,
    Auth,
    Unreachable,
    Timeout,
    Permission,
    NotFound,
    Unsupported,
    Protocol,
    Internal,
}

impl From<model::ErrorKind> for ErrorKind {
    fn from(kind: model::ErrorKind) -> Self {
        match kind {
            model::ErrorKind::Config => Self::Config,
            model::ErrorKind::Auth => Self::Auth,
            model::ErrorKind::Unreachable => Self::Unreachable,
            model::ErrorKind::Timeout => Self::Timeout,
            model::ErrorKind::Permission => Self::Permission,
            model::ErrorKind::NotFound => Self::NotFound,
            model::ErrorKind::Unsupported => Self::Unsupported,
            model::ErrorKind::Protocol => Self::Protocol,
            model::ErrorKind::Internal => Self::Internal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub message: String,
    pub retryable: bool,
}

impl From<model::ConnectorError> for ConnectorError {
    fn from(error: model::ConnectorError) -> Self {
        Self { kind: error.kind.into(), message: error.message, retryable: error.retryable }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CheckStep {
    pub name: String,
    pub passed: bool,
    pub duration_us: u64,
    pub message: Option<String>,
}

impl From<model::CheckStep> for CheckStep {
    fn from(step: model::CheckStep) -> Self {
        Self { name: step.name, passed: step.passed, duration_us: step.duration_us, message: step.message }
    }
}

/// The outcome of a connection test, as the API reports and stores it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestOutcome {
    pub ok: bool,
    pub server_version: Option<String>,
    /// Connect stages, then the connector's checks.
    pub steps: Vec<CheckStep>,
    pub latency_ms: u64,
    pub error: Option<ConnectorError>,
    pub tested_at: String,
}

impl From<connectors::TestOutcome> for TestOutcome {
    fn from(outcome: connectors::TestOutcome) -> Self {
        Self {
            ok: outcome.ok,
            server_version: outcome.server_version,
            steps: outcome.steps.into_iter().map(Into::into).collect(),
            latency_ms: outcome.latency_ms,
            error: outcome.error.map(Into::into),
            tested_at: outcome.tested_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Column {
    pub name: String,
    pub ordinal: u32,
    pub data_type: String,
    pub native_type: String,
    pub nullable: bool,
    pub default_value: Option<String>,
    pub max_length: Option<u32>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub comment: Option<String>,
}

impl From<model::Column> for Column {
    fn from(column: model::Column) -> Self {
        Self {
            name: column.name,
            ordinal: column.ordinal,
            data_type: column.data_type,
            native_type: column.native_type,
            nullable: column.nullable,
            default_value: column.default_value,
            max_length: column.max_length,
            precision: column.precision,
            scale: column.scale,
            comment: column.comment,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
}

impl From<model::ConstraintKind> for ConstraintKind {
    fn from(kind: model::ConstraintKind) -> Self {
        match kind {
            model::ConstraintKind::PrimaryKey => Self::PrimaryKey,
            model::ConstraintKind::Unique => Self::Unique,
            model::ConstraintKind::ForeignKey => Self::ForeignKey,
            model::ConstraintKind::Check => Self::Check,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    pub columns: Vec<String>,
    pub referenced_schema: Option<String>,
    pub referenced_table: Option<String>,
    pub referenced_columns: Vec<String>,
    pub definition: Option<String>,
}

impl From<model::Constraint> for Constraint {
    fn from(constraint: model::Constraint) -> Self {
        Self {
            name: constraint.name,
            kind: constraint.kind.into(),
            columns: constraint.columns,
            referenced_schema: constraint.referenced_schema,
            referenced_table: constraint.referenced_table,
            referenced_columns: constraint.referenced_columns,
            definition: constraint.definition,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    ExternalTable,
    Collection,
    Index,
    KeySpace,
    File,
    Topic,
}

impl From<model::ObjectKind> for ObjectKind {
    fn from(kind: model::ObjectKind) -> Self {
        match kind {
            model::ObjectKind::Table => Self::Table,
            model::ObjectKind::View => Self::View,
            model::ObjectKind::MaterializedView => Self::MaterializedView,
            model::ObjectKind::ExternalTable => Self::ExternalTable,
            model::ObjectKind::Collection => Self::Collection,
            model::ObjectKind::Index => Self::Index,
            model::ObjectKind::KeySpace => Self::KeySpace,
            model::ObjectKind::File => Self::File,
            model::ObjectKind::Topic => Self::Topic,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Table {
    pub name: String,
    pub kind: ObjectKind,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub comment: Option<String>,
    pub row_estimate: Option<u64>,
    pub size_bytes: Option<u64>,
}

impl From<model::Table> for Table {
    fn from(table: model::Table) -> Self {
        Self {
            name: table.name,
            kind: table.kind.into(),
            columns: table.columns.into_iter().map(Into::into).collect(),
            constraints: table.constraints.into_iter().map(Into::into).collect(),
            comment: table.comment,
            row_estimate: table.row_estimate,
            size_bytes: table.size_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The API's JSON of a value, and the model's own: they must agree, as
    /// clients and stored rows were written against the model's.
    fn both<M: Serialize + Clone, D: Serialize + From<M>>(value: M) -> (Value, Value) {
        let model = serde_json::to_value(value.clone()).unwrap();
        let api = serde_json::to_value(D::from(value)).unwrap();
        (api, model)
    }

    fn column(name: &str, ordinal: u32) -> model::Column {
        model::Column {
            name: name.into(),
            ordinal,
            data_type: "integer".into(),
            native_type: "int4".into(),
            nullable: false,
            default_value: Some("0".into()),
            max_length: None,
            precision: Some(32),
            scale: Some(0),
            comment: Some("the key".into()),
        }
    }

    #[test]
    fn a_table_converts_field_for_field_with_the_same_json() {
        let table = model::Table {
            name: "orders".into(),
            kind: model::ObjectKind::MaterializedView,
            columns: vec![column("id", 1), column("customer_id", 2)],
            constraints: vec![model::Constraint {
                name: "orders_customer_fk".into(),
                kind: model::ConstraintKind::ForeignKey,
                columns: vec!["customer_id".into()],
                referenced_schema: Some("public".into()),
                referenced_table: Some("customers".into()),
                referenced_columns: vec!["id".into()],
                definition: None,
            }],
            comment: None,
            row_estimate: Some(12),
            size_bytes: Some(8192),
        };
        let (api, model) = both::<_, Table>(table);
        assert_eq!(api, model);
        assert_eq!(api["kind"], "materialized_view");
        assert_eq!(api["constraints"][0]["kind"], "foreign_key");
        assert_eq!(api["columns"][1]["name"], "customer_id");
    }

    #[test]
    fn every_kind_keeps_its_name() {
        use model::ObjectKind as O;
        for kind in [
            O::Table,
            O::View,
            O::MaterializedView,
            O::ExternalTable,
            O::Collection,
            O::Index,
            O::KeySpace,
            O::File,
            O::Topic,
        ] {
            let (api, model) = both::<_, ObjectKind>(kind);
            assert_eq!(api, model);
        }
        use model::ConstraintKind as C;
        for kind in [C::PrimaryKey, C::Unique, C::ForeignKey, C::Check] {
            let (api, model) = both::<_, ConstraintKind>(kind);
            assert_eq!(api, model);
        }
        use model::ErrorKind as E;
        for kind in [
            E::Config,
            E::Auth,
            E::Unreachable,
            E::Timeout,
            E::Permission,
            E::NotFound,
            E::Unsupported,
            E::Protocol,
            E::Internal,
        ] {
            let (api, model) = both::<_, ErrorKind>(kind);
            assert_eq!(api, model);
            assert_eq!(api, kind.as_str());
        }
    }

    #[test]
    fn a_failed_test_outcome_keeps_its_steps_and_error() {
        let outcome = connectors::TestOutcome {
            ok: false,
            server_version: None,
            steps: vec![model::CheckStep {
                name: "tcp".into(),
                passed: false,
                duration_us: 1500,
                message: Some("refused".into()),
            }],
            latency_ms: 2,
            error: Some(model::ConnectorError {
                kind: model::ErrorKind::Unreachable,
                message: "connection refused".into(),
                retryable: true,
            }),
            tested_at: "2026-12-04T18:00:00Z".into(),
        };
        let (api, model) = both::<_, TestOutcome>(outcome);
        assert_eq!(api, model);
        assert_eq!(
            api,
            json!({
                "ok": false,
                "server_version": null,
                "steps": [{"name": "tcp", "passed": false, "duration_us": 1500, "message": "refused"}],
                "latency_ms": 2,
                "error": {"kind": "unreachable", "message": "connection refused", "retryable": true},
                "tested_at": "2026-12-04T18:00:00Z"
            })
        );
    }
}
