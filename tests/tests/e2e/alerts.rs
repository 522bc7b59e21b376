//! Alert channels end to end: the real server delivers data source events to
//! a webhook receiver that this test runs. Signatures verify with the
//! channel's secret; each data source's events arrive in order; a receiver
//! that is down for a while gets everything once it is back (none lost, none
//! out of order); an event committed just before a `kill -9` is delivered
//! after the restart; a flapping PostgreSQL data source (a throwaway cluster
//! stopped and started over and over) is reported once as `flapping`, then
//! `flapping_settled`; another organization never sees any of it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use inlet_tests::free_port;
use inlet_tests::pg_cluster::{self, PgCluster, SCRAM_PASSWORD, SCRAM_USER};
use inlet_tests::server::{Api, Backend, Inlet};
use inlet_tests::wait_for;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CHANNELS: &str = "/api/v1/alert-channels";
const DS: &str = "/api/v1/data-sources";
const SECRET: &str = "whsec-test-7Qm2v9Lr4Xk8Pz1N";
const OTHER_SECRET: &str = "whsec-other-3Jd8s2Kq9Wm4Rt6Y";

// ---------------------------------------------------------------- receiver

/// One request the receiver accepted (answered 200).
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// 200 and record.
    Up,
    /// 503, not recorded.
    Unavailable,
}

#[derive(Default)]
struct Shared {
    accepted: Vec<Received>,
    refused: usize,
    unavailable: bool,
}

/// A tiny HTTP/1.1 receiver on 127.0.0.1 that records what it accepts; it
/// can answer 503 for a while, or close its port altogether.
struct Receiver {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Self {
        let mut receiver =
            Self { port: free_port(), shared: Arc::default(), stop: Arc::new(AtomicBool::new(false)), thread: None };
        receiver.open();
        receiver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/inlet?team=7", self.port)
    }

    fn open(&mut self) {
        assert!(self.thread.is_none(), "already open");
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    eprintln!("rebinding {}: {error}", self.port);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("cannot bind the receiver's port {}: {error}", self.port),
            }
        };
        self.stop.store(false, Ordering::SeqCst);
        let (shared, stop) = (self.shared.clone(), self.stop.clone());
        self.thread = Some(std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        }));
    }

    /// Closes the port: connections are refused until [`Receiver::open`].
    fn close(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        thread.join().expect("receiver thread");
    }

    fn set_mode(&self, mode: Mode) {
        self.shared.lock().unwrap().unavailable = mode == Mode::Unavailable;
    }

    fn accepted(&self) -> Vec<Received> {
        self.shared.lock().unwrap().accepted.clone()
    }

    fn refused(&self) -> usize {
        self.shared.lock().unwrap().refused
    }

    /// Accepted requests, verified, as their JSON bodies.
    fn events(&self, secret: &str) -> Vec<Value> {
        self.accepted().iter().map(|r| verify(r, secret)).collect()
    }

    /// Waits until `done` holds for the verified bodies; returns them.
    #[track_caller]
    fn wait(&self, secret: &str, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let events = self.events(secret);
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected within {limit:?}; it has {} events: {}",
                events.len(),
                Value::from(events.clone())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.close();
    }
}

fn serve(mut stream: TcpStream, shared: &Mutex<Shared>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    assert!(request_line.starts_with("POST /hooks/inlet?team=7 HTTP/1.1"), "{request_line}");
    let mut shared = shared.lock().unwrap();
    let answer: &[u8] = if shared.unavailable {
        shared.refused += 1;
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy"
    } else {
        shared.accepted.push(Received { headers, body });
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    };
    let _ = stream.write_all(answer);
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The timestamp of a signature that verifies with `secret`, if it does.
fn signed_at(received: &Received, secret: &str) -> Option<i64> {
    let header = received.headers.get("x-inlet-signature")?;
    let (t, v1) = header.split_once(',')?;
    let t: i64 = t.strip_prefix("t=")?.parse().ok()?;
    let v1 = v1.strip_prefix("v1=")?;
    let mut message = t.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(&received.body);
    (v1 == hex::encode(hmac_sha256(secret.as_bytes(), &message))).then_some(t)
}

/// What a receiver does: check the signature over "<t>.<body>" with the
/// secret, refuse stale timestamps; answers the body.
#[track_caller]
fn verify(received: &Received, secret: &str) -> Value {
    let t = signed_at(received, secret).unwrap_or_else(|| panic!("the signature does not verify: {received:?}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - t).abs() < 300, "a fresh timestamp: {t} vs {now}");
    assert_eq!(received.headers.get("content-type").map(String::as_str), Some("application/json"));
    let body: Value = serde_json::from_slice(&received.body).expect("a JSON body");
    assert_eq!(received.headers.get("x-inlet-event-id"), body["id"].as_str().map(str::to_owned).as_ref());
    assert!(received.headers.get("x-inlet-delivery-id").is_some_and(|id| id.len() == 36));
    for key in ["id", "seq", "kind", "severity", "organization_id", "data_source_id", "created_at", "payload"] {
        assert!(body.get(key).is_some(), "`{key}` in {body}");
    }
    body
}

// ---------------------------------------------------------------- helpers

fn alert_env(inlet: &mut Inlet, extra: &[(&str, &str)]) {
    for (key, value) in
        [("INLET_ALERT_RETRY_BASE_MS", "100"), ("INLET_ALERT_FLAP_THRESHOLD", "1000")].iter().chain(extra)
    {
        inlet.extra_env.push(((*key).into(), (*value).into()));
    }
}

/// A PostgreSQL data source on a port where nothing listens: created, it
/// fails its first test; with the scheduler off nothing else moves it.
fn dead_source(api: &Api, name: &str, tags: &[&str]) -> String {
    let body = json!({
        "name": name,
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": free_port(), "database": "postgres", "username": "postgres", "ssl_mode": "disable" },
        "tags": tags,
        "connection_settings": { "connect_timeout_s": 2, "max_retries": 0 }
    });
    let id = api.create(&body)["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "failed");
    id
}

fn set_status(api: &Api, id: &str, status: &str) {
    let updated = api.patch(&format!("{DS}/{id}"), &json!({ "status": status })).expect(200).json();
    assert_eq!(updated["status"], status);
}

fn channel(api: &Api, name: &str, url: &str, secret: &str, extra: Value) -> Value {
    let mut body = json!({ "name": name, "url": url, "secret": secret });
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    let channel = api.post(CHANNELS, &body).expect(201).json();
    assert!(channel.get("secret").is_none(), "the secret is write-only: {channel}");
    channel
}

/// The `to` of each status change about `id`, in arrival order.
fn statuses_of(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["data_source_id"] == id && e["kind"] == "status_changed")
        .map(|e| e["payload"]["to"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Asserts that each data source's events arrived in `seq` order, each once.
#[track_caller]
fn assert_in_order_once(events: &[Value]) {
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for event in events {
        assert!(seen.insert(event["id"].as_str().unwrap().to_owned()), "delivered twice: {event}");
        let Some(source) = event["data_source_id"].as_str() else { continue };
        let seq = event["seq"].as_i64().expect("seq");
        if let Some(previous) = last.insert(source.to_owned(), seq) {
            assert!(previous < seq, "data source {source}: seq {seq} arrived after {previous}");
        }
    }
}

fn toggles(count: usize) -> Vec<&'static str> {
    (0..count).map(|i| if i.is_multiple_of(2) { "maintenance" } else { "inactive" }).collect()
}

fn deliveries(api: &Api, channel_id: &str) -> Value {
    api.get(&format!("{CHANNELS}/{channel_id}/deliveries?page_size=100")).expect(200).json()
}

// ---------------------------------------------------------------- tests

#[inlet_tests::test]
fn channels_are_validated_and_for_organization_admins_only() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    alert_env(&mut inlet, &[("INLET_HEALTH_SCHEDULER", "off")]);
    inlet.org("acme");
    inlet.org("globex");
    let admin = inlet.token("acme", "org-admin", &[]);
    let member = inlet.token("acme", "member", &[]);
    let viewer = inlet.token("acme", "viewer", &[]);
    let globex = inlet.token("globex", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&admin);
    let receiver = Receiver::start();

    let created = channel(
        &api,
        "ops",
        &receiver.url(),
        SECRET,
        json!({ "event_kinds": ["status_changed", "flapping"], "tags": ["prod"], "min_severity": "warning" }),
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["kind"], "webhook");
    assert_eq!(created["url"], receiver.url());
    assert_eq!(created["event_kinds"], json!(["flapping", "status_changed"]));
    assert_eq!(created["tags"], json!(["prod"]));
    assert_eq!(created["min_severity"], "warning");
    assert_eq!(created["enabled"], true);
    assert_eq!(api.get(&format!("{CHANNELS}/{id}")).expect(200).json(), created);
    let list = api.get(CHANNELS).expect(200).json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], *id);

    // Validation: 422 naming the field; unknown kinds or severities and unknown fields 400.
    let base = json!({ "name": "x", "url": receiver.url(), "secret": SECRET });
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("url", json!("ftp://example.com/hook")), "url"),
        (with("url", json!("not a url")), "url"),
        (with("url", json!("http://169.254.169.254/latest/meta-data")), "url"),
        (with("url", json!("https://user:pw@example.com/hook")), "url"),
        (with("secret", json!("short")), "secret"),
        (with("name", json!("  ")), "name"),
        (with("name", json!("n".repeat(201))), "name"),
        (with("tags", json!([""])), "tags"),
    ] {
        let error = api.post(CHANNELS, &body).expect_error(422, "validation_failed");
        assert_eq!(error["details"]["fields"][0]["field"], field, "{body}: {error}");
        assert!(!error.to_string().contains(SECRET), "an error never quotes the secret");
    }
    for body in [
        with("event_kinds", json!(["nope"])),
        with("min_severity", json!("fatal")),
        with("kind", json!("email")),
        with("color", json!("red")),
        json!({ "name": "x", "url": receiver.url() }),
    ] {
        api.post(CHANNELS, &body).expect_error(400, "invalid_body");
    }
    api.post(CHANNELS, &json!({ "name": "ops", "url": receiver.url(), "secret": SECRET }))
        .expect_error(409, "conflict");

    // Roles: members and viewers cannot read or change channels.
    for token in [&member, &viewer] {
        let other = inlet.api(token);
        other.get(CHANNELS).expect_error(403, "forbidden");
        other.get(&format!("{CHANNELS}/{id}")).expect_error(403, "forbidden");
        other.post(CHANNELS, &base).expect_error(403, "forbidden");
        other.post(&format!("{CHANNELS}/{id}/test"), &json!({})).expect_error(403, "forbidden");
        other.get(&format!("{CHANNELS}/{id}/deliveries")).expect_error(403, "forbidden");
    }
    // Another organization: not there at all.
    let globex = inlet.api(&globex);
    assert_eq!(globex.get(CHANNELS).expect(200).json()["total"], 0);
    globex.get(&format!("{CHANNELS}/{id}")).expect_error(404, "not_found");
    globex.patch(&format!("{CHANNELS}/{id}"), &json!({ "enabled": false })).expect_error(404, "not_found");
    globex.post(&format!("{CHANNELS}/{id}/test"), &json!({})).expect_error(404, "not_found");
    globex.get(&format!("{CHANNELS}/{id}/deliveries")).expect_error(404, "not_found");
    globex.delete(&format!("{CHANNELS}/{id}")).expect_error(404, "not_found");

    // The test delivery: signed with the secret, answered with status and latency.
    let test = api.post(&format!("{CHANNELS}/{id}/test"), &json!({})).expect(200).json();
    assert_eq!(test["delivered"], true, "{test}");
    assert_eq!(test["status_code"], 200);
    assert!(test["latency_ms"].is_u64());
    let events = receiver.events(SECRET);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "test");
    assert_eq!(events[0]["id"], test["event_id"]);
    assert_eq!(receiver.accepted()[0].headers["x-inlet-delivery-id"], test["delivery_id"].as_str().unwrap());
    // The receiver down: the answer says why, without the URL's query.
    receiver.set_mode(Mode::Unavailable);
    let test = api.post(&format!("{CHANNELS}/{id}/test"), &json!({})).expect(200).json();
    assert_eq!((test["delivered"].clone(), test["status_code"].clone()), (json!(false), json!(503)), "{test}");
    receiver.set_mode(Mode::Up);

    // Update: a new secret signs from now on; the old one no longer verifies.
    let new_secret = "whsec-rotated-5Hq1x8Vb3Nz6Ke0W";
    let updated = api
        .patch(&format!("{CHANNELS}/{id}"), &json!({ "secret": new_secret, "min_severity": "info", "tags": [] }))
        .expect(200)
        .json();
    assert_eq!(updated["min_severity"], "info");
    assert_eq!(updated["tags"], json!([]));
    assert!(updated.get("secret").is_none());
    api.post(&format!("{CHANNELS}/{id}/test"), &json!({})).expect(200);
    let last = receiver.accepted().pop().unwrap();
    verify(&last, new_secret);
    assert!(signed_at(&last, SECRET).is_none(), "the old secret does not verify");
    api.patch(&format!("{CHANNELS}/{id}"), &json!({ "url": "gopher://x" })).expect_error(422, "validation_failed");
    api.patch(&format!("{CHANNELS}/{id}"), &json!({ "secret": "x" })).expect_error(422, "validation_failed");

    let log = deliveries(&api, id);
    assert_eq!(log["total"], 0, "test deliveries are not events: {log}");
    api.delete(&format!("{CHANNELS}/{id}")).expect(204);
    api.get(&format!("{CHANNELS}/{id}")).expect_error(404, "not_found");
    api.delete(&format!("{CHANNELS}/{id}")).expect_error(404, "not_found");

    let server_log = inlet.server_log();
    for secret in [SECRET, new_secret] {
        assert!(!server_log.contains(secret), "a channel secret reached the log");
        for (path, bytes) in inlet.data_files() {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a channel secret is stored in the clear in {}",
                path.display()
            );
        }
    }
}

#[inlet_tests::test(each_store)]
fn deliveries_are_signed_ordered_and_survive_a_receiver_outage(backend: Backend) {
    let mut inlet = Inlet::new(backend);
    alert_env(&mut inlet, &[("INLET_HEALTH_SCHEDULER", "off")]);
    inlet.org("acme");
    inlet.org("globex");
    let acme = inlet.token("acme", "org-admin", &[]);
    let globex = inlet.token("globex", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&acme);
    let other = inlet.api(&globex);
    let mut receiver = Receiver::start();
    let other_receiver = Receiver::start();
    let all = channel(&api, "all", &receiver.url(), SECRET, json!({}));
    let all_id = all["id"].as_str().unwrap();
    // Filters: only critical events of data sources tagged `prod`.
    let critical_receiver = Receiver::start();
    channel(
        &api,
        "prod-critical",
        &critical_receiver.url(),
        SECRET,
        json!({ "tags": ["prod"], "min_severity": "critical" }),
    );
    channel(&other, "theirs", &other_receiver.url(), OTHER_SECRET, json!({}));

    let sources = [dead_source(&api, "one", &["prod"]), dead_source(&api, "two", &[]), dead_source(&api, "three", &[])];
    let theirs = dead_source(&other, "theirs", &["prod"]);
    // Each source failed its first test (critical); the tagged one reaches the prod channel.
    let critical = critical_receiver.wait(SECRET, Duration::from_secs(30), |events| !events.is_empty());
    receiver
        .wait(SECRET, Duration::from_secs(30), |events| sources.iter().all(|id| statuses_of(events, id) == ["failed"]));

    // Interleaved changes of three data sources.
    let first = toggles(6);
    for status in &first {
        for id in &sources {
            set_status(&api, id, status);
        }
    }
    let events = receiver.wait(SECRET, Duration::from_secs(30), |events| {
        sources.iter().all(|id| statuses_of(events, id).len() == 1 + first.len())
    });
    assert_in_order_once(&events);
    for id in &sources {
        assert_eq!(statuses_of(&events, id)[1..], first[..], "{id}");
    }

    // Down: 503 for a while, then the port closed; changes keep coming.
    receiver.set_mode(Mode::Unavailable);
    let second = toggles(5);
    for (round, status) in second.iter().enumerate() {
        if round == 2 {
            wait_for(
                Duration::from_secs(30),
                || deliveries(&api, all_id),
                |log| {
                    log["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|d| d["last_status_code"] == 503 && d["attempts"].as_i64() >= Some(2))
                },
            );
            receiver.close();
        }
        for id in &sources {
            set_status(&api, id, status);
        }
    }
    let log = deliveries(&api, all_id);
    let pending: Vec<&Value> = log["items"].as_array().unwrap().iter().filter(|d| d["status"] == "pending").collect();
    assert!(!pending.is_empty(), "deliveries wait while the receiver is down: {log}");
    assert!(pending.iter().all(|d| d["next_attempt_at"].is_string()), "{log}");
    assert!(receiver.refused() >= 2, "retried while answering 503");
    // A closed port is a connect error in the log.
    let failed = wait_for(
        Duration::from_secs(30),
        || deliveries(&api, all_id),
        |log| {
            log["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["last_error"].as_str().is_some_and(|e| e.contains("could not connect")))
        },
    );
    assert!(!failed.to_string().contains(SECRET));

    // Back: everything arrives, in order per data source, once.
    receiver.set_mode(Mode::Up);
    receiver.open();
    let events = receiver.wait(SECRET, Duration::from_secs(60), |events| {
        sources.iter().all(|id| statuses_of(events, id).len() == 1 + first.len() + second.len())
    });
    assert_in_order_once(&events);
    for id in &sources {
        assert_eq!(statuses_of(&events, id)[1 + first.len()..], second[..], "{id}");
    }
    assert!(events.iter().all(|e| e["organization_id"] == events[0]["organization_id"]));
    assert!(events.iter().all(|e| e["data_source_id"] != theirs.as_str()), "never another organization's events");
    let log = wait_for(
        Duration::from_secs(10),
        || deliveries(&api, all_id),
        |log| log["items"].as_array().unwrap().iter().all(|d| d["status"] == "delivered"),
    );
    let total = 3 * (1 + first.len() + second.len());
    assert_eq!(log["total"], total, "one delivery per event");
    let items = log["items"].as_array().unwrap();
    let seqs: Vec<i64> = items.iter().map(|d| d["event_seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    assert!(items.iter().any(|d| d["attempts"].as_i64() > Some(1)), "some needed retries");
    assert!(
        items
            .iter()
            .all(|d| d["last_status_code"] == 200 && d["last_latency_ms"].is_i64() && d["delivered_at"].is_string())
    );
    let page =
        api.get(&format!("{CHANNELS}/{all_id}/deliveries?page=2&page_size=5&status=delivered")).expect(200).json();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert_eq!(page["items"][0]["event_seq"].as_i64(), Some(seqs[5]));
    api.get(&format!("{CHANNELS}/{all_id}/deliveries?status=lost")).expect_error(400, "invalid_query");

    // The filtered channel got only critical events of tagged data sources.
    let critical = critical_receiver.events(SECRET).into_iter().chain(critical).collect::<Vec<_>>();
    assert!(
        critical.iter().all(|e| e["severity"] == "critical" && e["data_source_id"] == sources[0].as_str()),
        "{critical:?}"
    );

    // The other organization's receiver: its own event only.
    let theirs_events = other_receiver.wait(OTHER_SECRET, Duration::from_secs(30), |events| !events.is_empty());
    assert!(theirs_events.iter().all(|e| e["data_source_id"] == theirs.as_str()), "{theirs_events:?}");
    assert!(other_receiver.accepted().iter().all(|r| !String::from_utf8_lossy(&r.body).contains(&sources[0])));
}

#[inlet_tests::test]
fn an_event_committed_before_a_kill_is_delivered_after_restart() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    alert_env(&mut inlet, &[("INLET_HEALTH_SCHEDULER", "off")]);
    inlet.org("acme");
    let acme = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&acme);
    let mut receiver = Receiver::start();
    channel(&api, "all", &receiver.url(), SECRET, json!({}));
    let id = dead_source(&api, "one", &[]);
    receiver.wait(SECRET, Duration::from_secs(30), |events| statuses_of(events, &id) == ["failed"]);

    // The receiver is gone; a change commits; the host dies at once.
    receiver.close();
    set_status(&api, &id, "maintenance");
    inlet.kill();
    set_up_and_restart(&mut inlet, &mut receiver);
    let api = inlet.api(&acme);
    let events = receiver.wait(SECRET, Duration::from_secs(30), |events| statuses_of(events, &id).len() == 2);
    assert_eq!(statuses_of(&events, &id), ["failed", "maintenance"]);

    // Again, with the delivery already queued and failing when the host dies.
    receiver.set_mode(Mode::Unavailable);
    set_status(&api, &id, "inactive");
    set_status(&api, &id, "maintenance");
    let refused = receiver.refused();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.refused() == refused {
        assert!(Instant::now() < deadline, "no attempt reached the receiver");
        std::thread::sleep(Duration::from_millis(20));
    }
    inlet.kill();
    receiver.set_mode(Mode::Up);
    inlet.start();
    let events = receiver.wait(SECRET, Duration::from_secs(90), |events| statuses_of(events, &id).len() >= 4);
    // At least once: a delivery the dead host had in flight may come twice;
    // receivers deduplicate by X-Inlet-Delivery-Id. Order holds.
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<Value> = events.into_iter().filter(|e| seen.insert(e["id"].as_str().unwrap().to_owned())).collect();
    assert_eq!(statuses_of(&unique, &id), ["failed", "maintenance", "inactive", "maintenance"]);
    assert_in_order_once(&unique);
}

fn set_up_and_restart(inlet: &mut Inlet, receiver: &mut Receiver) {
    receiver.open();
    inlet.start();
}

#[inlet_tests::test]
fn a_flapping_postgres_data_source_is_reported_once() {
    pg_cluster::require();
    let cluster = PgCluster::start().expect("throwaway cluster");
    let mut inlet = Inlet::new(Backend::Sqlite);
    for (key, value) in [
        ("INLET_MIN_HEALTH_INTERVAL_S", "1"),
        ("INLET_HEALTH_TICK_MS", "100"),
        ("INLET_RETRY_BASE_MS", "20"),
        // The breaker stays closed, so every check sees the server.
        ("INLET_BREAKER_THRESHOLD", "1000"),
        ("INLET_ALERT_FLAP_THRESHOLD", "3"),
        ("INLET_ALERT_FLAP_WINDOW_S", "12"),
        ("INLET_ALERT_RETRY_BASE_MS", "100"),
    ] {
        inlet.extra_env.push((key.into(), value.into()));
    }
    inlet.org("acme");
    inlet.org("globex");
    let acme = inlet.token("acme", "org-admin", &[]);
    let globex = inlet.token("globex", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&acme);
    let receiver = Receiver::start();
    let other_receiver = Receiver::start();
    channel(
        &api,
        "ops",
        &receiver.url(),
        SECRET,
        json!({ "event_kinds": ["status_changed", "flapping", "flapping_settled"] }),
    );
    channel(&inlet.api(&globex), "theirs", &other_receiver.url(), OTHER_SECRET, json!({}));

    let body = json!({
        "name": "flaky",
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": cluster.port, "database": "postgres", "username": SCRAM_USER, "ssl_mode": "disable" },
        "credentials": { "password": SCRAM_PASSWORD },
        "health_check_interval_s": 1,
        "connection_settings": { "connect_timeout_s": 3, "max_retries": 0 }
    });
    let id = api.create(&body)["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let status = |want: &str| {
        wait_for(
            Duration::from_secs(30),
            || api.get(&format!("{DS}/{id}")).expect(200).json(),
            |d| d["status"] == want,
        );
    };
    // Down and up, over and over.
    for _ in 0..6 {
        cluster.stop_server().expect("stop");
        status("failed");
        cluster.start_server().expect("start");
        status("active");
    }
    let changes =
        api.get(&format!("/api/v1/events?kind=status_changed&data_source_id={id}&limit=100")).expect(200).json();
    let transitions = changes["items"].as_array().map_or(0, Vec::len);
    assert!(transitions >= 12, "the data source flapped: {changes}");

    // Settled: a whole window (12 s) without a transition.
    let events =
        receiver.wait(SECRET, Duration::from_secs(60), |events| events.iter().any(|e| e["kind"] == "flapping_settled"));
    let count = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(count("flapping"), 1, "one flapping alert, not dozens: {events:?}");
    assert!(count("status_changed") <= 3, "at most the threshold's transitions before it: {events:?}");
    assert_eq!(count("flapping_settled"), 1);
    let flapping = events.iter().find(|e| e["kind"] == "flapping").unwrap();
    assert_eq!(flapping["severity"], "warning");
    assert_eq!(flapping["data_source_id"], id.as_str());
    assert_eq!(flapping["payload"]["window_s"], 12);
    assert!(flapping["payload"]["transitions"].as_i64() > Some(3), "{flapping}");
    let settled = events.iter().find(|e| e["kind"] == "flapping_settled").unwrap();
    assert_eq!(settled["payload"]["status"], "active");
    assert_in_order_once(&events);
    // Nothing more arrives while it holds still.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.events(SECRET).len(), events.len());

    // Another organization heard nothing of it.
    assert!(other_receiver.accepted().is_empty(), "another organization's receiver got an event");
    assert!(!inlet.server_log().contains(SECRET));
}
