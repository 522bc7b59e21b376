//! The host side of WIT API `inlet:connector@0.1.0` (`wit/since_v0.1.0`):
//! generated bindings, the `host` import, and conversions into [`crate::model`].
//!
//! A later API version gets a module of its own beside this one; everything
//! above the runtime keeps seeing only the model.

use wasmtime::component::{HasSelf, Linker};

use super::store::StoreState;
use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "plugin",
    exports: { default: async },
});

use self::exports::inlet::connector::connector::Connected;
use self::inlet::connector::host::LogLevel;
use self::inlet::connector::types as wit;

pub use self::exports::inlet::connector::connector::Connected as WitConnected;
pub use wit::{ConnectRequest, DiscoverRequest, Endpoint};

/// Adds the `inlet:connector/host` import to the linker.
pub fn add_host_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    self::inlet::connector::host::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

impl self::inlet::connector::host::Host for StoreState {
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        };
        StoreState::log(self, level, &message);
    }
}

impl self::inlet::connector::types::Host for StoreState {}

pub(super) fn connected_steps(connected: &Connected) -> Vec<model::CheckStep> {
    connected.steps.iter().map(step).collect()
}

pub(super) fn discover_request(request: &model::DiscoverRequest) -> DiscoverRequest {
    DiscoverRequest {
        include_schemas: request.include_schemas.clone(),
        exclude_schemas: request.exclude_schemas.clone(),
        page_token: request.page_token.clone(),
        page_size: request.page_size,
    }
}

fn error_kind(kind: wit::ErrorKind) -> model::ErrorKind {
    match kind {
        wit::ErrorKind::Config => model::ErrorKind::Config,
        wit::ErrorKind::Auth => model::ErrorKind::Auth,
        wit::ErrorKind::Unreachable => model::ErrorKind::Unreachable,
        wit::ErrorKind::Timeout => model::ErrorKind::Timeout,
        wit::ErrorKind::Permission => model::ErrorKind::Permission,
        wit::ErrorKind::NotFound => model::ErrorKind::NotFound,
        wit::ErrorKind::Unsupported => model::ErrorKind::Unsupported,
        wit::ErrorKind::Protocol => model::ErrorKind::Protocol,
        wit::ErrorKind::Internal => model::ErrorKind::Internal,
    }
}

pub(super) fn error(error: wit::ConnectorError) -> model::ConnectorError {
    model::ConnectorError { kind: error_kind(error.kind), message: error.message, retryable: error.retryable }
}

pub(super) fn failure(failure: wit::Failure) -> model::Failure {
    model::Failure { error: error(failure.error), steps: failure.steps.iter().map(step).collect() }
}

fn step(step: &wit::CheckStep) -> model::CheckStep {
    model::CheckStep {
        name: step.name.clone(),
        passed: step.passed,
        duration_us: step.duration_us,
        message: step.message.clone(),
    }
}

pub(super) fn test_report(report: wit::TestReport) -> model::TestReport {
    model::TestReport { server_version: report.server_version, steps: report.steps.iter().map(step).collect() }
}

pub(super) fn discover_page(page: wit::DiscoverPage) -> model::DiscoverPage {
    model::DiscoverPage {
        schemas: page.schemas.into_iter().map(schema).collect(),
        next_page_token: page.next_page_token,
    }
}

fn schema(schema: wit::Schema) -> model::Schema {
    model::Schema { name: schema.name, tables: schema.tables.into_iter().map(table).collect() }
}

fn table(table: wit::Table) -> model::Table {
    model::Table {
        name: table.name,
        kind: match table.kind {
            wit::ObjectKind::Table => model::ObjectKind::Table,
            wit::ObjectKind::View => model::ObjectKind::View,
            wit::ObjectKind::MaterializedView => model::ObjectKind::MaterializedView,
            wit::ObjectKind::ExternalTable => model::ObjectKind::ExternalTable,
            wit::ObjectKind::Collection => model::ObjectKind::Collection,
            wit::ObjectKind::Index => model::ObjectKind::Index,
            wit::ObjectKind::KeySpace => model::ObjectKind::KeySpace,
            wit::ObjectKind::File => model::ObjectKind::File,
            wit::ObjectKind::Topic => model::ObjectKind::Topic,
        },
        columns: table.columns.into_iter().map(column).collect(),
        constraints: table.constraints.into_iter().map(constraint).collect(),
        comment: table.comment,
        row_estimate: table.row_estimate,
        size_bytes: table.size_bytes,
    }
}

fn column(column: wit::Column) -> model::Column {
    model::Column {
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

fn constraint(constraint: wit::Constraint) -> model::Constraint {
    model::Constraint {
        name: constraint.name,
        kind: match constraint.kind {
            wit::ConstraintKind::PrimaryKey => model::ConstraintKind::PrimaryKey,
            wit::ConstraintKind::Unique => model::ConstraintKind::Unique,
            wit::ConstraintKind::ForeignKey => model::ConstraintKind::ForeignKey,
            wit::ConstraintKind::Check => model::ConstraintKind::Check,
        },
        columns: constraint.columns,
        referenced_schema: constraint.referenced_schema,
        referenced_table: constraint.referenced_table,
        referenced_columns: constraint.referenced_columns,
        definition: constraint.definition,
    }
}
