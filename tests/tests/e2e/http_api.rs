//! End-to-end tests of the http-api plugin through the real host:
//! `inlet plugin exec target/plugins/http-api`, against a tiny HTTP/1.1
//! server that each test starts in this process on 127.0.0.1 (one request
//! per connection, `Connection: close`).
//!
//! The server's first path segment picks what it demands: `/open/…` nothing,
//! `/bearer/…` `Authorization: Bearer good-token`, `/basic/…` alice's
//! password, `/key/…` the header `X-API-Key: k3y`, `/query/…` `?api_key=k3y`;
//! anything else is answered 401. Under each: `/health`, `/users` (a
//! top-level array with nested objects and arrays of records), `/orders`
//! (records under `data`), `/openapi.json`, `/moved` (a redirect to another
//! host), `/relocated` (a redirect on the same origin), `/many` (20,000
//! records under `items`), `/huge` (announces 200 MiB), `/endless` (streams
//! a body without a length), `/slow` (answers after 3 s), `/page` (HTML).
//!
//! Loopback must be allowed by the egress policy (`cargo xtask test` sets
//! `INLET_EGRESS_LOOPBACK=allow`; `plugin exec` allows it unless told otherwise).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use inlet_tests::catalog::{column, step, table, table_names};
use inlet_tests::server::{Backend, Inlet};
use inlet_tests::{ExecOutcome, exec, plugin_dir};
use serde_json::{Value, json};

const TOKEN: &str = "good-token";
const API_KEY: &str = "k3y";
/// `alice:wonderland`
const BASIC: &str = "Basic YWxpY2U6d29uZGVybGFuZA==";
/// The most bytes `/huge` and `/endless` write before giving up on a reader.
const BODY_CAP: usize = 80 << 20;

const USERS: &str = r#"[
  {"id": 1, "name": "Ada", "email": "ada@example.com", "active": true, "score": 9.5,
   "joined": "2024-01-05T10:00:00Z", "address": {"city": "London", "geo": {"lat": 51.5, "lon": -0.12}},
   "tags": ["admin", "ops"], "orders": [{"sku": "A-1", "qty": 2, "price": 12.5}, {"sku": "B-7", "qty": 1, "price": 3}]},
  {"id": 2, "name": "Bob", "email": null, "active": false, "score": 7,
   "joined": "2024-02-11T08:30:00Z", "address": {"city": "Paris", "zip": "75001"},
   "tags": [], "orders": []},
  {"id": 3, "name": "Cy", "active": true, "score": 8.25,
   "joined": "2024-03-01T00:00:00Z", "address": null, "tags": ["ops"],
   "orders": [{"sku": "C-3", "qty": 5, "price": 1.75, "note": "gift"}]}
]"#;

const ORDERS: &str = r#"{"total": 2, "data": [
  {"id": "o-1", "placed": "2024-05-01", "amount": 19.99, "customer": {"id": 1}},
  {"id": "o-2", "placed": "2024-05-03", "amount": 5, "customer": {"id": 3}}
], "links": {"next": null}}"#;

const OPENAPI: &str = r##"{
  "openapi": "3.0.3",
  "info": {"title": "Fixture API", "version": "1.2.0"},
  "paths": {
    "/users": {"get": {"operationId": "users", "responses": {"200": {"description": "ok",
      "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}}},
    "/users/{id}": {"get": {"operationId": "user", "parameters": [{"name": "id", "in": "path", "required": true}]}},
    "/orders": {"get": {"operationId": "orders", "responses": {"200": {"description": "ok",
      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderPage"}}}}}},
      "post": {"operationId": "createOrder"}},
    "/search": {"get": {"parameters": [{"name": "q", "in": "query", "required": true}]}},
    "/health": {"get": {"operationId": "health"}}
  },
  "components": {"schemas": {"OrderPage": {"type": "object", "properties": {
    "total": {"type": "integer"}, "data": {"type": "array", "items": {"type": "object"}}}}}}
}"##;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Listens on 127.0.0.1 (a free port); each connection gets a thread.
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                thread::spawn(move || {
                    // A client that went away is none of the server's business.
                    let _ = serve(stream, port, &log);
                });
            }
        });
        Self { port, seen }
    }

    fn url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}/{prefix}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// `total` bytes of a JSON array, optionally announced in content-length.
    Stream {
        announce: bool,
        total: usize,
    },
}

fn json_reply(body: &str) -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into()), ("Server".into(), "fixture-api/1.0".into())],
        body: body.as_bytes().to_vec(),
    }
}

fn status_reply(status: u16, headers: Vec<(String, String)>) -> Reply {
    let mut headers = headers;
    headers.push(("Content-Type".into(), "application/json".into()));
    Reply::Full { status, headers, body: format!("{{\"status\":{status}}}").into_bytes() }
}

fn serve(stream: TcpStream, port: u16, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return Ok(()) };
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if headers.len() > 100 {
            return Ok(());
        }
    }
    let seen = Seen { method, target, headers };
    let length: usize = seen.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    log.lock().expect("log").push(seen.clone());
    write_reply(stream, route(&seen, port))
}

fn route(seen: &Seen, port: u16) -> Reply {
    let (path, query) = seen.target.split_once('?').unwrap_or((&seen.target, ""));
    let path = path.trim_start_matches('/');
    let (prefix, rest) = path.split_once('/').unwrap_or((path, ""));
    let authorized = match prefix {
        "open" => true,
        "bearer" => seen.header("authorization") == Some(&format!("Bearer {TOKEN}")),
        "basic" => seen.header("authorization") == Some(BASIC),
        "key" => seen.header("x-api-key") == Some(API_KEY),
        "query" => query.split('&').any(|pair| pair == format!("api_key={API_KEY}")),
        _ => false,
    };
    if !authorized {
        return status_reply(401, vec![("WWW-Authenticate".into(), "Bearer realm=\"fixture\"".into())]);
    }
    match rest {
        "health" => json_reply(r#"{"status": "ok"}"#),
        "users" => json_reply(USERS),
        "orders" => json_reply(ORDERS),
        "openapi.json" => json_reply(OPENAPI),
        "moved" => status_reply(302, vec![("Location".into(), format!("http://127.0.0.2:{port}/{prefix}/users"))]),
        "relocated" => status_reply(301, vec![("Location".into(), format!("/{prefix}/health"))]),
        "huge" => Reply::Stream { announce: true, total: 200 << 20 },
        "endless" => Reply::Stream { announce: false, total: BODY_CAP },
        "many" => {
            let records: Vec<String> =
                (0..20_000).map(|i| format!(r#"{{"id":{i},"code":"c{i}","even":{}}}"#, i % 2 == 0)).collect();
            json_reply(&format!(r#"{{"items":[{}],"count":20000}}"#, records.join(",")))
        }
        "slow" => {
            thread::sleep(Duration::from_secs(3));
            json_reply("[]")
        }
        "page" => Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html><body>hello</body></html>".to_vec(),
        },
        _ => status_reply(404, vec![]),
    }
}

fn write_reply(mut stream: TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Full { status, headers, body } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
            stream.write_all(head.as_bytes())?;
            stream.write_all(&body)?;
        }
        Reply::Stream { announce, total } => {
            let mut head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n".to_owned();
            if announce {
                head.push_str(&format!("Content-Length: {total}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            // Records of ~1 KiB; stops at the first failed write (the reader
            // gave up) and never writes more than BODY_CAP.
            let record = format!("{{\"id\":1,\"pad\":\"{}\"}},", "x".repeat(1000));
            let chunk = format!("[{}", record.repeat(1024));
            let mut written = 0;
            while written < total.min(BODY_CAP) {
                let take = chunk.len().min(total - written);
                stream.write_all(&chunk.as_bytes()[..take])?;
                written += take;
            }
        }
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Status",
    }
}

fn run(config: &Value, secrets: Option<Value>, command: &str) -> ExecOutcome {
    exec(&plugin_dir("http-api"), "http_api", config, secrets.as_ref(), command, &[])
}

/// A config for `base_url` with `extra` merged in.
fn config(base_url: String, extra: Value) -> Value {
    let mut config = json!({ "base_url": base_url });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

fn failure<'a>(outcome: &'a ExecOutcome, kind: &str) -> &'a str {
    assert!(!outcome.success, "expected a failure: {}", outcome.json);
    assert_eq!(outcome.error_kind(), Some(kind), "{}\n{}", outcome.json, outcome.stderr);
    outcome.json.pointer("/error/message").and_then(Value::as_str).expect("error message")
}

#[inlet_tests::test]
fn test_passes_with_every_authentication_method() {
    let server = Server::start();
    let cases = [
        ("open", json!({}), None),
        ("bearer", json!({"auth": "bearer"}), Some(json!({"token": TOKEN}))),
        ("basic", json!({"auth": "basic", "username": "alice"}), Some(json!({"password": "wonderland"}))),
        ("key", json!({"auth": "api_key"}), Some(json!({"api_key": API_KEY}))),
        (
            "query",
            json!({"auth": "api_key", "api_key_in": "query", "api_key_name": "api_key"}),
            Some(json!({"api_key": API_KEY})),
        ),
    ];
    for (prefix, extra, secrets) in cases {
        let mut extra = extra;
        extra["health_path"] = json!("/health");
        let outcome = run(&config(server.url(prefix), extra), secrets, "test");
        assert!(outcome.success, "{prefix}: {}\n{}", outcome.json, outcome.stderr);
        assert_eq!(outcome.json["server_version"], "fixture-api/1.0", "{prefix}");
        let request = step(&outcome, &format!("request GET /{prefix}/health"));
        assert_eq!(request["passed"], true);
        assert_eq!(request["message"], "HTTP 200, 16 bytes", "{prefix}");
        assert_eq!(step(&outcome, "status")["message"], "HTTP 200 as expected");
        let configure = step(&outcome, "configure");
        let described = configure["message"].as_str().expect("configure note");
        assert!(described.starts_with(&server.url(prefix)), "{described}");
        for secret in [TOKEN, API_KEY, "wonderland"] {
            assert!(!outcome.json.to_string().contains(secret), "{prefix}: a secret in {}", outcome.json);
        }
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 5, "{seen:?}");
    let authority = format!("127.0.0.1:{}", server.port);
    for request in &seen {
        assert_eq!(request.method, "GET");
        assert_eq!(request.header("host"), Some(authority.as_str()), "{request:?}");
        assert_eq!(request.header("accept"), Some("application/json"), "{request:?}");
    }
    assert_eq!(seen[4].target, format!("/query/health?api_key={API_KEY}"));
}

#[inlet_tests::test]
fn wrong_or_missing_credentials() {
    let server = Server::start();
    let bearer = config(server.url("bearer"), json!({"auth": "bearer", "health_path": "/health"}));
    let outcome = run(&bearer, Some(json!({"token": "wrong-token"})), "test");
    let message = failure(&outcome, "auth");
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(!outcome.json.to_string().contains("wrong-token"), "{}", outcome.json);
    assert_eq!(step(&outcome, "status")["passed"], false);

    let basic = config(server.url("basic"), json!({"auth": "basic", "username": "alice", "health_path": "/health"}));
    let outcome = run(&basic, Some(json!({"password": "guess"})), "test");
    failure(&outcome, "auth");

    let outcome = run(&bearer, None, "test");
    let message = failure(&outcome, "config");
    assert!(message.contains("token"), "{message}");

    // A 401 that the configuration expects is a pass.
    let expected = config(server.url("bearer"), json!({"health_path": "/health", "expected_status": 401}));
    let outcome = run(&expected, None, "test");
    assert!(outcome.success, "{}", outcome.json);
}

#[inlet_tests::test]
fn discover_describes_each_endpoint_column_by_column() {
    let server = Server::start();
    let described = config(
        server.url("bearer"),
        json!({"auth": "bearer", "endpoints": [
            {"name": "users", "path": "/users"},
            {"name": "orders", "path": "/orders?state=open", "records": "/data"}
        ]}),
    );
    let outcome = run(&described, Some(json!({"token": TOKEN})), "discover");
    assert!(outcome.success, "{}\n{}", outcome.json, outcome.stderr);
    assert_eq!(table_names(&outcome), ["default.users", "default.users.orders", "default.orders"]);

    let users = table(&outcome, "default", "users");
    assert_eq!(users["kind"], "table");
    assert_eq!(users["comment"], "GET /bearer/users: column types inferred from 3 of 3 records");
    // name, data type, native type, nullable
    let expected = [
        ("id", "int64", "integer", false),
        ("name", "string", "string", false),
        ("email", "string", "string", true),
        ("active", "boolean", "boolean", false),
        ("score", "float64", "number", false),
        ("joined", "timestamp-tz", "string (date-time)", false),
        ("address.city", "string", "string", true),
        ("address.geo.lat", "float64", "number", true),
        ("address.geo.lon", "float64", "number", true),
        ("address.zip", "string", "string", true),
        ("tags", "array", "array", false),
        ("orders", "json", "array", false),
    ];
    check_columns(users, &expected);
    assert_eq!(column(users, "name")["max_length"], 3);
    assert_eq!(column(users, "tags")["comment"], "array of string");
    assert_eq!(column(users, "orders")["comment"], "array of records: see table `users.orders`");

    let orders = table(&outcome, "default", "users.orders");
    check_columns(
        orders,
        &[
            ("sku", "string", "string", false),
            ("qty", "int64", "integer", false),
            ("price", "float64", "number", false),
            ("note", "string", "string", true),
        ],
    );
    assert_eq!(orders["comment"], "records of the array `orders` in `users`; column types inferred from 3 records");

    let top_orders = table(&outcome, "default", "orders");
    check_columns(
        top_orders,
        &[
            ("id", "string", "string", false),
            ("placed", "date", "string (date)", false),
            ("amount", "float64", "number", false),
            ("customer.id", "int64", "integer", false),
        ],
    );
    assert_eq!(top_orders["comment"], "GET /bearer/orders: column types inferred from 2 of 2 records at `/data`");
    let seen = server.seen();
    assert!(seen.iter().any(|s| s.target == "/bearer/orders?state=open"), "{seen:?}");
}

#[track_caller]
fn check_columns(table: &Value, expected: &[(&str, &str, &str, bool)]) {
    let columns = table["columns"].as_array().expect("columns");
    let actual: Vec<(String, String, String, bool)> = columns
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["data_type"].as_str().unwrap_or_default().to_owned(),
                c["native_type"].as_str().unwrap_or_default().to_owned(),
                c["nullable"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String, bool)> =
        expected.iter().map(|(n, d, t, null)| ((*n).to_owned(), (*d).to_owned(), (*t).to_owned(), *null)).collect();
    assert_eq!(actual, expected, "{table}");
    let ordinals: Vec<u64> = columns.iter().filter_map(|c| c["ordinal"].as_u64()).collect();
    assert_eq!(ordinals, (1..=columns.len() as u64).collect::<Vec<_>>());
}

#[inlet_tests::test]
fn openapi_documents_list_the_endpoints() {
    let server = Server::start();
    let imported = config(
        server.url("key"),
        json!({"auth": "api_key", "health_path": "/health", "openapi_path": "/openapi.json"}),
    );
    let secrets = Some(json!({"api_key": API_KEY}));
    let outcome = run(&imported, secrets.clone(), "test");
    assert!(outcome.success, "{}\n{}", outcome.json, outcome.stderr);
    assert_eq!(outcome.json["server_version"], "Fixture API 1.2.0");
    assert_eq!(
        step(&outcome, "openapi document")["message"],
        "OpenAPI 3.0.3: 3 GET endpoints (2 skipped: parameters needed)"
    );

    let outcome = run(&imported, secrets, "discover");
    assert!(outcome.success, "{}\n{}", outcome.json, outcome.stderr);
    assert_eq!(table_names(&outcome), ["default.users", "default.users.orders", "default.orders", "default.health"]);
    let orders = table(&outcome, "default", "orders");
    assert_eq!(orders["comment"], "GET /key/orders: column types inferred from 2 of 2 records at `/data`");
    let health = table(&outcome, "default", "health");
    assert_eq!(health["comment"], "GET /key/health: one object, described as a record");
    check_columns(health, &[("status", "string", "string", false)]);
}

#[inlet_tests::test]
fn big_lists_are_sampled_and_counted() {
    let server = Server::start();
    let many = config(server.url("open"), json!({"sample_size": 50, "endpoints": [{"name": "many", "path": "/many"}]}));
    let outcome = run(&many, None, "discover");
    assert!(outcome.success, "{}\n{}", outcome.json, outcome.stderr);
    let table = table(&outcome, "default", "many");
    assert_eq!(table["comment"], "GET /open/many: column types inferred from 50 of 20000 records at `/items`");
    check_columns(
        table,
        &[
            ("id", "int64", "integer", false),
            ("code", "string", "string", false),
            ("even", "boolean", "boolean", false),
        ],
    );
}

#[inlet_tests::test]
fn a_silent_server_times_out() {
    let server = Server::start();
    let slow = config(server.url("open"), json!({"health_path": "/slow"}));
    let outcome = exec(&plugin_dir("http-api"), "http_api", &slow, None, "test", &["--query-timeout-s", "1"]);
    let message = failure(&outcome, "timeout");
    assert_eq!(outcome.json.pointer("/error/retryable"), Some(&json!(true)), "{}", outcome.json);
    // The request's own timeout (90% of the call's) fires first, so the step that waited is named.
    assert_eq!(message, "GET /open/slow: the server did not answer in time");
    assert_eq!(step(&outcome, "request GET /open/slow")["passed"], false);
}

#[inlet_tests::test]
fn a_closed_port_is_unreachable() {
    let port = inlet_tests::free_port();
    let outcome = run(&config(format!("http://127.0.0.1:{port}"), json!({})), None, "test");
    failure(&outcome, "unreachable");
    assert_eq!(outcome.json.pointer("/error/retryable"), Some(&json!(true)), "{}", outcome.json);
}

#[inlet_tests::test]
fn redirects_are_followed_only_on_the_same_origin() {
    let server = Server::start();
    let outcome = run(&config(server.url("open"), json!({"health_path": "/relocated"})), None, "test");
    assert!(outcome.success, "{}\n{}", outcome.json, outcome.stderr);
    let targets: Vec<String> = server.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/open/relocated", "/open/health"]);

    let outcome = run(&config(server.url("open"), json!({"health_path": "/moved"})), None, "test");
    let message = failure(&outcome, "permission");
    assert!(message.contains(&format!("http://127.0.0.2:{}/open/users", server.port)), "{message}");
    assert!(message.contains("not followed"), "{message}");
    // Nothing was sent to the other host.
    assert_eq!(server.seen().len(), 3);

    let discover = config(server.url("open"), json!({"endpoints": [{"name": "moved", "path": "/moved"}]}));
    let outcome = run(&discover, None, "discover");
    let message = failure(&outcome, "permission");
    assert!(message.starts_with("endpoint `moved`: "), "{message}");
}

#[inlet_tests::test]
fn huge_and_foreign_responses_fail_clearly() {
    let server = Server::start();
    // /huge announces 200 MiB (refused on its headers); /endless has no
    // length and is cut off by the connector's cap (16 MiB by default) or,
    // with the connector's cap raised to 64 MiB, by the host's.
    for (path, max_mib) in [("/huge", 16), ("/endless", 16), ("/endless", 64)] {
        let endpoints = json!([{"name": "big", "path": path}]);
        let big = config(server.url("open"), json!({"endpoints": endpoints, "max_response_mib": max_mib}));
        let outcome = run(&big, None, "discover");
        let message = failure(&outcome, "protocol");
        assert!(
            message.starts_with(&format!("endpoint `big`: GET /open{path}: the response is larger than")),
            "{message}"
        );
    }
    let html = config(server.url("open"), json!({"endpoints": [{"name": "page", "path": "/page"}]}));
    let outcome = run(&html, None, "discover");
    let message = failure(&outcome, "protocol");
    assert!(message.contains("did not answer JSON (text/html)"), "{message}");

    let missing = config(server.url("open"), json!({"endpoints": [{"name": "gone", "path": "/nothing"}]}));
    failure(&run(&missing, None, "discover"), "not_found");
}

#[inlet_tests::test]
fn urls_outside_the_base_url_are_refused() {
    let server = Server::start();
    let other_host =
        config(server.url("open"), json!({"endpoints": [{"name": "x", "path": "http://127.0.0.2/open/users"}]}));
    let outcome = run(&other_host, None, "discover");
    let message = failure(&outcome, "config");
    assert!(message.contains("not a path"), "{message}");
    let not_http = config("ftp://127.0.0.1/".to_owned(), json!({}));
    failure(&run(&not_http, None, "test"), "config");
    assert!(server.seen().is_empty());
}

#[inlet_tests::test]
fn preview_through_the_api_reads_records_in_discovered_types() {
    let server = Server::start();
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let settings = config(
        server.url("bearer"),
        json!({"auth": "bearer", "health_path": "/health", "endpoints": [
            {"name": "users", "path": "/users"},
            {"name": "orders", "path": "/orders", "records": "/data"}
        ]}),
    );
    let created = api.create(&json!({
        "name": "fixture-api", "type": "http_api", "config": settings,
        "credentials": {"token": TOKEN}, "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}/preview?schema=default");

    let users =
        api.get(&format!("{path}&table=users&columns=id,name,joined,address.city,tags&limit=2")).expect(200).json();
    let types: Vec<(&str, &str)> = users["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or(""), c["data_type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        types,
        [
            ("id", "int64"),
            ("name", "string"),
            ("joined", "timestamp-tz"),
            ("address.city", "string"),
            ("tags", "array")
        ],
        "{users}"
    );
    assert_eq!(
        users["rows"],
        json!([
            [1, "Ada", "2024-01-05T10:00:00.000000Z", "London", ["admin", "ops"]],
            [2, "Bob", "2024-02-11T08:30:00.000000Z", "Paris", []]
        ])
    );

    // The records of an array inside the records, across the parents.
    let lines = api.get(&format!("{path}&table=users.orders&limit=10")).expect(200).json();
    assert_eq!(
        lines["rows"],
        json!([["A-1", 2, 12.5, null], ["B-7", 1, 3.0, null], ["C-3", 5, 1.75, "gift"]]),
        "{lines}"
    );
    // Records under a pointer, dates as dates.
    let orders = api.get(&format!("{path}&table=orders&limit=5")).expect(200).json();
    assert_eq!(orders["rows"], json!([["o-1", "2024-05-01", 19.99, 1], ["o-2", "2024-05-03", 5.0, 3]]));
    api.get(&format!("{path}&table=nothing")).expect_error(422, "not_found");
}
