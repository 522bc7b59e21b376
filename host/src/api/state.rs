//! What the HTTP adapter shares: the application core ([`App`]), which it
//! reaches through deref, and what only the API needs — token verification,
//! the serialized-answer cache, live event streams and file-link signing.

use std::sync::Arc;
use std::time::Duration;

use super::error::ApiError;
use super::event_feed::EventFeeds;
use super::read_cache::ReadCache;
use crate::auth::{JwtConfig, Principal, Role, hash_token};
use crate::core::App;
use crate::settings::Settings;

/// How long a verified opaque token is trusted before it is looked up again:
/// a revocation takes effect within this time.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

pub struct AppStateInner {
    pub core: App,
    pub jwt: Option<JwtConfig>,
    /// Signs presigned file URLs.
    pub file_url_key: [u8; 32],
    pub started_at: String,
    /// Serialized GET answers, until the organization's data sources change.
    pub reads: ReadCache,
    /// Live event streams: one shared poll per organization, and the caps.
    pub event_feeds: EventFeeds,
    tokens: moka::sync::Cache<String, Principal>,
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Handlers call the core's services as `state.<service>()`.
impl std::ops::Deref for AppStateInner {
    type Target = App;

    fn deref(&self) -> &App {
        &self.core
    }
}

impl AppState {
    pub fn new(core: App, jwt: Option<JwtConfig>, settings: &Settings) -> Self {
        let db = core.db().clone();
        Self(Arc::new(AppStateInner {
            file_url_key: core.derive_key("inlet:file-url:v1"),
            reads: ReadCache::new(&db),
            event_feeds: EventFeeds::new(db, settings.event_streams),
            core,
            jwt,
            started_at: crate::db::now(),
            tokens: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(TOKEN_CACHE_TTL).build(),
        }))
    }

    /// Verifies a bearer token: a JWT when JWTs are configured and it looks
    /// like one, otherwise an opaque token looked up by its hash.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        let invalid = || ApiError::unauthorized("invalid or expired token");
        if let Some(jwt) = &self.jwt
            && token.matches('.').count() == 2
        {
            return jwt.verify(token).map_err(|_| invalid());
        }
        let hash = hash_token(token);
        if let Some(principal) = self.tokens.get(&hash) {
            return Ok(principal);
        }
        let (row, workspaces) = self.db().token_by_hash(&hash).await?.ok_or_else(invalid)?;
        if let Some(expires_at) = &row.expires_at
            && expires_at.as_str() <= crate::db::now().as_str()
        {
            return Err(invalid());
        }
        let role: Role = row.role.parse().map_err(|e: String| ApiError::internal("stored token has a bad role", e))?;
        let principal = Principal {
            actor: format!("token:{}", row.id),
            org_id: row.organization_id,
            role,
            workspaces: if role >= Role::OrgAdmin { None } else { Some(workspaces) },
        };
        self.tokens.insert(hash, principal.clone());
        Ok(principal)
    }
}
