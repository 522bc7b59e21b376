//! Persistence: organizations, tokens, data sources, secrets (sealed), health
//! history and discovered schemas, in SQLite (embedded default) or PostgreSQL
//! (shared by replicas) through one set of portable queries (sqlx `Any`).
//!
//! It stores what it is given: it never decrypts a secret, checks a role or
//! calls a connector.

mod alerts;
mod data_sources;
mod discovery;
mod events;
mod generations;
mod health;
mod orgs;
mod plugins;
mod sql;
mod storage;

pub use alerts::{
    AlertChannelRow, AlertDeliveryRow, AttemptResult, DispatchInput, DispatchPlan, Dispatched, DueDelivery, FlapRow,
    NewDelivery, PlannedEvent,
};
pub use data_sources::{BreakerColumns, DataSourceRow, ListFilter, NewDataSource, Outcome, SideData, SortKey};
pub use discovery::{DiscoveredTableRow, DiscoveryJobRow, StagedTable, StoredDigest};
pub use events::{EventFilter, EventRow, NewEvent};
pub use health::{HealthCheckRow, HealthStats};
pub use orgs::{NewToken, OrgRow, TokenRow, WorkspaceRow};
pub use plugins::{Audit, AuditRow, HELD_REASON, NewPlugin, PluginPackageRow, PluginRow};
pub use storage::StoredFileRow;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL `{0}`: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
}

impl DbError {
    /// Maps a unique-constraint violation to [`DbError::Conflict`] with `message`.
    pub(crate) fn conflict_on_unique(error: sqlx::Error, message: impl FnOnce() -> String) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(message()),
            _ => Self::Sqlx(error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    generations: Arc<generations::Generations>,
    event_signal: Arc<tokio::sync::Notify>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    /// A transaction that reads rows and then claims them (moves their
    /// schedule or status). On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred one that reads first fails with
    /// "database is locked" (BUSY_SNAPSHOT) whenever another connection
    /// wrote meanwhile, instead of waiting its turn. PostgreSQL locks the
    /// claimed rows with `FOR UPDATE SKIP LOCKED` instead.
    pub(crate) async fn begin_claim(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, DbError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The embedded default: `<data dir>/inlet.db`.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("inlet.db").display())
    }

    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(redact_url(url)));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Per connection: FKs enforce cascades; a busy timeout
                        // instead of SQLITE_BUSY under concurrent writers.
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL").await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
        } else {
            POSTGRES_MIGRATIONS.run(&pool).await?;
        }
        Ok(Self { pool, backend, generations: Arc::default(), event_signal: Arc::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The organization's change counter: it moves after every committed
    /// write to the organization's data sources made through this `Db`.
    pub fn generation(&self, org_id: &str) -> u64 {
        self.generations.current(org_id)
    }

    /// Whether [`Db::generation`] sees every write: true for SQLite, which
    /// one server process owns; false for PostgreSQL, where other replicas
    /// write too.
    pub fn sees_every_write(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    fn changed(&self, org_id: &str) {
        self.generations.bump(org_id);
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:****{}", &url[..scheme_end + 3], &credentials[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Now, as stored: UTC RFC 3339 with milliseconds, which sorts as text.
pub fn now() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

pub fn format_time(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&format).unwrap_or_else(|_| at.unix_timestamp().to_string())
}

pub fn parse_time(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Free text from connectors and the outside world, made storable: PostgreSQL
/// text cannot hold NUL, and a hostile connector may send one.
pub fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// A new UUID v7 (time-ordered) as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
pub(crate) async fn test_db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(&Db::sqlite_url(dir.path())).await.expect("sqlite");
    (db, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(redact_url("postgres://inlet:secret@db:5432/inlet"), "postgres://inlet:****@db:5432/inlet");
        assert_eq!(redact_url("postgres://db/inlet"), "postgres://db/inlet");
    }

    #[test]
    fn times_sort_as_text() {
        let a = format_time(time::macros::datetime!(2026-01-02 03:04:05.6 UTC));
        assert_eq!(a, "2026-01-02T03:04:05.600Z");
        assert!(parse_time(&a).is_some());
        assert!(a < format_time(time::macros::datetime!(2026-01-02 03:04:06 UTC)));
    }

    #[tokio::test]
    async fn sqlite_migrates_in_wal_mode() {
        let (db, _dir) = test_db().await;
        let mode: (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(db.pool()).await.expect("pragma");
        assert_eq!(mode.0.to_lowercase(), "wal");
    }
}
