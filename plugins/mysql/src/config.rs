//! The non-secret configuration of a `mysql` or `mariadb` data source.
//!
//! The password is a secret: the host passes it in `ConnectRequest.secrets`,
//! never in this JSON, so it has no field here.

use inlet_sdk::ConnectorError;
use inlet_sdk::server::{ServerConfig, ServerOptions};
#[cfg(test)]
use inlet_sdk::tls::TlsMode;
use serde::Deserialize;

/// The data source type. Both speak the same protocol and the connector
/// adapts to the server it finds (MySQL or MariaDB, read from the greeting),
/// so the type only names what the user expects to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    MySql,
    MariaDb,
}

impl SourceType {
    pub fn from_source_type(source_type: &str) -> Result<Self, ConnectorError> {
        match source_type {
            "mysql" => Ok(Self::MySql),
            "mariadb" => Ok(Self::MariaDb),
            other => Err(ConnectorError::config(format!("this plugin provides `mysql` and `mariadb`, not `{other}`"))),
        }
    }
}

/// The config: the server fields (`host`, `port`, `ssl_mode` — disabled,
/// preferred (default), required, verify_ca, verify_identity —
/// `ssl_root_cert`) and the MySQL options.
pub type Config = ServerConfig<Options>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The default database of the session (`CONNECT_WITH_DB`); optional.
    #[serde(default)]
    pub database: Option<String>,
    pub username: String,
    /// PEM text of the server's RSA public key, for caching_sha2_password /
    /// sha256_password over an unencrypted connection. Without it the key is
    /// asked of the server, which a man in the middle could answer.
    #[serde(default)]
    pub server_public_key: Option<String>,
    /// Show mysql, information_schema, performance_schema and sys.
    #[serde(default)]
    pub include_system_schemas: bool,
    /// Discover only these databases.
    #[serde(default)]
    pub schemas: Option<Vec<String>>,
}

impl ServerOptions for Options {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_config_with_defaults() {
        let config = Config::from_json(r#"{"host":"db","username":"u"}"#).unwrap();
        assert_eq!(config.ssl_mode, TlsMode::Prefer);
        assert_eq!(config.options.database, None);
        assert!(!config.options.include_system_schemas);
    }

    #[test]
    fn parses_ssl_modes_in_mysql_spelling() {
        let config = Config::from_json(r#"{"host":"db","username":"u","ssl_mode":"verify_identity"}"#).unwrap();
        assert_eq!(config.ssl_mode, TlsMode::VerifyFull);
        assert_eq!(config.ssl_mode.as_mysql_str(), "verify_identity");
    }

    #[test]
    fn rejects_a_password_in_the_config() {
        assert!(Config::from_json(r#"{"host":"db","username":"u","password":"x"}"#).is_err());
    }

    #[test]
    fn source_types() {
        assert_eq!(SourceType::from_source_type("mariadb").unwrap(), SourceType::MariaDb);
        assert_eq!(SourceType::from_source_type("postgresql").unwrap_err().kind, inlet_sdk::ErrorKind::Config);
    }
}
