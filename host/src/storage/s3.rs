//! An S3-compatible bucket as the file store (`INLET_STORAGE_BACKEND=s3`).

use std::fmt;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;

use super::StorageError;
use super::http::HyperConnector;

/// Where the bucket is and how to sign for it.
#[derive(Clone)]
pub struct S3Settings {
    /// `INLET_STORAGE_S3_BUCKET`.
    pub bucket: String,
    /// `INLET_STORAGE_S3_REGION` (us-east-1).
    pub region: String,
    /// `INLET_STORAGE_S3_ENDPOINT`: an S3-compatible server (MinIO, Ceph, a
    /// test server), addressed path-style. `http://` is allowed only here,
    /// where the administrator wrote it.
    pub endpoint: Option<String>,
    /// `INLET_STORAGE_S3_PREFIX`: the key prefix under which files live.
    pub prefix: Option<String>,
    /// `INLET_STORAGE_S3_ACCESS_KEY_ID` / `_SECRET_ACCESS_KEY` /
    /// `_SESSION_TOKEN`; without them object_store looks for the usual AWS
    /// environment (instance metadata, web identity).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Settings {
    // The secret and the session token never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl S3Settings {
    /// The bucket's client, and the key prefix as a parsed path.
    pub fn open(&self) -> Result<(AmazonS3, Option<ObjectPath>), StorageError> {
        let open = |reason: String| StorageError::Open { path: format!("s3://{}", self.bucket), reason };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_http_connector(HyperConnector);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder.with_access_key_id(id).with_secret_access_key(secret);
            }
            (None, None) => {}
            _ => return Err(open("set both INLET_STORAGE_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY, or neither".into())),
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        let store = builder.build().map_err(|e| open(e.to_string()))?;
        let prefix = match self.prefix.as_deref().map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
            Some(prefix) => Some(ObjectPath::parse(prefix).map_err(|e| open(format!("INLET_STORAGE_S3_PREFIX: {e}")))?),
            None => None,
        };
        Ok((store, prefix))
    }
}
