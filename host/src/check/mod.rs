//! `inlet plugin check DIR`: the conformance suite a connector author runs
//! before shipping, and that the platform can run before installing. It runs
//! a plugin against its own manifest and prints one line per check.
//!
//! - [`report`] — results (pass / warn / fail / skip) and their rendering;
//! - [`schema`] — each type's config schema: valid, secrets marked, closed;
//! - [`invalid`] — bad configs are refused by the host, naming the field;
//! - [`calls`] — sessions opened like the server's, calls timed, breaches named;
//! - [`probe`] — a config that points nowhere fails cleanly;
//! - [`catalog`] — discover pages terminate and are well-formed;
//! - [`live`] — connect, test, discover and limits with a working config;
//! - [`budgets`] — how near the connector came to the bounds on values and logs;
//! - [`signature`] — `plugin.sig` judged as an install here would judge it.
//!
//! The checker treats the plugin as hostile, like the server does: every
//! call runs in the sandbox under a deadline and a memory cap, so a plugin
//! that spins, bombs or panics fails its check and the checker goes on.

pub mod budgets;
pub mod calls;
pub mod catalog;
pub mod invalid;
pub mod live;
pub mod probe;
pub mod report;
pub mod schema;
pub mod signature;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::connectors::Timeouts;
use crate::plugin::{Manifest, Secrets, SourceType};
use crate::runtime::Runtime;
use crate::sandbox::Grants;
use crate::settings::Settings;
pub use report::{Check, Report, Status};

/// A check of a type's manifest entry alone.
type StaticCheck = fn(&SourceType) -> schema::Finding;

/// What to check, and how hard.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// A plugin directory: `plugin.toml` and `plugin.wasm`.
    pub plugin_dir: PathBuf,
    /// The type the working config is for (optional with one type).
    pub source_type: Option<String>,
    /// A working config: without it the live checks are skipped.
    pub config_file: Option<PathBuf>,
    pub secrets_file: Option<PathBuf>,
    pub timeouts: Timeouts,
    /// Tables per discover page.
    pub page_size: u32,
    pub max_pages: u32,
}

/// `inlet plugin check`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The plugin directory (plugin.toml + plugin.wasm), e.g. target/plugins/<id>.
    pub dir: PathBuf,
    /// The data source type the --config is for (needed when the plugin has several).
    #[arg(long = "type")]
    pub source_type: Option<String>,
    /// A JSON file with a working (non-secret) config: enables connect, test and discover.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A JSON file with the secret fields (`{"password": "…"}`).
    #[arg(long)]
    pub secrets: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 10)]
    pub connect_timeout_s: u64,
    #[arg(long, default_value_t = 30)]
    pub query_timeout_s: u64,
    /// Tables per discover page.
    #[arg(long, default_value_t = 50)]
    pub page_size: u32,
    /// Discovery that has not ended after this many pages fails.
    #[arg(long, default_value_t = 1000)]
    pub max_pages: u32,
}

impl CheckArgs {
    pub fn options(&self) -> CheckOptions {
        CheckOptions {
            plugin_dir: self.dir.clone(),
            source_type: self.source_type.clone(),
            config_file: self.config.clone(),
            secrets_file: self.secrets.clone(),
            timeouts: Timeouts {
                connect: Duration::from_secs(self.connect_timeout_s.max(1)),
                query: Duration::from_secs(self.query_timeout_s.max(1)),
            },
            page_size: self.page_size.clamp(1, 10_000),
            max_pages: self.max_pages.max(1),
        }
    }
}

/// Runs the command: prints the report, exit 0 only when no check failed
/// (2 when the checker itself cannot start).
pub async fn main(args: CheckArgs) -> ExitCode {
    // Like `plugin exec`: a tool on the author's machine, loopback allowed
    // unless INLET_EGRESS_LOOPBACK=deny.
    let settings = match Settings::from_env(true) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("inlet plugin check: {error}");
            return ExitCode::from(2);
        }
    };
    let report = run(&settings, &args.options()).await;
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => eprintln!("inlet plugin check: {error}"),
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Runs every check against `options.plugin_dir`.
pub async fn run(settings: &Settings, options: &CheckOptions) -> Report {
    let mut report = Report::new(&options.plugin_dir);
    run_into(settings, options, &mut report).await;
    report.finish();
    report
}

async fn run_into(settings: &Settings, options: &CheckOptions, report: &mut Report) {
    let dir = &options.plugin_dir;
    // The manifest: everything else depends on it.
    let started = Instant::now();
    let manifest = match Manifest::load(dir) {
        Ok(manifest) => manifest,
        Err(error) => {
            report.fail("manifest", error.to_string(), started.elapsed());
            report.skip("component", "the manifest did not load");
            return;
        }
    };
    report.plugin.id = Some(manifest.id.clone());
    report.plugin.version = Some(manifest.version.to_string());
    report.plugin.api_version = Some(manifest.api_version.clone());
    let types: Vec<&str> = manifest.types.iter().map(|t| t.id.as_str()).collect();
    report.pass(
        "manifest",
        format!(
            "`{}` {}: {} type{} ({}); API {} is supported (this host: {})",
            manifest.id,
            manifest.version,
            types.len(),
            if types.len() == 1 { "" } else { "s" },
            types.join(", "),
            manifest.api_version,
            crate::runtime::wit::supported()
        ),
        started.elapsed(),
    );

    // Static checks of every type: no plugin code runs.
    for spec in &manifest.types {
        let checks: [(&str, StaticCheck); 4] = [
            ("config schema", schema::validity),
            ("secret fields", schema::secrets),
            ("unknown fields", schema::closed),
            ("invalid configs", invalid::check),
        ];
        for (label, check) in checks {
            let started = Instant::now();
            let (status, message) = check(spec);
            report.push(format!("{}: {label}", spec.id), status, message, started.elapsed());
        }
    }

    // The component: compiles, links against the sandbox, instantiates.
    let wasm = dir.join("plugin.wasm");
    if !wasm.is_file() {
        let hint = if dir.join("Cargo.toml").is_file() {
            format!(
                "{} has no plugin.wasm: this is the source; build it (cargo xtask plugins) and check target/plugins/{}",
                dir.display(),
                manifest.id
            )
        } else {
            format!("{} has no plugin.wasm", dir.display())
        };
        report.fail("component", hint, Duration::ZERO);
        return;
    }
    let started = Instant::now();
    let (status, message) = signature::check(dir, &manifest.id, &manifest.version.to_string(), &settings.plugin_trust);
    report.push("signature", status, message, started.elapsed());

    let started = Instant::now();
    let runtime = match Runtime::new(settings.runtime_config()) {
        Ok(runtime) => runtime,
        Err(error) => {
            report.fail("component", format!("cannot start the runtime: {error}"), started.elapsed());
            return;
        }
    };
    let plugin = match runtime.load_plugin(dir) {
        Ok(plugin) => plugin,
        Err(error) => {
            report.fail("component", error.to_string(), started.elapsed());
            return;
        }
    };
    let loaded = started.elapsed();
    let instantiated = Instant::now();
    match plugin.instantiate(&Grants::default(), options.timeouts.connect).await {
        Ok(instance) => {
            drop(instance);
            let how = match plugin.load {
                crate::runtime::LoadKind::Compiled => "compiled",
                crate::runtime::LoadKind::Cached => "loaded from the cache",
            };
            report.pass(
                "component",
                format!(
                    "{how} in {} ms, exports inlet:connector/connector@{}, instantiates in {} ms (memory limit {})",
                    loaded.as_millis(),
                    manifest.api_version,
                    instantiated.elapsed().as_millis(),
                    live::bytes(plugin.memory_limit_bytes())
                ),
                started.elapsed(),
            );
        }
        Err(error) => {
            report.fail("component", format!("cannot instantiate: {error}"), started.elapsed());
            return;
        }
    }

    // The working config, when given.
    let working = match working_config(options, &manifest) {
        Ok(working) => working,
        Err(reason) => {
            report.fail("config", reason, Duration::ZERO);
            None
        }
    };

    // A config that points nowhere fails cleanly, for every type.
    let scratch = match Scratch::create() {
        Ok(scratch) => scratch,
        Err(error) => {
            report.fail("scratch", format!("cannot create a temporary directory: {error}"), Duration::ZERO);
            return;
        }
    };
    let probe_timeouts = Timeouts {
        connect: options.timeouts.connect.min(Duration::from_secs(10)),
        query: options.timeouts.query.min(Duration::from_secs(10)),
    };
    for spec in &manifest.types {
        let mut caller = calls::Caller::new(&plugin, &settings.sandbox, probe_timeouts);
        let base = working.as_ref().filter(|w| w.source_type == spec.id).map(|w| &w.config);
        let started = Instant::now();
        let (status, message) = probe::run(&mut caller, spec, base, &scratch.0).await;
        report.push(format!("{}: fails cleanly", spec.id), status, message, started.elapsed());
    }

    // Live checks.
    let Some(working) = working else {
        if options.config_file.is_none() {
            report.skip(
                "live checks",
                "no --config given: pass --config FILE [--secrets FILE] [--type T] to check connect, test and discover",
            );
        }
        return;
    };
    let Some(spec) = manifest.source_type(&working.source_type) else { return };
    let mut caller = calls::Caller::new(&plugin, &settings.sandbox, options.timeouts);
    let bounds = catalog::Bounds { max_pages: options.max_pages, ..catalog::Bounds::default() };
    live::Live::new(&mut caller, spec, &working.config, &working.secrets, options.page_size, bounds).run(report).await;
}

/// A temporary directory for the probes' files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = std::env::temp_dir().join(format!("inlet-check-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The config the live checks use.
struct Working {
    source_type: String,
    config: Value,
    secrets: Secrets,
}

fn working_config(options: &CheckOptions, manifest: &Manifest) -> Result<Option<Working>, String> {
    let Some(config_file) = &options.config_file else {
        if options.secrets_file.is_some() {
            return Err("--secrets needs --config".into());
        }
        return Ok(None);
    };
    let types: Vec<&str> = manifest.types.iter().map(|t| t.id.as_str()).collect();
    let source_type = match (&options.source_type, types.as_slice()) {
        (Some(wanted), _) if types.contains(&wanted.as_str()) => wanted.clone(),
        (Some(wanted), _) => {
            return Err(format!("the plugin has no type `{wanted}` (it has: {})", types.join(", ")));
        }
        (None, [only]) => (*only).to_owned(),
        (None, _) => return Err(format!("--type is needed: the plugin has types {}", types.join(", "))),
    };
    let config = read_json(config_file, "config")?;
    let secrets = match &options.secrets_file {
        None => Secrets::new(),
        Some(path) => Secrets::from_json(read_json(path, "secrets")?).map_err(|error| error.to_string())?,
    };
    Ok(Some(Working { source_type, config, secrets }))
}

/// Reads a JSON file; errors name the position only, never the content
/// (it may be a secrets file).
fn read_json(path: &Path, what: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read the {what} file {}: {error}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| {
        format!(
            "the {what} file {} is not valid JSON (line {}, column {})",
            path.display(),
            error.line(),
            error.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_MANIFEST: &str = include_str!("../../../runtime/src/plugin/testdata/example.toml");

    fn options(dir: &Path) -> CheckOptions {
        CheckOptions {
            plugin_dir: dir.to_path_buf(),
            source_type: None,
            config_file: None,
            secrets_file: None,
            timeouts: Timeouts { connect: Duration::from_secs(1), query: Duration::from_secs(1) },
            page_size: 10,
            max_pages: 10,
        }
    }

    fn settings(data: &Path) -> Settings {
        let mut settings = Settings::from_env(true).unwrap();
        settings.data_dir = data.to_path_buf();
        settings
    }

    #[tokio::test]
    async fn an_unsupported_api_version_fails_the_manifest_check_naming_the_supported_ones() {
        let dir = tempfile::tempdir().unwrap();
        let text = EXAMPLE_MANIFEST.replace("api_version = \"0.1.0\"", "api_version = \"9.0.0\"");
        std::fs::write(dir.path().join("plugin.toml"), text).unwrap();
        let report = run(&settings(dir.path()), &options(dir.path())).await;
        assert!(!report.ok);
        let manifest = &report.checks[0];
        assert_eq!((manifest.name.as_str(), manifest.status), ("manifest", Status::Fail));
        assert!(manifest.message.contains("9.0.0") && manifest.message.contains("supports 0.1.0"), "{manifest:?}");
        assert_eq!(report.checks[1].status, Status::Skip);
    }

    #[tokio::test]
    async fn a_source_dir_without_wasm_is_told_where_the_build_goes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plugin.toml"), EXAMPLE_MANIFEST).unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\n").unwrap();
        let report = run(&settings(dir.path()), &options(dir.path())).await;
        let text = report.to_text();
        assert!(text.contains("✓ example-db: config schema"), "{text}");
        assert!(text.contains("✓ example-db: secret fields"), "{text}");
        assert!(text.contains("✓ example-db: invalid configs"), "{text}");
        assert!(text.contains("✗ component") && text.contains("target/plugins/example"), "{text}");
    }

    #[test]
    fn the_working_config_needs_a_known_type() {
        let manifest = Manifest::parse(EXAMPLE_MANIFEST, "test").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.json");
        std::fs::write(&config, "{\"host\": \"h\"}").unwrap();
        let mut opts = options(dir.path());
        opts.config_file = Some(config);
        assert_eq!(working_config(&opts, &manifest).unwrap().unwrap().source_type, "example-db");
        opts.source_type = Some("nope".into());
        assert!(working_config(&opts, &manifest).err().unwrap().contains("it has: example-db"));
        let secrets = dir.path().join("s.json");
        std::fs::write(&secrets, "{\"password\": hunter2}").unwrap();
        opts.source_type = None;
        opts.secrets_file = Some(secrets);
        let error = working_config(&opts, &manifest).err().unwrap();
        assert!(error.contains("not valid JSON") && !error.contains("hunter2"), "{error}");
    }
}
