//! (feature `tls`) The config of a connector that talks to one server over
//! TCP: the fields every such connector has — `host`, `port`, `ssl_mode`,
//! `ssl_root_cert` — read here once, and the connector's own options beside
//! them.
//!
//! Both halves refuse unknown fields. serde's `flatten` cannot do that (it
//! does not combine with `deny_unknown_fields`), so the JSON object is split
//! by an explicit list of keys ([`SERVER_KEYS`]): those go to the server
//! part, the rest to the options type, which declares
//! `#[serde(deny_unknown_fields)]`.
//!
//! ```
//! use inlet_sdk::server::{ServerConfig, ServerOptions};
//! use inlet_sdk::tls::TlsMode;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Options { username: String }
//!
//! impl ServerOptions for Options {}
//!
//! let config = ServerConfig::<Options>::from_json(r#"{"host":"db","username":"u"}"#).unwrap();
//! assert_eq!((config.host.as_str(), config.ssl_mode), ("db", TlsMode::Prefer));
//! assert_eq!(config.options.username, "u");
//! assert!(ServerConfig::<Options>::from_json(r#"{"host":"db","username":"u","password":"x"}"#).is_err());
//! ```

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config;
use crate::tls::TlsMode;
use crate::{ConnectRequest, ConnectorError};

/// The keys the server part of the config owns.
pub const SERVER_KEYS: [&str; 4] = ["host", "port", "ssl_mode", "ssl_root_cert"];

/// A connector's own options, beside the server fields.
pub trait ServerOptions: DeserializeOwned {
    /// The TLS mode when the config sets none.
    const DEFAULT_SSL_MODE: TlsMode = TlsMode::Prefer;

    /// Checks what the JSON Schema cannot say, with the whole config in
    /// view; every error a `config` error.
    fn check(_config: &ServerConfig<Self>) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Where the server is, how to secure the connection, and the connector's
/// own `options`. Secrets (the password) never live here: the host passes
/// them in the request's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig<T> {
    /// The host name as the user typed it: used for TLS SNI and name checks.
    /// The socket goes to the endpoint the host resolved and allowed.
    pub host: String,
    pub port: Option<u16>,
    pub ssl_mode: TlsMode,
    /// PEM text of the CA certificate(s) to trust instead of the web PKI roots.
    pub ssl_root_cert: Option<String>,
    pub options: T,
}

/// The server fields as they arrive.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFields {
    host: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    ssl_mode: Option<TlsMode>,
    #[serde(default)]
    ssl_root_cert: Option<String>,
}

impl<T: ServerOptions> ServerConfig<T> {
    /// Parses config JSON (an object) and checks it ([`ServerOptions::check`]).
    /// A wrong type, a missing required field or an unknown field is a
    /// `config` error quoting serde's reason.
    pub fn from_json(json: &str) -> Result<Self, ConnectorError> {
        let mut options: Map<String, Value> = config::parse(json)?;
        let server: Map<String, Value> = SERVER_KEYS.iter().filter_map(|key| options.remove_entry(*key)).collect();
        let server: ServerFields = config::from_value(Value::Object(server))?;
        let config = Self {
            host: server.host,
            port: server.port,
            ssl_mode: server.ssl_mode.unwrap_or(T::DEFAULT_SSL_MODE),
            ssl_root_cert: server.ssl_root_cert,
            options: config::from_value(Value::Object(options))?,
        };
        T::check(&config)?;
        Ok(config)
    }

    /// Parses and checks the request's config.
    pub fn from_request(request: &ConnectRequest) -> Result<Self, ConnectorError> {
        Self::from_json(&request.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Options {
        database: String,
        #[serde(default)]
        size: u32,
    }

    impl ServerOptions for Options {
        fn check(config: &ServerConfig<Self>) -> Result<(), ConnectorError> {
            config::in_range("size", config.options.size, 0..=10)
        }
    }

    #[derive(Debug, Deserialize)]
    struct PlainByDefault {}

    impl ServerOptions for PlainByDefault {
        const DEFAULT_SSL_MODE: TlsMode = TlsMode::Disable;
    }

    #[test]
    fn both_parts_are_read_with_their_defaults() {
        let config = ServerConfig::<Options>::from_json(r#"{"host":"db","database":"d"}"#).unwrap();
        assert_eq!((config.host.as_str(), config.port, config.ssl_mode), ("db", None, TlsMode::Prefer));
        assert_eq!((config.options.database.as_str(), config.options.size, config.ssl_root_cert), ("d", 0, None));
        let json = r#"{"host":"db","port":5433,"ssl_mode":"verify-full","ssl_root_cert":"PEM","database":"d"}"#;
        let config = ServerConfig::<Options>::from_json(json).unwrap();
        assert_eq!((config.port, config.ssl_mode), (Some(5433), TlsMode::VerifyFull));
        assert_eq!(config.ssl_root_cert.as_deref(), Some("PEM"));
        let plain = ServerConfig::<PlainByDefault>::from_json(r#"{"host":"h"}"#).unwrap();
        assert_eq!(plain.ssl_mode, TlsMode::Disable);
        let request = crate::testing::connect_request("t", &serde_json::json!({"host": "h", "database": "e"}));
        assert_eq!(ServerConfig::<Options>::from_request(&request).unwrap().options.database, "e");
    }

    #[test]
    fn unknown_missing_and_mistyped_fields_are_config_errors_naming_the_field() {
        for (json, names) in [
            (r#"{"host":"db","database":"d","password":"x"}"#, "unknown field `password`"),
            (r#"{"database":"d"}"#, "missing field `host`"),
            (r#"{"host":"db"}"#, "missing field `database`"),
            (r#"{"host":"db","database":"d","port":70000}"#, "70000"),
            (r#"{"host":"db","database":"d","ssl_mode":"sometimes"}"#, "sometimes"),
            (r#"[]"#, "invalid type"),
        ] {
            let error = ServerConfig::<Options>::from_json(json).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Config, "{json}");
            assert!(error.message.starts_with("invalid config: "), "{}", error.message);
            assert!(error.message.contains(names), "{json}: {}", error.message);
        }
    }

    #[test]
    fn the_options_check_sees_the_whole_config() {
        let error = ServerConfig::<Options>::from_json(r#"{"host":"db","database":"d","size":11}"#).unwrap_err();
        assert_eq!(error.message, "`size` must be between 0 and 10, not 11");
    }
}
