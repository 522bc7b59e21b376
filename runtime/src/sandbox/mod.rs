//! What a connector may reach. Policy is data ([`EgressPolicy`], [`Grants`]);
//! decisions are pure functions, so they are easy to test and to reason about.
//! This module never opens a connection itself: it only resolves and decides.

pub mod egress;
pub mod file_kind;
pub mod file_pool;
pub mod files;
pub mod http;

pub use egress::{EgressError, EgressPolicy};
pub use files::{FileGrant, FileGrantError};
pub use http::HttpGrant;

use std::net::SocketAddr;
use std::time::Duration;

/// Everything one connector instance is granted: exact TCP endpoints, at
/// most one read-only directory, and at most one HTTP origin.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub tcp: Vec<SocketAddr>,
    pub file: Option<FileGrant>,
    pub http: Option<HttpGrant>,
    /// Whether the connector may ask for further endpoints of a clustered
    /// source (`request-endpoint`), and under which policy: only a network
    /// type reached directly (not through an SSH tunnel) may.
    pub further: Option<FurtherEndpoints>,
}

/// How further endpoints are decided: like the data source's own.
#[derive(Debug, Clone, Copy)]
pub struct FurtherEndpoints {
    pub egress: EgressPolicy,
    pub resolve_timeout: Duration,
}

impl Grants {
    /// The socket check the WASI context applies to every bind and connect:
    /// connects only to granted endpoints, binds only the implicit wildcard
    /// bind a connect performs, and nothing over UDP.
    pub fn allows_socket(&self, addr: SocketAddr, usage: wasmtime_wasi::sockets::SocketAddrUse) -> bool {
        allows_socket(&self.tcp, addr, usage)
    }
}

/// [`Grants::allows_socket`] over a list of TCP endpoints (which grows when
/// a connector is granted further ones).
pub fn allows_socket(tcp: &[SocketAddr], addr: SocketAddr, usage: wasmtime_wasi::sockets::SocketAddrUse) -> bool {
    use wasmtime_wasi::sockets::SocketAddrUse;
    match usage {
        SocketAddrUse::TcpConnect => tcp.contains(&addr),
        SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime_wasi::sockets::SocketAddrUse;

    #[test]
    fn only_granted_connects_and_the_implicit_bind_pass() {
        let grants = Grants { tcp: vec!["10.0.0.5:5432".parse().unwrap()], ..Grants::default() };
        assert!(grants.allows_socket("10.0.0.5:5432".parse().unwrap(), SocketAddrUse::TcpConnect));
        assert!(!grants.allows_socket("10.0.0.5:5433".parse().unwrap(), SocketAddrUse::TcpConnect));
        assert!(!grants.allows_socket("10.0.0.6:5432".parse().unwrap(), SocketAddrUse::TcpConnect));
        assert!(grants.allows_socket("0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(grants.allows_socket("[::]:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!grants.allows_socket("0.0.0.0:8080".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!grants.allows_socket("10.0.0.5:5432".parse().unwrap(), SocketAddrUse::TcpListen));
        assert!(!grants.allows_socket("10.0.0.5:5432".parse().unwrap(), SocketAddrUse::UdpSend));
    }
}
