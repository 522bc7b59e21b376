//! `inlet plugin exec`: runs one connector by hand, without a server, and
//! answers in JSON. The tool a connector author lives in while writing one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::connectors::{self, Timeouts};
use crate::model::{CheckStep, DiscoverRequest, ErrorKind, Failure, PreviewRequest, QueryRequest, RowsRequest};
use crate::plugin::Secrets;
use crate::results;
use crate::runtime::{LoadedPlugin, Runtime, Session};
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecCommand {
    Test,
    Discover,
    /// The first rows of `--table` (in `--schema`).
    Preview,
    /// `--statement` with `--max-rows`.
    Query,
}

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub plugin_dir: PathBuf,
    pub source_type: String,
    pub config_file: PathBuf,
    pub secrets_file: Option<PathBuf>,
    pub command: ExecCommand,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
    pub page_size: u32,
    pub include_schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
    /// What `preview` reads.
    pub schema: String,
    pub table: Option<String>,
    pub limit: u32,
    /// What `query` runs.
    pub statement: Option<String>,
    pub max_rows: u64,
}

/// What the command prints, and whether it succeeded.
#[derive(Debug)]
pub struct ExecOutcome {
    pub output: Value,
    pub success: bool,
}

#[derive(Serialize)]
struct FailureOutput<'a> {
    ok: bool,
    error: &'a crate::model::ConnectorError,
    steps: &'a [CheckStep],
}

impl ExecOutcome {
    fn failed(failure: &Failure) -> Self {
        let output = FailureOutput { ok: false, error: &failure.error, steps: &failure.steps };
        Self { output: serde_json::to_value(output).unwrap_or(Value::Null), success: false }
    }

    fn failed_with(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::failed(&Failure::new(kind, message, false))
    }
}

pub async fn run(settings: &Settings, options: &ExecOptions) -> ExecOutcome {
    let config = match read_json(&options.config_file, "config") {
        Ok(config) => config,
        Err(outcome) => return outcome,
    };
    let secrets = match &options.secrets_file {
        None => Secrets::new(),
        Some(path) => match read_json(path, "secrets").map(Secrets::from_json) {
            Ok(Ok(secrets)) => secrets,
            Ok(Err(error)) => return ExecOutcome::failed_with(ErrorKind::Config, error.to_string()),
            Err(outcome) => return outcome,
        },
    };
    let runtime = match Runtime::new(settings.runtime_config()) {
        Ok(runtime) => runtime,
        Err(error) => return ExecOutcome::failed_with(ErrorKind::Internal, error.to_string()),
    };
    let plugin = match runtime.load_plugin(&options.plugin_dir) {
        Ok(plugin) => plugin,
        Err(error) => return ExecOutcome::failed_with(ErrorKind::Internal, error.to_string()),
    };
    let started = Instant::now();
    let mut session = match connect(settings, &plugin, options, &config, &secrets).await {
        Ok(session) => session,
        Err(failure) => return ExecOutcome::failed(&failure),
    };
    let outcome = match options.command {
        ExecCommand::Test => test(&mut session, started).await,
        ExecCommand::Discover => discover(&mut session, options).await,
        ExecCommand::Preview | ExecCommand::Query => read_rows(&mut session, options).await,
    };
    session.close().await;
    outcome
}

async fn connect(
    settings: &Settings,
    plugin: &LoadedPlugin,
    options: &ExecOptions,
    config: &Value,
    secrets: &Secrets,
) -> Result<Session, Failure> {
    let spec = plugin.manifest.source_type(&options.source_type).ok_or_else(|| {
        let known: Vec<&str> = plugin.manifest.types.iter().map(|t| t.id.as_str()).collect();
        Failure::new(
            ErrorKind::Config,
            format!(
                "plugin `{}` has no type `{}` (it has: {})",
                plugin.manifest.id,
                options.source_type,
                known.join(", ")
            ),
            false,
        )
    })?;
    let timeouts = Timeouts { connect: options.connect_timeout, query: options.query_timeout };
    connectors::open_session(
        plugin,
        spec,
        config,
        secrets,
        &settings.sandbox,
        timeouts,
        &crate::source::Route::default(),
    )
    .await
}

async fn test(session: &mut Session, started: Instant) -> ExecOutcome {
    let mut steps = session.connect_steps.clone();
    match session.test().await {
        Ok(report) => {
            steps.extend(report.steps);
            let output = json!({
                "ok": true,
                "server_version": report.server_version,
                "steps": steps,
                "duration_ms": started.elapsed().as_millis() as u64,
            });
            ExecOutcome { output, success: true }
        }
        Err(error) => {
            let mut failure = error.into_failure();
            steps.append(&mut failure.steps);
            failure.steps = steps;
            ExecOutcome::failed(&failure)
        }
    }
}

async fn discover(session: &mut Session, options: &ExecOptions) -> ExecOutcome {
    let request = DiscoverRequest {
        include_schemas: options.include_schemas.clone(),
        exclude_schemas: options.exclude_schemas.clone(),
        page_token: None,
        page_size: options.page_size,
    };
    match connectors::discover_all(session, request).await {
        Ok((schemas, pages)) => {
            ExecOutcome { output: json!({ "ok": true, "pages": pages, "schemas": schemas }), success: true }
        }
        Err(failure) => ExecOutcome::failed(&failure),
    }
}

/// Runs a preview or query and prints every row (for authors: results
/// are small; the server streams large ones).
async fn read_rows(session: &mut Session, options: &ExecOptions) -> ExecOutcome {
    let (request, max_rows) = match options.command {
        ExecCommand::Query => {
            let Some(statement) = options.statement.clone() else {
                return ExecOutcome::failed_with(ErrorKind::Config, "query needs --statement");
            };
            let query = QueryRequest {
                statement,
                parameters: Vec::new(),
                max_rows: options.max_rows,
                timeout: options.query_timeout,
            };
            (RowsRequest::Query(query), options.max_rows)
        }
        _ => {
            let Some(table) = options.table.clone() else {
                return ExecOutcome::failed_with(ErrorKind::Config, "preview needs --table");
            };
            let preview = PreviewRequest {
                schema: options.schema.clone(),
                object: table,
                columns: Vec::new(),
                limit: options.limit,
            };
            (RowsRequest::Preview(preview), u64::from(options.limit))
        }
    };
    let deadline = Instant::now() + options.query_timeout;
    let rows = match session.open_rows(&request, deadline).await {
        Ok(rows) => rows,
        Err(error) => return ExecOutcome::failed(&error.into_failure()),
    };
    let mut read = Vec::new();
    let mut row_count = 0u64;
    while row_count < max_rows {
        let ask = u32::try_from((max_rows - row_count).min(4096)).unwrap_or(4096);
        match session.next_batch(&rows, ask, deadline).await {
            Ok(Some(batch)) => {
                row_count += u64::from(batch.row_count);
                read.extend(results::text::json_rows(&rows.columns, &batch));
            }
            Ok(None) => break,
            Err(error) => return ExecOutcome::failed(&error.into_failure()),
        }
    }
    let columns: Vec<Value> = rows.columns.iter().map(results::column_json).collect();
    if let Err(error) = session.close_rows(rows).await {
        return ExecOutcome::failed(&error.into_failure());
    }
    ExecOutcome {
        output: json!({ "ok": true, "columns": columns, "rows": read, "row_count": row_count }),
        success: true,
    }
}

fn read_json(path: &Path, what: &str) -> Result<Value, ExecOutcome> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ExecOutcome::failed_with(ErrorKind::Config, format!("cannot read the {what} file {}: {error}", path.display()))
    })?;
    serde_json::from_str(&text).map_err(|error| {
        // The message names the position only: a secrets file's content must not be echoed.
        ExecOutcome::failed_with(
            ErrorKind::Config,
            format!(
                "the {what} file {} is not valid JSON (line {}, column {})",
                path.display(),
                error.line(),
                error.column()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secrets_file_that_is_not_json_is_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        std::fs::write(&path, "{\"password\": hunter2}").unwrap();
        let outcome = read_json(&path, "secrets").unwrap_err();
        assert!(!outcome.output.to_string().contains("hunter2"));
        assert_eq!(outcome.output["error"]["kind"], "config");
    }
}
