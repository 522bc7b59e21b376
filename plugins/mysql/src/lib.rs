//! Inlet connector for MySQL and MariaDB, over the client/server protocol
//! (4.1, text results), written here from the protocol documentation.
//!
//! - [`packet`]: framing (length, sequence id, 16 MiB splitting) and the payload encodings
//! - [`handshake`]: the greeting, capabilities, SSLRequest, HandshakeResponse41
//! - [`auth`]: mysql_native_password, caching_sha2_password (fast, cleartext over TLS, RSA), sha256_password
//! - [`client`]: connecting stage by stage, login, COM_QUERY
//! - [`dial`]: a whole session opened from the endpoint, config and password
//! - [`kill`]: a running statement stopped at the server (`KILL QUERY` on a second session)
//! - [`resultset`]: OK/ERR/EOF packets and text result sets
//! - [`error`]: server error codes → error kinds
//! - [`catalog`] and [`types`]: paged discovery from information_schema
//! - [`query`] and [`values`]: preview and read-only queries as prepared
//!   statements, binary rows streamed a batch at a time
//! - [`config`]: the data source's configuration
//!
//! TLS is `inlet_sdk::tls`.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod dial;
pub mod error;
pub mod handshake;
pub mod kill;
pub mod packet;
pub mod query;
pub mod resultset;
pub mod types;
pub mod values;

use std::time::Duration;

use inlet_sdk::deadline::{per_call_server_timeout_ms, per_call_socket_timeout};
use inlet_sdk::prelude::*;

use crate::catalog::Features;
use crate::client::Client;
use crate::config::SourceType;
use crate::dial::Target;

pub struct MySql;

pub struct MySqlConnection {
    client: Client,
    source_type: SourceType,
    /// The server and login, to open the session that cancels a statement.
    target: Target,
    /// The host's timeout for each call (zero: none).
    query_timeout: Duration,
    /// information_schema's shape, probed on the first discover.
    features: Option<Features>,
    /// The session's statement timeout set at connect (restored after a
    /// query that set its own).
    session_timeout_ms: Option<u32>,
}

impl Connector for MySql {
    type Connection = MySqlConnection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<MySqlConnection, ConnectorError> {
        let source_type = SourceType::from_source_type(&request.source_type)?;
        let target = Target::from_request(request)?;
        // The connector's bounds end before the host's (`inlet_sdk::deadline`),
        // so that a slow server is reported as a `timeout` naming the stage.
        let mut client = target.open(&request.connect_deadline(), true, steps)?;

        let session_timeout_ms = per_call_server_timeout_ms(request.query_timeout());
        if let Some(statement_ms) = session_timeout_ms {
            // The server cancels a slow catalog query itself, with a clear
            // error (1969/3024); the socket timeout below is only the backstop.
            let statement = if client.handshake.is_mariadb() {
                format!("SET SESSION max_statement_time = {:.3}", f64::from(statement_ms) / 1000.0)
            } else {
                format!("SET SESSION max_execution_time = {statement_ms}")
            };
            steps.run("session setup", || match client.try_query(&statement)? {
                Ok(_) => Ok(()),
                // ER_UNKNOWN_SYSTEM_VARIABLE: an old server (MySQL < 5.7.8,
                // MariaDB < 10.1) without the variable keeps its default.
                Err(server) if server.code == 1193 => Ok(()),
                Err(server) => Err(server.into_connector_error()),
            })?;
        }
        client.set_timeout(per_call_socket_timeout(request.query_timeout()));
        Ok(MySqlConnection {
            client,
            source_type,
            target,
            query_timeout: request.query_timeout(),
            features: None,
            session_timeout_ms,
        })
    }
}

pub(crate) fn product(mariadb: bool) -> &'static str {
    if mariadb { "MariaDB" } else { "MySQL" }
}

impl Connection for MySqlConnection {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let client = &mut self.client;
        let (version, comment) = steps.run("query version", || {
            let rows = client.query("SELECT VERSION(), @@version_comment")?;
            let row =
                rows.into_iter().next().ok_or_else(|| ConnectorError::protocol("SELECT VERSION() returned no row"))?;
            let mut values = row.into_iter();
            let version = values.next().flatten().ok_or_else(|| ConnectorError::protocol("VERSION() is NULL"))?;
            Ok((version, values.next().flatten()))
        })?;
        let mariadb = version.to_ascii_lowercase().contains("mariadb");
        let mut notes: Vec<String> = comment.into_iter().filter(|c| !c.is_empty()).collect();
        if (self.source_type == SourceType::MySql) == mariadb {
            let chosen = if mariadb { "mysql" } else { "mariadb" };
            notes.push(format!("the server is {}, the data source type {chosen}", product(mariadb)));
        }
        if client.is_tls() {
            notes.push("encrypted".to_owned());
        }
        if !notes.is_empty() {
            steps.annotate_last(notes.join("; "));
        }
        let permissions = steps.run("catalog permission", || catalog::check_permissions(client))?;
        steps.annotate_last(permissions);
        Ok(Some(format!("{} {version}", product(mariadb))))
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        let features = match self.features {
            Some(features) => features,
            None => {
                let features = catalog::probe_features(&mut self.client)?;
                self.features = Some(features);
                features
            }
        };
        catalog::discover(&mut self.client, features, &self.target.config, request)
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        Ok(Box::new(query::preview(self, request)?))
    }

    fn query(&mut self, request: &QueryRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        Ok(Box::new(query::query(self, request)?))
    }
}

// The exports exist only in the component: native tests call the traits directly.
inlet_sdk::export_connector!(MySql);
