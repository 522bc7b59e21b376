//! The data source's config, checked again here although the host validated
//! it against the manifest's JSON Schema: a connector must not trust its caller.
//!
//! Secrets (`password`, `token`, `api_key`) never appear here: the host passes
//! them in `ConnectRequest.secrets` (see [`crate::auth`]).

use std::collections::{BTreeMap, HashSet};

use inlet_sdk::ConnectorError;
use inlet_sdk::config::{self, ConnectorConfig};
use inlet_sdk::http::{self, Method, Url};
use serde::Deserialize;

pub const DEFAULT_SAMPLE_SIZE: u32 = 100;
pub const MAX_SAMPLE_SIZE: u32 = 10_000;
pub const DEFAULT_MAX_RESPONSE_MIB: u32 = 16;
pub const MAX_RESPONSE_MIB: u32 = 64;
pub const DEFAULT_MAX_DEPTH: u32 = 5;
pub const MAX_DEPTH: u32 = 32;
pub const MAX_ENDPOINTS: usize = 200;

/// How requests authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    #[default]
    None,
    /// `Authorization: Basic` from `username` and the secret `password`.
    Basic,
    /// `Authorization: Bearer` with the secret `token`.
    Bearer,
    /// The secret `api_key` in the header or query parameter `api_key_name`.
    ApiKey,
}

/// Where an API key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyIn {
    #[default]
    Header,
    Query,
}

/// One endpoint to describe.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The table's name.
    pub name: String,
    /// Relative to `base_url`, with an optional `?query`.
    pub path: String,
    #[serde(default = "get", deserialize_with = "method")]
    pub method: Method,
    /// A JSON pointer (`/data/items`) to the array of records; default: the
    /// top-level array, or the one array of objects in a top-level object.
    #[serde(default)]
    pub records: Option<String>,
    /// A JSON body, for APIs that search with POST.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

fn get() -> Method {
    Method::Get
}

fn method<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Method, D::Error> {
    let text = String::deserialize(deserializer)?;
    match Method::parse(&text) {
        Some(method @ (Method::Get | Method::Post)) => Ok(method),
        _ => Err(serde::de::Error::custom(format!("method must be GET or POST, not `{text}`"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    base_url: String,
    #[serde(default)]
    auth: AuthMethod,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    api_key_name: Option<String>,
    #[serde(default)]
    api_key_in: ApiKeyIn,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default = "default_health_path")]
    health_path: String,
    #[serde(default = "default_expected_status")]
    expected_status: u16,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
    #[serde(default)]
    openapi_path: Option<String>,
    #[serde(default = "default_sample_size")]
    sample_size: u32,
    #[serde(default = "default_max_depth")]
    max_depth: u32,
    #[serde(default = "default_max_response_mib")]
    max_response_mib: u32,
}

fn default_health_path() -> String {
    "/".to_owned()
}

fn default_expected_status() -> u16 {
    200
}

fn default_sample_size() -> u32 {
    DEFAULT_SAMPLE_SIZE
}

fn default_max_depth() -> u32 {
    DEFAULT_MAX_DEPTH
}

fn default_max_response_mib() -> u32 {
    DEFAULT_MAX_RESPONSE_MIB
}

/// The checked config.
#[derive(Debug, Clone)]
pub struct Config {
    pub base_url: Url,
    pub auth: AuthMethod,
    pub username: Option<String>,
    /// The header or query parameter that carries the API key.
    pub api_key_name: String,
    pub api_key_in: ApiKeyIn,
    /// Extra headers sent with every request (not secret: they are shown).
    pub headers: Vec<(String, String)>,
    pub health_path: String,
    pub expected_status: u16,
    pub endpoints: Vec<Endpoint>,
    pub openapi_path: Option<String>,
    /// Records per endpoint whose fields are inferred.
    pub sample_size: u32,
    /// Object nesting flattened into dotted columns; deeper objects are JSON.
    pub max_depth: u32,
    pub max_response_bytes: u64,
}

/// The header names the connector sets itself.
const RESERVED_HEADERS: [&str; 4] = ["authorization", "host", "content-length", "transfer-encoding"];

impl ConnectorConfig for Config {
    type Raw = RawConfig;

    fn check(raw: RawConfig) -> Result<Self, ConnectorError> {
        let base_url = http::parse_base_url(&raw.base_url, "base_url")?;
        if raw.auth == AuthMethod::Basic && raw.username.as_deref().is_none_or(|u| u.is_empty()) {
            return Err(ConnectorError::config("`username` is needed for basic authentication"));
        }
        if raw.username.as_deref().is_some_and(|u| u.contains(':')) {
            return Err(ConnectorError::config("`username` must not contain `:` (basic authentication)"));
        }
        let api_key_name = raw.api_key_name.unwrap_or_else(|| match raw.api_key_in {
            ApiKeyIn::Header => "X-API-Key".to_owned(),
            ApiKeyIn::Query => "api_key".to_owned(),
        });
        if raw.auth == AuthMethod::ApiKey && raw.api_key_in == ApiKeyIn::Header && !is_token(&api_key_name) {
            return Err(ConnectorError::config(format!("`api_key_name` `{api_key_name}` is not a valid header name")));
        }
        if api_key_name.is_empty() {
            return Err(ConnectorError::config("`api_key_name` must not be empty"));
        }
        let mut headers = Vec::new();
        for (name, value) in raw.headers {
            if !is_token(&name) {
                return Err(ConnectorError::config(format!("`headers`: `{name}` is not a valid header name")));
            }
            if RESERVED_HEADERS.iter().any(|reserved| reserved.eq_ignore_ascii_case(&name)) {
                return Err(ConnectorError::config(format!(
                    "`headers`: `{name}` is set by the connector (use `auth` for credentials)"
                )));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(ConnectorError::config(format!("`headers`: the value of `{name}` has a line break")));
            }
            headers.push((name.to_ascii_lowercase(), value));
        }
        // Paths are checked now, so that a bad one fails at connect, not mid-discovery.
        http::join_path(&base_url, &raw.health_path)?;
        if let Some(path) = &raw.openapi_path {
            http::join_path(&base_url, path)?;
        }
        check_endpoints(&base_url, &raw.endpoints)?;
        if !(100..=599).contains(&raw.expected_status) {
            return Err(ConnectorError::config("`expected_status` must be an HTTP status (100-599)"));
        }
        config::in_range("sample_size", raw.sample_size, 1..=MAX_SAMPLE_SIZE)?;
        config::in_range("max_depth", raw.max_depth, 1..=MAX_DEPTH)?;
        config::in_range("max_response_mib", raw.max_response_mib, 1..=MAX_RESPONSE_MIB)?;
        Ok(Self {
            base_url,
            auth: raw.auth,
            username: raw.username,
            api_key_name,
            api_key_in: raw.api_key_in,
            headers,
            health_path: raw.health_path,
            expected_status: raw.expected_status,
            endpoints: raw.endpoints,
            openapi_path: raw.openapi_path.filter(|p| !p.trim().is_empty()),
            sample_size: raw.sample_size,
            max_depth: raw.max_depth,
            max_response_bytes: u64::from(raw.max_response_mib) << 20,
        })
    }
}

/// Names unique and not empty, paths under the base URL, pointers well formed.
pub fn check_endpoints(base_url: &Url, endpoints: &[Endpoint]) -> Result<(), ConnectorError> {
    if endpoints.len() > MAX_ENDPOINTS {
        return Err(ConnectorError::config(format!("at most {MAX_ENDPOINTS} endpoints")));
    }
    let mut names = HashSet::new();
    for endpoint in endpoints {
        let name = endpoint.name.trim();
        if name.is_empty() {
            return Err(ConnectorError::config("an endpoint has an empty name"));
        }
        if !names.insert(name.to_owned()) {
            return Err(ConnectorError::config(format!("two endpoints are named `{name}`")));
        }
        http::join_path(base_url, &endpoint.path)
            .map_err(|error| ConnectorError::config(format!("endpoint `{name}`: {}", error.message)))?;
        if let Some(pointer) = &endpoint.records
            && !pointer.is_empty()
            && !pointer.starts_with('/')
        {
            return Err(ConnectorError::config(format!(
                "endpoint `{name}`: `records` must be a JSON pointer such as `/data`, not `{pointer}`"
            )));
        }
        if endpoint.body.is_some() && endpoint.method == Method::Get {
            return Err(ConnectorError::config(format!("endpoint `{name}`: a body needs method POST")));
        }
    }
    Ok(())
}

/// An HTTP token (RFC 9110): what a header name may be made of.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;

    #[test]
    fn a_minimal_config_takes_the_defaults() {
        let config = Config::from_json(r#"{"base_url":"https://api.example.com/v1"}"#).unwrap();
        assert_eq!(config.base_url.as_str(), "https://api.example.com/v1");
        assert_eq!(config.auth, AuthMethod::None);
        assert_eq!((config.health_path.as_str(), config.expected_status), ("/", 200));
        assert_eq!((config.sample_size, config.max_depth, config.max_response_bytes), (100, 5, 16 << 20));
        assert_eq!(config.api_key_name, "X-API-Key");
        assert!(config.endpoints.is_empty() && config.openapi_path.is_none());
    }

    #[test]
    fn endpoints_parse_with_their_defaults() {
        let config = Config::from_json(
            r#"{"base_url":"http://h","auth":"api_key","api_key_in":"query","openapi_path":"",
                "endpoints":[{"name":"users","path":"/users"},
                             {"name":"search","path":"/search?q=x","method":"post","records":"/hits","body":{"a":1}}]}"#,
        )
        .unwrap();
        assert_eq!(config.api_key_name, "api_key");
        assert_eq!(config.openapi_path, None);
        assert_eq!(config.endpoints[0].method, Method::Get);
        assert_eq!(config.endpoints[0].records, None);
        assert_eq!(config.endpoints[1].method, Method::Post);
        assert_eq!(config.endpoints[1].records.as_deref(), Some("/hits"));
    }

    #[test]
    fn bad_configs_are_config_errors() {
        for bad in [
            r#"{"base_url":"ftp://h"}"#,
            r#"{"base_url":"http://user:pw@h"}"#,
            r#"{"base_url":"http://h","auth":"basic"}"#,
            r#"{"base_url":"http://h","auth":"basic","username":"a:b"}"#,
            r#"{"base_url":"http://h","auth":"oauth"}"#,
            r#"{"base_url":"http://h","auth":"api_key","api_key_name":"bad name"}"#,
            r#"{"base_url":"http://h","headers":{"Authorization":"x"}}"#,
            r#"{"base_url":"http://h","headers":{"x-a":"1\r\nx-b: 2"}}"#,
            r#"{"base_url":"http://h","health_path":"http://other/health"}"#,
            r#"{"base_url":"http://h","openapi_path":"//other/openapi.json"}"#,
            r#"{"base_url":"http://h","expected_status":42}"#,
            r#"{"base_url":"http://h","sample_size":0}"#,
            r#"{"base_url":"http://h","max_response_mib":1000}"#,
            r#"{"base_url":"http://h","endpoints":[{"name":"a","path":"/a"},{"name":"a","path":"/b"}]}"#,
            r#"{"base_url":"http://h","endpoints":[{"name":" ","path":"/a"}]}"#,
            r#"{"base_url":"http://h","endpoints":[{"name":"a","path":"/a","records":"data"}]}"#,
            r#"{"base_url":"http://h","endpoints":[{"name":"a","path":"/a","method":"DELETE"}]}"#,
            r#"{"base_url":"http://h","endpoints":[{"name":"a","path":"/a","body":{}}]}"#,
            r#"{"base_url":"http://h","endpoints":[{"name":"a","path":"https://evil/a"}]}"#,
            r#"{"base_url":"http://h","token":"secret"}"#,
        ] {
            let error = Config::from_json(bad).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Config, "{bad}");
            assert!(!error.message.contains("pw"), "{}", error.message);
        }
    }
}
