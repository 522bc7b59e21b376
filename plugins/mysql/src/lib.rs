//! Inlet connector for MySQL and MariaDB, over the client/server protocol
//! (4.1, text results), written here from the protocol documentation.
//!
//! - [`packet`]: framing (length, sequence id, 16 MiB splitting) and the payload encodings
//! - [`handshake`]: the greeting, capabilities, SSLRequest, HandshakeResponse41
//! - [`auth`]: mysql_native_password, caching_sha2_password (fast, cleartext over TLS, RSA), sha256_password
//! - [`client`]: connecting stage by stage, login, COM_QUERY
//! - [`resultset`]: OK/ERR/EOF packets and text result sets
//! - [`error`]: server error codes → error kinds
//! - [`catalog`] and [`types`]: paged discovery from information_schema
//! - [`config`]: the data source's configuration
//!
//! TLS is `inlet_sdk::tls`.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod error;
pub mod handshake;
pub mod packet;
pub mod resultset;
pub mod types;

use inlet_sdk::deadline::{per_call_server_timeout_ms, per_call_socket_timeout};
use inlet_sdk::prelude::*;

use crate::catalog::Features;
use crate::client::{Client, Greeting, Login};
use crate::config::{Config, SourceType};

pub struct MySql;

pub struct MySqlConnection {
    client: Client,
    source_type: SourceType,
    config: Config,
    /// information_schema's shape, probed on the first discover.
    features: Option<Features>,
}

impl Connector for MySql {
    type Connection = MySqlConnection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<MySqlConnection, ConnectorError> {
        let source_type = SourceType::from_source_type(&request.source_type)?;
        let config: Config = request.config()?;
        let addr = request.endpoint_addr()?;
        // The connector's bounds end before the host's (`inlet_sdk::deadline`),
        // so that a slow server is reported as a `timeout` naming the stage.
        let deadline = request.connect_deadline();
        let budget = || deadline.socket_timeout();
        let database = config.database.as_deref().filter(|d| !d.is_empty());

        let socket = steps.run("tcp connect", || inlet_sdk::net::connect_tcp(addr))?;
        inlet_sdk::net::set_timeouts(&socket, budget());

        let mode = config.ssl_mode;
        let (greeting, capabilities) = steps.run("greeting", || {
            let greeting = Greeting::read(socket)?;
            let use_tls = mode.wants_tls() && greeting.offers_tls();
            let capabilities =
                handshake::client_capabilities(greeting.handshake.capabilities, database.is_some(), use_tls)?;
            Ok((greeting, capabilities))
        })?;
        let handshake = &greeting.handshake;
        steps.annotate_last(format!("{} {}", product(handshake.is_mariadb()), handshake.version()));

        let session = if mode.wants_tls() {
            let options = mode.options(config.ssl_root_cert.as_deref(), &config.host, addr.ip());
            let (session, note) = steps.run("tls", || {
                if greeting.offers_tls() {
                    greeting.upgrade(capabilities, &options)
                } else {
                    let note = mode.without_server_tls(mode.as_mysql_str())?;
                    Ok((greeting.plain()?, note))
                }
            })?;
            steps.annotate_last(note);
            session
        } else {
            greeting.plain()?
        };
        session.set_timeout(budget());

        let login = Login {
            username: &config.username,
            password: request.secret("password").unwrap_or(""),
            database,
            server_public_key: config.server_public_key.as_deref(),
        };
        let (mut client, plugin) = steps.run("authenticate", || session.login(capabilities, &login))?;
        steps.annotate_last(plugin);

        if let Some(statement_ms) = per_call_server_timeout_ms(request.query_timeout()) {
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
        Ok(MySqlConnection { client, source_type, config, features: None })
    }
}

fn product(mariadb: bool) -> &'static str {
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
        catalog::discover(&mut self.client, features, &self.config, request)
    }
}

// The exports exist only in the component: native tests call the traits directly.
inlet_sdk::export_connector!(MySql);
