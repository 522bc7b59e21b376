//! Reading the config and secrets out of a [`ConnectRequest`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::deadline::Deadline;
use crate::{ConnectRequest, ConnectorError};

pub trait ConnectRequestExt {
    /// Deserializes the config JSON into the connector's own config type
    /// ([`crate::config::parse`]); a config with checks of its own implements
    /// [`crate::config::ConnectorConfig`] and uses `Config::from_request`.
    fn config<T: DeserializeOwned>(&self) -> Result<T, ConnectorError>;
    /// A secret field, if the data source has one set.
    fn secret(&self, name: &str) -> Option<&str>;
    /// A secret field that must be set.
    fn required_secret(&self, name: &str) -> Result<&str, ConnectorError>;
    /// The address the host allowed, as a socket address.
    fn endpoint_addr(&self) -> Result<SocketAddr, ConnectorError>;
    /// The host's timeout for `connect` (zero: none).
    fn connect_timeout(&self) -> Duration;
    /// The host's timeout for each `test` and `discover` call (zero: none).
    fn query_timeout(&self) -> Duration;
    /// The connect timeout, started now: bound the connect's waits by it.
    fn connect_deadline(&self) -> Deadline;
    /// The query timeout, started now (at the start of a call).
    fn query_deadline(&self) -> Deadline;
}

impl ConnectRequestExt for ConnectRequest {
    fn config<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        crate::config::parse(&self.config)
    }

    fn secret(&self, name: &str) -> Option<&str> {
        self.secrets.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn required_secret(&self, name: &str) -> Result<&str, ConnectorError> {
        self.secret(name).ok_or_else(|| ConnectorError::config(format!("the secret `{name}` is not set")))
    }

    fn endpoint_addr(&self) -> Result<SocketAddr, ConnectorError> {
        let endpoint = self
            .endpoint
            .as_ref()
            .ok_or_else(|| ConnectorError::config("the host gave no network endpoint for this data source"))?;
        let ip: IpAddr = endpoint
            .host
            .parse()
            .map_err(|_| ConnectorError::internal(format!("endpoint `{}` is not an IP address", endpoint.host)))?;
        Ok(SocketAddr::new(ip, endpoint.port))
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.connect_timeout_ms))
    }

    fn query_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.query_timeout_ms))
    }

    fn connect_deadline(&self) -> Deadline {
        Deadline::after(self.connect_timeout())
    }

    fn query_deadline(&self) -> Deadline {
        Deadline::after(self.query_timeout())
    }
}
