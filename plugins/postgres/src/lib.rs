//! Inlet connector for PostgreSQL and Amazon Redshift, over the PostgreSQL
//! frontend/backend protocol v3 (see README.md for what is supported).
//!
//! - [`wire`]: the protocol client (TLS negotiation, authentication, simple
//!   queries, portals); the TLS itself (rustls, per-mode certificate checks)
//!   is `inlet_sdk::tls`
//! - [`catalog`]: paged discovery from pg_catalog
//! - [`query`]: preview and read-only queries, streamed from a portal
//! - [`values`]: result column types and text values
//! - [`config`]: the data source's configuration

pub mod catalog;
pub mod config;
pub mod query;
pub mod values;
pub mod wire;

use inlet_sdk::deadline::{per_call_server_timeout_ms, per_call_socket_timeout};
use inlet_sdk::prelude::*;

use crate::config::{Config, Flavor, SslMode};
use crate::wire::{Client, StartupParams, Stream, TlsOutcome};

pub struct Postgres;

pub struct PgConnection {
    client: Client,
    flavor: Flavor,
}

impl Connector for Postgres {
    type Connection = PgConnection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<PgConnection, ConnectorError> {
        let flavor = Flavor::from_source_type(&request.source_type)?;
        let config = Config::from_request(request)?;
        let addr = request.endpoint_addr()?;
        let password = request.secret("password");
        let deadline = request.connect_deadline();

        let socket = steps.run("tcp connect", || inlet_sdk::net::connect_tcp(addr))?;
        let stream = if config.ssl_mode == SslMode::Disable {
            Stream::Plain(socket)
        } else {
            let options = config.ssl_mode.options(config.ssl_root_cert.as_deref(), &config.host, addr.ip());
            let (stream, note) = steps.run("tls", || {
                wire::set_socket_timeout(&socket, deadline.socket_timeout());
                let (stream, outcome) = wire::negotiate_tls(socket, &options)?;
                let note = match outcome {
                    TlsOutcome::Encrypted(version) => version,
                    TlsOutcome::Refused => config.ssl_mode.without_server_tls(config.ssl_mode.as_str())?,
                };
                Ok((stream, note))
            })?;
            steps.annotate_last(note);
            stream
        };
        stream.set_timeout(deadline.socket_timeout());

        // The server cancels a slow statement itself (a clear SQLSTATE
        // 57014) before the socket gives up, and both before the host does.
        let statement_timeout_ms = per_call_server_timeout_ms(request.query_timeout());
        let params = StartupParams {
            user: &config.options.username,
            database: &config.options.database,
            application_name: config.options.application_name.as_deref().unwrap_or("inlet"),
            // Redshift does not take `options` in the startup packet; it gets a SET below.
            statement_timeout_ms: statement_timeout_ms.filter(|_| flavor == Flavor::Postgres),
        };
        let (client, method) = steps.run("authenticate", || {
            let (mut client, method) = Client::startup(stream, &params, password)?;
            if let Some(ms) = statement_timeout_ms.filter(|_| flavor == Flavor::Redshift) {
                client.simple_query(&format!("SET statement_timeout TO {ms}"))?;
            }
            Ok((client, method))
        })?;
        steps.annotate_last(method.as_str());

        client.set_timeout(per_call_socket_timeout(request.query_timeout()));
        Ok(PgConnection { client, flavor })
    }
}

impl Connection for PgConnection {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let client = &mut self.client;
        let version = steps.run("query version", || {
            let rows = client.simple_query("SELECT pg_catalog.version()")?;
            rows.into_iter()
                .next()
                .and_then(|row| row.into_iter().next().flatten())
                .ok_or_else(|| ConnectorError::protocol("SELECT version() returned no value"))
        })?;
        let flavor = self.flavor;
        let note = steps.run("catalog permission", || catalog::check_permissions(client, flavor))?;
        steps.annotate_last(note);
        Ok(Some(version))
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        catalog::discover(&mut self.client, self.flavor, request)
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        Ok(Box::new(query::preview(self, request)?))
    }

    fn query(&mut self, request: &QueryRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        Ok(Box::new(query::query(self, request)?))
    }
}

// The exports exist only in the component: a native cdylib cannot carry the
// WIT export symbol names, and native tests call the traits directly.
inlet_sdk::export_connector!(Postgres);
