//! Command-line interface: parsing, and each command as a small function.
//! anyhow lives here, at the binary's edge; the library has typed errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use inlet::api::{self, AppState};
use inlet::auth::{JwtConfig, Role, generate_token, hash_token};
use inlet::connectors::Connectors;
use inlet::core::App;
use inlet::db::{Db, NewToken, redact_url};
use inlet::exec::{self, ExecCommand, ExecOptions};
use inlet::plugin::package::Package;
use inlet::runtime::Runtime;
use inlet::settings::{Settings, var};
use inlet::vault::Keyring;
use inlet::workers::{Supervisor, WorkerSettings};

#[derive(Parser)]
#[command(name = "inlet", version, about = "Data source connections through sandboxed WebAssembly connectors")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (INLET_BIND, INLET_DATA_DIR, INLET_DATABASE_URL, INLET_PLUGINS_DIR, …).
    Serve,
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Workspaces of an organization.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The credential vault's keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Work with one plugin directory, without a server.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// The platform's plugins (what `/api/v1/plugins` does; a running server
    /// picks changes up within seconds).
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Every plugin, as JSON.
    List,
    /// Verify, compile and install a plugin directory (plugin.toml, plugin.wasm, plugin.sig).
    Install { dir: PathBuf },
    /// Replace a plugin with a newer version from a plugin directory.
    Upgrade { dir: PathBuf },
    /// Let a plugin's data sources run again.
    Enable { id: String },
    /// Stop a plugin: its types disappear and its data sources become inactive.
    Disable { id: String },
    /// Remove an installed plugin.
    Uninstall {
        id: String,
        /// Even while data sources use it (they become inactive).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization (with its default workspace and data key).
    Create {
        name: String,
        /// An individual account: one personal workspace.
        #[arg(long)]
        individual: bool,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace in an organization.
    Create {
        #[arg(long)]
        org: String,
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        /// The organization (omit only for platform-admin).
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        role: String,
        /// Workspaces a member or viewer may see (repeatable; default: the org's default workspace).
        #[arg(long = "workspace")]
        workspaces: Vec<String>,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the token expires.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke a token by its id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-wrap every organization's data key under the current master key.
    ///
    /// Rotation without downtime: set the new key as INLET_MASTER_KEY and the
    /// old one in INLET_PREVIOUS_MASTER_KEYS on every replica, run this, then
    /// drop the old key.
    Rotate,
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
        /// The schema of the object to preview.
        #[arg(long, default_value = "")]
        schema: String,
        /// The object (table, collection, file, …) to preview.
        #[arg(long)]
        table: Option<String>,
        /// Rows to preview.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// The statement to run (`query`).
        #[arg(long)]
        statement: Option<String>,
        /// Rows a query returns at most.
        #[arg(long, default_value_t = 1000)]
        max_rows: u64,
        command: ExecAction,
    },
    /// Create an ed25519 signing key for plugins: the key file (keep it
    /// secret) and, on the last line, the public key admins trust.
    Keygen {
        /// Where to write the key file (created with mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a plugin directory: writes DIR/plugin.sig over its wasm and manifest.
    Sign {
        dir: PathBuf,
        /// The key file from `inlet plugin keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Run the conformance suite against a plugin and print a report (exit 0 only if no check failed).
    Check(inlet::check::CheckArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ExecAction {
    Test,
    Discover,
    Preview,
    Query,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => serve().await,
        Command::Plugin { command: PluginCommand::Check(args) } => Ok(inlet::check::main(args).await),
        Command::Plugin { command: PluginCommand::Keygen { out } } => plugin_keygen(&out),
        Command::Plugin { command: PluginCommand::Sign { dir, key } } => plugin_sign(&dir, &key),
        Command::Plugin { command } => plugin(command).await,
        Command::Plugins { command } => plugins(command).await,
        Command::Org { command: OrgCommand::Create { name, individual } } => org_create(&name, individual).await,
        Command::Workspace { command: WorkspaceCommand::Create { org, name } } => workspace_create(&org, &name).await,
        Command::Token { command: TokenCommand::Create { org, role, workspaces, name, expires_in_days } } => {
            token_create(org.as_deref(), &role, &workspaces, &name, expires_in_days).await
        }
        Command::Token { command: TokenCommand::Revoke { id } } => token_revoke(&id).await,
        Command::Keys { command: KeysCommand::Rotate } => keys_rotate().await,
    }
}

/// The database and the keyring, as every admin command needs them.
async fn open_store(settings: &Settings) -> anyhow::Result<(Db, Keyring)> {
    inlet::data_dir::prepare(&settings.data_dir, settings.sqlite_file().as_deref())
        .with_context(|| format!("cannot create the data dir {}", settings.data_dir.display()))?;
    let url = settings.database_url();
    let db = Db::connect(&url).await.with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
    let (keyring, _source) = Keyring::load(
        var("INLET_MASTER_KEY").as_deref(),
        var("INLET_PREVIOUS_MASTER_KEYS").as_deref(),
        &settings.data_dir,
    )?;
    check_master_key(&db, &keyring).await?;
    Ok((db, keyring))
}

/// Fails at start, with a clear message, when the master key cannot open
/// the data keys already stored: a wrong key must not surface as 500s later.
async fn check_master_key(db: &Db, keyring: &Keyring) -> anyhow::Result<()> {
    if let Some(org) = db.orgs().await?.first() {
        keyring.unwrap_data_key(&org.id, &org.data_key).context(
            "the master key does not open this database's data keys: check INLET_MASTER_KEY (or the key file in the data dir)",
        )?;
    }
    Ok(())
}

/// The application core, with plugins as the database says (for `serve`
/// and the admin commands that act as the API does).
async fn app(settings: &Settings) -> anyhow::Result<App> {
    let (db, keyring) = open_store(settings).await?;
    if let Some(token) = var("INLET_BOOTSTRAP_ADMIN_TOKEN") {
        ensure_bootstrap_token(&db, &token).await?;
    }
    let runtime = Runtime::new(settings.runtime_config())?;
    let connectors = Connectors::load(runtime, &settings.plugins_dir, settings.sandbox.clone());
    let files = inlet::storage::FileStore::open(
        &settings.storage_backend,
        &settings.storage_cache_dir(),
        settings.storage_max_upload_bytes,
    )?;
    let app = App::new(db, keyring, connectors, settings, files);
    // The database decides which plugins run (installed ones, switches).
    app.start_plugins().await?;
    Ok(app)
}

async fn serve() -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env(false)?;
    let workers = WorkerSettings::from_settings(&settings)?;
    let jwt = jwt_config()?;
    let app = app(&settings).await?;
    inlet::data_dir::warn_if_loose(&settings.private_paths());
    let supervisor = Supervisor::start(&app, workers);
    let listener = tokio::net::TcpListener::bind(&settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    tracing::info!(
        address = %listener.local_addr()?,
        plugins = app.connectors().plugins().len(),
        workers = ?supervisor.names(),
        "inlet is serving; API docs at /docs"
    );
    let state = AppState::new(app, jwt, &settings);
    let served = axum::serve(listener, api::router(state)).with_graceful_shutdown(shutdown_signal()).await;
    supervisor.shutdown().await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a plugin directory as a package.
fn read_package(dir: &Path) -> anyhow::Result<Package> {
    let read =
        |name: &str| std::fs::read(dir.join(name)).with_context(|| format!("cannot read {}", dir.join(name).display()));
    let manifest = String::from_utf8(read("plugin.toml")?).context("plugin.toml is not UTF-8")?;
    let signature = match std::fs::read_to_string(dir.join("plugin.sig")) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).context("cannot read plugin.sig"),
    };
    Ok(Package { manifest, wasm: read("plugin.wasm")?, signature })
}

async fn plugins(command: PluginsCommand) -> anyhow::Result<ExitCode> {
    use inlet::core::plugins as admin;
    let settings = Settings::from_env(false)?;
    let app = app(&settings).await?;
    let actor = "cli";
    let failed = |e: inlet::core::Error| anyhow::anyhow!("{e} ({})", e.code());
    let answer = match command {
        PluginsCommand::List => serde_json::to_value(admin::plugin_infos(&app).await.map_err(failed)?)?,
        PluginsCommand::Install { dir } => {
            let package = read_package(&dir)?;
            serde_json::to_value(admin::install_package(&app, actor, &package).await.map_err(failed)?)?
        }
        PluginsCommand::Upgrade { dir } => {
            let package = read_package(&dir)?;
            let id = inlet::plugin::Manifest::parse(&package.manifest, "plugin.toml")?.id;
            serde_json::to_value(admin::upgrade_package(&app, actor, &id, &package).await.map_err(failed)?)?
        }
        PluginsCommand::Enable { id } => {
            serde_json::to_value(admin::switch_plugin(&app, actor, &id, true).await.map_err(failed)?)?
        }
        PluginsCommand::Disable { id } => {
            serde_json::to_value(admin::switch_plugin(&app, actor, &id, false).await.map_err(failed)?)?
        }
        PluginsCommand::Uninstall { id, force } => {
            admin::uninstall_plugin(&app, actor, &id, force).await.map_err(failed)?;
            serde_json::json!({ "uninstalled": id })
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}

fn plugin_keygen(out: &Path) -> anyhow::Result<ExitCode> {
    let (key_file, public_key) = inlet::plugin::signature::generate_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(out).with_context(|| format!("cannot create {} (it must not exist)", out.display()))?;
    std::io::Write::write_all(&mut file, key_file.as_bytes())?;
    eprintln!("signing key written to {}; trust it with INLET_TRUSTED_PLUGIN_KEYS=<public key>", out.display());
    println!("{public_key}");
    Ok(ExitCode::SUCCESS)
}

fn plugin_sign(dir: &Path, key: &Path) -> anyhow::Result<ExitCode> {
    let key_text = std::fs::read_to_string(key).with_context(|| format!("cannot read {}", key.display()))?;
    let key = inlet::plugin::signature::read_key(&key_text)?;
    let package = read_package(dir)?;
    // Only the identity is read: signing vouches for the bytes, and the
    // host judges the manifest itself at install.
    let manifest: toml::Table = package.manifest.parse().context("plugin.toml is not TOML")?;
    let field = |name: &str| {
        manifest.get(name).and_then(toml::Value::as_str).with_context(|| format!("plugin.toml has no `{name}`"))
    };
    let signature = inlet::plugin::signature::SignatureFile::sign(
        &key,
        field("id")?,
        field("version")?,
        &package.wasm,
        package.manifest.as_bytes(),
    );
    std::fs::write(dir.join("plugin.sig"), serde_json::to_string_pretty(&signature)?)?;
    println!("{}", dir.join("plugin.sig").display());
    Ok(ExitCode::SUCCESS)
}

/// Ensures a platform-admin token with exactly this value exists.
async fn ensure_bootstrap_token(db: &Db, token: &str) -> anyhow::Result<()> {
    if token.len() < 16 {
        bail!("INLET_BOOTSTRAP_ADMIN_TOKEN must be at least 16 characters");
    }
    let hash = hash_token(token);
    if db.token_by_hash(&hash).await?.is_none() {
        let new = NewToken {
            token_hash: &hash,
            org_id: None,
            user_id: None,
            role: Role::PlatformAdmin.as_str(),
            name: "bootstrap",
            expires_at: None,
            workspace_ids: &[],
        };
        db.create_token(&new).await?;
        tracing::info!("bootstrap platform-admin token created");
    }
    Ok(())
}

fn jwt_config() -> anyhow::Result<Option<JwtConfig>> {
    let config = if let Some(secret) = var("INLET_JWT_HS256_SECRET") {
        JwtConfig::hs256(secret.as_bytes())?
    } else if let Some(path) = var("INLET_JWT_RS256_PUBLIC_KEY_FILE") {
        let pem = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;
        JwtConfig::rs256(&pem)?
    } else {
        return Ok(None);
    };
    let (issuer, audience) = (var("INLET_JWT_ISSUER"), var("INLET_JWT_AUDIENCE"));
    Ok(Some(config.with_issuer_and_audience(issuer.as_deref(), audience.as_deref())))
}

async fn org_create(name: &str, individual: bool) -> anyhow::Result<ExitCode> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        bail!("an organization name is 1-200 characters");
    }
    let settings = Settings::from_env(false)?;
    let (db, keyring) = open_store(&settings).await?;
    let id = inlet::db::new_id();
    let (_key, wrapped) = keyring.generate_data_key(&id)?;
    let kind = if individual { "individual" } else { "organization" };
    let org = db.create_org(name, kind, &id, &wrapped).await?;
    println!("{}", org.id);
    Ok(ExitCode::SUCCESS)
}

async fn workspace_create(org: &str, name: &str) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env(false)?;
    let (db, _) = open_store(&settings).await?;
    let org = db.org_by_name(org).await?.with_context(|| format!("no organization named `{org}`"))?;
    if org.kind == "individual" {
        bail!("`{}` is an individual account: it has one personal workspace", org.name);
    }
    let workspace = db.create_workspace(&org.id, name.trim()).await?;
    println!("{}", workspace.id);
    Ok(ExitCode::SUCCESS)
}

async fn token_create(
    org: Option<&str>,
    role: &str,
    workspaces: &[String],
    name: &str,
    expires_in_days: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    let settings = Settings::from_env(false)?;
    let (db, _) = open_store(&settings).await?;
    let (org_id, workspace_ids) = match (org, role) {
        (None, Role::PlatformAdmin) => (None, Vec::new()),
        (None, _) => bail!("--org is required for role {role}"),
        (Some(org), _) => {
            let org = db.org_by_name(org).await?.with_context(|| format!("no organization named `{org}`"))?;
            let mut ids = Vec::new();
            if role < Role::OrgAdmin {
                if workspaces.is_empty() {
                    ids.push(db.default_workspace(&org.id).await?.id);
                }
                for name in workspaces {
                    let workspace = db
                        .workspace_by_name(&org.id, name)
                        .await?
                        .with_context(|| format!("no workspace `{name}` in `{}`", org.name))?;
                    ids.push(workspace.id);
                }
            }
            (Some(org.id), ids)
        }
    };
    let expires_at = expires_in_days
        .map(|days| inlet::db::format_time(time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days))));
    let token = generate_token();
    let user_id = db.create_user(org_id.as_deref(), name).await?;
    let hash = hash_token(&token);
    let new = NewToken {
        token_hash: &hash,
        org_id: org_id.as_deref(),
        user_id: Some(&user_id),
        role: role.as_str(),
        name,
        expires_at: expires_at.as_deref(),
        workspace_ids: &workspace_ids,
    };
    let row = db.create_token(&new).await?;
    eprintln!("token id {} (role {role}); it is shown once:", row.id);
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

async fn token_revoke(id: &str) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env(false)?;
    let (db, _) = open_store(&settings).await?;
    if !db.revoke_token(id).await? {
        bail!("no live token with id {id}");
    }
    println!("revoked {id}");
    Ok(ExitCode::SUCCESS)
}

async fn keys_rotate() -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env(false)?;
    inlet::data_dir::prepare(&settings.data_dir, settings.sqlite_file().as_deref())?;
    let url = settings.database_url();
    let db = Db::connect(&url).await.with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
    let (keyring, _) = Keyring::load(
        var("INLET_MASTER_KEY").as_deref(),
        var("INLET_PREVIOUS_MASTER_KEYS").as_deref(),
        &settings.data_dir,
    )?;
    let (mut rewrapped, mut current) = (0, 0);
    for org in db.orgs().await? {
        match keyring.rewrap(&org.id, &org.data_key)? {
            Some(wrapped) => {
                if db.rewrap_org_key(&org.id, &org.data_key, &wrapped).await? {
                    rewrapped += 1;
                }
            }
            None => current += 1,
        }
    }
    println!("re-wrapped {rewrapped} organization keys under key {}; {current} already current", keyring.primary_id());
    Ok(ExitCode::SUCCESS)
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
        schema,
        table,
        limit,
        statement,
        max_rows,
        command,
    } = command
    else {
        unreachable!("`plugin check|keygen|sign` are dispatched in `run`")
    };
    let settings = Settings::from_env(true)?;
    let options = ExecOptions {
        plugin_dir: dir,
        source_type,
        config_file: config,
        secrets_file: secrets,
        command: match command {
            ExecAction::Test => ExecCommand::Test,
            ExecAction::Discover => ExecCommand::Discover,
            ExecAction::Preview => ExecCommand::Preview,
            ExecAction::Query => ExecCommand::Query,
        },
        connect_timeout: Duration::from_secs(connect_timeout_s.max(1)),
        query_timeout: Duration::from_secs(query_timeout_s.max(1)),
        page_size: page_size.max(1),
        include_schemas,
        exclude_schemas,
        schema,
        table,
        limit: limit.max(1),
        statement,
        max_rows: max_rows.max(1),
    };
    let outcome = exec::run(&settings, &options).await;
    println!("{}", serde_json::to_string_pretty(&outcome.output)?);
    Ok(if outcome.success { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Ctrl-C or SIGTERM (what a service manager or container runtime sends).
async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// Logs go to stderr (stdout is for command output), filtered by `RUST_LOG`
/// (default `info`); `INLET_LOG_FORMAT=json` for machine-readable lines. The
/// text format escapes control characters in every field (see `log_format`).
/// russh is held at `warn` whatever `RUST_LOG` says: at trace level it logs
/// decrypted packets, passwords and tunnelled traffic included.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let filter = match inlet::tunnel::RUSSH_LOG_DIRECTIVE.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("INLET_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.fmt_fields(inlet::log_format::EscapedFields::default()).init();
    }
}
