//! Inlet connector for Redis, over RESP2 or RESP3 (see README.md).
//!
//! - [`resp`]: the protocol: command encoder, incremental reply parser, limits
//! - [`client`]: one connection: pipelines, HELLO/AUTH, server errors → error kinds
//! - [`sample`]: bounded SCAN and the per-key TYPE/PTTL/MEMORY USAGE pipeline
//! - [`patterns`]: key names → key patterns
//! - [`detail`]: a few keys per pattern read closely (fields, values, elements)
//! - [`infer`]: value kinds and TTL/size statistics
//! - [`info`]: INFO sections and INFO keyspace
//! - [`catalog`]: databases → schemas, (pattern, type) → tables
//! - [`preview`]: the first rows of one table, in its discovered columns
//! - [`config`]: the data source's configuration

pub mod catalog;
pub mod client;
pub mod config;
pub mod detail;
pub mod infer;
pub mod info;
pub mod patterns;
pub mod preview;
pub mod resp;
pub mod sample;

use std::time::{SystemTime, UNIX_EPOCH};

use inlet_sdk::deadline::per_call_socket_timeout;
use inlet_sdk::paging::page_catalog;
use inlet_sdk::prelude::*;
use inlet_sdk::tls::{self, Stream};

use crate::client::{Client, Command};
use crate::config::{Config, SslMode};
use crate::info::{info_field, info_text};
use crate::resp::Value;

pub struct Redis;

pub struct RedisConnection {
    client: Client<Stream>,
    config: Config,
    /// The catalog the first page was cut from, so that later pages are cut
    /// from the same sample rather than a new one.
    cached: Option<CachedCatalog>,
}

struct CachedCatalog {
    generation: u64,
    include: Vec<String>,
    exclude: Vec<String>,
    catalog: Vec<(String, Vec<Table>)>,
}

impl Connector for Redis {
    type Connection = RedisConnection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<RedisConnection, ConnectorError> {
        let config = Config::from_request(request)?;
        let addr = request.endpoint_addr()?;
        let password = request.secret("password");
        let username = config.options.username.as_deref();

        let deadline = request.connect_deadline();
        let socket = steps.run("tcp connect", || inlet_sdk::net::connect_tcp(addr))?;
        inlet_sdk::net::set_timeouts(&socket, deadline.socket_timeout());
        let stream = if config.ssl_mode == SslMode::Disable {
            Stream::Plain(socket)
        } else {
            let options = config.ssl_mode.options(config.ssl_root_cert.as_deref(), &config.host, addr.ip());
            let (stream, version) = steps.run("tls", || tls::upgrade(socket, &options))?;
            steps.annotate_last(version);
            stream
        };
        let mut client = Client::new(stream);
        client.set_timeout(deadline.socket_timeout());
        let handshake = steps.run("handshake", || {
            client.handshake(config.options.protocol, username, password).map_err(|mut error| {
                // A TLS port drops or ignores a plaintext HELLO.
                let transport = matches!(error.kind, ErrorKind::Unreachable | ErrorKind::Timeout);
                if transport && config.ssl_mode == SslMode::Disable {
                    error.message.push_str(" (if the server expects TLS, set ssl_mode)");
                }
                error
            })
        })?;
        let mut note = format!("RESP{}", handshake.protocol);
        if handshake.fell_back {
            note.push_str(" (the server refused HELLO 3)");
        }
        if username.is_some() || password.is_some() {
            note.push_str(&format!(", authenticated as {}", username.unwrap_or("default")));
        }
        steps.annotate_last(note);
        if config.options.database != 0 {
            steps.run("select database", || client.select(config.options.database))?;
            steps.annotate_last(catalog::schema_name(config.options.database));
        }
        // Per read and write; the host's deadline covers each whole call.
        client.set_timeout(per_call_socket_timeout(request.query_timeout()));
        Ok(RedisConnection { client, config, cached: None })
    }
}

impl Connection for RedisConnection {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        let client = &mut self.client;
        steps.run("ping", || match client.call(&Command::new("PING"))? {
            Value::Simple(pong) if pong == "PONG" => Ok(()),
            other => Err(ConnectorError::protocol(format!("PING answered a {} instead of PONG", other.type_name()))),
        })?;
        let (version, note) = steps.run("server info", || {
            let server = info_text(client.call(&Command::new("INFO").arg("server"))?)?;
            let version = server_version(&server)
                .ok_or_else(|| ConnectorError::protocol("INFO server names no redis_version"))?;
            let mode = info_field(&server, "redis_mode").unwrap_or("standalone").to_owned();
            let replication = info_text(client.call(&Command::new("INFO").arg("replication"))?)?;
            let role = info_field(&replication, "role").unwrap_or("unknown").to_owned();
            Ok((version, format!("{mode}, role {role}")))
        })?;
        steps.annotate_last(note);
        let database = self.config.options.database;
        let keys = steps.run("keyspace access", || {
            // SCAN is what discover needs; DBSIZE gives the note.
            client.call(&Command::new("SCAN").arg("0").arg("COUNT").arg("1"))?;
            client
                .call(&Command::new("DBSIZE"))?
                .as_int()
                .ok_or_else(|| ConnectorError::protocol("DBSIZE returned no integer"))
        })?;
        steps.annotate_last(format!("{}: {keys} keys", catalog::schema_name(database)));
        Ok(Some(version))
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        let (generation, offset) = match &request.page_token {
            None => (None, 0),
            Some(token) => parse_token(token)?,
        };
        let reusable = self.cached.as_ref().is_some_and(|cached| {
            Some(cached.generation) == generation
                && cached.include == request.include_schemas
                && cached.exclude == request.exclude_schemas
        });
        if !reusable {
            // A first page, or a later one whose sample this connection does
            // not hold (another pooled connection served the first): sample
            // afresh; the offset still applies to the same ordering.
            let catalog = catalog::build(&mut self.client, &self.config, request)?;
            self.cached = Some(CachedCatalog {
                generation: new_generation(),
                include: request.include_schemas.clone(),
                exclude: request.exclude_schemas.clone(),
                catalog,
            });
        }
        let Some(cached) = &self.cached else {
            return Err(ConnectorError::internal("the catalog was not kept"));
        };
        let inner = DiscoverRequest { page_token: Some(offset.to_string()), ..request.clone() };
        let mut page = page_catalog(&inner, cached.catalog.clone())?;
        page.next_page_token = page.next_page_token.map(|next| format!("{}:{next}", cached.generation));
        if page.next_page_token.is_none() {
            self.cached = None;
        }
        Ok(page)
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        preview::preview(self, request)
    }
}

/// `Redis 7.0.15`, or `Valkey 8.0.1` for Valkey (which also reports a redis_version).
fn server_version(info: &str) -> Option<String> {
    if let Some(valkey) = info_field(info, "valkey_version") {
        return Some(format!("Valkey {valkey}"));
    }
    info_field(info, "redis_version").map(|v| format!("Redis {v}"))
}

/// Page tokens are `generation:offset`.
fn parse_token(token: &str) -> Result<(Option<u64>, usize), ConnectorError> {
    let invalid = || ConnectorError::config(format!("invalid page token `{token}`"));
    let (generation, offset) = token.split_once(':').ok_or_else(invalid)?;
    Ok((Some(generation.parse().map_err(|_| invalid())?), offset.parse().map_err(|_| invalid())?))
}

/// A number that tells one sample from another, across connections too.
fn new_generation() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

// The exports exist only in the component; native tests call the traits directly.
inlet_sdk::export_connector!(Redis);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_a_config_error() {
        assert_eq!(parse_token("17:500").unwrap(), (Some(17), 500));
        for bad in ["500", "x:1", "1:y", ""] {
            assert_eq!(parse_token(bad).unwrap_err().kind, ErrorKind::Config);
        }
    }

    #[test]
    fn the_version_names_the_product() {
        assert_eq!(server_version("redis_version:7.0.15\r\n").as_deref(), Some("Redis 7.0.15"));
        assert_eq!(server_version("redis_version:7.2.4\r\nvalkey_version:8.0.1\r\n").as_deref(), Some("Valkey 8.0.1"));
        assert_eq!(server_version("nothing"), None);
    }
}
