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
