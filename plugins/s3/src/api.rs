//! S3's REST API as this connector calls it: ListObjectsV2, HeadObject,
//! HeadBucket and ranged GetObject, each signed with SigV4 for service
//! `s3` (`inlet_sdk::aws`), and S3's XML errors mapped to error kinds.
//!
//! The transport is [`inlet_sdk::http::Transport`]: wasi:http in the
//! component, a scripted fake in the unit tests.

use inlet_sdk::ConnectorError;
use inlet_sdk::aws::client::{self as aws_client, Headers, Scope, ServiceError};
use inlet_sdk::aws::{self, Payload};
use inlet_sdk::http::{Method, Request, Response, Transport};

use crate::config::Endpoint;
use crate::xml;

pub const SERVICE: &str = "s3";
/// One ListObjectsV2 page: at most 1,000 keys (~ 400 KB of XML).
pub const MAX_LIST_BYTES: u64 = 8 << 20;
/// Keys asked for per ListObjectsV2 call (the service's maximum).
pub const LIST_PAGE: u32 = 1000;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<String>,
}

/// One ListObjectsV2 page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<Object>,
    /// Set when the listing is truncated.
    pub next: Option<String>,
}

/// What HeadObject and HeadBucket tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub size: Option<u64>,
    pub content_type: Option<String>,
    pub last_modified: Option<String>,
    pub server: Option<String>,
    pub region: Option<String>,
}

/// A signed-request client for one bucket and set of credentials.
pub struct Client<T: Transport> {
    aws: aws_client::Client<T>,
    endpoint: Endpoint,
    bucket: String,
}

/// `a=1&b=2` from pairs: each name and value URI-encoded once, sorted, so
/// that the query sent is the canonical one signed.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> =
        pairs.iter().map(|(name, value)| (aws::uri_encode(name), aws::uri_encode(value))).collect();
    encoded.sort();
    encoded.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

impl<T: Transport> Client<T> {
    pub fn new(aws: aws_client::Client<T>, endpoint: Endpoint, bucket: String) -> Self {
        Self { aws, endpoint, bucket }
    }

    /// The SigV4 scope of `endpoint` in `region`.
    pub fn scope(endpoint: &Endpoint, region: &str) -> Scope {
        Scope { service: SERVICE, region: region.to_owned(), authority: endpoint.authority.clone() }
    }

    #[cfg(test)]
    pub fn with_clock(self, clock: fn() -> u64) -> Self {
        Self { aws: self.aws.with_clock(clock), ..self }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A signed request without a body. `path` is encoded, `query` canonical.
    pub fn request(&self, method: Method, path: &str, query: &str, extra: &[(&str, String)]) -> Request {
        let headers = Headers { extra: extra.to_vec(), payload: Payload::Bytes(b""), content_sha256: true };
        self.aws.sign(method, self.endpoint.url(path, query), path, query, headers)
    }

    fn send(&self, what: &str, request: &Request, max_bytes: u64) -> Result<Response, ConnectorError> {
        let service_error = |response: &Response| service_error(what, &self.bucket, response);
        self.aws.send(&format!("S3 {what}"), request, Some(max_bytes), service_error)
    }

    /// One ListObjectsV2 page under `prefix`, keys URL-encoded on the wire.
    pub fn list(&self, prefix: &str, continuation: Option<&str>, max_keys: u32) -> Result<ListPage, ConnectorError> {
        let max_keys = max_keys.clamp(1, LIST_PAGE).to_string();
        let mut pairs = vec![("list-type", "2"), ("encoding-type", "url"), ("max-keys", max_keys.as_str())];
        if !prefix.is_empty() {
            pairs.push(("prefix", prefix));
        }
        if let Some(token) = continuation {
            pairs.push(("continuation-token", token));
        }
        let request = self.request(Method::Get, &self.endpoint.bucket_path(), &query(&pairs), &[]);
        let response = self.send("ListObjectsV2", &request, MAX_LIST_BYTES)?;
        parse_list(&response.body)
    }

    /// HeadObject.
    pub fn head_object(&self, key: &str) -> Result<Head, ConnectorError> {
        let request = self.request(Method::Head, &self.endpoint.object_path(key), "", &[]);
        let response = self.send("HeadObject", &request, 0)?;
        Ok(head(&response))
    }

    /// HeadBucket.
    pub fn head_bucket(&self) -> Result<Head, ConnectorError> {
        let request = self.request(Method::Head, &self.endpoint.bucket_path(), "", &[]);
        let response = self.send("HeadBucket", &request, 0)?;
        Ok(head(&response))
    }

    /// GetObject of bytes `offset .. offset + len` (within a `size`-byte
    /// object). A server that ignores the range and answers the whole object
    /// is accepted when that is what was asked for (or within the cap).
    pub fn get_range(&self, key: &str, offset: u64, len: u64, size: u64) -> Result<Vec<u8>, ConnectorError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let last = offset.saturating_add(len - 1).min(size.saturating_sub(1));
        let range = format!("bytes={offset}-{last}");
        let request = self.request(Method::Get, &self.endpoint.object_path(key), "", &[("range", range.clone())]);
        let response = self.send("GetObject", &request, len.saturating_add(1024))?;
        check_range(&response, offset, last, size)
            .map_err(|what| ConnectorError::protocol(format!("S3 GetObject {range}: {what}")))?;
        let mut body = response.body;
        if response.status == 200 {
            // The whole object came back: keep the range asked for.
            if offset > 0 {
                body =
                    body.get(usize::try_from(offset).unwrap_or(usize::MAX)..).map(<[u8]>::to_vec).unwrap_or_default();
            }
            body.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        }
        Ok(body)
    }
}

/// That a ranged answer holds the bytes asked for.
fn check_range(response: &Response, offset: u64, last: u64, size: u64) -> Result<(), String> {
    let wanted = last - offset + 1;
    match response.status {
        206 => {
            if let Some(content_range) = response.header("content-range") {
                let expected = format!("bytes {offset}-{last}/");
                if !content_range.trim().starts_with(&expected) {
                    return Err(format!("the server sent {content_range}, not {expected}{size}"));
                }
            }
            if response.body.len() as u64 != wanted {
                return Err(format!("{} bytes arrived for a range of {wanted}", response.body.len()));
            }
            Ok(())
        }
        200 if response.body.len() as u64 > last => Ok(()),
        status => Err(format!("HTTP {status} with {} bytes, not the range asked for", response.body.len())),
    }
}

fn head(response: &Response) -> Head {
    let text = |name: &str| response.header(name).map(str::to_owned);
    Head {
        size: response.header("content-length").and_then(|v| v.trim().parse().ok()),
        content_type: text("content-type"),
        last_modified: text("last-modified"),
        server: text("server"),
        region: text("x-amz-bucket-region"),
    }
}

/// Decodes S3's `encoding-type=url` values: `%XX` escapes and `+` as space.
pub fn url_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("a bad %-escape")?;
                out.push(byte);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_owned())
}

/// A ListObjectsV2 answer.
pub fn parse_list(body: &[u8]) -> Result<ListPage, ConnectorError> {
    let bad = |what: String| {
        ConnectorError::protocol(format!("S3 ListObjectsV2: the answer is not the listing expected ({what})"))
    };
    let root = xml::parse(body).map_err(|error| bad(error.to_string()))?;
    if root.name != "ListBucketResult" {
        return Err(bad(format!("the root element is `{}`", root.name)));
    }
    let encoded = root.child_text("EncodingType").is_some_and(|e| e.eq_ignore_ascii_case("url"));
    let mut objects = Vec::new();
    for contents in root.all("Contents") {
        let raw =
            contents.child("Key").map(|k| k.text.as_str()).ok_or_else(|| bad("an object without a Key".into()))?;
        let key =
            if encoded { url_decode(raw).map_err(|what| bad(format!("a key with {what}")))? } else { raw.to_owned() };
        let size = contents
            .child_text("Size")
            .ok_or_else(|| bad(format!("{key} has no Size")))?
            .parse::<u64>()
            .map_err(|_| bad(format!("{key} has a Size that is not a number")))?;
        let last_modified = contents.child_text("LastModified").map(str::to_owned);
        objects.push(Object { key, size, last_modified });
    }
    let truncated = match root.child_text("IsTruncated") {
        Some("true") => true,
        Some("false") | None => false,
        Some(other) => return Err(bad(format!("IsTruncated is `{other}`"))),
    };
    let next = root.child_text("NextContinuationToken").filter(|t| !t.is_empty()).map(str::to_owned);
    if truncated && next.is_none() {
        return Err(bad("a truncated listing without NextContinuationToken".into()));
    }
    Ok(ListPage { objects, next: if truncated { next } else { None } })
}

/// The `<Code>` and `<Message>` of an S3 error body, when it has one.
pub fn read_error(response: &Response) -> ServiceError {
    let (code, message) = error_code(&response.body);
    ServiceError { status: response.status, code, message }
}

fn error_code(body: &[u8]) -> (Option<String>, Option<String>) {
    match xml::parse(body) {
        Ok(root) if root.name == "Error" => (
            root.child_text("Code").filter(|c| !c.is_empty()).map(str::to_owned),
            root.child_text("Message").filter(|m| !m.is_empty()).map(str::to_owned),
        ),
        // moto and some proxies wrap it.
        Ok(root) => match root.child("Error") {
            Some(error) => (
                error.child_text("Code").filter(|c| !c.is_empty()).map(str::to_owned),
                error.child_text("Message").filter(|m| !m.is_empty()).map(str::to_owned),
            ),
            None => (None, None),
        },
        Err(_) => (None, None),
    }
}

/// The error kind an S3 error means. HEAD answers carry no body, so only
/// their status speaks.
pub fn service_error(what: &str, bucket: &str, response: &Response) -> ConnectorError {
    let error = read_error(response);
    let text = error.text(&format!("S3 {what}"));
    match error.code.as_deref().unwrap_or("") {
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "InvalidToken"
        | "ExpiredToken"
        | "TokenRefreshRequired"
        | "InvalidSecurity"
        | "MissingSecurityHeader"
        | "RequestTimeTooSkewed"
        | "InvalidClientTokenId"
        | "AuthFailure" => ConnectorError::auth(text),
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" | "InvalidObjectState" => {
            ConnectorError::permission(text)
        }
        "NoSuchBucket" => ConnectorError::not_found(format!("{text} (bucket `{bucket}`)")),
        "NoSuchKey" => ConnectorError::not_found(text),
        "AuthorizationHeaderMalformed" | "PermanentRedirect" | "IllegalLocationConstraintException" => {
            ConnectorError::config(format!("{text} (is `region` the bucket's region?)"))
        }
        "SlowDown" | "ServiceUnavailable" | "InternalError" | "503 SlowDown" => ConnectorError::unreachable(text),
        "RequestTimeout" => ConnectorError::timeout(text),
        _ => match error.status {
            301 | 307 => ConnectorError::config(format!(
                "{text}: the bucket answers from another endpoint (is `region` the bucket's region?)"
            )),
            401 => ConnectorError::auth(text),
            403 => ConnectorError::permission(format!("{text}: the credentials may not read this")),
            404 => ConnectorError::not_found(format!("{text} (bucket `{bucket}`)")),
            416 => ConnectorError::protocol(format!("{text}: the range is not satisfiable")),
            status => aws_client::error_for_status(status, text),
        },
    }
}

#[cfg(test)]
pub mod fake {
    //! The SDK's scripted transport, what S3 calls it was sent, and S3's answers.
    use inlet_sdk::aws;
    pub use inlet_sdk::testing::ScriptedTransport as Scripted;

    pub trait Calls {
        /// `METHOD path?query [range]` of the requests sent so far.
        fn calls(&self) -> Vec<String>;
    }

    impl Calls for Scripted {
        fn calls(&self) -> Vec<String> {
            self.sent()
                .iter()
                .map(|r| {
                    let range = r.headers.iter().find(|(n, _)| n == "range").map(|(_, v)| format!(" {v}"));
                    let query = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
                    format!("{} {}{query}{}", r.method, r.url.path(), range.unwrap_or_default())
                })
                .collect()
        }
    }

    /// A ListObjectsV2 answer for `(key, size)` pairs, keys URL-encoded.
    pub fn listing(objects: &[(&str, u64)], next: Option<&str>) -> Vec<u8> {
        let mut xml = String::from(
            r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><EncodingType>url</EncodingType>"#,
        );
        for (key, size) in objects {
            let key = aws::encode_path(key).replace("%20", "+");
            xml.push_str(&format!(
                "<Contents><Key>{key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><Size>{size}</Size></Contents>"
            ));
        }
        xml.push_str(&format!("<IsTruncated>{}</IsTruncated>", next.is_some()));
        if let Some(next) = next {
            xml.push_str(&format!("<NextContinuationToken>{next}</NextContinuationToken>"));
        }
        xml.push_str("</ListBucketResult>");
        xml.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use inlet_sdk::ErrorKind;

    use inlet_sdk::aws::client::example;
    use inlet_sdk::http::Limits;
    use inlet_sdk::testing::response;

    use super::fake::{Calls, Scripted, listing};
    use super::*;

    pub fn client(transport: Scripted) -> Client<Scripted> {
        let endpoint = Endpoint::parse("http://127.0.0.1:5000", Some("bkt".into())).unwrap();
        let scope = Client::<Scripted>::scope(&endpoint, "us-east-1");
        let aws = aws_client::Client::new(transport, scope, example::credentials(), Limits::default());
        Client::new(aws, endpoint, "bkt".into()).with_clock(|| example::UNIX_TIME)
    }

    #[test]
    fn requests_are_signed_for_s3_and_send_what_they_sign() {
        let client = client(Scripted::default());
        let q = query(&[("prefix", "a b/c=d"), ("list-type", "2"), ("continuation-token", "x/y+z==")]);
        assert_eq!(q, "continuation-token=x%2Fy%2Bz%3D%3D&list-type=2&prefix=a%20b%2Fc%3Dd");
        let request = client.request(Method::Get, "/bkt/", &q, &[]);
        assert_eq!(request.url.as_str(), format!("http://127.0.0.1:5000/bkt/?{q}"));
        let header =
            |name: &str| request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        assert_eq!(header("x-amz-content-sha256"), Some(aws::EMPTY_SHA256));
        assert_eq!(header("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(header("x-amz-security-token"), Some("session"));
        assert_eq!(header("host"), None, "wasi:http sets Host from the URL");
        let authorization = header("authorization").unwrap();
        assert!(authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
        ));
        let expected = aws::sign(
            &aws::Request {
                method: "GET",
                path: request.url.path(),
                query: request.url.query().unwrap_or(""),
                headers: vec![("Host".into(), "127.0.0.1:5000".into())],
                payload: Payload::Bytes(b""),
                content_sha256: true,
            },
            client.aws.credentials(),
            "us-east-1",
            "s3",
            example::AMZ_DATE,
        );
        assert!(authorization.ends_with(&expected.signature));
        assert!(!format!("{request:?}").contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn listings_decode_keys_and_follow_tokens() {
        let transport = Scripted::default();
        transport.answer(200, &[], &listing(&[("a b/x+y=1.csv", 3), ("ü/k", 0)], Some("tok/1=")));
        let client = client(transport.clone());
        let page = client.list("data/", Some("prev+"), 5000).unwrap();
        assert_eq!(page.objects[0].key, "a b/x+y=1.csv");
        assert_eq!(page.objects[1].key, "ü/k");
        assert_eq!((page.objects[0].size, page.next.as_deref()), (3, Some("tok/1=")));
        assert_eq!(
            transport.calls(),
            ["GET /bkt/?continuation-token=prev%2B&encoding-type=url&list-type=2&max-keys=1000&prefix=data%2F"]
        );
        // Without EncodingType, keys are taken as they are.
        let plain = br#"<ListBucketResult><Contents><Key>a+b%20</Key><Size>1</Size></Contents></ListBucketResult>"#;
        assert_eq!(parse_list(plain).unwrap().objects[0].key, "a+b%20");
    }

    #[test]
    fn malformed_listings_are_protocol_errors() {
        for bad in [
            &b"not xml"[..],
            b"<Error><Code>x</Code></Error>",
            b"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            b"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
            b"<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key><Size>1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%ff</Key><Size>1</Size></Contents></ListBucketResult>",
        ] {
            let error = parse_list(bad).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Protocol, "{}", String::from_utf8_lossy(bad));
            assert!(error.message.starts_with("S3 ListObjectsV2: the answer is not the listing expected"));
        }
    }

    #[test]
    fn ranges_are_asked_and_checked() {
        let transport = Scripted::default();
        transport.answer(206, &[("content-range", "bytes 90-99/100")], &[7; 10]);
        transport.answer(206, &[("content-range", "bytes 0-9/100")], &[7; 10]);
        transport.answer(200, &[], &(0..100).collect::<Vec<u8>>());
        transport.answer(200, &[], &(0..100).collect::<Vec<u8>>());
        transport.answer(206, &[("content-range", "bytes 90-99/100")], &[7; 3]);
        transport.answer(416, &[], b"<Error><Code>InvalidRange</Code></Error>");
        let client = client(transport.clone());
        assert_eq!(client.get_range("d/a.parquet", 90, 10, 100).unwrap(), [7; 10]);
        assert_eq!(client.get_range("d/a.parquet", 90, 10, 100).unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(client.get_range("d/a.parquet", 90, 10, 100).unwrap(), (90..100).collect::<Vec<u8>>());
        assert_eq!(client.get_range("d/a.parquet", 0, 10, 100).unwrap(), (0..10).collect::<Vec<u8>>());
        assert!(client.get_range("d/a.parquet", 90, 10, 100).unwrap_err().message.contains("3 bytes arrived"));
        assert_eq!(client.get_range("d/a.parquet", 90, 10, 100).unwrap_err().kind, ErrorKind::Protocol);
        assert!(client.get_range("d/a.parquet", 0, 0, 100).unwrap().is_empty());
        assert_eq!(transport.calls()[0], "GET /bkt/d/a.parquet bytes=90-99");
    }

    #[test]
    fn service_errors_map_to_kinds_without_secrets() {
        let cases = [
            (
                403,
                "<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>",
                ErrorKind::Auth,
            ),
            (
                403,
                "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>",
                ErrorKind::Auth,
            ),
            (400, "<Error><Code>ExpiredToken</Code></Error>", ErrorKind::Auth),
            (403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>", ErrorKind::Permission),
            (
                404,
                "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>",
                ErrorKind::NotFound,
            ),
            (404, "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>", ErrorKind::NotFound),
            (400, "<Error><Code>AuthorizationHeaderMalformed</Code></Error>", ErrorKind::Config),
            (301, "<Error><Code>PermanentRedirect</Code></Error>", ErrorKind::Config),
            (503, "<Error><Code>SlowDown</Code></Error>", ErrorKind::Unreachable),
            (400, "<Error><Code>RequestTimeout</Code></Error>", ErrorKind::Timeout),
            (403, "", ErrorKind::Permission),
            (404, "", ErrorKind::NotFound),
            (500, "oops", ErrorKind::Unreachable),
            (400, "<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error></ErrorResponse>", ErrorKind::Auth),
            (418, "", ErrorKind::Protocol),
        ];
        for (status, body, kind) in cases {
            let error = service_error("ListObjectsV2", "bkt", &response(status, body));
            assert_eq!(error.kind, kind, "{status} {body}");
            assert!(error.message.starts_with("S3 ListObjectsV2 failed: "), "{}", error.message);
        }
        let error = service_error("HeadBucket", "bkt", &response(404, ""));
        assert_eq!(error.message, "S3 HeadBucket failed: HTTP 404 (bucket `bkt`)");
        assert!(service_error("GetObject", "bkt", &response(503, "")).retryable);
    }

    #[test]
    fn transport_errors_name_the_operation() {
        let transport = Scripted::default();
        transport.fail(ConnectorError::unreachable("GET /bkt/: connection refused"));
        transport.answer(200, &[("content-length", "42"), ("content-type", "text/csv"), ("server", "AmazonS3")], b"");
        let client = client(transport);
        let error = client.list("", None, 1).unwrap_err();
        assert_eq!(
            (error.kind, error.message.as_str()),
            (ErrorKind::Unreachable, "S3 ListObjectsV2: GET /bkt/: connection refused")
        );
        let head = client.head_object("a.csv").unwrap();
        assert_eq!(
            (head.size, head.content_type.as_deref(), head.server.as_deref()),
            (Some(42), Some("text/csv"), Some("AmazonS3"))
        );
    }
}
