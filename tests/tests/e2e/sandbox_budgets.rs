//! Per-connection resource budgets through the real server
//! (`tests/fixtures/hostile-budgets`, installed through the API as an
//! unsigned plugin the admin allows): socket, bind and connection floods,
//! wasi:http handle and host-memory floods, spinning in wasm, and a component
//! with eight memories. Each hostile call fails with a named error, while a
//! healthy data source and `/healthz` are measured; file descriptors, threads
//! and memory come back once the hostile data sources are gone.

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inlet_tests::server::{Api, Backend, Inlet};
use inlet_tests::{wait_for, workspace_root};
use serde_json::{Value, json};

const PLUGINS: &str = "/api/v1/plugins";
const DS: &str = "/api/v1/data-sources";
const ADMIN_TOKEN: &str = "platform-admin-token-for-budget-tests-4e2a";

/// A server with the hostile-budgets fixture installed, an org-admin's
/// client, and a healthy JSON data source.
struct Setup {
    inlet: Inlet,
    api: Api,
    healthy: String,
    _work: tempfile::TempDir,
}

fn setup(extra_env: &[(&str, &str)]) -> Setup {
    let work = tempfile::tempdir().expect("temp");
    let data = work.path().join("ok.ndjson");
    std::fs::write(&data, "{\"id\": 1}\n").expect("data");
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.allow_unsigned_installs(ADMIN_TOKEN);
    for (key, value) in extra_env {
        inlet.extra_env.push(((*key).into(), (*value).into()));
    }
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let admin = inlet.api_raw(Some(ADMIN_TOKEN));
    admin.upload_plugin("POST", PLUGINS, &workspace_root().join("target/fixtures/hostile-budgets")).expect(201);
    let api = inlet.api(&token);
    let healthy = api.create(&json!({ "name": "healthy", "type": "json", "config": { "file_path": data } }));
    let healthy = healthy["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&healthy)["status"], "active");
    Setup { inlet, api, healthy, _work: work }
}

/// A local endpoint that accepts every connection and keeps it open.
fn endpoint() -> (u16, Arc<Mutex<Vec<TcpStream>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let keep = kept.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            keep.lock().expect("lock").push(stream);
        }
    });
    (port, kept)
}

fn create(api: &Api, name: &str, source_type: &str, config: Value, query_timeout_s: u32) -> String {
    let settings = json!({ "connect_timeout_s": 5, "query_timeout_s": query_timeout_s, "max_retries": 0 });
    let created =
        api.create(&json!({ "name": name, "type": source_type, "config": config, "connection_settings": settings }));
    let id = created["id"].as_str().expect("id").to_owned();
    api.wait_settled(&id);
    id
}

/// A test through the API: (the answer, how long it took).
fn test_source(api: &Api, id: &str) -> (Value, Duration) {
    let started = Instant::now();
    let answer = api.post(&format!("{DS}/{id}/test"), &json!({})).expect(200).json();
    (answer, started.elapsed())
}

fn healthz(inlet: &Inlet) -> Duration {
    let started = Instant::now();
    assert_eq!(inlet.api_raw(None).get("/healthz").expect(200).json()["status"], "ok");
    started.elapsed()
}

fn pool_of(api: &Api, id: &str) -> Option<Value> {
    let metrics = api.get(&format!("{DS}/metrics")).expect(200).json();
    metrics["pools"].as_array().expect("pools").iter().find(|p| p["data_source_id"] == id).cloned()
}

fn proc_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("number")
}

fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir").count() as u64
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

#[inlet_tests::test]
fn each_budget_fails_the_hostile_call_with_a_named_error() {
    let s = setup(&[("INLET_HEALTH_SCHEDULER", "off"), ("INLET_PLUGIN_CALL_CPU_S", "2")]);
    let (port, _kept) = endpoint();
    let net = |behavior: &str| json!({ "behavior": behavior, "host": "127.0.0.1", "port": port });
    let http = |behavior: &str| json!({ "behavior": behavior, "url": "http://127.0.0.1:9/" });
    let cases = [
        ("socket-flood", "budget-sockets", net("socket-flood"), "resource limit: sockets"),
        ("bind-flood", "budget-sockets", net("bind-flood"), "resource limit: sockets"),
        ("connect-flood", "budget-sockets", net("connect-flood"), "resource limit: connections"),
        ("fields-flood", "budget-http", http("fields-flood"), "resource limit: handles"),
        ("fields-bytes", "budget-http", http("fields-bytes"), "memory limit of 32 MiB"),
        ("spin", "budget-spin", json!({ "behavior": "spin" }), "resource limit: cpu"),
    ];
    for (name, source_type, config, says) in cases {
        // A deadline far away: the budget, not the deadline, stops the call.
        let id = create(&s.api, name, source_type, config, 30);
        let (answer, took) = test_source(&s.api, &id);
        assert_eq!(answer["ok"], false, "{name}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name}: {answer}");
        assert!(took < Duration::from_secs(15), "{name}: stopped after {took:?}, deadline 30 s");
        println!("{name}: `{message}` after {} ms", took.as_millis());
        // The broken store is not pooled.
        let pool = pool_of(&s.api, &id);
        assert!(pool.as_ref().is_none_or(|p| p["idle"] == 0 && p["sockets"] == 0), "{name}: {pool:?}");
        // Everything else carries on.
        assert_eq!(test_source(&s.api, &s.healthy).0["ok"], true, "after {name}");
        healthz(&s.inlet);
    }
    let text = s.inlet.api_raw(None).get("/metrics").expect(200).text();
    let breaches = text
        .lines()
        .find_map(|line| line.strip_prefix("inlet_plugin_budget_breaches_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .expect("the breach counter");
    assert!(breaches >= 5, "{breaches} breaches counted");
}

/// `request-endpoint` (API 0.2.0): the host resolves a further endpoint
/// under the egress policy, grants exactly that address for the connection
/// and records a step; an address not asked for stays closed, a metadata
/// address is refused, and a connection may ask for at most 32.
#[inlet_tests::test]
fn further_endpoints_are_granted_one_at_a_time_under_the_egress_policy() {
    let s = setup(&[("INLET_HEALTH_SCHEDULER", "off")]);
    let (port, _kept) = endpoint();
    let (further_port, further_kept) = endpoint();
    let (unasked_port, unasked_kept) = endpoint();
    let config = |behavior: &str, host: &str, further: u16| json!({ "behavior": behavior, "host": "127.0.0.1", "port": port, "further_host": host, "further_port": further });
    let message = |answer: &Value| answer["error"]["message"].as_str().unwrap_or_default().to_owned();

    let granted = create(&s.api, "further", "budget-sockets", config("further", "127.0.0.1", further_port), 10);
    let reached = || further_kept.lock().expect("lock").len();
    assert_eq!(reached(), 1, "the creation test reached the granted endpoint");
    let (answer, _) = test_source(&s.api, &granted);
    assert_eq!(answer["ok"], true, "{answer}");
    let steps = answer["steps"].as_array().expect("steps");
    let step = steps.iter().find(|step| step["name"] == format!("endpoint 127.0.0.1:{further_port}"));
    let step = step.unwrap_or_else(|| panic!("the grant is a step: {answer}"));
    assert_eq!(step["passed"], true, "{answer}");
    assert_eq!(step["message"], format!("granted 127.0.0.1:{further_port}"), "{answer}");
    assert!(steps.iter().any(|step| step["name"] == "connect further" && step["passed"] == true), "{answer}");
    assert_eq!(reached(), 2, "and so did the manual test, on a new connection");

    let unasked = create(&s.api, "unasked", "budget-sockets", config("further-unasked", "127.0.0.1", unasked_port), 10);
    let (answer, _) = test_source(&s.api, &unasked);
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(unasked_kept.lock().expect("lock").is_empty(), "an endpoint not asked for stays closed: {answer}");

    let metadata = create(&s.api, "metadata", "budget-sockets", config("further", "169.254.169.254", 80), 10);
    let (answer, _) = test_source(&s.api, &metadata);
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["error"]["kind"], "permission", "{answer}");
    assert!(message(&answer).contains("metadata"), "{answer}");
    let refused = answer["steps"].as_array().and_then(|steps| {
        steps.iter().find(|step| step["name"] == "endpoint 169.254.169.254:80" && step["passed"] == false)
    });
    assert!(refused.is_some(), "a refusal is a failed step: {answer}");

    let flood = create(&s.api, "flood", "budget-sockets", config("further-flood", "127.0.0.1", 1), 10);
    let (answer, took) = test_source(&s.api, &flood);
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(message(&answer).contains("resource limit: endpoints (at most 32"), "{answer}");
    assert!(took < Duration::from_secs(5), "the 33rd ask fails at once: {took:?}");
    assert_eq!(test_source(&s.api, &s.healthy).0["ok"], true);
}

#[inlet_tests::test]
fn a_pooled_connection_reports_its_sockets_and_a_breach_frees_it_at_once() {
    let s = setup(&[("INLET_HEALTH_SCHEDULER", "off")]);
    let pid = s.inlet.pid().expect("pid");
    let (port, kept) = endpoint();
    for _ in 0..5 {
        test_source(&s.api, &s.healthy);
    }
    let (fds_before, threads_before, rss_before) = (fds(pid), proc_field(pid, "Threads:"), proc_field(pid, "VmRSS:"));

    // Within the budget: pooled, with its sockets counted.
    let hold = |count: u32| json!({ "behavior": "hold", "host": "127.0.0.1", "port": port, "count": count });
    let holding = create(&s.api, "holding", "budget-sockets", hold(16), 10);
    assert_eq!(s.api.get(&format!("{DS}/{holding}")).expect(200).json()["status"], "active");
    let pool = pool_of(&s.api, &holding).expect("a pool");
    assert_eq!(pool["idle"], 1, "{pool}");
    assert_eq!(pool["sockets"], 16, "{pool}");
    assert!(pool["handles"].as_u64() >= Some(16), "{pool}");
    let prometheus = s.inlet.api_raw(None).get("/metrics").expect(200).text();
    assert!(prometheus.contains("inlet_pool_sockets 16"), "{prometheus}");
    let fds_held = fds(pid);
    assert!(fds_held >= fds_before + 16, "the sockets are the server's fds");

    // Past it: the call fails and its store goes at once, sockets and all.
    let greedy = create(&s.api, "greedy", "budget-sockets", hold(40), 10);
    let detail = s.api.get(&format!("{DS}/{greedy}")).expect(200).json();
    assert_eq!(detail["status"], "failed", "{detail}");
    let message = detail["last_test"]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("resource limit: sockets"), "{detail}");
    let pool = pool_of(&s.api, &greedy);
    assert!(pool.as_ref().is_none_or(|p| p["idle"] == 0 && p["sockets"] == 0), "{pool:?}");
    let open_now = fds(pid);
    assert!(open_now <= fds_before + 16 + 6, "{open_now} fds open, {fds_before} before and 16 held by `holding`");

    // Host memory: a fields flood is stopped at the plugin's 32 MiB.
    let http = json!({ "behavior": "fields-bytes", "url": "http://127.0.0.1:9/" });
    let bytes = create(&s.api, "bytes", "budget-http", http, 10);
    let detail = s.api.get(&format!("{DS}/{bytes}")).expect(200).json();
    assert!(detail["last_test"]["error"]["message"].as_str().unwrap_or_default().contains("memory limit"), "{detail}");
    let rss_peak = proc_field(pid, "VmRSS:");

    for id in [&holding, &greedy, &bytes] {
        s.api.delete(&format!("{DS}/{id}")).expect(204);
    }
    drop(kept.lock().expect("lock").drain(..));
    // Deleting closes the pooled connection: fds and threads come back.
    let settled = wait_for(
        Duration::from_secs(30),
        || json!({ "fds": fds(pid), "threads": proc_field(pid, "Threads:") }),
        |now| now["fds"].as_u64() <= Some(fds_before + 6) && now["threads"].as_u64() <= Some(threads_before + 4),
    );
    let rss_after = proc_field(pid, "VmRSS:");
    println!(
        "fds {fds_before} -> {} (while holding 16 sockets: {}), threads {threads_before} -> {}, RSS {} MiB -> peak {} MiB -> {} MiB",
        settled["fds"],
        fds_held,
        settled["threads"],
        rss_before >> 10,
        rss_peak >> 10,
        rss_after >> 10
    );
    assert!(rss_after <= rss_before + (64 << 10), "RSS {rss_before} KiB before, {rss_after} KiB after");
    assert_eq!(test_source(&s.api, &s.healthy).0["ok"], true);
}

/// `INLET_SERVER_SOCKETS` caps the guest sockets of all data sources
/// together (by default half of `RLIMIT_NOFILE` past 256 reserved fds):
/// many data sources within their own budgets cannot use up the server's
/// file descriptors, and the slots come back with the connections.
#[inlet_tests::test]
fn the_server_wide_socket_cap_holds_across_data_sources() {
    let s = setup(&[("INLET_HEALTH_SCHEDULER", "off"), ("INLET_SERVER_SOCKETS", "24")]);
    let pid = s.inlet.pid().expect("pid");
    let (port, kept) = endpoint();
    test_source(&s.api, &s.healthy);
    let (fds_before, threads_before) = (fds(pid), proc_field(pid, "Threads:"));
    let hold = |count: u32| json!({ "behavior": "hold", "host": "127.0.0.1", "port": port, "count": count });

    // 16 sockets: within the connection's budget and the server's.
    let first = create(&s.api, "first", "budget-sockets", hold(16), 10);
    assert_eq!(s.api.get(&format!("{DS}/{first}")).expect(200).json()["status"], "active");
    assert_eq!(pool_of(&s.api, &first).expect("a pool")["sockets"], 16);
    // 16 more: within the connection's budget, past the server's 24.
    let second = create(&s.api, "second", "budget-sockets", hold(16), 10);
    let detail = s.api.get(&format!("{DS}/{second}")).expect(200).json();
    assert_eq!(detail["status"], "failed", "{detail}");
    let message = detail["last_test"]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("resource limit: sockets (the server's 24 guest sockets are all in use)"), "{detail}");
    assert!(pool_of(&s.api, &second).is_none_or(|p| p["sockets"] == 0), "the breached store is gone");
    assert_eq!(test_source(&s.api, &s.healthy).0["ok"], true, "a source without sockets carries on");
    healthz(&s.inlet);

    // The first one's slots come back when it goes; then the second fits.
    s.api.delete(&format!("{DS}/{first}")).expect(204);
    let retried = wait_for(
        Duration::from_secs(30),
        || test_source(&s.api, &second).0,
        |answer| answer["ok"] == true || !answer.to_string().contains("guest sockets are all in use"),
    );
    assert_eq!(retried["ok"], true, "{retried}");
    assert_eq!(pool_of(&s.api, &second).expect("a pool")["sockets"], 16);

    s.api.delete(&format!("{DS}/{second}")).expect(204);
    drop(kept.lock().expect("lock").drain(..));
    let settled = wait_for(
        Duration::from_secs(30),
        || json!({ "fds": fds(pid), "threads": proc_field(pid, "Threads:") }),
        |now| now["fds"].as_u64() <= Some(fds_before + 6) && now["threads"].as_u64() <= Some(threads_before + 4),
    );
    println!(
        "server socket cap: fds {fds_before} -> {}, threads {threads_before} -> {}",
        settled["fds"], settled["threads"]
    );
}

#[inlet_tests::test]
fn spinning_sources_leave_the_api_and_other_sources_responsive() {
    let s = setup(&[("INLET_HEALTH_SCHEDULER", "off")]);
    let mut spinners = Vec::new();
    for round in [2usize, 8] {
        // Each spinner spins for its whole 6 s deadline, in every call.
        while spinners.len() < round {
            let settings = json!({ "connect_timeout_s": 5, "query_timeout_s": 6, "max_retries": 0 });
            let created = s.api.create(&json!({
                "name": format!("spin-{}", spinners.len()),
                "type": "budget-spin",
                "config": { "behavior": "spin" },
                "connection_settings": settings,
            }));
            spinners.push(created["id"].as_str().expect("id").to_owned());
        }
        for id in &spinners {
            s.api.wait_settled(id);
        }
        let calls: Vec<_> = spinners
            .iter()
            .map(|id| {
                let (api, id) = (s.api.clone(), id.clone());
                std::thread::spawn(move || test_source(&api, &id))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let (mut health, mut tests) = (Vec::new(), Vec::new());
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            health.push(healthz(&s.inlet));
            let (answer, took) = test_source(&s.api, &s.healthy);
            assert_eq!(answer["ok"], true, "{answer}");
            tests.push(took);
            std::thread::sleep(Duration::from_millis(20));
        }
        for call in calls {
            let (answer, took) = call.join().expect("spinner call");
            assert_eq!(answer["ok"], false, "{answer}");
            assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("did not answer"), "{answer}");
            assert!(took < Duration::from_secs(12), "a spinner stopped after {took:?}, deadline 6 s");
        }
        let (health_p99, health_max) = (percentile(&mut health, 0.99), percentile(&mut health, 1.0));
        let (test_p99, test_max) = (percentile(&mut tests, 0.99), percentile(&mut tests, 1.0));
        println!(
            "{round} spinning: /healthz p99 {} ms (max {} ms, {} samples); healthy test p99 {} ms (max {} ms, {} samples)",
            health_p99.as_millis(),
            health_max.as_millis(),
            health.len(),
            test_p99.as_millis(),
            test_max.as_millis(),
            tests.len()
        );
        assert!(health_p99 < Duration::from_millis(200), "{round} spinning: /healthz p99 {health_p99:?}");
        // A connector call of its own (its guest yields too), plus health history written to the database.
        assert!(test_p99 < Duration::from_millis(200), "{round} spinning: healthy test p99 {test_p99:?}");
    }
}

#[inlet_tests::test]
fn a_source_whose_calls_keep_hitting_the_deadline_trips_its_breaker() {
    let s = setup(&[
        ("INLET_MIN_HEALTH_INTERVAL_S", "1"),
        ("INLET_HEALTH_TICK_MS", "100"),
        ("INLET_BREAKER_THRESHOLD", "2"),
        ("INLET_BREAKER_COOLDOWN_S", "60"),
        ("INLET_RETRY_BASE_MS", "20"),
    ]);
    let created = s.api.create(&json!({
        "name": "spinning",
        "type": "budget-spin",
        "config": { "behavior": "spin" },
        "health_check_interval_s": 1,
        "connection_settings": { "connect_timeout_s": 2, "query_timeout_s": 1, "max_retries": 0 },
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    let open = wait_for(
        Duration::from_secs(60),
        || s.api.get(&format!("{DS}/{id}")).expect(200).json(),
        |d| d["circuit_breaker"]["state"] == "open",
    );
    assert_eq!(open["status"], "failed", "{open}");
    assert!(
        open["last_test"]["error"]["message"].as_str().unwrap_or_default().contains("did not answer"),
        "the deadline is what failed: {open}"
    );
    assert_eq!(test_source(&s.api, &s.healthy).0["ok"], true);
}

/// A component of `count` core modules, each defining a memory of one page.
fn memories(count: usize) -> Vec<u8> {
    use wasm_encoder::{Component, MemorySection, MemoryType, Module, ModuleSection};
    let mut component = Component::new();
    for _ in 0..count {
        let mut memories = MemorySection::new();
        memories.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
        let mut module = Module::new();
        module.section(&memories);
        component.section(&ModuleSection(&module));
    }
    component.finish()
}

#[inlet_tests::test]
fn a_component_with_more_memories_than_allowed_is_refused_at_install() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.allow_unsigned_installs(ADMIN_TOKEN);
    inlet.start();
    let admin = inlet.api_raw(Some(ADMIN_TOKEN));
    let work = tempfile::tempdir().expect("temp");
    let manifest = std::fs::read_to_string(workspace_root().join("tests/fixtures/hostile-budgets/plugin.toml"))
        .expect("manifest")
        .replacen("id = \"hostile-budgets\"", "id = \"hostile-memories\"", 1)
        .replace("id = \"budget-", "id = \"memories-");
    std::fs::write(work.path().join("plugin.toml"), manifest).expect("manifest");
    std::fs::write(work.path().join("plugin.wasm"), memories(8)).expect("wasm");
    let refused = admin.upload_plugin("POST", PLUGINS, work.path()).expect_error(422, "plugin_invalid");
    let message = refused["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("defines 8 linear memories; at most 4"), "{refused}");
    assert!(admin.get(&format!("{PLUGINS}/hostile-memories")).status == 404, "nothing is stored");
    // The same package with 4 memories passes that check (and fails the next: no connector world).
    std::fs::write(work.path().join("plugin.wasm"), memories(4)).expect("wasm");
    let refused = admin.upload_plugin("POST", PLUGINS, work.path()).expect_error(422, "plugin_invalid");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(!message.contains("linear memories") && message.contains("does not export"), "{refused}");
}
