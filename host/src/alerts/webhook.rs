//! One signed webhook POST.
//!
//! The body is JSON; `X-Inlet-Signature: t=<unix seconds>,v1=<hex>` carries
//! HMAC-SHA256(secret, "<t>.<body>"), so a receiver can verify the sender and
//! refuse old timestamps (replays). The URL's host is resolved under the
//! egress policy (the same as connectors': never metadata or link-local,
//! loopback and private ranges as configured) and the connection goes to an
//! address that resolution approved, with no second lookup. The whole
//! exchange is bounded by a timeout; at most [`MAX_RESPONSE_BYTES`] of the
//! answer are read. Redirects are not followed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use sha2::Sha256;
use thiserror::Error;
use wasmtime_wasi_http::io::TokioIo;

use crate::outbound::{self, ConnectError};
use crate::sandbox::{EgressError, EgressPolicy};

/// The answer is read up to this many bytes (then the connection is dropped).
pub const MAX_RESPONSE_BYTES: usize = 64 << 10;
/// The whole exchange: resolve, connect, TLS, send, status and body.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

pub const SIGNATURE_HEADER: &str = "x-inlet-signature";
pub const EVENT_ID_HEADER: &str = "x-inlet-event-id";
pub const DELIVERY_ID_HEADER: &str = "x-inlet-delivery-id";

/// Where a webhook goes: a checked `http`/`https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Without brackets for an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// What goes on the request line.
    pub path_and_query: String,
    /// The `Host` header.
    authority: String,
}

impl Target {
    /// Checks a webhook URL: absolute `http` or `https`, a host, no user
    /// information, no fragment, at most [`MAX_URL_LEN`] characters.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.len() > MAX_URL_LEN {
            return Err(format!("is longer than {MAX_URL_LEN} characters"));
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("contains spaces or control characters".into());
        }
        if url.contains('#') {
            return Err("has a fragment (`#…`), which is never sent".into());
        }
        let uri: http::Uri = url.parse().map_err(|_| "is not a valid URL".to_owned())?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            Some(_) => return Err("must use http or https".into()),
            None => return Err("must be an absolute http or https URL".into()),
        };
        let authority = uri.authority().ok_or_else(|| "has no host".to_owned())?;
        if authority.as_str().contains('@') {
            return Err("must not carry a user name or password".into());
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err("has no host".into());
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        if port == 0 {
            return Err("has port 0".into());
        }
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let path_and_query = if path_and_query.is_empty() { "/".to_owned() } else { path_and_query.to_owned() };
        Ok(Self { https, host, port, path_and_query, authority: authority.as_str().to_ascii_lowercase() })
    }
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a delivery attempt got no HTTP status. The messages name the host,
/// never the path or query (which may carry a token) nor the secret.
#[derive(Debug, Error)]
pub enum SendError {
    #[error("egress refused: {0}")]
    Egress(#[from] EgressError),
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connect { host: String, port: u16, reason: String },
    #[error("TLS with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("HTTP exchange with {host} failed: {reason}")]
    Http { host: String, reason: String },
    #[error("no answer from {host} within {} s", TIMEOUT.as_secs())]
    Timeout { host: String },
}

impl SendError {
    /// What the channel's owner is told: that the policy refused, or that
    /// the receiver could not be reached. Never what a name resolved to nor
    /// which network error it was, so a test delivery cannot be used to map
    /// the server's network. The full error goes to the server log only.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::Egress(EgressError::Denied { .. }) => "refused by policy",
            _ => "could not connect",
        }
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Up to [`MAX_RESPONSE_BYTES`] of the body.
    pub body_prefix: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One request's identity for the receiver.
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a> {
    pub event_id: &'a str,
    pub delivery_id: &'a str,
}

/// Posts `body` signed with `secret`; answers the status and how long it took.
pub async fn send(
    target: &Target,
    body: Bytes,
    secret: &[u8],
    ids: Ids<'_>,
    policy: EgressPolicy,
    timeout: Duration,
) -> (Result<Answer, SendError>, Duration) {
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, exchange(target, body, secret, ids, policy, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(SendError::Timeout { host: target.host.clone() }),
    };
    (result, started.elapsed())
}

async fn exchange(
    target: &Target,
    body: Bytes,
    secret: &[u8],
    ids: Ids<'_>,
    policy: EgressPolicy,
    timeout: Duration,
) -> Result<Answer, SendError> {
    let host = target.host.clone();
    let addrs = policy.resolve(&target.host, target.port, timeout).await?;
    let tls_name = target.https.then_some(target.host.as_str());
    let stream = outbound::connect(addrs.as_slice(), tls_name, timeout).await.map_err(|error| match error {
        ConnectError::Timeout(_) => SendError::Timeout { host: host.clone() },
        ConnectError::Tcp(e) => SendError::Connect { host: host.clone(), port: target.port, reason: e.to_string() },
        ConnectError::Name(e) => SendError::Tls { host: host.clone(), reason: e.to_string() },
        ConnectError::Tls(e) => SendError::Tls { host: host.clone(), reason: e.to_string() },
    })?;
    let http_error = |e: hyper::Error| SendError::Http { host: host.clone(), reason: e.to_string() };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http_error)?;
    let connection = tokio::spawn(connection);

    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let request = http::Request::post(target.path_and_query.as_str())
        .header(http::header::HOST, target.authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, concat!("inlet/", env!("CARGO_PKG_VERSION")))
        .header(EVENT_ID_HEADER, ids.event_id)
        .header(DELIVERY_ID_HEADER, ids.delivery_id)
        .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
        .body(Full::new(body))
        .map_err(|e| SendError::Http { host: host.clone(), reason: e.to_string() })?;
    let response = sender.send_request(request).await.map_err(http_error)?;
    let status = response.status().as_u16();
    let mut incoming = response.into_body();
    let mut body_prefix = Vec::new();
    // The status is the answer; a body that breaks off or never ends past
    // the cap does not change it.
    while body_prefix.len() < MAX_RESPONSE_BYTES {
        match incoming.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = MAX_RESPONSE_BYTES - body_prefix.len();
                    body_prefix.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    connection.abort();
    Ok(Answer { status, body_prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let sig = signature(b"secret", 1_700_000_000, br#"{"a":1}"#);
        assert!(sig.starts_with("t=1700000000,v1="), "{sig}");
        let hex = sig.split("v1=").nth(1).unwrap();
        assert_eq!(hex.len(), 64);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"secret").unwrap();
        mac.update(br#"1700000000.{"a":1}"#);
        assert_eq!(hex, hex::encode(mac.finalize().into_bytes()));
        assert_ne!(sig, signature(b"other", 1_700_000_000, br#"{"a":1}"#));
        assert_ne!(sig, signature(b"secret", 1_700_000_001, br#"{"a":1}"#));
    }

    #[test]
    fn urls_are_checked() {
        let target = Target::parse("https://hooks.example.com/inlet?team=7").unwrap();
        assert_eq!((target.https, target.host.as_str(), target.port), (true, "hooks.example.com", 443));
        assert_eq!(target.path_and_query, "/inlet?team=7");
        let target = Target::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            (target.port, target.path_and_query.as_str(), target.authority.as_str()),
            (9000, "/", "127.0.0.1:9000")
        );
        let target = Target::parse("http://[::1]:81/x").unwrap();
        assert_eq!(target.host, "::1");
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "/hook",
            "https://user:pw@example.com/",
            "https://example.com/a b",
            "https://example.com/#frag",
            "http://example.com:0/",
            "",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert!(Target::parse(&format!("https://example.com/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[tokio::test]
    async fn metadata_addresses_are_refused_before_connecting() {
        let target = Target::parse("http://169.254.169.254/latest/meta-data").unwrap();
        let open = EgressPolicy { allow_loopback: true, allow_private: true };
        let ids = Ids { event_id: "e", delivery_id: "d" };
        let (result, _) = send(&target, Bytes::from_static(b"{}"), b"k", ids, open, TIMEOUT).await;
        assert!(matches!(result, Err(SendError::Egress(_))), "{result:?}");
        let target = Target::parse("http://127.0.0.1:9/").unwrap();
        let (result, _) = send(&target, Bytes::from_static(b"{}"), b"k", ids, EgressPolicy::default(), TIMEOUT).await;
        let error = result.unwrap_err().to_string();
        assert!(error.contains("loopback"), "{error}");
    }

    #[tokio::test]
    async fn a_delivery_reaches_a_local_receiver_signed_and_the_answer_is_capped() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") || !request.ends_with(b"}") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            // An endless body: the client stops at the cap.
            socket.write_all(b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
            let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
            for _ in 0..64 {
                if socket.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
            String::from_utf8(request).unwrap()
        });
        let target = Target::parse(&format!("http://127.0.0.1:{port}/hook?x=1")).unwrap();
        let open = EgressPolicy { allow_loopback: true, allow_private: true };
        let body = Bytes::from_static(br#"{"kind":"test"}"#);
        let ids = Ids { event_id: "ev-1", delivery_id: "dl-1" };
        let (result, latency) = send(&target, body, b"s3cret", ids, open, TIMEOUT).await;
        let answer = result.unwrap();
        assert_eq!(answer.status, 202);
        assert!(answer.is_success());
        assert_eq!(answer.body_prefix.len(), MAX_RESPONSE_BYTES);
        assert!(latency < TIMEOUT);
        let request = server.await.unwrap();
        let lower = request.to_ascii_lowercase();
        assert!(request.starts_with("POST /hook?x=1 HTTP/1.1\r\n"), "{request}");
        assert!(lower.contains("content-type: application/json"), "{request}");
        assert!(lower.contains("x-inlet-event-id: ev-1"), "{request}");
        assert!(lower.contains("x-inlet-delivery-id: dl-1"), "{request}");
        let header = lower.lines().find_map(|l| l.strip_prefix("x-inlet-signature: ")).unwrap();
        let t: i64 = header.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
        assert_eq!(header, signature(b"s3cret", t, br#"{"kind":"test"}"#));
    }

    #[tokio::test]
    async fn a_silent_receiver_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _hold = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });
        let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let open = EgressPolicy { allow_loopback: true, allow_private: true };
        let ids = Ids { event_id: "e", delivery_id: "d" };
        let (result, latency) =
            send(&target, Bytes::from_static(b"{}"), b"k", ids, open, Duration::from_millis(300)).await;
        assert!(matches!(result, Err(SendError::Timeout { .. })), "{result:?}");
        assert!(latency >= Duration::from_millis(300) && latency < Duration::from_secs(5));
    }
}
