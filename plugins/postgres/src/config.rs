//! The non-secret configuration of a `postgresql` or `redshift` data source.
//!
//! The password is a secret: the host passes it in `ConnectRequest.secrets`,
//! never in this JSON, so it has no field here.

use inlet_sdk::server::{ServerConfig, ServerOptions};
use serde::Deserialize;

/// Which server dialect the catalog queries must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Postgres,
    /// Amazon Redshift: a PostgreSQL 8.0.2 fork with many later features missing.
    Redshift,
}

impl Flavor {
    pub fn from_source_type(source_type: &str) -> Result<Self, inlet_sdk::ConnectorError> {
        match source_type {
            "postgresql" => Ok(Self::Postgres),
            "redshift" => Ok(Self::Redshift),
            other => Err(inlet_sdk::ConnectorError::config(format!(
                "this plugin provides `postgresql` and `redshift`, not `{other}`"
            ))),
        }
    }
}

/// The libpq meanings of `sslmode`, minus `allow` (which only adds a retry);
/// the manifest's schema admits only the libpq spellings.
pub use inlet_sdk::tls::TlsMode as SslMode;

/// The config: the server fields (`host`, `port`, `ssl_mode`,
/// `ssl_root_cert`) and the PostgreSQL options.
pub type Config = ServerConfig<Options>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    pub database: String,
    pub username: String,
    #[serde(default)]
    pub application_name: Option<String>,
}

impl ServerOptions for Options {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_config_with_defaults() {
        let config = Config::from_json(r#"{"host":"db","database":"d","username":"u"}"#).unwrap();
        assert_eq!(config.ssl_mode, SslMode::Prefer);
        assert_eq!(config.port, None);
    }

    #[test]
    fn parses_ssl_modes_in_libpq_spelling() {
        let config =
            Config::from_json(r#"{"host":"db","database":"d","username":"u","ssl_mode":"verify-full"}"#).unwrap();
        assert_eq!(config.ssl_mode, SslMode::VerifyFull);
    }

    #[test]
    fn rejects_a_password_in_the_config() {
        let parsed = Config::from_json(r#"{"host":"db","database":"d","username":"u","password":"x"}"#);
        assert_eq!(parsed.unwrap_err().kind, inlet_sdk::ErrorKind::Config);
    }
}
