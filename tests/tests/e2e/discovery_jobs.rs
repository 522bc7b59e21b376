//! Discovery jobs are durable: a job whose server is killed (`kill -9`)
//! mid-discovery is run again by the next server and completes.
//!
//! The data source reaches the shared PostgreSQL through a TCP proxy in this
//! test that first holds connections silently (so discovery is stuck inside
//! the connector when the server dies), then forwards them.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use inlet_tests::require::{self, Service};
use inlet_tests::server::{Backend, Inlet, PgDatabase};
use inlet_tests::wait_for;
use serde_json::json;

const DS: &str = "/api/v1/data-sources";

/// Accepts on a loopback port; while `forward` is false, holds every
/// connection open without a byte; once true, pipes new ones to `target`.
struct Proxy {
    port: u16,
    forward: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let forward = Arc::new(AtomicBool::new(false));
        let mode = forward.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for client in listener.incoming().flatten() {
                if !mode.load(Ordering::SeqCst) {
                    held.push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                pipe(client, server);
            }
        });
        Self { port, forward }
    }
}

fn pipe(client: TcpStream, server: TcpStream) {
    for (mut from, mut to) in
        [(client.try_clone().expect("clone"), server.try_clone().expect("clone")), (server, client)]
    {
        std::thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            while let Ok(n) = from.read(&mut buffer) {
                if n == 0 || to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    }
}

#[inlet_tests::test]
fn a_discovery_job_survives_kill_9_and_completes_after_restart() {
    require::service(Service::Postgres);
    let source = PgDatabase::create("inlet_jobs_src");
    source.run(
        "CREATE TABLE public.orders (id int PRIMARY KEY, total numeric(10,2)); CREATE TABLE public.lines (id int);",
    );
    let proxy = Proxy::start(5432);
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "behind a proxy",
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": proxy.port, "database": source.name, "username": "postgres", "ssl_mode": "disable" },
        "connection_settings": { "connect_timeout_s": 120 }
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    let schemas = format!("{DS}/{id}/schemas");

    let accepted = api.post(&format!("{DS}/{id}/discover-schema"), &json!({})).expect(202).json();
    let job_id = accepted["job_id"].as_str().expect("job id").to_owned();
    wait_for(
        Duration::from_secs(20),
        || api.get(&schemas).expect(200).json(),
        |s| s["discovery"]["status"] == "running",
    );

    // The server dies mid-job; the database becomes reachable; a new server starts.
    inlet.kill();
    proxy.forward.store(true, Ordering::SeqCst);
    inlet.start();
    let api = inlet.api(&token);
    let done = wait_for(
        Duration::from_secs(60),
        || api.get(&schemas).expect(200).json(),
        |s| s["discovery"]["status"] == "succeeded" || s["discovery"]["status"] == "failed",
    );
    assert_eq!(done["discovery"]["status"], "succeeded", "{done}");
    assert_eq!(done["discovery"]["job_id"], job_id.as_str(), "the same job was resumed, not a new one: {done}");
    let mut tables: Vec<&str> =
        done["items"].as_array().expect("items").iter().filter_map(|t| t["name"].as_str()).collect();
    tables.sort_unstable();
    assert_eq!(tables, ["lines", "orders"], "{done}");
    assert!(inlet.server_log().contains("recovered discovery jobs"), "the recovery is logged");
}

/// The second discovery reports what changed since the first.
#[inlet_tests::test]
fn a_rediscovery_reports_the_schema_diff() {
    require::service(Service::Postgres);
    let source = PgDatabase::create("inlet_diff_src");
    source.run(
        "CREATE TABLE public.orders (id int PRIMARY KEY, total numeric(10,2), legacy_code text);
         CREATE TABLE public.old_stuff (id int);",
    );
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "diffed",
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": 5432, "database": source.name, "username": "postgres", "ssl_mode": "disable" }
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    let discover = || {
        let job = api.post(&format!("{DS}/{id}/discover-schema"), &json!({})).expect(202).json();
        let job_id = job["job_id"].as_str().expect("job id").to_owned();
        wait_for(
            Duration::from_secs(60),
            || api.get(&format!("{DS}/{id}/schemas")).expect(200).json(),
            |s| s["discovery"]["job_id"] == job_id.as_str() && s["discovery"]["status"] == "succeeded",
        )
    };
    let first = discover();
    assert!(first["discovery"]["diff"].is_null(), "no diff for the first discovery: {first}");

    source.run(
        "ALTER TABLE public.orders ADD COLUMN note text;
         ALTER TABLE public.orders DROP COLUMN legacy_code;
         ALTER TABLE public.orders ALTER COLUMN total SET NOT NULL;
         DROP TABLE public.old_stuff;
         CREATE TABLE public.lines (id int);",
    );
    let second = discover();
    let diff = &second["discovery"]["diff"];
    assert_eq!(diff["tables_added"], json!(["public.lines"]), "{diff}");
    assert_eq!(diff["tables_removed"], json!(["public.old_stuff"]), "{diff}");
    assert_eq!(diff["columns_added"], json!(["public.orders.note"]), "{diff}");
    assert_eq!(diff["columns_removed"], json!(["public.orders.legacy_code"]), "{diff}");
    let changed = diff["columns_changed"].as_array().expect("changed");
    assert_eq!(changed.len(), 1, "{diff}");
    assert_eq!(changed[0]["column"], "public.orders.total");
    assert!(changed[0]["before"].as_str().is_some_and(|b| b.ends_with(" NULL") && !b.contains("NOT NULL")), "{diff}");
    assert!(changed[0]["after"].as_str().is_some_and(|a| a.contains("NOT NULL")), "{diff}");

    // The cached catalog is the new one at once, and pages and filters like the database did.
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"].as_array().expect("items").iter().map(|t| t["name"].as_str().unwrap_or("").to_owned()).collect()
    };
    assert_eq!(names(&second), ["lines", "orders"], "{second}");
    assert_eq!(second["schemas"], json!([{ "name": "public", "table_count": 2 }]));
    let before = api.get(&format!("{DS}/metrics")).expect(200).json()["schema_cache"].clone();
    let page_two = api.get(&format!("{DS}/{id}/schemas?page_size=1&page=2")).expect(200).json();
    assert_eq!((names(&page_two), page_two["total"].as_i64()), (vec!["orders".to_owned()], Some(2)));
    let search = api.get(&format!("{DS}/{id}/schemas?search=ORD&schema=public")).expect(200).json();
    assert_eq!((names(&search), search["total"].as_i64()), (vec!["orders".to_owned()], Some(1)));
    let elsewhere = api.get(&format!("{DS}/{id}/schemas?schema=other")).expect(200).json();
    assert_eq!(elsewhere["total"], 0);
    let after = api.get(&format!("{DS}/metrics")).expect(200).json()["schema_cache"].clone();
    let hits = |m: &serde_json::Value| m["hits"].as_u64().unwrap_or(0);
    assert_eq!(hits(&after), hits(&before) + 3, "served from the cache: {before} -> {after}");
    assert_eq!(after["misses"], before["misses"], "{after}");
    assert!(after["entries"].as_u64() >= Some(1) && after["weight_bytes"].as_u64() > Some(0), "{after}");
}

/// With `schema_refresh.auto`, the scheduler rediscovers an active data
/// source every interval without being asked; with it off, nothing runs.
#[inlet_tests::test]
fn schema_auto_refresh_rediscovers_on_its_interval() {
    require::service(Service::Postgres);
    let source = PgDatabase::create("inlet_auto_src");
    source.run("CREATE TABLE public.events (id bigint PRIMARY KEY, at timestamptz NOT NULL);");
    let mut inlet = Inlet::new(Backend::Sqlite);
    for (key, value) in [("INLET_HEALTH_TICK_MS", "200"), ("INLET_MIN_SCHEMA_REFRESH_S", "1")] {
        inlet.extra_env.push((key.into(), value.into()));
    }
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);
    let body = |name: &str, auto: bool| {
        json!({
            "name": name,
            "type": "postgresql",
            "config": { "host": "127.0.0.1", "port": 5432, "database": source.name, "username": "postgres", "ssl_mode": "disable" },
            "schema_refresh": { "auto": auto, "interval_s": 2 }
        })
    };
    let auto = api.create(&body("auto", true))["id"].as_str().expect("id").to_owned();
    let manual = api.create(&body("manual", false))["id"].as_str().expect("id").to_owned();
    let schemas = |id: &str| api.get(&format!("{DS}/{id}/schemas")).expect(200).json();
    let first = wait_for(Duration::from_secs(30), || schemas(&auto), |s| s["discovery"]["status"] == "succeeded");
    assert_eq!(first["items"][0]["name"], "events", "{first}");
    source.run("CREATE TABLE public.sessions (id bigint);");
    let first_job = first["discovery"]["job_id"].clone();
    let second = wait_for(
        Duration::from_secs(30),
        || schemas(&auto),
        |s| s["discovery"]["job_id"] != first_job && s["discovery"]["status"] == "succeeded",
    );
    assert_eq!(second["discovery"]["diff"]["tables_added"], json!(["public.sessions"]), "{second}");

    assert_eq!(api.wait_settled(&manual)["status"], "active");
    std::thread::sleep(Duration::from_secs(4));
    assert!(schemas(&manual)["discovery"].is_null(), "auto-refresh off: nothing runs until asked");
}
