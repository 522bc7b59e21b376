//! The health scheduler and circuit breakers, end to end: the real server
//! checks a Postgres data source on a throwaway cluster that this test stops
//! and starts, and the status, breaker, history and metrics follow.

use std::time::Duration;

use inlet_tests::pg_cluster::{self, PgCluster, SCRAM_PASSWORD, SCRAM_USER};
use inlet_tests::server::{Api, Backend, Inlet};
use inlet_tests::wait_for;
use serde_json::{Value, json};

const DS: &str = "/api/v1/data-sources";

/// A server whose scheduler runs fast enough for a test: 1 s intervals, a
/// 100 ms tick, the breaker opening after 2 failures for 3 s.
fn fast_inlet() -> (Inlet, Api) {
    let mut inlet = Inlet::new(Backend::Sqlite);
    for (key, value) in [
        ("INLET_MIN_HEALTH_INTERVAL_S", "1"),
        ("INLET_HEALTH_TICK_MS", "100"),
        ("INLET_BREAKER_THRESHOLD", "2"),
        ("INLET_BREAKER_COOLDOWN_S", "3"),
        ("INLET_RETRY_BASE_MS", "20"),
    ] {
        inlet.extra_env.push((key.into(), value.into()));
    }
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);
    (inlet, api)
}

fn body(cluster: &PgCluster) -> Value {
    json!({
        "name": "flaky",
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": cluster.port, "database": "postgres", "username": SCRAM_USER, "ssl_mode": "disable" },
        "credentials": { "password": SCRAM_PASSWORD },
        "health_check_interval_s": 1,
        "connection_settings": { "connect_timeout_s": 5, "max_retries": 1 }
    })
}

fn scheduled_checks(health: &Value) -> usize {
    health["history"]["items"].as_array().map_or(0, |items| items.iter().filter(|c| c["origin"] == "scheduler").count())
}

#[inlet_tests::test]
fn status_breaker_and_history_follow_a_server_going_down_and_up() {
    pg_cluster::require();
    let cluster = PgCluster::start().expect("throwaway cluster");
    let (inlet, api) = fast_inlet();
    let id = api.create(&body(&cluster))["id"].as_str().expect("id").to_owned();
    let path = format!("{DS}/{id}");
    let health = || api.get(&format!("{path}/health?page_size=100")).expect(200).json();
    let detail = || api.get(&path).expect(200).json();

    // Up: the scheduler checks it every second and it stays active.
    assert_eq!(api.wait_settled(&id)["status"], "active");
    wait_for(Duration::from_secs(20), health, |h| scheduled_checks(h) >= 2);
    assert_eq!(detail()["circuit_breaker"]["state"], "closed");

    // Down: failed, then the breaker opens after two failed checks.
    cluster.stop_server().expect("stop");
    let open = wait_for(Duration::from_secs(30), detail, |d| d["circuit_breaker"]["state"] == "open");
    assert_eq!(open["status"], "failed");
    assert!(open["status_reason"].as_str().is_some_and(|r| r.starts_with("unreachable")), "{open}");
    let error = api.post(&format!("{path}/discover-schema"), &json!({})).expect_error(503, "circuit_open");
    assert!(error["details"]["open_until"].is_string(), "{error}");

    // While open, scheduled checks are skipped (the cooldown is 3 s).
    let before = scheduled_checks(&health());
    std::thread::sleep(Duration::from_millis(1500));
    let during = health();
    if detail()["circuit_breaker"]["state"] == "open" {
        assert_eq!(scheduled_checks(&during), before, "no scheduled check while the breaker is open");
    }

    // Up again: after the cooldown one probe closes the breaker.
    cluster.start_server().expect("start");
    let closed = wait_for(Duration::from_secs(40), detail, |d| {
        d["circuit_breaker"]["state"] == "closed" && d["status"] == "active"
    });
    assert_eq!(closed["circuit_breaker"]["consecutive_failures"], 0);

    // History and uptime tell what happened.
    let health = health();
    let items = health["history"]["items"].as_array().expect("history");
    assert!(items.iter().any(|c| c["ok"] == false && c["error_kind"] == "unreachable"), "{health}");
    assert!(items.iter().any(|c| c["ok"] == true), "{health}");
    let times: Vec<&str> = items.iter().filter_map(|c| c["checked_at"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let uptime = health["uptime_percent"].as_f64().expect("uptime");
    assert!(uptime > 0.0 && uptime < 100.0, "uptime {uptime} after an outage");
    assert_eq!(health["checks_in_window"], health["history"]["total"]);

    let metrics = api.get(&format!("{DS}/metrics")).expect(200).json();
    assert!(metrics["breakers_opened"].as_u64() >= Some(1), "{metrics}");
    assert!(metrics["breakers_closed"].as_u64() >= Some(1), "{metrics}");
    assert!(metrics["scheduled_checks"].as_u64() >= Some(4), "{metrics}");
    assert_eq!(metrics["breakers_by_state"]["closed"], 1, "{metrics}");
    // The operators' view: Prometheus text at /metrics, aggregates only.
    let prometheus = inlet.api_raw(None).get("/metrics").expect(200);
    assert!(prometheus.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    let text = prometheus.text();
    assert!(text.contains("inlet_data_sources{status=\"active\"} 1"), "{text}");
    assert!(text.contains("inlet_circuit_breakers{state=\"closed\"} 1"), "{text}");
    let opened = text
        .lines()
        .find_map(|line| line.strip_prefix("inlet_breaker_transitions_total{to=\"open\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(opened >= Some(1), "{text}");
    assert!(!text.contains(&id), "no data source ids in the operators' metrics");
    let log = inlet.server_log();
    assert!(log.contains("circuit breaker changed state"), "breaker transitions are logged");
    assert!(!log.contains(SCRAM_PASSWORD), "the password never reaches the log");
}

#[inlet_tests::test]
fn data_sources_in_maintenance_or_inactive_are_not_checked() {
    pg_cluster::require();
    let cluster = PgCluster::start().expect("throwaway cluster");
    let (_inlet, api) = fast_inlet();
    let id = api.create(&body(&cluster))["id"].as_str().expect("id").to_owned();
    let path = format!("{DS}/{id}");
    api.wait_settled(&id);
    let total = || api.get(&format!("{path}/health")).expect(200).json()["history"]["total"].as_i64().expect("total");
    wait_for(Duration::from_secs(20), || json!(total()), |t| t.as_i64() >= Some(3));

    for status in ["maintenance", "inactive"] {
        api.patch(&path, &json!({ "status": status })).expect(200);
        // A check already claimed may still land: let it, then count.
        std::thread::sleep(Duration::from_millis(1500));
        let held = total();
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(total(), held, "no checks while {status}");
        assert_eq!(api.get(&path).expect(200).json()["status"], status);
    }
}
