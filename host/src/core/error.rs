//! The core's error: what went wrong, in the application's terms. Adapters
//! map it: the HTTP API to a status and a JSON body, the CLI to a line.
//! An internal cause is logged where it happens and never carried on.

use serde_json::Value;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Absent, or not visible to the caller (the message names what).
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with the current state (`code` says how).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// One input field is wrong (`field` is a JSON pointer into the request).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The request cannot be carried out as sent (`code` says why; `details`
    /// name the fields or values involved).
    #[error("{message}")]
    Rejected { code: &'static str, message: String, details: Option<Value> },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Not now: a breaker is open, a resource is unreachable.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String, details: Option<Value> },
    /// An input over its size limit.
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    /// The data source (through its connector) refused or failed what was
    /// asked of it: a statement's error, a timeout, an unreachable server.
    #[error("{}", .0.message)]
    Source(crate::model::ConnectorError),
    /// Our own failure; the cause went to the log.
    #[error("{context}; see the server log")]
    Internal { context: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    pub fn rejected(code: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected { code, message: message.into(), details: None }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    /// A failure whose cause must not reach a caller: logged here.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Self::Internal { context: context.to_owned() }
    }

    /// Adds details to the kinds that carry them.
    pub fn with_details(mut self, more: Value) -> Self {
        if let Self::Rejected { details, .. } | Self::Unavailable { details, .. } = &mut self {
            *details = Some(more);
        }
        self
    }

    /// A stable, machine-readable name of what went wrong.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Conflict { code, .. }
            | Self::Rejected { code, .. }
            | Self::Unavailable { code, .. }
            | Self::TooLarge { code, .. } => code,
            Self::Invalid { .. } => "validation_failed",
            Self::Forbidden(_) => "forbidden",
            Self::Source(error) => error.kind.as_str(),
            Self::Internal { .. } => "internal",
        }
    }
}

impl From<DbError> for Error {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Conflict(message) => Self::conflict("conflict", message),
            DbError::NotFound(message) => Self::NotFound(message),
            other => Self::internal("database error", other),
        }
    }
}
