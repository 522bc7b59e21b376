//! Opening an authenticated session, stage by stage: TCP, the greeting, TLS
//! as the config asks, login. The data source's connection and the short
//! connection that cancels its statements ([`crate::kill`]) both go this way.

use std::fmt;
use std::net::SocketAddr;

use inlet_sdk::deadline::Deadline;
use inlet_sdk::prelude::*;

use crate::client::{Client, Greeting, Login};
use crate::config::Config;
use crate::handshake;

/// Where and as whom to connect: kept by the connection so that it can open
/// another session to the same server. The password is never shown
/// (`Debug` leaves it out) and never put in an error.
#[derive(Clone)]
pub struct Target {
    /// The endpoint the host resolved and allowed.
    pub addr: SocketAddr,
    pub config: Config,
    password: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target").field("addr", &self.addr).field("host", &self.config.host).finish_non_exhaustive()
    }
}

impl Target {
    pub fn from_request(request: &ConnectRequest) -> Result<Self, ConnectorError> {
        let config = Config::from_request(request)?;
        Ok(Self {
            addr: request.endpoint_addr()?,
            config,
            // No password set is an empty one (what the servers expect).
            password: request.secret("password").unwrap_or("").to_owned(),
        })
    }

    /// Opens a session within `deadline`, timing each stage in `steps`.
    /// `with_database`: log into the configured default database (the
    /// cancelling session needs none, and so cannot fail on it).
    pub fn open(&self, deadline: &Deadline, with_database: bool, steps: &mut Steps) -> Result<Client, ConnectorError> {
        let config = &self.config;
        let budget = || deadline.socket_timeout();
        let database = config.options.database.as_deref().filter(|d| with_database && !d.is_empty());

        let socket = steps.run("tcp connect", || inlet_sdk::net::connect_tcp(self.addr))?;
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
        steps.annotate_last(format!("{} {}", crate::product(handshake.is_mariadb()), handshake.version()));

        let session = if mode.wants_tls() {
            let options = mode.options(config.ssl_root_cert.as_deref(), &config.host, self.addr.ip());
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
            username: &config.options.username,
            password: &self.password,
            database,
            server_public_key: config.options.server_public_key.as_deref(),
        };
        let (mut client, plugin) = steps.run("authenticate", || session.login(capabilities, &login))?;
        steps.annotate_last(plugin);
        client.set_timeout(budget());
        Ok(client)
    }
}
