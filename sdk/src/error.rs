//! Constructors for [`ConnectorError`] and the mapping from I/O errors to error kinds.

use crate::{ConnectorError, ErrorKind};

impl ConnectorError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let retryable = matches!(kind, ErrorKind::Unreachable | ErrorKind::Timeout);
        Self { kind, message: message.into(), retryable }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unreachable, message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permission, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Overrides whether the host may retry.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

/// Turns an I/O error into a [`ConnectorError`] of the matching kind, with context.
pub trait IoErrorExt<T> {
    /// For sockets: refused/reset are `unreachable`, a sandbox denial too.
    fn io_context(self, context: &str) -> Result<T, ConnectorError>;
    /// For files: a denial is `permission`, a directory where a file was
    /// expected is `config`.
    fn file_context(self, context: &str) -> Result<T, ConnectorError>;
}

impl<T> IoErrorExt<T> for std::io::Result<T> {
    fn io_context(self, context: &str) -> Result<T, ConnectorError> {
        self.map_err(|error| io_error(&error, context))
    }

    fn file_context(self, context: &str) -> Result<T, ConnectorError> {
        self.map_err(|error| file_error(&error, context))
    }
}

/// The kind a failed file operation maps to.
pub fn file_error(error: &std::io::Error, context: &str) -> ConnectorError {
    use std::io::ErrorKind as Io;
    let message = format!("{context}: {error}");
    match error.kind() {
        Io::NotFound => ConnectorError::not_found(message),
        Io::PermissionDenied => ConnectorError::permission(message),
        Io::IsADirectory | Io::NotADirectory => ConnectorError::config(message),
        Io::InvalidData | Io::UnexpectedEof => ConnectorError::protocol(message),
        Io::Interrupted | Io::TimedOut | Io::WouldBlock => ConnectorError::timeout(message),
        _ => ConnectorError::internal(message),
    }
}

/// The kind a failed socket or file operation maps to.
pub fn io_error(error: &std::io::Error, context: &str) -> ConnectorError {
    use std::io::ErrorKind as Io;
    let message = format!("{context}: {error}");
    match error.kind() {
        Io::TimedOut | Io::WouldBlock => ConnectorError::timeout(message),
        Io::NotFound => ConnectorError::not_found(message),
        // The sandbox answers a connect to an address it does not allow with
        // "permission denied": for the user that address is unreachable.
        Io::PermissionDenied => {
            ConnectorError::unreachable(format!("{message} (address not allowed by the sandbox)")).retryable(false)
        }
        Io::ConnectionRefused
        | Io::ConnectionReset
        | Io::ConnectionAborted
        | Io::NotConnected
        | Io::AddrNotAvailable
        | Io::BrokenPipe
        | Io::UnexpectedEof
        | Io::HostUnreachable
        | Io::NetworkUnreachable
        | Io::NetworkDown => ConnectorError::unreachable(message),
        Io::InvalidData | Io::InvalidInput => ConnectorError::protocol(message),
        _ => ConnectorError::internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_kinds() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let error = io_error(&refused, "connect");
        assert_eq!(error.kind, ErrorKind::Unreachable);
        assert!(error.retryable);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let error = io_error(&denied, "connect");
        assert_eq!(error.kind, ErrorKind::Unreachable);
        assert!(!error.retryable);
        assert!(error.message.starts_with("connect: "));
    }

    #[test]
    fn file_errors_map_to_file_kinds() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(file_error(&denied, "open").kind, ErrorKind::Permission);
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(file_error(&missing, "open").kind, ErrorKind::NotFound);
    }

    #[test]
    fn only_transient_kinds_are_retryable_by_default() {
        assert!(ConnectorError::timeout("t").retryable);
        assert!(!ConnectorError::auth("a").retryable);
        assert!(!ConnectorError::config("c").retryable);
    }
}
