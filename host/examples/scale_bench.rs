//! One full discovery of a PostgreSQL catalog through the wasm postgres
//! connector, the way `inlet serve` runs one (a `Runtime`, then
//! `Connectors::load` and `Connectors::discover`), for `cargo xtask bench
//! discovery` (`xtask/src/scale.rs`), which runs it in a fresh process per
//! sample so that the process's peak memory (VmHWM) is the discovery's alone.
//!
//! ```sh
//! cargo run --release -p inlet --example scale_bench -- \
//!     [--database inlet_bench_catalog] [--page-size 500] [--plugins target/plugins] [--cache DIR]
//! ```
//!
//! Only the postgres plugin is loaded (copied into a temporary plugins
//! directory); compiled components are kept in `--cache` (default
//! `target/scale-bench/cache`), so only the first run compiles. Prints one
//! JSON object: wall time of the discovery (connect, every page, close),
//! what was found, and VmHWM/VmRSS before and after.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use inlet::connectors::{Connectors, Timeouts};
use inlet::model::DiscoverRequest;
use inlet::plugin::Secrets;
use inlet::runtime::{Runtime, RuntimeConfig};
use inlet::sandbox::EgressPolicy;
use inlet::source::SandboxSettings;
use serde_json::json;

struct Options {
    database: String,
    page_size: u32,
    plugins: PathBuf,
    cache: PathBuf,
}

fn options() -> Result<Options> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut options = Options {
        database: "inlet_bench_catalog".to_owned(),
        page_size: 500,
        plugins: workspace.join("target/plugins"),
        cache: workspace.join("target/scale-bench/cache"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--database" => options.database = value,
            "--page-size" => options.page_size = value.parse().context("--page-size")?,
            "--plugins" => options.plugins = value.into(),
            "--cache" => options.cache = value.into(),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(options)
}

/// `VmHWM` and `VmRSS` of this process, in KiB.
fn memory_kib() -> Result<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .with_context(|| format!("no {name} in /proc/self/status"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

#[tokio::main]
async fn main() -> Result<()> {
    let options = options()?;

    // Only the postgres plugin, so the figures are that connector's.
    let plugins = tempfile::tempdir()?;
    let source = options.plugins.join("postgres");
    let dest = plugins.path().join("postgres");
    std::fs::create_dir_all(&dest)?;
    for file in ["plugin.toml", "plugin.wasm"] {
        std::fs::copy(source.join(file), dest.join(file))
            .with_context(|| format!("copy {} (run `cargo xtask plugins` first)", source.join(file).display()))?;
    }
    std::fs::create_dir_all(&options.cache)?;
    let runtime = Runtime::new(RuntimeConfig::new(options.cache.clone(), 1024))?;
    let sandbox = SandboxSettings {
        egress: EgressPolicy { allow_loopback: true, allow_private: true },
        ..SandboxSettings::default()
    };
    let connectors = Connectors::load(runtime, plugins.path(), sandbox);
    if let Some((dir, reason)) = connectors.refused.first() {
        bail!("plugin {} refused: {reason}", dir.display());
    }

    let config = json!({
        "host": "127.0.0.1",
        "port": 5432,
        "database": options.database,
        "username": "postgres",
        "ssl_mode": "disable",
    });
    let timeouts = Timeouts { connect: Duration::from_secs(30), query: Duration::from_secs(300) };
    let request = DiscoverRequest { page_size: options.page_size, ..DiscoverRequest::default() };
    let (hwm_before, rss_before) = memory_kib()?;

    let started = Instant::now();
    let (schemas, pages) = connectors
        .discover("postgresql", &config, &Secrets::new(), timeouts, request)
        .await
        .map_err(|failure| anyhow::anyhow!("discovery failed: {}", failure.error.message))?;
    let wall = started.elapsed();

    let (hwm, rss) = memory_kib()?;
    let tables: usize = schemas.iter().map(|s| s.tables.len()).sum();
    let columns: usize = schemas.iter().flat_map(|s| &s.tables).map(|t| t.columns.len()).sum();
    let constraints: usize = schemas.iter().flat_map(|s| &s.tables).map(|t| t.constraints.len()).sum();
    println!(
        "{}",
        json!({
            "wall_ms": wall.as_secs_f64() * 1000.0,
            "pages": pages,
            "schemas": schemas.len(),
            "tables": tables,
            "columns": columns,
            "constraints": constraints,
            "hwm_before_kib": hwm_before,
            "rss_before_kib": rss_before,
            "hwm_kib": hwm,
            "rss_kib": rss,
        })
    );
    Ok(())
}
