//! `GET /api/v1/events`: the organization's events, as a paged list
//! (`since=<seq>`) or, with `Accept: text/event-stream`, as Server-Sent
//! Events that resume after `Last-Event-ID` without gaps (every event's SSE
//! id is its `seq`, and seqs commit in order).
//!
//! Members and viewers see the events of the data sources they can see.
//! Streams come from one shared poll per organization
//! ([`super::event_feed`]), are capped per token and per organization (429),
//! and close when the caller's token is revoked or expires.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::event_feed::{self, Subscription};
use super::extract::{ApiQuery, Auth};
use crate::auth::Principal;
use crate::db::{EventFilter, EventRow};
use crate::events::{EventKind, Severity};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only events after this sequence number. A stream resumes after its
    /// `Last-Event-ID` header instead, when given.
    #[param(minimum = 0)]
    pub since: Option<i64>,
    /// Comma-separated event kinds, e.g. `status_changed,breaker_opened`.
    pub kind: Option<String>,
    /// Only this data source's events.
    pub data_source_id: Option<String>,
    /// Page size of the list (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Something that happened to a data source.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// Position in the organization's stream: pass it as `since` (or the
    /// SSE `Last-Event-ID`) to continue after this event.
    pub seq: i64,
    pub id: String,
    pub kind: EventKind,
    pub severity: Severity,
    pub organization_id: String,
    pub data_source_id: Option<String>,
    pub created_at: String,
    /// Depends on the kind: `{"from","to","reason"}` for `status_changed`,
    /// `{"job_id","summary"}` for `schema_changed`, `{"fields"}` for
    /// `credentials_changed`, ...
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// `since` for the next page: the last item's `seq`, or the `since`
    /// given when the page is empty.
    pub next_since: i64,
    /// Whether more events were already waiting past this page.
    pub has_more: bool,
}

impl Event {
    /// `None` for a row this build does not know (written by a newer one).
    fn from_row(row: EventRow) -> Option<Self> {
        Some(Self {
            seq: row.seq,
            kind: EventKind::parse(&row.kind)?,
            severity: Severity::parse(&row.severity)?,
            payload: serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null),
            id: row.id,
            organization_id: row.organization_id,
            data_source_id: row.data_source_id,
            created_at: row.created_at,
        })
    }
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    responses(
        (status = 200, description = "a page of events, or with `Accept: text/event-stream` a live stream \
            of them (event name = kind, id = seq, data = the event as JSON)", body = EventPage),
        (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody),
        (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 429, description = "too many event streams open for this token or organization (`too_many_streams`)",
            body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<Response> {
    let org_id = super::data_sources::org_of(&principal)?.to_owned();
    let mut filter = EventFilter { visible_workspaces: principal.workspaces.clone(), ..EventFilter::default() };
    if let Some(kinds) = &params.kind {
        for kind in kinds.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            if EventKind::parse(kind).is_none() {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                return Err(ApiError::bad_request(format!(
                    "unknown event kind `{}`; known kinds: {}",
                    kind.chars().take(64).collect::<String>(),
                    known.join(", ")
                ))
                .with_code("invalid_query"));
            }
            filter.kinds.push(kind.to_owned());
        }
    }
    if let Some(id) = &params.data_source_id {
        // 404 for what the caller cannot see, as everywhere else.
        let row = super::data_sources::visible_row(&state, &principal, id).await?;
        filter.data_source_id = Some(row.id);
    }
    let since = params.since.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::bad_request("since is a sequence number, 0 or more").with_code("invalid_query"));
    }
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if wants_stream {
        let resume = match headers.get("last-event-id") {
            None => since,
            Some(value) => {
                value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|seq| *seq >= 0).ok_or_else(
                    || ApiError::bad_request("Last-Event-ID must be an event's seq").with_code("invalid_header"),
                )?
            }
        };
        let token = super::extract::bearer_token(&headers)?.to_owned();
        let subscription = state.event_feeds.subscribe(&org_id, &principal.actor).map_err(|refused| {
            ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, "too_many_streams", refused.to_string())
        })?;
        let stream = live(state, token, principal, subscription, org_id, filter, resume);
        return Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response());
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit is 1-{MAX_LIMIT}")).with_code("invalid_query"));
    }
    // One more than asked tells whether another page waits.
    let mut rows = state.db().org_events(&org_id, since, &filter, i64::from(limit) + 1).await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_since = rows.last().map_or(since, |row| row.seq);
    let items = rows.into_iter().filter_map(Event::from_row).collect();
    Ok(Json(EventPage { items, next_since, has_more }).into_response())
}

/// How often an open stream re-checks its caller's token: a revoked or
/// expired token closes it within this (plus the token cache's 5 s).
const RECHECK: Duration = Duration::from_secs(2);

/// What a live stream carries between events.
struct Live {
    state: AppState,
    /// The bearer token, re-checked every [`RECHECK`].
    token: String,
    principal: Principal,
    org_id: String,
    filter: EventFilter,
    /// The last event sent.
    after: i64,
    /// Every event up to this seq was sent or filtered out.
    complete: i64,
    /// Reading the database (on connect, or after falling behind the feed).
    catching_up: bool,
    buffered: VecDeque<EventRow>,
    subscription: Subscription,
    next_check: tokio::time::Instant,
}

/// The organization's events after `after`, as they are written: caught up
/// from the database, then taken from the organization's shared feed. Ends
/// when the caller's token stops being valid.
fn live(
    state: AppState,
    token: String,
    principal: Principal,
    subscription: Subscription,
    org_id: String,
    filter: EventFilter,
    after: i64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let next_check = tokio::time::Instant::now() + RECHECK;
    let live = Live {
        state,
        token,
        principal,
        org_id,
        filter,
        after,
        complete: after,
        catching_up: true,
        buffered: VecDeque::new(),
        subscription,
        next_check,
    };
    stream::unfold(live, |mut live| async move {
        loop {
            if tokio::time::Instant::now() >= live.next_check {
                match live.state.authenticate(&live.token).await {
                    Ok(principal) if principal == live.principal => live.next_check += RECHECK,
                    _ => {
                        tracing::info!(actor = %live.principal.actor, "closing an event stream: its token is no longer valid");
                        return None;
                    }
                }
            }
            if let Some(row) = live.buffered.pop_front() {
                live.after = row.seq;
                let id = row.seq.to_string();
                let Some(event) = Event::from_row(row) else { continue };
                let sse = SseEvent::default().id(id).event(event.kind.as_str());
                let sse = sse.json_data(&event).unwrap_or_else(|_| SseEvent::default().comment("unserializable event"));
                return Some((Ok(sse), live));
            }
            if live.catching_up {
                // Read before the query: every event up to it is visible to the query.
                let mark = live.subscription.published_to();
                match live.state.db().org_events(&live.org_id, live.after, &live.filter, event_feed::BATCH).await {
                    Ok(rows) if !rows.is_empty() => live.buffered.extend(rows),
                    Ok(_) => {
                        live.complete = live.complete.max(live.after).max(mark);
                        live.catching_up = false;
                    }
                    Err(error) => {
                        // The client reconnects with Last-Event-ID and loses nothing.
                        tracing::warn!(%error, "an event stream cannot read events; closing it");
                        return None;
                    }
                }
                continue;
            }
            tokio::select! {
                received = live.subscription.receiver.recv() => match received {
                    // A batch that starts past what this stream has seen: catch up first.
                    Ok(batch) if batch.from > live.complete => live.catching_up = true,
                    Ok(batch) => {
                        let (after, filter) = (live.after, &live.filter);
                        let fresh = batch.events.iter().filter(|p| p.row.seq > after && p.matches(filter));
                        live.buffered.extend(fresh.map(|p| p.row.clone()));
                        live.complete = live.complete.max(batch.to);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => live.catching_up = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(live.next_check) => {}
            }
        }
    })
}
