//! `inlet plugin exec`: runs one connector by hand, without a server, and
//! answers in JSON. The tool a connector author lives in while writing one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{CheckStep, DiscoverRequest, ErrorKind, Failure, Schema};
use crate::plugin::Secrets;
use crate::runtime::{CallError, ConnectInput, LoadedPlugin, Runtime, Session};
use crate::settings::Settings;
use crate::source;

/// Pages a plugin may return in one `discover` run, so a connector whose
/// page token never ends cannot keep the command running forever.
const MAX_PAGES: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecCommand {
    Test,
    Discover,
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
    let source_type = plugin.manifest.source_type(&options.source_type).ok_or_else(|| {
        let known: Vec<&str> = plugin.manifest.types.iter().map(|t| t.id.as_str()).collect();
        Failure::new(
            ErrorKind::Config,
            format!("plugin `{}` has no type `{}` (it has: {})", plugin.manifest.id, options.source_type, known.join(", ")),
            false,
        )
    })?;
    let prepared = source::prepare(source_type, config, secrets, &settings.sandbox, options.connect_timeout).await?;
    let input = ConnectInput {
        source_type: &options.source_type,
        config: &prepared.config,
        secrets,
        endpoint: prepared.endpoint,
        connect_timeout: options.connect_timeout,
        query_timeout: options.query_timeout,
    };
    plugin.connect(&input, &prepared.grants).await.map_err(CallError::into_failure)
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
    let mut request = DiscoverRequest {
        include_schemas: options.include_schemas.clone(),
        exclude_schemas: options.exclude_schemas.clone(),
        page_token: None,
        page_size: options.page_size,
    };
    let mut schemas: Vec<Schema> = Vec::new();
    let mut pages = 0u32;
    loop {
        let page = match session.discover(&request).await {
            Ok(page) => page,
            Err(error) => return ExecOutcome::failed(&error.into_failure()),
        };
        pages += 1;
        merge_page(&mut schemas, page.schemas);
        match page.next_page_token {
            None => break,
            Some(token) if Some(&token) == request.page_token.as_ref() || pages >= MAX_PAGES => {
                return ExecOutcome::failed_with(
                    ErrorKind::Protocol,
                    format!("the connector's page token stopped advancing after {pages} pages"),
                );
            }
            Some(token) => request.page_token = Some(token),
        }
    }
    let output = json!({ "ok": true, "pages": pages, "schemas": schemas });
    ExecOutcome { output, success: true }
}

/// Appends a page to the catalog; a schema split across pages becomes one.
fn merge_page(catalog: &mut Vec<Schema>, page: Vec<Schema>) {
    for schema in page {
        match catalog.iter_mut().find(|s| s.name == schema.name) {
            Some(existing) => existing.tables.extend(schema.tables),
            None => catalog.push(schema),
        }
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
            format!("the {what} file {} is not valid JSON (line {}, column {})", path.display(), error.line(), error.column()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObjectKind, Table};

    fn schema(name: &str, tables: &[&str]) -> Schema {
        Schema {
            name: name.into(),
            tables: tables
                .iter()
                .map(|t| Table {
                    name: (*t).into(),
                    kind: ObjectKind::Table,
                    columns: vec![],
                    constraints: vec![],
                    comment: None,
                    row_estimate: None,
                    size_bytes: None,
                })
                .collect(),
        }
    }

    #[test]
    fn pages_merge_schemas_split_across_them() {
        let mut catalog = Vec::new();
        merge_page(&mut catalog, vec![schema("a", &["t1"])]);
        merge_page(&mut catalog, vec![schema("a", &["t2"]), schema("b", &["t3"])]);
        assert_eq!(catalog.len(), 2);
        assert_eq!(catalog[0].tables.len(), 2);
    }

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
