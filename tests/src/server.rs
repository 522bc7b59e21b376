//! A real `inlet serve` for the REST API tests: a free port, a temporary data
//! dir, a store (SQLite in the data dir, or a fresh PostgreSQL database on the
//! shared server), the admin CLI against the same store, and a small HTTP/1.1
//! client over `std::net` (no TLS, no extra dependencies).
//!
//! The server is killed when the value is dropped; a PostgreSQL store's
//! database is dropped with it. Server stderr goes to a log file outside the
//! data dir, so tests can search it (e.g. for leaked secrets).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::require::{self, Service};
use crate::{free_port, inlet_bin, workspace_root};

/// Where the server keeps its own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `inlet.db` in the data dir (the default).
    Sqlite,
    /// A fresh database on the shared PostgreSQL server on 127.0.0.1:5432.
    Postgres,
}

impl Backend {
    /// Requires what this backend needs here (see [`crate::require`]).
    #[track_caller]
    pub fn require(self) {
        match self {
            Backend::Sqlite => {}
            Backend::Postgres => {
                require::service(Service::Postgres);
                require::tool("psql");
            }
        }
    }
}

/// `INLET_FILES_ROOT` for test servers: the repository's fixtures and the
/// temporary directory the tests write their files to. A server's default
/// is no root at all (stored files only): tests of that default call
/// [`Inlet::without_files_root`].
pub fn test_files_roots() -> String {
    format!("{}:{}", workspace_root().join("tests/fixtures").display(), std::env::temp_dir().display())
}

/// 32 random bytes as standard base64, for `INLET_MASTER_KEY`.
pub fn random_master_key() -> String {
    let mut bytes = Vec::with_capacity(32);
    while bytes.len() < 32 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        hasher.write_u32(std::process::id());
        bytes.extend_from_slice(&hasher.finish().to_le_bytes());
    }
    base64(&bytes[..32])
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A token created by the CLI.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    pub secret: String,
}

/// One Inlet installation (data dir + store + master key) and, while
/// started, its server process.
pub struct Inlet {
    pub backend: Backend,
    pub data_dir: tempfile::TempDir,
    log_dir: tempfile::TempDir,
    pub master_key: String,
    /// `INLET_DATABASE_URL` for the PostgreSQL backend.
    pub database_url: Option<String>,
    pg_database: Option<PgDatabase>,
    /// `RUST_LOG` for the server (default `info,sqlx=warn`).
    pub log_filter: String,
    /// More environment for the server and the CLI (e.g. `INLET_FILES_ROOT`).
    pub extra_env: Vec<(String, String)>,
    child: Option<Child>,
    pub port: u16,
    starts: u32,
}

impl Inlet {
    /// A fresh installation (not started).
    pub fn new(backend: Backend) -> Self {
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let db = PgDatabase::create("inlet_api");
                (Some(db.url()), Some(db))
            }
        };
        Self {
            backend,
            data_dir: tempfile::tempdir().expect("temp data dir"),
            log_dir: tempfile::tempdir().expect("temp log dir"),
            master_key: random_master_key(),
            database_url,
            pg_database,
            log_filter: "info,sqlx=warn".into(),
            extra_env: vec![("INLET_FILES_ROOT".into(), test_files_roots())],
            child: None,
            port: 0,
            starts: 0,
        }
    }

    /// Drops the test files roots: the server reads stored files only, as
    /// a server does by default.
    pub fn without_files_root(&mut self) {
        self.extra_env.retain(|(key, _)| key != "INLET_FILES_ROOT");
    }

    /// Lets a platform admin with `admin_token` install unsigned plugins
    /// (the hostile fixtures and test copies are not signed).
    pub fn allow_unsigned_installs(&mut self, admin_token: &str) {
        self.extra_env.push(("INLET_BOOTSTRAP_ADMIN_TOKEN".into(), admin_token.into()));
        self.extra_env.push(("INLET_ALLOW_UNSIGNED_PLUGINS".into(), "allow".into()));
    }

    /// A fresh installation, started, with one organization and an
    /// org-admin token for it.
    pub fn started_with_org(backend: Backend, org: &str) -> (Self, Token) {
        let mut inlet = Self::new(backend);
        inlet.org(org);
        let token = inlet.token(org, "org-admin", &[]);
        inlet.start();
        (inlet, token)
    }

    fn command(&self, master_key: &str) -> Command {
        let mut cmd = Command::new(inlet_bin());
        for (key, _) in std::env::vars() {
            if key.starts_with("INLET_") && key != "INLET_REQUIRE_SERVICES" {
                cmd.env_remove(key);
            }
        }
        cmd.env("INLET_DATA_DIR", self.data_dir.path())
            .env("INLET_PLUGINS_DIR", workspace_root().join("target/plugins"))
            .env("INLET_MASTER_KEY", master_key)
            .env("INLET_EGRESS_LOOPBACK", "allow");
        if let Some(url) = &self.database_url {
            cmd.env("INLET_DATABASE_URL", url);
        }
        for (key, value) in &self.extra_env {
            cmd.env(key, value);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs an admin command (`inlet org create …`) against this store;
    /// panics unless it succeeds. Returns (stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (String, String) {
        let output = self.command(&self.master_key).args(args).output().expect("run inlet");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "inlet {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
        (stdout, stderr)
    }

    /// `inlet org create NAME`: the organization's id.
    pub fn org(&self, name: &str) -> String {
        last_line(&self.cli(&["org", "create", name]).0)
    }

    /// `inlet workspace create --org ORG NAME`: the workspace's id.
    pub fn workspace(&self, org: &str, name: &str) -> String {
        last_line(&self.cli(&["workspace", "create", "--org", org, name]).0)
    }

    /// `inlet token create --org ORG --role ROLE [--workspace W]…`.
    pub fn token(&self, org: &str, role: &str, workspaces: &[&str]) -> Token {
        let mut args = vec!["token", "create", "--org", org, "--role", role];
        for workspace in workspaces {
            args.extend(["--workspace", workspace]);
        }
        let (stdout, stderr) = self.cli(&args);
        let id = stderr
            .lines()
            .find_map(|line| line.split("token id ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no token id in: {stderr}"))
            .to_owned();
        Token { id, secret: last_line(&stdout) }
    }

    /// `inlet token revoke ID`.
    pub fn revoke(&self, token: &Token) {
        self.cli(&["token", "revoke", &token.id]);
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.log_dir.path().join(format!("server-{start}.log"))
    }

    /// Everything the server processes wrote to stderr so far.
    pub fn server_log(&self) -> String {
        strip_ansi(&self.server_log_raw())
    }

    /// [`Inlet::server_log`] as written, terminal escapes included.
    pub fn server_log_raw(&self) -> String {
        (0..self.starts).map(|i| std::fs::read_to_string(self.log_path(i)).unwrap_or_default()).collect()
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts `inlet serve` on a free port and waits for `/healthz`.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already started");
        let log_path = self.log_path(self.starts);
        self.starts += 1;
        self.port = free_port();
        let log = std::fs::File::create(&log_path).expect("server log");
        let child = self
            .command(&self.master_key)
            .arg("serve")
            .env("INLET_BIND", format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", &self.log_filter)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start inlet serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(response) = try_request(self.port, "GET", "/healthz", &[], None)
                && response.status == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("inlet serve exited with {status}:\n{}", self.server_log());
            }
            assert!(Instant::now() < deadline, "inlet serve did not answer /healthz:\n{}", self.server_log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: SIGINT (graceful), then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Kills the server with SIGKILL: no graceful shutdown, as in a crash.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Runs `inlet serve` with another master key and waits for it to exit
    /// (killed after `timeout`). Returns the output, or None when it kept running.
    pub fn serve_with_key(&self, master_key: &str, timeout: Duration) -> Option<Output> {
        let mut child = self
            .command(master_key)
            .arg("serve")
            .env("INLET_BIND", format!("127.0.0.1:{}", free_port()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start inlet serve");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(child.wait_with_output().expect("output"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A client sending this bearer token.
    pub fn api(&self, token: &Token) -> Api {
        Api { port: self.port, token: Some(token.secret.clone()) }
    }

    /// A client with a raw Authorization token (or none).
    pub fn api_raw(&self, token: Option<&str>) -> Api {
        Api { port: self.port, token: token.map(str::to_owned) }
    }

    /// Every file under the data dir, with its bytes.
    pub fn data_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        collect_files(self.data_dir.path(), &mut files);
        files
    }

    /// For the PostgreSQL backend: a whole-database dump (`pg_dump`), if available.
    pub fn pg_dump(&self) -> Option<Vec<u8>> {
        let name = &self.pg_database.as_ref()?.name;
        let output =
            Command::new("pg_dump").args(["-h", "127.0.0.1", "-U", "postgres", "--data-only", name]).output().ok()?;
        output.status.success().then_some(output.stdout)
    }
}

impl Drop for Inlet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Shown with the failing test's output.
            let log = self.server_log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- last lines of the server log ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The store's database (if any) is dropped after the server is gone.
        self.pg_database.take();
    }
}

/// A fresh database on the shared PostgreSQL server (127.0.0.1:5432, trust
/// auth), dropped (with FORCE) when the value is dropped.
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    /// `<prefix>_<pid>_<n>`.
    pub fn create(prefix: &str) -> Self {
        let name = format!("{prefix}_{}_{}", std::process::id(), DB_COUNTER.fetch_add(1, Ordering::SeqCst));
        psql("postgres", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        psql("postgres", &format!("CREATE DATABASE {name}"));
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// Runs SQL in this database; panics when it fails.
    pub fn run(&self, sql: &str) {
        psql(&self.name, sql);
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .output();
    }
}

fn collect_files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
}

fn psql(database: &str, sql: &str) {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("run psql");
    assert!(output.status.success(), "psql `{sql}` failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Removes terminal colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn last_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned()
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {} body is not JSON ({e}): {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts the status, returning self.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
        self
    }

    /// Asserts an API error `{"error":{"code","message"}}` with this status
    /// and code; returns the `error` object.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
        let json = self.json();
        assert!(
            self.header("content-type").is_some_and(|t| t.starts_with("application/json")),
            "an error without a JSON content type: {:?}",
            self.headers
        );
        let error = json.get("error").unwrap_or_else(|| panic!("no `error` object: {json}"));
        assert_eq!(error["code"], code, "unexpected error code: {json}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "no error message: {json}");
        assert!(
            error.as_object().unwrap().keys().all(|k| ["code", "message", "details"].contains(&k.as_str())),
            "unexpected keys in the error: {json}"
        );
        error.clone()
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        // The server may answer (413) and close before reading it all.
        let _ = stream.write_all(body);
    }
    let mut raw = Vec::new();
    // A reset after the server answered early still leaves the answer readable.
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    parse_response(&raw)
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP response: {}", String::from_utf8_lossy(&raw))))
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = at + rest[at..].windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&rest[at..line_end]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                break;
            }
            body.extend_from_slice(rest.get(at..at + size)?);
            at += size + 2;
        }
        body
    } else {
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok());
        match length {
            Some(n) => rest.get(..n)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Some(Response { status, headers, body })
}

/// A client of one server, with an optional bearer token.
#[derive(Debug, Clone)]
pub struct Api {
    pub port: u16,
    pub token: Option<String>,
}

impl Api {
    /// Sends a request with the token (if any), extra headers and a raw body.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            all.push(("Authorization", auth));
        }
        all.extend_from_slice(headers);
        try_request(self.port, method, path, &all, body)
            .unwrap_or_else(|e| panic!("{method} {path}: request failed: {e}"))
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, &[], None)
    }

    /// `POST`/`PUT` a plugin directory as the install form: its
    /// `plugin.toml`, `plugin.wasm` and, when present, `plugin.sig`.
    pub fn upload_plugin(&self, method: &str, path: &str, dir: &std::path::Path) -> Response {
        let boundary = "inlet-plugin-boundary-93ab";
        let mut body = Vec::new();
        for (field, file) in [("manifest", "plugin.toml"), ("wasm", "plugin.wasm"), ("signature", "plugin.sig")] {
            let Ok(bytes) = std::fs::read(dir.join(file)) else { continue };
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(&bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.send(method, path, &[("Content-Type", &content_type)], Some(&body))
    }

    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, &[], None)
    }

    /// A request with a JSON body (`Content-Type: application/json`).
    pub fn json(&self, method: &str, path: &str, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("JSON");
        self.send(method, path, &[("Content-Type", "application/json")], Some(&bytes))
    }

    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.json("POST", path, body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Response {
        self.json("PATCH", path, body)
    }

    /// `POST /api/v1/data-sources`; asserts 201 and returns the data source.
    #[track_caller]
    pub fn create(&self, body: &Value) -> Value {
        self.post("/api/v1/data-sources", body).expect(201).json()
    }

    /// Polls `GET /api/v1/data-sources/{id}` until its status is not `testing`.
    #[track_caller]
    pub fn wait_settled(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let data_source = self.get(&format!("/api/v1/data-sources/{id}")).expect(200).json();
            if data_source["status"] != "testing" {
                return data_source;
            }
            assert!(Instant::now() < deadline, "data source {id} is still testing: {data_source}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
