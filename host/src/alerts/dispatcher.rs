//! The dispatcher: follows the event outbox with a cursor, damps flapping
//! data sources, matches each event against its organization's channels
//! (kind, data source tags, minimum severity) and queues one delivery per
//! match — all in the transaction that moves the cursor, so an event is
//! neither lost nor queued twice by a crash. Flapping data sources that have
//! held still for a window are settled on every pass.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::AlertSettings;
use super::flapping::{Decision, FlapPolicy, FlapState, settle_cutoff, unix_ms};
use crate::core::App;
use crate::db::{AlertChannelRow, DispatchInput, DispatchPlan, NewDelivery, PlannedEvent, new_id, now, parse_time};
use crate::events::{EventKind, Severity};

/// Events per transaction.
const BATCH: i64 = 500;
/// How often the outbox is read without a signal (other replicas' events).
const POLL: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A channel's filters, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelFilter {
    /// Empty: every kind.
    pub kinds: Vec<String>,
    /// Empty: any data source (and organization-level events).
    pub tags: Vec<String>,
    pub min_severity: Severity,
}

impl ChannelFilter {
    pub fn of_row(row: &AlertChannelRow) -> Self {
        Self {
            kinds: serde_json::from_str(&row.event_kinds).unwrap_or_default(),
            tags: serde_json::from_str(&row.tags).unwrap_or_default(),
            // The API only stores known severities; anything else sends everything.
            min_severity: Severity::parse(&row.min_severity).unwrap_or(Severity::Info),
        }
    }

    /// Whether an event of `kind` and `severity`, about a data source with
    /// `tags` (`None`: about no data source), goes to this channel.
    pub fn admits(&self, kind: &str, severity: Severity, tags: Option<&[String]>) -> bool {
        if severity < self.min_severity {
            return false;
        }
        if !self.kinds.is_empty() && !self.kinds.iter().any(|k| k == kind) {
            return false;
        }
        if self.tags.is_empty() {
            return true;
        }
        tags.is_some_and(|tags| tags.iter().any(|tag| self.tags.contains(tag)))
    }
}

/// Decides one pass: which events are delivered where, how the flapping
/// state moves, and which `flapping` events to append. Pure.
pub fn plan(input: &DispatchInput, policy: &FlapPolicy) -> DispatchPlan {
    let channels: Vec<(&AlertChannelRow, ChannelFilter)> =
        input.channels.iter().map(|row| (row, ChannelFilter::of_row(row))).collect();
    let mut states: HashMap<&str, FlapState> = HashMap::new();
    let mut touched: Vec<(&str, &str)> = Vec::new();
    let mut plan = DispatchPlan::default();
    let created_at = now();
    for event in &input.events {
        let source = event.data_source_id.as_deref();
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload).unwrap_or_else(|_| serde_json::Value::Object(Default::default()));
        if let Some(source) = source {
            let state = states
                .entry(source)
                .or_insert_with(|| input.flapping.get(source).map(FlapState::from_row).unwrap_or_default());
            if event.kind == EventKind::StatusChanged.as_str() {
                let to = payload.get("to").and_then(|v| v.as_str()).unwrap_or_default();
                let at = parse_time(&event.created_at).map_or(0, unix_ms);
                let decision = state.on_transition(at, to, policy);
                if !touched.iter().any(|(id, _)| *id == source) {
                    touched.push((source, &event.organization_id));
                }
                match decision {
                    Decision::Deliver => {}
                    Decision::Repeat | Decision::Suppress => continue,
                    Decision::StartFlapping { transitions } => {
                        plan.events.push(PlannedEvent {
                            organization_id: event.organization_id.clone(),
                            data_source_id: Some(source.to_owned()),
                            kind: EventKind::Flapping,
                            payload: serde_json::json!({
                                "transitions": transitions,
                                "window_s": policy.window.as_secs(),
                                "status": to,
                            }),
                        });
                        continue;
                    }
                }
            } else if state.flapping && event.kind.starts_with("breaker_") {
                // The breaker moves with the flapping status: part of the storm.
                continue;
            }
        }
        let severity = Severity::parse(&event.severity).unwrap_or(Severity::Info);
        let tags = source.map(|id| input.tags.get(id).map_or(&[][..], Vec::as_slice));
        let mut body = None;
        for (channel, filter) in &channels {
            // A channel hears of what happened after it was made.
            if channel.organization_id != event.organization_id
                || channel.created_at > event.created_at
                || !filter.admits(&event.kind, severity, tags)
            {
                continue;
            }
            let body = body
                .get_or_insert_with(|| {
                    serde_json::json!({
                        "id": event.id,
                        "seq": event.seq,
                        "kind": event.kind,
                        "severity": event.severity,
                        "organization_id": event.organization_id,
                        "data_source_id": event.data_source_id,
                        "created_at": event.created_at,
                        "payload": payload,
                    })
                    .to_string()
                })
                .clone();
            plan.deliveries.push(NewDelivery {
                id: new_id(),
                channel_id: channel.id.clone(),
                organization_id: event.organization_id.clone(),
                event_seq: event.seq,
                event_id: event.id.clone(),
                event_kind: event.kind.clone(),
                data_source_id: event.data_source_id.clone(),
                body,
                created_at: created_at.clone(),
            });
        }
    }
    for (source, org) in touched {
        if let Some(state) = states.get(source) {
            plan.flapping.push(state.to_row(source, org));
        }
    }
    plan
}

/// Runs the dispatcher until the process ends; `deliveries` is notified
/// whenever deliveries were queued.
pub(super) fn spawn(state: App, settings: AlertSettings, deliveries: Arc<Notify>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let signal = state.db().event_signal();
        let mut last_prune: Option<Instant> = None;
        loop {
            // Registered before the pass, so a commit during it is not missed.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if run_pass(&state, &settings, &deliveries).await {
                continue;
            }
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                prune(&state, &settings).await;
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    })
}

/// One pass: dispatch what is there, settle what held still. True when a
/// full batch was dispatched (more may be waiting).
async fn run_pass(state: &App, settings: &AlertSettings, deliveries: &Notify) -> bool {
    let policy = settings.flap;
    let mut more = false;
    match state.db().dispatch_alerts(BATCH, |input| plan(input, &policy)).await {
        Ok(done) => {
            if done.deliveries > 0 {
                deliveries.notify_one();
            }
            if done.events > 0 {
                tracing::debug!(events = done.events, deliveries = done.deliveries, "alert events dispatched");
            }
            more = done.events as i64 >= BATCH;
        }
        Err(error) => tracing::warn!(%error, "alert dispatcher cannot read the event outbox"),
    }
    let cutoff = settle_cutoff(time::OffsetDateTime::now_utc(), &policy);
    match state.db().settle_flapping(&cutoff).await {
        Ok(0) => {}
        Ok(settled) => {
            tracing::info!(settled, "flapping data sources settled");
            more = true;
        }
        Err(error) => tracing::warn!(%error, "alert dispatcher cannot settle flapping data sources"),
    }
    more
}

async fn prune(state: &App, settings: &AlertSettings) {
    let now = time::OffsetDateTime::now_utc();
    let before = crate::db::format_time(now - settings.retention);
    match state.db().prune_alert_deliveries(&before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "old alert deliveries pruned"),
        Err(error) => tracing::warn!(%error, "cannot prune alert deliveries"),
    }
    // Quiet data sources' damping state (a flapping one is kept until it settles).
    let quiet = crate::db::format_time(now - settings.flap.window.saturating_mul(2));
    if let Err(error) = state.db().prune_flapping(&quiet).await {
        tracing::warn!(%error, "cannot prune flapping state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{EventRow, FlapRow};
    use serde_json::json;

    fn channel(id: &str, org: &str, kinds: &[&str], tags: &[&str], min: &str) -> AlertChannelRow {
        AlertChannelRow {
            id: id.into(),
            organization_id: org.into(),
            name: id.into(),
            kind: "webhook".into(),
            url: "http://127.0.0.1/".into(),
            secret: "v1.x".into(),
            event_kinds: serde_json::to_string(kinds).unwrap(),
            tags: serde_json::to_string(tags).unwrap(),
            min_severity: min.into(),
            enabled: 1,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            created_by: None,
            updated_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn event(seq: i64, org: &str, ds: Option<&str>, kind: &str, payload: serde_json::Value) -> EventRow {
        let parsed = EventKind::parse(kind).unwrap();
        EventRow {
            seq,
            id: format!("ev-{seq}"),
            organization_id: org.into(),
            data_source_id: ds.map(str::to_owned),
            kind: kind.into(),
            severity: parsed.severity(&payload).as_str().into(),
            created_at: format!("2026-01-02T00:00:{:02}.000Z", seq % 60),
            payload: payload.to_string(),
        }
    }

    fn status(seq: i64, ds: &str, to: &str) -> EventRow {
        event(seq, "org-a", Some(ds), "status_changed", json!({"from": "x", "to": to, "reason": null}))
    }

    #[test]
    fn filters_on_kind_severity_and_tags() {
        let all = ChannelFilter { kinds: vec![], tags: vec![], min_severity: Severity::Info };
        assert!(all.admits("schema_changed", Severity::Info, None));
        let critical = ChannelFilter { min_severity: Severity::Critical, ..all.clone() };
        assert!(!critical.admits("status_changed", Severity::Warning, None));
        assert!(critical.admits("status_changed", Severity::Critical, None));
        let kinds = ChannelFilter { kinds: vec!["flapping".into()], ..all.clone() };
        assert!(kinds.admits("flapping", Severity::Warning, None));
        assert!(!kinds.admits("status_changed", Severity::Critical, None));
        let tagged = ChannelFilter { tags: vec!["prod".into(), "eu".into()], ..all };
        assert!(tagged.admits("status_changed", Severity::Info, Some(&["eu".to_owned()])));
        assert!(!tagged.admits("status_changed", Severity::Info, Some(&["dev".to_owned()])));
        assert!(!tagged.admits("status_changed", Severity::Info, Some(&[])));
        assert!(!tagged.admits("status_changed", Severity::Info, None), "no data source, no tag");
    }

    #[test]
    fn events_go_to_the_matching_channels_of_their_own_organization() {
        let input = DispatchInput {
            events: vec![
                status(1, "ds-1", "failed"),
                status(2, "ds-1", "active"),
                event(3, "org-b", Some("ds-9"), "schema_changed", json!({"summary": "1 table added"})),
            ],
            channels: vec![
                channel("all-a", "org-a", &[], &[], "info"),
                channel("critical-a", "org-a", &[], &[], "critical"),
                channel("prod-a", "org-a", &[], &["prod"], "info"),
                channel("all-b", "org-b", &[], &[], "info"),
            ],
            tags: HashMap::from([("ds-1".to_owned(), vec!["prod".to_owned()])]),
            flapping: HashMap::new(),
        };
        let plan = plan(&input, &FlapPolicy::default());
        let sent: Vec<(i64, &str)> = plan.deliveries.iter().map(|d| (d.event_seq, d.channel_id.as_str())).collect();
        assert_eq!(
            sent,
            [(1, "all-a"), (1, "critical-a"), (1, "prod-a"), (2, "all-a"), (2, "prod-a"), (3, "all-b")],
            "the failure is critical, the recovery is not; org-b's event stays in org-b"
        );
        let body: serde_json::Value = serde_json::from_str(&plan.deliveries[0].body).unwrap();
        assert_eq!(body["id"], "ev-1");
        assert_eq!(body["seq"], 1);
        assert_eq!(body["kind"], "status_changed");
        assert_eq!(body["severity"], "critical");
        assert_eq!(body["organization_id"], "org-a");
        assert_eq!(body["data_source_id"], "ds-1");
        assert_eq!(body["payload"]["to"], "failed");
        assert_eq!(plan.flapping.len(), 1);
        assert!(plan.events.is_empty());
    }

    #[test]
    fn a_channel_made_after_an_event_does_not_get_it() {
        let mut late = channel("late", "org-a", &[], &[], "info");
        late.created_at = "2026-01-03T00:00:00.000Z".into();
        let input =
            DispatchInput { events: vec![status(1, "ds-1", "failed")], channels: vec![late], ..Default::default() };
        assert!(plan(&input, &FlapPolicy::default()).deliveries.is_empty());
    }

    #[test]
    fn a_flapping_data_source_is_reported_once() {
        let policy = FlapPolicy { threshold: 3, window: Duration::from_secs(300) };
        let mut events = Vec::new();
        for i in 0..12usize {
            let seq = events.len() as i64 + 1;
            events.push(status(seq, "ds-1", if i.is_multiple_of(2) { "failed" } else { "active" }));
            if i.is_multiple_of(2) {
                events.push(event(seq + 1, "org-a", Some("ds-1"), "breaker_opened", json!({})));
            }
        }
        let input =
            DispatchInput { events, channels: vec![channel("all", "org-a", &[], &[], "info")], ..Default::default() };
        let plan = plan(&input, &policy);
        let statuses = plan.deliveries.iter().filter(|d| d.event_kind == "status_changed").count();
        assert_eq!(statuses, 3, "up to the threshold");
        assert_eq!(plan.events.len(), 1, "one flapping event");
        assert_eq!(plan.events[0].kind, EventKind::Flapping);
        assert_eq!(plan.events[0].payload["transitions"], 4);
        assert_eq!(plan.events[0].payload["window_s"], 300);
        let breakers = plan.deliveries.iter().filter(|d| d.event_kind == "breaker_opened").count();
        assert_eq!(breakers, 2, "breaker events while flapping are held back too");
        assert_eq!(plan.flapping.len(), 1);
        assert_eq!(plan.flapping[0].flapping, 1);
    }

    #[test]
    fn stored_flapping_state_carries_over_between_passes() {
        let policy = FlapPolicy { threshold: 3, window: Duration::from_secs(300) };
        let mut state = FlapState::default();
        for (i, to) in ["failed", "active", "failed", "active"].iter().enumerate() {
            state.on_transition(1_767_312_000_000 + i as i64, to, &policy);
        }
        let row: FlapRow = state.to_row("ds-1", "org-a");
        let input = DispatchInput {
            events: vec![status(10, "ds-1", "failed"), event(11, "org-a", Some("ds-1"), "flapping", json!({}))],
            channels: vec![channel("all", "org-a", &[], &[], "info")],
            flapping: HashMap::from([("ds-1".to_owned(), row)]),
            ..Default::default()
        };
        let plan = plan(&input, &policy);
        let kinds: Vec<&str> = plan.deliveries.iter().map(|d| d.event_kind.as_str()).collect();
        assert_eq!(kinds, ["flapping"], "the status change is held back; the flapping event itself is delivered");
        assert!(plan.events.is_empty(), "already flapping: not announced again");
    }
}
