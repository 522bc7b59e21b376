//! `GET /api/v1/events`: the organization's events, as a paged list
//! (`since=<seq>`) or, with `Accept: text/event-stream`, as Server-Sent
//! Events that resume after `Last-Event-ID` without gaps (every event's SSE
//! id is its `seq`, and seqs commit in order).
//!
//! Members and viewers see the events of the data sources they can see.

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
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Auth};
use crate::db::{EventFilter, EventRow};
use crate::events::{EventKind, Severity};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 500;
/// How often a stream looks for events written by other replicas.
const POLL: Duration = Duration::from_secs(1);
/// Events fetched per database read while streaming.
const STREAM_BATCH: i64 = 200;

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
        (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
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
        let stream = live(state, org_id, filter, resume);
        return Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response());
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit is 1-{MAX_LIMIT}")).with_code("invalid_query"));
    }
    // One more than asked tells whether another page waits.
    let mut rows = state.db.org_events(&org_id, since, &filter, i64::from(limit) + 1).await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_since = rows.last().map_or(since, |row| row.seq);
    let items = rows.into_iter().filter_map(Event::from_row).collect();
    Ok(Json(EventPage { items, next_since, has_more }).into_response())
}

/// What a live stream carries between polls.
struct Cursor {
    state: AppState,
    org_id: String,
    filter: EventFilter,
    after: i64,
    buffered: VecDeque<EventRow>,
}

/// The organization's events after `after`, as they are written: read in
/// batches, then woken by this process's commits or by the poll interval
/// (for other replicas' commits).
fn live(
    state: AppState,
    org_id: String,
    filter: EventFilter,
    after: i64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let cursor = Cursor { state, org_id, filter, after, buffered: VecDeque::new() };
    stream::unfold(cursor, |mut cursor| async move {
        loop {
            if let Some(row) = cursor.buffered.pop_front() {
                cursor.after = row.seq;
                let id = row.seq.to_string();
                let Some(event) = Event::from_row(row) else { continue };
                let sse = SseEvent::default().id(id).event(event.kind.as_str());
                let sse = sse.json_data(&event).unwrap_or_else(|_| SseEvent::default().comment("unserializable event"));
                return Some((Ok(sse), cursor));
            }
            let signal = cursor.state.db.event_signal();
            let notified = signal.notified();
            tokio::pin!(notified);
            // Registered before reading, so a commit between the read and the
            // wait still wakes us.
            notified.as_mut().enable();
            match cursor.state.db.org_events(&cursor.org_id, cursor.after, &cursor.filter, STREAM_BATCH).await {
                Ok(rows) if !rows.is_empty() => cursor.buffered.extend(rows),
                Ok(_) => {
                    let _ = tokio::time::timeout(POLL, notified).await;
                }
                Err(error) => {
                    // The client reconnects with Last-Event-ID and loses nothing.
                    tracing::warn!(%error, "an event stream cannot read events; closing it");
                    return None;
                }
            }
        }
    })
}
