//! The non-secret configuration of an `s3` data source, and where its
//! requests go.
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

pub const DEFAULT_MAX_OBJECTS: u64 = 100_000;
pub const MAX_MAX_OBJECTS: u64 = 10_000_000;
pub const DEFAULT_SAMPLE_BYTES: u64 = 256 << 10;
pub const MIN_SAMPLE_BYTES: u64 = 1 << 10;
pub const MAX_SAMPLE_BYTES: u64 = 16 << 20;

/// The endpoint when `endpoint_url` is not set (plugin.toml's `default_url`).
pub const DEFAULT_URL: &str = "https://s3.{region}.amazonaws.com";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub bucket: String,
    /// Only keys under this (`sales/` or `sales`: the folder `sales`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// The AWS region, part of the signature's credential scope.
    pub region: String,
    /// Overrides the regional endpoint (MinIO, moto, a VPC endpoint).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// `/{bucket}/{key}` on the endpoint (the default), or, when false,
    /// `/{key}` on an `endpoint_url` that already names the bucket
    /// (virtual-hosted style: `https://{bucket}.s3.{region}.amazonaws.com`).
    #[serde(default = "default_true")]
    pub force_path_style: bool,
    /// The access key id is not secret (it names the key); its secret is.
    pub access_key_id: String,
    /// Listing more objects than this under the prefix is refused.
    #[serde(default = "default_max_objects")]
    pub max_objects: u64,
    /// Bytes read from the start of one CSV or JSON file per table to infer its columns.
    #[serde(default = "default_sample_bytes")]
    pub sample_bytes: u64,
}

fn default_true() -> bool {
    true
}

fn default_max_objects() -> u64 {
    DEFAULT_MAX_OBJECTS
}

fn default_sample_bytes() -> u64 {
    DEFAULT_SAMPLE_BYTES
}

/// Bucket names as S3 allows them today: 3–63 lowercase letters, digits,
/// dots and dashes, starting and ending with a letter or digit (older
/// buckets may hold capitals and underscores, accepted too).
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

impl Validate for Config {
    fn validate(&self) -> Result<(), ConnectorError> {
        if !valid_bucket(&self.bucket) {
            return Err(ConnectorError::config(
                "bucket must be 3 to 63 letters, digits, dots and dashes, starting and ending with a letter or digit",
            ));
        }
        aws::check_region(&self.region)?;
        if let Some(prefix) = &self.prefix
            && (prefix.len() > 1024 || prefix.chars().any(char::is_control))
        {
            return Err(ConnectorError::config("prefix must be at most 1024 bytes without control characters"));
        }
        aws::check_access_key_id(&self.access_key_id)?;
        config::in_range("max_objects", self.max_objects, 1..=MAX_MAX_OBJECTS)?;
        config::in_range("sample_bytes", self.sample_bytes, MIN_SAMPLE_BYTES..=MAX_SAMPLE_BYTES)?;
        if !self.force_path_style && self.endpoint_url.is_none() {
            return Err(ConnectorError::config(
                "force_path_style = false (virtual-hosted style) needs endpoint_url naming the bucket's own host \
                 (e.g. https://BUCKET.s3.REGION.amazonaws.com): requests may go only to the configured endpoint",
            ));
        }
        self.endpoint()?;
        Ok(())
    }
}

impl Config {
    /// The prefix as a folder: empty, or ending with `/` (`sales` → `sales/`).
    pub fn folder_prefix(&self) -> String {
        let prefix = self.prefix.as_deref().unwrap_or("").trim_start_matches('/');
        if prefix.is_empty() || prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") }
    }

    /// Where requests go: `endpoint_url`, or the regional default.
    pub fn endpoint(&self) -> Result<Endpoint, ConnectorError> {
        let url = match &self.endpoint_url {
            Some(url) => url.clone(),
            None => DEFAULT_URL.replace("{region}", &self.region),
        };
        let bucket = self.force_path_style.then(|| self.bucket.clone());
        Endpoint::parse(&url, bucket)
    }
}

/// The endpoint URL, taken apart for signing, and how objects are addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint as configured (the origin requests go to).
    pub url: Url,
    /// `host[:port]` as wasi:http sends it in the `Host` header (default
    /// ports dropped, IPv6 in brackets): the signed `host` header.
    pub authority: String,
    /// The encoded path every request starts with: the endpoint's own path
    /// (without a trailing `/`) and, path-style, `/{bucket}`.
    pub base_path: String,
}

impl Endpoint {
    /// `bucket` is `Some` for path-style addressing.
    pub fn parse(text: &str, bucket: Option<String>) -> Result<Self, ConnectorError> {
        let (url, authority) = parse_endpoint_url(text, "endpoint_url")?;
        let mut base_path = url.path().trim_end_matches('/').to_owned();
        if let Some(bucket) = bucket {
            base_path.push('/');
            base_path.push_str(&aws::uri_encode(&bucket));
        }
        Ok(Self { url, authority, base_path })
    }

    /// The encoded path of an object (`key` as stored, unencoded).
    pub fn object_path(&self, key: &str) -> String {
        format!("{}/{}", self.base_path, aws::encode_path(key))
    }

    /// The encoded path of the bucket itself (for listing and HeadBucket).
    pub fn bucket_path(&self) -> String {
        format!("{}/", self.base_path)
    }

    /// The URL of an encoded `path` with an already canonical `query`.
    pub fn url(&self, path: &str, query: &str) -> Url {
        let mut url = self.url.clone();
        url.set_path(path);
        url.set_query((!query.is_empty()).then_some(query));
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;
    use inlet_sdk::config::ConnectorConfig;

    fn config(json: &str) -> Result<Config, ConnectorError> {
        Config::from_json(json)
    }

    #[test]
    fn a_minimal_config_takes_the_defaults_and_the_regional_endpoint_path_style() {
        let config = config(r#"{"bucket":"my-data","region":"eu-west-1","access_key_id":"AKIDEXAMPLE"}"#).unwrap();
        assert_eq!((config.max_objects, config.sample_bytes), (100_000, 256 << 10));
        assert_eq!(config.folder_prefix(), "");
        let endpoint = config.endpoint().unwrap();
        assert_eq!(endpoint.authority, "s3.eu-west-1.amazonaws.com");
        assert_eq!(endpoint.bucket_path(), "/my-data/");
        assert_eq!(endpoint.object_path("sales/year=2024/a b.parquet"), "/my-data/sales/year%3D2024/a%20b.parquet");
        assert_eq!(
            endpoint.url(&endpoint.bucket_path(), "list-type=2&prefix=a%2Fb").as_str(),
            "https://s3.eu-west-1.amazonaws.com/my-data/?list-type=2&prefix=a%2Fb"
        );
    }

    #[test]
    fn endpoints_prefixes_and_virtual_hosts() {
        let config = config(
            r#"{"bucket":"b.with.dots","region":"us-east-1","access_key_id":"k","endpoint_url":"http://127.0.0.1:5000/s3/","prefix":"/raw/2024"}"#,
        )
        .unwrap();
        assert_eq!(config.folder_prefix(), "raw/2024/");
        let endpoint = config.endpoint().unwrap();
        assert_eq!((endpoint.authority.as_str(), endpoint.base_path.as_str()), ("127.0.0.1:5000", "/s3/b.with.dots"));
        let virtual_hosted = Config::from_json(
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","endpoint_url":"https://bkt.s3.us-east-1.amazonaws.com","force_path_style":false}"#,
        )
        .unwrap()
        .endpoint()
        .unwrap();
        assert_eq!(virtual_hosted.object_path("k.csv"), "/k.csv");
        assert_eq!(virtual_hosted.bucket_path(), "/");
        assert_eq!(virtual_hosted.authority, "bkt.s3.us-east-1.amazonaws.com");
    }

    #[test]
    fn bad_values_and_secrets_are_config_errors() {
        for bad in [
            r#"{"region":"us-east-1","access_key_id":"k"}"#,
            r#"{"bucket":"bkt","access_key_id":"k"}"#,
            r#"{"bucket":"bkt","region":"us-east-1"}"#,
            r#"{"bucket":"b","region":"us-east-1","access_key_id":"k"}"#,
            r#"{"bucket":"bkt/x","region":"us-east-1","access_key_id":"k"}"#,
            r#"{"bucket":"-bkt","region":"us-east-1","access_key_id":"k"}"#,
            r#"{"bucket":"bkt","region":"US","access_key_id":"k"}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"a b"}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","max_objects":0}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","sample_bytes":10}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","secret_access_key":"s"}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","force_path_style":false}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","endpoint_url":"ftp://x"}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","endpoint_url":"http://u:p@host"}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","endpoint_url":"http://host/?a=b"}"#,
            r#"{"bucket":"bkt","region":"us-east-1","access_key_id":"k","prefix":"a\u0000b"}"#,
        ] {
            let error = config(bad).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Config, "{bad}");
            assert!(!error.message.contains("u:p"), "{}", error.message);
        }
    }
}
