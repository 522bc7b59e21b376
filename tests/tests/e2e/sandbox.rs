//! The sandbox against purpose-built hostile components
//! (`tests/fixtures/hostile`): each misbehaviour fails only its own call, with
//! a clear error, and the host keeps serving.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use inlet::model::{ErrorKind, Failure};
use inlet::plugin::Secrets;
use inlet::runtime::{CallError, ConnectInput, LoadedPlugin, Runtime, RuntimeConfig};
use inlet::sandbox::EgressPolicy;
use inlet::source::{self, SandboxSettings};
use inlet_tests::{exec, fixture_dir};
use serde_json::{Value, json};

const OPEN: EgressPolicy = EgressPolicy { allow_loopback: true, allow_private: true };

struct Harness {
    _cache: tempfile::TempDir,
    _runtime: Runtime,
    plugin: LoadedPlugin,
}

fn harness() -> Harness {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(RuntimeConfig::new(cache.path().to_path_buf(), 1024)).expect("runtime");
    let plugin = runtime.load_plugin(&fixture_dir("hostile")).expect("hostile fixture loads");
    Harness { _cache: cache, _runtime: runtime, plugin }
}

/// Connects with `config` and runs `test` with the given query deadline.
async fn run_test(
    plugin: &LoadedPlugin,
    source_type: &str,
    config: Value,
    query_timeout: Duration,
) -> Result<(), Failure> {
    let source_type_spec = plugin.manifest.source_type(source_type).expect("type");
    let sandbox = SandboxSettings { egress: OPEN, ..SandboxSettings::default() };
    let secrets = Secrets::new();
    let prepared =
        source::prepare(source_type_spec, &config, &secrets, &sandbox, Duration::from_secs(5), &Default::default())
            .await?;
    let input = ConnectInput {
        source_type,
        config: &prepared.config,
        secrets: &secrets,
        endpoint: prepared.endpoint,
        connect_timeout: Duration::from_secs(5),
        query_timeout,
    };
    let mut session = plugin.connect(&input, &prepared.grants).await.map_err(CallError::into_failure)?;
    let outcome = session.test().await.map(|_| ()).map_err(CallError::into_failure);
    session.close().await;
    outcome
}

async fn behave(plugin: &LoadedPlugin, behavior: &str) -> Result<(), Failure> {
    run_test(plugin, "hostile", json!({ "behavior": behavior }), Duration::from_millis(500)).await
}

#[inlet_tests::test]
async fn an_infinite_loop_is_stopped_at_its_deadline_and_the_host_serves_the_next_call() {
    let h = harness();
    let started = Instant::now();
    let failure = behave(&h.plugin, "spin").await.expect_err("a spinning connector must fail");
    let elapsed = started.elapsed();
    assert_eq!(failure.error.kind, ErrorKind::Timeout, "{failure:?}");
    assert!(elapsed < Duration::from_secs(3), "stopped after {elapsed:?}, deadline 500 ms");
    behave(&h.plugin, "ok").await.expect("the next call is served");
}

#[inlet_tests::test]
async fn an_infinite_loop_in_connect_is_stopped_by_the_connect_deadline() {
    let h = harness();
    let sandbox = SandboxSettings { egress: OPEN, ..SandboxSettings::default() };
    let secrets = Secrets::new();
    let config = json!({ "behavior": "spin-connect" });
    let spec = h.plugin.manifest.source_type("hostile").expect("type");
    let prepared = source::prepare(spec, &config, &secrets, &sandbox, Duration::from_secs(1), &Default::default())
        .await
        .expect("prepare");
    let input = ConnectInput {
        source_type: "hostile",
        config: &prepared.config,
        secrets: &secrets,
        endpoint: None,
        connect_timeout: Duration::from_millis(300),
        query_timeout: Duration::from_secs(1),
    };
    let error = h.plugin.connect(&input, &prepared.grants).await.err().expect("must time out");
    assert!(matches!(error, CallError::Timeout { timeout_ms: 300 }), "{error:?}");
}

#[inlet_tests::test]
async fn a_memory_bomb_is_stopped_at_the_limit() {
    let h = harness();
    let failure = behave(&h.plugin, "memory-bomb").await.expect_err("must fail");
    assert_eq!(failure.error.kind, ErrorKind::Internal);
    assert!(failure.error.message.contains("memory limit of 32 MiB"), "{}", failure.error.message);
    behave(&h.plugin, "ok").await.expect("the next call is served");
}

#[inlet_tests::test]
async fn a_panic_fails_only_that_call() {
    let h = harness();
    let failure = behave(&h.plugin, "panic").await.expect_err("must fail");
    assert_eq!(failure.error.kind, ErrorKind::Internal);
    assert!(failure.error.message.contains("crashed"), "{}", failure.error.message);
    assert!(!failure.error.message.contains("wasm backtrace"), "users get the cause, not the backtrace");
    behave(&h.plugin, "ok").await.expect("the next call is served");
}

#[inlet_tests::test]
async fn no_file_env_or_args_are_visible() {
    let h = harness();
    for behavior in ["read-file", "list-root"] {
        let failure = behave(&h.plugin, behavior).await.expect_err("nothing to read");
        assert_eq!(failure.error.kind, ErrorKind::NotFound, "{behavior}: {failure:?}");
    }
    let input = json!({ "behavior": "read-file", "path": "/data/../etc/passwd" });
    let failure = run_test(&h.plugin, "hostile", input, Duration::from_secs(1)).await.expect_err("no escape");
    assert_eq!(failure.error.kind, ErrorKind::NotFound);
    // `environment` succeeds and reports what it saw.
    let outcome = exec(&fixture_dir("hostile"), "hostile", &json!({"behavior": "environment"}), None, "test", &[]);
    assert!(outcome.success, "{:?}", outcome.json);
    let steps = outcome.json["steps"].as_array().expect("steps");
    assert_eq!(steps.last().and_then(|s| s["message"].as_str()), Some("vars=0 args=0"));
}

#[inlet_tests::test]
async fn a_connect_to_an_address_not_granted_is_refused() {
    let h = harness();
    let granted = TcpListener::bind("127.0.0.1:0").expect("listener");
    let other = TcpListener::bind("127.0.0.1:0").expect("listener");
    let granted_port = granted.local_addr().expect("addr").port();
    let other_addr = other.local_addr().expect("addr").to_string();
    // Same host, another port: refused by the socket check.
    let config = json!({ "behavior": "connect", "host": "127.0.0.1", "port": granted_port, "target": other_addr });
    let failure = run_test(&h.plugin, "hostile-net", config, Duration::from_secs(2)).await.expect_err("refused");
    assert_eq!(failure.error.kind, ErrorKind::Unreachable, "{failure:?}");
    assert!(failure.error.message.contains("not allowed by the sandbox"), "{}", failure.error.message);
    // The granted endpoint itself is reachable.
    let config = json!({ "behavior": "connect", "host": "127.0.0.1", "port": granted_port,
                         "target": format!("127.0.0.1:{granted_port}") });
    run_test(&h.plugin, "hostile-net", config, Duration::from_secs(2)).await.expect("granted endpoint");
    // A type without network needs gets no sockets at all.
    let config = json!({ "behavior": "connect", "target": format!("127.0.0.1:{granted_port}") });
    let failure = run_test(&h.plugin, "hostile", config, Duration::from_secs(2)).await.expect_err("no network");
    assert_eq!(failure.error.kind, ErrorKind::Unreachable, "{failure:?}");
}

#[inlet_tests::test]
async fn metadata_addresses_are_refused_before_any_plugin_code_runs() {
    let h = harness();
    let started = Instant::now();
    let config = json!({ "behavior": "ok", "host": "169.254.169.254", "port": 80 });
    let failure = run_test(&h.plugin, "hostile-net", config, Duration::from_secs(2)).await.expect_err("refused");
    assert_eq!(failure.error.kind, ErrorKind::Permission);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Loopback is refused when the policy says so.
    let strict = SandboxSettings {
        egress: EgressPolicy { allow_loopback: false, allow_private: true },
        ..SandboxSettings::default()
    };
    let spec = h.plugin.manifest.source_type("hostile-net").expect("type");
    let config = json!({ "behavior": "ok", "host": "localhost", "port": 5432 });
    let failure = source::prepare(spec, &config, &Secrets::new(), &strict, Duration::from_secs(5), &Default::default())
        .await
        .expect_err("refused");
    assert_eq!(failure.error.kind, ErrorKind::Permission);
}

#[inlet_tests::test]
async fn a_guest_blocked_in_a_host_call_is_stopped_by_the_tokio_timeout() {
    let h = harness();
    // Accepts and never answers: the guest blocks in a socket read, where an
    // epoch deadline cannot reach it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let keep = std::thread::spawn(move || {
        listener.accept().map(|(stream, _)| {
            std::thread::sleep(Duration::from_secs(3));
            drop(stream)
        })
    });
    let started = Instant::now();
    let config = json!({ "behavior": "block", "host": "127.0.0.1", "port": port });
    let failure =
        run_test(&h.plugin, "hostile-net", config, Duration::from_millis(400)).await.expect_err("must time out");
    assert_eq!(failure.error.kind, ErrorKind::Timeout, "{failure:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let _ = keep.join();
}

#[inlet_tests::test]
async fn concurrent_connections_are_isolated_in_their_own_stores() {
    let h = harness();
    let (spin, ok) = tokio::join!(behave(&h.plugin, "spin"), behave(&h.plugin, "ok"));
    assert_eq!(spin.expect_err("spins").error.kind, ErrorKind::Timeout);
    ok.expect("the other store is unaffected");
}

#[inlet_tests::test]
fn a_component_that_does_not_implement_the_world_is_refused_by_name() {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(RuntimeConfig::new(cache.path().to_path_buf(), 64)).expect("runtime");
    let error = runtime.load_plugin(&fixture_dir("not-a-connector")).err().expect("refused").to_string();
    assert!(error.contains("not-a-connector"), "{error}");
    assert!(error.contains("inlet:connector/connector@0.1.0"), "{error}");
}

#[inlet_tests::test]
fn a_plugin_for_another_api_version_is_refused_naming_the_supported_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = fixture_dir("hostile");
    let manifest = std::fs::read_to_string(source.join("plugin.toml")).expect("manifest");
    std::fs::write(
        dir.path().join("plugin.toml"),
        manifest.replace("api_version = \"0.2.0\"", "api_version = \"0.9.0\""),
    )
    .expect("write");
    std::fs::copy(source.join("plugin.wasm"), dir.path().join("plugin.wasm")).expect("copy");
    let outcome = exec(dir.path(), "hostile", &json!({"behavior": "ok"}), None, "test", &[]);
    assert!(!outcome.success);
    let message = outcome.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("0.9.0") && message.contains("supports 0.1.0"), "{message}");
}

#[inlet_tests::test]
fn compiled_components_are_cached_on_disk() {
    let cache = tempfile::tempdir().expect("temp dir");
    let config = RuntimeConfig::new(cache.path().to_path_buf(), 64);
    let first = Runtime::new(config.clone()).expect("runtime").load_plugin(&fixture_dir("hostile")).expect("load");
    assert_eq!(first.load, inlet::runtime::LoadKind::Compiled);
    let artifacts: Vec<_> = std::fs::read_dir(cache.path()).expect("cache dir").collect();
    assert_eq!(artifacts.len(), 1);
    let second = Runtime::new(config).expect("runtime").load_plugin(&fixture_dir("hostile")).expect("load");
    assert_eq!(second.load, inlet::runtime::LoadKind::Cached);
    assert_eq!(first.sha256, second.sha256);
}
