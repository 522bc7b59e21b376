//! The non-secret configuration of a `dynamodb` data source, and the
//! endpoint it names.
//!
//! `secret_access_key` and `session_token` are secrets: the host passes them
//! in `ConnectRequest.secrets`, never in this JSON. The JSON Schema in
//! plugin.toml is checked by the host first; everything is checked again
//! here because a connector must not trust its input.

use inlet_sdk::ConnectorError;
use inlet_sdk::aws;
use inlet_sdk::config::{self, Validate};
use inlet_sdk::http::{Url, parse_endpoint_url};
use serde::Deserialize;

pub const DEFAULT_SAMPLE_SIZE: u32 = 100;
pub const MAX_SAMPLE_SIZE: u32 = 1000;

/// The endpoint when `endpoint_url` is not set (plugin.toml's `default_url`).
pub const DEFAULT_URL: &str = "https://dynamodb.{region}.amazonaws.com";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The AWS region, part of the signature's credential scope.
    pub region: String,
    /// Overrides the regional endpoint (DynamoDB Local, moto, a VPC endpoint).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The access key id is not secret (it names the key); its secret is.
    pub access_key_id: String,
    /// Items read by the Scan sample of each table.
    #[serde(default = "default_sample_size")]
    pub sample_size: u32,
    /// Only tables whose names start with this.
    #[serde(default)]
    pub table_prefix: Option<String>,
}

fn default_sample_size() -> u32 {
    DEFAULT_SAMPLE_SIZE
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConnectorError> {
        aws::check_region(&self.region)?;
        aws::check_access_key_id(&self.access_key_id)?;
        config::in_range("sample_size", self.sample_size, 1..=MAX_SAMPLE_SIZE)?;
        self.endpoint()?;
        Ok(())
    }
}

impl Config {
    /// The endpoint requests go to: `endpoint_url`, or the regional default.
    pub fn endpoint(&self) -> Result<Endpoint, ConnectorError> {
        match &self.endpoint_url {
            Some(url) => Endpoint::parse(url),
            None => Endpoint::parse(&DEFAULT_URL.replace("{region}", &self.region)),
        }
    }
}

/// The endpoint URL, taken apart for signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL requests are sent to.
    pub url: Url,
    pub https: bool,
    /// `host[:port]` as wasi:http sends it in the `Host` header (the URL's
    /// authority after parsing: default ports dropped, IPv6 in brackets),
    /// so that the signed `host` header is the one the server sees.
    pub authority: String,
    /// The request path, `/` when the URL has none.
    pub path: String,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Self, ConnectorError> {
        let (url, authority) = parse_endpoint_url(text, "endpoint_url")?;
        let path = if url.path().is_empty() { "/".to_owned() } else { url.path().to_owned() };
        Ok(Self { https: url.scheme() == "https", authority, path, url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::config::ConnectorConfig;

    fn config(json: &str) -> Result<Config, ConnectorError> {
        Config::from_json(json)
    }

    #[test]
    fn a_minimal_config_takes_the_defaults_and_the_regional_endpoint() {
        let config = config(r#"{"region":"eu-west-1","access_key_id":"AKIDEXAMPLE"}"#).unwrap();
        assert_eq!(config.sample_size, 100);
        assert_eq!(config.table_prefix, None);
        let endpoint = config.endpoint().unwrap();
        assert_eq!(endpoint.url.as_str(), "https://dynamodb.eu-west-1.amazonaws.com/");
        assert_eq!(endpoint.authority, "dynamodb.eu-west-1.amazonaws.com");
        assert_eq!(endpoint.path, "/");
        assert!(endpoint.https);
    }

    #[test]
    fn an_endpoint_override_keeps_its_port_in_the_authority() {
        let config = config(
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"http://127.0.0.1:5000","sample_size":1000,"table_prefix":"app_"}"#,
        )
        .unwrap();
        let endpoint = config.endpoint().unwrap();
        assert_eq!(
            (endpoint.authority.as_str(), endpoint.path.as_str(), endpoint.https),
            ("127.0.0.1:5000", "/", false)
        );
        assert_eq!(Endpoint::parse("https://[::1]:8000/ddb").unwrap().authority, "[::1]:8000");
        // As wasi:http sends it: the default port is not part of the authority.
        assert_eq!(Endpoint::parse("https://DynamoDB.example.com:443").unwrap().authority, "dynamodb.example.com");
        assert_eq!(Endpoint::parse("https://[::1]:8000/ddb").unwrap().path, "/ddb");
    }

    #[test]
    fn bad_values_and_secrets_are_config_errors() {
        for bad in [
            r#"{"access_key_id":"k"}"#,
            r#"{"region":"us-east-1"}"#,
            r#"{"region":"US-EAST-1","access_key_id":"k"}"#,
            r#"{"region":"us east","access_key_id":"k"}"#,
            r#"{"region":"","access_key_id":"k"}"#,
            r#"{"region":"us-east-1","access_key_id":" "}"#,
            r#"{"region":"us-east-1","access_key_id":"a/b"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","sample_size":0}"#,
            r#"{"region":"us-east-1","access_key_id":"k","sample_size":1001}"#,
            r#"{"region":"us-east-1","access_key_id":"k","secret_access_key":"s"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"ftp://x"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"http://"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"http://u:p@host"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"http://host:99999"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"http://host:0"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"http://host/?a=b"}"#,
            r#"{"region":"us-east-1","access_key_id":"k","endpoint_url":"http://ho st"}"#,
        ] {
            let error = config(bad).unwrap_err();
            assert_eq!(error.kind, inlet_sdk::ErrorKind::Config, "{bad}");
        }
    }
}
