//! Connections the host itself opens for HTTP: connectors' wasi:http
//! requests, alert webhooks and the object store. TCP to the given
//! addresses, then TLS with the web PKI roots when a server name is given,
//! each step within the same timeout. Callers decide which addresses are
//! allowed and map failures into their own errors.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use rustls::pki_types::{InvalidDnsNameError, ServerName};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};

/// The web PKI roots, built once for every HTTPS connection.
static TLS: LazyLock<Arc<rustls::ClientConfig>> = LazyLock::new(|| {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(config) => Arc::new(config),
        // The ring provider supports the default versions; this cannot fail
        // short of a broken build, and then no HTTPS request could work.
        Err(error) => panic!("rustls with ring refuses its own defaults: {error}"),
    }
});

/// A connected byte stream, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("connecting timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Tcp(std::io::Error),
    #[error("invalid TLS server name: {0}")]
    Name(InvalidDnsNameError),
    #[error("{0}")]
    Tls(std::io::Error),
}

/// Connects to `addrs`; with `tls_name`, wraps the connection in TLS for
/// that name. Each step (TCP, TLS) gets `timeout`.
pub async fn connect<A: ToSocketAddrs>(
    addrs: A,
    tls_name: Option<&str>,
    timeout: Duration,
) -> Result<Box<dyn Stream>, ConnectError> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addrs))
        .await
        .map_err(|_| ConnectError::Timeout(timeout))?
        .map_err(ConnectError::Tcp)?;
    let _ = tcp.set_nodelay(true);
    let Some(name) = tls_name else { return Ok(Box::new(tcp)) };
    let name = ServerName::try_from(name.to_owned()).map_err(ConnectError::Name)?;
    let tls = tokio::time::timeout(timeout, tokio_rustls::TlsConnector::from(TLS.clone()).connect(name, tcp))
        .await
        .map_err(|_| ConnectError::Timeout(timeout))?
        .map_err(ConnectError::Tls)?;
    Ok(Box::new(tls))
}
