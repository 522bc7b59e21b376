//! What every handler shares: the database, the keyring, the connectors,
//! token verification, and the background jobs (tests and discoveries) that
//! handlers start but do not wait for.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::connections::settings_of;
use super::dto::Status;
use super::error::ApiError;
use super::metrics::Counters;
use super::read_cache::ReadCache;
use super::schema_cache::SchemaCache;
use crate::auth::{JwtConfig, Principal, Role, hash_token};
use crate::connectors::{Connectors, TestOutcome};
use crate::db::{DataSourceRow, Db, DiscoveredTableRow, HealthCheckRow, Outcome};
use crate::health::{Breaker, HealthSettings, RetryPolicy};
use crate::model::DiscoverRequest;
use crate::plugin::Secrets;
use crate::pool::{Pools, Want};
use crate::settings::Settings;
use crate::vault::{self, DataKey, Keyring, SecretAad};

/// How long a verified opaque token is trusted before it is looked up again:
/// a revocation takes effect within this time.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Tables per page when the server pages through a connector's catalog.
const DISCOVERY_PAGE_SIZE: u32 = 500;

/// How often idle pooled connections are checked for their timeouts.
const POOL_SWEEP: Duration = Duration::from_secs(5);

/// What caused a connection test; stored with the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOrigin {
    Create,
    Update,
    Manual,
    Scheduler,
}

impl CheckOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Manual => "manual",
            Self::Scheduler => "scheduler",
        }
    }

    /// A definition just written gets a new connection, so its connect
    /// stages are really exercised and shown. Manual and scheduled tests
    /// borrow from the pool like everything else: a test that closed a
    /// pooled connection to open another would briefly hold one more than
    /// the pool's size at the server (its backend outlives our close), and
    /// fifty users pressing "test" must not exceed what the pool allows.
    fn wants(self) -> Want {
        match self {
            Self::Scheduler | Self::Manual => Want::Any,
            Self::Create | Self::Update => Want::Fresh,
        }
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<AppStateInner>);

pub struct AppStateInner {
    pub db: Db,
    pub keyring: Keyring,
    pub connectors: Connectors,
    /// Which plugins run, kept in step with the database.
    pub plugins: super::plugin_registry::PluginRegistry,
    pub jwt: Option<JwtConfig>,
    pub counters: Counters,
    /// Health checks: lowest interval, breaker and retry policies, scheduler.
    pub health: HealthSettings,
    /// Signs presigned file URLs.
    pub file_url_key: [u8; 32],
    pub started_at: String,
    /// Wakes the discovery worker when a job is queued.
    pub discovery_queued: tokio::sync::Notify,
    /// Serialized GET answers, until the organization's data sources change.
    pub reads: ReadCache,
    /// Live connector connections per data source.
    pub pools: Arc<Pools>,
    /// Discovered catalogs, parsed, by data source.
    pub schemas: SchemaCache,
    /// Whether a tunnel without a pinned host key learns the first one.
    pub ssh_trust_on_first_use: bool,
    /// Open SSH tunnels, one per data source that uses one.
    pub tunnels: crate::tunnel::Tunnels,
    /// Uploaded files (`/api/v1/storage`).
    pub files: crate::storage::FileStore,
    /// Live event streams: one shared poll per organization, and the caps.
    pub event_feeds: super::event_feed::EventFeeds,
    data_keys: RwLock<HashMap<String, Arc<DataKey>>>,
    tokens: moka::sync::Cache<String, Principal>,
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl AppState {
    pub fn new(
        db: Db,
        keyring: Keyring,
        connectors: Connectors,
        jwt: Option<JwtConfig>,
        settings: &Settings,
        files: crate::storage::FileStore,
    ) -> Self {
        let file_url_key = keyring.derive_key("inlet:file-url:v1");
        let reads = ReadCache::new(&db);
        let event_feeds = super::event_feed::EventFeeds::new(db.clone(), settings.event_streams);
        let pools = Arc::new(Pools::new(settings.pool_max_idle));
        pools.spawn_reaper(POOL_SWEEP);
        let plugins = super::plugin_registry::PluginRegistry::new(&connectors, settings.plugin_trust.clone());
        Self(Arc::new(AppStateInner {
            db,
            keyring,
            connectors,
            plugins,
            jwt,
            counters: Counters::default(),
            health: settings.health.clone(),
            file_url_key,
            started_at: crate::db::now(),
            discovery_queued: tokio::sync::Notify::new(),
            reads,
            pools,
            schemas: SchemaCache::new(settings.schema_cache_mib << 20),
            ssh_trust_on_first_use: settings.ssh_trust_on_first_use,
            tunnels: crate::tunnel::Tunnels::new(),
            files,
            event_feeds,
            data_keys: RwLock::new(HashMap::new()),
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
        let (row, workspaces) = self.db.token_by_hash(&hash).await?.ok_or_else(invalid)?;
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

    /// The organization's data key, unwrapped once and kept in memory.
    pub async fn data_key(&self, org_id: &str) -> Result<Arc<DataKey>, ApiError> {
        if let Some(key) = self.data_keys.read().ok().and_then(|keys| keys.get(org_id).cloned()) {
            return Ok(key);
        }
        let org = self.db.org(org_id).await?.ok_or_else(|| ApiError::not_found("organization"))?;
        let key = Arc::new(
            self.keyring
                .unwrap_data_key(org_id, &org.data_key)
                .map_err(|e| ApiError::internal("cannot unwrap the organization's data key", e))?,
        );
        if let Ok(mut keys) = self.data_keys.write() {
            keys.insert(org_id.to_owned(), key.clone());
        }
        Ok(key)
    }

    /// Seals secret fields for one data source.
    pub async fn seal_secrets(
        &self,
        org_id: &str,
        data_source_id: &str,
        secrets: &Secrets,
    ) -> Result<Vec<(String, String)>, ApiError> {
        let key = self.data_key(org_id).await?;
        secrets
            .iter()
            .map(|(field, value)| {
                let aad = SecretAad { org_id, data_source_id, field };
                vault::seal(&key, &aad, value)
                    .map(|sealed| (field.to_owned(), sealed))
                    .map_err(|e| ApiError::internal("cannot seal a secret", e))
            })
            .collect()
    }

    /// Opens every secret of a data source.
    pub async fn open_secrets(&self, row: &DataSourceRow) -> Result<Secrets, ApiError> {
        let sealed = self.db.sealed_secrets(&row.id).await?;
        self.open_sealed(row, &sealed).await
    }

    /// Tests a data source now (retrying retryable errors when `retry` says
    /// so), records the check, and moves its status (active/failed, unless a
    /// user holds it inactive or in maintenance) and its circuit breaker.
    pub async fn run_test(
        &self,
        row: &DataSourceRow,
        origin: CheckOrigin,
        retry: Option<RetryPolicy>,
    ) -> Result<TestOutcome, ApiError> {
        let mut retries_done = 0;
        let outcome = loop {
            let outcome = self.test_connection(row, origin.wants()).await?;
            let retryable = outcome.error.as_ref().is_some_and(|e| e.retryable);
            match retry {
                Some(policy) if policy.retries(retryable, retries_done) => {
                    tokio::time::sleep(policy.delay(retries_done, rand::random::<f64>())).await;
                    retries_done += 1;
                }
                _ => break outcome,
            }
        };
        self.counters.record_test(&row.organization_id, outcome.ok, outcome.latency_ms);
        let check = HealthCheckRow {
            checked_at: outcome.tested_at.clone(),
            ok: i64::from(outcome.ok),
            response_time_ms: outcome.latency_ms as i64,
            error_kind: outcome.error.as_ref().map(|e| e.kind.as_str().to_owned()),
            message: outcome.error.as_ref().map(|e| e.message.clone()),
            origin: origin.as_str().to_owned(),
        };
        self.db.record_check(&row.id, &check).await?;
        // The breaker as stored now: another check may have moved it meanwhile.
        let Some(current) = self.db.data_source(&row.organization_id, &row.id, false).await? else {
            return Ok(outcome);
        };
        let mut breaker = Breaker::of_row(&current);
        if let Some(state) = breaker.record(outcome.ok, time::OffsetDateTime::now_utc(), &self.health.breaker) {
            self.counters.record_breaker(&row.organization_id, state);
            tracing::warn!(
                data_source = %row.id,
                state = state.as_str(),
                consecutive_failures = breaker.consecutive_failures,
                open_until = ?breaker.open_until.map(crate::db::format_time),
                "circuit breaker changed state"
            );
        }
        let (status, reason) = match &outcome.error {
            None => (Status::Active, None),
            Some(error) => (Status::Failed, Some(format!("{}: {}", error.kind.as_str(), error.message))),
        };
        let last_test = serde_json::to_string(&outcome).map_err(|e| ApiError::internal("cannot store the test", e))?;
        let stored = Outcome {
            status: status.as_str(),
            reason: reason.as_deref(),
            last_test: &last_test,
            breaker: breaker.to_columns(),
        };
        self.db.record_outcome(&row.organization_id, &row.id, &stored).await?;
        Ok(outcome)
    }

    /// The retry policy for a data source's background work.
    pub fn retry_policy(&self, row: &DataSourceRow) -> RetryPolicy {
        let settings = settings_of(row);
        RetryPolicy {
            max_retries: settings.max_retries,
            base_delay: self.health.retry_base_delay,
            max_delay: self.health.retry_max_delay,
        }
    }

    /// Runs `run_test` in the background (after create and config changes).
    pub fn spawn_test(&self, row: DataSourceRow, origin: CheckOrigin) {
        let state = self.clone();
        tokio::spawn(async move {
            if let Err(error) = state.run_test(&row, origin, None).await {
                tracing::warn!(data_source = %row.id, error = %error.message, "background test failed to run");
                let _ = state
                    .db
                    .set_status(&row.organization_id, &row.id, Status::Failed.as_str(), Some(&error.message), None)
                    .await;
            }
        });
    }

    /// Runs one claimed discovery job to the end (succeeded or failed).
    pub(super) async fn run_discovery(&self, row: &DataSourceRow, job_id: &str) -> Result<(), ApiError> {
        let request = DiscoverRequest { page_size: DISCOVERY_PAGE_SIZE, ..DiscoverRequest::default() };
        let outcome = self.discover_catalog(row, request).await?;
        let schemas = match outcome {
            Ok((schemas, _pages)) => schemas,
            Err(failure) => {
                self.counters.record_discovery(&row.organization_id, false);
                self.db.fail_discovery(job_id, failure.error.kind.as_str(), &failure.error.message).await?;
                return Ok(());
            }
        };
        let mut tables = Vec::new();
        for schema in schemas {
            for table in schema.tables {
                let definition =
                    serde_json::to_string(&table).map_err(|e| ApiError::internal("cannot store a table", e))?;
                let kind = serde_json::to_value(table.kind).ok().and_then(|v| v.as_str().map(str::to_owned));
                tables.push(DiscoveredTableRow {
                    schema_name: schema.name.clone(),
                    table_name: table.name,
                    kind: kind.unwrap_or_default(),
                    definition,
                });
            }
        }
        let diff = self.catalog_diff(&row.id, &tables).await?;
        let stored = diff
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ApiError::internal("cannot store a schema diff", e))?;
        let event = diff.as_ref().filter(|diff| !diff.is_empty()).map(|diff| crate::db::NewEvent {
            organization_id: &row.organization_id,
            data_source_id: Some(&row.id),
            kind: crate::events::EventKind::SchemaChanged,
            payload: serde_json::json!({ "job_id": job_id, "summary": diff.summary() }),
        });
        self.db.complete_discovery(job_id, &row.id, &tables, stored.as_deref(), event.as_ref()).await?;
        let next = super::scheduler::next_refresh(row, time::OffsetDateTime::now_utc());
        self.db.schedule_discovery(&row.id, next.as_deref()).await?;
        self.counters.record_discovery(&row.organization_id, true);
        Ok(())
    }
}

impl AppState {
    /// The new catalog's changes against the stored one; `None` for a data
    /// source's first successful discovery.
    async fn catalog_diff(
        &self,
        data_source_id: &str,
        tables: &[DiscoveredTableRow],
    ) -> Result<Option<crate::catalog_diff::SchemaDiff>, ApiError> {
        let (previous, had_success) = self.db.current_catalog(data_source_id).await?;
        if !had_success {
            return Ok(None);
        }
        let parse = |rows: &[DiscoveredTableRow]| -> Vec<(String, crate::model::Table)> {
            // A stored definition that no longer parses counts as absent.
            rows.iter()
                .filter_map(|row| serde_json::from_str(&row.definition).ok().map(|t| (row.schema_name.clone(), t)))
                .collect()
        };
        let (before, after) = (parse(&previous), parse(tables));
        let diff = crate::catalog_diff::diff(
            before.iter().map(|(s, t)| (s.as_str(), t)),
            after.iter().map(|(s, t)| (s.as_str(), t)),
        );
        Ok(Some(diff))
    }
}
