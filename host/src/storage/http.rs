//! The HTTP transport object_store's S3 client runs on: hyper over the
//! host's own rustls (ring) configuration, instead of object_store's
//! reqwest transport, which would bring aws-lc into the build.
//!
//! One connection per request: storage traffic is uploads in multi-MiB
//! parts and whole-file downloads, where a handshake is noise.

use std::error::Error as StdError;
use std::time::Duration;

use crate::outbound::{self, ConnectError, Stream};
use bytes::Bytes;
use http_body_util::BodyExt;
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpResponseBody,
    HttpService,
};
use wasmtime_wasi_http::io::TokioIo;

/// How long connecting (TCP, then TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds [`HyperService`] clients for object_store.
#[derive(Debug, Default)]
pub struct HyperConnector;

impl HttpConnector for HyperConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(HyperService))
    }
}

#[derive(Debug)]
pub struct HyperService;

#[derive(Debug, thiserror::Error)]
enum TransportError {
    #[error("the request URL has no host")]
    NoHost,
    #[error("the request URL's scheme is neither http nor https")]
    Scheme,
    #[error("connecting timed out after {0:?}")]
    ConnectTimeout(Duration),
}

/// A failed connect in object_store's terms (connect errors are retried).
fn connect_error(error: ConnectError) -> HttpError {
    match error {
        ConnectError::Timeout(after) => HttpError::new(HttpErrorKind::Connect, TransportError::ConnectTimeout(after)),
        ConnectError::Name(name) => HttpError::new(HttpErrorKind::Unknown, name),
        ConnectError::Tcp(error) | ConnectError::Tls(error) => HttpError::new(HttpErrorKind::Connect, error),
    }
}

fn error(kind: HttpErrorKind, source: impl StdError + Send + Sync + 'static) -> HttpError {
    HttpError::new(kind, source)
}

async fn connect(uri: &http::Uri) -> Result<Box<dyn Stream>, HttpError> {
    let host = uri.host().ok_or_else(|| error(HttpErrorKind::Unknown, TransportError::NoHost))?;
    // An IPv6 literal comes bracketed in the URI; sockets and TLS want it bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(error(HttpErrorKind::Unknown, TransportError::Scheme)),
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    outbound::connect((host, port), tls.then_some(host), CONNECT_TIMEOUT).await.map_err(connect_error)
}

#[async_trait::async_trait]
impl HttpService for HyperService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (mut parts, body) = request.into_parts();
        let stream = connect(&parts.uri).await?;
        let (mut sender, connection) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            hyper::client::conn::http1::handshake::<_, object_store::client::HttpRequestBody>(TokioIo::new(stream)),
        )
        .await
        .map_err(|_| error(HttpErrorKind::Connect, TransportError::ConnectTimeout(CONNECT_TIMEOUT)))?
        .map_err(|e| error(HttpErrorKind::Connect, e))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "object store connection ended with an error");
            }
        });
        // object_store signs `host` but leaves the header to the client; on
        // the wire goes the path, not the absolute URL.
        if let Some(authority) = parts.uri.authority() {
            let host = http::HeaderValue::from_str(authority.as_str()).map_err(|e| error(HttpErrorKind::Unknown, e))?;
            parts.headers.insert(http::header::HOST, host);
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = http::Uri::try_from(path).map_err(|e| error(HttpErrorKind::Unknown, e))?;
        let response = sender
            .send_request(http::Request::from_parts(parts, body))
            .await
            .map_err(|e| error(if e.is_timeout() { HttpErrorKind::Timeout } else { HttpErrorKind::Request }, e))?;
        let (parts, incoming) = response.into_parts();
        let body = incoming.map_frame(|frame| frame.map_data(Bytes::from)).map_err(|e| {
            let kind = if e.is_incomplete_message() { HttpErrorKind::Interrupted } else { HttpErrorKind::Decode };
            error(kind, e)
        });
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}
