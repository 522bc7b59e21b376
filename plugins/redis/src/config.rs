//! The non-secret configuration of a `redis` data source.
//!
//! The password is a secret: the host passes it in `ConnectRequest.secrets`,
//! never in this JSON, so it has no field here. The JSON Schema in
//! plugin.toml is checked by the host first; the bounds are checked again
//! here because a connector must not trust its input.

use inlet_sdk::ConnectorError;
use inlet_sdk::config;
use inlet_sdk::server::{ServerConfig, ServerOptions};
pub use inlet_sdk::tls::TlsMode as SslMode;
use serde::Deserialize;

/// The highest database index the schema allows (Redis' default `databases 16`).
pub const MAX_DATABASE: u8 = 15;
pub const DEFAULT_SAMPLE_SIZE: u32 = 1000;
pub const MAX_SAMPLE_SIZE: u32 = 10_000;

/// Which protocol version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Protocol {
    /// `HELLO 3`, falling back to RESP2 when the server does not know HELLO.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "2")]
    Resp2,
    #[serde(rename = "3")]
    Resp3,
}

/// The config: the server fields (`host`, `port`, `ssl_mode` — TLS from
/// the first byte, as Redis has no in-band upgrade: no `prefer`, and
/// `disable` by default — `ssl_root_cert`) and the Redis options.
pub type Config = ServerConfig<Options>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The database `test` selects and the connection stays on.
    #[serde(default)]
    pub database: u8,
    /// An ACL user (Redis 6+); without it, AUTH uses the password alone.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub protocol: Protocol,
    /// Keys sampled per database by discover.
    #[serde(default = "default_sample_size")]
    pub sample_size: u32,
    /// Databases to discover; default: those INFO keyspace lists.
    #[serde(default)]
    pub databases: Option<Vec<u8>>,
}

fn default_sample_size() -> u32 {
    DEFAULT_SAMPLE_SIZE
}

impl ServerOptions for Options {
    const DEFAULT_SSL_MODE: SslMode = SslMode::Disable;

    fn check(config: &Config) -> Result<(), ConnectorError> {
        let options = &config.options;
        if options.database > MAX_DATABASE {
            return Err(ConnectorError::config(format!("database must be 0..={MAX_DATABASE}")));
        }
        config::in_range("sample_size", options.sample_size, 1..=MAX_SAMPLE_SIZE)?;
        if config.ssl_mode == SslMode::Prefer {
            // A TLS port does not speak plaintext and a plain one cannot
            // upgrade: there is nothing to prefer between.
            return Err(ConnectorError::config("ssl_mode prefer is not available for Redis: use disable or require"));
        }
        if options.databases.as_ref().is_some_and(|dbs| dbs.iter().any(|db| *db > MAX_DATABASE)) {
            return Err(ConnectorError::config(format!("databases must be 0..={MAX_DATABASE}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_config_takes_the_defaults() {
        let config = Config::from_json(r#"{"host":"cache"}"#).unwrap();
        let options = &config.options;
        assert_eq!((options.database, options.protocol, options.sample_size), (0, Protocol::Auto, 1000));
        assert_eq!(options.databases, None);
        assert_eq!(config.ssl_mode, SslMode::Disable);
    }

    #[test]
    fn tls_modes_are_spelled_as_libpq_does() {
        let config = Config::from_json(r#"{"host":"h","ssl_mode":"verify-full"}"#).unwrap();
        assert_eq!(config.ssl_mode, SslMode::VerifyFull);
        assert!(Config::from_json(r#"{"host":"h","ssl_mode":"prefer"}"#).is_err());
    }

    #[test]
    fn protocols_are_spelled_as_in_the_schema() {
        let config = Config::from_json(r#"{"host":"h","protocol":"2"}"#).unwrap();
        assert_eq!(config.options.protocol, Protocol::Resp2);
        assert!(Config::from_json(r#"{"host":"h","protocol":"4"}"#).is_err());
    }

    #[test]
    fn out_of_range_values_and_secrets_are_refused() {
        for bad in [
            r#"{"host":"h","database":16}"#,
            r#"{"host":"h","sample_size":0}"#,
            r#"{"host":"h","sample_size":10001}"#,
            r#"{"host":"h","databases":[1,99]}"#,
            r#"{"host":"h","password":"x"}"#,
        ] {
            let error = Config::from_json(bad).unwrap_err();
            assert_eq!(error.kind, inlet_sdk::ErrorKind::Config, "{bad}");
        }
    }
}
