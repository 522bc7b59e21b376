//! The `inlet` binary: the server and the admin/author CLI.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use inlet::exec::{self, ExecCommand, ExecOptions};
use inlet::runtime::Runtime;
use inlet::server::{self, PluginSummary};
use inlet::settings::Settings;

#[derive(Parser)]
#[command(name = "inlet", version, about = "Data source connections through sandboxed WebAssembly connectors")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (INLET_BIND, INLET_DATA_DIR, INLET_PLUGINS_DIR, …).
    Serve,
    /// Work with one plugin directory, without a server.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run a connector by hand and print the result as JSON.
    Exec {
        /// The plugin directory (plugin.toml + plugin.wasm).
        dir: PathBuf,
        /// The data source type, e.g. `postgresql`.
        #[arg(long = "type")]
        source_type: String,
        /// A JSON file with the (non-secret) config.
        #[arg(long)]
        config: PathBuf,
        /// A JSON file with the secret fields (`{"password": "…"}`).
        #[arg(long)]
        secrets: Option<PathBuf>,
        #[arg(long, default_value_t = 30)]
        connect_timeout_s: u64,
        #[arg(long, default_value_t = 300)]
        query_timeout_s: u64,
        /// Tables per discover page.
        #[arg(long, default_value_t = 500)]
        page_size: u32,
        /// Discover only this schema (repeatable).
        #[arg(long = "include-schema")]
        include_schemas: Vec<String>,
        /// Never discover this schema (repeatable).
        #[arg(long = "exclude-schema")]
        exclude_schemas: Vec<String>,
        command: ExecAction,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExecAction {
    Test,
    Discover,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => serve().await,
        Command::Plugin { command } => plugin(command).await,
    }
}

async fn plugin(command: PluginCommand) -> anyhow::Result<ExitCode> {
    let PluginCommand::Exec {
        dir,
        source_type,
        config,
        secrets,
        connect_timeout_s,
        query_timeout_s,
        page_size,
        include_schemas,
        exclude_schemas,
        command,
    } = command;
    let settings = Settings::from_env(true)?;
    let options = ExecOptions {
        plugin_dir: dir,
        source_type,
        config_file: config,
        secrets_file: secrets,
        command: match command {
            ExecAction::Test => ExecCommand::Test,
            ExecAction::Discover => ExecCommand::Discover,
        },
        connect_timeout: Duration::from_secs(connect_timeout_s.max(1)),
        query_timeout: Duration::from_secs(query_timeout_s.max(1)),
        page_size: page_size.max(1),
        include_schemas,
        exclude_schemas,
    };
    let outcome = exec::run(&settings, &options).await;
    println!("{}", serde_json::to_string_pretty(&outcome.output)?);
    Ok(if outcome.success { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn serve() -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env(false)?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create the data dir {}", settings.data_dir.display()))?;
    let runtime = Runtime::new(settings.runtime_config())?;
    let plugins = load_plugins(&runtime, &settings)?;
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    tracing::info!(address = %listener.local_addr()?, plugins = plugins.len(), "inlet is serving");
    axum::serve(listener, server::router(Arc::new(plugins)))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// Loads every `<plugins dir>/<id>/` with a plugin.toml; a broken plugin is
/// logged and skipped so that one bad upload cannot take the server down.
fn load_plugins(runtime: &Runtime, settings: &Settings) -> anyhow::Result<Vec<PluginSummary>> {
    let mut loaded = Vec::new();
    let entries = match std::fs::read_dir(&settings.plugins_dir) {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(dir = %settings.plugins_dir.display(), %error, "no plugins directory; serving without connectors");
            return Ok(loaded);
        }
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("plugin.toml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        match runtime.load_plugin(&dir) {
            Ok(plugin) => loaded.push(PluginSummary {
                id: plugin.manifest.id.clone(),
                version: plugin.manifest.version.to_string(),
                api_version: plugin.manifest.api_version.clone(),
                types: plugin.manifest.types.iter().map(|t| t.id.clone()).collect(),
                sha256: plugin.sha256.clone(),
            }),
            Err(error) => tracing::error!(dir = %dir.display(), %error, "plugin refused"),
        }
    }
    Ok(loaded)
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

/// Logs go to stderr (stdout is for command output), filtered by `RUST_LOG`
/// (default `info`); `INLET_LOG_FORMAT=json` for machine-readable lines.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("INLET_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
