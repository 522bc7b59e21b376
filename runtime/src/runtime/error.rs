//! Errors of loading plugins and of calling into them.

use thiserror::Error;

use super::budget::{Budgeted, LimitExceeded};
use crate::model::{ErrorKind, Failure};
use crate::plugin::ManifestError;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("plugin `{plugin}`: plugin.wasm is not a valid component: {reason}")]
    Compile { plugin: String, reason: String },
    #[error("plugin `{plugin}`: {reason}")]
    WorldMismatch { plugin: String, reason: String },
    #[error(
        "plugin `{plugin}`: the component defines {count} linear memories; at most {max} are allowed (all of them count against one memory_mib)"
    )]
    TooManyMemories { plugin: String, count: u32, max: u32 },
}

/// Why a call into a connector did not return an answer.
#[derive(Debug, Error)]
pub enum CallError {
    /// The connector ran and reported a failure.
    #[error("{}", .0.error.message)]
    Connector(Failure),
    #[error("the connector did not answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("the connector exceeded its memory limit of {limit_mib} MiB")]
    MemoryLimit { limit_mib: usize },
    /// A per-connection budget (sockets, connections, handles, CPU) or the
    /// plugin's bound on concurrent calls.
    #[error(transparent)]
    ResourceLimit(LimitExceeded),
    #[error("the connector crashed: {0}")]
    Trap(String),
    #[error("cannot start the connector: {0}")]
    Instantiate(String),
    #[error("the connection is unusable after an earlier failure")]
    Poisoned,
}

impl CallError {
    /// The failure to report to users, with a kind the platform acts on.
    pub fn into_failure(self) -> Failure {
        match self {
            Self::Connector(failure) => failure,
            Self::Timeout { .. } => Failure::new(ErrorKind::Timeout, self.to_string(), true),
            // Waiting for a busy plugin may succeed later; a breach will not.
            Self::ResourceLimit(ref limit) => {
                let retryable = limit.resource == Budgeted::Calls;
                Failure::new(ErrorKind::Internal, self.to_string(), retryable)
            }
            other => Failure::new(ErrorKind::Internal, other.to_string(), false),
        }
    }
}
