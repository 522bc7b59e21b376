//! `cargo xtask bench reading`: reading data through the API against the
//! native ways of reading the same rows, measured in the same run.
//!
//! - A 10-column table of 1,000,000 rows (and one of 100,000) on the local
//!   PostgreSQL, read whole (`SELECT *`) four ways: `psql \copy … TO
//!   '/dev/null'` (text COPY), tokio-postgres natively (binary rows, values
//!   not decoded: `tests/examples/pg_read.rs`), and `POST /query` as Arrow IPC
//!   and as NDJSON through a fresh `inlet serve` with only the postgres
//!   plugin. Each is the median of three runs; the API's peak RSS growth
//!   (VmHWM after minus VmRSS before) is taken per size.
//! - Preview of the first 100 rows of one table of the 10,000-table bench
//!   catalog, on a warm pool: p50 and p99 of 200 calls.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::discovery_e2e::{Api, Inlet, fresh_data_dir, only_postgres_plugin, proc_status_kib};
use crate::load::{Running, free_port, request, wait_for};
use crate::scale::{CATALOG_DB, ensure_catalog, median, percentile, psql_query};

const ROWS_DB: &str = "inlet_bench_rows";
const SIZES: [u64; 2] = [100_000, 1_000_000];
const RUNS: usize = 3;
const PREVIEW_CALLS: usize = 200;
const CATALOG_TABLES: u32 = 10_000;

/// One way of reading one table: its median time and what it read.
struct Reading {
    ms: f64,
    rows: u64,
    bytes: u64,
}

pub fn reading(root: &Path) -> Result<()> {
    for rows in SIZES {
        ensure_rows_table(rows)?;
    }
    ensure_catalog(CATALOG_TABLES)?;
    seed_preview_table()?;
    build_native_baseline(root)?;

    let work = root.join("target/scale-bench");
    let plugins = only_postgres_plugin(root, &work)?;
    let data_dir = work.join("reading");
    fresh_data_dir(&data_dir)?;
    let inlet = Inlet { root, data_dir: &data_dir, plugins: &plugins, database_url: None };
    inlet.cli(&["org", "create", "bench"])?;
    let token = inlet.cli(&["token", "create", "--org", "bench", "--role", "org-admin"])?;
    let port = free_port()?;
    let log = work.join("reading-server.log");
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
    let rows_source = api.create_source(ROWS_DB)?;
    let catalog_source = api.create_source(CATALOG_DB)?;

    let mut table = String::from(
        "| rows × 10 columns | psql `\\copy` | tokio-postgres (native) | API Arrow IPC | API NDJSON | Arrow vs native | Arrow vs psql | API peak RSS growth |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for rows in SIZES {
        let statement = format!("SELECT * FROM {}", table_name(rows));
        let psql = measure(|| psql_copy(&statement))?;
        let native = measure(|| native(root, &statement))?;
        let mut rss_growth_kib = 0;
        let arrow = measure(|| {
            let (reading, growth) = through_api(&api, pid, &rows_source, &statement, rows, ARROW)?;
            rss_growth_kib = rss_growth_kib.max(growth);
            Ok(reading)
        })
        .with_context(|| format!("server log: {}", log.display()))?;
        let ndjson = measure(|| Ok(through_api(&api, pid, &rows_source, &statement, rows, NDJSON)?.0))?;
        for (name, reading) in [("psql", &psql), ("native", &native), ("NDJSON", &ndjson)] {
            if reading.rows != rows {
                bail!("{name} read {} rows of {rows}", reading.rows);
            }
        }
        table.push_str(&format!(
            "| {rows} | {:.0} ms | {:.0} ms | {:.0} ms ({:.1} MiB) | {:.0} ms ({:.1} MiB) | {:.2}× | {:.2}× | {:.1} MiB |\n",
            psql.ms,
            native.ms,
            arrow.ms,
            arrow.bytes as f64 / 1048576.0,
            ndjson.ms,
            ndjson.bytes as f64 / 1048576.0,
            arrow.ms / native.ms,
            arrow.ms / psql.ms,
            rss_growth_kib as f64 / 1024.0,
        ));
    }
    let preview = preview_latency(&api, &catalog_source)?;
    drop(server);
    println!("\n{table}\n{preview}");
    Ok(())
}

fn table_name(rows: u64) -> String {
    format!("rows_{rows}")
}

/// Creates `rows_N` in `inlet_bench_rows` unless it is there with N rows:
/// ten columns of the common types, every value distinct enough that no
/// encoding gets an easy ride, a NULL in every seventh row of two columns.
fn ensure_rows_table(rows: u64) -> Result<()> {
    let exists = psql_query("postgres", &format!("SELECT 1 FROM pg_database WHERE datname = '{ROWS_DB}'"))?;
    if exists.trim().is_empty() {
        psql_query("postgres", &format!("CREATE DATABASE {ROWS_DB}"))?;
    }
    let table = table_name(rows);
    let count = psql_query(ROWS_DB, &format!("SELECT count(*) FROM pg_class WHERE relname = '{table}'"))?;
    if count.trim() == "1" && psql_query(ROWS_DB, &format!("SELECT count(*) FROM {table}"))?.trim() == rows.to_string()
    {
        return Ok(());
    }
    eprintln!("xtask: creating {ROWS_DB}.{table}…");
    psql_query(
        ROWS_DB,
        &format!(
            "DROP TABLE IF EXISTS {table}; \
             CREATE TABLE {table} AS SELECT \
               g::bigint AS id, \
               (g % 100000)::int AS small, \
               g * 7919 AS big, \
               g / 3.0::float8 AS ratio, \
               (g % 1000000)::numeric(12, 2) / 100 AS amount, \
               'name-' || g AS name, \
               CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END AS note, \
               g % 2 = 0 AS flag, \
               DATE '2000-01-01' + (g % 9000)::int AS day, \
               CASE WHEN g % 7 = 3 THEN NULL ELSE TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 second' END AS at \
             FROM generate_series(1, {rows}) AS g; \
             ANALYZE {table}"
        ),
    )?;
    Ok(())
}

/// 100 rows in the first table of the catalog, for the preview.
fn seed_preview_table() -> Result<()> {
    psql_query(
        CATALOG_DB,
        "INSERT INTO bench_00.t_00000 (id, name, amount, payload, tags, ref, score, note) \
         SELECT g, 'row ' || g, g * 1.5, jsonb_build_object('g', g), ARRAY['a', 'b'], \
                md5(g::text)::uuid, g / 7.0, 'note' \
         FROM generate_series(1, 100) AS g ON CONFLICT (id) DO NOTHING",
    )?;
    Ok(())
}

fn build_native_baseline(root: &Path) -> Result<()> {
    let status = Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "-q", "-p", "inlet-tests", "--example", "pg_read"])
        .status()?;
    if !status.success() {
        bail!("building the native baseline (tests/examples/pg_read.rs) failed");
    }
    Ok(())
}

/// The median of [`RUNS`] readings.
fn measure(mut once: impl FnMut() -> Result<Reading>) -> Result<Reading> {
    let mut readings = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        readings.push(once()?);
    }
    let mut times: Vec<f64> = readings.iter().map(|r| r.ms).collect();
    let ms = median(&mut times);
    let last = readings.pop().context("no reading")?;
    Ok(Reading { ms, ..last })
}

fn psql_copy(statement: &str) -> Result<Reading> {
    let started = Instant::now();
    let output = Command::new("psql")
        .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", ROWS_DB, "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("\\copy ({statement}) TO '/dev/null'"))
        .output()?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if !output.status.success() {
        bail!("psql \\copy failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    // psql prints nothing when quiet; the row count is the table's.
    let rows = psql_query(ROWS_DB, &format!("SELECT count(*) FROM ({statement}) AS t"))?.trim().parse()?;
    Ok(Reading { ms, rows, bytes: 0 })
}

fn native(root: &Path, statement: &str) -> Result<Reading> {
    let output = Command::new(root.join("target/release/examples/pg_read")).args([ROWS_DB, statement]).output()?;
    if !output.status.success() {
        bail!("pg_read failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8(output.stdout)?;
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|part| part.strip_prefix(name))
            .with_context(|| format!("no {name} in pg_read's output `{text}`"))
    };
    Ok(Reading { ms: field("ms=")?.parse()?, rows: field("rows=")?.parse()?, bytes: field("bytes=")?.parse()? })
}

const ARROW: &str = "application/vnd.apache.arrow.stream";
const NDJSON: &str = "application/x-ndjson";

/// `POST /query` read to its end: the reading, and the server's peak RSS
/// growth during it.
fn through_api(api: &Api<'_>, pid: u32, id: &str, statement: &str, rows: u64, accept: &str) -> Result<(Reading, u64)> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("reset the server's VmHWM")?;
    let rss_before = proc_status_kib(pid, "VmRSS:")?;
    let body = json!({ "statement": statement, "max_rows": rows }).to_string();
    // HTTP/1.0: the server streams the body and closes, no chunking to undo.
    let mut stream = TcpStream::connect(("127.0.0.1", api.port))?;
    stream.set_read_timeout(Some(Duration::from_secs(600)))?;
    let started = Instant::now();
    write!(
        stream,
        "POST /api/v1/data-sources/{id}/query HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Accept: {accept}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        api.token,
        body.len()
    )?;
    let mut buffer = vec![0u8; 1 << 16];
    let (mut head, mut bytes, mut newlines) = (Vec::new(), 0u64, 0u64);
    let mut in_body = false;
    loop {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        let mut chunk = &buffer[..n];
        if !in_body {
            head.extend_from_slice(chunk);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let status = String::from_utf8_lossy(&head[..end]).split_whitespace().nth(1).unwrap_or("").to_owned();
            if status != "200" {
                bail!("POST /query ({accept}) answered {}", String::from_utf8_lossy(&head));
            }
            in_body = true;
            let rest = head.split_off(end + 4);
            bytes += rest.len() as u64;
            newlines += rest.iter().filter(|&&b| b == b'\n').count() as u64;
            chunk = &[];
        }
        bytes += chunk.len() as u64;
        newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let growth = proc_status_kib(pid, "VmHWM:")?.saturating_sub(rss_before);
    // NDJSON: a line of columns, then one per row.
    let rows_read = if accept == NDJSON { newlines.saturating_sub(1) } else { rows };
    Ok((Reading { ms, rows: rows_read, bytes }, growth))
}

/// p50 and p99 of previews of 100 rows of one table of the catalog, warm.
fn preview_latency(api: &Api<'_>, id: &str) -> Result<String> {
    let path = format!("/api/v1/data-sources/{id}/preview?schema=bench_00&table=t_00000&limit=100");
    let call = || -> Result<i64> {
        let started = Instant::now();
        let (status, body) = request(api.port, "GET", &path, Some(api.token), None)?;
        let micros = started.elapsed().as_micros() as i64;
        if status != 200 || body["rows"].as_array().map(Vec::len) != Some(100) {
            bail!("preview answered {status}: {body}");
        }
        Ok(micros)
    };
    for _ in 0..20 {
        call()?;
    }
    let mut samples = (0..PREVIEW_CALLS).map(|_| call()).collect::<Result<Vec<i64>>>()?;
    samples.sort_unstable();
    let ms = |micros: i64| micros as f64 / 1000.0;
    Ok(format!(
        "| preview (100 rows × 10 columns, {CATALOG_TABLES}-table database, warm pool) | p50 | p99 |\n| --- | --- | --- |\n| {PREVIEW_CALLS} calls | {:.1} ms | {:.1} ms |\n",
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
    ))
}
