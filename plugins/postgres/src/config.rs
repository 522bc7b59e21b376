//! The non-secret configuration of a `postgresql` or `redshift` data source.
//!
//! The password is a secret: the host passes it in `ConnectRequest.secrets`,
//! never in this JSON, so it has no field here.

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The host name as the user typed it: used for TLS SNI and name checks.
    /// The socket goes to the endpoint the host resolved instead.
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub database: String,
    pub username: String,
    #[serde(default)]
    pub ssl_mode: SslMode,
    /// PEM text of the CA certificate(s) to trust instead of the web PKI roots.
    #[serde(default)]
    pub ssl_root_cert: Option<String>,
    #[serde(default)]
    pub application_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_config_with_defaults() {
        let config: Config = serde_json::from_str(r#"{"host":"db","database":"d","username":"u"}"#).unwrap();
        assert_eq!(config.ssl_mode, SslMode::Prefer);
        assert_eq!(config.port, None);
    }

    #[test]
    fn parses_ssl_modes_in_libpq_spelling() {
        let config: Config =
            serde_json::from_str(r#"{"host":"db","database":"d","username":"u","ssl_mode":"verify-full"}"#).unwrap();
        assert_eq!(config.ssl_mode, SslMode::VerifyFull);
    }

    #[test]
    fn rejects_a_password_in_the_config() {
        let parsed: Result<Config, _> =
            serde_json::from_str(r#"{"host":"db","database":"d","username":"u","password":"x"}"#);
        assert!(parsed.is_err());
    }
}
