//! What can go wrong with a tunnel, and which error kind each failure is.

use std::fmt;

use super::TunnelStep;

/// Why a tunnel could not be opened or used. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    /// The bastion could not be resolved or did not accept the TCP connection.
    #[error("the SSH bastion is unreachable: {0}")]
    Unreachable(String),
    /// A stage did not finish within the connect timeout.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The bastion refused the credentials.
    #[error("SSH authentication failed: {0}")]
    Auth(String),
    /// The bastion presented a host key other than the pinned one.
    #[error("the SSH host key does not match: expected {expected}, the server presented {presented}")]
    HostKeyMismatch { expected: String, presented: String },
    /// The private key is unreadable, encrypted without a passphrase, or the passphrase is wrong.
    #[error("SSH private key: {0}")]
    Key(String),
    /// The tunnel settings are invalid (for example a malformed pinned fingerprint).
    #[error("SSH tunnel settings: {0}")]
    Config(String),
    /// The bastion could not reach the target (it refused or failed the forwarded connection).
    #[error("the SSH bastion could not open a channel to the target: {0}")]
    Channel(String),
    /// The bastion does not allow port forwarding (to this target) for this user.
    #[error("the SSH bastion does not allow forwarding: {0}")]
    ForwardingDenied(String),
    /// The SSH conversation failed (no common algorithm, bad packet, disconnect…).
    #[error("SSH protocol error: {0}")]
    Protocol(String),
    /// Something failed on this host (the local listener could not be bound, the tunnel is closed).
    #[error("SSH tunnel: {0}")]
    Local(String),
}

impl TunnelError {
    /// The connector error kind this failure maps to: `unreachable`, `timeout`, `auth`,
    /// `config`, `permission`, `protocol` or `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            TunnelError::Unreachable(_) | TunnelError::Channel(_) => "unreachable",
            TunnelError::Timeout(_) => "timeout",
            TunnelError::Auth(_) => "auth",
            // A host key mismatch is something the administrator has to resolve (re-pin the
            // key or find out why it changed): it is never retried into success.
            TunnelError::HostKeyMismatch { .. } | TunnelError::Key(_) | TunnelError::Config(_) => "config",
            TunnelError::ForwardingDenied(_) => "permission",
            TunnelError::Protocol(_) => "protocol",
            TunnelError::Local(_) => "internal",
        }
    }

    /// Whether trying again later may succeed without changing the settings.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            TunnelError::Unreachable(_) | TunnelError::Timeout(_) | TunnelError::Channel(_) | TunnelError::Protocol(_)
        )
    }
}

/// A failed [`Tunnel::open`](super::Tunnel::open) or [`Tunnel::check`](super::Tunnel::check):
/// the error, and the steps run so far (the last one failed).
#[derive(Debug, Clone)]
pub struct TunnelFailure {
    pub error: TunnelError,
    pub steps: Vec<TunnelStep>,
}

impl TunnelFailure {
    /// Shorthand for `self.error.kind()`.
    pub fn kind(&self) -> &'static str {
        self.error.kind()
    }
}

impl fmt::Display for TunnelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.steps.iter().rev().find(|step| !step.passed) {
            Some(step) => write!(f, "{}: {}", step.name, self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for TunnelFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Maps a russh error from a given stage to a [`TunnelError`].
pub(crate) fn from_russh(error: &russh::Error, stage: &str) -> TunnelError {
    use russh::Error as E;
    match error {
        E::ConnectionTimeout | E::KeepaliveTimeout | E::InactivityTimeout | E::Elapsed(_) => {
            TunnelError::Timeout(format!("{stage}: {error}"))
        }
        E::IO(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::NotConnected => TunnelError::Unreachable(format!("{stage}: {io}")),
            std::io::ErrorKind::TimedOut => TunnelError::Timeout(format!("{stage}: {io}")),
            _ => TunnelError::Protocol(format!("{stage}: {io}")),
        },
        E::ChannelOpenFailure(reason) => channel_failure(reason, stage),
        E::NoAuthMethod | E::NotAuthenticated | E::UnsupportedAuthMethod => {
            TunnelError::Auth(format!("{stage}: {error}"))
        }
        E::Keys(keys) => TunnelError::Key(format!("{stage}: {keys}")),
        E::HUP | E::Disconnect | E::SendError | E::RecvError => {
            TunnelError::Unreachable(format!("{stage}: the SSH connection was closed ({error})"))
        }
        _ => TunnelError::Protocol(format!("{stage}: {error}")),
    }
}

fn channel_failure(reason: &russh::ChannelOpenFailure, stage: &str) -> TunnelError {
    use russh::ChannelOpenFailure as F;
    match reason {
        F::AdministrativelyProhibited => {
            TunnelError::ForwardingDenied(format!("{stage}: the bastion prohibits this forwarding"))
        }
        F::ConnectFailed => TunnelError::Channel(format!("{stage}: the bastion could not connect to the target")),
        F::UnknownChannelType => {
            TunnelError::ForwardingDenied(format!("{stage}: the bastion does not support direct-tcpip channels"))
        }
        F::ResourceShortage => TunnelError::Channel(format!("{stage}: the bastion is short of resources")),
        F::Other { code, reason } => TunnelError::Channel(format!("{stage}: refused (code {code}): {reason}")),
    }
}

/// Whether an error means the SSH session is gone (so a new one should be tried).
pub(crate) fn session_gone(error: &russh::Error) -> bool {
    matches!(
        error,
        russh::Error::HUP
            | russh::Error::Disconnect
            | russh::Error::SendError
            | russh::Error::RecvError
            | russh::Error::KeepaliveTimeout
            | russh::Error::InactivityTimeout
            | russh::Error::IO(_)
    )
}
