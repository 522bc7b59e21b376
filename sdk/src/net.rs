//! Sockets inside the sandbox.
//!
//! Name lookup is switched off in the guest: connect to the endpoint the host
//! resolved and allowed ([`crate::ConnectRequestExt::endpoint_addr`]).

use std::net::{SocketAddr, TcpStream};

use crate::{ConnectorError, IoErrorExt};

/// Opens a TCP connection to an allowed endpoint.
pub fn connect_tcp(addr: SocketAddr) -> Result<TcpStream, ConnectorError> {
    let stream = TcpStream::connect(addr).io_context(&format!("connect to {addr}"))?;
    // Small request/response protocols suffer from Nagle's delay; a failure
    // here only costs latency, so it is not an error.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
