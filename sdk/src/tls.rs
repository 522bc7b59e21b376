//! TLS for protocols that upgrade a plain TCP socket (PostgreSQL's SSLRequest,
//! MySQL's SSLRequest, STARTTLS, …) or start encrypted (Redis over TLS).
//!
//! Behind the `tls` cargo feature, so that connectors without TLS do not pull
//! in ring. rustls with the ring provider is the only rustls setup that builds
//! for wasm32-wasip2 (aws-lc-rs never does); ring's C code needs a
//! wasm-capable clang, which `cargo xtask` configures.
//!
//! The connector does its protocol's negotiation on the plain socket, then
//! calls [`upgrade`] and keeps talking over the returned [`Stream`]:
//!
//! ```no_run
//! # fn demo(socket: std::net::TcpStream) -> Result<(), inlet_sdk::ConnectorError> {
//! use inlet_sdk::tls::{self, TlsMode, TlsOptions};
//! let options = TlsOptions {
//!     mode: TlsMode::VerifyFull,
//!     root_cert_pem: None,                 // the Mozilla roots
//!     host: "db.example.com",              // SNI and the name check
//!     endpoint_ip: "192.0.2.7".parse().unwrap(),
//! };
//! // … the protocol's "please switch to TLS" exchange on `socket` …
//! let (stream, version) = tls::upgrade(socket, &options)?;
//! # let _ = (stream, version); Ok(()) }
//! ```

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub use rustls;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};
use serde::Deserialize;

use crate::ConnectorError;

/// How much TLS a connection wants. Deserializes from libpq's spelling
/// (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`) and MySQL's
/// (`disabled`, `preferred`, `required`, `verify_ca`, `verify_identity`), so a
/// connector can keep its ecosystem's names; its JSON Schema decides which
/// spelling users may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum TlsMode {
    /// Plaintext; never ask for TLS.
    #[serde(rename = "disable", alias = "disabled")]
    Disable,
    /// TLS without certificate checks when the server offers it, else plaintext.
    #[default]
    #[serde(rename = "prefer", alias = "preferred")]
    Prefer,
    /// TLS without certificate checks; a server without TLS is an error.
    #[serde(rename = "require", alias = "required")]
    Require,
    /// TLS; the chain must lead to a trusted root, the name is not checked.
    #[serde(rename = "verify-ca", alias = "verify_ca")]
    VerifyCa,
    /// TLS; chain and host name are checked.
    #[serde(rename = "verify-full", alias = "verify_identity")]
    VerifyFull,
}

impl TlsMode {
    /// Whether to ask the server for TLS at all.
    pub fn wants_tls(self) -> bool {
        self != Self::Disable
    }

    /// Whether a server without TLS must be refused (everything but disable and prefer).
    pub fn requires_tls(self) -> bool {
        !matches!(self, Self::Disable | Self::Prefer)
    }

    /// The certificate checks this mode implies.
    pub fn verification(self) -> Verification {
        match self {
            Self::VerifyCa => Verification::Chain,
            Self::VerifyFull => Verification::Full,
            Self::Disable | Self::Prefer | Self::Require => Verification::None,
        }
    }

    /// MySQL's `--ssl-mode` name, lower-cased.
    pub fn as_mysql_str(self) -> &'static str {
        match self {
            Self::Disable => "disabled",
            Self::Prefer => "preferred",
            Self::Require => "required",
            Self::VerifyCa => "verify_ca",
            Self::VerifyFull => "verify_identity",
        }
    }

    /// The [`TlsOptions`] for connecting to `endpoint_ip` under this mode:
    /// `host` as configured, `root_cert_pem` as configured (`ssl_root_cert`).
    pub fn options<'a>(self, root_cert_pem: Option<&'a str>, host: &'a str, endpoint_ip: IpAddr) -> TlsOptions<'a> {
        TlsOptions { mode: self, root_cert_pem, host, endpoint_ip }
    }

    /// What a protocol with an in-band upgrade does when the server does not
    /// offer TLS: under `prefer` go on in plaintext, with the note for the
    /// step; under a mode that requires TLS, an `unsupported` error. `name`
    /// is the mode as the connector's users spell it ([`Self::as_str`] or
    /// [`Self::as_mysql_str`]).
    pub fn without_server_tls(self, name: &str) -> Result<String, ConnectorError> {
        if self.requires_tls() {
            return Err(ConnectorError::unsupported(format!("the server does not offer TLS, but ssl_mode is {name}")));
        }
        Ok(format!("the server does not offer TLS; continuing unencrypted (ssl_mode {name})"))
    }

    /// libpq's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// How much of the server's certificate to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Encrypt only: any certificate is accepted (handshake signatures are still checked).
    None,
    /// The chain must lead to a trusted root; the name is not checked.
    Chain,
    /// Chain and host name.
    Full,
}

/// Everything [`upgrade`] needs to know.
#[derive(Debug, Clone, Copy)]
pub struct TlsOptions<'a> {
    pub mode: TlsMode,
    /// PEM certificate(s) of the CA(s) to trust instead of the Mozilla roots.
    pub root_cert_pem: Option<&'a str>,
    /// The host name as configured (not the resolved endpoint): sent as SNI
    /// and, under [`TlsMode::VerifyFull`], checked against the certificate.
    pub host: &'a str,
    /// The address actually connected to; the name to check when `host` is
    /// neither a DNS name nor an IP literal.
    pub endpoint_ip: IpAddr,
}

/// An encrypted socket.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// Runs the TLS handshake on a connected socket (after the protocol's own
/// negotiation, if any) and returns the encrypted stream and the negotiated
/// version ("TLS 1.3"), for a step annotation.
pub fn upgrade(mut socket: TcpStream, options: &TlsOptions<'_>) -> Result<(Stream, String), ConnectorError> {
    let config = client_config(options.mode.verification(), options.root_cert_pem)?;
    let name = server_name(options.host, options.endpoint_ip);
    let mut connection =
        ClientConnection::new(config, name).map_err(|error| ConnectorError::internal(format!("TLS setup: {error}")))?;
    while connection.is_handshaking() {
        connection.complete_io(&mut socket).map_err(handshake_error)?;
    }
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "TLS".to_owned(),
    };
    Ok((Stream::Tls(Box::new(StreamOwned::new(connection, socket))), version))
}

/// A socket that may or may not have been upgraded to TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The underlying TCP socket.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Self::Plain(socket) => socket,
            Self::Tls(tls) => &tls.sock,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Bounds every read and write (see [`crate::net::set_timeouts`]).
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        crate::net::set_timeouts(self.socket(), timeout);
    }

    /// Queues a TLS close_notify (flush afterwards); nothing for plaintext.
    pub fn send_close_notify(&mut self) {
        if let Self::Tls(tls) = self {
            tls.conn.send_close_notify();
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(socket) => socket.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(socket) => socket.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(socket) => socket.flush(),
            Self::Tls(tls) => tls.flush(),
        }
    }
}

/// Builds the rustls client config for one connection.
pub fn client_config(
    verification: Verification,
    root_cert_pem: Option<&str>,
) -> Result<Arc<ClientConfig>, ConnectorError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match verification {
        Verification::None => Arc::new(EncryptOnly { algorithms: provider.signature_verification_algorithms }),
        Verification::Chain | Verification::Full => {
            let roots = Arc::new(root_store(root_cert_pem)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|error| ConnectorError::config(format!("ssl_root_cert: {error}")))?;
            if verification == Verification::Full { webpki } else { Arc::new(ChainOnly { inner: webpki }) }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ConnectorError::internal(format!("TLS setup: {error}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name rustls sends as SNI and, under full verification, checks the
/// certificate against: the configured host, or the endpoint IP when the
/// configured host is not a valid DNS name or IP literal.
pub fn server_name(host: &str, fallback: IpAddr) -> ServerName<'static> {
    ServerName::try_from(host.to_owned()).unwrap_or_else(|_| ServerName::IpAddress(fallback.into()))
}

/// The configured PEM roots, or the Mozilla set when none are configured.
fn root_store(pem: Option<&str>) -> Result<RootCertStore, ConnectorError> {
    let mut roots = RootCertStore::empty();
    match pem {
        Some(pem) => {
            let mut added = 0usize;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert =
                    cert.map_err(|error| ConnectorError::config(format!("ssl_root_cert is not valid PEM: {error}")))?;
                roots.add(cert).map_err(|error| {
                    ConnectorError::config(format!("ssl_root_cert holds an unusable certificate: {error}"))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(ConnectorError::config("ssl_root_cert holds no PEM certificate"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// Accepts any certificate (libpq's `require`, MySQL's `REQUIRED`): the
/// session is encrypted but the peer is not authenticated. Handshake
/// signatures are still verified, so a passive party cannot forge the key
/// exchange.
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The full WebPKI check, except that a name mismatch is forgiven. webpki
/// checks the chain before the name, so a name error means the chain was
/// already found valid.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A readable, kind-correct error for a failed handshake: a rejected
/// certificate is `protocol` with "certificate" in the message; socket
/// failures keep the SDK's I/O mapping.
pub fn handshake_error(error: std::io::Error) -> ConnectorError {
    let tls = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(reason)) => {
            let why = match reason {
                CertificateError::UnknownIssuer => {
                    "it is not signed by a trusted CA (set ssl_root_cert to the server's CA)".to_owned()
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    "it does not name the configured host (verifying only the CA skips this check)".to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => "it has expired".to_owned(),
                other => format!("{other:?}"),
            };
            ConnectorError::protocol(format!("the server's TLS certificate was rejected: {why}"))
        }
        Some(other) => ConnectorError::protocol(format!("TLS handshake failed: {other}")),
        None => crate::io_error(&error, "TLS handshake"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn modes_parse_in_libpq_and_mysql_spelling() {
        let parse = |s: &str| serde_json::from_value::<TlsMode>(serde_json::Value::String(s.into())).ok();
        assert_eq!(parse("verify-full"), Some(TlsMode::VerifyFull));
        assert_eq!(parse("verify_identity"), Some(TlsMode::VerifyFull));
        assert_eq!(parse("preferred"), Some(TlsMode::Prefer));
        assert_eq!(parse("disabled"), Some(TlsMode::Disable));
        assert_eq!(parse("sometimes"), None);
    }

    #[test]
    fn modes_imply_their_checks() {
        assert!(!TlsMode::Disable.wants_tls());
        assert!(TlsMode::Prefer.wants_tls() && !TlsMode::Prefer.requires_tls());
        assert!(TlsMode::Require.requires_tls());
        assert_eq!(TlsMode::Require.verification(), Verification::None);
        assert_eq!(TlsMode::VerifyCa.verification(), Verification::Chain);
        assert_eq!(TlsMode::VerifyFull.verification(), Verification::Full);
    }

    #[test]
    fn a_server_without_tls_is_refused_unless_tls_is_only_preferred() {
        let note = TlsMode::Prefer.without_server_tls(TlsMode::Prefer.as_mysql_str()).unwrap();
        assert_eq!(note, "the server does not offer TLS; continuing unencrypted (ssl_mode preferred)");
        let error = TlsMode::Require.without_server_tls(TlsMode::Require.as_str()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        assert_eq!(error.message, "the server does not offer TLS, but ssl_mode is require");
        assert!(TlsMode::VerifyFull.without_server_tls("verify_identity").is_err());
        assert_eq!(TlsMode::VerifyFull.as_mysql_str(), "verify_identity");
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let options = TlsMode::VerifyCa.options(Some("pem"), "db", ip);
        assert_eq!((options.mode, options.root_cert_pem, options.host), (TlsMode::VerifyCa, Some("pem"), "db"));
    }

    #[test]
    fn a_bad_root_cert_is_a_config_error() {
        let error = client_config(Verification::Full, Some("no pem here")).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
        assert!(client_config(Verification::Full, None).is_ok());
        assert!(client_config(Verification::None, None).is_ok());
    }

    #[test]
    fn the_server_name_falls_back_to_the_endpoint() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(matches!(server_name("db.example.com", ip), ServerName::DnsName(_)));
        assert!(matches!(server_name("not a name!", ip), ServerName::IpAddress(_)));
    }
}
