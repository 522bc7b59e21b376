//! Connection pools, end to end against the local PostgreSQL: the
//! server's established connections to PostgreSQL stay within `pool_size`
//! under 50 concurrent manual tests (each on a new connection), PostgreSQL's
//! own count (pg_stat_activity) agrees once settled, scheduled
//! checks reuse pooled connections, and a config change closes them.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use inlet_tests::require::{self, Service};
use inlet_tests::server::{Api, Backend, Inlet};
use inlet_tests::wait_for;
use serde_json::{Value, json};

const DS: &str = "/api/v1/data-sources";
const POOL_SIZE: u64 = 3;

/// A login role of its own, so that pg_stat_activity can tell this test's
/// connections from everyone else's; dropped (with its sessions) at the end.
struct Role(String);

impl Role {
    fn create() -> Self {
        let role = Self(format!("inlet_pool_{}", std::process::id()));
        role.drop_now();
        sql(&format!("CREATE ROLE {} LOGIN", role.0));
        role
    }

    /// Connections of this role now, optionally to one database only.
    fn connections(&self, database: Option<&str>) -> u64 {
        let mut query = format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'", self.0);
        if let Some(database) = database {
            query.push_str(&format!(" AND datname = '{database}'"));
        }
        sql(&query).trim().parse().unwrap_or_else(|_| panic!("count of connections: {query}"))
    }

    fn drop_now(&self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-X", "-q", "-c"])
            .arg(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{0}'; DROP ROLE IF EXISTS {0}",
                self.0
            ))
            .output();
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        self.drop_now();
    }
}

fn sql(query: &str) -> String {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-c", query])
        .output()
        .expect("run psql");
    assert!(output.status.success(), "psql `{query}`: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Samples how many TCP connections to PostgreSQL (port 5432) the server
/// process `pid` holds established, until `done`, keeping the highest count.
/// The client side is the exact measure: PostgreSQL's own pg_stat_activity
/// keeps a closed connection's backend listed until that process has exited,
/// so it briefly overcounts right after the pool retires one.
fn watch_connections(pid: u32, most_seen: &AtomicU64, samples: &AtomicU64, ready: &AtomicBool, done: &AtomicBool) {
    ready.store(true, Ordering::Release);
    while !done.load(Ordering::Acquire) {
        most_seen.fetch_max(established_to_postgres(pid), Ordering::AcqRel);
        samples.fetch_add(1, Ordering::AcqRel);
    }
}

/// Established TCP connections of process `pid` whose remote port is 5432:
/// the process's socket inodes (`/proc/PID/fd`) matched against the kernel's
/// table of TCP sockets (`/proc/PID/net/tcp` and `tcp6`).
fn established_to_postgres(pid: u32) -> u64 {
    const ESTABLISHED: &str = "01";
    const POSTGRES_PORT: &str = "1538"; // 5432 in hex, as the kernel prints it
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy();
                    Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(inode)) = (fields.get(2), fields.get(3), fields.get(9)) else {
                continue;
            };
            if *state == ESTABLISHED && remote.ends_with(&format!(":{POSTGRES_PORT}")) && inodes.contains(*inode) {
                count += 1;
            }
        }
    }
    count
}

fn pool_of(api: &Api, id: &str) -> Value {
    let metrics = api.get(&format!("{DS}/metrics")).expect(200).json();
    metrics["pools"]
        .as_array()
        .and_then(|pools| pools.iter().find(|p| p["data_source_id"] == id).cloned())
        .unwrap_or(Value::Null)
}

#[inlet_tests::test]
fn the_pool_bounds_connections_reuses_them_and_drops_them_on_a_config_change() {
    require::service(Service::Postgres);
    require::tool("psql");
    let role = Role::create();
    let mut inlet = Inlet::new(Backend::Sqlite);
    for (key, value) in [("INLET_MIN_HEALTH_INTERVAL_S", "1"), ("INLET_HEALTH_TICK_MS", "100")] {
        inlet.extra_env.push((key.into(), value.into()));
    }
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);

    let created = api.create(&json!({
        "name": "pooled",
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": 5432, "database": "postgres", "username": role.0, "ssl_mode": "disable" },
        "connection_settings": { "pool_size": POOL_SIZE },
        "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("{DS}/{id}");
    assert_eq!(api.wait_settled(&id)["status"], "active");

    // 50 manual tests at once (each opens a new connection, retiring an
    // idle one when the pool is full), while a watcher on its own connection
    // samples the server's count of this role's connections as fast as the
    // server answers.
    let most_seen = AtomicU64::new(0);
    let samples = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let watcher_ready = AtomicBool::new(false);
    let pid = inlet.pid().expect("the server runs");
    let outcomes: Vec<Value> = std::thread::scope(|scope| {
        scope.spawn(|| watch_connections(pid, &most_seen, &samples, &watcher_ready, &done));
        while !watcher_ready.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let testers: Vec<_> = (0..50)
            .map(|_| {
                let api = api.clone();
                let path = path.clone();
                scope.spawn(move || api.post(&format!("{path}/test"), &json!({})).expect(200).json())
            })
            .collect();
        let outcomes = testers.into_iter().map(|t| t.join().expect("tester")).collect();
        done.store(true, Ordering::Release);
        outcomes
    });
    let has_step = |outcome: &Value, name: &str| {
        outcome["steps"].as_array().is_some_and(|steps| steps.iter().any(|s| s["name"] == name))
    };
    for outcome in &outcomes {
        assert_eq!(outcome["ok"], true, "a test failed under load: {outcome}");
        assert!(
            has_step(outcome, "tcp connect") && !has_step(outcome, "pooled_connection"),
            "a manual test opens a new connection and shows its connect stages: {outcome}"
        );
    }
    let most_seen = most_seen.load(Ordering::Acquire);
    assert!(samples.load(Ordering::Acquire) >= 10, "the watcher sampled too rarely to mean anything");
    assert!(most_seen >= 1, "the watcher never saw a connection: it measured nothing");
    assert!(
        most_seen <= POOL_SIZE,
        "the server held {most_seen} connections to PostgreSQL; the pool size is {POOL_SIZE}"
    );

    let pool = pool_of(&api, &id);
    assert_eq!(pool["max_size"], POOL_SIZE, "{pool}");
    assert!(pool["waits"].as_u64().unwrap_or(0) > 0, "50 testers on 3 connections must have waited: {pool}");
    assert_eq!(pool["timeouts"], 0, "{pool}");
    assert_eq!(pool["in_use"], 0, "{pool}");
    // Every test opened its own; a full pool retired an idle one for it.
    assert!(pool["opened"].as_u64().unwrap_or(0) >= 50, "{pool}");
    assert!(pool["closed"].as_u64().unwrap_or(0) >= 50 - POOL_SIZE, "{pool}");
    let idle = pool["idle"].as_u64().expect("idle");
    assert!((1..=POOL_SIZE).contains(&idle), "{pool}");
    assert!(pool["memory_bytes"].as_u64().unwrap_or(0) > 0, "pooled stores report their memory: {pool}");
    assert_eq!(established_to_postgres(pid), idle, "the server holds just its idle pooled connections");
    // PostgreSQL agrees once the backends of retired connections have exited.
    wait_for(Duration::from_secs(10), || json!(role.connections(None)), |count| count.as_u64() == Some(idle));

    // Scheduled checks borrow the pooled connections instead of connecting.
    api.patch(&path, &json!({ "health_check_interval_s": 1 })).expect(200);
    let reused_before = pool["reused"].as_u64().unwrap_or(0);
    let opened_before = pool["opened"].as_u64().unwrap_or(0);
    wait_for(
        Duration::from_secs(20),
        || pool_of(&api, &id),
        |pool| pool["reused"].as_u64().unwrap_or(0) >= reused_before + 3,
    );
    let last_test = api.get(&path).expect(200).json()["last_test"].clone();
    assert_eq!(last_test["ok"], true, "{last_test}");
    assert_eq!(last_test["steps"][0]["name"], "pooled_connection", "a scheduled check reuses: {last_test}");
    assert_eq!(pool_of(&api, &id)["opened"].as_u64(), Some(opened_before), "no new connection was needed");
    assert!(role.connections(None) <= POOL_SIZE);

    // A config change closes the pooled connections to the old database.
    assert!(role.connections(Some("postgres")) >= 1);
    let patched = json!({ "config": { "host": "127.0.0.1", "port": 5432, "database": "template1", "username": role.0, "ssl_mode": "disable" } });
    api.patch(&path, &patched).expect(200);
    wait_for(Duration::from_secs(10), || json!(role.connections(Some("postgres"))), |count| count == 0);
    assert_eq!(api.wait_settled(&id)["status"], "active");
    wait_for(Duration::from_secs(10), || json!(role.connections(Some("template1"))), |count| count.as_u64() >= Some(1));

    // Deleting the data source closes what is left.
    api.delete(&path).expect(204);
    wait_for(Duration::from_secs(10), || json!(role.connections(None)), |count| count == 0);
    drop(inlet);
}
