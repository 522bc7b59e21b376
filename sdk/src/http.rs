//! A small blocking HTTP client over wasi:http (feature `http`).
//!
//! The host links `wasi:http/outgoing-handler` for data source types that
//! declare `[types.http] url_field = "…"` in plugin.toml, and lets requests go
//! only to the scheme, host and port of that URL: anything else is refused
//! (`permission`). The host resolves names itself, caps response bodies and
//! applies the data source's timeouts; it does not follow redirects, and
//! neither does [`send`]: [`send_following_redirects`] follows those that stay
//! on the same origin and refuses the others.
//!
//! ```no_run
//! use inlet_sdk::http::{self, Limits, Request};
//! # fn example(request: &inlet_sdk::ConnectRequest) -> Result<(), inlet_sdk::ConnectorError> {
//! let base = http::parse_base_url("https://api.example.com/v1", "base_url")?;
//! let users = Request::get(http::join_path(&base, "/users?active=true")?).header("accept", "application/json");
//! let response = http::send(&users, &Limits::from_request(request))?;
//! let rows: Vec<serde_json::Value> = response.error_for_status(&users)?.json()?;
//! # Ok(()) }
//! ```
//!
//! Messages never show a request's query string or header values (an API key
//! may travel in either): requests are named by method and path ([`Request::target`]).
//!
//! Natively (a plugin's unit tests) there is no wasi:http: [`send`] answers
//! `unsupported`. Write the connector against [`Transport`] and give its
//! tests a fake one.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
pub use url::Url;

use crate::request::ConnectRequestExt;
use crate::{ConnectRequest, ConnectorError};

/// The default cap on one response body (the host applies its own cap too).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 << 20;

/// The request methods a connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// `GET`, `get`, …; `None` for a method this client does not send.
    pub fn parse(text: &str) -> Option<Self> {
        [Method::Get, Method::Head, Method::Post, Method::Put, Method::Patch, Method::Delete, Method::Options]
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request: method, absolute http(s) URL, headers and body bytes.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: Method, url: Url) -> Self {
        Self { method, url, headers: Vec::new(), body: Vec::new() }
    }

    pub fn get(url: Url) -> Self {
        Self::new(Method::Get, url)
    }

    /// Adds a header (names are case-insensitive; a repeated name is sent twice).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (and, unless set already, its `content-length` is computed by the host).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body with its content type.
    pub fn json_body(self, value: &serde_json::Value) -> Self {
        self.header("content-type", "application/json").body(value.to_string())
    }

    /// Adds a query parameter (form-encoded).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.url.query_pairs_mut().append_pair(name, value);
        self
    }

    /// `GET /v1/users`: the method and path, never the query (it may hold a
    /// key) nor the host. What messages name a request by.
    pub fn target(&self) -> String {
        format!("{} {}", self.method, self.url.path())
    }
}

/// Header values and the query are left out: either may hold a secret.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("origin", &self.url.origin().ascii_serialization())
            .field("path", &self.url.path())
            .field("headers", &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Bounds on one exchange. `None` leaves a timeout to the host, which bounds
/// every call by the data source's timeouts anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub connect_timeout: Option<Duration>,
    pub first_byte_timeout: Option<Duration>,
    pub between_bytes_timeout: Option<Duration>,
    /// A longer body fails the request (`protocol`) rather than filling memory.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: None,
            first_byte_timeout: None,
            between_bytes_timeout: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl Limits {
    /// The data source's timeouts, each cut to the socket share
    /// ([`crate::deadline::SOCKET_SHARE`]) so that a silent server fails the
    /// step that waited (with its name) before the host's deadline for the
    /// whole call: the waits for response bytes from `query_timeout_ms`,
    /// connecting from `connect_timeout_ms` but never longer than the query
    /// timeout (requests run inside `test` and `discover`, whose deadline
    /// that is). Zero: no bound of our own.
    pub fn from_request(request: &ConnectRequest) -> Self {
        let bound = crate::deadline::per_call_socket_timeout;
        let query = request.query_timeout();
        let connect = if query.is_zero() { request.connect_timeout() } else { request.connect_timeout().min(query) };
        Self {
            connect_timeout: bound(connect),
            first_byte_timeout: bound(query),
            between_bytes_timeout: bound(query),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }
}

/// A whole response: status, headers (names lower case, values as text) and body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_redirect(&self) -> bool {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
    }

    /// The body as JSON; a body that is not is a `protocol` error that says
    /// what came instead (the content type), never the body itself.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|error| {
            let content_type = self.header("content-type").unwrap_or("none");
            ConnectorError::protocol(format!(
                "the response is not the JSON expected ({error}; content type {content_type}, {} bytes)",
                self.body.len()
            ))
        })
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Ok(self)` for a 2xx status, else the error kind the status means:
    /// 401 `auth`, 403 `permission`, 404/410 `not_found`, 408/504 `timeout`,
    /// 429/502/503 `unreachable` (retryable), a redirect or another status `protocol`.
    pub fn error_for_status(self, request: &Request) -> Result<Self, ConnectorError> {
        if self.is_success() { Ok(self) } else { Err(status_error(self.status, &request.target())) }
    }
}

/// The error a non-2xx status means for `target` (`GET /path`).
pub fn status_error(status: u16, target: &str) -> ConnectorError {
    let message =
        format!("{target} answered HTTP {status}{}", reason(status).map(|r| format!(" {r}")).unwrap_or_default());
    match status {
        401 => ConnectorError::auth(format!("{message}: the credentials were refused")),
        403 => ConnectorError::permission(format!("{message}: the credentials may not read this")),
        404 | 410 => ConnectorError::not_found(message),
        408 | 504 => ConnectorError::timeout(message),
        429 | 502 | 503 => ConnectorError::unreachable(message),
        300..=399 => ConnectorError::protocol(format!("{message} (a redirect, not followed)")),
        _ => ConnectorError::protocol(message),
    }
}

fn reason(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        410 => "Gone",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

/// Something that sends requests: [`WasiHttp`] in the component, a fake in
/// a connector's native unit tests.
pub trait Transport {
    fn send(&self, request: &Request, limits: &Limits) -> Result<Response, ConnectorError>;
}

/// The host's wasi:http outgoing handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct WasiHttp;

impl Transport for WasiHttp {
    fn send(&self, request: &Request, limits: &Limits) -> Result<Response, ConnectorError> {
        check_scheme(&request.url)?;
        #[cfg(target_arch = "wasm32")]
        {
            wasi::send(request, limits)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = limits;
            Err(ConnectorError::unsupported(format!(
                "{}: wasi:http exists only inside the component (give native tests a fake Transport)",
                request.target()
            )))
        }
    }
}

/// Sends one request through the host and reads the whole response
/// (redirects are returned, not followed).
pub fn send(request: &Request, limits: &Limits) -> Result<Response, ConnectorError> {
    WasiHttp.send(request, limits)
}

/// Sends `request`, following up to `max_redirects` redirects that stay on
/// its origin (scheme, host and port). A redirect to another origin is a
/// `permission` error naming where it pointed: the host would refuse that
/// request anyway, and following it could carry credentials elsewhere.
/// A 303, or a 301/302 after a POST, continues as a GET without body, as browsers do.
pub fn send_following_redirects(
    transport: &dyn Transport,
    request: &Request,
    limits: &Limits,
    max_redirects: u8,
) -> Result<Response, ConnectorError> {
    let mut current = request.clone();
    for _ in 0..=max_redirects {
        let response = transport.send(&current, limits)?;
        if !response.is_redirect() {
            return Ok(response);
        }
        let location = response.header("location").ok_or_else(|| {
            ConnectorError::protocol(format!(
                "{} answered HTTP {} without a Location",
                current.target(),
                response.status
            ))
        })?;
        let next = current.url.join(location).map_err(|error| {
            ConnectorError::protocol(format!("{} redirected to an invalid URL: {error}", current.target()))
        })?;
        if next.origin() != request.url.origin() {
            return Err(ConnectorError::permission(format!(
                "{} redirected (HTTP {}) to {}, another origin than {}: redirects to other hosts are not followed",
                current.target(),
                response.status,
                redacted(&next),
                request.url.origin().ascii_serialization()
            )));
        }
        let as_get = response.status == 303 || (matches!(response.status, 301 | 302) && current.method == Method::Post);
        if as_get {
            current.method = Method::Get;
            current.body.clear();
            current.headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        }
        current.url = next;
    }
    Err(ConnectorError::protocol(format!("{}: more than {max_redirects} redirects", request.target())))
}

/// Parses a configured base URL: absolute, http or https, with a host, no
/// credentials (they belong in the secret fields) and no fragment. `field`
/// names it in `config` errors.
pub fn parse_base_url(text: &str, field: &str) -> Result<Url, ConnectorError> {
    let invalid = |reason: String| ConnectorError::config(format!("`{field}` is not a usable URL: {reason}"));
    let url = Url::parse(text.trim()).map_err(|error| invalid(error.to_string()))?;
    check_scheme(&url).map_err(|error| invalid(error.message))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials belong in the credential fields, not in the URL".into()));
    }
    if url.fragment().is_some() {
        return Err(invalid("it has a fragment (#…)".into()));
    }
    Ok(url)
}

/// A service's endpoint URL (`endpoint_url` of DynamoDB, S3, …): a base URL
/// ([`parse_base_url`]) without a query and with a usable port, and its
/// authority as wasi:http sends it in the `Host` header (`host[:port]`,
/// default ports dropped, IPv6 in brackets), which is the `host` a request
/// signature must cover.
pub fn parse_endpoint_url(text: &str, field: &str) -> Result<(Url, String), ConnectorError> {
    let url = parse_base_url(text, field)?;
    if url.query().is_some() {
        return Err(ConnectorError::config(format!("`{field}` must not have a query (?…)")));
    }
    if url.port() == Some(0) {
        return Err(ConnectorError::config(format!("`{field}` has port 0")));
    }
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Ok((url, authority))
}

/// `path` (with an optional `?query`) under `base`'s path: `https://h/v1` +
/// `/users?x=1` is `https://h/v1/users?x=1` (unlike [`Url::join`], which
/// would drop `/v1`). The base's own query parameters come first. An
/// absolute URL or a `//host` path is a `config` error: a connector calls
/// its base URL's origin only.
pub fn join_path(base: &Url, path: &str) -> Result<Url, ConnectorError> {
    let path = path.trim();
    let has_scheme = path.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty() && !scheme.contains('/') && !scheme.contains('?') && Url::parse(path).is_ok()
    });
    if path.starts_with("//") || has_scheme {
        return Err(ConnectorError::config(format!(
            "`{}` is not a path: give paths relative to the base URL",
            path.split('?').next().unwrap_or(path)
        )));
    }
    let path = path.split('#').next().unwrap_or(path);
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    let rest = path.trim_start_matches('/');
    if !rest.is_empty() || path.starts_with('/') || base.path().ends_with('/') {
        url.set_path(&format!("{prefix}/{rest}"));
    }
    let query = match (base.query().filter(|q| !q.is_empty()), query.filter(|q| !q.is_empty())) {
        (Some(base), Some(own)) => Some(format!("{base}&{own}")),
        (Some(only), None) | (None, Some(only)) => Some(only.to_owned()),
        (None, None) => None,
    };
    url.set_query(query.as_deref());
    url.set_fragment(None);
    // `..` segments are resolved by the parser: the origin cannot change.
    if url.origin() != base.origin() {
        return Err(ConnectorError::config(format!("`{path}` leaves the base URL's origin")));
    }
    Ok(url)
}

/// `scheme://host:port/path`, without credentials, query or fragment: safe to show.
pub fn redacted(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

fn check_scheme(url: &Url) -> Result<(), ConnectorError> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(ConnectorError::config(format!("the scheme must be http or https, not `{other}`"))),
    }
}

/// `16 MiB`, `512 KiB`, `100 bytes`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The error for a body over `max` bytes.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn too_large(target: &str, max: u64, announced: Option<u64>) -> ConnectorError {
    let announced = announced.map(|n| format!(" (it announced {})", size(n))).unwrap_or_default();
    ConnectorError::protocol(format!(
        "{target}: the response is larger than {}, the most one response may have{announced}",
        size(max)
    ))
}

/// What a wasi:http error code means for the platform, for `target` (`GET /path`).
pub fn error_from_code(code: &wasip2::http::types::ErrorCode, target: &str) -> ConnectorError {
    use wasip2::http::types::ErrorCode as E;
    let at = |what: &str| format!("{target}: {what}");
    match code {
        E::DnsTimeout => ConnectorError::timeout(at("the host name lookup timed out")),
        E::DnsError(payload) => ConnectorError::unreachable(at(&format!(
            "the host name could not be resolved{}",
            payload.rcode.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
        ))),
        E::DestinationNotFound => ConnectorError::unreachable(at("the host name does not resolve")),
        E::DestinationUnavailable => ConnectorError::unreachable(at("the server is unavailable")),
        E::DestinationIpUnroutable => ConnectorError::unreachable(at("no route to the server")),
        E::DestinationIpProhibited => {
            ConnectorError::permission(at("the server's address is not allowed by the egress policy"))
        }
        E::ConnectionRefused => ConnectorError::unreachable(at("connection refused")),
        E::ConnectionTerminated => ConnectorError::unreachable(at("the server closed the connection")),
        E::ConnectionLimitReached => ConnectorError::unreachable(at("too many connections")),
        E::ConnectionTimeout => ConnectorError::timeout(at("connecting timed out")),
        E::ConnectionReadTimeout | E::HttpResponseTimeout => {
            ConnectorError::timeout(at("the server did not answer in time"))
        }
        E::ConnectionWriteTimeout => ConnectorError::timeout(at("sending the request timed out")),
        E::TlsProtocolError => ConnectorError::protocol(at(
            "the TLS handshake failed (a certificate the host does not trust, or no HTTPS on this port)",
        )),
        E::TlsCertificateError => ConnectorError::protocol(at("the server's TLS certificate was rejected")),
        E::TlsAlertReceived(payload) => ConnectorError::protocol(at(&format!(
            "the server ended the TLS handshake ({})",
            payload.alert_message.as_deref().unwrap_or("alert")
        ))),
        E::HttpRequestDenied => ConnectorError::permission(at(
            "refused by the sandbox: requests may go only to the scheme, host and port of the data source's URL",
        )),
        E::HttpRequestMethodInvalid => ConnectorError::config(at("the method is not valid")),
        E::HttpRequestUriInvalid => ConnectorError::config(at("the URL is not valid")),
        E::HttpRequestUriTooLong => ConnectorError::config(at("the URL is too long")),
        E::HttpRequestHeaderSectionSize(_) | E::HttpRequestHeaderSize(_) => {
            ConnectorError::config(at("the request headers are too large"))
        }
        E::HttpRequestLengthRequired
        | E::HttpRequestBodySize(_)
        | E::HttpRequestTrailerSectionSize(_)
        | E::HttpRequestTrailerSize(_) => ConnectorError::protocol(at(&format!("the request was refused ({code:?})"))),
        E::HttpResponseIncomplete => ConnectorError::unreachable(at("the response ended before it was complete")),
        E::HttpResponseHeaderSectionSize(_) | E::HttpResponseHeaderSize(_) => {
            ConnectorError::protocol(at("the response headers are too large"))
        }
        E::HttpResponseBodySize(limit) => ConnectorError::protocol(at(&format!(
            "the response is larger than the host allows{}",
            limit.map(|n| format!(" ({})", size(n))).unwrap_or_default()
        ))),
        E::HttpResponseTrailerSectionSize(_) | E::HttpResponseTrailerSize(_) => {
            ConnectorError::protocol(at("the response trailers are too large"))
        }
        E::HttpResponseTransferCoding(coding) | E::HttpResponseContentCoding(coding) => {
            ConnectorError::unsupported(at(&format!(
                "the response uses an encoding that cannot be read ({})",
                coding.as_deref().unwrap_or("unknown")
            )))
        }
        E::HttpUpgradeFailed | E::HttpProtocolError => {
            ConnectorError::protocol(at("the server did not speak HTTP correctly"))
        }
        E::LoopDetected => ConnectorError::protocol(at("a request loop was detected")),
        E::ConfigurationError => ConnectorError::internal(at("the host's HTTP client is misconfigured")),
        E::InternalError(message) => {
            ConnectorError::internal(at(&format!("the host failed: {}", message.as_deref().unwrap_or("no detail"))))
        }
    }
}

/// A stream error that carries no wasi:http code (wasmtime-wasi-http
/// reports its own body errors only as text): the kind its text names.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn error_from_text(text: &str, target: &str, what: &str) -> ConnectorError {
    let lower = text.to_ascii_lowercase();
    if lower.contains("response body size exceeds limit") {
        let limit = lower
            .rsplit_once(": ")
            .and_then(|(_, rest)| rest.trim_end_matches(" bytes").trim().parse::<u64>().ok())
            .map(|n| format!(" ({})", size(n)))
            .unwrap_or_default();
        return ConnectorError::protocol(format!("{target}: the response is larger than the host allows{limit}"));
    }
    if lower.contains("timeout") || lower.contains("timed out") {
        return ConnectorError::timeout(format!(
            "{target}: the server stopped sending before the response was complete ({text})"
        ));
    }
    ConnectorError::unreachable(format!("{target}: could not {what}: {text}"))
}

/// The exchange itself, through the component's wasi:http imports.
#[cfg(target_arch = "wasm32")]
mod wasi {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        self as wasi_http, ErrorCode, Fields, IncomingBody, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use wasip2::io::streams::StreamError;

    use super::{Limits, Method, Request, Response, error_from_code, error_from_text, too_large};
    use crate::ConnectorError;

    /// Bytes asked for per read of the response body.
    const READ_CHUNK: u64 = 64 * 1024;
    /// Bytes per write of the request body (wasi streams take at most 4 KiB per blocking write).
    const WRITE_CHUNK: usize = 4096;

    pub(super) fn send(request: &Request, limits: &Limits) -> Result<Response, ConnectorError> {
        let target = request.target();
        let failed = |what: &str| ConnectorError::internal(format!("{target}: {what}"));
        let code_error = |code: ErrorCode| error_from_code(&code, &target);

        let entries: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
            .collect();
        // The error names the problem, never a header's value.
        let headers = Fields::from_list(&entries).map_err(|error| {
            ConnectorError::config(format!("{target}: a request header is not allowed ({error:?})"))
        })?;
        let outgoing = OutgoingRequest::new(headers);
        outgoing.set_method(&method(request.method)).map_err(|()| failed("the method was refused"))?;
        let scheme = if request.url.scheme() == "http" { Scheme::Http } else { Scheme::Https };
        outgoing.set_scheme(Some(&scheme)).map_err(|()| failed("the scheme was refused"))?;
        let url = &request.url;
        let authority = &url[url::Position::BeforeHost..url::Position::AfterPort];
        outgoing.set_authority(Some(authority)).map_err(|()| failed("the authority was refused"))?;
        let path_with_query = &url[url::Position::BeforePath..url::Position::AfterQuery];
        outgoing.set_path_with_query(Some(path_with_query)).map_err(|()| failed("the path was refused"))?;

        let options = RequestOptions::new();
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // A host that does not support a timeout still bounds the call itself.
        let _ = options.set_connect_timeout(limits.connect_timeout.map(nanos));
        let _ = options.set_first_byte_timeout(limits.first_byte_timeout.map(nanos));
        let _ = options.set_between_bytes_timeout(limits.between_bytes_timeout.map(nanos));

        let body = outgoing.body().map_err(|()| failed("the request body was taken twice"))?;
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(code_error)?;
        if !request.body.is_empty() {
            let stream = body.write().map_err(|()| failed("the request body stream was taken twice"))?;
            for chunk in request.body.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|error| stream_error(error, &target, "send the body"))?;
            }
            drop(stream);
        }
        OutgoingBody::finish(body, None).map_err(code_error)?;

        let pollable = future.subscribe();
        pollable.block();
        drop(pollable);
        let incoming = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(code_error(code)),
            Some(Err(())) => return Err(failed("the response was taken twice")),
            None => return Err(failed("the response was not ready after waiting")),
        };
        let status = incoming.status();
        let headers: Vec<(String, String)> = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let max = limits.max_response_bytes;
        // A HEAD answer (and a 204 or 304) announces the length of a body it
        // does not carry: that length is neither a body to refuse nor one
        // to allocate for.
        let bodiless = request.method == Method::Head || status == 204 || status == 304;
        let announced = headers
            .iter()
            .find(|(name, _)| name == "content-length" && !bodiless)
            .and_then(|(_, value)| value.trim().parse::<u64>().ok());
        if announced.is_some_and(|length| length > max) {
            return Err(too_large(&target, max, announced));
        }

        let incoming_body = incoming.consume().map_err(|()| failed("the response body was taken twice"))?;
        let stream = incoming_body.stream().map_err(|()| failed("the response body stream was taken twice"))?;
        // With a length, one buffer of that size; without, the chunks as
        // they come, joined at the end: a doubling buffer would hold old and
        // new copies at once (and a 64 MiB body could take 192 MiB).
        let mut bytes: Vec<u8> = Vec::with_capacity(announced.map_or(0, |n| n as usize));
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut total = 0u64;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    if total > max {
                        return Err(too_large(&target, max, announced));
                    }
                    if announced.is_some() {
                        bytes.extend_from_slice(&chunk);
                    } else {
                        chunks.push(chunk);
                    }
                }
                Err(StreamError::Closed) => break,
                Err(error) => return Err(stream_error(error, &target, "read the response")),
            }
        }
        // Children before parents: the stream, then the body (trailers ignored).
        drop(stream);
        drop(IncomingBody::finish(incoming_body));
        if !chunks.is_empty() {
            bytes.reserve_exact(total as usize);
            for chunk in chunks {
                bytes.extend_from_slice(&chunk);
            }
        }
        Ok(Response { status, headers, body: bytes })
    }

    fn method(method: Method) -> wasi_http::Method {
        match method {
            Method::Get => wasi_http::Method::Get,
            Method::Head => wasi_http::Method::Head,
            Method::Post => wasi_http::Method::Post,
            Method::Put => wasi_http::Method::Put,
            Method::Patch => wasi_http::Method::Patch,
            Method::Delete => wasi_http::Method::Delete,
            Method::Options => wasi_http::Method::Options,
        }
    }

    /// A failed stream read or write: the wasi:http code behind it when there is one.
    fn stream_error(error: StreamError, target: &str, what: &str) -> ConnectorError {
        match error {
            StreamError::Closed => {
                ConnectorError::unreachable(format!("{target}: the connection closed before the server could {what}"))
            }
            StreamError::LastOperationFailed(error) => match wasi_http::http_error_code(&error) {
                Some(code) => error_from_code(&code, target),
                None => error_from_text(&error.to_debug_string(), target, what),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::ErrorKind;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn base_urls_must_be_plain_http_origins() {
        assert_eq!(
            parse_base_url(" https://api.example.com/v1 ", "base_url").unwrap().as_str(),
            "https://api.example.com/v1"
        );
        for bad in ["ftp://x/", "api.example.com", "https://user:pw@h/", "https://h/#frag", "http://", ""] {
            let error = parse_base_url(bad, "base_url").unwrap_err();
            assert_eq!(error.kind, ErrorKind::Config, "{bad}");
            assert!(error.message.starts_with("`base_url` is not a usable URL"), "{}", error.message);
            assert!(!error.message.contains("pw"), "{}", error.message);
        }
    }

    #[test]
    fn paths_join_under_the_base_path() {
        let cases = [
            ("http://h:8080/v1", "/users", "http://h:8080/v1/users"),
            ("http://h:8080/v1/", "users", "http://h:8080/v1/users"),
            ("http://h/", "/a/b?x=1&y=2", "http://h/a/b?x=1&y=2"),
            ("http://h", "", "http://h/"),
            ("http://h/v1", "", "http://h/v1"),
            ("http://h/v1", "/", "http://h/v1/"),
            ("http://h/v1?tenant=7", "/users?page=2", "http://h/v1/users?tenant=7&page=2"),
            ("http://h/v1", "/users#top", "http://h/v1/users"),
            ("http://h/v1", "/a/../../../etc", "http://h/etc"),
            ("http://h/v1", "/search?q=a:b", "http://h/v1/search?q=a:b"),
        ];
        for (base, path, expected) in cases {
            assert_eq!(join_path(&url(base), path).unwrap().as_str(), expected, "{base} + {path}");
        }
        for bad in ["http://other/x", "//other/x", "https://h/v1/users"] {
            assert_eq!(join_path(&url("http://h/v1"), bad).unwrap_err().kind, ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn requests_never_show_their_secrets() {
        let request = Request::get(url("https://h/v1/users?api_key=s3cret"))
            .header("authorization", "Bearer t0ken")
            .query("key", "k3y");
        assert_eq!(request.target(), "GET /v1/users");
        let debug = format!("{request:?}");
        for secret in ["s3cret", "t0ken", "k3y"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("authorization"), "{debug}");
        assert_eq!(request.url.query(), Some("api_key=s3cret&key=k3y"));
        assert_eq!(redacted(&request.url), "https://h/v1/users");
    }

    #[test]
    fn methods_parse_in_any_case() {
        assert_eq!(Method::parse("get"), Some(Method::Get));
        assert_eq!(Method::parse("PATCH"), Some(Method::Patch));
        assert_eq!(Method::parse("BREW"), None);
        assert_eq!(Method::default().to_string(), "GET");
    }

    #[test]
    fn responses_read_headers_json_and_statuses() {
        let response = Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"a":1}"#.to_vec(),
        };
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.json::<serde_json::Value>().unwrap()["a"], 1);
        let html = Response { body: b"<html>".to_vec(), ..response.clone() };
        let error = html.json::<serde_json::Value>().unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains("content type application/json, 6 bytes"), "{}", error.message);
        let request = Request::get(url("http://h/x"));
        let kinds = [(401, ErrorKind::Auth), (403, ErrorKind::Permission), (404, ErrorKind::NotFound)];
        for (status, kind) in kinds.into_iter().chain([(503, ErrorKind::Unreachable), (302, ErrorKind::Protocol)]) {
            let error = Response { status, ..Response::default() }.error_for_status(&request).unwrap_err();
            assert_eq!(error.kind, kind, "{status}");
            assert!(error.message.starts_with(&format!("GET /x answered HTTP {status}")), "{}", error.message);
        }
        assert!(status_error(503, "GET /").retryable);
        assert!(response.error_for_status(&request).is_ok());
    }

    #[test]
    fn endpoint_urls_give_the_signed_authority() {
        let (url, authority) = parse_endpoint_url("https://[::1]:8000/ddb", "endpoint_url").unwrap();
        assert_eq!((authority.as_str(), url.path()), ("[::1]:8000", "/ddb"));
        let (_, authority) = parse_endpoint_url("https://S3.example.com:443", "endpoint_url").unwrap();
        assert_eq!(authority, "s3.example.com");
        for bad in ["http://host/?a=b", "http://host:0", "ftp://host", "http://u:p@host"] {
            let error = parse_endpoint_url(bad, "endpoint_url").unwrap_err();
            assert_eq!(error.kind, crate::ErrorKind::Config, "{bad}");
            assert!(error.message.contains("`endpoint_url`"), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn limits_follow_the_data_source_timeouts() {
        let mut request = crate::testing::connect_request("t", &serde_json::json!({}));
        request.connect_timeout_ms = 2000;
        request.query_timeout_ms = 0;
        let limits = Limits::from_request(&request);
        assert_eq!(limits.connect_timeout, Some(Duration::from_millis(1800)));
        assert_eq!(limits.first_byte_timeout, None);
        request.query_timeout_ms = 1000;
        let limits = Limits::from_request(&request);
        assert_eq!(limits.connect_timeout, Some(Duration::from_millis(900)));
        assert_eq!(limits.first_byte_timeout, Some(Duration::from_millis(900)));
        assert_eq!(limits.between_bytes_timeout, Some(Duration::from_millis(900)));
        assert_eq!(limits.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert_eq!(limits.max_response_bytes(10).max_response_bytes, 10);
    }

    #[test]
    fn native_builds_have_no_wasi_http() {
        let error = send(&Request::get(url("http://127.0.0.1:1/")), &Limits::default()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        let error = send(&Request::get(url("file:///etc/passwd")), &Limits::default()).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
    }

    /// Answers from a script and records the URLs asked for.
    struct Scripted {
        answers: RefCell<Vec<Response>>,
        asked: RefCell<Vec<(Method, String)>>,
    }

    impl Transport for Scripted {
        fn send(&self, request: &Request, _: &Limits) -> Result<Response, ConnectorError> {
            self.asked.borrow_mut().push((request.method, request.url.to_string()));
            let mut answers = self.answers.borrow_mut();
            if answers.is_empty() { Err(ConnectorError::internal("no more answers")) } else { Ok(answers.remove(0)) }
        }
    }

    fn redirect(status: u16, location: &str) -> Response {
        Response { status, headers: vec![("location".into(), location.into())], body: vec![] }
    }

    #[test]
    fn same_origin_redirects_are_followed_and_others_refused() {
        let transport = Scripted {
            answers: RefCell::new(vec![
                redirect(301, "/v2/users"),
                redirect(303, "http://h:80/done?x=1"),
                Response { status: 200, ..Response::default() },
            ]),
            asked: RefCell::new(vec![]),
        };
        let request = Request::new(Method::Post, url("http://h/v1/users")).body("x");
        let response = send_following_redirects(&transport, &request, &Limits::default(), 5).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            transport.asked.borrow().as_slice(),
            [
                (Method::Post, "http://h/v1/users".to_owned()),
                (Method::Get, "http://h/v2/users".to_owned()),
                (Method::Get, "http://h/done?x=1".to_owned())
            ]
        );

        let transport = Scripted {
            answers: RefCell::new(vec![redirect(302, "http://evil.example:8080/steal?token=abc")]),
            asked: RefCell::new(vec![]),
        };
        let error =
            send_following_redirects(&transport, &Request::get(url("http://h/a")), &Limits::default(), 5).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Permission);
        assert!(error.message.contains("http://evil.example:8080/steal"), "{}", error.message);
        assert!(!error.message.contains("token=abc"), "{}", error.message);

        let loops = Scripted { answers: RefCell::new(vec![redirect(307, "/a"); 3]), asked: RefCell::new(vec![]) };
        let error =
            send_following_redirects(&loops, &Request::get(url("http://h/a")), &Limits::default(), 2).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Protocol);
        assert!(error.message.contains("more than 2 redirects"), "{}", error.message);
    }

    #[test]
    fn wasi_error_codes_map_to_kinds() {
        use wasip2::http::types::{DnsErrorPayload, ErrorCode as E};
        let dns = E::DnsError(DnsErrorPayload { rcode: Some("NXDOMAIN".into()), info_code: None });
        let cases = [
            (E::ConnectionRefused, ErrorKind::Unreachable, true),
            (dns, ErrorKind::Unreachable, true),
            (E::ConnectionTimeout, ErrorKind::Timeout, true),
            (E::HttpResponseTimeout, ErrorKind::Timeout, true),
            (E::HttpRequestDenied, ErrorKind::Permission, false),
            (E::DestinationIpProhibited, ErrorKind::Permission, false),
            (E::TlsCertificateError, ErrorKind::Protocol, false),
            (E::HttpResponseBodySize(Some(64 << 20)), ErrorKind::Protocol, false),
            (E::InternalError(Some("boom".into())), ErrorKind::Internal, false),
        ];
        for (code, kind, retryable) in cases {
            let error = error_from_code(&code, "GET /x");
            assert_eq!((error.kind, error.retryable), (kind, retryable), "{code:?}");
            assert!(error.message.starts_with("GET /x: "), "{}", error.message);
        }
        let error = error_from_code(&E::HttpResponseBodySize(Some(64 << 20)), "GET /x");
        assert_eq!(error.message, "GET /x: the response is larger than the host allows (64 MiB)");
        assert!(error_from_code(&E::HttpRequestDenied, "GET /").message.contains("refused by the sandbox"));
    }

    #[test]
    fn body_errors_without_a_code_are_read_from_their_text() {
        let error =
            error_from_text("HTTP response body size exceeds limit: 67108864 bytes", "GET /x", "read the response");
        assert_eq!(
            (error.kind, error.message.as_str()),
            (ErrorKind::Protocol, "GET /x: the response is larger than the host allows (64 MiB)")
        );
        let error = error_from_text("connection read timeout", "GET /x", "read the response");
        assert_eq!(error.kind, ErrorKind::Timeout);
        let error = error_from_text("hyper error: connection reset", "GET /x", "read the response");
        assert_eq!((error.kind, error.retryable), (ErrorKind::Unreachable, true));
        assert_eq!(error.message, "GET /x: could not read the response: hyper error: connection reset");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(1536 << 10), "1.5 MiB");
        assert_eq!(size(512 << 10), "512 KiB");
        assert_eq!(size(100), "100 bytes");
        let error = too_large("GET /big", 1 << 20, Some(40 << 20));
        assert_eq!(
            error.message,
            "GET /big: the response is larger than 1 MiB, the most one response may have (it announced 40 MiB)"
        );
    }
}
