//! Sockets inside the sandbox.
//!
//! Name lookup is switched off in the guest: connect to the endpoint the host
//! resolved and allowed ([`crate::ConnectRequestExt::endpoint_addr`]).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::{ConnectorError, IoErrorExt};

/// Opens a TCP connection to an allowed endpoint.
pub fn connect_tcp(addr: SocketAddr) -> Result<TcpStream, ConnectorError> {
    let stream = TcpStream::connect(addr).io_context(&format!("connect to {addr}"))?;
    // Small request/response protocols suffer from Nagle's delay; a failure
    // here only costs latency, so it is not an error.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Bounds every read and write on the socket; `None` or zero means no bound.
/// A socket that cannot take a timeout (some WASI builds) still ends when the
/// host's per-call deadline fires, so a failure here is not an error.
pub fn set_timeouts(socket: &TcpStream, timeout: Option<Duration>) {
    let timeout = timeout.filter(|t| !t.is_zero());
    let _ = socket.set_read_timeout(timeout);
    let _ = socket.set_write_timeout(timeout);
}

/// Asks the host for one more endpoint of a clustered source (a broker,
/// replica-set member or node the source named), by the name the source
/// gave. The host resolves it under the data source's egress policy, allows
/// exactly the address it returns for this connection and records a step;
/// connect to that address with [`connect_tcp`]. A name the policy refuses is
/// a `permission` error; the host also bounds how many a connection may ask for.
pub fn request_endpoint(host: &str, port: u16) -> Result<SocketAddr, ConnectorError> {
    let endpoint = crate::bindings::inlet::connector::host::request_endpoint(host, port)?;
    endpoint_addr(&endpoint)
}

/// The socket address of an endpoint the host resolved (an IP literal).
fn endpoint_addr(endpoint: &crate::Endpoint) -> Result<SocketAddr, ConnectorError> {
    let ip: std::net::IpAddr = endpoint.host.parse().map_err(|_| {
        ConnectorError::protocol(format!("the host granted `{}`, which is not an IP address", endpoint.host))
    })?;
    Ok(SocketAddr::new(ip, endpoint.port))
}
