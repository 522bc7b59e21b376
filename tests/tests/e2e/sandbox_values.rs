//! Bounds on what a connector sends back and on the files it is granted,
//! through the real server, with hostile fixtures of their own
//! (`tests/fixtures/hostile-strings`, `tests/fixtures/hostile-logs`) and
//! special files in a granted folder, while a healthy data source and
//! `/healthz` are measured:
//!
//! - a 120 MiB error message or server version and huge step names are cut
//!   to their documented sizes with a marker; the database, `GET /{id}`,
//!   `/health` and `/events` stay small; a page over the byte cap fails;
//! - a log or stdout flood reaches the log at the documented rate, once
//!   suppressed, with no forged line and no terminal escape;
//! - a FIFO or a socket in a granted folder is refused at once (server and
//!   `inlet plugin exec`), and a FIFO swapped in after the grant does not
//!   block the guest's open; no thread is left stuck.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use inlet::model::ErrorKind;
use inlet::plugin::Secrets;
use inlet::runtime::bounds::{MARKER_MAX, limits};
use inlet::runtime::log_limit::LINES_PER_SECOND;
use inlet::runtime::{CallError, ConnectInput, Runtime, RuntimeConfig};
use inlet::sandbox::EgressPolicy;
use inlet::sandbox::files::{FileRoots, FilesPolicy};
use inlet::source::{self, SandboxSettings};
use inlet_tests::server::{Api, Backend, Inlet, try_request};
use inlet_tests::{exec, fixture_dir, inlet_bin, plugin_dir, wait_for, workspace_root};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "platform-admin-token-for-sandbox-values-41ad";
const DS: &str = "/api/v1/data-sources";
/// What one response about a hostile data source may weigh at most.
const RESPONSE_CAP: usize = 256 * 1024;

/// A server with an org-admin, a platform admin allowed to install unsigned
/// plugins, no health scheduler (the tests drive every check), and a
/// healthy JSON data source.
struct Setup {
    inlet: Inlet,
    api: Api,
    good: String,
    _work: tempfile::TempDir,
}

fn setup(fixtures: &[&str]) -> Setup {
    let work = tempfile::tempdir().expect("temp");
    let data = work.path().join("ok.ndjson");
    std::fs::write(&data, "{\"id\": 1}\n").expect("data");
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.allow_unsigned_installs(ADMIN_TOKEN);
    inlet.extra_env.push(("INLET_HEALTH_SCHEDULER".into(), "off".into()));
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let admin = inlet.api_raw(Some(ADMIN_TOKEN));
    for fixture in fixtures {
        admin
            .upload_plugin("POST", "/api/v1/plugins", &workspace_root().join("target/fixtures").join(fixture))
            .expect(201);
    }
    let api = inlet.api(&token);
    let good = api.create(&json!({ "name": "good", "type": "json", "config": { "file_path": data } }));
    let good = good["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&good)["status"], "active");
    Setup { inlet, api, good, _work: work }
}

impl Setup {
    fn good_still_works(&self) {
        let tested = self.api.post(&format!("{DS}/{}/test", self.good), &json!({})).expect(200).json();
        assert_eq!(tested["ok"], true, "the healthy data source: {tested}");
    }

    fn threads(&self) -> usize {
        threads(self.inlet.pid().expect("running"))
    }
}

/// Threads of a process (`/proc/<pid>/status`).
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads line")
}

/// Polls `/healthz` every 50 ms in the background; [`Pulse::stop`] returns
/// every latency seen (a failed request counts as 60 s).
struct Pulse {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Duration>>,
}

impl Pulse {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = try_request(port, "GET", "/healthz", &[], None).is_ok_and(|r| r.status == 200);
                seen.push(if ok { started.elapsed() } else { Duration::from_secs(60) });
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        });
        Self { stop, handle }
    }

    /// (p99, max) of the latencies, asserting `/healthz` stayed under `bound`.
    fn stop(self, bound: Duration) -> (Duration, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let mut seen = self.handle.join().expect("pulse thread");
        assert!(!seen.is_empty());
        seen.sort();
        let p99 = seen[(seen.len() * 99 / 100).min(seen.len() - 1)];
        let max = *seen.last().expect("one");
        assert!(max < bound, "/healthz took {max:?} (p99 {p99:?}) over {} probes", seen.len());
        (p99, max)
    }
}

fn created(api: &Api, name: &str, source_type: &str, config: Value) -> (String, Value) {
    let quick = json!({ "connect_timeout_s": 10, "query_timeout_s": 20, "max_retries": 0 });
    let body = json!({ "name": name, "type": source_type, "config": config, "connection_settings": quick });
    let id = api.create(&body)["id"].as_str().expect("id").to_owned();
    let settled = api.wait_settled(&id);
    (id, settled)
}

fn database_bytes(inlet: &Inlet) -> u64 {
    ["inlet.db", "inlet.db-wal", "inlet.db-shm"]
        .iter()
        .filter_map(|name| std::fs::metadata(inlet.data_dir.path().join(name)).ok())
        .map(|meta| meta.len())
        .sum()
}

fn assert_cut(text: &str, max: usize, what: &str) {
    assert!(text.len() <= max + MARKER_MAX, "{what}: {} bytes, over {max} + marker", text.len());
    assert!(text.contains(" … [truncated "), "{what} has no marker: …{}", &text[text.len().saturating_sub(60)..]);
}

#[inlet_tests::test]
fn huge_strings_are_cut_at_the_boundary_and_nothing_grows_with_them() {
    let s = setup(&["hostile-strings"]);
    let threads_before = s.threads();
    let pulse = Pulse::start(s.inlet.port);
    let started = Instant::now();

    // A 120 MiB error message: three checks.
    let (error_id, settled) = created(&s.api, "huge-error", "hostile-strings", json!({ "behavior": "huge-error" }));
    assert_eq!(settled["status"], "failed", "{}", &settled.to_string()[..500.min(settled.to_string().len())]);
    for _ in 0..2 {
        let tested = s.api.post(&format!("{DS}/{error_id}/test"), &json!({})).expect(200);
        assert!(tested.body.len() < RESPONSE_CAP, "POST test answered {} bytes", tested.body.len());
    }
    let message = settled["last_test"]["error"]["message"].as_str().expect("message").to_owned();
    assert_cut(&message, limits::ERROR_MESSAGE, "the error message");
    assert!(message.ends_with(" … [truncated 120.0 MiB]"), "…{}", &message[message.len() - 40..]);

    // A 120 MiB server version.
    let (version_id, settled) =
        created(&s.api, "huge-version", "hostile-strings", json!({ "behavior": "huge-version" }));
    assert_eq!(settled["status"], "active");
    let version = settled["last_test"]["server_version"].as_str().expect("version");
    assert_cut(version, limits::SERVER_VERSION, "the server version");

    // 500 steps with 16 KiB names and messages.
    let (steps_id, settled) = created(&s.api, "huge-steps", "hostile-strings", json!({ "behavior": "huge-steps" }));
    let steps = settled["last_test"]["steps"].as_array().expect("steps");
    assert!(steps.len() <= 2 * limits::STEPS, "{} steps kept", steps.len());
    assert!(steps.iter().any(|step| step["name"].as_str().is_some_and(|n| n.contains("steps dropped"))));
    for step in steps.iter().filter(|step| step["name"].as_str().is_some_and(|n| n.starts_with("nnnn"))) {
        assert_cut(step["name"].as_str().unwrap_or_default(), limits::STEP_NAME, "a step name");
        assert_cut(step["message"].as_str().unwrap_or_default(), limits::STEP_MESSAGE, "a step message");
    }

    // A page over the byte cap fails, naming the cap; huge names are cut.
    let (page_id, _) = created(&s.api, "huge-page", "hostile-strings", json!({ "behavior": "huge-page", "mib": 20 }));
    let (names_id, _) = created(&s.api, "huge-names", "hostile-strings", json!({ "behavior": "huge-names" }));
    for id in [&page_id, &names_id] {
        s.api.post(&format!("{DS}/{id}/discover-schema"), &json!({})).expect(202);
    }
    let discovered = |id: &str| {
        wait_for(
            Duration::from_secs(60),
            || s.api.get(&format!("{DS}/{id}/schemas")).expect(200).json(),
            |c| matches!(c["discovery"]["status"].as_str(), Some("succeeded" | "failed")),
        )
    };
    let page = discovered(&page_id);
    assert_eq!(page["discovery"]["status"], "failed", "{}", page["discovery"]);
    let reason = page["discovery"].to_string();
    assert!(reason.contains("16.0 MiB") && reason.contains("protocol"), "{reason}");
    let names = discovered(&names_id);
    assert_eq!(names["discovery"]["status"], "succeeded", "{}", names["discovery"]);
    let catalog = s.api.get(&format!("{DS}/{names_id}/schemas")).expect(200);
    assert!(catalog.body.len() < RESPONSE_CAP, "GET schemas answered {} bytes", catalog.body.len());
    let table = &catalog.json()["items"][0];
    assert_cut(table["name"].as_str().expect("table name"), limits::NAME, "a table name");
    let column = &table["columns"][0];
    assert_cut(column["name"].as_str().expect("column name"), limits::NAME, "a column name");
    assert_cut(column["native_type"].as_str().expect("native type"), limits::TYPE_NAME, "a native type");

    // Every response about them, the database and the log stay small.
    for id in [&error_id, &version_id, &steps_id] {
        for path in [format!("{DS}/{id}"), format!("{DS}/{id}/health?page_size=100")] {
            let response = s.api.get(&path).expect(200);
            assert!(response.body.len() < RESPONSE_CAP, "GET {path} answered {} bytes", response.body.len());
        }
    }
    let events = s.api.get("/api/v1/events?limit=500").expect(200);
    assert!(events.body.len() < RESPONSE_CAP, "GET /events answered {} bytes", events.body.len());
    let database = database_bytes(&s.inlet);
    assert!(database < 8 << 20, "the database grew to {database} bytes");
    let log = s.inlet.server_log_raw();
    assert!(log.len() < 4 << 20, "the server log grew to {} bytes", log.len());
    assert!(!log.contains(&"x".repeat(limits::ERROR_MESSAGE + 1)), "an uncut value reached the log");

    s.good_still_works();
    let (p99, max) = pulse.stop(Duration::from_secs(2));
    let threads_after = s.threads();
    assert!(threads_after <= threads_before + 8, "threads {threads_before} → {threads_after}");
    eprintln!(
        "huge strings: {:?} in all; /healthz p99 {p99:?} max {max:?}; database {database} bytes; \
         GET error source {} bytes; events {} bytes; log {} bytes; threads {threads_before} → {threads_after}",
        started.elapsed(),
        s.api.get(&format!("{DS}/{error_id}")).body.len(),
        events.body.len(),
        log.len()
    );
}

#[inlet_tests::test]
fn a_page_over_the_byte_cap_is_a_protocol_error_and_names_are_cut_in_plugin_exec() {
    let dir = fixture_dir("hostile-strings");
    let outcome = exec(&dir, "hostile-strings", &json!({ "behavior": "huge-page", "mib": 17 }), None, "discover", &[]);
    assert!(!outcome.success, "{:?}", outcome.json);
    assert_eq!(outcome.error_kind(), Some("protocol"), "{:?}", outcome.json);
    let message = outcome.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("16.0 MiB"), "{message}");

    let outcome = exec(&dir, "hostile-strings", &json!({ "behavior": "huge-names" }), None, "discover", &[]);
    assert!(outcome.success, "{:?}", outcome.json);
    let text = outcome.json.to_string();
    assert!(text.len() < 64 * 1024, "plugin exec printed {} bytes", text.len());
    assert!(text.contains("[truncated 1023.0 KiB]"), "{}", &text[..2000.min(text.len())]);
}

#[inlet_tests::test]
fn log_and_stdout_floods_are_rate_limited_and_cannot_forge_lines() {
    let s = setup(&["hostile-logs"]);
    let pulse = Pulse::start(s.inlet.port);
    let threads_before = s.threads();
    let started = Instant::now();
    let (_, forged) = created(&s.api, "forge", "hostile-logs", json!({ "behavior": "forge" }));
    assert_eq!(forged["status"], "active", "{forged}");
    let (_, flood) = created(&s.api, "log-flood", "hostile-logs", json!({ "behavior": "log-flood" }));
    assert_eq!(flood["status"], "active", "{flood}");
    let (_, out) = created(&s.api, "stdout-flood", "hostile-logs", json!({ "behavior": "stdout-flood" }));
    assert_eq!(out["status"], "active", "{out}");
    let elapsed = started.elapsed();
    s.good_still_works();
    let (p99, max) = pulse.stop(Duration::from_secs(2));

    // The log is read once the last data source settled; the suppressed
    // record of the last call comes when its connection closes.
    std::thread::sleep(Duration::from_millis(500));
    let raw = s.inlet.server_log_raw();
    assert!(
        !raw.contains('\u{1b}') && !raw.contains('\u{9b}') && !raw.contains('\r'),
        "a terminal escape reached the log"
    );
    for line in raw.lines() {
        assert!(!line.starts_with("2026-01-01T00:00:00.000000Z"), "a forged line: {line}");
    }
    assert!(raw.contains("innocent\\n2026-01-01T00:00:00.000000Z ERROR inlet: FORGED-LOG-LINE\\x1b[2J"), "{raw}");
    assert!(raw.contains("FORGED-STDOUT\\u{9b}2J"), "the stdout line, escaped");
    let guest_lines = raw.lines().filter(|l| l.contains("FORGED-LOG-LINE ") || l.contains("STDOUT-FLOOD ")).count();
    let allowed = (elapsed.as_secs() as usize + 2) * LINES_PER_SECOND as usize * 2;
    assert!(guest_lines <= allowed, "{guest_lines} flood lines in {elapsed:?} (at most {allowed})");
    assert!(guest_lines > 0, "the first lines of a flood are logged");
    let suppressed: Vec<&str> = raw.lines().filter(|l| l.contains("suppressed") && l.contains("log lines")).collect();
    assert!(!suppressed.is_empty(), "no suppressed record");
    assert!(suppressed.len() <= 2 * (elapsed.as_secs() as usize + 4), "{} suppressed records", suppressed.len());
    assert!(raw.len() < 2 << 20, "the log grew to {} bytes", raw.len());
    assert!(raw.contains("[truncated 1020.0 KiB]"), "the 1 MiB stdout line is cut with a marker");
    let threads_after = s.threads();
    assert!(threads_after <= threads_before + 8, "threads {threads_before} → {threads_after}");
    eprintln!(
        "log floods: {elapsed:?} for 400,000 guest lines; {guest_lines} logged, {} suppressed records, log {} bytes; \
         /healthz p99 {p99:?} max {max:?}",
        suppressed.len(),
        raw.len()
    );
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[inlet_tests::test]
fn fifos_and_sockets_in_a_granted_folder_are_refused_at_once() {
    let s = setup(&[]);
    let folder = tempfile::tempdir().expect("temp");
    std::fs::write(folder.path().join("data.csv"), "id\n1\n").expect("csv");
    mkfifo(&folder.path().join("pipe"));
    let _socket = std::os::unix::net::UnixListener::bind(folder.path().join("sock")).expect("socket file");
    let lone_fifo = tempfile::tempdir().expect("temp");
    mkfifo(&lone_fifo.path().join("orders.csv"));

    let threads_before = s.threads();
    let pulse = Pulse::start(s.inlet.port);
    let cases = [
        ("sibling", folder.path().join("data.csv"), "is a "),
        ("fifo", lone_fifo.path().join("orders.csv"), "`orders.csv` is a FIFO"),
    ];
    for round in 0..10 {
        for (name, path, says) in &cases {
            let started = Instant::now();
            let (id, settled) = created(&s.api, &format!("{name}-{round}"), "csv", json!({ "file_path": path }));
            assert!(started.elapsed() < Duration::from_secs(5), "{name}: took {:?}", started.elapsed());
            assert_eq!(settled["status"], "failed", "{name}: {settled}");
            let error = &settled["last_test"]["error"];
            assert_eq!(error["kind"], "permission", "{name}: {error}");
            assert!(error["message"].as_str().unwrap_or_default().contains(says), "{name}: {error}");
            s.api.delete(&format!("{DS}/{id}")).expect(204);
        }
    }
    s.good_still_works();
    let (p99, max) = pulse.stop(Duration::from_secs(2));
    let threads_after = s.threads();
    assert!(threads_after <= threads_before + 8, "threads {threads_before} → {threads_after}: some are stuck");
    eprintln!(
        "special files: 20 refused; /healthz p99 {p99:?} max {max:?}; threads {threads_before} → {threads_after}"
    );

    // `inlet plugin exec` exits too, with the refusal.
    let config_dir = tempfile::tempdir().expect("temp");
    let config = config_dir.path().join("config.json");
    std::fs::write(&config, json!({ "file_path": lone_fifo.path().join("orders.csv") }).to_string()).expect("config");
    let mut child = std::process::Command::new(inlet_bin())
        .args(["plugin", "exec"])
        .arg(plugin_dir("csv"))
        .args(["--type", "csv", "--config"])
        .arg(&config)
        .arg("test")
        .env("INLET_DATA_DIR", workspace_root().join("target/test-data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("plugin exec");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("inlet plugin exec did not exit on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    assert!(!output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(printed["error"]["kind"], "permission", "{printed}");
}

/// A FIFO made after the grant was checked (a race the scan cannot see):
/// the guest's open is refused by the runtime's guard instead of blocking a
/// thread for ever, and the call ends well before its deadline.
#[inlet_tests::test]
async fn a_fifo_swapped_in_after_the_grant_does_not_block_the_guest() {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(RuntimeConfig::new(cache.path().to_path_buf(), 1024)).expect("runtime");
    let plugin = runtime.load_plugin(&plugin_dir("csv")).expect("csv plugin");
    let folder = tempfile::tempdir().expect("temp");
    let file = folder.path().join("data.csv");
    std::fs::write(&file, "id\n1\n").expect("csv");
    let spec = plugin.manifest.source_type("csv").expect("type");
    let sandbox = SandboxSettings {
        egress: EgressPolicy { allow_loopback: true, allow_private: true },
        files: FilesPolicy { roots: FileRoots::Under(vec![folder.path().to_path_buf()]), denied: Vec::new() },
        ..SandboxSettings::default()
    };
    let secrets = Secrets::new();
    let config = json!({ "file_path": file });
    let prepared = source::prepare(spec, &config, &secrets, &sandbox, Duration::from_secs(5), &Default::default())
        .await
        .expect("a clean folder is granted");
    std::fs::remove_file(&file).expect("remove");
    mkfifo(&file);

    let query_timeout = Duration::from_secs(5);
    let input = ConnectInput {
        source_type: "csv",
        config: &prepared.config,
        secrets: &secrets,
        endpoint: None,
        connect_timeout: query_timeout,
        query_timeout,
    };
    let started = Instant::now();
    let failure = match plugin.connect(&input, &prepared.grants).await {
        Err(error) => error.into_failure(),
        Ok(mut session) => {
            let outcome = session.test().await;
            session.close().await;
            outcome.map(|_| ()).map_err(CallError::into_failure).expect_err("a FIFO cannot be read")
        }
    };
    let took = started.elapsed();
    assert_ne!(failure.error.kind, ErrorKind::Timeout, "the open blocked until the deadline: {failure:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}: {failure:?}");
    eprintln!("FIFO swapped in after the grant: refused in {took:?}: {}", failure.error.message);
}

/// Follows `next_cursor` from the first page; every page must stay within
/// the response cap. Returns (table names in order, pages, pages cut by bytes).
fn every_table_by_cursor(api: &Api, id: &str) -> (Vec<String>, usize, usize) {
    use inlet::catalog_listing::limits::RESPONSE_BYTES;
    let (mut names, mut pages, mut cut) = (Vec::new(), 0, 0);
    let mut path = format!("{DS}/{id}/schemas?page_size=500");
    loop {
        let response = api.get(&path).expect(200);
        assert!(response.body.len() <= RESPONSE_BYTES, "{path}: {} bytes", response.body.len());
        let page = response.json();
        pages += 1;
        cut += usize::from(page["truncated"] == true);
        let items = page["items"].as_array().expect("items");
        assert!(!items.is_empty(), "an empty page before the end");
        names.extend(items.iter().map(|t| t["name"].as_str().expect("name").to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{DS}/{id}/schemas?page_size=500&cursor={cursor}"),
            None => return (names, pages, cut),
        }
    }
}

#[inlet_tests::test]
fn a_huge_catalog_is_served_in_byte_bounded_pages_and_its_diff_is_bounded_too() {
    use inlet::catalog_listing::limits::{DIFF_BYTES, RESPONSE_BYTES};
    let s = setup(&["hostile-strings"]);
    let catalog = |prefix: &str| json!({ "behavior": "catalog", "tables": 300, "prefix": prefix });
    let (id, settled) = created(&s.api, "wide", "hostile-strings", catalog("a"));
    assert_eq!(settled["status"], "active", "{settled}");
    let discover = |round: usize| {
        s.api.post(&format!("{DS}/{id}/discover-schema"), &json!({})).expect(202);
        wait_for(
            Duration::from_secs(120),
            || s.api.get(&format!("{DS}/{id}/schemas?page_size=1")).expect(200).json(),
            |c| {
                c["total"] == 300
                    && c["discovery"]["status"] == "succeeded"
                    && (round == 1 || c["discovery"]["diff"].is_object())
            },
        )
    };
    discover(1);

    // About 34 KiB a table, 10 MiB in all: a page of 500 is cut by bytes.
    let first = s.api.get(&format!("{DS}/{id}/schemas?page_size=500")).expect(200);
    assert!(first.body.len() <= RESPONSE_BYTES, "{} bytes", first.body.len());
    let first = first.json();
    assert_eq!(first["truncated"], true);
    assert_eq!(first["total"], 300);
    let on_first = first["items"].as_array().expect("items").len();
    assert!(on_first > 10 && on_first < 300, "{on_first} tables on the first page");
    let (names, pages, cut) = every_table_by_cursor(&s.api, &id);
    let expected: Vec<String> = (0..300).map(|i| format!("a_{i:05}_{}", "n".repeat(900))).collect();
    assert_eq!(names.len(), 300, "every table once");
    assert!(names == expected, "in order, nothing skipped or repeated");
    assert!(pages >= 3 && cut == pages - 1, "{pages} pages, {cut} cut by bytes");
    // A cursor is not a page number, and only ours are accepted.
    let cursor = first["next_cursor"].as_str().expect("cursor");
    s.api.get(&format!("{DS}/{id}/schemas?page=2&cursor={cursor}")).expect_error(400, "invalid_query");
    s.api.get(&format!("{DS}/{id}/schemas?cursor=bm90LW91cnM")).expect_error(400, "invalid_query");

    // Another catalog: 300 tables added and 300 removed, names of ~900 bytes.
    s.api.patch(&format!("{DS}/{id}"), &json!({ "config": catalog("b") })).expect(200);
    s.api.wait_settled(&id);
    let second = discover(2);
    let response = s.api.get(&format!("{DS}/{id}/schemas?page_size=500")).expect(200);
    assert!(response.body.len() <= RESPONSE_BYTES, "{} bytes", response.body.len());
    let diff = &second["discovery"]["diff"];
    assert_eq!(diff["counts"]["tables_added"], 300, "{}", diff["counts"]);
    assert_eq!(diff["counts"]["tables_removed"], 300, "{}", diff["counts"]);
    assert_eq!(diff["truncated"], true);
    let listed = diff["tables_added"].as_array().expect("listed").len();
    assert!(listed > 0 && listed < 300, "{listed} tables listed as added");
    assert!(diff.to_string().len() <= DIFF_BYTES + 1024, "the diff listing: {} bytes", diff.to_string().len());
    let (names, _, _) = every_table_by_cursor(&s.api, &id);
    assert!(names.len() == 300 && names.iter().all(|n| n.starts_with("b_")), "the new catalog, whole");
    s.good_still_works();
    eprintln!("huge catalog: first page {on_first} tables, {pages} pages by cursor; diff lists {listed} of 300 added");
}

/// Peak resident memory of a process so far (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|n| n.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

/// 10,000 table names pointing at one 1 MiB string are 1 MiB for the guest
/// and would be 10 GiB once lifted: wasmtime's hostcall fuel, set per store
/// from `memory_mib` (`budget::lift_bytes`), stops the lift at 128 MiB.
#[inlet_tests::test]
fn a_value_that_aliases_one_string_many_times_is_refused_while_it_is_lifted() {
    let s = setup(&["hostile-strings"]);
    let pid = s.inlet.pid().expect("running");
    let peak_before = peak_rss_kib(pid);
    let (id, settled) = created(&s.api, "aliased", "hostile-strings", json!({ "behavior": "aliased-names" }));
    assert_eq!(settled["status"], "active", "{settled}");
    s.api.post(&format!("{DS}/{id}/discover-schema"), &json!({})).expect(202);
    let done = wait_for(
        Duration::from_secs(60),
        || s.api.get(&format!("{DS}/{id}/schemas")).expect(200).json(),
        |c| matches!(c["discovery"]["status"].as_str(), Some("succeeded" | "failed")),
    );
    assert_eq!(done["discovery"]["status"], "failed", "{}", done["discovery"]);
    let error = done["discovery"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("resource limit: values"), "{}", done["discovery"]);
    let peak_after = peak_rss_kib(pid);
    let grew_mib = (peak_after.saturating_sub(peak_before)) >> 10;
    assert!(grew_mib < 400, "the server's peak RSS grew by {grew_mib} MiB");
    s.good_still_works();
    eprintln!("aliased names: refused with `{error}`; peak RSS {} → {} MiB", peak_before >> 10, peak_after >> 10);
}
