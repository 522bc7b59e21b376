//! Further endpoints of a clustered source (`request-endpoint`, WIT 0.2.0):
//! a Kafka broker from metadata, a replica-set member from `hello`, a peer
//! or a node the source itself named. The guest never resolves names: the
//! host resolves the name under the data source's egress policy, adds
//! exactly one of the allowed addresses to the store's TCP grants, and
//! records a step. A connection may ask for at most
//! [`MAX_FURTHER_ENDPOINTS`] distinct `host:port` pairs (each ask counts,
//! refused or not, so a guest cannot turn the host into a resolver).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use wasmtime_wasi::sockets::SocketAddrUse;

use crate::model::{CheckStep, ConnectorError, ErrorKind};
use crate::sandbox::egress::EgressError;
use crate::sandbox::{FurtherEndpoints, Grants, allows_socket};

/// Distinct `host:port` pairs one connection may ask for.
pub const MAX_FURTHER_ENDPOINTS: usize = 32;

/// Longest host name asked for (DNS's limit).
const MAX_HOST_BYTES: usize = 253;

/// The TCP endpoints a store may connect to, shared between the socket
/// check and the store so that a grant takes effect at once.
#[derive(Debug, Clone, Default)]
pub struct TcpAllowList(Arc<RwLock<Vec<SocketAddr>>>);

impl TcpAllowList {
    pub fn new(initial: &[SocketAddr]) -> Self {
        Self(Arc::new(RwLock::new(initial.to_vec())))
    }

    pub fn allows(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        // A poisoned lock only means a writer panicked mid-push; the list
        // itself is still a list of granted addresses.
        let granted = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        allows_socket(&granted, addr, usage)
    }

    fn grant(&self, addr: SocketAddr) {
        let mut granted = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !granted.contains(&addr) {
            granted.push(addr);
        }
    }
}

/// One store's further endpoints: what it may still ask for, what it was
/// granted, and the steps not yet reported.
#[derive(Debug)]
pub struct Endpoints {
    allow: TcpAllowList,
    policy: Option<FurtherEndpoints>,
    /// Every distinct ask, with the address granted for it.
    asked: Vec<((String, u16), Option<SocketAddr>)>,
    steps: Vec<CheckStep>,
}

impl Endpoints {
    pub fn new(grants: &Grants, allow: TcpAllowList) -> Self {
        Self { allow, policy: grants.further, asked: Vec::new(), steps: Vec::new() }
    }

    /// Resolves and grants `host:port`, or says why not. Asking again for a
    /// pair already granted answers the same address without a new lookup.
    pub async fn request(&mut self, host: &str, port: u16) -> Result<SocketAddr, ConnectorError> {
        let refuse = |kind, message: String| ConnectorError { kind, message, retryable: false };
        let Some(policy) = self.policy else {
            return Err(refuse(
                ErrorKind::Unsupported,
                "this connection cannot be granted further endpoints: only a network data source reached \
                 directly (not through an SSH tunnel) can"
                    .into(),
            ));
        };
        validate(host, port).map_err(|message| refuse(ErrorKind::Config, message))?;
        let key = (host.to_ascii_lowercase(), port);
        if let Some((_, granted)) = self.asked.iter().find(|(asked, _)| *asked == key) {
            return granted.ok_or_else(|| {
                refuse(ErrorKind::Permission, format!("{host}:{port} was refused earlier on this connection"))
            });
        }
        if self.asked.len() >= MAX_FURTHER_ENDPOINTS {
            return Err(refuse(
                ErrorKind::Permission,
                format!("resource limit: endpoints (at most {MAX_FURTHER_ENDPOINTS} further endpoints per connection)"),
            ));
        }
        let started = Instant::now();
        let resolved = policy.egress.resolve(host, port, policy.resolve_timeout).await;
        let granted = resolved.as_ref().ok().and_then(|addrs| addrs.first().copied());
        self.asked.push((key, granted));
        self.steps.push(CheckStep {
            name: format!("endpoint {host}:{port}"),
            passed: granted.is_some(),
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            message: Some(match (&resolved, granted) {
                (_, Some(addr)) => format!("granted {addr}"),
                (Err(error), _) => error.to_string(),
                (Ok(_), None) => "no address".to_owned(),
            }),
        });
        match (resolved, granted) {
            (_, Some(addr)) => {
                self.allow.grant(addr);
                Ok(addr)
            }
            (Err(error), _) => Err(egress_error(error)),
            (Ok(_), None) => Err(refuse(ErrorKind::Unreachable, format!("`{host}` has no address"))),
        }
    }

    /// The steps recorded since the last call, for the call's report.
    pub fn take_steps(&mut self) -> Vec<CheckStep> {
        std::mem::take(&mut self.steps)
    }
}

/// A host name or an IP literal (IPv6 in brackets or not), and a port.
fn validate(host: &str, port: u16) -> Result<(), String> {
    let shown = crate::runtime::bounds::prefix(host, 64);
    if port == 0 {
        return Err(format!("port 0 is not a port (asked for `{shown}`)"));
    }
    if host.is_empty() || host.len() > MAX_HOST_BYTES {
        return Err(format!("a host name has 1 to {MAX_HOST_BYTES} bytes (asked for `{shown}`)"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
    if !host.chars().all(allowed) {
        return Err(format!("`{shown}` is not a host name or an IP address"));
    }
    Ok(())
}

fn egress_error(error: EgressError) -> ConnectorError {
    let (kind, retryable) = match &error {
        EgressError::Denied { .. } => (ErrorKind::Permission, false),
        EgressError::Resolve { .. } => (ErrorKind::Unreachable, true),
        EgressError::ResolveTimeout { .. } => (ErrorKind::Timeout, true),
    };
    ConnectorError { kind, message: error.to_string(), retryable }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sandbox::EgressPolicy;

    fn endpoints(allow_loopback: bool) -> Endpoints {
        let further = FurtherEndpoints {
            egress: EgressPolicy { allow_loopback, allow_private: true },
            resolve_timeout: Duration::from_secs(2),
        };
        let grants = Grants { further: Some(further), ..Grants::default() };
        Endpoints::new(&grants, TcpAllowList::default())
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
    }

    #[test]
    fn a_granted_endpoint_is_added_to_the_socket_check_with_a_step() {
        let mut endpoints = endpoints(true);
        let allow = endpoints.allow.clone();
        let target: SocketAddr = "127.0.0.1:9092".parse().unwrap();
        assert!(!allow.allows(target, SocketAddrUse::TcpConnect));
        assert_eq!(block_on(endpoints.request("127.0.0.1", 9092)).unwrap(), target);
        assert!(allow.allows(target, SocketAddrUse::TcpConnect));
        assert!(!allow.allows("127.0.0.1:9093".parse().unwrap(), SocketAddrUse::TcpConnect));
        let steps = endpoints.take_steps();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].name, "endpoint 127.0.0.1:9092");
        assert!(steps[0].passed);
        // The same ask again: the same answer, no new step.
        assert_eq!(block_on(endpoints.request("127.0.0.1", 9092)).unwrap(), target);
        assert!(endpoints.take_steps().is_empty());
    }

    #[test]
    fn the_egress_policy_decides_and_refusals_are_remembered() {
        let mut endpoints = endpoints(false);
        let refused = block_on(endpoints.request("127.0.0.1", 9092)).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Permission);
        assert!(refused.message.contains("loopback"), "{}", refused.message);
        let metadata = block_on(endpoints.request("169.254.169.254", 80)).unwrap_err();
        assert!(metadata.message.contains("metadata"), "{}", metadata.message);
        let again = block_on(endpoints.request("127.0.0.1", 9092)).unwrap_err();
        assert!(again.message.contains("refused earlier"), "{}", again.message);
        let steps = endpoints.take_steps();
        assert_eq!(steps.iter().filter(|s| !s.passed).count(), 2);
        assert!(!endpoints.allow.allows("127.0.0.1:9092".parse().unwrap(), SocketAddrUse::TcpConnect));
    }

    #[test]
    fn asks_are_bounded_and_checked() {
        let mut endpoints = endpoints(true);
        for port in 1..=MAX_FURTHER_ENDPOINTS as u16 {
            block_on(endpoints.request("127.0.0.1", port)).unwrap();
        }
        let over = block_on(endpoints.request("127.0.0.1", 60_000)).unwrap_err();
        assert!(over.message.contains("resource limit: endpoints"), "{}", over.message);
        for (host, port) in [("", 1), ("127.0.0.1", 0), ("a b", 1), ("x\n", 1)] {
            assert_eq!(block_on(endpoints.request(host, port)).unwrap_err().kind, ErrorKind::Config, "{host:?}");
        }
        assert_eq!(block_on(endpoints.request(&"a".repeat(300), 1)).unwrap_err().kind, ErrorKind::Config);
    }

    #[test]
    fn without_a_policy_nothing_is_granted() {
        let mut endpoints = Endpoints::new(&Grants::default(), TcpAllowList::default());
        assert_eq!(block_on(endpoints.request("127.0.0.1", 1)).unwrap_err().kind, ErrorKind::Unsupported);
    }
}
