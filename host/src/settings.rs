//! Process-wide settings, read once from the environment (the contracts of
//! DESIGN.md: `INLET_BIND`, `INLET_DATA_DIR`, `INLET_PLUGINS_DIR`, …).

use std::path::PathBuf;

use thiserror::Error;

use crate::runtime::RuntimeConfig;
use crate::sandbox::EgressPolicy;
use crate::source::SandboxSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub data_dir: PathBuf,
    pub plugins_dir: PathBuf,
    pub memory_cap_mib: u32,
    pub sandbox: SandboxSettings,
    /// `INLET_DATABASE_URL`; SQLite in the data dir when unset.
    pub database_url: Option<String>,
    /// The lowest health-check interval users may set (`INLET_MIN_HEALTH_INTERVAL_S`, default 5).
    pub min_health_interval_s: u32,
}

#[derive(Debug, Error)]
#[error("{name}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub reason: String,
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
            sandbox: SandboxSettings {
                egress,
                files_root: var("INLET_FILES_ROOT").map(PathBuf::from),
                denied_paths: vec![data_dir.clone()],
            },
            database_url: var("INLET_DATABASE_URL"),
            min_health_interval_s: match var("INLET_MIN_HEALTH_INTERVAL_S") {
                None => 5,
                Some(text) => text.parse().ok().filter(|s| *s > 0).ok_or(SettingsError {
                    name: "INLET_MIN_HEALTH_INTERVAL_S",
                    reason: format!("`{text}` is not a positive number of seconds"),
                })?,
            },
            data_dir,
        })
    }

    /// The database URL to use.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| crate::db::Db::sqlite_url(&self.data_dir))
    }

    pub fn runtime_config(&self) -> RuntimeConfig {
        RuntimeConfig { cache_dir: self.data_dir.join("cache/components"), memory_cap_mib: self.memory_cap_mib }
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
