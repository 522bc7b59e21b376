//! What an HTTP connector may call: exactly one origin (scheme, host, port),
//! taken from the data source's config, with its addresses resolved once by
//! the host under the egress policy. Requests go to those addresses only, so
//! a DNS answer that changes after the check (rebinding) cannot redirect them.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use crate::plugin::HttpSpec;

/// Largest response body a connector may receive, unless configured otherwise.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpScheme {
    Http,
    Https,
}

impl HttpScheme {
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// Scheme, host and port: what the host lets requests go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: HttpScheme,
    /// Lower case; IPv6 literals without brackets.
    pub host: String,
    pub port: u16,
}

/// The one origin an HTTP connector may call, where it lives, and the limits
/// on each exchange.
#[derive(Debug, Clone)]
pub struct HttpGrant {
    pub origin: Origin,
    /// Resolved and allowed by the egress policy when the grant was made.
    pub addrs: Vec<SocketAddr>,
    pub connect_timeout: Duration,
    /// Bounds the wait for the first byte and between bytes of a response.
    pub io_timeout: Duration,
    pub max_response_bytes: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HttpTargetError {
    #[error("`{0}` must be a URL")]
    Missing(String),
    #[error("`{field}` is not an http(s) URL: {reason}")]
    Invalid { field: String, reason: String },
    #[error("`{0}` is needed to build the service URL and must be letters, digits and dashes")]
    Placeholder(String),
}

/// The URL a data source's connector will call: the config's `url_field`,
/// or the manifest's default with `{field}` placeholders filled from config.
pub fn target_url(spec: &HttpSpec, config: &Value) -> Result<String, HttpTargetError> {
    if let Some(url) = config.get(&spec.url_field).and_then(Value::as_str).filter(|url| !url.trim().is_empty()) {
        return Ok(url.trim().to_owned());
    }
    let Some(template) = &spec.default_url else {
        return Err(HttpTargetError::Missing(spec.url_field.clone()));
    };
    let mut url = String::with_capacity(template.len());
    let mut rest = template.as_str();
    while let Some(start) = rest.find('{') {
        url.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { break };
        let field = &rest[start + 1..start + end];
        // Only a plain label may go into a host name, or a config value
        // could point the default somewhere else entirely.
        let value = config
            .get(field)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.len() <= 63 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .ok_or_else(|| HttpTargetError::Placeholder(field.to_owned()))?;
        url.push_str(&value.to_ascii_lowercase());
        rest = &rest[start + end + 1..];
    }
    url.push_str(rest);
    Ok(url)
}

/// The origin of an absolute http(s) URL. `field` names the URL in errors.
pub fn origin_of(url: &str, field: &str) -> Result<Origin, HttpTargetError> {
    let invalid = |reason: &str| HttpTargetError::Invalid { field: field.to_owned(), reason: reason.to_owned() };
    let uri: http::Uri = url.parse().map_err(|_| invalid("it does not parse"))?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => HttpScheme::Https,
        Some(s) if s.eq_ignore_ascii_case("http") => HttpScheme::Http,
        _ => return Err(invalid("the scheme must be http or https")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("it has no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("credentials belong in the credential fields, not in the URL"));
    }
    origin(scheme, authority).ok_or_else(|| invalid("it has no host"))
}

/// The origin a request of the guest addresses (scheme and authority as the
/// guest set them; the scheme defaults to https like wasi:http does).
pub fn request_origin(uri: &http::Uri) -> Option<Origin> {
    let scheme = match uri.scheme_str() {
        None => HttpScheme::Https,
        Some(s) if s.eq_ignore_ascii_case("https") => HttpScheme::Https,
        Some(s) if s.eq_ignore_ascii_case("http") => HttpScheme::Http,
        Some(_) => return None,
    };
    origin(scheme, uri.authority()?)
}

fn origin(scheme: HttpScheme, authority: &http::uri::Authority) -> Option<Origin> {
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host.is_empty() || authority.as_str().contains('@') {
        return None;
    }
    Some(Origin { scheme, host, port: authority.port_u16().unwrap_or(scheme.default_port()) })
}

impl HttpGrant {
    /// Whether a request to `uri` stays within the grant.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        request_origin(uri).is_some_and(|origin| origin == self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(default_url: Option<&str>) -> HttpSpec {
        HttpSpec { url_field: "endpoint_url".into(), default_url: default_url.map(str::to_owned) }
    }

    #[test]
    fn the_configured_url_wins_and_the_default_is_filled_from_plain_labels() {
        let dynamo = spec(Some("https://dynamodb.{region}.amazonaws.com"));
        let url = target_url(&dynamo, &json!({ "endpoint_url": " http://127.0.0.1:5000 ", "region": "x" }));
        assert_eq!(url.unwrap(), "http://127.0.0.1:5000");
        let url = target_url(&dynamo, &json!({ "region": "eu-West-1" })).unwrap();
        assert_eq!(url, "https://dynamodb.eu-west-1.amazonaws.com");
        let url = target_url(&dynamo, &json!({ "endpoint_url": "", "region": "us-east-1" })).unwrap();
        assert_eq!(url, "https://dynamodb.us-east-1.amazonaws.com", "an empty override means the default");
    }

    #[test]
    fn a_placeholder_cannot_smuggle_another_host() {
        let dynamo = spec(Some("https://dynamodb.{region}.amazonaws.com"));
        for region in ["evil.com/", "a.b", "x@evil.com", "", "a b"] {
            let error = target_url(&dynamo, &json!({ "region": region })).unwrap_err();
            assert_eq!(error, HttpTargetError::Placeholder("region".into()), "{region}");
        }
        assert!(target_url(&dynamo, &json!({})).is_err());
        assert_eq!(target_url(&spec(None), &json!({})).unwrap_err(), HttpTargetError::Missing("endpoint_url".into()));
    }

    #[test]
    fn origins_normalize_case_ports_and_brackets() {
        let o = origin_of("HTTPS://Api.Example.COM/v1?x=1", "base_url").unwrap();
        assert_eq!(o, Origin { scheme: HttpScheme::Https, host: "api.example.com".into(), port: 443 });
        let o = origin_of("http://[::1]:8080/", "base_url").unwrap();
        assert_eq!(o, Origin { scheme: HttpScheme::Http, host: "::1".into(), port: 8080 });
        for bad in ["ftp://x", "/relative", "http://user:pw@host/", "not a url", "http://:80/"] {
            assert!(origin_of(bad, "base_url").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_grant_allows_its_origin_only() {
        let grant = HttpGrant {
            origin: origin_of("https://api.example.com", "u").unwrap(),
            addrs: vec![],
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(1),
            max_response_bytes: 1,
        };
        let allows = |uri: &str| grant.allows(&uri.parse().unwrap());
        assert!(allows("https://api.example.com/items?page=2"));
        assert!(allows("https://API.example.com:443/"));
        assert!(!allows("http://api.example.com/"), "another scheme");
        assert!(!allows("https://api.example.com:8443/"), "another port");
        assert!(!allows("https://example.com/"), "another host");
        assert!(!allows("https://api.example.com.evil.net/"), "a suffix trick");
        assert!(!allows("https://169.254.169.254/latest/meta-data"), "metadata");
    }
}
