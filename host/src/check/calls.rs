//! Calling the plugin for the checks: a session opened the way the server
//! opens one (validate, resolve under the egress policy, grant, connect),
//! every call timed against its deadline, and every way a call can end said
//! in the checker's terms — a connector error, a refusal by the host, or a
//! breach of the sandbox's limits (timeout, memory, trap).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::budgets::Budgets;
use crate::connectors::Timeouts;
use crate::model::{DiscoverPage, DiscoverRequest, ErrorKind, Failure, TestReport};
use crate::plugin::{Secrets, SourceType};
use crate::runtime::{CallError, ConnectInput, LoadedPlugin, Session};
use crate::source::{self, Route, SandboxSettings};

/// Why a call gave no answer.
#[derive(Debug)]
pub enum Stop {
    /// The host refused before any plugin code ran (schema, egress, file grant).
    Refused(Failure),
    Call(CallError),
}

impl Stop {
    /// One line for the report, led by what happened.
    pub fn describe(&self) -> String {
        match self {
            Self::Refused(failure) => format!(
                "refused by the host before any plugin code ran: {}: {}",
                failure.error.kind.as_str(),
                failure.error.message
            ),
            Self::Call(CallError::Connector(failure)) => {
                format!("{}: {}", failure.error.kind.as_str(), failure.error.message)
            }
            Self::Call(error @ CallError::Timeout { .. }) => format!("timeout: {error}; the host stopped it"),
            Self::Call(error @ CallError::MemoryLimit { .. }) => format!("memory: {error}"),
            Self::Call(error @ CallError::Trap(_)) => format!("trap: {error}"),
            Self::Call(error) => format!("internal: {error}"),
        }
    }

    /// The kind a connector reported, when it answered with an error.
    pub fn connector_kind(&self) -> Option<ErrorKind> {
        match self {
            Self::Call(CallError::Connector(failure)) => Some(failure.error.kind),
            _ => None,
        }
    }

    /// Whether the sandbox had to step in: the plugin broke a limit or crashed.
    pub fn is_breach(&self) -> bool {
        matches!(
            self,
            Self::Call(
                CallError::Timeout { .. }
                    | CallError::MemoryLimit { .. }
                    | CallError::ResourceLimit(_)
                    | CallError::Trap(_)
                    | CallError::Instantiate(_)
            )
        )
    }
}

/// Opens sessions and makes calls, keeping what the limits check reports.
pub struct Caller<'a> {
    plugin: &'a LoadedPlugin,
    sandbox: &'a SandboxSettings,
    pub timeouts: Timeouts,
    /// Breaches of the sandbox's limits, as `call: what happened`.
    pub breaches: Vec<String>,
    /// The slowest call, against its deadline: (call, took, deadline).
    pub slowest: Option<(&'static str, Duration, Duration)>,
    /// The most linear memory a session held.
    pub peak_memory_bytes: usize,
    /// The most any session needed from the bounds on values and logs.
    pub budgets: Budgets,
}

impl<'a> Caller<'a> {
    pub fn new(plugin: &'a LoadedPlugin, sandbox: &'a SandboxSettings, timeouts: Timeouts) -> Self {
        Self {
            plugin,
            sandbox,
            timeouts,
            breaches: Vec::new(),
            slowest: None,
            peak_memory_bytes: 0,
            budgets: Budgets::default(),
        }
    }

    pub fn memory_limit_bytes(&self) -> usize {
        self.plugin.memory_limit_bytes()
    }

    fn note<T>(&mut self, call: &'static str, took: Duration, deadline: Duration, outcome: &Result<T, Stop>) {
        if self.slowest.is_none_or(|(_, slowest, _)| took > slowest) {
            self.slowest = Some((call, took, deadline));
        }
        if let Err(stop) = outcome
            && stop.is_breach()
        {
            self.breaches.push(format!("{call}: {}", stop.describe()));
        }
    }

    pub fn measure(&mut self, session: &Session) {
        self.peak_memory_bytes = self.peak_memory_bytes.max(session.memory_bytes());
        self.budgets = self.budgets.max(Budgets::of(&session.bounds_usage()));
    }

    /// Validates, resolves, grants and connects, like the server.
    pub async fn open(&mut self, spec: &SourceType, config: &Value, secrets: &Secrets) -> Result<Session, Stop> {
        let timeouts = self.timeouts;
        let mut prepared = source::prepare(spec, config, secrets, self.sandbox, timeouts.connect, &Route::default())
            .await
            .map_err(Stop::Refused)?;
        if let Some(http) = &mut prepared.grants.http {
            http.io_timeout = timeouts.query;
        }
        let input = ConnectInput {
            source_type: &spec.id,
            config: &prepared.config,
            secrets,
            endpoint: prepared.endpoint,
            connect_timeout: timeouts.connect,
            query_timeout: timeouts.query,
        };
        let started = Instant::now();
        let outcome = self.plugin.connect(&input, &prepared.grants).await.map_err(Stop::Call);
        self.note("connect", started.elapsed(), timeouts.connect, &outcome);
        if let Ok(session) = &outcome {
            self.measure(session);
        }
        outcome
    }

    pub async fn test(&mut self, session: &mut Session) -> Result<TestReport, Stop> {
        let started = Instant::now();
        let outcome = session.test().await.map_err(Stop::Call);
        self.note("test", started.elapsed(), self.timeouts.query, &outcome);
        self.measure(session);
        outcome
    }

    pub async fn discover(&mut self, session: &mut Session, request: &DiscoverRequest) -> Result<DiscoverPage, Stop> {
        let started = Instant::now();
        let outcome = session.discover(request).await.map_err(Stop::Call);
        self.note("discover", started.elapsed(), self.timeouts.query, &outcome);
        self.measure(session);
        outcome
    }

    /// Previews `limit` rows of one object: the columns and every row count.
    pub async fn preview(
        &mut self,
        session: &mut Session,
        request: &crate::model::RowsRequest,
        limit: u32,
    ) -> Result<(Vec<crate::model::ResultColumn>, u64), Stop> {
        let started = Instant::now();
        let deadline = started + self.timeouts.query;
        let outcome = async {
            let rows = session.open_rows(request, deadline).await?;
            let mut count = 0u64;
            // One row more than asked shows a connector that ignores the limit.
            while let Some(batch) = session.next_batch(&rows, limit + 1, deadline).await? {
                count += u64::from(batch.row_count);
                if count > u64::from(limit) {
                    break;
                }
            }
            let columns = rows.columns.clone();
            session.close_rows(rows).await?;
            Ok((columns, count))
        }
        .await
        .map_err(Stop::Call);
        self.note("preview", started.elapsed(), self.timeouts.query, &outcome);
        self.measure(session);
        outcome
    }
}
