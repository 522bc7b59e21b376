//! AWS Signature Version 4 (feature `aws`), for requests whose headers
//! carry the signature: DynamoDB's JSON API, S3's REST API, any other
//! service signed the same way.
//!
//! The four steps of the published algorithm, each a pure function so that
//! the AWS test suite's intermediate values can be checked one by one:
//! [`canonical_request`], [`string_to_sign`], [`signing_key`], and
//! [`sign`] (which adds `X-Amz-Date`, `X-Amz-Security-Token`, for S3
//! `X-Amz-Content-Sha256`, and `Authorization`). The secret never leaves
//! this module except inside the derived, scoped signing key.
//!
//! Paths are signed as sent: build them with [`encode_path`] (each segment
//! URI-encoded once, `/` kept). That is S3's rule (S3 does not encode the
//! path a second time) and, for paths of unreserved characters such as
//! DynamoDB's `/`, every other service's too. Query strings are
//! canonicalized here: pairs URI-encoded once (whether they arrive encoded
//! or not) and sorted.
//!
//! With the `http` feature, [`client`] signs and sends requests for one
//! service endpoint and reads the parts of AWS error answers that every
//! service shares.
//!
//! ```
//! use inlet_sdk::aws::{self, Credentials, Payload, Request};
//! let credentials = Credentials {
//!     access_key_id: "AKIDEXAMPLE".into(),
//!     secret_access_key: "secret".into(),
//!     session_token: None,
//! };
//! let path = aws::encode_path("/bucket/year=2024/part 0.parquet");
//! assert_eq!(path, "/bucket/year%3D2024/part%200.parquet");
//! let request = Request {
//!     method: "HEAD",
//!     path: &path,
//!     query: "",
//!     headers: vec![("host".into(), "s3.eu-west-1.amazonaws.com".into())],
//!     payload: Payload::Unsigned,
//!     content_sha256: true,
//! };
//! let signed = aws::sign(&request, &credentials, "eu-west-1", "s3", "20260101T000000Z");
//! assert_eq!(signed.signed_headers, "host;x-amz-content-sha256;x-amz-date");
//! assert!(signed.headers.contains(&("X-Amz-Content-Sha256".into(), "UNSIGNED-PAYLOAD".into())));
//! ```

#[cfg(feature = "http")]
pub mod client;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{ConnectRequest, ConnectRequestExt, ConnectorError};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credentials a request is signed with.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary credentials (STS) carry a session token, sent and signed as
    /// `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"********")
            .field("session_token", &self.session_token.as_ref().map(|_| "********"))
            .finish()
    }
}

impl Credentials {
    /// The credentials a data source holds: `access_key_id` from its config
    /// (not secret: it names the key), the secrets `secret_access_key`
    /// (required, not empty) and `session_token` (optional; empty counts as
    /// unset) from the request.
    pub fn from_request(request: &ConnectRequest, access_key_id: &str) -> Result<Self, ConnectorError> {
        let secret_access_key = request.required_secret("secret_access_key")?;
        if secret_access_key.is_empty() {
            return Err(ConnectorError::config("the secret `secret_access_key` is empty"));
        }
        Ok(Self {
            access_key_id: access_key_id.trim().to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: session_token(request).map(str::to_owned),
        })
    }
}

/// The request's `session_token` secret, when set and not empty.
pub fn session_token(request: &ConnectRequest) -> Option<&str> {
    request.secret("session_token").filter(|token| !token.is_empty())
}

/// `AKIA…MPLE`: enough of an access key id to tell keys apart in a step
/// message; a short id (8 characters or fewer) shows only `…`.
pub fn masked_key_id(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "…".repeat(usize::from(!chars.is_empty()));
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// A region as it goes into the credential scope: 1 to 64 lowercase
/// letters, digits and dashes (`us-east-1`); anything else is a `config` error.
pub fn check_region(region: &str) -> Result<(), ConnectorError> {
    let valid = !region.is_empty()
        && region.len() <= 64
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(ConnectorError::config("region must be lowercase letters, digits and dashes (e.g. us-east-1)"));
    }
    Ok(())
}

/// An access key id as it goes into the `Credential=` part of the
/// signature: 1 to 128 characters without white space, `/` or `,`.
pub fn check_access_key_id(key: &str) -> Result<(), ConnectorError> {
    if key.trim().is_empty() || key.len() > 128 {
        return Err(ConnectorError::config("access_key_id must be 1 to 128 characters"));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == ',') {
        return Err(ConnectorError::config("access_key_id must not contain spaces, `/` or `,`"));
    }
    Ok(())
}

/// The hex SHA-256 of an empty body (what a GET or HEAD signs).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The payload hash S3 accepts in place of the body's.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What the signature says about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The body, hashed into the signature.
    Bytes(&'a [u8]),
    /// `UNSIGNED-PAYLOAD`: the body is not part of the signature (S3 only).
    Unsigned,
}

impl Payload<'_> {
    /// The hash the canonical request (and S3's `x-amz-content-sha256`) carries.
    pub fn hash(&self) -> String {
        match self {
            Payload::Bytes([]) => EMPTY_SHA256.to_owned(),
            Payload::Bytes(bytes) => sha256_hex(bytes),
            Payload::Unsigned => UNSIGNED_PAYLOAD.to_owned(),
        }
    }
}

/// A request to sign. `headers` must include `host`; names are matched
/// case-insensitively and every header given is signed.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (already URI-encoded, see [`encode_path`]); signed as is.
    pub path: &'a str,
    /// The raw query string without `?` (`""` for none).
    pub query: &'a str,
    pub headers: Vec<(String, String)>,
    pub payload: Payload<'a>,
    /// Also send and sign `X-Amz-Content-Sha256` (S3 requires it).
    pub content_sha256: bool,
}

/// What signing produced, kept for tests and debugging (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub signed_headers: String,
    /// The headers to add to the request: `X-Amz-Date`, the session token
    /// when there is one, and `Authorization`.
    pub headers: Vec<(String, String)>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Percent-encodes everything but the unreserved characters (`A-Z a-z 0-9
/// - _ . ~`), upper-case hex, as SigV4 wants.
pub fn uri_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A path with each `/`-separated segment URI-encoded once (`/` kept), the
/// form S3 wants both on the wire and in the canonical request.
pub fn encode_path(path: &str) -> String {
    path.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

/// Decodes `%XX` escapes (and nothing else), so that a query written either
/// way is encoded once (the SDK's one decoder, [`crate::text::percent_decode`]).
pub use crate::text::percent_decode;

/// The canonical query string: pairs encoded, then sorted by name and value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (uri_encode(&percent_decode(name)), uri_encode(&percent_decode(value)))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

/// Header names lowercased and sorted; values trimmed with inner runs of
/// spaces collapsed; repeated headers joined with commas in order.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match merged.iter_mut().find(|(existing, _)| *existing == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = merged.iter().map(|(name, value)| format!("{name}:{value}\n")).collect::<String>();
    let signed = merged.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
    (canonical, signed)
}

/// The canonical request and the signed header list.
pub fn canonical_request(request: &Request<'_>) -> (String, String) {
    let (headers, signed) = canonical_headers(&request.headers);
    let path = if request.path.is_empty() { "/" } else { request.path };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        path,
        canonical_query(request.query),
        headers,
        signed,
        request.payload.hash()
    );
    (canonical, signed)
}

/// `date/region/service/aws4_request`.
pub fn credential_scope(amz_date: &str, region: &str, service: &str) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    format!("{date}/{region}/{service}/aws4_request")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// Signs `request` at `amz_date` (`YYYYMMDDTHHMMSSZ`): adds `x-amz-date`,
/// with a session token `x-amz-security-token`, and with
/// [`Request::content_sha256`] `x-amz-content-sha256` to the signed headers,
/// and returns the headers to send with the `Authorization` header.
pub fn sign(request: &Request<'_>, credentials: &Credentials, region: &str, service: &str, amz_date: &str) -> Signed {
    let mut request = request.clone();
    let mut added = vec![("X-Amz-Date".to_owned(), amz_date.to_owned())];
    if request.content_sha256 {
        added.push(("X-Amz-Content-Sha256".to_owned(), request.payload.hash()));
    }
    if let Some(token) = &credentials.session_token {
        added.push(("X-Amz-Security-Token".to_owned(), token.clone()));
    }
    request.headers.retain(|(name, _)| !added.iter().any(|(a, _)| a.eq_ignore_ascii_case(name)));
    request.headers.extend(added.iter().cloned());
    let (canonical_request, signed_headers) = canonical_request(&request);
    let scope = credential_scope(amz_date, region, service);
    let string_to_sign = string_to_sign(amz_date, &scope, &canonical_request);
    let key = signing_key(&credentials.secret_access_key, amz_date.get(..8).unwrap_or(amz_date), region, service);
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    added.push(("Authorization".to_owned(), authorization));
    Signed { canonical_request, string_to_sign, signature, signed_headers, headers: added }
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time in seconds (UTC, proleptic Gregorian).
pub fn amz_date(unix_seconds: u64) -> String {
    let days = i64::try_from(unix_seconds / 86_400).unwrap_or(i64::MAX / 2);
    let seconds = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", seconds / 3600, (seconds % 3600) / 60, seconds % 60)
}

/// Days since 1970-01-01 to (year, month, day) — Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    //! Vectors from the AWS Signature Version 4 test suite (credentials
    //! AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 2015-08-30
    //! 12:36:00Z, us-east-1, service `service`) and the documented
    //! signing-key example.
    use super::*;

    #[test]
    fn credentials_come_from_the_config_key_and_the_secrets() {
        let mut request = crate::testing::connect_request("s3", &serde_json::json!({}));
        let missing = Credentials::from_request(&request, "AKID").unwrap_err();
        assert_eq!(missing.kind, crate::ErrorKind::Config);
        request.secrets = vec![("secret_access_key".into(), String::new())];
        assert_eq!(
            Credentials::from_request(&request, "AKID").unwrap_err().message,
            "the secret `secret_access_key` is empty"
        );
        request.secrets = vec![("secret_access_key".into(), "s3cr3t".into()), ("session_token".into(), String::new())];
        let credentials = Credentials::from_request(&request, " AKID ").unwrap();
        assert_eq!((credentials.access_key_id.as_str(), credentials.session_token), ("AKID", None));
        request.secrets.push(("session_token".into(), "tok".into()));
        request.secrets.remove(1);
        let credentials = Credentials::from_request(&request, "AKID").unwrap();
        assert_eq!(credentials.session_token.as_deref(), Some("tok"));
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }

    #[test]
    fn key_ids_are_masked_and_checked() {
        assert_eq!(masked_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(masked_key_id("short"), "…");
        assert_eq!(masked_key_id(""), "");
        assert!(check_access_key_id("AKIDEXAMPLE").is_ok());
        let long_key = "k".repeat(129);
        for bad in ["", " ", "a/b", "a,b", "a b", long_key.as_str()] {
            assert_eq!(check_access_key_id(bad).unwrap_err().kind, crate::ErrorKind::Config, "{bad}");
        }
        assert!(check_region("eu-west-1").is_ok());
        let long_region = "a".repeat(65);
        for bad in ["", "US-EAST-1", "us east", long_region.as_str()] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";
    const SCOPE: &str = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SECRET.into(),
            session_token: token.map(str::to_owned),
        }
    }

    fn headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers = vec![("Host".to_owned(), "example.amazonaws.com".to_owned())];
        headers.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
        headers
    }

    fn authorization(signed: &Signed) -> &str {
        signed.headers.iter().find(|(n, _)| n == "Authorization").map(|(_, v)| v.as_str()).unwrap_or_default()
    }

    #[test]
    fn the_documented_signing_key_example() {
        let key = signing_key(SECRET, "20120215", "us-east-1", "iam");
        assert_eq!(hex(&key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn get_vanilla() {
        let request = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: headers(&[]),
            payload: Payload::Bytes(b""),
            content_sha256: false,
        };
        let signed = sign(&request, &credentials(None), "us-east-1", "service", DATE);
        assert_eq!(
            signed.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signed.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        assert_eq!(
            authorization(&signed),
            format!(
                "AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
        assert_eq!(signed.headers[0], ("X-Amz-Date".to_owned(), DATE.to_owned()));
    }

    #[test]
    fn post_x_www_form_urlencoded() {
        let request = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: headers(&[("Content-Type", "application/x-www-form-urlencoded")]),
            payload: Payload::Bytes(b"Param1=value1"),
            content_sha256: false,
        };
        let signed = sign(&request, &credentials(None), "us-east-1", "service", DATE);
        assert_eq!(
            signed.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n\
             x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n\
             9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        assert!(signed.string_to_sign.ends_with("\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"));
        assert_eq!(signed.signature, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
        assert_eq!(signed.signed_headers, "content-type;host;x-amz-date");
    }

    #[test]
    fn post_vanilla_and_query_ordering() {
        let post = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: headers(&[]),
            payload: Payload::Bytes(b""),
            content_sha256: false,
        };
        let signed = sign(&post, &credentials(None), "us-east-1", "service", DATE);
        assert_eq!(signed.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
        let get = Request {
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: headers(&[]),
            payload: Payload::Bytes(b""),
            content_sha256: false,
        };
        let signed = sign(&get, &credentials(None), "us-east-1", "service", DATE);
        assert!(signed.canonical_request.starts_with("GET\n/\nParam1=value1&Param2=value2\n"));
        assert_eq!(signed.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
    }

    #[test]
    fn header_values_are_trimmed_and_inner_spaces_collapsed() {
        // get-header-value-trim
        let request = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: headers(&[("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")]),
            payload: Payload::Bytes(b""),
            content_sha256: false,
        };
        let signed = sign(&request, &credentials(None), "us-east-1", "service", DATE);
        assert!(signed.canonical_request.contains("\nmy-header1:value1\nmy-header2:\"a b c\"\n"));
        assert_eq!(signed.signature, "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
    }

    #[test]
    fn post_sts_header_before_signs_the_session_token() {
        let request = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: headers(&[]),
            payload: Payload::Bytes(b""),
            content_sha256: false,
        };
        let signed = sign(&request, &credentials(Some(STS_TOKEN)), "us-east-1", "service", DATE);
        assert_eq!(signed.signed_headers, "host;x-amz-date;x-amz-security-token");
        assert!(signed.string_to_sign.ends_with("\nc237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"));
        assert_eq!(signed.signature, "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
        assert!(signed.headers.contains(&("X-Amz-Security-Token".to_owned(), STS_TOKEN.to_owned())));
    }

    #[test]
    fn the_secret_is_never_in_what_signing_returns() {
        let request = Request {
            method: "POST",
            path: "/",
            query: "",
            headers: headers(&[]),
            payload: Payload::Bytes(b"{}"),
            content_sha256: false,
        };
        let creds = credentials(Some("SeSsIoN-VaLuE"));
        let signed = sign(&request, &creds, "us-east-1", "dynamodb", DATE);
        assert!(!format!("{signed:?}").contains(SECRET));
        assert!(!format!("{creds:?}").contains(SECRET));
        assert!(!format!("{creds:?}").contains("SeSsIoN-VaLuE"));
    }

    #[test]
    fn dates_format_as_amz_dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_440_938_160), DATE);
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
    }

    #[test]
    fn queries_are_encoded_once() {
        assert_eq!(canonical_query("b=2&a=x%20y&c"), "a=x%20y&b=2&c=");
        assert_eq!(canonical_query("a=x y"), "a=x%20y");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("100%"), "100%");
    }

    /// The examples of S3's "Signature Calculations for the Authorization
    /// Header: Transferring Payload in a Single Chunk" (AKIAIOSFODNN7EXAMPLE,
    /// 2013-05-24, us-east-1, bucket `examplebucket`).
    mod s3 {
        use super::super::*;

        const DATE: &str = "20130524T000000Z";

        fn credentials() -> Credentials {
            Credentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            }
        }

        fn get(path: &str, query: &str, extra: &[(&str, &str)]) -> Signed {
            let mut headers = vec![("Host".to_owned(), "examplebucket.s3.amazonaws.com".to_owned())];
            headers.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
            let request =
                Request { method: "GET", path, query, headers, payload: Payload::Bytes(b""), content_sha256: true };
            sign(&request, &credentials(), "us-east-1", "s3", DATE)
        }

        #[test]
        fn get_object_with_a_range() {
            let signed = get("/test.txt", "", &[("Range", "bytes=0-9")]);
            assert_eq!(
                signed.canonical_request,
                format!(
                    "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
                     x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n\
                     host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
                )
            );
            assert!(
                signed.string_to_sign.ends_with("\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
            );
            assert_eq!(signed.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
            assert_eq!(signed.headers[1], ("X-Amz-Content-Sha256".to_owned(), EMPTY_SHA256.to_owned()));
        }

        #[test]
        fn list_objects_with_a_query() {
            let signed = get("/", "prefix=J&max-keys=2", &[]);
            assert!(signed.canonical_request.starts_with("GET\n/\nmax-keys=2&prefix=J\n"));
            assert_eq!(signed.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
        }

        #[test]
        fn unsigned_payloads_and_paths_are_signed_as_sent() {
            let path = encode_path("/bucket/dir/a b+c=d/ü~.parquet");
            assert_eq!(path, "/bucket/dir/a%20b%2Bc%3Dd/%C3%BC~.parquet");
            let request = Request {
                method: "HEAD",
                path: &path,
                query: "",
                headers: vec![("host".into(), "h".into())],
                payload: Payload::Unsigned,
                content_sha256: true,
            };
            let signed = sign(&request, &credentials(), "us-east-1", "s3", DATE);
            // S3 does not encode the path a second time.
            assert!(signed.canonical_request.starts_with("HEAD\n/bucket/dir/a%20b%2Bc%3Dd/%C3%BC~.parquet\n\n"));
            assert!(signed.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
            assert!(signed.canonical_request.contains("\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
            // Continuation tokens hold `=`, `/` and `+`: encoded once, sorted.
            let signed = get("/", "list-type=2&continuation-token=a/b+c==&encoding-type=url", &[]);
            assert!(
                signed
                    .canonical_request
                    .starts_with("GET\n/\ncontinuation-token=a%2Fb%2Bc%3D%3D&encoding-type=url&list-type=2\n"),
                "{}",
                signed.canonical_request
            );
            assert_eq!(Payload::Bytes(b"{}").hash(), sha256_hex(b"{}"));
        }
    }
}
