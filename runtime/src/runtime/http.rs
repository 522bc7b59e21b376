//! `wasi:http/outgoing-handler` for connectors, under the store's HTTP
//! grant. wasmtime-wasi-http parses the guest's request; this module decides
//! and sends it:
//! - only to the granted origin (scheme, host, port): anything else, such as
//!   a redirect the guest tries to follow to another host, is
//!   `http-request-denied`;
//! - only to the addresses resolved when the grant was made (no DNS lookup
//!   here, so a changed DNS answer cannot point it elsewhere);
//! - within the data source's timeouts (the guest may ask for less, never
//!   more) and a cap on the response body;
//! - within the store's budget of new connections per second (every request
//!   opens one), and holding one of the server's guest socket slots for as
//!   long as its connection lives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::Sleep;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::budget::{Meter, ServerSocket};
use crate::outbound::{self, ConnectError};
use crate::sandbox::HttpGrant;
use crate::sandbox::http::HttpScheme;

/// The hooks a store hands wasmtime-wasi-http.
pub struct HttpEgress {
    grant: Option<HttpGrant>,
    meter: Arc<Meter>,
    /// The server's cap on guest sockets.
    server_sockets: u32,
}

impl HttpEgress {
    pub fn new(grant: Option<HttpGrant>, meter: Arc<Meter>, server_sockets: u32) -> Self {
        Self { grant, meter, server_sockets }
    }
}

type Sent = (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

impl WasiHttpHooks for HttpEgress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _request_done: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        let grant = self.grant.clone().filter(|grant| grant.allows(request.uri()));
        if grant.is_none() {
            tracing::warn!(uri = %redacted(request.uri()), "a connector's HTTP request was outside its grant");
        }
        // Every request is one host connection: paced, refused ones included
        // (a flood of them costs the host as well), within the call's deadline.
        let wait = self.meter.pace_http_request();
        let (meter, cap) = (self.meter.clone(), self.server_sockets);
        Box::new(async move {
            tokio::time::sleep(wait).await;
            let grant = grant.ok_or(Error::HttpRequestDenied)?;
            let Some(slot) = ServerSocket::take(cap) else {
                meter.exceed(ServerSocket::exhausted(cap));
                return Err(Error::ConnectionLimitReached);
            };
            send(request, options.unwrap_or_default(), grant, slot).await
        })
    }

    /// A certificate the client refuses is worth telling apart from a
    /// garbled handshake: it is what users most often have to fix.
    fn p2_error_from_tls(&mut self, error: &std::io::Error) -> ErrorCode {
        let certificate = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|inner| matches!(inner, rustls::Error::InvalidCertificate(_)));
        if certificate { ErrorCode::TlsCertificateError } else { ErrorCode::TlsProtocolError }
    }
}

async fn send(
    mut request: http::Request<WasiBody>,
    options: RequestOptions,
    grant: HttpGrant,
    slot: ServerSocket,
) -> Result<Sent, Error> {
    let connect_timeout = at_most(options.connect_timeout, grant.connect_timeout);
    let first_byte_timeout = at_most(options.first_byte_timeout, grant.io_timeout);
    let between_bytes_timeout = at_most(options.between_bytes_timeout, grant.io_timeout);

    let head_request = request.method() == http::Method::HEAD;
    let tls_name = match grant.origin.scheme {
        HttpScheme::Http => None,
        HttpScheme::Https => Some(grant.origin.host.as_str()),
    };
    let stream =
        outbound::connect(grant.addrs.as_slice(), tls_name, connect_timeout).await.map_err(|error| match error {
            ConnectError::Timeout(_) => Error::ConnectionTimeout,
            ConnectError::Tcp(error) => Error::Connect(error),
            ConnectError::Name(error) => Error::from(error),
            ConnectError::Tls(error) => Error::Tls(error),
        })?;
    let (mut sender, connection) =
        tokio::time::timeout(connect_timeout, hyper::client::conn::http1::handshake(TokioIo::new(stream)))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
    // The slot goes with the connection's socket.
    let connection = tokio::spawn(async move {
        let _slot = slot;
        connection.await
    });

    // The origin is the grant's; on the wire goes the path (not a proxy request).
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;

    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let limit = grant.max_response_bytes;
    // HEAD, 204 and 304 answers carry no body, whatever their Content-Length
    // says (a HEAD of a 10 GB object is fine).
    let bodiless = head_request || matches!(response.status().as_u16(), 204 | 304);
    if !bodiless
        && let Some(length) = response.headers().get(http::header::CONTENT_LENGTH)
        && length.to_str().ok().and_then(|l| l.parse::<u64>().ok()).is_some_and(|l| l > limit)
    {
        connection.abort();
        return Err(Error::HttpResponseBodySize(Some(limit)));
    }
    let response = response.map(|incoming| LimitedBody::new(incoming, limit, between_bytes_timeout).boxed_unsync());
    let done = async move {
        match connection.await {
            Ok(result) => result.map_err(Error::from),
            // Aborted or panicked: the response already has what it got.
            Err(_) => Ok(()),
        }
    };
    Ok((response, Box::new(done)))
}

/// The guest's wish, within the host's bound.
fn at_most(requested: Option<Duration>, bound: Duration) -> Duration {
    requested.map_or(bound, |requested| requested.min(bound)).max(Duration::from_millis(1))
}

/// A URI for logs: origin and path, without the query (it may carry an API key).
fn redacted(uri: &http::Uri) -> String {
    format!("{}://{}{}", uri.scheme_str().unwrap_or("https"), uri.authority().map_or("", |a| a.as_str()), uri.path())
}

/// A response body that fails once it passes `limit` bytes or goes quiet
/// for longer than `between_bytes`.
struct LimitedBody {
    incoming: hyper::body::Incoming,
    remaining: u64,
    limit: u64,
    between_bytes: Duration,
    quiet: Pin<Box<Sleep>>,
}

impl LimitedBody {
    fn new(incoming: hyper::body::Incoming, limit: u64, between_bytes: Duration) -> Self {
        Self { incoming, remaining: limit, limit, between_bytes, quiet: Box::pin(tokio::time::sleep(between_bytes)) }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(Error::from(error)))),
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, |data| data.len() as u64);
                if size > this.remaining {
                    this.remaining = 0;
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(this.limit)))));
                }
                this.remaining -= size;
                let deadline = tokio::time::Instant::now() + this.between_bytes;
                this.quiet.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.quiet.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_may_shorten_a_timeout_but_never_lengthen_it() {
        let bound = Duration::from_secs(30);
        assert_eq!(at_most(None, bound), bound);
        assert_eq!(at_most(Some(Duration::from_secs(5)), bound), Duration::from_secs(5));
        assert_eq!(at_most(Some(Duration::from_secs(600)), bound), bound);
        assert_eq!(at_most(Some(Duration::ZERO), bound), Duration::from_millis(1), "zero would panic tokio timers");
    }

    #[test]
    fn logged_uris_drop_the_query() {
        let uri: http::Uri = "https://api.example.com/v1/items?api_key=secret".parse().unwrap();
        assert_eq!(redacted(&uri), "https://api.example.com/v1/items");
    }
}
