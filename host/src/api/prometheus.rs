//! `GET /metrics` at the root: process-wide figures in the Prometheus text
//! format, for operators. Aggregates only (counts by status and breaker
//! state, counters since start): no names, ids or organizations, so it needs
//! no token, like `/healthz`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiResult;
use crate::core::counters::Counters as C;

pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let (by_status, by_breaker) = state.db().count_all_data_sources().await?;
    let c = state.counters();
    let mut out = String::with_capacity(2048);
    family(&mut out, "inlet_data_sources", "gauge", "Live data sources by status.");
    for (status, count) in &by_status {
        let _ = writeln!(out, "inlet_data_sources{{status=\"{}\"}} {count}", escape(status));
    }
    family(&mut out, "inlet_circuit_breakers", "gauge", "Live data sources by circuit-breaker state.");
    for (breaker, count) in &by_breaker {
        let _ = writeln!(out, "inlet_circuit_breakers{{state=\"{}\"}} {count}", escape(breaker));
    }
    let tests = C::get(&c.tests_run);
    let failed = C::get(&c.tests_failed);
    family(&mut out, "inlet_connection_tests_total", "counter", "Connection tests run, by result.");
    let _ = writeln!(out, "inlet_connection_tests_total{{result=\"ok\"}} {}", tests.saturating_sub(failed));
    let _ = writeln!(out, "inlet_connection_tests_total{{result=\"failed\"}} {failed}");
    counter(
        &mut out,
        "inlet_connection_test_milliseconds_total",
        "Time spent in connection tests.",
        C::get(&c.test_latency_ms_total),
    );
    let discoveries = C::get(&c.discoveries_run);
    let discoveries_failed = C::get(&c.discoveries_failed);
    family(&mut out, "inlet_discoveries_total", "counter", "Schema discoveries run, by result.");
    let _ =
        writeln!(out, "inlet_discoveries_total{{result=\"ok\"}} {}", discoveries.saturating_sub(discoveries_failed));
    let _ = writeln!(out, "inlet_discoveries_total{{result=\"failed\"}} {discoveries_failed}");
    family(&mut out, "inlet_breaker_transitions_total", "counter", "Circuit breakers opened and closed.");
    let _ = writeln!(out, "inlet_breaker_transitions_total{{to=\"open\"}} {}", C::get(&c.breakers_opened));
    let _ = writeln!(out, "inlet_breaker_transitions_total{{to=\"closed\"}} {}", C::get(&c.breakers_closed));
    counter(
        &mut out,
        "inlet_scheduled_checks_total",
        "Health checks run by the scheduler.",
        C::get(&c.scheduled_checks),
    );
    counter(
        &mut out,
        "inlet_checks_skipped_breaker_open_total",
        "Scheduled checks skipped because the breaker was open.",
        C::get(&c.checks_skipped_open),
    );
    counter(&mut out, "inlet_connections_opened_total", "Connector connections opened.", C::get(&c.connections_opened));
    family(&mut out, "inlet_plugins_loaded", "gauge", "Connector plugins loaded.");
    let _ = writeln!(out, "inlet_plugins_loaded {}", state.connectors().plugins().len());
    pools(&mut out, &state);
    let tunnels = state.tunnels().stats();
    gauge(&mut out, "inlet_ssh_tunnels", "SSH tunnels open.", tunnels.tunnels_open);
    gauge(&mut out, "inlet_ssh_channels", "Connections forwarded through SSH tunnels now.", tunnels.channels_open);
    counter(&mut out, "inlet_ssh_channels_total", "Connections forwarded through SSH tunnels.", tunnels.channels_total);
    counter(&mut out, "inlet_ssh_reconnects_total", "SSH sessions reopened after a drop.", tunnels.reconnects);
    counter(
        &mut out,
        "inlet_ssh_failures_total",
        "SSH tunnel opens, reconnects and channels that failed.",
        tunnels.failures,
    );
    let (streams, feeds) = state.event_feeds.running();
    gauge(&mut out, "inlet_event_streams", "Event streams (SSE) open.", streams as u64);
    gauge(&mut out, "inlet_event_feeds", "Organizations whose events are polled for open streams.", feeds as u64);
    let cache = state.schemas().stats();
    gauge(&mut out, "inlet_schema_cache_entries", "Catalogs in the schema cache.", cache.entries);
    gauge(&mut out, "inlet_schema_cache_bytes", "Bytes of catalog JSON in the schema cache.", cache.weight_bytes);
    family(&mut out, "inlet_schema_cache_lookups_total", "counter", "Schema cache lookups, by result.");
    let _ = writeln!(out, "inlet_schema_cache_lookups_total{{result=\"hit\"}} {}", cache.hits);
    let _ = writeln!(out, "inlet_schema_cache_lookups_total{{result=\"miss\"}} {}", cache.misses);
    counter(&mut out, "inlet_schema_cache_evictions_total", "Catalogs evicted for space.", cache.evictions);
    let runtime = state.connectors().runtime().stats();
    let live = runtime.instances_live.load(Ordering::Relaxed);
    gauge(&mut out, "inlet_plugin_instances", "Connector stores alive.", u64::try_from(live).unwrap_or(0));
    counter(
        &mut out,
        "inlet_plugin_instances_created_total",
        "Connector stores instantiated.",
        runtime.instances_created.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "inlet_plugin_budget_breaches_total",
        "Calls failed for going past a resource budget (sockets, connections, handles, cpu, calls).",
        runtime.budget_breaches.load(Ordering::Relaxed),
    );
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}

/// Pool figures summed over every data source.
fn pools(out: &mut String, state: &AppState) {
    let pools = state.pools().stats(None);
    let sum = |field: fn(&crate::pool::PoolStats) -> u64| pools.iter().map(field).sum::<u64>();
    family(out, "inlet_pool_connections", "gauge", "Pooled connector connections, by state.");
    let _ = writeln!(out, "inlet_pool_connections{{state=\"in_use\"}} {}", sum(|p| u64::from(p.in_use)));
    let _ = writeln!(out, "inlet_pool_connections{{state=\"idle\"}} {}", sum(|p| u64::from(p.idle)));
    gauge(
        out,
        "inlet_pool_memory_bytes",
        "Memory of pooled connector stores (linear memories, tables, host resources).",
        sum(|p| p.memory_bytes),
    );
    gauge(out, "inlet_pool_sockets", "TCP sockets held by pooled connector stores.", sum(|p| p.sockets));
    gauge(out, "inlet_pool_handles", "Resource handles held by pooled connector stores.", sum(|p| p.handles));
    counter(out, "inlet_pool_waits_total", "Borrowers that waited for a busy pool.", sum(|p| p.waits));
    counter(out, "inlet_pool_timeouts_total", "Borrowers that gave up waiting.", sum(|p| p.timeouts));
    counter(out, "inlet_pool_reuses_total", "Operations served by a pooled connection.", sum(|p| p.reused));
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// Label values as the text format wants them.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
