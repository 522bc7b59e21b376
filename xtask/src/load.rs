//! `cargo xtask load [SECONDS]`: the README's API throughput figures.
//!
//! Starts `inlet serve` on SQLite in `target/load-data/` with 25 CSV data
//! sources and an org-admin token, and the axum hello-world
//! (`host/examples/hello.rs`) as the ceiling; loads each with
//! `wrk -t2 -c32 --latency` and prints requests/s, p50 and p99 per endpoint.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const DATA_SOURCES: usize = 25;

/// Kills the child process when dropped, so a failed run leaves no server behind.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Figures {
    requests_per_s: f64,
    p50: String,
    p99: String,
}

pub fn load(root: &Path, args: &[String]) -> Result<()> {
    let seconds: u32 = match args.first() {
        Some(text) => text.parse().with_context(|| format!("`{text}` is not a number of seconds"))?,
        None => 10,
    };
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is not installed (Debian: apt-get install wrk)");
    }
    super::run(Command::new("cargo").args(["build", "--release", "-p", "inlet", "--example", "hello"]))?;

    let data_dir = root.join("target/load-data");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let inlet = root.join("target/release/inlet");
    if !inlet.exists() {
        bail!("{} is missing: run `cargo xtask build` first", inlet.display());
    }
    let command = |args: &[&str]| {
        let mut cmd = Command::new(&inlet);
        cmd.args(args)
            .env("INLET_DATA_DIR", &data_dir)
            .env("INLET_PLUGINS_DIR", root.join("target/plugins"))
            .env("INLET_EGRESS_LOOPBACK", "allow")
            .env("RUST_LOG", "warn");
        cmd
    };
    let output = command(&["org", "create", "bench"]).output()?;
    if !output.status.success() {
        bail!("inlet org create failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let output = command(&["token", "create", "--org", "bench", "--role", "org-admin"]).output()?;
    let token = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().trim().to_owned();
    if !output.status.success() || token.is_empty() {
        bail!("inlet token create failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    let api_port = free_port()?;
    let _server =
        Running(command(&["serve"]).env("INLET_BIND", format!("127.0.0.1:{api_port}")).stdout(Stdio::null()).spawn()?);
    wait_for(api_port, "/healthz")?;
    let csv = root.join("tests/fixtures/csv/mixed.csv");
    let mut ids = Vec::new();
    for i in 0..DATA_SOURCES {
        let body = json!({ "name": format!("source-{i:02}"), "type": "csv", "config": { "file_path": csv } });
        let (status, created) = request(api_port, "POST", "/api/v1/data-sources", Some(&token), Some(&body))?;
        if status != 201 {
            bail!("creating a data source answered {status}: {created}");
        }
        ids.push(created["id"].as_str().context("created data source has no id")?.to_owned());
    }
    // Let the background connection tests finish so the load sees settled rows.
    std::thread::sleep(Duration::from_secs(2));

    let hello_port = free_port()?;
    let _hello = Running(
        Command::new(root.join("target/release/examples/hello"))
            .arg(format!("127.0.0.1:{hello_port}"))
            .stdout(Stdio::null())
            .spawn()?,
    );
    wait_for(hello_port, "/")?;

    let ceiling = wrk(hello_port, "/", None, seconds)?;
    let detail = wrk(api_port, &format!("/api/v1/data-sources/{}", ids[0]), Some(&token), seconds)?;
    let list = wrk(api_port, "/api/v1/data-sources?page_size=20", Some(&token), seconds)?;

    println!("\n| endpoint | requests/s | p50 | p99 | vs ceiling |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, figures) in [
        ("axum hello-world (ceiling)", &ceiling),
        ("`GET /api/v1/data-sources/{id}`", &detail),
        ("`GET /api/v1/data-sources?page_size=20`", &list),
    ] {
        println!(
            "| {name} | {:.0} | {} | {} | {:.2} |",
            figures.requests_per_s,
            figures.p50,
            figures.p99,
            figures.requests_per_s / ceiling.requests_per_s
        );
    }
    Ok(())
}

fn wrk(port: u16, path: &str, token: Option<&str>, seconds: u32) -> Result<Figures> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency"]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = cmd.arg(format!("http://127.0.0.1:{port}{path}")).output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") {
        bail!("wrk on {path} failed or saw errors:\n{text}");
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.trim().to_owned())
            .with_context(|| format!("no `{prefix}` in wrk's output:\n{text}"))
    };
    Ok(Figures {
        requests_per_s: field("Requests/sec:")?.parse().context("wrk's Requests/sec")?,
        p50: field("50%")?,
        p99: field("99%")?,
    })
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn wait_for(port: u16, path: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if matches!(request(port, "GET", path, None, None), Ok((200, _))) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing answered on 127.0.0.1:{port}{path}")
}

/// One HTTP/1.1 request with `Connection: close`; the body as JSON (or null).
pub(crate) fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}
