//! `GET /metrics` at the root: process-wide figures in the Prometheus text
//! format, for operators. Aggregates only (counts by status and breaker
//! state, counters since start): no names, ids or organizations, so it needs
//! no token, like `/healthz`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiResult;
use super::metrics::Counters as C;

pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let (by_status, by_breaker) = state.db.count_all_data_sources().await?;
    let c = &state.counters;
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
    let _ = writeln!(out, "inlet_plugins_loaded {}", state.connectors.plugins().len());
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
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
