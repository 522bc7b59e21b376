//! Live event streams, fanned out: one shared poll per organization reads
//! its new events once and broadcasts them to every open stream of that
//! organization, which filter them in memory (kinds, data source, the
//! workspaces they may see). Streams read the database themselves only to
//! catch up (on connect, after `Last-Event-ID`, or when they fell behind).
//!
//! It also caps how many streams are open per token and per organization.
//! It never decides who may see what: streams carry their principal's
//! visible workspaces, and re-check the principal themselves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::db::{Db, EventFilter, EventRow};
pub use crate::settings::StreamLimits;

/// How often a feed looks for events written by other replicas (this
/// process's commits wake it at once).
const POLL: Duration = Duration::from_secs(1);
/// Events read per query.
pub const BATCH: i64 = 200;
/// Batches a slow stream may fall behind before it catches up from the database.
const CHANNEL: usize = 256;

/// Events of one organization read by one poll: every event with `from < seq <= to`.
#[derive(Debug)]
pub struct Batch {
    pub from: i64,
    pub to: i64,
    pub events: Vec<Published>,
}

/// An event and who may see it.
#[derive(Debug)]
pub struct Published {
    pub row: EventRow,
    /// The data source's workspace and the workspaces it is shared with
    /// (empty for organization-level events, which only org admins see).
    pub audience: Vec<String>,
}

impl Published {
    /// Whether a stream with `filter` shows this event.
    pub fn matches(&self, filter: &EventFilter) -> bool {
        if !filter.kinds.is_empty() && !filter.kinds.contains(&self.row.kind) {
            return false;
        }
        if filter.data_source_id.is_some() && filter.data_source_id != self.row.data_source_id {
            return false;
        }
        match &filter.visible_workspaces {
            None => true,
            Some(mine) => self.row.data_source_id.is_some() && self.audience.iter().any(|w| mine.contains(w)),
        }
    }
}

/// One organization's shared poll.
struct Feed {
    sender: broadcast::Sender<Arc<Batch>>,
    /// The `to` of the last batch sent (-1 before the first poll): every
    /// event up to it was committed before it was stored.
    published_to: Arc<AtomicI64>,
}

#[derive(Default)]
struct Registry {
    feeds: HashMap<String, Feed>,
    per_token: HashMap<String, usize>,
    per_org: HashMap<String, usize>,
}

/// The feeds and stream counts of this process.
pub struct EventFeeds {
    db: Db,
    limits: StreamLimits,
    registry: Arc<Mutex<Registry>>,
}

/// Why a stream was not opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefused {
    #[error("this token already has {0} event streams open")]
    PerToken(usize),
    #[error("this organization already has {0} event streams open")]
    PerOrg(usize),
}

/// An open stream's place in its organization's feed; dropping it frees its
/// slot in the caps.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<Batch>>,
    published_to: Arc<AtomicI64>,
    registry: Arc<Mutex<Registry>>,
    org_id: String,
    token_key: String,
}

impl Subscription {
    /// Everything up to this seq was committed before now (see [`Feed`]).
    pub fn published_to(&self) -> i64 {
        self.published_to.load(Ordering::Acquire)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut guard = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let registry = &mut *guard;
        for (map, key) in [(&mut registry.per_token, &self.token_key), (&mut registry.per_org, &self.org_id)] {
            if let Some(count) = map.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(key);
                }
            }
        }
    }
}

impl EventFeeds {
    pub fn new(db: Db, limits: StreamLimits) -> Self {
        Self { db, limits, registry: Arc::default() }
    }

    /// Opens a stream of `org_id` for `token_key` (who holds it), within
    /// the caps; starts the organization's feed when it is the first.
    pub fn subscribe(&self, org_id: &str, token_key: &str) -> Result<Subscription, StreamRefused> {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let of_token = registry.per_token.get(token_key).copied().unwrap_or(0);
        if of_token >= self.limits.per_token {
            return Err(StreamRefused::PerToken(of_token));
        }
        let of_org = registry.per_org.get(org_id).copied().unwrap_or(0);
        if of_org >= self.limits.per_org {
            return Err(StreamRefused::PerOrg(of_org));
        }
        let feed = registry.feeds.entry(org_id.to_owned()).or_insert_with(|| {
            let (sender, _) = broadcast::channel(CHANNEL);
            let published_to = Arc::new(AtomicI64::new(-1));
            tokio::spawn(run_feed(
                self.db.clone(),
                org_id.to_owned(),
                sender.clone(),
                published_to.clone(),
                self.registry.clone(),
            ));
            Feed { sender, published_to }
        });
        let subscription = Subscription {
            receiver: feed.sender.subscribe(),
            published_to: feed.published_to.clone(),
            registry: self.registry.clone(),
            org_id: org_id.to_owned(),
            token_key: token_key.to_owned(),
        };
        *registry.per_token.entry(token_key.to_owned()).or_default() += 1;
        *registry.per_org.entry(org_id.to_owned()).or_default() += 1;
        Ok(subscription)
    }

    /// Streams open and organization feeds running now.
    pub fn running(&self) -> (usize, usize) {
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        (registry.per_org.values().sum(), registry.feeds.len())
    }
}

/// The shared poll of one organization: reads its new events (woken by
/// this process's commits, or every [`POLL`] for other replicas'), finds
/// who may see them, and broadcasts them. Ends when no stream listens.
async fn run_feed(
    db: Db,
    org_id: String,
    sender: broadcast::Sender<Arc<Batch>>,
    published_to: Arc<AtomicI64>,
    registry: Arc<Mutex<Registry>>,
) {
    let everything = EventFilter::default();
    let mut after = match db.last_event_seq().await {
        Ok(seq) => seq,
        Err(error) => {
            tracing::warn!(%error, "an event feed cannot read the last event; starting from its streams' positions");
            0
        }
    };
    published_to.store(after, Ordering::Release);
    loop {
        {
            // Under the registry's lock, so no stream subscribes to a feed that is ending.
            let mut registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
            if sender.receiver_count() == 0 {
                registry.feeds.remove(&org_id);
                return;
            }
        }
        let signal = db.event_signal();
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let rows = match db.org_events(&org_id, after, &everything, BATCH).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "an event feed cannot read events; retrying");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let Some(last) = rows.last().map(|row| row.seq) else {
            let _ = tokio::time::timeout(POLL, notified).await;
            continue;
        };
        let events = match audiences(&db, rows).await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "an event feed cannot read who may see its events; retrying");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let batch = Arc::new(Batch { from: after, to: last, events });
        after = last;
        published_to.store(after, Ordering::Release);
        // No receiver is not an error: the next turn ends the feed.
        let _ = sender.send(batch);
    }
}

/// Each event with the workspaces that may see it.
async fn audiences(db: &Db, rows: Vec<EventRow>) -> Result<Vec<Published>, crate::db::DbError> {
    let mut ids: Vec<String> = rows.iter().filter_map(|row| row.data_source_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let owners = db.workspaces_of_data_sources(&ids).await?;
    let shares = db.shares_of(&ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let audience = match &row.data_source_id {
                None => Vec::new(),
                Some(id) => owners
                    .iter()
                    .chain(shares.iter())
                    .filter(|(source, _)| source == id)
                    .map(|(_, workspace)| workspace.clone())
                    .collect(),
            };
            Published { row, audience }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(kind: &str, data_source: Option<&str>, audience: &[&str]) -> Published {
        Published {
            row: EventRow {
                seq: 1,
                id: "e".into(),
                organization_id: "o".into(),
                data_source_id: data_source.map(str::to_owned),
                kind: kind.into(),
                severity: "info".into(),
                created_at: String::new(),
                payload: "{}".into(),
            },
            audience: audience.iter().map(|w| (*w).to_owned()).collect(),
        }
    }

    #[tokio::test]
    async fn streams_are_capped_per_token_and_per_organization_and_free_their_slot() {
        let (db, _dir) = crate::db::test_db().await;
        let feeds = EventFeeds::new(db, StreamLimits { per_token: 2, per_org: 3 });
        let first = feeds.subscribe("o", "token:a").expect("first");
        let _second = feeds.subscribe("o", "token:a").expect("second");
        assert_eq!(feeds.subscribe("o", "token:a").err(), Some(StreamRefused::PerToken(2)));
        let _third = feeds.subscribe("o", "token:b").expect("another token");
        assert_eq!(feeds.subscribe("o", "token:c").err(), Some(StreamRefused::PerOrg(3)));
        let _elsewhere = feeds.subscribe("p", "token:d").expect("another organization");
        assert_eq!(feeds.running(), (4, 2), "four streams, one feed per organization");
        drop(first);
        let _again = feeds.subscribe("o", "token:c").expect("a freed slot");
        assert_eq!(feeds.running(), (4, 2));
    }

    #[test]
    fn streams_see_what_their_filter_and_workspaces_allow() {
        let admin = EventFilter::default();
        let member = EventFilter { visible_workspaces: Some(vec!["w1".into()]), ..EventFilter::default() };
        let shared = published("status_changed", Some("ds"), &["w2", "w1"]);
        let elsewhere = published("status_changed", Some("ds"), &["w2"]);
        let org_level = published("credentials_changed", None, &[]);
        assert!(shared.matches(&admin) && shared.matches(&member));
        assert!(elsewhere.matches(&admin) && !elsewhere.matches(&member));
        assert!(org_level.matches(&admin) && !org_level.matches(&member));
        let kinds = EventFilter { kinds: vec!["breaker_opened".into()], ..EventFilter::default() };
        assert!(!shared.matches(&kinds));
        let one = EventFilter { data_source_id: Some("other".into()), ..EventFilter::default() };
        assert!(!shared.matches(&one));
    }
}
