//! Process-wide settings, read once from the environment (the contracts of
//! DESIGN.md: `INLET_BIND`, `INLET_DATA_DIR`, `INLET_PLUGINS_DIR`, …).

use std::path::PathBuf;

use thiserror::Error;

use std::time::Duration;

use crate::health::{BreakerPolicy, HealthSettings, SchedulerConfig};
use crate::plugin::package::TrustPolicy;
use crate::runtime::{BudgetSettings, RuntimeConfig};
use crate::sandbox::EgressPolicy;
use crate::sandbox::files::{FileRoots, FilesPolicy};
use crate::source::SandboxSettings;
use crate::storage::{Backend, S3Settings};

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub data_dir: PathBuf,
    pub plugins_dir: PathBuf,
    pub memory_cap_mib: u32,
    /// Per-connection resource budgets: `INLET_PLUGIN_SOCKETS` (16),
    /// `INLET_MAX_PLUGIN_SOCKETS` (256), `INLET_PLUGIN_HANDLES` (1024),
    /// `INLET_MAX_PLUGIN_HANDLES` (16384), `INLET_PLUGIN_CONNECTIONS_PER_S`
    /// (20), `INLET_PLUGIN_CALL_CPU_S` (60), `INLET_PLUGIN_CONCURRENT_CALLS` (16),
    /// `INLET_SERVER_SOCKETS` (half of `RLIMIT_NOFILE` past 256 reserved fds).
    pub budgets: BudgetSettings,
    pub sandbox: SandboxSettings,
    /// `INLET_DATABASE_URL`; SQLite in the data dir when unset.
    pub database_url: Option<String>,
    /// Health checks: `INLET_MIN_HEALTH_INTERVAL_S` (5), `INLET_HEALTH_SCHEDULER`
    /// (on/off), `INLET_HEALTH_TICK_MS` (1000), `INLET_HEALTH_CONCURRENCY` (16),
    /// `INLET_HEALTH_RETENTION_DAYS` (30), `INLET_BREAKER_THRESHOLD` (5),
    /// `INLET_BREAKER_COOLDOWN_S` (60), `INLET_BREAKER_MAX_COOLDOWN_S` (900),
    /// `INLET_RETRY_BASE_MS` (500), `INLET_DISCOVERY_CONCURRENCY` (4),
    /// `INLET_MIN_SCHEMA_REFRESH_S` (60).
    pub health: HealthSettings,
    /// `INLET_POOL_MAX_IDLE` (1000): idle pooled connections kept across all
    /// data sources; beyond it a returned connection is closed.
    pub pool_max_idle: usize,
    /// `INLET_SCHEMA_CACHE_MIB` (64): memory for cached schema snapshots.
    pub schema_cache_mib: u64,
    /// `INLET_SSH_TRUST_ON_FIRST_USE=allow|deny` (deny): whether a tunnel
    /// without a pinned host key may learn (and then pin) the first one seen.
    pub ssh_trust_on_first_use: bool,
    /// `INLET_STORAGE_MAX_UPLOAD_MIB` (1024): the largest upload accepted.
    pub storage_max_upload_bytes: u64,
    /// `INLET_STORAGE_BACKEND=local|s3` (local): where uploaded files live.
    pub storage_backend: Backend,
    /// `INLET_TRUSTED_PLUGIN_KEYS` (comma-separated base64 ed25519 public
    /// keys) and `INLET_ALLOW_UNSIGNED_PLUGINS=allow|deny` (deny): which
    /// plugin packages may be installed.
    pub plugin_trust: TrustPolicy,
    /// `INLET_SSE_MAX_STREAMS_PER_TOKEN` (5) and `INLET_SSE_MAX_STREAMS_PER_ORG`
    /// (200): open event streams allowed at once; one more is 429.
    pub event_streams: StreamLimits,
}

#[derive(Debug, Error)]
#[error("{name}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub reason: String,
}

/// How many live event streams may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub per_token: usize,
    pub per_org: usize,
}

impl Settings {
    /// Reads the environment. `dev_defaults` (for `inlet plugin exec`, a tool
    /// run by a connector's author on their own machine) allows loopback
    /// unless `INLET_EGRESS_LOOPBACK=deny`.
    pub fn from_env(dev_defaults: bool) -> Result<Self, SettingsError> {
        let data_dir = PathBuf::from(var("INLET_DATA_DIR").unwrap_or_else(|| ".inlet".into()));
        let egress = EgressPolicy {
            allow_loopback: allow_deny("INLET_EGRESS_LOOPBACK", dev_defaults)?,
            allow_private: allow_deny("INLET_EGRESS_PRIVATE", EgressPolicy::default().allow_private)?,
        };
        let memory_cap_mib = match var("INLET_MAX_PLUGIN_MEMORY_MIB") {
            None => 1024,
            Some(text) => text.parse().ok().filter(|mib| *mib > 0).ok_or(SettingsError {
                name: "INLET_MAX_PLUGIN_MEMORY_MIB",
                reason: format!("`{text}` is not a positive number of MiB"),
            })?,
        };
        Ok(Self {
            bind: var("INLET_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            plugins_dir: PathBuf::from(var("INLET_PLUGINS_DIR").unwrap_or_else(|| "target/plugins".into())),
            memory_cap_mib,
            budgets: budget_settings()?,
            sandbox: SandboxSettings {
                egress,
                files: FilesPolicy { roots: files_roots(dev_defaults), denied: vec![data_dir.clone()] },
                http_max_response_bytes: positive("INLET_HTTP_MAX_RESPONSE_MIB", 64)? << 20,
            },
            database_url: var("INLET_DATABASE_URL"),
            health: health_settings()?,
            pool_max_idle: positive("INLET_POOL_MAX_IDLE", 1000)? as usize,
            schema_cache_mib: positive("INLET_SCHEMA_CACHE_MIB", 64)?,
            ssh_trust_on_first_use: allow_deny("INLET_SSH_TRUST_ON_FIRST_USE", false)?,
            storage_max_upload_bytes: positive("INLET_STORAGE_MAX_UPLOAD_MIB", 1024)? << 20,
            storage_backend: storage_backend(&data_dir)?,
            plugin_trust: plugin_trust()?,
            event_streams: StreamLimits {
                per_token: positive("INLET_SSE_MAX_STREAMS_PER_TOKEN", 5)? as usize,
                per_org: positive("INLET_SSE_MAX_STREAMS_PER_ORG", 200)? as usize,
            },
            data_dir,
        })
    }

    /// Where local copies of a bucket's files are kept.
    pub fn storage_cache_dir(&self) -> PathBuf {
        self.data_dir.join("cache/storage")
    }

    /// The embedded SQLite database file, when that is the store.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.database_url.is_none().then(|| self.data_dir.join("inlet.db"))
    }

    /// What must stay private to the server: the data dir, the SQLite
    /// database and the master key file (those that exist).
    pub fn private_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.data_dir.clone(), self.data_dir.join(crate::vault::master::KEY_FILE_NAME)];
        paths.extend(self.sqlite_file());
        paths.into_iter().filter(|p| p.exists()).collect()
    }

    /// The database URL to use.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| crate::db::Db::sqlite_url(&self.data_dir))
    }

    pub fn runtime_config(&self) -> RuntimeConfig {
        RuntimeConfig {
            cache_dir: self.data_dir.join("cache/components"),
            memory_cap_mib: self.memory_cap_mib,
            budgets: self.budgets,
        }
    }
}

/// `INLET_FILES_ROOT` (directories separated by `:`): where file sources
/// may read server paths; unset, stored files only. The local tools
/// (`dev_defaults`: `inlet plugin exec`/`check`) read the user's own files
/// anywhere unless a root is set.
fn files_roots(dev_defaults: bool) -> FileRoots {
    match FileRoots::parse(var("INLET_FILES_ROOT").as_deref()) {
        FileRoots::StoredOnly if dev_defaults => FileRoots::Anywhere,
        roots => roots,
    }
}

fn budget_settings() -> Result<BudgetSettings, SettingsError> {
    let defaults = BudgetSettings::default();
    let count = |name: &'static str, default: u32| positive(name, u64::from(default)).map(|n| n as u32);
    Ok(BudgetSettings {
        sockets: count("INLET_PLUGIN_SOCKETS", defaults.sockets)?,
        max_sockets: count("INLET_MAX_PLUGIN_SOCKETS", defaults.max_sockets)?,
        handles: count("INLET_PLUGIN_HANDLES", defaults.handles)?,
        max_handles: count("INLET_MAX_PLUGIN_HANDLES", defaults.max_handles)?,
        connections_per_second: count("INLET_PLUGIN_CONNECTIONS_PER_S", defaults.connections_per_second)?,
        cpu_per_call: Duration::from_secs(positive("INLET_PLUGIN_CALL_CPU_S", defaults.cpu_per_call.as_secs())?),
        concurrent_calls: count("INLET_PLUGIN_CONCURRENT_CALLS", defaults.concurrent_calls)?,
        server_sockets: count("INLET_SERVER_SOCKETS", defaults.server_sockets)?,
    })
}

fn plugin_trust() -> Result<TrustPolicy, SettingsError> {
    let mut trusted_keys = Vec::new();
    for key in var("INLET_TRUSTED_PLUGIN_KEYS").unwrap_or_default().split(',').filter(|k| !k.trim().is_empty()) {
        let parsed = crate::plugin::signature::parse_public_key(key)
            .map_err(|e| SettingsError { name: "INLET_TRUSTED_PLUGIN_KEYS", reason: e.to_string() })?;
        trusted_keys.push(parsed);
    }
    Ok(TrustPolicy { trusted_keys, allow_unsigned: allow_deny("INLET_ALLOW_UNSIGNED_PLUGINS", false)? })
}

fn storage_backend(data_dir: &std::path::Path) -> Result<Backend, SettingsError> {
    match var("INLET_STORAGE_BACKEND").as_deref() {
        None | Some("local") => Ok(Backend::Local(data_dir.join("storage"))),
        Some("s3") => Ok(Backend::S3(S3Settings {
            bucket: var("INLET_STORAGE_S3_BUCKET").ok_or(SettingsError {
                name: "INLET_STORAGE_S3_BUCKET",
                reason: "required when INLET_STORAGE_BACKEND=s3".into(),
            })?,
            region: var("INLET_STORAGE_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
            endpoint: var("INLET_STORAGE_S3_ENDPOINT"),
            prefix: var("INLET_STORAGE_S3_PREFIX"),
            access_key_id: var("INLET_STORAGE_S3_ACCESS_KEY_ID"),
            secret_access_key: var("INLET_STORAGE_S3_SECRET_ACCESS_KEY"),
            session_token: var("INLET_STORAGE_S3_SESSION_TOKEN"),
        })),
        Some(other) => Err(SettingsError {
            name: "INLET_STORAGE_BACKEND",
            reason: format!("`{other}` is neither `local` nor `s3`"),
        }),
    }
}

fn health_settings() -> Result<HealthSettings, SettingsError> {
    let defaults = HealthSettings::default();
    let scheduler = SchedulerConfig {
        enabled: match var("INLET_HEALTH_SCHEDULER").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(SettingsError {
                    name: "INLET_HEALTH_SCHEDULER",
                    reason: format!("`{other}` is neither `on` nor `off`"),
                });
            }
        },
        tick: Duration::from_millis(positive("INLET_HEALTH_TICK_MS", 1000)?),
        batch: defaults.scheduler.batch,
        concurrency: positive("INLET_HEALTH_CONCURRENCY", 16)? as usize,
        retention: Duration::from_secs(positive("INLET_HEALTH_RETENTION_DAYS", 30)? * 86_400),
        discovery_concurrency: positive("INLET_DISCOVERY_CONCURRENCY", 4)? as usize,
    };
    Ok(HealthSettings {
        min_interval_s: positive("INLET_MIN_HEALTH_INTERVAL_S", 5)? as u32,
        min_schema_refresh_s: positive("INLET_MIN_SCHEMA_REFRESH_S", 60)? as u32,
        breaker: BreakerPolicy {
            failure_threshold: positive("INLET_BREAKER_THRESHOLD", 5)? as u32,
            base_cooldown: Duration::from_secs(positive("INLET_BREAKER_COOLDOWN_S", 60)?),
            max_cooldown: Duration::from_secs(positive("INLET_BREAKER_MAX_COOLDOWN_S", 900)?),
        },
        retry_base_delay: Duration::from_millis(positive("INLET_RETRY_BASE_MS", 500)?),
        retry_max_delay: defaults.retry_max_delay,
        scheduler,
    })
}

/// A positive whole number from the environment, or `default` when unset.
fn positive(name: &'static str, default: u64) -> Result<u64, SettingsError> {
    match var(name) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .ok()
            .filter(|n: &u64| *n > 0 && *n <= u64::from(u32::MAX))
            .ok_or(SettingsError { name, reason: format!("`{text}` is not a positive whole number") }),
    }
}

pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn allow_deny(name: &'static str, default: bool) -> Result<bool, SettingsError> {
    match var(name).as_deref() {
        None => Ok(default),
        Some("allow") => Ok(true),
        Some("deny") => Ok(false),
        Some(other) => Err(SettingsError { name, reason: format!("`{other}` is neither `allow` nor `deny`") }),
    }
}
