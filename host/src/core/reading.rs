//! Reading data: a preview of one discovered object, or a statement in the
//! source's own language. The rules live here — limits and their caps, a
//! timeout within the data source's own, the type's declared capability,
//! the circuit breaker — and the rows come back as a [`RowStream`] that
//! pulls batches from the connector one at a time, so a large result
//! streams with bounded memory. A stream dropped before its end (a client
//! that went away) stops the work at the connector and returns the
//! connection to the pool once the connector has let go of the result.
//!
//! Every query (not a preview) is recorded as a `query_run` event: who,
//! the statement's SHA-256, rows, bytes, duration and outcome — never the
//! statement or its parameter values.

use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::App;
use super::domain::ConnectionSettings;
use super::error::{Error, Result};
use crate::auth::Principal;
use crate::db::{DataSourceRow, Db, NewEvent};
use crate::events::EventKind;
use crate::model::{Batch, ErrorKind, Failure, Parameter, PreviewRequest, QueryRequest, ResultColumn, RowsRequest};
use crate::pool::{Lease, Want};
use crate::runtime::OpenRows;

/// The documented limits of reading.
pub mod limits {
    /// Rows of a preview when the caller names no limit.
    pub const PREVIEW_DEFAULT_ROWS: u32 = 100;
    /// The most rows a preview may ask for.
    pub const PREVIEW_MAX_ROWS: u32 = 10_000;
    /// Rows of a query when the caller names no `max_rows`.
    pub const QUERY_DEFAULT_ROWS: u64 = 1_000;
    /// The most rows one query may return (server-wide).
    pub const QUERY_MAX_ROWS: u64 = 1_000_000;
    /// Rows asked of the connector per batch.
    pub const BATCH_ROWS: u32 = 4_096;
    /// A statement's length.
    pub const STATEMENT_BYTES: usize = 256 * 1024;
    /// Positional parameters of one statement.
    pub const PARAMETERS: usize = 1_000;
    /// Names in a preview's column list.
    pub const PREVIEW_COLUMNS: usize = 1_000;
}

/// A preview as a caller asks for it.
#[derive(Debug, Clone, Default)]
pub struct PreviewInput {
    pub schema: String,
    pub object: String,
    pub columns: Vec<String>,
    pub limit: Option<u32>,
}

/// A query as a caller asks for it.
#[derive(Debug, Clone, Default)]
pub struct QueryInput {
    pub statement: String,
    pub parameters: Vec<Parameter>,
    pub max_rows: Option<u64>,
    pub timeout_s: Option<u32>,
}

impl App {
    /// Opens a preview of one object of the data source.
    pub async fn preview(&self, row: &DataSourceRow, input: PreviewInput) -> Result<RowStream> {
        let limit = input.limit.unwrap_or(limits::PREVIEW_DEFAULT_ROWS);
        if !(1..=limits::PREVIEW_MAX_ROWS).contains(&limit) {
            return Err(Error::invalid("/limit", format!("must be between 1 and {}", limits::PREVIEW_MAX_ROWS)));
        }
        if input.object.is_empty() {
            return Err(Error::invalid("/table", "names the object to preview"));
        }
        if input.columns.len() > limits::PREVIEW_COLUMNS || input.columns.iter().any(String::is_empty) {
            return Err(Error::invalid(
                "/columns",
                format!("at most {} non-empty column names", limits::PREVIEW_COLUMNS),
            ));
        }
        self.readable(row).await?;
        let settings = ConnectionSettings::of_row(row);
        let timeout = Duration::from_secs(u64::from(settings.query_timeout_s));
        let request = RowsRequest::Preview(PreviewRequest {
            schema: input.schema,
            object: input.object,
            columns: input.columns,
            limit,
        });
        self.open_stream(row, request, u64::from(limit), timeout, None).await
    }

    /// Runs a statement on the data source, for types that declare `query`:
    /// members and admins, in an organization that has not switched
    /// querying off.
    pub async fn query(&self, row: &DataSourceRow, principal: &Principal, input: QueryInput) -> Result<RowStream> {
        if !principal.can_write() {
            return Err(Error::forbidden("viewers may preview data but not run queries"));
        }
        self.querying_allowed(&row.organization_id).await?;
        let actor = principal.actor.as_str();
        if input.statement.trim().is_empty() {
            return Err(Error::invalid("/statement", "must not be empty"));
        }
        if input.statement.len() > limits::STATEMENT_BYTES {
            return Err(Error::TooLarge {
                code: "statement_too_large",
                message: format!("a statement may be at most {} bytes", limits::STATEMENT_BYTES),
            });
        }
        if input.parameters.len() > limits::PARAMETERS {
            return Err(Error::invalid("/parameters", format!("at most {} parameters", limits::PARAMETERS)));
        }
        let max_rows = input.max_rows.unwrap_or(limits::QUERY_DEFAULT_ROWS);
        if !(1..=limits::QUERY_MAX_ROWS).contains(&max_rows) {
            return Err(Error::invalid("/max_rows", format!("must be between 1 and {}", limits::QUERY_MAX_ROWS)));
        }
        let settings = ConnectionSettings::of_row(row);
        let timeout_s = input.timeout_s.unwrap_or(settings.query_timeout_s);
        if !(1..=settings.query_timeout_s).contains(&timeout_s) {
            return Err(Error::invalid(
                "/timeout_s",
                format!("must be between 1 and the data source's query_timeout_s ({})", settings.query_timeout_s),
            ));
        }
        let found = self.readable(row).await?;
        if found.spec().query.is_none() {
            return Err(Error::rejected(
                "unsupported",
                format!("the type `{}` does not run queries; preview its tables instead", row.source_type),
            ));
        }
        let timeout = Duration::from_secs(u64::from(timeout_s));
        let audit = Audit {
            db: self.db().clone(),
            organization_id: row.organization_id.clone(),
            data_source_id: row.id.clone(),
            actor: actor.to_owned(),
            statement_sha256: hex::encode(Sha256::digest(input.statement.as_bytes())),
        };
        let request = RowsRequest::Query(QueryRequest {
            statement: input.statement,
            parameters: input.parameters,
            max_rows,
            timeout,
        });
        self.open_stream(row, request, max_rows, timeout, Some(audit)).await
    }

    /// The data source's type, when it may be read now: its connector is
    /// enabled and its circuit breaker admits calls.
    async fn readable(&self, row: &DataSourceRow) -> Result<crate::connectors::TypeRef> {
        let found =
            self.usable_type(&row.organization_id, &row.source_type, super::data_sources::TypeUse::Existing).await?;
        super::discovery::admit(row)?;
        Ok(found)
    }

    /// Borrows a connection and opens the result on it. A reused connection
    /// that turns out dead is dropped and the result opened once more on a
    /// new one.
    async fn open_stream(
        &self,
        row: &DataSourceRow,
        request: RowsRequest,
        max_rows: u64,
        timeout: Duration,
        audit: Option<Audit>,
    ) -> Result<RowStream> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut want = Want::Any;
        loop {
            let mut lease = match self.borrow(row, want).await? {
                Ok(lease) => lease,
                Err(failure) => return Err(Error::Source(audited(audit.as_ref(), failure, started).await.error)),
            };
            match lease.session().open_rows(&request, deadline).await {
                Ok(rows) => {
                    return Ok(RowStream {
                        lease: Some(lease),
                        rows: Some(rows),
                        deadline,
                        timeout,
                        rows_left: max_rows,
                        rows_read: 0,
                        bytes_read: 0,
                        started,
                        audit,
                    });
                }
                Err(error) => {
                    let failure = error.into_failure();
                    // A statement's own error leaves the connection sound.
                    let stale = lease.is_reused() && failure.error.kind == ErrorKind::Unreachable;
                    if is_statement_error(failure.error.kind) {
                        lease.release().await;
                    } else {
                        lease.discard().await;
                    }
                    if !stale {
                        return Err(Error::Source(audited(audit.as_ref(), failure, started).await.error));
                    }
                    self.pools().invalidate(&row.id).await;
                    want = Want::Fresh;
                }
            }
        }
    }
}

/// Errors a connector answers about the request itself, on a connection
/// that stays usable.
fn is_statement_error(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Config | ErrorKind::NotFound | ErrorKind::Permission | ErrorKind::Unsupported)
}

/// What a query's event needs.
struct Audit {
    db: Db,
    organization_id: String,
    data_source_id: String,
    actor: String,
    statement_sha256: String,
}

impl Audit {
    async fn record(&self, outcome: &str, rows: u64, bytes: u64, elapsed: Duration, error: Option<ErrorKind>) {
        let event = NewEvent {
            organization_id: &self.organization_id,
            data_source_id: Some(&self.data_source_id),
            kind: EventKind::QueryRun,
            payload: json!({
                "actor": self.actor,
                "statement_sha256": self.statement_sha256,
                "rows": rows,
                "bytes": bytes,
                "duration_ms": elapsed.as_millis() as u64,
                "outcome": outcome,
                "error_kind": error.map(ErrorKind::as_str),
            }),
        };
        if let Err(error) = self.db.record_event(&event).await {
            tracing::warn!(%error, data_source = %self.data_source_id, "cannot record a query event");
        }
    }
}

async fn audited(audit: Option<&Audit>, failure: Failure, started: Instant) -> Failure {
    if let Some(audit) = audit {
        audit.record("failed", 0, 0, started.elapsed(), Some(failure.error.kind)).await;
    }
    failure
}

/// The rows of a preview or query, pulled a batch at a time. End it with
/// [`RowStream::finish`]; dropping it early cancels the work.
pub struct RowStream {
    lease: Option<Lease>,
    rows: Option<OpenRows>,
    deadline: Instant,
    timeout: Duration,
    rows_left: u64,
    rows_read: u64,
    bytes_read: u64,
    started: Instant,
    audit: Option<Audit>,
}

impl RowStream {
    /// The columns of every batch.
    pub fn columns(&self) -> &[ResultColumn] {
        self.rows.as_ref().map_or(&[], |rows| rows.columns.as_slice())
    }

    /// The next batch, or `None` once the result ended or reached its row
    /// limit. A failure ends the stream (its connection is closed).
    pub async fn next(&mut self) -> Result<Option<Batch>, Failure> {
        if self.rows_left == 0 {
            return Ok(None);
        }
        if Instant::now() >= self.deadline && self.lease.is_some() {
            let failure = Failure::new(
                ErrorKind::Timeout,
                format!("the result was not read within {} s", self.timeout.as_secs()),
                true,
            );
            return Err(self.fail(failure).await);
        }
        let (Some(lease), Some(rows)) = (self.lease.as_mut(), self.rows.as_ref()) else { return Ok(None) };
        let ask = u32::try_from(self.rows_left.min(u64::from(limits::BATCH_ROWS))).unwrap_or(limits::BATCH_ROWS);
        match lease.session().next_batch(rows, ask, self.deadline).await {
            Ok(Some(batch)) => {
                self.rows_left = self.rows_left.saturating_sub(u64::from(batch.row_count));
                self.rows_read += u64::from(batch.row_count);
                self.bytes_read += batch.byte_size() as u64;
                Ok(Some(batch))
            }
            Ok(None) => {
                self.rows_left = 0;
                Ok(None)
            }
            Err(error) => Err(self.fail(error.into_failure()).await),
        }
    }

    /// Whether the result was cut at its row limit (more rows may exist).
    pub fn reached_limit(&self) -> bool {
        self.rows_left == 0
    }

    /// Ends the stream: the connector lets go of the result and the
    /// connection goes back to the pool.
    pub async fn finish(mut self) {
        self.close("succeeded").await;
    }

    async fn close(&mut self, outcome: &str) {
        let (Some(mut lease), Some(rows)) = (self.lease.take(), self.rows.take()) else { return };
        match lease.session().close_rows(rows).await {
            Ok(()) => lease.release().await,
            Err(error) => {
                tracing::debug!(%error, "a connector could not end a result; its connection is closed");
                lease.discard().await;
            }
        }
        if let Some(audit) = self.audit.take() {
            audit.record(outcome, self.rows_read, self.bytes_read, self.started.elapsed(), None).await;
        }
    }

    async fn fail(&mut self, failure: Failure) -> Failure {
        self.rows.take();
        if let Some(lease) = self.lease.take() {
            lease.discard().await;
        }
        if let Some(audit) = self.audit.take() {
            let elapsed = self.started.elapsed();
            audit.record("failed", self.rows_read, self.bytes_read, elapsed, Some(failure.error.kind)).await;
        }
        failure
    }
}

impl Drop for RowStream {
    fn drop(&mut self) {
        if self.lease.is_none() {
            return;
        }
        // Dropped mid-result (the client went away): end the result in the
        // background so the connector cancels and the connection is reused.
        let mut rest = RowStream {
            lease: self.lease.take(),
            rows: self.rows.take(),
            deadline: self.deadline,
            timeout: self.timeout,
            rows_left: 0,
            rows_read: self.rows_read,
            bytes_read: self.bytes_read,
            started: self.started,
            audit: self.audit.take(),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { rest.close("cancelled").await });
        }
    }
}
