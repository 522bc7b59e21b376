//! The end-to-end half of `cargo xtask bench discovery`: the whole job as a
//! user sees it, through the real server.
//!
//! Per run and backend, a fresh `inlet serve` (SQLite in a fresh data dir, or
//! a fresh PostgreSQL database `inlet_bench_store` on 127.0.0.1:5432) with
//! only the postgres plugin, one data source on the bench catalog, then two
//! discoveries: the first (no diff) and a second one of the unchanged catalog
//! (diffed against the first). Each is timed from `POST discover-schema` until
//! the job shows `succeeded` (polled with `GET schemas?page_size=1` every
//! 20 ms) and its first page of 100 tables has been read. Before each, the
//! server's peak RSS is reset (`/proc/<pid>/clear_refs`, 5); after it, the
//! growth is VmHWM minus the VmRSS it started from.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::load::{Running, free_port, request, wait_for};

const STORE_DB: &str = "inlet_bench_store";
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// One discovery through the API.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// `finished_at − started_at` of the job, as the server recorded it.
    pub job_ms: f64,
    /// `POST discover-schema` until the first page of the new catalog was read.
    pub user_ms: f64,
    /// Server VmHWM during the discovery minus its VmRSS before it.
    pub rss_growth_kib: u64,
}

/// The first discovery and the rediscovery of one run.
pub struct Run {
    pub first: Sample,
    pub again: Sample,
}

/// One run on `backend`: a fresh server and data source, two discoveries.
pub fn run(root: &Path, backend: Backend, catalog_db: &str, tables: u32) -> Result<Run> {
    let work = root.join("target/scale-bench");
    let plugins = only_postgres_plugin(root, &work)?;
    let data_dir = work.join(format!("e2e-{}", backend.name().to_lowercase()));
    fresh_data_dir(&data_dir)?;
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            crate::scale::psql_query("postgres", &format!("DROP DATABASE IF EXISTS {STORE_DB} WITH (FORCE)"))?;
            crate::scale::psql_query("postgres", &format!("CREATE DATABASE {STORE_DB}"))?;
            Some(format!("postgres://postgres@127.0.0.1:5432/{STORE_DB}"))
        }
    };
    let inlet = Inlet { root, data_dir: &data_dir, plugins: &plugins, database_url: database_url.as_deref() };
    inlet.cli(&["org", "create", "bench"])?;
    let token = inlet.cli(&["token", "create", "--org", "bench", "--role", "org-admin"])?;
    if token.is_empty() {
        bail!("inlet token create printed no token");
    }
    let port = free_port()?;
    let log = work.join(format!("e2e-{}-server.log", backend.name().to_lowercase()));
    let server = Running(
        inlet
            .command(&["serve"])
            .env("INLET_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let pid = server.0.id();
    wait_for(port, "/healthz")?;
    let api = Api { port, token: &token };
    let id = api.create_source(catalog_db)?;
    let first = discover(&api, pid, &id, tables).with_context(|| format!("server log: {}", log.display()))?;
    let again = discover(&api, pid, &id, tables).with_context(|| format!("server log: {}", log.display()))?;
    drop(server);
    Ok(Run { first, again })
}

/// A plugins directory with only the postgres plugin, so the server's
/// start-up and memory are that connector's.
pub(crate) fn only_postgres_plugin(root: &Path, work: &Path) -> Result<PathBuf> {
    let plugins = work.join("e2e-plugins");
    let dest = plugins.join("postgres");
    std::fs::create_dir_all(&dest)?;
    for file in ["plugin.toml", "plugin.wasm"] {
        let source = root.join("target/plugins/postgres").join(file);
        std::fs::copy(&source, dest.join(file))
            .with_context(|| format!("copy {} (run `cargo xtask build` first)", source.display()))?;
    }
    Ok(plugins)
}

/// Empties the data dir but keeps its compiled-component cache.
pub(crate) fn fresh_data_dir(data_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(data_dir)?;
    for entry in std::fs::read_dir(data_dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|name| name == "cache") {
            continue;
        }
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

pub(crate) struct Inlet<'a> {
    pub root: &'a Path,
    pub data_dir: &'a Path,
    pub plugins: &'a Path,
    pub database_url: Option<&'a str>,
}

impl Inlet<'_> {
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.root.join("target/release/inlet"));
        cmd.args(args)
            .env("INLET_DATA_DIR", self.data_dir)
            .env("INLET_PLUGINS_DIR", self.plugins)
            .env("INLET_EGRESS_LOOPBACK", "allow")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        match self.database_url {
            Some(url) => cmd.env("INLET_DATABASE_URL", url),
            None => cmd.env_remove("INLET_DATABASE_URL"),
        };
        cmd
    }

    /// Runs a CLI command; its last non-empty output line.
    pub(crate) fn cli(&self, args: &[&str]) -> Result<String> {
        let output = self.command(args).output()?;
        if !output.status.success() {
            bail!("inlet {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let stdout = String::from_utf8(output.stdout)?;
        Ok(stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned())
    }
}

pub(crate) struct Api<'a> {
    pub port: u16,
    pub token: &'a str,
}

impl Api<'_> {
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        request(self.port, method, &format!("/api/v1{path}"), Some(self.token), body)
    }

    /// A postgres data source on the bench catalog, once its creation test passed.
    pub(crate) fn create_source(&self, catalog_db: &str) -> Result<String> {
        let body = json!({
            "name": "bench-catalog",
            "type": "postgresql",
            "config": {
                "host": "127.0.0.1", "port": 5432, "database": catalog_db,
                "username": "postgres", "ssl_mode": "disable",
            },
        });
        let (status, created) = self.call("POST", "/data-sources", Some(&body))?;
        if status != 201 {
            bail!("creating the data source answered {status}: {created}");
        }
        let id = created["id"].as_str().context("no data source id")?.to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, source) = self.call("GET", &format!("/data-sources/{id}"), None)?;
            match source["status"].as_str() {
                Some("active") => return Ok(id),
                Some("testing") if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                _ => bail!("the data source did not become active: {source}"),
            }
        }
    }
}

/// One discovery, timed and weighed.
fn discover(api: &Api<'_>, pid: u32, id: &str, tables: u32) -> Result<Sample> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("reset the server's VmHWM")?;
    let rss_before = proc_status_kib(pid, "VmRSS:")?;
    let started = Instant::now();
    let (status, accepted) = api.call("POST", &format!("/data-sources/{id}/discover-schema"), Some(&json!({})))?;
    if status != 202 {
        bail!("discover-schema answered {status}: {accepted}");
    }
    let job_id = accepted["job_id"].as_str().context("no job id")?.to_owned();
    let deadline = started + Duration::from_secs(600);
    let job = loop {
        let (status, page) = api.call("GET", &format!("/data-sources/{id}/schemas?page_size=1"), None)?;
        if status != 200 {
            bail!("GET schemas answered {status}: {page}");
        }
        let job = &page["discovery"];
        if job["job_id"] == job_id.as_str() {
            match job["status"].as_str() {
                Some("succeeded") => break job.clone(),
                Some("failed") => bail!("the discovery failed: {job}"),
                _ => {}
            }
        }
        if Instant::now() > deadline {
            bail!("the discovery did not finish within 10 minutes");
        }
        std::thread::sleep(POLL);
    };
    let (status, page) = api.call("GET", &format!("/data-sources/{id}/schemas?page_size=100"), None)?;
    let user_ms = started.elapsed().as_secs_f64() * 1000.0;
    let rss_growth_kib = proc_status_kib(pid, "VmHWM:")?.saturating_sub(rss_before);
    let items = page["items"].as_array().map_or(0, Vec::len);
    if status != 200 || page["total"] != tables || items != 100.min(tables as usize) {
        bail!("the first page after the discovery is not the catalog: {status}, total {}", page["total"]);
    }
    let at = |field: &str| job[field].as_str().and_then(crate::scale::parse_utc_ms);
    let (Some(started_at), Some(finished_at)) = (at("started_at"), at("finished_at")) else {
        bail!("the job has no start or end: {job}");
    };
    Ok(Sample { job_ms: (finished_at - started_at) as f64, user_ms, rss_growth_kib })
}

pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc/<pid>/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
