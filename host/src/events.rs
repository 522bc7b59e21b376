//! What happened to a data source, as the outbox (`events`) records it: the
//! kinds, their severities, and the payload shapes that the SSE stream,
//! the event list and alert channels hand on.

use serde::{Deserialize, Serialize};

/// How much an event matters; alert channels filter on a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The status moved (`{"from","to","reason"}`): testing → active or
    /// failed, active ↔ failed, into or out of maintenance or inactive.
    StatusChanged,
    /// The circuit breaker opened (`{"failures","open_until"}`).
    BreakerOpened,
    /// The breaker let one probe through.
    BreakerHalfOpen,
    /// A probe succeeded and the breaker closed.
    BreakerClosed,
    /// A discovery found the schema changed (`{"job_id","summary"}`).
    SchemaChanged,
    /// Secret fields were replaced (`{"fields"}`: names only).
    CredentialsChanged,
    /// More transitions than the alert threshold within its window.
    Flapping,
    /// A flapping data source held still for a whole window.
    FlappingSettled,
    /// A query ran (`{"actor","statement_sha256","rows","bytes","duration_ms","outcome","error_kind"}`;
    /// never the statement or its parameters).
    QueryRun,
}

impl EventKind {
    pub const ALL: [Self; 9] = [
        Self::StatusChanged,
        Self::BreakerOpened,
        Self::BreakerHalfOpen,
        Self::BreakerClosed,
        Self::SchemaChanged,
        Self::CredentialsChanged,
        Self::Flapping,
        Self::FlappingSettled,
        Self::QueryRun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StatusChanged => "status_changed",
            Self::BreakerOpened => "breaker_opened",
            Self::BreakerHalfOpen => "breaker_half_open",
            Self::BreakerClosed => "breaker_closed",
            Self::SchemaChanged => "schema_changed",
            Self::CredentialsChanged => "credentials_changed",
            Self::Flapping => "flapping",
            Self::FlappingSettled => "flapping_settled",
            Self::QueryRun => "query_run",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The severity of an event of this kind with `payload`: a data source
    /// going `failed` and a breaker opening are critical.
    pub fn severity(self, payload: &serde_json::Value) -> Severity {
        match self {
            Self::StatusChanged if payload.get("to").and_then(|v| v.as_str()) == Some("failed") => Severity::Critical,
            Self::BreakerOpened => Severity::Critical,
            Self::Flapping => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// The event for a breaker moving from `from` to `to`, if that is one.
pub fn breaker_kind(from: &str, to: &str) -> Option<EventKind> {
    if from == to {
        return None;
    }
    match to {
        "open" => Some(EventKind::BreakerOpened),
        "half_open" => Some(EventKind::BreakerHalfOpen),
        "closed" => Some(EventKind::BreakerClosed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }

    #[test]
    fn failures_and_open_breakers_are_critical() {
        assert_eq!(EventKind::StatusChanged.severity(&json!({"from": "active", "to": "failed"})), Severity::Critical);
        assert_eq!(EventKind::StatusChanged.severity(&json!({"from": "failed", "to": "active"})), Severity::Info);
        assert_eq!(EventKind::BreakerOpened.severity(&json!({})), Severity::Critical);
        assert_eq!(EventKind::Flapping.severity(&json!({})), Severity::Warning);
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }

    #[test]
    fn only_real_breaker_moves_are_events() {
        assert_eq!(breaker_kind("closed", "closed"), None);
        assert_eq!(breaker_kind("closed", "open"), Some(EventKind::BreakerOpened));
        assert_eq!(breaker_kind("open", "half_open"), Some(EventKind::BreakerHalfOpen));
        assert_eq!(breaker_kind("half_open", "closed"), Some(EventKind::BreakerClosed));
    }
}
