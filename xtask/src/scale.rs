//! `cargo xtask bench scale|discovery|scheduler`: the README's figures at
//! scale (after `cargo xtask build`; nothing here rebuilds the server).
//!
//! - discovery: a PostgreSQL catalog of 10,000 tables × 10 columns
//!   (`inlet_bench_catalog` on 127.0.0.1:5432, created once and reused)
//!   discovered through the wasm postgres connector in pages of 500
//!   (`host/examples/scale_bench.rs`, a fresh process per sample, so its
//!   VmHWM is the discovery's), against the very same catalog queries run by
//!   one `psql` process. Median of `--runs` (3) after one warm-up of each.
//!   Then the whole job as a user sees it, end to end through `inlet serve`
//!   on each of `--backends` (sqlite,postgres), against the same psql figure
//!   (`discovery_e2e.rs`).
//! - scheduler: `inlet serve` on SQLite with `--sources` (10,000) Redis data
//!   sources checked every 60 s; after a warm-up of one interval, samples the
//!   server's CPU and RSS every 5 s for `--observe` seconds (180) while
//!   snapshotting every data source's `next_check_at`, then reads the health
//!   history from the database: checks/s, failures, and lag behind schedule.
//!
//! Lag is measured against the scheduler's own schedule, not against a bare
//! 60 s: each claim sets the next check to claim time + 60 s ± 6 s of jitter
//! (`health::next_check_at`), so a check's lag is when it started
//! (`checked_at − response_time_ms`) minus the `next_check_at` that was due,
//! read from the snapshots (a value lives ≥ 54 s, snapshots are 5 s apart, so
//! every due time is seen). A data source never checked yet has no
//! `next_check_at` and is due as soon as its creation test has ended. Lag
//! includes up to one tick of the scheduler loop.
//!
//! The server inherits this process's environment, so the scheduler's
//! settings can be varied, e.g. `INLET_HEALTH_CONCURRENCY=200 cargo xtask
//! bench scheduler`; the table states the tick and concurrency it ran with.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::discovery_e2e::{self, Backend};
use crate::load::{Running, free_port, request, wait_for};

pub(crate) const CATALOG_DB: &str = "inlet_bench_catalog";
const CATALOG_SCHEMAS: u32 = 10;
const PAGE_SIZE: usize = 500;
const INTERVAL_S: u32 = 60;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const CLIENTS: usize = 4;

/// Which scale benchmarks to run, with their settings.
pub struct Options {
    discovery: bool,
    scheduler: bool,
    tables: u32,
    runs: usize,
    sources: usize,
    warmup_s: u64,
    observe_s: u64,
    /// Backends of the end-to-end discovery runs.
    backends: Vec<Backend>,
}

impl Options {
    /// `scale|discovery|scheduler [--tables N] [--runs N] [--backends sqlite,postgres] [--sources N]
    /// [--warmup S] [--observe S]`.
    pub fn parse(which: &str, args: &[String]) -> Result<Self> {
        let mut options = Self {
            discovery: which != "scheduler",
            scheduler: which != "discovery",
            tables: 10_000,
            runs: 3,
            sources: 10_000,
            warmup_s: u64::from(INTERVAL_S) + 10,
            observe_s: 180,
            backends: vec![Backend::Sqlite, Backend::Postgres],
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args.next().with_context(|| format!("{flag} needs a value"))?;
            let number = || -> Result<u64> { value.parse().with_context(|| format!("{flag} {value}: not a number")) };
            match flag.as_str() {
                "--tables" => options.tables = u32::try_from(number()?)?.max(1),
                "--runs" => options.runs = usize::try_from(number()?)?.max(1),
                "--sources" => options.sources = usize::try_from(number()?)?.max(1),
                "--warmup" => options.warmup_s = number()?,
                "--observe" => options.observe_s = number()?.max(SAMPLE_EVERY.as_secs()),
                "--backends" => {
                    options.backends = value
                        .split(',')
                        .filter(|name| !name.is_empty())
                        .map(|name| match name {
                            "sqlite" => Ok(Backend::Sqlite),
                            "postgres" => Ok(Backend::Postgres),
                            other => bail!("--backends {other}: sqlite or postgres"),
                        })
                        .collect::<Result<_>>()?;
                }
                other => bail!("unknown option {other}"),
            }
        }
        Ok(options)
    }
}

pub fn scale(root: &Path, options: &Options) -> Result<()> {
    let mut tables = Vec::new();
    if options.discovery {
        tables.push(discovery(root, options)?);
    }
    if options.scheduler {
        tables.push(scheduler(root, options)?);
    }
    println!();
    for table in tables {
        println!("{table}");
    }
    Ok(())
}

// ---------------------------------------------------------------- discovery

fn psql(database: &str) -> Command {
    let mut psql = Command::new("psql");
    psql.args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-d", database]);
    psql
}

/// Runs one statement; returns stdout in unaligned, tuples-only form.
pub(crate) fn psql_query(database: &str, sql: &str) -> Result<String> {
    let output = psql(database).args(["-A", "-t", "-F", "\t", "-c", sql]).output().context("run psql")?;
    if !output.status.success() {
        bail!("psql `{sql}` failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Creates `inlet_bench_catalog` unless it already holds this catalog.
pub(crate) fn ensure_catalog(tables: u32) -> Result<()> {
    let marker = format!("inlet bench catalog: {tables} tables x 10 columns in {CATALOG_SCHEMAS} schemas");
    let found = psql_query(
        "postgres",
        &format!(
            "SELECT pg_catalog.shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{CATALOG_DB}'"
        ),
    )?;
    if found.trim() == marker {
        let count = psql_query(
            CATALOG_DB,
            "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname LIKE 'bench\\_%'",
        )?;
        if count.trim() == tables.to_string() {
            eprintln!("xtask: reusing {CATALOG_DB} ({tables} tables)");
            return Ok(());
        }
    }
    eprintln!("xtask: creating {CATALOG_DB} ({tables} tables × 10 columns)…");
    let started = Instant::now();
    psql_query("postgres", &format!("DROP DATABASE IF EXISTS {CATALOG_DB} WITH (FORCE)"))?;
    psql_query("postgres", &format!("CREATE DATABASE {CATALOG_DB}"))?;
    // One DO block, committing every 250 tables so the locks of one
    // transaction stay within max_locks_per_transaction.
    let last_schema = CATALOG_SCHEMAS - 1;
    let last_table = tables.saturating_sub(1);
    psql_query(
        CATALOG_DB,
        &format!(
            r#"DO $$
DECLARE
    tbl text;
BEGIN
    FOR s IN 0..{last_schema} LOOP
        EXECUTE format('CREATE SCHEMA bench_%s', lpad(s::text, 2, '0'));
    END LOOP;
    FOR t IN 0..{last_table} LOOP
        tbl := format('bench_%s.t_%s', lpad((t % {CATALOG_SCHEMAS})::text, 2, '0'), lpad(t::text, 5, '0'));
        EXECUTE format('CREATE TABLE %s (
            id bigint PRIMARY KEY,
            name varchar(100) NOT NULL,
            amount numeric(12, 2),
            created_at timestamptz NOT NULL DEFAULT now(),
            active boolean DEFAULT true,
            payload jsonb,
            tags text[],
            ref uuid,
            score double precision,
            note text)', tbl);
        IF t % 4 = 0 THEN
            EXECUTE format('COMMENT ON TABLE %s IS %L', tbl, 'bench table ' || t);
            EXECUTE format('COMMENT ON COLUMN %s.amount IS %L', tbl, 'amount in EUR');
        END IF;
        IF t % 250 = 249 THEN
            COMMIT;
        END IF;
    END LOOP;
END
$$"#
        ),
    )?;
    psql_query("postgres", &format!("COMMENT ON DATABASE {CATALOG_DB} IS '{marker}'"))?;
    eprintln!("xtask: created {CATALOG_DB} in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Quotes an SQL literal as the connector does (standard_conforming_strings on).
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The queries the postgres connector sends for a full discovery in pages of
/// `PAGE_SIZE` (plugins/postgres/src/catalog.rs, PostgreSQL flavour, no
/// include/exclude lists; keep in step with it): per page, the relations
/// after the previous page's last (schema, relation), their columns and their
/// constraints. The catalog has no foreign keys, so no page needs the
/// referenced-columns query.
fn page_queries() -> Result<(String, usize)> {
    let schemas = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
                   AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";
    let listing = psql_query(
        CATALOG_DB,
        &format!(
            "SELECT c.oid, n.nspname, c.relname \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {schemas} ORDER BY n.nspname, c.relname"
        ),
    )?;
    let relations: Vec<(&str, &str, &str)> = listing
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            match (fields.next(), fields.next(), fields.next()) {
                (Some(oid), Some(schema), Some(name)) => Ok((oid, schema, name)),
                _ => bail!("unexpected psql line `{line}`"),
            }
        })
        .collect::<Result<_>>()?;
    let mut sql = String::new();
    let mut previous: Option<(&str, &str)> = None;
    let pages = relations.len().div_ceil(PAGE_SIZE);
    for page in relations.chunks(PAGE_SIZE) {
        sql.push_str(&format!(
            "SELECT c.oid, n.nspname, c.relname, c.relkind, \
                    pg_catalog.obj_description(c.oid, 'pg_class'), c.reltuples, \
                    CASE WHEN c.relkind IN ('r', 'm') THEN pg_catalog.pg_total_relation_size(c.oid) END \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {schemas}"
        ));
        if let Some((schema, table)) = previous {
            let (schema, table) = (literal(schema), literal(table));
            sql.push_str(&format!(" AND (n.nspname > {schema} OR (n.nspname = {schema} AND c.relname > {table}))"));
        }
        sql.push_str(&format!(" ORDER BY n.nspname, c.relname LIMIT {};\n", PAGE_SIZE + 1));
        let oid_list = page.iter().map(|(oid, _, _)| *oid).collect::<Vec<_>>().join(", ");
        sql.push_str(&format!(
            "SELECT a.attrelid, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), pg_catalog.col_description(a.attrelid, a.attnum), \
                    CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, \
                    COALESCE(b.typname, t.typname), COALESCE(b.typtype, t.typtype), \
                    COALESCE(b.typelem, t.typelem), COALESCE(b.typlen, t.typlen) \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid IN ({oid_list}) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum;\n"
        ));
        sql.push_str(&format!(
            "SELECT con.conrelid, con.conname, con.contype, con.conkey, con.confrelid, fn.nspname, fc.relname, \
                    con.confkey, CASE WHEN con.contype = 'c' THEN pg_catalog.pg_get_constraintdef(con.oid) END \
             FROM pg_catalog.pg_constraint con \
             LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid \
             LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace \
             WHERE con.conrelid IN ({oid_list}) AND con.contype IN ('p', 'u', 'f', 'c') \
             ORDER BY con.conrelid, con.contype, con.conname;\n"
        ));
        previous = page.last().map(|(_, schema, name)| (*schema, *name));
    }
    Ok((sql, pages))
}

/// What one connector discovery reported (see host/examples/scale_bench.rs).
struct ConnectorRun {
    wall_ms: f64,
    pages: u64,
    tables: u64,
    columns: u64,
    constraints: u64,
    hwm_before_kib: u64,
    hwm_kib: u64,
}

fn connector_run(example: &Path) -> Result<ConnectorRun> {
    let output = Command::new(example).args(["--database", CATALOG_DB]).output().context("run scale_bench")?;
    if !output.status.success() {
        bail!("scale_bench failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout.lines().last().context("scale_bench printed nothing")?;
    let value: Value = serde_json::from_str(line).with_context(|| format!("scale_bench printed `{line}`"))?;
    let number = |name: &str| value[name].as_u64().with_context(|| format!("no {name} in `{line}`"));
    Ok(ConnectorRun {
        wall_ms: value["wall_ms"].as_f64().context("no wall_ms")?,
        pages: number("pages")?,
        tables: number("tables")?,
        columns: number("columns")?,
        constraints: number("constraints")?,
        hwm_before_kib: number("hwm_before_kib")?,
        hwm_kib: number("hwm_kib")?,
    })
}

fn psql_run(file: &Path) -> Result<f64> {
    let started = Instant::now();
    let status = psql(CATALOG_DB)
        .args(["-A", "-t", "-o", "/dev/null", "-f"])
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .context("run psql")?;
    let wall = started.elapsed();
    if !status.success() {
        bail!("psql -f {} failed with {status}", file.display());
    }
    Ok(wall.as_secs_f64() * 1000.0)
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn discovery(root: &Path, options: &Options) -> Result<String> {
    if TcpStream::connect("127.0.0.1:5432").is_err() {
        bail!("no PostgreSQL on 127.0.0.1:5432");
    }
    ensure_catalog(options.tables)?;
    let work = root.join("target/scale-bench");
    std::fs::create_dir_all(&work)?;
    let (sql, pages) = page_queries()?;
    let file = work.join("discovery-pages.sql");
    std::fs::write(&file, sql)?;
    crate::run(Command::new("cargo").args(["build", "--release", "-p", "inlet", "--example", "scale_bench"]))?;
    let example = root.join("target/release/examples/scale_bench");

    // Warm-up (also fills the compiled-component cache), then alternate.
    connector_run(&example)?;
    psql_run(&file)?;
    let mut connector = Vec::new();
    let mut baseline = Vec::new();
    for run in 1..=options.runs {
        let sample = connector_run(&example)?;
        let psql_ms = psql_run(&file)?;
        eprintln!(
            "xtask: discovery run {run}: connector {:.0} ms ({} pages, {} tables, {} columns, {} constraints, \
             VmHWM {:.1} MiB), psql {psql_ms:.0} ms",
            sample.wall_ms,
            sample.pages,
            sample.tables,
            sample.columns,
            sample.constraints,
            mib(sample.hwm_kib)
        );
        if sample.tables != u64::from(options.tables) || sample.pages != pages as u64 {
            bail!(
                "the connector found {} tables in {} pages, expected {} in {pages}",
                sample.tables,
                sample.pages,
                options.tables
            );
        }
        connector.push(sample);
        baseline.push(psql_ms);
    }
    let connector_ms = median(&mut connector.iter().map(|s| s.wall_ms).collect::<Vec<_>>());
    let psql_ms = median(&mut baseline);
    let hwm = connector.iter().map(|s| s.hwm_kib).max().unwrap_or_default();
    let hwm_before = connector.iter().map(|s| s.hwm_before_kib).max().unwrap_or_default();
    let first = &connector[0];
    let runs = options.runs;
    let end_to_end = end_to_end(root, options, psql_ms)?;
    Ok(format!(
        "Discovery of {tables} tables × 10 columns ({columns} columns, {constraints} primary keys, {pages} pages of \
         {PAGE_SIZE}), median of {runs}:\n\n\
         | benchmark | median | target |\n\
         | --- | --- | --- |\n\
         | full discovery through the wasm postgres connector (`Connectors::discover`: connect, {pages} pages, close) | {connector_ms:.0} ms | |\n\
         | the same {queries} catalog queries from one `psql -X -q -A -t` process, output to /dev/null | {psql_ms:.0} ms | |\n\
         | connector / psql | **{ratio:.2}×** | ≤ 1.3× |\n\
         | peak RSS (VmHWM) of the process doing only the discovery | {hwm:.1} MiB ({before:.1} MiB before discovering) | |\n",
        tables = thousands(first.tables as usize),
        columns = thousands(first.columns as usize),
        constraints = thousands(first.constraints as usize),
        queries = pages * 3,
        ratio = connector_ms / psql_ms,
        hwm = mib(hwm),
        before = mib(hwm_before),
    ) + &end_to_end)
}

/// The whole job through the server on each backend (see discovery_e2e.rs),
/// as a markdown table against `psql_ms`.
fn end_to_end(root: &Path, options: &Options, psql_ms: f64) -> Result<String> {
    if options.backends.is_empty() {
        return Ok(String::new());
    }
    let inlet = root.join("target/release/inlet");
    if !inlet.exists() {
        bail!("{} is missing: run `cargo xtask build` first", inlet.display());
    }
    let mut rows = String::new();
    for &backend in &options.backends {
        let mut runs = Vec::new();
        for run in 1..=options.runs {
            let sample = discovery_e2e::run(root, backend, CATALOG_DB, options.tables)?;
            for (which, s) in [("first", &sample.first), ("again", &sample.again)] {
                eprintln!(
                    "xtask: end to end on {} run {run}, {which}: job {:.0} ms, readable after {:.0} ms, \
                     peak RSS +{:.1} MiB",
                    backend.name(),
                    s.job_ms,
                    s.user_ms,
                    mib(s.rss_growth_kib)
                );
            }
            runs.push(sample);
        }
        for (label, pick) in [
            ("first", (|run: &discovery_e2e::Run| run.first) as fn(&discovery_e2e::Run) -> discovery_e2e::Sample),
            ("again, diffed against the first", |run| run.again),
        ] {
            let samples: Vec<discovery_e2e::Sample> = runs.iter().map(pick).collect();
            let job_ms = median(&mut samples.iter().map(|s| s.job_ms).collect::<Vec<_>>());
            let user_ms = median(&mut samples.iter().map(|s| s.user_ms).collect::<Vec<_>>());
            let growth = samples.iter().map(|s| s.rss_growth_kib).max().unwrap_or_default();
            rows.push_str(&format!(
                "| {backend} | {label} | {job_ms:.0} ms | {user_ms:.0} ms | {job_ratio:.2}× / **{user_ratio:.2}×** | \
                 {growth:.1} MiB |\n",
                backend = backend.name(),
                job_ratio = job_ms / psql_ms,
                user_ratio = user_ms / psql_ms,
                growth = mib(growth),
            ));
        }
    }
    Ok(format!(
        "\nThe whole job through the API (`inlet serve` with only the postgres plugin, a fresh server and data \
         source per run): `POST discover-schema`, then `GET schemas?page_size=1` every 20 ms until the job shows \
         `succeeded`, then the first page of 100 tables. Median of {runs}; peak RSS growth is the worst run's \
         (server VmHWM, reset before the POST, minus its VmRSS then):\n\n\
         | backend | discovery | job (`finished_at − started_at`) | POST → first page read | job / readable ÷ psql \
         (target ≤ 1.5×) | server peak RSS growth (target ≤ 64 MiB) |\n\
         | --- | --- | --- | --- | --- | --- |\n{rows}",
        runs = options.runs,
    ))
}

/// `10000` as `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------- scheduler

/// Reads the server's SQLite database with the sqlite3 shell (read-only,
/// beside the running server: WAL readers do not block it).
fn sqlite(db: &Path, sql: &str) -> Result<String> {
    let output = Command::new("sqlite3")
        .args(["-readonly", "-cmd", ".timeout 10000", "-separator", "|"])
        .arg(db)
        .arg(sql)
        .output()
        .context("run sqlite3 (Debian: apt-get install sqlite3)")?;
    if !output.status.success() {
        bail!("sqlite3 `{sql}` failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// `2026-11-27T11:44:31.123Z` as milliseconds since the epoch.
pub(crate) fn parse_utc_ms(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    let millis: i64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// utime + stime (clock ticks) and VmRSS (KiB) of a process.
fn process_usage(pid: u32) -> Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("read /proc/<pid>/stat")?;
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `fields[0]` is field 3 (state).
    let ticks = |index: usize| -> Result<u64> {
        fields.get(index).and_then(|v| v.parse().ok()).context("malformed /proc/<pid>/stat")
    };
    let cpu = ticks(11)? + ticks(12)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc/<pid>/status")?;
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no VmRSS")?;
    Ok((cpu, rss))
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

struct Sample {
    at_ms: i64,
    cpu_ticks: u64,
    rss_kib: u64,
}

/// The p-th percentile (nearest rank) of sorted values.
pub(crate) fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn inlet_command(root: &Path, data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(root.join("target/release/inlet"));
    cmd.args(args)
        .env("INLET_DATA_DIR", data_dir)
        .env("INLET_PLUGINS_DIR", root.join("target/plugins"))
        .env("INLET_EGRESS_LOOPBACK", "allow")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

fn cli(root: &Path, data_dir: &Path, args: &[&str]) -> Result<String> {
    let output = inlet_command(root, data_dir, args).output()?;
    if !output.status.success() {
        bail!("inlet {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8(output.stdout)?;
    Ok(stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned())
}

/// Creates the data sources from `CLIENTS` threads; returns whether the
/// server took `connection_settings.idle_timeout_s`.
fn create_sources(port: u16, token: &str, count: usize) -> Result<bool> {
    let body = |i: usize, settings: bool| {
        let mut body = json!({
            "name": format!("redis-{i:05}"),
            "type": "redis",
            "config": { "host": "127.0.0.1", "port": 6379 },
            "health_check_interval_s": INTERVAL_S,
        });
        if settings {
            body["connection_settings"] = json!({ "idle_timeout_s": 30 });
        }
        body
    };
    let (status, answer) = request(port, "POST", "/api/v1/data-sources", Some(token), Some(&body(0, true)))?;
    let settings = match status {
        201 => true,
        400 => {
            eprintln!("xtask: connection_settings.idle_timeout_s refused ({answer}); creating without it");
            let (status, answer) = request(port, "POST", "/api/v1/data-sources", Some(token), Some(&body(0, false)))?;
            if status != 201 {
                bail!("creating a data source answered {status}: {answer}");
            }
            false
        }
        other => bail!("creating a data source answered {other}: {answer}"),
    };
    let next = AtomicUsize::new(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        let (status, answer) =
                            request(port, "POST", "/api/v1/data-sources", Some(token), Some(&body(i, settings)))?;
                        if status != 201 {
                            bail!("creating data source {i} answered {status}: {answer}");
                        }
                        if i.is_multiple_of(1000) {
                            eprint!("\rxtask: {i} data sources created");
                            let _ = std::io::stderr().flush();
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    eprintln!();
    Ok(settings)
}

fn scheduler(root: &Path, options: &Options) -> Result<String> {
    let inlet = root.join("target/release/inlet");
    if !inlet.exists() {
        bail!("{} is missing: run `cargo xtask build` first", inlet.display());
    }
    if TcpStream::connect("127.0.0.1:6379").is_err() {
        bail!("no Redis on 127.0.0.1:6379");
    }
    let work = root.join("target/scale-bench");
    let data_dir = work.join("scheduler-data");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let db = data_dir.join("inlet.db");
    cli(root, &data_dir, &["org", "create", "bench"])?;
    let token = cli(root, &data_dir, &["token", "create", "--org", "bench", "--role", "org-admin"])?;
    if token.is_empty() {
        bail!("inlet token create printed no token");
    }

    let port = free_port()?;
    let log = work.join("scheduler-server.log");
    let server = Running(
        inlet_command(root, &data_dir, &["serve"])
            .env("INLET_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let pid = server.0.id();
    wait_for(port, "/healthz")?;

    let started = Instant::now();
    let settings = create_sources(port, &token, options.sources)?;
    let create_s = started.elapsed().as_secs_f64();
    eprintln!(
        "xtask: created {} data sources in {create_s:.0} s ({:.0}/s); waiting for their first tests",
        options.sources,
        options.sources as f64 / create_s
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let testing = sqlite(&db, "SELECT count(*) FROM data_sources WHERE status = 'testing'")?;
        if testing.trim() == "0" {
            break;
        }
        if Instant::now() > deadline {
            bail!("{} data sources still testing after 10 minutes (log: {})", testing.trim(), log.display());
        }
        std::thread::sleep(Duration::from_secs(1));
    }

    // Sample through the warm-up and the observation window.
    let ticks_per_s = clock_ticks_per_s();
    let mut due: HashMap<String, Vec<i64>> = HashMap::new();
    let mut samples = Vec::new();
    let begin = Instant::now();
    let total = Duration::from_secs(options.warmup_s + options.observe_s);
    let mut next_sample = Duration::ZERO;
    let mut window_start_ms = None;
    eprintln!("xtask: warm-up {} s, then observing for {} s", options.warmup_s, options.observe_s);
    while next_sample <= total {
        if let Some(wait) = next_sample.checked_sub(begin.elapsed()) {
            std::thread::sleep(wait);
        }
        let (cpu_ticks, rss_kib) = process_usage(pid)?;
        let at_ms = now_ms();
        if window_start_ms.is_none() && next_sample >= Duration::from_secs(options.warmup_s) {
            window_start_ms = Some(at_ms);
        }
        samples.push((next_sample, Sample { at_ms, cpu_ticks, rss_kib }));
        for line in sqlite(&db, "SELECT id, next_check_at FROM data_sources WHERE next_check_at IS NOT NULL")?.lines() {
            if let Some((id, at)) = line.split_once('|')
                && let Some(at) = parse_utc_ms(at)
            {
                let times = due.entry(id.to_owned()).or_default();
                if times.last() != Some(&at) {
                    times.push(at);
                }
            }
        }
        next_sample += SAMPLE_EVERY;
    }
    let window_start_ms = window_start_ms.context("no sample in the observation window")?;
    let hwm_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let server_hwm_kib: u64 = hwm_status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_default();
    let window: Vec<&Sample> = samples
        .iter()
        .filter(|(offset, _)| *offset >= Duration::from_secs(options.warmup_s))
        .map(|(_, sample)| sample)
        .collect();
    let (first, last) = match (window.first(), window.last()) {
        (Some(first), Some(last)) if last.at_ms > first.at_ms => (*first, *last),
        _ => bail!("the observation window is too short"),
    };
    let window_end_ms = last.at_ms;
    let window_s = (window_end_ms - window_start_ms) as f64 / 1000.0;
    let cpu_percent = (last.cpu_ticks - first.cpu_ticks) as f64 / ticks_per_s / window_s * 100.0;
    let rss_avg = window.iter().map(|s| s.rss_kib as f64).sum::<f64>() / window.len() as f64 / 1024.0;
    let rss_peak = mib(window.iter().map(|s| s.rss_kib).max().unwrap_or_default());

    // The health history: scheduled checks by start time, and when each
    // data source's creation test ended (its first scheduled check is due
    // from then: a never-checked source has no next_check_at and is claimed
    // first).
    let history = sqlite(
        &db,
        "SELECT data_source_id, origin, checked_at, response_time_ms, ok FROM health_checks \
         WHERE origin IN ('scheduler', 'create')",
    )?;
    let mut checks: HashMap<&str, Vec<(i64, bool)>> = HashMap::new();
    let mut created: HashMap<&str, i64> = HashMap::new();
    let mut failed_total = 0usize;
    for line in history.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        let [id, origin, checked_at, response_ms, ok] = fields[..] else { bail!("unexpected sqlite3 line `{line}`") };
        let checked_at = parse_utc_ms(checked_at).with_context(|| format!("bad checked_at `{checked_at}`"))?;
        let ok = ok == "1";
        failed_total += usize::from(!ok);
        if origin == "create" {
            created.insert(id, checked_at);
        } else {
            checks.entry(id).or_default().push((checked_at - response_ms.parse::<i64>()?, ok));
        }
    }
    let (mut lags, mut gaps) = (Vec::new(), Vec::new());
    let (mut in_window, mut first_checks, mut failed, mut unmatched) = (0usize, 0usize, 0usize, 0usize);
    for (id, starts) in &mut checks {
        starts.sort_unstable();
        let dues = due.get(*id).map(Vec::as_slice).unwrap_or_default();
        let mut previous = None;
        for &(start, ok) in starts.iter() {
            if (window_start_ms..window_end_ms).contains(&start) {
                in_window += 1;
                failed += usize::from(!ok);
                // The due time: the latest next_check_at not after the start
                // (2 ms of slack for the millisecond rounding of both); for
                // a source's first scheduled check, the end of its creation test.
                let due_at = match (dues.iter().copied().filter(|d| *d <= start + 2).max(), previous) {
                    (Some(due_at), _) => Some(due_at),
                    (None, None) => {
                        first_checks += 1;
                        created.get(*id).copied()
                    }
                    (None, Some(_)) => None,
                };
                match due_at {
                    Some(due_at) => lags.push((start - due_at).max(0)),
                    None => unmatched += 1,
                }
                if let Some(previous) = previous {
                    gaps.push(start - previous);
                }
            }
            previous = Some(start);
        }
    }
    lags.sort_unstable();
    gaps.sort_unstable();
    let checks_per_s = in_window as f64 / window_s;
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let expected = options.sources as f64 / f64::from(INTERVAL_S);
    drop(server);

    let setting = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let gap_note = if gaps.is_empty() {
        "No data source was checked twice within the window.".to_owned()
    } else {
        format!(
            "Time between consecutive checks of a data source: min {:.1} s, p50 {:.1} s, max {:.1} s ({} pairs).",
            seconds(gaps[0]),
            seconds(percentile(&gaps, 50.0)),
            seconds(gaps[gaps.len() - 1]),
            thousands(gaps.len())
        )
    };
    Ok(format!(
        "Health scheduler at scale: `inlet serve` (SQLite) on {cores} cores, {sources} Redis data sources every \
         {INTERVAL_S} s{settings_note}; scheduler tick {tick} ms, concurrency {concurrency}; observed for \
         {window_s:.0} s after a {warmup} s warm-up (creation: {create_s:.0} s):\n\n\
         | data sources | checks/s (needed {expected:.0}) | CPU (% of one core) | RSS avg / peak | lag p50 / p95 / max | failed checks |\n\
         | --- | --- | --- | --- | --- | --- |\n\
         | {sources} | {checks_per_s:.1} | {cpu_percent:.0} % | {rss_avg:.0} / {rss_peak:.0} MiB | \
         {p50:.2} / {p95:.2} / {max:.2} s | {failed} of {checks} ({failed_total} since start) |\n\n\
         Lag: when a check started (`checked_at − response_time_ms`) minus when it was due: the `next_check_at` \
         its previous claim set (claim time + 60 s ± 6 s of jitter, so the jitter is not lag), or for a data \
         source's first scheduled check the end of its creation test. It includes up to one scheduler tick. \
         {first_checks} of the window's checks were first checks; {unmatched} had no observed due time. \
         {gap_note} Server VmHWM since start (creation included): {hwm:.0} MiB.\n",
        cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        sources = thousands(options.sources),
        settings_note = if settings { " (`connection_settings.idle_timeout_s`: 30)" } else { "" },
        tick = setting("INLET_HEALTH_TICK_MS", "1000"),
        concurrency = setting("INLET_HEALTH_CONCURRENCY", "16"),
        warmup = options.warmup_s,
        checks = thousands(in_window),
        first_checks = thousands(first_checks),
        p50 = seconds(percentile(&lags, 50.0)),
        p95 = seconds(percentile(&lags, 95.0)),
        max = seconds(lags.last().copied().unwrap_or_default()),
        hwm = mib(server_hwm_kib),
    ))
}
