//! TLS for the PostgreSQL connection: rustls with the ring provider (the only
//! rustls provider that builds for wasm32-wasip2), and one certificate
//! verifier per `ssl_mode`.

use std::sync::Arc;

use inlet_sdk::ConnectorError;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::SslMode;

/// How much of the server's certificate to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Encrypt only (`prefer`, `require`).
    None,
    /// The chain must lead to a trusted root; the name is not checked (`verify-ca`).
    Chain,
    /// Chain and host name (`verify-full`).
    Full,
}

impl Verification {
    pub fn for_mode(mode: SslMode) -> Self {
        match mode {
            SslMode::VerifyCa => Self::Chain,
            SslMode::VerifyFull => Self::Full,
            _ => Self::None,
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

/// The name rustls sends as SNI and, under `verify-full`, checks the
/// certificate against: the configured host, or the endpoint IP when the
/// configured host is not a valid DNS name or IP literal.
pub fn server_name(host: &str, fallback: std::net::IpAddr) -> ServerName<'static> {
    ServerName::try_from(host.to_owned()).unwrap_or_else(|_| ServerName::IpAddress(fallback.into()))
}

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

/// Accepts any certificate, as libpq does for `require`: the session is
/// encrypted but the peer is not authenticated. Handshake signatures are
/// still verified, so the key exchange cannot be forged by a passive party.
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

/// `verify-ca`: the full WebPKI check, except that a name mismatch is
/// forgiven. webpki checks the chain before the name, so a name error means
/// the chain was already found valid.
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

/// A readable, kind-correct error for a failed handshake.
pub fn handshake_error(error: std::io::Error) -> ConnectorError {
    let tls = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(reason)) => {
            let why = match reason {
                CertificateError::UnknownIssuer => {
                    "it is not signed by a trusted CA (set ssl_root_cert to the server's CA)".to_owned()
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    "it does not name the configured host (verify-ca skips this check)".to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => "it has expired".to_owned(),
                other => format!("{other:?}"),
            };
            ConnectorError::protocol(format!("the server's TLS certificate was rejected: {why}"))
        }
        Some(other) => ConnectorError::protocol(format!("TLS handshake failed: {other}")),
        None => crate::wire::io_error(error, "TLS handshake"),
    }
}
