//! Issue 15's access rules, end to end against the real `inlet serve`:
//! re-targeting a data source needs its credentials again; a share grants
//! use, never change; event streams close when their token is revoked, are
//! capped, and come from one shared poll; alert test deliveries do not say
//! what a name resolved to; the metrics show only what the caller may see.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use inlet_tests::require::{self, Service};
use inlet_tests::server::{Backend, Inlet, Token};
use inlet_tests::wait_for;
use serde_json::{Value, json};

const DS: &str = "/api/v1/data-sources";

/// The local PostgreSQL (trust auth): tests and discovery succeed, so no
/// circuit breaker opens while the rules are exercised.
fn pg_config() -> Value {
    json!({ "host": "127.0.0.1", "port": 5432, "database": "postgres", "username": "postgres", "ssl_mode": "disable" })
}

fn pg_body(name: &str, workspace: Option<&str>, shared_with: &[&str]) -> Value {
    let mut body = json!({
        "name": name,
        "type": "postgresql",
        "config": pg_config(),
        "credentials": { "password": "stored-secret" },
        "shared_with_workspaces": shared_with,
        "health_check_interval_s": 3600,
    });
    if let Some(workspace) = workspace {
        body["workspace_id"] = json!(workspace);
    }
    body
}

fn with_config(change: &[(&str, Value)]) -> Value {
    let mut config = pg_config();
    for (field, value) in change {
        config[*field] = value.clone();
    }
    config
}

#[inlet_tests::test]
fn moving_a_data_source_elsewhere_needs_its_credentials_again() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    let id = api.create(&pg_body("orders", None, &[]))["id"].as_str().expect("id").to_owned();
    let path = format!("{DS}/{id}");

    // Every field that says where the password goes, and the tunnel: 422
    // naming the change and the credentials, and nothing changed.
    for (field, value) in
        [("host", json!("attacker.example")), ("port", json!(6543)), ("username", json!("someone_else"))]
    {
        let error = api
            .patch(&path, &json!({ "config": with_config(&[(field, value)]), "description": "moved" }))
            .expect_error(422, "credentials_required");
        let message = error["message"].as_str().expect("message");
        assert!(message.contains(&format!("/config/{field}")) && message.contains("password"), "{error}");
        assert_eq!(error["details"]["credentials"], json!(["password"]), "{error}");
    }
    let tunnel = json!({ "enabled": false, "host": "bastion.example", "username": "jump", "auth": "password" });
    let error = api.patch(&path, &json!({ "ssh_tunnel": tunnel })).expect_error(422, "credentials_required");
    assert_eq!(error["details"]["changed"], json!(["/ssh_tunnel"]), "{error}");
    let unchanged = api.get(&path).expect(200).json();
    assert_eq!(unchanged["config"], pg_config(), "a refused change changes nothing");
    assert_eq!(unchanged["ssh_tunnel"], Value::Null);
    assert_eq!(unchanged["description"], Value::Null);

    // A change that sends the credentials nowhere new needs none.
    let renamed = api
        .patch(&path, &json!({ "config": with_config(&[("database", json!("template1"))]), "description": "db" }))
        .expect(200)
        .json();
    assert_eq!(renamed["config"]["database"], "template1");

    // With the credentials in the same request the move is made.
    let moved = api
        .patch(
            &path,
            &json!({ "config": with_config(&[("host", json!("localhost"))]), "credentials": { "password": "again" } }),
        )
        .expect(200)
        .json();
    assert_eq!(moved["config"]["host"], "localhost");
    assert_eq!(moved["secret_fields"], json!(["password"]));
    assert!(!moved.to_string().contains("again"), "secrets are never returned");
    // Credentials a type does not have are refused.
    api.patch(&path, &json!({ "credentials": { "api_key": "x" } })).expect_error(422, "validation_failed");
}

#[inlet_tests::test]
fn a_share_grants_use_but_never_change() {
    require::service(Service::Postgres);
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    let admin = inlet.token("acme", "org-admin", &[]);
    let elsewhere = inlet.workspace("acme", "analytics");
    inlet.start();
    let api = inlet.api(&admin);
    let created = api.create(&pg_body("orders", None, &[&elsewhere]));
    let id = created["id"].as_str().expect("id").to_owned();
    let home = created["workspace_id"].as_str().expect("workspace").to_owned();
    assert_ne!(home, elsewhere, "owned by the default workspace, shared with analytics");
    api.wait_settled(&id);
    let path = format!("{DS}/{id}");
    // Tokens name workspaces by name; the default one is `default`.
    let sharer = inlet.api(&inlet.token("acme", "member", &["analytics"]));
    let owner = inlet.api(&inlet.token("acme", "member", &["default"]));

    // Use: read, list, test, discover, schemas, health, events.
    assert_eq!(sharer.get(&path).expect(200).json()["id"], id.as_str());
    assert_eq!(sharer.get(DS).expect(200).json()["total"], 1);
    assert_eq!(sharer.post(&format!("{path}/test"), &json!({})).expect(200).json()["ok"], true);
    sharer.post(&format!("{path}/discover-schema"), &json!({})).expect(202);
    sharer.get(&format!("{path}/schemas")).expect(200);
    sharer.get(&format!("{path}/health")).expect(200);
    sharer.get(&format!("/api/v1/events?data_source_id={id}")).expect(200);

    // Change: every write route is 403 (it is visible, so not 404).
    let writes: Vec<(&str, String, Option<Value>)> = vec![
        ("PATCH", path.clone(), Some(json!({ "name": "mine now" }))),
        ("PATCH", path.clone(), Some(json!({ "description": "mine" }))),
        ("PATCH", path.clone(), Some(json!({ "tags": ["stolen"] }))),
        ("PATCH", path.clone(), Some(json!({ "status": "inactive" }))),
        ("PATCH", path.clone(), Some(json!({ "shared_with_workspaces": [elsewhere.clone()] }))),
        ("PATCH", path.clone(), Some(json!({ "config": with_config(&[("host", json!("attacker.example"))]) }))),
        (
            "PATCH",
            path.clone(),
            Some(
                json!({ "config": with_config(&[("host", json!("attacker.example"))]), "credentials": { "password": "x" } }),
            ),
        ),
        ("PATCH", format!("{path}/credentials"), Some(json!({ "credentials": { "password": "x" } }))),
        ("DELETE", path.clone(), None),
        ("DELETE", format!("{path}?force=true"), None),
    ];
    for (method, route, body) in &writes {
        let answer = match body {
            Some(body) => sharer.json(method, route, body),
            None => sharer.send(method, route, &[], None),
        };
        answer.expect_error(403, "forbidden");
    }
    let after = api.get(&path).expect(200).json();
    assert_eq!(
        (&after["name"], &after["description"], &after["tags"], &after["config"]["host"]),
        (&json!("orders"), &Value::Null, &json!([]), &json!("127.0.0.1")),
        "nothing changed: {after}"
    );
    assert_ne!(after["status"], "inactive");

    // The owning workspace's members and org admins change it.
    owner.patch(&path, &json!({ "description": "owned" })).expect(200);
    owner.patch(&path, &json!({ "tags": ["prod"] })).expect(200);
    api.patch(&path, &json!({ "name": "orders (admin)" })).expect(200);
    owner.delete(&path).expect(204);
}

/// An SSE client over HTTP/1.0: the body is the stream itself.
struct EventStream {
    reader: BufReader<TcpStream>,
}

/// Opens `GET /api/v1/events` as a stream: the status, and the stream when 200
/// (else the body).
fn open_stream(port: u16, secret: &str) -> (u16, Result<EventStream, String>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let request = format!(
        "GET /api/v1/events HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {secret}\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    assert_eq!(read_line(&mut reader, &mut status, Duration::from_secs(10)), Read::Line, "a status line");
    let code: u16 = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status code");
    loop {
        let mut line = String::new();
        assert_eq!(read_line(&mut reader, &mut line, Duration::from_secs(10)), Read::Line, "headers");
        if line.trim_end().is_empty() {
            break;
        }
    }
    if code != 200 {
        let mut body = String::new();
        while read_line(&mut reader, &mut body, Duration::from_secs(5)) == Read::Line {}
        return (code, Err(body));
    }
    (code, Ok(EventStream { reader }))
}

#[derive(Debug, PartialEq, Eq)]
enum Read {
    Line,
    End,
    TimedOut,
}

fn read_line(reader: &mut BufReader<TcpStream>, line: &mut String, limit: Duration) -> Read {
    let deadline = Instant::now() + limit;
    loop {
        match reader.read_line(line) {
            Ok(0) => return Read::End,
            Ok(_) if line.ends_with('\n') => return Read::Line,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() > deadline {
                    return Read::TimedOut;
                }
            }
            Err(_) => return Read::End,
        }
    }
}

impl EventStream {
    /// The next event's id within `limit`.
    fn next_id(&mut self, limit: Duration) -> Option<i64> {
        let deadline = Instant::now() + limit;
        loop {
            let mut line = String::new();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || read_line(&mut self.reader, &mut line, left) != Read::Line {
                return None;
            }
            if let Some(id) = line.trim_end().strip_prefix("id:") {
                return id.trim().parse().ok();
            }
        }
    }

    /// Whether the server ends the stream within `limit`.
    fn ends_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let mut line = String::new();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match read_line(&mut self.reader, &mut line, left) {
                Read::End => return true,
                Read::TimedOut => return false,
                Read::Line => {}
            }
        }
    }
}

#[inlet_tests::test]
fn a_revoked_token_ends_its_event_stream() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let member = inlet.token("acme", "member", &[]);
    let (status, stream) = open_stream(inlet.port, &member.secret);
    assert_eq!(status, 200);
    let mut stream = stream.expect("a stream");
    let (_, untouched) = open_stream(inlet.port, &admin.secret);
    let mut untouched = untouched.expect("a stream");
    let revoked_at = Instant::now();
    inlet.revoke(&member);
    assert!(stream.ends_within(Duration::from_secs(15)), "the stream of a revoked token stays open");
    eprintln!("stream ended {:?} after the revocation", revoked_at.elapsed());
    assert!(!untouched.ends_within(Duration::from_secs(1)), "other streams stay open");
}

#[inlet_tests::test]
fn event_streams_are_capped_per_token_and_per_organization() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    let (a, b, c) = (
        inlet.token("acme", "org-admin", &[]),
        inlet.token("acme", "org-admin", &[]),
        inlet.token("acme", "org-admin", &[]),
    );
    inlet.org("globex");
    let other = inlet.token("globex", "org-admin", &[]);
    inlet.extra_env.push(("INLET_SSE_MAX_STREAMS_PER_TOKEN".into(), "2".into()));
    inlet.extra_env.push(("INLET_SSE_MAX_STREAMS_PER_ORG".into(), "3".into()));
    inlet.start();
    let open = |token: &Token| open_stream(inlet.port, &token.secret);
    let refused = |token: &Token, why: &str| {
        let (status, body) = open(token);
        assert_eq!(status, 429, "{why}");
        let body: Value = serde_json::from_str(body.err().expect("an error body").trim()).expect("JSON");
        assert_eq!(body["error"]["code"], "too_many_streams", "{body}");
    };
    let mut held = Vec::new();
    for token in [&a, &a] {
        let (status, stream) = open(token);
        assert_eq!(status, 200);
        held.push(stream.expect("stream"));
    }
    refused(&a, "a third stream of one token");
    let (status, stream) = open(&b);
    assert_eq!(status, 200);
    held.push(stream.expect("stream"));
    refused(&c, "a fourth stream of one organization");
    let (status, _other_stream) = open(&other);
    assert_eq!(status, 200, "another organization has its own cap");
    // The page form of the same route is not a stream and not capped.
    inlet.api(&c).get("/api/v1/events").expect(200);
}

#[inlet_tests::test]
fn many_streams_are_served_by_one_poll_and_all_deliver() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    let mut streams: Vec<EventStream> =
        (0..5).map(|_| open_stream(inlet.port, &admin.secret).1.expect("a stream")).collect();
    let metrics = || api.get("/metrics").expect(200).text();
    let text = metrics();
    assert!(text.contains("inlet_event_streams 5"), "{text}");
    assert!(text.contains("inlet_event_feeds 1"), "one shared poll for five streams: {text}");
    // A data source that cannot connect: its first test fails, an event.
    let body = json!({ "name": "down", "type": "postgresql", "config": with_config(&[("port", json!(1))]) });
    let id = api.create(&body)["id"].as_str().expect("id").to_owned();
    api.wait_settled(&id);
    let ids: Vec<Option<i64>> = streams.iter_mut().map(|s| s.next_id(Duration::from_secs(15))).collect();
    assert!(ids[0].is_some(), "the streams deliver: {ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "every stream gets the same event: {ids:?}");
    drop(streams);
}

#[inlet_tests::test]
fn alert_test_deliveries_do_not_say_what_a_name_resolved_to() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    let admin = inlet.token("acme", "org-admin", &[]);
    inlet.extra_env.push(("INLET_EGRESS_LOOPBACK".into(), "deny".into()));
    inlet.start();
    let api = inlet.api(&admin);
    let test = |name: &str, url: &str| -> Value {
        let body = json!({ "name": name, "url": url, "secret": "whsec-test-0123456789abcdef" });
        let channel = api.post("/api/v1/alert-channels", &body).expect(201).json();
        let id = channel["id"].as_str().expect("id");
        api.post(&format!("/api/v1/alert-channels/{id}/test"), &json!({})).expect(200).json()
    };
    // `localhost` is loopback, refused here: the answer does not say so.
    let refused = test("loopback", "http://localhost:9/hook");
    assert_eq!(refused["delivered"], false);
    assert_eq!(refused["error"], "refused by policy", "{refused}");
    let unresolvable = test("nowhere", "http://no-such-host.invalid/hook");
    assert_eq!(unresolvable["error"], "could not connect", "{unresolvable}");
    for answer in [&refused, &unresolvable] {
        let text = answer.to_string();
        assert!(!text.contains("127.0.0.1") && !text.contains("::1") && !text.contains("resolve"), "{text}");
    }
}

#[inlet_tests::test]
fn metrics_show_only_what_the_caller_may_see() {
    require::service(Service::Postgres);
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    inlet.org("globex");
    let admin = inlet.token("acme", "org-admin", &[]);
    let analytics = inlet.workspace("acme", "analytics");
    let globex_admin = inlet.token("globex", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&admin);
    // Two data sources in the default workspace, one in analytics.
    let hidden = api.create(&pg_body("hidden", None, &[]))["id"].as_str().expect("id").to_owned();
    let hidden2 = api.create(&pg_body("hidden 2", None, &[]))["id"].as_str().expect("id").to_owned();
    let seen = api.create(&pg_body("seen", Some(&analytics), &[]))["id"].as_str().expect("id").to_owned();
    for id in [&hidden, &hidden2, &seen] {
        api.wait_settled(id);
    }
    // A pool for a data source the member cannot see.
    api.post(&format!("{DS}/{hidden}/test"), &json!({})).expect(200);
    let member = inlet.api(&inlet.token("acme", "member", &["analytics"]));
    let mine = member.get(&format!("{DS}/metrics")).expect(200).json();
    assert_eq!(mine["data_sources_total"], 1, "{mine}");
    assert_eq!(
        mine["breakers_by_state"].as_object().map(|m| m.values().filter_map(Value::as_i64).sum::<i64>()),
        Some(1)
    );
    let pools: Vec<&str> =
        mine["pools"].as_array().expect("pools").iter().filter_map(|p| p["data_source_id"].as_str()).collect();
    assert!(!pools.contains(&hidden.as_str()), "a pool the member cannot see: {mine}");
    let everything = api.get(&format!("{DS}/metrics")).expect(200).json();
    assert_eq!(everything["data_sources_total"], 3);
    assert!(everything["pools"].as_array().expect("pools").iter().any(|p| p["data_source_id"] == hidden.as_str()));

    // Tests in another organization do not count here.
    let acme_tests = everything["tests_run"].as_u64().expect("tests_run");
    assert!(acme_tests >= 4, "{everything}");
    let globex = inlet.api(&globex_admin);
    let theirs = globex.create(&pg_body("theirs", None, &[]))["id"].as_str().expect("id").to_owned();
    globex.wait_settled(&theirs);
    for _ in 0..3 {
        globex.post(&format!("{DS}/{theirs}/test"), &json!({})).expect(200);
    }
    let globex_metrics = wait_for(
        Duration::from_secs(10),
        || globex.get(&format!("{DS}/metrics")).expect(200).json(),
        |m| m["tests_run"] == 4,
    );
    assert_eq!(globex_metrics["data_sources_total"], 1);
    let after = api.get(&format!("{DS}/metrics")).expect(200).json();
    assert_eq!(after["tests_run"].as_u64(), Some(acme_tests), "another organization's tests: {after}");
}
