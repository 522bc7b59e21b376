//! The host side of WIT API `inlet:connector@0.2.0` (`wit/since_v0.2.0`):
//! what 0.1.0 has (shared through [`super::catalog_calls`]) plus reading
//! data — `preview` and `query` returning a `rows` resource of typed
//! columnar batches — and the `request-endpoint` import.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, ResourceAny};

use super::batches;
use super::bounds::{self, PageError, PageMeter, Tally, bound, bound_opt, limits};
use super::store::StoreState;
use super::wit::{Answer, Connected, OpenedRows, VersionRange};
use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "plugin",
    exports: { default: async },
    // Granting an endpoint resolves a name: async, under the call's deadline.
    imports: { "inlet:connector/host.request-endpoint": async },
});

use self::inlet::connector::host::LogLevel;
use self::inlet::connector::types as wit;

/// The `api_version`s this module serves: 0.2.0 and every later 0.2.x.
pub(super) const SERVES: VersionRange = VersionRange::compatible_with(0, 2, 0);

/// Adds the `inlet:connector/host` import to the linker.
pub fn add_host_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    self::inlet::connector::host::add_to_linker::<StoreState, HasSelf<StoreState>>(linker, |state| state)
}

impl self::inlet::connector::host::Host for StoreState {
    fn log(&mut self, level: LogLevel, message: String) {
        StoreState::log(self, log_level(level), &message);
    }

    async fn request_endpoint(&mut self, host: String, port: u16) -> Result<wit::Endpoint, wit::ConnectorError> {
        match self.endpoints.request(&host, port).await {
            Ok(addr) => Ok(wit::Endpoint { host: addr.ip().to_string(), port: addr.port() }),
            Err(error) => Err(wit::ConnectorError {
                kind: to_wit_kind(error.kind),
                message: error.message,
                retryable: error.retryable,
            }),
        }
    }
}

fn to_wit_kind(kind: model::ErrorKind) -> wit::ErrorKind {
    match kind {
        model::ErrorKind::Config => wit::ErrorKind::Config,
        model::ErrorKind::Auth => wit::ErrorKind::Auth,
        model::ErrorKind::Unreachable => wit::ErrorKind::Unreachable,
        model::ErrorKind::Timeout => wit::ErrorKind::Timeout,
        model::ErrorKind::Permission => wit::ErrorKind::Permission,
        model::ErrorKind::NotFound => wit::ErrorKind::NotFound,
        model::ErrorKind::Unsupported => wit::ErrorKind::Unsupported,
        model::ErrorKind::Protocol => wit::ErrorKind::Protocol,
        model::ErrorKind::Internal => wit::ErrorKind::Internal,
    }
}

impl self::inlet::connector::types::Host for StoreState {}

super::catalog_calls::catalog_calls!();

/// Opens a preview or a query: the rows resource and its columns.
pub(super) async fn open_rows(
    bindings: &Plugin,
    store: &mut Store<StoreState>,
    connection: ResourceAny,
    request: &model::RowsRequest,
    tally: &Tally,
) -> Answer<OpenedRows> {
    let connector = bindings.inlet_connector_connector();
    let opened = match request {
        model::RowsRequest::Preview(preview) => {
            let preview = wit::PreviewRequest {
                schema: preview.schema.clone(),
                object: preview.object.clone(),
                columns: preview.columns.clone(),
                limit: preview.limit,
            };
            connector.connection().call_preview(&mut *store, connection, &preview).await?
        }
        model::RowsRequest::Query(query) => {
            let query = wit::QueryRequest {
                statement: query.statement.clone(),
                parameters: query.parameters.iter().map(parameter).collect(),
                max_rows: query.max_rows,
                timeout_ms: millis(query.timeout),
            };
            connector.connection().call_query(&mut *store, connection, &query).await?
        }
    };
    let rows = match opened {
        Ok(rows) => rows,
        Err(error) => return Ok(Err(model::Failure { error: self::error(error, tally), steps: Vec::new() })),
    };
    let columns = match connector.rows().call_columns(&mut *store, rows).await {
        Ok(columns) => columns,
        Err(trap) => {
            // The resource must not outlive a failed open.
            let _ = rows.resource_drop_async(&mut *store).await;
            return Err(trap);
        }
    };
    let columns: Vec<model::ResultColumn> = columns.into_iter().map(|c| result_column(c, tally)).collect();
    if let Err(error) = batches::check_columns(&columns) {
        rows.resource_drop_async(&mut *store).await?;
        return Ok(Err(model::Failure::new(model::ErrorKind::Protocol, error.to_string(), false)));
    }
    Ok(Ok(OpenedRows { rows, columns }))
}

/// The next batch of at most `max_rows` rows, checked against `columns`.
pub(super) async fn next_batch(
    bindings: &Plugin,
    store: &mut Store<StoreState>,
    rows: ResourceAny,
    columns: &[model::ResultColumn],
    max_rows: u32,
    tally: &Tally,
) -> Answer<Option<model::Batch>> {
    let returned = bindings.inlet_connector_connector().rows().call_next(store, rows, max_rows).await?;
    Ok(match returned {
        Ok(Some(batch)) => {
            let batch = self::batch(batch);
            match batches::check(&batch, columns, max_rows) {
                Ok(()) => Ok(Some(batch)),
                Err(error) => Err(model::Failure::new(model::ErrorKind::Protocol, error.to_string(), false)),
            }
        }
        Ok(None) => Ok(None),
        Err(error) => Err(model::Failure { error: self::error(error, tally), steps: Vec::new() }),
    })
}

fn parameter(parameter: &model::Parameter) -> wit::Parameter {
    match parameter {
        model::Parameter::Null => wit::Parameter::Null,
        model::Parameter::Boolean(value) => wit::Parameter::Boolean(*value),
        model::Parameter::Integer(value) => wit::Parameter::Integer(*value),
        model::Parameter::Float(value) => wit::Parameter::Float(*value),
        model::Parameter::Text(value) => wit::Parameter::Text(value.clone()),
        model::Parameter::Binary(value) => wit::Parameter::Binary(value.clone()),
    }
}

fn result_column(column: wit::ResultColumn, tally: &Tally) -> model::ResultColumn {
    model::ResultColumn {
        name: bound(column.name, limits::NAME, tally),
        data_type: bound(column.data_type, limits::TYPE_NAME, tally),
        native_type: bound(column.native_type, limits::TYPE_NAME, tally),
        nullable: column.nullable,
        precision: column.precision,
        scale: column.scale,
        time_unit: match column.time_unit {
            Some(wit::TimeUnit::Second) => model::TimeUnit::Second,
            Some(wit::TimeUnit::Millisecond) => model::TimeUnit::Millisecond,
            None | Some(wit::TimeUnit::Microsecond) => model::TimeUnit::Microsecond,
            Some(wit::TimeUnit::Nanosecond) => model::TimeUnit::Nanosecond,
        },
        time_zone: bound_opt(column.time_zone, limits::TYPE_NAME, tally),
    }
}

/// Moves a batch into the model without copying its vectors.
fn batch(batch: wit::Batch) -> model::Batch {
    let text = |t: wit::TextVector| model::TextVector { offsets: t.offsets, data: t.data };
    let columns = batch
        .columns
        .into_iter()
        .map(|column| model::ColumnValues {
            validity: column.validity,
            values: match column.values {
                wit::Values::Boolean(v) => model::Values::Boolean(v),
                wit::Values::Int16(v) => model::Values::Int16(v),
                wit::Values::Int32(v) => model::Values::Int32(v),
                wit::Values::Int64(v) => model::Values::Int64(v),
                wit::Values::Uint8(v) => model::Values::UInt8(v),
                wit::Values::Uint16(v) => model::Values::UInt16(v),
                wit::Values::Uint32(v) => model::Values::UInt32(v),
                wit::Values::Uint64(v) => model::Values::UInt64(v),
                wit::Values::Float32(v) => model::Values::Float32(v),
                wit::Values::Float64(v) => model::Values::Float64(v),
                wit::Values::Decimal(t) => model::Values::Decimal(text(t)),
                wit::Values::Utf8(t) => model::Values::Utf8(text(t)),
                wit::Values::Binary(b) => model::Values::Binary(model::ByteVector { offsets: b.offsets, data: b.data }),
                wit::Values::Date(v) => model::Values::Date(v),
                wit::Values::Time(v) => model::Values::Time(v),
                wit::Values::Timestamp(v) => model::Values::Timestamp(v),
                wit::Values::Json(t) => model::Values::Json(text(t)),
            },
        })
        .collect();
    model::Batch { row_count: batch.row_count, columns }
}
