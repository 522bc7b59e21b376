//! End-to-end tests of the redis plugin through the real host:
//! `inlet plugin exec target/plugins/redis`, against the Redis server on
//! 127.0.0.1:6379 (no password on the default user).
//!
//! The fixture keyspace lives in database 11, built once per test binary
//! (every type, TTLs, 5,000 keys of one pattern for sampling) and only read
//! afterwards. Tests that change server state use their own ACL user names.
//! Databases 12–15 stay empty here.

use std::process::Command;
use std::sync::OnceLock;

use inlet_tests::catalog::{column, step, table, tables};
use inlet_tests::require::{self, Service};
use inlet_tests::server::{Backend, Inlet};
use inlet_tests::{ExecOutcome, exec, plugin_dir};
use serde_json::{Value, json};

const FIXTURE_DB: u8 = 11;
const ITEMS: u64 = 5000;
const USERS: u64 = 300;

fn require_redis() {
    require::service(Service::Redis);
    require::tool("redis-cli");
}

/// Runs redis-cli against database `db` and returns its output; a Redis error fails the test.
fn redis_cli(db: u8, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "-n", &db.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    assert!(!stdout.starts_with("ERR") && !stdout.starts_with("WRONGTYPE"), "redis-cli {args:?}: {stdout}");
    stdout
}

/// The fixture keyspace, in a Lua script so that 5,500 keys take one round trip.
const FIXTURE: &str = r#"
for i = 1, 300 do
  local key = 'user:' .. i
  redis.call('HSET', key, 'name', 'user' .. i, 'age', tostring(20 + i % 50),
             'score', tostring(i * 1.5), 'active', (i % 3 == 0) and 'true' or 'false')
  if i % 2 == 0 then redis.call('HSET', key, 'email', 'u' .. i .. '@example.com') end
end
for i = 1, 50 do
  redis.call('SET', 'user:' .. i .. ':profile', '{"theme":"dark","lang":"en","id":' .. i .. '}')
end
for i = 1, 40 do redis.call('SET', 'page:' .. i .. ':views', tostring(i * 17)) end
for i = 1, 60 do
  redis.call('SET', string.format('session:%08x-0000-4000-8000-%012x', i, i), 'token' .. i, 'EX', 1000 + i * 10)
end
for i = 1, 20 do
  local key = string.format('cache:%012x', 11255663 + i * 7919)
  redis.call('SET', key, 'blob' .. i)
  if i % 2 == 1 then redis.call('EXPIRE', key, 500) end
end
for i = 1, 5 do redis.call('RPUSH', 'queue:jobs:' .. i, 'job-a', 'job-b', 'job-c') end
for i = 1, 8 do redis.call('SADD', 'tags:' .. i, 'red', 'green') end
for year = 2020, 2024 do
  for p = 1, 10 do redis.call('ZADD', 'leaderboard:' .. year, p * 10, 'player' .. p) end
end
for i = 1, 3 do
  redis.call('XADD', 'events:' .. i, '*', 'type', 'click', 'page', '/home')
  redis.call('XADD', 'events:' .. i, '*', 'type', 'view', 'page', '/about', 'ref', 'search')
end
for i = 1, 5000 do redis.call('SET', 'item:' .. i, 'x') end
redis.call('SET', 'thing:1', 'a string')
redis.call('HSET', 'thing:2', 'a', 'hash')
redis.call('SET', 'config', 'on')
for _, name in ipairs({'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa'}) do
  redis.call('SET', 'feature:' .. name, 'enabled')
end
return redis.call('DBSIZE')
"#;

/// 300 users + 50 profiles + 40 pages + 60 sessions + 20 cache + 5 queues +
/// 8 tag sets + 5 leaderboards + 3 streams + 5,000 items + 2 things + config + 10 features.
const FIXTURE_KEYS: u64 = 300 + 50 + 40 + 60 + 20 + 5 + 8 + 5 + 3 + 5000 + 2 + 1 + 10;

/// Builds database 11 once per test binary.
fn fixture() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        redis_cli(FIXTURE_DB, &["FLUSHDB"]);
        let size = redis_cli(FIXTURE_DB, &["EVAL", FIXTURE, "0"]);
        assert_eq!(size.trim(), FIXTURE_KEYS.to_string(), "fixture size");
    });
}

fn config(extra: Value) -> Value {
    let mut config = json!({"host": "127.0.0.1", "port": 6379, "database": FIXTURE_DB, "databases": [FIXTURE_DB]});
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            config.insert(key.clone(), value.clone());
        }
    }
    config
}

fn run(config: &Value, password: Option<&str>, command: &str, extra: &[&str]) -> ExecOutcome {
    let secrets = password.map(|p| json!({ "password": p }));
    exec(&plugin_dir("redis"), "redis", config, secrets.as_ref(), command, extra)
}

fn column_names(table: &Value) -> Vec<&str> {
    table["columns"].as_array().expect("columns").iter().filter_map(|c| c["name"].as_str()).collect()
}

fn comment(table: &Value) -> &str {
    table["comment"].as_str().unwrap_or_else(|| panic!("no comment on {table}"))
}

/// The seconds after `label ` in a comment's TTL part, e.g. `min 1009s`.
fn ttl_seconds(table: &Value, label: &str) -> u64 {
    let text = comment(table);
    let start = text.find(&format!("{label} ")).unwrap_or_else(|| panic!("no `{label}` in {text}")) + label.len() + 1;
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after `{label}` in {text}"))
}

#[inlet_tests::test]
fn test_reports_the_version_and_every_step() {
    require_redis();
    fixture();
    let outcome = run(&config(json!({})), None, "test", &[]);
    assert!(outcome.success, "{:?}", outcome);
    assert!(outcome.json["server_version"].as_str().is_some_and(|v| v.starts_with("Redis 7.")), "{}", outcome.json);
    let names: Vec<&str> =
        outcome.json["steps"].as_array().expect("steps").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["tcp connect", "handshake", "select database", "ping", "server info", "keyspace access"]);
    assert!(outcome.json["steps"].as_array().expect("steps").iter().all(|s| s["passed"] == true));
    assert_eq!(step(&outcome, "handshake")["message"], "RESP3");
    assert_eq!(step(&outcome, "select database")["message"], "db11");
    assert_eq!(step(&outcome, "server info")["message"], "standalone, role master");
    assert_eq!(step(&outcome, "keyspace access")["message"], format!("db11: {FIXTURE_KEYS} keys"));
}

#[inlet_tests::test]
fn database_zero_needs_no_select_and_resp2_can_be_forced() {
    require_redis();
    let outcome = run(&json!({"host": "127.0.0.1", "protocol": "2"}), None, "test", &[]);
    assert!(outcome.success, "{:?}", outcome);
    let names: Vec<&str> =
        outcome.json["steps"].as_array().expect("steps").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["tcp connect", "handshake", "ping", "server info", "keyspace access"]);
    assert_eq!(step(&outcome, "handshake")["message"], "RESP2");
    let forced3 = run(&json!({"host": "127.0.0.1", "protocol": "3", "database": 15}), None, "test", &[]);
    assert!(forced3.success, "{:?}", forced3);
    assert_eq!(step(&forced3, "handshake")["message"], "RESP3");
    assert_eq!(step(&forced3, "keyspace access")["message"], "db15: 0 keys");
}

#[inlet_tests::test]
fn discovers_every_pattern_and_type_of_the_fixture() {
    require_redis();
    fixture();
    // A sample bigger than the database: the whole keyspace, exact counts.
    let outcome = run(&config(json!({"sample_size": 10000})), None, "discover", &[]);
    assert!(outcome.success, "{:?}", outcome);
    let mut names: Vec<&str> = tables(&outcome, "db11").iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cache:*",
            "config",
            "events:*",
            "feature:*",
            "item:*",
            "leaderboard:*",
            "page:*:views",
            "queue:jobs:*",
            "session:*",
            "tags:*",
            "thing:* (hash)",
            "thing:* (string)",
            "user:*",
            "user:*:profile",
        ]
    );
    let expected = [
        ("cache:*", "string", 20),
        ("config", "string", 1),
        ("events:*", "stream", 3),
        ("feature:*", "string", 10),
        ("item:*", "string", ITEMS),
        ("leaderboard:*", "zset", 5),
        ("page:*:views", "string", 40),
        ("queue:jobs:*", "list", 5),
        ("session:*", "string", 60),
        ("tags:*", "set", 8),
        ("thing:* (hash)", "hash", 1),
        ("thing:* (string)", "string", 1),
        ("user:*", "hash", USERS),
        ("user:*:profile", "string", 50),
    ];
    for (name, redis_type, keys) in expected {
        let table = table(&outcome, "db11", name);
        assert_eq!(table["kind"], "key_space", "{name}");
        assert_eq!(table["row_estimate"], keys, "{name}: {table}");
        let text = comment(table);
        assert!(
            text.starts_with(&format!(
                "redis type {redis_type}; {keys} of {FIXTURE_KEYS} sampled keys (the whole database)"
            )),
            "{name}: {text}"
        );
        assert!(table["size_bytes"].as_u64().is_some_and(|bytes| bytes >= keys), "{name}: {table}");
        let key = column(table, "key");
        assert_eq!(
            (key["ordinal"].as_u64(), key["data_type"].as_str(), key["nullable"].as_bool()),
            (Some(1), Some("string"), Some(false))
        );
    }

    // Hashes with one field set: the fields are columns, typed, and `email`
    // (on even ids only) is nullable.
    let users = table(&outcome, "db11", "user:*");
    assert_eq!(column_names(users), ["key", "active", "age", "name", "score", "email"]);
    let types: Vec<(&str, &str, bool)> = users["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or(""), c["data_type"].as_str().unwrap_or(""), c["nullable"] == true))
        .collect();
    assert_eq!(
        types,
        [
            ("key", "string", false),
            ("active", "boolean", false),
            ("age", "int64", false),
            ("name", "string", false),
            ("score", "float64", false),
            ("email", "string", true),
        ]
    );
    assert_eq!(column(users, "age")["native_type"], "hash field");
    assert_eq!(users["constraints"][0]["kind"], "primary_key");
    assert_eq!(users["constraints"][0]["columns"], json!(["key"]));
    assert!(comment(users).contains("no ttl"), "{}", comment(users));
    assert!(comment(users).contains("avg 4.5 fields per hash"), "{}", comment(users));

    // Strings: JSON objects, integers, plain text.
    let profiles = table(&outcome, "db11", "user:*:profile");
    assert_eq!(column(profiles, "value")["data_type"], "json");
    assert!(comment(profiles).contains("values are JSON objects"), "{}", comment(profiles));
    assert_eq!(column(table(&outcome, "db11", "page:*:views"), "value")["data_type"], "int64");
    assert_eq!(column(table(&outcome, "db11", "item:*"), "value")["data_type"], "string");

    // TTLs: every session expires in 1010..1600 s (less the seconds since the fixture).
    let sessions = table(&outcome, "db11", "session:*");
    assert!(comment(sessions).contains("ttl on 60 of 60 sampled keys"), "{}", comment(sessions));
    let (min, avg, max) = (ttl_seconds(sessions, "min"), ttl_seconds(sessions, "avg"), ttl_seconds(sessions, "max"));
    assert!(
        (900..=1010).contains(&min) && (1200..=1305).contains(&avg) && (1500..=1600).contains(&max),
        "{min} {avg} {max}"
    );
    let cache = table(&outcome, "db11", "cache:*");
    assert!(comment(cache).contains("ttl on 10 of 20 sampled keys"), "{}", comment(cache));
    assert!(ttl_seconds(cache, "max") <= 500);

    // Collections: one row per element, keyed by key and position or member.
    let queues = table(&outcome, "db11", "queue:jobs:*");
    assert_eq!(column_names(queues), ["key", "index", "element"]);
    assert_eq!(queues["constraints"][0]["columns"], json!(["key", "index"]));
    assert!(comment(queues).contains("avg 3.0 elements per list"), "{}", comment(queues));
    assert_eq!(column_names(table(&outcome, "db11", "tags:*")), ["key", "member"]);
    let boards = table(&outcome, "db11", "leaderboard:*");
    assert_eq!(column_names(boards), ["key", "member", "score"]);
    assert_eq!(column(boards, "score")["data_type"], "float64");
    assert!(comment(boards).contains("avg 10.0 members per sorted set"), "{}", comment(boards));

    // Streams: entry fields from XINFO STREAM; `ref` is on the last entries only.
    let events = table(&outcome, "db11", "events:*");
    assert_eq!(column_names(events), ["key", "id", "page", "ref", "type"]);
    assert_eq!(column(events, "ref")["nullable"], true);
    assert_eq!(column(events, "type")["nullable"], false);
    assert_eq!(events["constraints"][0]["columns"], json!(["key", "id"]));
    assert!(comment(events).contains("avg 2.0 entries per stream"), "{}", comment(events));
}

#[inlet_tests::test]
fn a_small_sample_scales_to_the_database() {
    require_redis();
    fixture();
    let outcome = run(&config(json!({"sample_size": 500})), None, "discover", &[]);
    assert!(outcome.success, "{:?}", outcome);
    let items = table(&outcome, "db11", "item:*");
    let estimate = items["row_estimate"].as_u64().expect("row estimate");
    assert!((4000..=6000).contains(&estimate), "item:* estimated at {estimate}, is {ITEMS}");
    assert!(comment(items).contains("of 500 sampled keys;"), "{}", comment(items));
    let total: u64 = tables(&outcome, "db11").iter().filter_map(|t| t["row_estimate"].as_u64()).sum();
    assert!(total.abs_diff(FIXTURE_KEYS) <= FIXTURE_KEYS / 20, "estimates add up to {total}, not {FIXTURE_KEYS}");
}

/// A discovery with the TTL parts of comments removed: they count down between runs.
fn without_ttls(outcome: &ExecOutcome) -> Value {
    let mut json = outcome.json.clone();
    for schema in json["schemas"].as_array_mut().expect("schemas") {
        for table in schema["tables"].as_array_mut().expect("tables") {
            let text = table["comment"].as_str().unwrap_or_default();
            let kept: Vec<&str> = text.split("; ").filter(|part| !part.starts_with("ttl on")).collect();
            table["comment"] = json!(kept.join("; "));
        }
    }
    json
}

#[inlet_tests::test]
fn resp2_and_resp3_discover_the_same_catalog() {
    require_redis();
    fixture();
    let resp2 = run(&config(json!({"protocol": "2", "sample_size": 10000})), None, "discover", &[]);
    let resp3 = run(&config(json!({"protocol": "3", "sample_size": 10000})), None, "discover", &[]);
    assert!(resp2.success && resp3.success, "{:?}\n{:?}", resp2, resp3);
    assert_eq!(without_ttls(&resp2), without_ttls(&resp3));
    assert_eq!(tables(&resp2, "db11").len(), 14);
}

#[inlet_tests::test]
fn paging_and_schema_filters_cut_the_same_catalog() {
    require_redis();
    fixture();
    let config = config(json!({"databases": [FIXTURE_DB, 12], "sample_size": 10000}));
    let whole = run(&config, None, "discover", &[]);
    assert!(whole.success, "{:?}", whole);
    assert_eq!(whole.json["pages"], 1);
    // An empty database has no tables, so no schema.
    let schemas: Vec<&str> =
        whole.json["schemas"].as_array().expect("schemas").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(schemas, ["db11"]);
    let paged = run(&config, None, "discover", &["--page-size", "3"]);
    assert!(paged.success, "{:?}", paged);
    assert_eq!(paged.json["pages"], 5);
    assert_eq!(without_ttls(&paged)["schemas"], without_ttls(&whole)["schemas"]);
    let excluded = run(&config, None, "discover", &["--exclude-schema", "db11"]);
    assert!(excluded.success, "{:?}", excluded);
    assert_eq!(excluded.json["schemas"], json!([]));
    let included = run(&config, None, "discover", &["--include-schema", "db11"]);
    assert_eq!(tables(&included, "db11").len(), 14);
}

#[inlet_tests::test]
fn without_a_database_list_discovery_follows_info_keyspace() {
    require_redis();
    fixture();
    let outcome =
        run(&json!({"host": "127.0.0.1", "sample_size": 100}), None, "discover", &["--include-schema", "db11"]);
    assert!(outcome.success, "{:?}", outcome);
    assert!(tables(&outcome, "db11").iter().any(|t| t["name"] == "item:*"), "{}", outcome.json);
}

/// Removes the ACL user when the test ends, passed or not.
struct AclUser(&'static str);

impl AclUser {
    fn create(name: &'static str, rules: &[&str]) -> Self {
        redis_cli(0, &["ACL", "DELUSER", name]);
        let mut args = vec!["ACL", "SETUSER", name, "reset"];
        args.extend_from_slice(rules);
        assert_eq!(redis_cli(0, &args).trim(), "OK");
        Self(name)
    }
}

impl Drop for AclUser {
    fn drop(&mut self) {
        let _ = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", "6379", "ACL", "DELUSER", self.0]).output();
    }
}

#[inlet_tests::test]
fn an_acl_user_logs_in_over_both_protocols_and_a_wrong_password_is_auth() {
    require_redis();
    let user = AclUser::create("inlet_test_user", &["on", ">pw", "~*", "+@all"]);
    for protocol in ["auto", "2", "3"] {
        let config = json!({"host": "127.0.0.1", "username": user.0, "protocol": protocol});
        let outcome = run(&config, Some("pw"), "test", &[]);
        assert!(outcome.success, "{protocol}: {:?}", outcome);
        let expected = if protocol == "2" { "RESP2" } else { "RESP3" };
        assert_eq!(step(&outcome, "handshake")["message"], format!("{expected}, authenticated as inlet_test_user"));

        let wrong = run(&config, Some("not-pw"), "test", &[]);
        assert!(!wrong.success);
        assert_eq!(wrong.error_kind(), Some("auth"), "{protocol}: {:?}", wrong);
        assert_eq!(step(&wrong, "handshake")["passed"], false);
        assert!(!wrong.json.to_string().contains("not-pw"), "the password leaked: {}", wrong.json);
    }
    // The ACL user without a password: refused, as a credentials problem.
    let missing = run(&json!({"host": "127.0.0.1", "username": user.0}), None, "test", &[]);
    assert_eq!(missing.error_kind(), Some("auth"), "{:?}", missing);
}

#[inlet_tests::test]
fn a_user_without_the_rights_for_info_gets_permission() {
    require_redis();
    let user = AclUser::create("inlet_test_limited", &["on", ">pw", "~*", "-@all", "+@connection"]);
    let outcome = run(&json!({"host": "127.0.0.1", "username": user.0}), Some("pw"), "test", &[]);
    assert!(!outcome.success);
    assert_eq!(outcome.error_kind(), Some("permission"), "{:?}", outcome);
    assert_eq!(step(&outcome, "ping")["passed"], true);
    assert_eq!(step(&outcome, "server info")["passed"], false);
}

#[inlet_tests::test]
fn a_closed_port_is_unreachable() {
    let port = inlet_tests::free_port();
    let outcome = run(&json!({"host": "127.0.0.1", "port": port}), None, "test", &[]);
    assert!(!outcome.success);
    assert_eq!(outcome.error_kind(), Some("unreachable"), "{:?}", outcome);
    assert_eq!(step(&outcome, "tcp connect")["passed"], false);
}

#[inlet_tests::test]
fn a_config_outside_the_schema_is_a_config_error() {
    for config in [
        json!({"host": "127.0.0.1", "database": 16}),
        json!({"host": "127.0.0.1", "protocol": "4"}),
        json!({"host": "127.0.0.1", "sample_size": 0}),
        json!({"host": "127.0.0.1", "sample_size": 10001}),
        json!({"host": "127.0.0.1", "databases": [3, 3]}),
        json!({"host": "127.0.0.1", "keys_pattern": "*"}),
        json!({"host": "127.0.0.1", "ssl_mode": "prefer"}),
        json!({"port": 6379}),
    ] {
        let outcome = run(&config, None, "test", &[]);
        assert!(!outcome.success, "{config}");
        assert_eq!(outcome.error_kind(), Some("config"), "{config}: {:?}", outcome);
    }
}

/// A throwaway `redis-server` that speaks only TLS, on a free port, with a
/// CA and a certificate for `localhost` (no IP in its names) made by openssl.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn require() {
        require_redis();
        require::tool("redis-server");
        require::tool("openssl");
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl").args(args).output().expect("run openssl");
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        std::fs::write(path("ext.cnf"), "subjectAltName=DNS:localhost\n").expect("write ext.cnf");
        openssl(
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Inlet Test CA"]
                .iter()
                .copied()
                .chain(["-keyout", &path("ca.key"), "-out", &path("ca.crt")])
                .collect::<Vec<_>>(),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &path("server.key"),
            "-out",
            &path("server.csr"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca.crt"),
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-extfile",
            &path("ext.cnf"),
            "-out",
            &path("server.crt"),
        ]);
        let port = inlet_tests::free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "-::1"])
            .args(["--tls-cert-file", &path("server.crt"), "--tls-key-file", &path("server.key")])
            .args(["--tls-ca-cert-file", &path("ca.crt"), "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--dir", &path("")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let ca_pem = std::fs::read_to_string(path("ca.crt")).expect("read ca.crt");
        Self { child, port, ca_pem, _dir: dir }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[inlet_tests::test]
fn tls_modes_check_what_they_promise() {
    TlsServer::require();
    let server = TlsServer::start();
    let tls = |host: &str, mode: &str, ca: bool| {
        let mut config = json!({"host": host, "port": server.port, "ssl_mode": mode});
        if ca {
            config["ssl_root_cert"] = json!(server.ca_pem);
        }
        run(&config, None, "test", &["--connect-timeout-s", "5", "--query-timeout-s", "5"])
    };

    let full = tls("localhost", "verify-full", true);
    assert!(full.success, "{:?}", full);
    assert_eq!(step(&full, "tls")["message"], "TLS 1.3");
    assert_eq!(step(&full, "handshake")["message"], "RESP3");
    assert!(full.json["server_version"].as_str().is_some_and(|v| v.starts_with("Redis ")));

    // The certificate names only `localhost`: the chain is fine, the name is not.
    let by_ip = tls("127.0.0.1", "verify-ca", true);
    assert!(by_ip.success, "{:?}", by_ip);
    let mismatch = tls("127.0.0.1", "verify-full", true);
    assert!(!mismatch.success, "{:?}", mismatch);
    assert_eq!(step(&mismatch, "tls")["passed"], false);

    // Without the CA only `require` (encrypt, check nothing) gets through.
    let untrusted = tls("localhost", "verify-ca", false);
    assert!(!untrusted.success, "{:?}", untrusted);
    assert_eq!(step(&untrusted, "tls")["passed"], false);
    let require = tls("127.0.0.1", "require", false);
    assert!(require.success, "{:?}", require);

    // Plaintext to a TLS port: the server drops the connection.
    let plain = tls("127.0.0.1", "disable", false);
    assert!(!plain.success);
    assert_eq!(plain.error_kind(), Some("unreachable"), "{:?}", plain);
    assert!(plain.json["error"]["message"].as_str().is_some_and(|m| m.contains("set ssl_mode")), "{:?}", plain);
}

/// A fake server on a free port: answers the first request with `reply`
/// (nothing, when empty), then holds the connection until the client leaves.
fn fake_server(reply: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else { return };
        let mut buffer = [0u8; 4096];
        if socket.read(&mut buffer).unwrap_or(0) > 0 && !reply.is_empty() {
            let _ = socket.write_all(reply);
        }
        while socket.read(&mut buffer).is_ok_and(|n| n > 0) {}
    });
    port
}

#[inlet_tests::test]
fn a_hostile_or_silent_server_fails_with_a_clear_kind() {
    for (reply, kind) in [
        (&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..], "protocol"),
        (b"$99999999999\r\n", "protocol"),
        (b"*2000000000\r\n", "protocol"),
        (b"%1\r\n+version\r\n*9999999999999999999999\r\n", "protocol"),
        (b"", "timeout"),
    ] {
        let port = fake_server(reply);
        let config = json!({"host": "127.0.0.1", "port": port});
        let outcome = run(&config, None, "test", &["--connect-timeout-s", "1", "--query-timeout-s", "1"]);
        assert!(!outcome.success);
        assert_eq!(outcome.error_kind(), Some(kind), "{}: {:?}", String::from_utf8_lossy(reply), outcome);
        assert_eq!(step(&outcome, "handshake")["passed"], false);
    }
}

#[inlet_tests::test]
fn preview_through_the_api_reads_keys_in_discovered_columns() {
    require_redis();
    fixture();
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "cache", "type": "redis", "config": config(json!({"sample_size": 10000})), "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}/preview?schema=db11");

    // `page:*:views`, keys in byte order: `page:10:views` sorts before
    // `page:1:views` (`0` is 0x30, `:` is 0x3a).
    let pages = api.get(&format!("{path}&table=page%3A%2A%3Aviews&limit=3")).expect(200).json();
    let types: Vec<(&str, &str)> = pages["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or(""), c["data_type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(types, [("key", "string"), ("value", "int64")], "{pages}");
    assert_eq!(pages["rows"], json!([["page:10:views", 170], ["page:11:views", 187], ["page:12:views", 204]]));

    // Hash fields as columns, a subset in the order asked: `email` only on even ids.
    let users = api.get(&format!("{path}&table=user%3A%2A&columns=email,age,active&limit=2")).expect(200).json();
    assert_eq!(users["rows"], json!([[null, 21, false], ["u10@example.com", 30, false]]), "{users}");

    // A sorted set: a row per member, scores as numbers.
    let board = api.get(&format!("{path}&table=leaderboard%3A%2A&limit=2")).expect(200).json();
    assert_eq!(board["rows"], json!([["leaderboard:2020", "player1", 10.0], ["leaderboard:2020", "player2", 20.0]]));

    api.get(&format!("{path}&table=nothing%3A%2A")).expect_error(422, "not_found");
}
