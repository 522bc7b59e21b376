//! (features `aws` and `http`) A signed-request client for one AWS service
//! endpoint, and the parts of an AWS error answer every service shares.
//!
//! A connector keeps what is its own — the operations, the paths and
//! bodies, which error codes mean what — and leaves to [`Client`] the
//! chores that are the same for DynamoDB, S3 and the rest: the credentials
//! and the clock, signing with SigV4, sending over a
//! [`Transport`](crate::http::Transport) (wasi:http in the component, a
//! scripted fake in unit tests) and naming the call in a transport error.

use std::time::{SystemTime, UNIX_EPOCH};

use url::Url;

use super::{Credentials, Payload};
use crate::http::{Limits, Method, Request, Response, Transport};
use crate::text::truncate;
use crate::{ConnectRequest, ConnectorError};

/// Seconds since the Unix epoch; 0 when the clock is before it.
fn system_clock() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// What a [`Client`] signs for: the SigV4 service name (`dynamodb`, `s3`),
/// the region, and the endpoint's authority (`host[:port]` as wasi:http
/// sends it in `Host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub service: &'static str,
    pub region: String,
    pub authority: String,
}

/// Signs requests for one [`Scope`] with one set of credentials and sends
/// them over `T`.
pub struct Client<T: Transport> {
    transport: T,
    scope: Scope,
    credentials: Credentials,
    limits: Limits,
    /// Seconds since the Unix epoch (a fixed clock in tests).
    clock: fn() -> u64,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T, scope: Scope, credentials: Credentials, limits: Limits) -> Self {
        Self { transport, scope, credentials, limits, clock: system_clock }
    }

    /// The client for a data source: `access_key_id` from its config, the
    /// secrets and the host's limits from the request
    /// ([`Credentials::from_request`], [`Limits::from_request`]).
    pub fn from_request(
        request: &ConnectRequest,
        access_key_id: &str,
        transport: T,
        scope: Scope,
    ) -> Result<Self, ConnectorError> {
        let credentials = Credentials::from_request(request, access_key_id)?;
        Ok(Self::new(transport, scope, credentials, Limits::from_request(request)))
    }

    /// Signs with this clock (seconds since the Unix epoch) instead of the
    /// system's: tests compare signatures made at a known time.
    pub fn with_clock(mut self, clock: fn() -> u64) -> Self {
        self.clock = clock;
        self
    }

    /// Caps every response at `bytes` (a service's answers have a known size).
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.limits = self.limits.max_response_bytes(bytes);
        self
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The request to `url` (whose path and query are `path` and `query`,
    /// already encoded and canonical), signed over `Host`, `headers` and
    /// `payload`. The signed headers go out as they were signed, except
    /// `Host`, which wasi:http sets from the URL (the guest may not);
    /// `Accept-Encoding: identity` keeps the body as the service wrote it.
    /// A payload in bytes is signed only: the caller sets the body.
    pub fn sign(&self, method: Method, url: Url, path: &str, query: &str, headers: Headers<'_>) -> Request {
        let mut signed_headers = vec![("host".to_owned(), self.scope.authority.clone())];
        signed_headers.extend(headers.extra.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
        let to_sign = super::Request {
            method: method.as_str(),
            path,
            query,
            headers: signed_headers.clone(),
            payload: headers.payload,
            content_sha256: headers.content_sha256,
        };
        let amz_date = super::amz_date((self.clock)());
        let signed = super::sign(&to_sign, &self.credentials, &self.scope.region, self.scope.service, &amz_date);
        let mut request = Request::new(method, url);
        for (name, value) in signed_headers.into_iter().skip(1).chain(signed.headers) {
            request = request.header(name, value);
        }
        request.header("accept-encoding", "identity")
    }

    /// Sends `request` with the client's limits, response size capped at
    /// `max_bytes` when given. A failed exchange keeps its kind and names
    /// the call (`{label}: {reason}`); an answer that is not a success is
    /// left to `service_error`, which knows the service's error codes.
    pub fn send(
        &self,
        label: &str,
        request: &Request,
        max_bytes: Option<u64>,
        service_error: impl FnOnce(&Response) -> ConnectorError,
    ) -> Result<Response, ConnectorError> {
        let limits = match max_bytes {
            Some(bytes) => self.limits.max_response_bytes(bytes),
            None => self.limits,
        };
        let response = self.transport.send(request, &limits).map_err(|mut error| {
            error.message = format!("{label}: {}", error.message);
            error
        })?;
        if response.is_success() { Ok(response) } else { Err(service_error(&response)) }
    }
}

/// What [`Client::sign`] signs beside `Host`.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    /// Further headers to sign and send, lowercase names.
    pub extra: Vec<(&'a str, String)>,
    pub payload: Payload<'a>,
    /// Whether to send `X-Amz-Content-Sha256` (S3 requires it).
    pub content_sha256: bool,
}

/// An AWS error answer as the connector read it from the body: the error
/// code and message (either may be missing: HEAD answers have no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ServiceError {
    /// `{call} failed: {code, or HTTP status}[: {message}]`, the message cut
    /// to 300 characters: what the user reads.
    pub fn text(&self, call: &str) -> String {
        let code = self.code.clone().unwrap_or_else(|| format!("HTTP {}", self.status));
        let detail = self.message.as_deref().map(|m| format!(": {}", truncate(m, 300))).unwrap_or_default();
        format!("{call} failed: {code}{detail}")
    }
}

/// The kind an HTTP status means for statuses every AWS service answers
/// alike, once the service's own codes and statuses have had their say:
/// 408 and 504 are timeouts, 429 and 5xx retryable (`unreachable`),
/// anything else a `protocol` error.
pub fn error_for_status(status: u16, text: String) -> ConnectorError {
    match status {
        408 | 504 => ConnectorError::timeout(text),
        429 | 500..=599 => ConnectorError::unreachable(text),
        _ => ConnectorError::protocol(text),
    }
}

/// `region {region}, key AKIA…MPLE[, session token]`: the credentials a
/// connect step used, for its message (the key masked, the secrets never).
pub fn credentials_note(request: &ConnectRequest, region: &str, access_key_id: &str) -> String {
    let token = if super::session_token(request).is_some() { ", session token" } else { "" };
    format!("region {region}, key {}{token}", super::masked_key_id(access_key_id))
}

/// For unit tests: the example credentials of AWS's SigV4 documentation
/// (with a session token) and the time of its examples.
pub mod example {
    use super::Credentials;

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 examples.
    pub const UNIX_TIME: u64 = 1_440_938_160;
    /// [`UNIX_TIME`] as `X-Amz-Date`.
    pub const AMZ_DATE: &str = "20150830T123600Z";

    pub fn credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("session".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::ScriptedTransport;

    fn client(transport: ScriptedTransport) -> Client<ScriptedTransport> {
        let scope = Scope { service: "s3", region: "us-east-1".into(), authority: "127.0.0.1:5000".into() };
        Client::new(transport, scope, example::credentials(), Limits::default()).with_clock(|| example::UNIX_TIME)
    }

    fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
        request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    #[test]
    fn requests_send_what_they_sign_but_host() {
        let client = client(ScriptedTransport::default());
        let url = Url::parse("http://127.0.0.1:5000/bkt/k?a=1").unwrap();
        let headers =
            Headers { extra: vec![("range", "bytes=0-9".into())], payload: Payload::Bytes(b""), content_sha256: true };
        let request = client.sign(Method::Get, url, "/bkt/k", "a=1", headers);
        assert_eq!(header(&request, "host"), None, "wasi:http sets Host from the URL");
        assert_eq!(header(&request, "range"), Some("bytes=0-9"));
        assert_eq!(header(&request, "x-amz-date"), Some(example::AMZ_DATE));
        assert_eq!(header(&request, "x-amz-security-token"), Some("session"));
        assert_eq!(header(&request, "x-amz-content-sha256"), Some(super::super::EMPTY_SHA256));
        assert_eq!(header(&request, "accept-encoding"), Some("identity"));
        let expected = super::super::sign(
            &super::super::Request {
                method: "GET",
                path: "/bkt/k",
                query: "a=1",
                headers: vec![("Host".into(), "127.0.0.1:5000".into()), ("Range".into(), "bytes=0-9".into())],
                payload: Payload::Bytes(b""),
                content_sha256: true,
            },
            client.credentials(),
            "us-east-1",
            "s3",
            example::AMZ_DATE,
        );
        let authorization = header(&request, "authorization").unwrap();
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request")
        );
        assert!(authorization.ends_with(&expected.signature));
    }

    #[test]
    fn sending_names_the_call_and_leaves_failures_to_the_service() {
        let transport = ScriptedTransport::default();
        transport.fail(ConnectorError::unreachable("GET /: connection refused"));
        transport.answer(403, &[], b"denied");
        transport.answer(200, &[], &[0; 10]);
        transport.answer(200, &[], &[0; 10]);
        let client = client(transport.clone());
        let request = Request::new(Method::Get, Url::parse("http://127.0.0.1:5000/").unwrap());
        let refused = client.send("S3 HeadBucket", &request, None, |_| unreachable!()).unwrap_err();
        assert_eq!(
            (refused.kind, refused.message.as_str()),
            (ErrorKind::Unreachable, "S3 HeadBucket: GET /: connection refused")
        );
        let denied = client
            .send("S3 HeadBucket", &request, None, |response| ConnectorError::permission(response.text()))
            .unwrap_err();
        assert_eq!((denied.kind, denied.message.as_str()), (ErrorKind::Permission, "denied"));
        assert_eq!(client.send("x", &request, None, |_| unreachable!()).unwrap().body.len(), 10);
        let too_large = client.send("x", &request, Some(9), |_| unreachable!()).unwrap_err();
        assert_eq!(too_large.kind, ErrorKind::Protocol);
    }

    #[test]
    fn capped_clients_keep_the_cap_for_every_call() {
        let client = client(ScriptedTransport::default()).max_response_bytes(8);
        assert_eq!(client.limits().max_response_bytes, 8);
        assert_eq!(client.scope().service, "s3");
    }

    #[test]
    fn service_errors_read_as_code_or_status_and_message() {
        let with_code =
            ServiceError { status: 400, code: Some("ValidationException".into()), message: Some("bad".into()) };
        assert_eq!(with_code.text("DynamoDB Scan"), "DynamoDB Scan failed: ValidationException: bad");
        let bare = ServiceError { status: 404, code: None, message: None };
        assert_eq!(bare.text("S3 HeadBucket"), "S3 HeadBucket failed: HTTP 404");
        let long = ServiceError { status: 500, code: None, message: Some("x".repeat(400)) };
        assert!(long.text("c").chars().count() < 330);
        assert_eq!(error_for_status(408, "t".into()).kind, ErrorKind::Timeout);
        assert_eq!(error_for_status(504, "t".into()).kind, ErrorKind::Timeout);
        assert!(error_for_status(429, "t".into()).retryable);
        assert_eq!(error_for_status(503, "t".into()).kind, ErrorKind::Unreachable);
        assert_eq!(error_for_status(418, "t".into()).kind, ErrorKind::Protocol);
    }

    #[test]
    fn credential_notes_mask_the_key_and_hide_the_secrets() {
        let mut request = crate::testing::connect_request("s3", &serde_json::json!({}));
        assert_eq!(credentials_note(&request, "eu-west-1", "AKIAIOSFODNN7EXAMPLE"), "region eu-west-1, key AKIA…MPLE");
        request.secrets.push(("session_token".into(), "tok".into()));
        assert_eq!(
            credentials_note(&request, "us-east-1", "AKIAIOSFODNN7EXAMPLE"),
            "region us-east-1, key AKIA…MPLE, session token"
        );
    }
}
