//! Reading the config and secrets out of a [`ConnectRequest`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{ConnectRequest, ConnectorError};

pub trait ConnectRequestExt {
    /// Deserializes the config JSON into the connector's own config type.
    fn config<T: DeserializeOwned>(&self) -> Result<T, ConnectorError>;
    /// A secret field, if the data source has one set.
    fn secret(&self, name: &str) -> Option<&str>;
    /// A secret field that must be set.
    fn required_secret(&self, name: &str) -> Result<&str, ConnectorError>;
    /// The address the host allowed, as a socket address.
    fn endpoint_addr(&self) -> Result<SocketAddr, ConnectorError>;
    fn connect_timeout(&self) -> Duration;
    fn query_timeout(&self) -> Duration;
}

impl ConnectRequestExt for ConnectRequest {
    fn config<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        serde_json::from_str(&self.config).map_err(|error| ConnectorError::config(format!("invalid config: {error}")))
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
}
