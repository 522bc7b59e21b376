//! The connection: greeting, the TLS upgrade, login through the auth plugins,
//! and COM_QUERY with text results. Each stage is its own call so that the
//! connector can time it as a step.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use inlet_sdk::tls::{self, Stream, TlsOptions};
use inlet_sdk::{ConnectorError, ErrorKind};

use crate::auth::Auth;
use crate::error::{ServerError, parse_err};
use crate::handshake::{self, Handshake, HandshakeResponse, caps, parse_auth_switch, parse_handshake};
use crate::packet::PacketIo;
use crate::resultset::{self, Row};

/// More round trips than any auth plugin needs; a server that keeps asking is hostile.
const MAX_AUTH_ROUNDS: usize = 8;

/// The shortest wait [`Client::read_packet_within`] sets (zero would mean none).
const MIN_WAIT: Duration = Duration::from_millis(1);

const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;

/// The server's greeting, read on the plain socket.
pub struct Greeting {
    io: PacketIo<TcpStream>,
    pub handshake: Handshake,
}

impl Greeting {
    /// Reads the greeting. A server that refuses the client outright
    /// (too many connections, host not allowed) says so here with an ERR packet.
    pub fn read(socket: TcpStream) -> Result<Self, ConnectorError> {
        let mut io = PacketIo::new(socket);
        // Whatever answers on a wrong port fails the framing checks (SSH,
        // HTTP) or waits for the client to speak first (PostgreSQL, Redis):
        // say what was expected.
        let payload = io.read_packet().map_err(|error| match error.kind {
            ErrorKind::Protocol | ErrorKind::Timeout => ConnectorError::new(
                error.kind,
                format!("no MySQL greeting from the server (is this a MySQL or MariaDB port?): {}", error.message),
            ),
            _ => error,
        })?;
        if payload.first() == Some(&0xFF) {
            return Err(parse_err(&payload)?.into_connector_error());
        }
        let handshake = parse_handshake(&payload)?;
        Ok(Self { io, handshake })
    }

    pub fn offers_tls(&self) -> bool {
        self.handshake.capabilities & caps::SSL != 0
    }

    /// Sends the SSLRequest and runs the TLS handshake; returns the stream and
    /// the TLS version. `capabilities` must include SSL and be what the
    /// HandshakeResponse will repeat.
    pub fn upgrade(self, capabilities: u32, options: &TlsOptions<'_>) -> Result<(Session, String), ConnectorError> {
        let mut io = self.io;
        io.write_packet(&handshake::ssl_request(capabilities))?;
        let (socket, seq) = io.into_parts()?;
        let (stream, version) = tls::upgrade(socket, options)?;
        Ok((Session { io: PacketIo::with_seq(stream, seq), handshake: self.handshake }, version))
    }

    /// Continues without TLS.
    pub fn plain(self) -> Result<Session, ConnectorError> {
        let (socket, seq) = self.io.into_parts()?;
        Ok(Session { io: PacketIo::with_seq(Stream::Plain(socket), seq), handshake: self.handshake })
    }
}

/// A connection between greeting and login, encrypted or not.
pub struct Session {
    io: PacketIo<Stream>,
    pub handshake: Handshake,
}

/// Who logs in.
pub struct Login<'a> {
    pub username: &'a str,
    /// No password set is an empty password (what the servers expect).
    pub password: &'a str,
    pub database: Option<&'a str>,
    pub server_public_key: Option<&'a str>,
}

impl Session {
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.io.get_ref().set_timeout(timeout);
    }

    /// Sends HandshakeResponse41 and follows the server through auth
    /// switches and extra rounds until OK. Returns the client and the name
    /// of the plugin that authenticated.
    pub fn login(self, capabilities: u32, login: &Login<'_>) -> Result<(Client, String), ConnectorError> {
        let Session { mut io, handshake } = self;
        let secure = io.get_ref().is_tls();
        let mut auth = Auth::new(login.password, secure, login.server_public_key);
        let first = auth.start(handshake.auth_plugin.as_deref(), &handshake.nonce)?;
        let response = handshake::handshake_response(&HandshakeResponse {
            capabilities,
            username: login.username,
            auth_response: &first,
            database: login.database,
            auth_plugin: auth.plugin(),
        })?;
        io.write_packet(&response)?;
        for _ in 0..MAX_AUTH_ROUNDS {
            let packet = io.read_packet()?;
            match packet.first() {
                Some(0x00) => {
                    let client = Client {
                        io,
                        deprecate_eof: capabilities & caps::DEPRECATE_EOF != 0,
                        broken: false,
                        timeout: None,
                        handshake,
                    };
                    return Ok((client, auth.plugin().to_owned()));
                }
                Some(0xFF) => return Err(parse_err(&packet)?.into_connector_error()),
                Some(0xFE) if packet.len() == 1 => {
                    return Err(ConnectorError::unsupported(
                        "the account uses pre-4.1 password hashing (mysql_old_password), which is insecure \
                         and not supported; reset the password",
                    ));
                }
                Some(0xFE) => {
                    let (plugin, nonce) = parse_auth_switch(&packet)?;
                    let reply = auth.switch(&plugin, &nonce)?;
                    io.write_packet(&reply)?;
                }
                Some(0x01) => {
                    if let Some(reply) = auth.more_data(&packet[1..])? {
                        io.write_packet(&reply)?;
                    }
                }
                _ => return Err(ConnectorError::protocol("unexpected packet during authentication")),
            }
        }
        Err(ConnectorError::protocol("the server did not finish authentication"))
    }
}

/// An authenticated connection, ready for queries.
pub struct Client {
    io: PacketIo<Stream>,
    deprecate_eof: bool,
    /// Set after a transport or protocol failure: the stream position is
    /// unknown, so no further query may be sent on it.
    broken: bool,
    /// The bound on each read and write (see [`Client::set_timeout`]).
    timeout: Option<Duration>,
    pub handshake: Handshake,
}

impl Client {
    /// Bounds every read and write on the connection from now on.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
        self.io.get_ref().set_timeout(timeout);
    }

    /// The bound on each read and write (`None`: none).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub fn is_tls(&self) -> bool {
        self.io.get_ref().is_tls()
    }

    /// Runs one statement (COM_QUERY) and returns its rows as text. A server
    /// error leaves the session usable; a transport or protocol failure does not.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Row>, ConnectorError> {
        self.try_query(sql)?.map_err(ServerError::into_connector_error)
    }

    /// As [`Client::query`], with the server's own error as a value, for
    /// callers that act on its code.
    pub fn try_query(&mut self, sql: &str) -> Result<Result<Vec<Row>, ServerError>, ConnectorError> {
        if self.broken {
            return Err(ConnectorError::unreachable("the connection to the server was lost earlier; reconnect"));
        }
        let outcome = self.send_command(COM_QUERY, sql.as_bytes()).and_then(|()| {
            let deprecate_eof = self.deprecate_eof;
            resultset::read_response(&mut self.io, deprecate_eof)
        });
        if outcome.is_err() {
            self.broken = true;
        }
        outcome
    }

    /// Whether an earlier transport or protocol failure ended the session.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Marks the session unusable (its position in the stream is unknown).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    pub fn deprecate_eof(&self) -> bool {
        self.deprecate_eof
    }

    /// Sends one command packet; a failure marks the session broken.
    pub fn command(&mut self, command: u8, body: &[u8]) -> Result<(), ConnectorError> {
        if self.broken {
            return Err(ConnectorError::unreachable("the connection to the server was lost earlier; reconnect"));
        }
        let outcome = self.send_command(command, body);
        if outcome.is_err() {
            self.broken = true;
        }
        outcome
    }

    /// Reads one packet of a command's response; a failure marks the session broken.
    pub fn read_packet(&mut self) -> Result<Vec<u8>, ConnectorError> {
        let outcome = self.io.read_packet();
        if outcome.is_err() {
            self.broken = true;
        }
        outcome
    }

    /// Reads one packet of a command's response, waiting at most `wait`
    /// (`None`: the connection's own bound). `Ok(None)`: no whole packet
    /// arrived in time; nothing was consumed, so the session stays in step
    /// and the read can be tried again. Other failures mark it broken.
    pub fn read_packet_within(&mut self, wait: Option<Duration>) -> Result<Option<Vec<u8>>, ConnectorError> {
        if let Some(wait) = wait {
            self.io.get_ref().set_timeout(Some(wait.max(MIN_WAIT)));
        }
        let outcome = self.io.read_packet();
        if wait.is_some() {
            self.io.get_ref().set_timeout(self.timeout);
        }
        match outcome {
            Ok(packet) => Ok(Some(packet)),
            Err(error) if error.kind == ErrorKind::Timeout => Ok(None),
            Err(error) => {
                self.broken = true;
                Err(error)
            }
        }
    }

    fn send_command(&mut self, command: u8, body: &[u8]) -> Result<(), ConnectorError> {
        let mut payload = Vec::with_capacity(body.len() + 1);
        payload.push(command);
        payload.extend_from_slice(body);
        self.io.reset_seq();
        self.io.write_packet(&payload)
    }
}

impl Drop for Client {
    /// Says goodbye (COM_QUIT) so the server logs a clean disconnect rather
    /// than an aborted connection; best effort.
    fn drop(&mut self) {
        if self.broken {
            return;
        }
        let _ = self.send_command(COM_QUIT, &[]);
        let stream = self.io.get_mut();
        stream.send_close_notify();
        let _ = stream.flush();
    }
}
