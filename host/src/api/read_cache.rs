//! Serialized answers of `GET /data-sources/{id}` and `GET /data-sources`,
//! kept until the organization's data sources change.
//!
//! Each entry carries the organization's change counter ([`Db::generation`])
//! read before the query that produced it; an entry whose counter is no
//! longer current is never served. That is exact only when this process sees
//! every write, so the cache is off on PostgreSQL, where other replicas write
//! too ([`Db::sees_every_write`]).

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;

use super::error::ApiError;
use crate::auth::Principal;
use crate::db::{Db, ListFilter};

/// Bytes of cached JSON held at most, over both kinds of answer.
const MAX_BYTES: u64 = 64 << 20;

/// A data source as JSON, with what decides who may see it.
#[derive(Debug)]
pub struct CachedDetail {
    generation: u64,
    org_id: String,
    workspace_id: String,
    shared_with: Vec<String>,
    body: Bytes,
}

impl CachedDetail {
    /// The answer for `principal`, or `None` if they may not see it.
    pub fn visible_to(&self, principal: &Principal) -> Option<Response> {
        principal.sees(&self.workspace_id, &self.shared_with).then(|| json_response(self.body.clone()))
    }
}

#[derive(Debug)]
struct CachedPage {
    generation: u64,
    body: Bytes,
}

pub struct ReadCache {
    enabled: bool,
    /// By data source id (UUIDs: unique across organizations; the entry's
    /// organization is still checked).
    details: moka::sync::Cache<String, Arc<CachedDetail>>,
    /// By the whole filter, which includes the organization and the caller's
    /// visible workspaces.
    pages: moka::sync::Cache<ListFilter, Arc<CachedPage>>,
}

/// What a caller needs to store an answer once it has built it: the
/// counter read before its queries.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(Option<u64>);

impl ReadCache {
    pub fn new(db: &Db) -> Self {
        Self {
            enabled: db.sees_every_write(),
            details: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES / 2)
                .weigher(|id: &String, entry: &Arc<CachedDetail>| weight(id.len() + entry.body.len()))
                .build(),
            pages: moka::sync::Cache::builder()
                .max_capacity(MAX_BYTES / 2)
                .weigher(|_: &ListFilter, entry: &Arc<CachedPage>| weight(256 + entry.body.len()))
                .build(),
        }
    }

    /// Starts a read: the counter to store the answer under (read before the
    /// queries, so a write committed meanwhile makes the answer stale).
    pub fn ticket(&self, db: &Db, org_id: &str) -> Ticket {
        Ticket(self.enabled.then(|| db.generation(org_id)))
    }

    /// The cached data source, if its organization has not changed since.
    pub fn detail(&self, db: &Db, org_id: &str, id: &str) -> Option<Arc<CachedDetail>> {
        if !self.enabled {
            return None;
        }
        let entry = self.details.get(id)?;
        (entry.org_id == org_id && entry.generation == db.generation(org_id)).then_some(entry)
    }

    /// Serializes a data source, keeps it when the ticket allows, and answers.
    pub fn store_detail<T: Serialize>(
        &self,
        ticket: Ticket,
        value: &T,
        id: &str,
        org_id: &str,
        workspace_id: &str,
        shared_with: &[String],
    ) -> Result<Response, ApiError> {
        let body = to_bytes(value)?;
        if let Ticket(Some(generation)) = ticket {
            let entry = CachedDetail {
                generation,
                org_id: org_id.to_owned(),
                workspace_id: workspace_id.to_owned(),
                shared_with: shared_with.to_vec(),
                body: body.clone(),
            };
            self.details.insert(id.to_owned(), Arc::new(entry));
        }
        Ok(json_response(body))
    }

    /// The cached page for exactly this filter, if still current.
    pub fn page(&self, db: &Db, filter: &ListFilter) -> Option<Response> {
        if !self.enabled {
            return None;
        }
        let entry = self.pages.get(filter)?;
        (entry.generation == db.generation(&filter.org_id)).then(|| json_response(entry.body.clone()))
    }

    /// Serializes a page, keeps it when the ticket allows, and answers.
    pub fn store_page<T: Serialize>(
        &self,
        ticket: Ticket,
        filter: ListFilter,
        value: &T,
    ) -> Result<Response, ApiError> {
        let body = to_bytes(value)?;
        if let Ticket(Some(generation)) = ticket {
            self.pages.insert(filter, Arc::new(CachedPage { generation, body: body.clone() }));
        }
        Ok(json_response(body))
    }
}

/// An entry's weight for the byte budget.
fn weight(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

fn to_bytes<T: Serialize>(value: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| ApiError::internal("cannot serialize the answer", e))
}

fn json_response(body: Bytes) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn filter(org_id: &str) -> ListFilter {
        ListFilter::everything(org_id)
    }

    fn member_of(workspace: &str) -> Principal {
        Principal {
            actor: "token:t".into(),
            org_id: Some("o".into()),
            role: Role::Member,
            workspaces: Some(vec![workspace.into()]),
        }
    }

    #[tokio::test]
    async fn answers_live_until_their_organization_changes() {
        let (db, _dir) = crate::db::test_db().await;
        let cache = ReadCache::new(&db);
        let ticket = cache.ticket(&db, "o");
        cache.store_page(ticket, filter("o"), &serde_json::json!({"items": []})).expect("store");
        cache.store_detail(ticket, &serde_json::json!({"id": "d"}), "d", "o", "w1", &["w2".into()]).expect("store");
        assert!(cache.page(&db, &filter("o")).is_some());
        assert!(cache.page(&db, &filter("other")).is_none());
        assert!(cache.detail(&db, "o", "d").is_some());
        assert!(cache.detail(&db, "other", "d").is_none(), "another organization never sees the entry");

        // A write the ticket did not see: nothing stored under it is served.
        db.set_status("o", "d", "failed", None, None).await.expect("write");
        assert!(cache.page(&db, &filter("o")).is_none());
        assert!(cache.detail(&db, "o", "d").is_none());
    }

    #[tokio::test]
    async fn a_write_between_ticket_and_store_keeps_the_answer_out() {
        let (db, _dir) = crate::db::test_db().await;
        let cache = ReadCache::new(&db);
        let ticket = cache.ticket(&db, "o");
        db.set_status("o", "d", "failed", None, None).await.expect("write");
        cache.store_page(ticket, filter("o"), &serde_json::json!({"items": []})).expect("store");
        assert!(cache.page(&db, &filter("o")).is_none());
    }

    #[tokio::test]
    async fn visibility_is_checked_per_caller() {
        let (db, _dir) = crate::db::test_db().await;
        let cache = ReadCache::new(&db);
        let ticket = cache.ticket(&db, "o");
        cache.store_detail(ticket, &serde_json::json!({"id": "d"}), "d", "o", "w1", &["w2".into()]).expect("store");
        let entry = cache.detail(&db, "o", "d").expect("cached");
        assert!(entry.visible_to(&member_of("w1")).is_some());
        assert!(entry.visible_to(&member_of("w2")).is_some(), "shared with w2");
        assert!(entry.visible_to(&member_of("w3")).is_none());
    }
}
