//! A blocking Redis client over one socket: commands, pipelines, the
//! HELLO/AUTH handshake, and the mapping from server errors to error kinds.
//!
//! After any transport or protocol failure the client is marked broken: the
//! position in the reply stream is unknown, so no further reply could be
//! trusted to answer the command it seems to answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use inlet_sdk::ConnectorError;

use crate::config::Protocol;
use crate::resp::{self, Limits, Parser, ServerError, Value};

/// The client name the handshake sets, so operators see who is connected.
const CLIENT_NAME: &str = "inlet";
/// How much one socket read asks for.
const READ_CHUNK: usize = 16 << 10;

/// A socket the client can speak over.
pub trait Transport: Read + Write {
    /// Bounds every read and write; `None` or zero means no bound.
    fn set_timeout(&self, timeout: Option<Duration>);
}

impl Transport for TcpStream {
    fn set_timeout(&self, timeout: Option<Duration>) {
        inlet_sdk::net::set_timeouts(self, timeout);
    }
}

/// A socket that may have been wrapped in TLS.
impl Transport for inlet_sdk::tls::Stream {
    fn set_timeout(&self, timeout: Option<Duration>) {
        inlet_sdk::tls::Stream::set_timeout(self, timeout);
    }
}

/// One command: its name and arguments, each a binary-safe string.
#[derive(Debug, Clone)]
pub struct Command(Vec<Vec<u8>>);

impl Command {
    pub fn new(name: &str) -> Self {
        Self(vec![name.as_bytes().to_vec()])
    }

    pub fn arg(mut self, arg: impl AsRef<[u8]>) -> Self {
        self.0.push(arg.as_ref().to_vec());
        self
    }

    /// The command's name, for messages (never its arguments: they may hold a password).
    pub fn name(&self) -> String {
        self.0.first().map(|name| String::from_utf8_lossy(name).into_owned()).unwrap_or_default()
    }
}

/// A reply that may be the server's error, as pipelines return them.
pub type Reply = Result<Value, ServerError>;

/// What the handshake learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// 2 or 3.
    pub protocol: u8,
    /// The server's version as HELLO reported it (RESP3 only).
    pub version: Option<String>,
    /// Whether `auto` fell back to RESP2 because the server refused HELLO.
    pub fell_back: bool,
}

pub struct Client<S> {
    stream: S,
    /// Bytes read but not yet parsed start at `start`.
    buffer: Vec<u8>,
    start: usize,
    parser: Parser,
    broken: bool,
    protocol: u8,
    /// The selected database (a new connection starts on 0).
    database: u8,
}

impl<S: Transport> Client<S> {
    pub fn new(stream: S) -> Self {
        Self::with_limits(stream, Limits::default())
    }

    pub fn with_limits(stream: S, limits: Limits) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
            start: 0,
            parser: Parser::new(limits),
            broken: false,
            protocol: 2,
            database: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn into_stream(self) -> S {
        self.stream
    }

    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.stream.set_timeout(timeout);
    }

    /// Sends one command; an error reply becomes a [`ConnectorError`] of the matching kind.
    pub fn call(&mut self, command: &Command) -> Result<Value, ConnectorError> {
        self.call_raw(command)?.map_err(|error| server_error(&command.name(), &error))
    }

    /// Sends one command and returns the server's error reply as a value.
    pub fn call_raw(&mut self, command: &Command) -> Result<Reply, ConnectorError> {
        let mut replies = self.pipeline(std::slice::from_ref(command))?;
        replies.pop().ok_or_else(|| ConnectorError::internal("a pipeline of one returned no reply"))
    }

    /// Sends all commands in one write, then reads one reply per command.
    pub fn pipeline(&mut self, commands: &[Command]) -> Result<Vec<Reply>, ConnectorError> {
        if self.broken {
            return Err(ConnectorError::unreachable("the connection failed earlier and cannot be used; reconnect"));
        }
        let mut out = Vec::new();
        for command in commands {
            resp::encode(&command.0, &mut out);
        }
        let outcome = self.exchange(&out, commands.len());
        if outcome.is_err() {
            self.broken = true;
        }
        outcome
    }

    fn exchange(&mut self, request: &[u8], count: usize) -> Result<Vec<Reply>, ConnectorError> {
        self.stream.write_all(request).map_err(|error| transport_error(&error, "send to the server"))?;
        self.stream.flush().map_err(|error| transport_error(&error, "send to the server"))?;
        let mut replies = Vec::with_capacity(count);
        for _ in 0..count {
            replies.push(match self.read_value()? {
                Value::Error(error) => Err(error),
                value => Ok(value),
            });
        }
        Ok(replies)
    }

    /// Reads the next reply, skipping out-of-band pushes.
    fn read_value(&mut self) -> Result<Value, ConnectorError> {
        loop {
            let (used, value) = self
                .parser
                .parse(&self.buffer[self.start..])
                .map_err(|error| ConnectorError::protocol(format!("malformed reply from the server: {error}")))?;
            self.start += used;
            match value {
                Some(Value::Push(_)) => continue,
                Some(value) => return Ok(value),
                None => self.fill()?,
            }
        }
    }

    /// Reads more bytes, first dropping the ones already parsed. The parser
    /// consumes every whole token, so what stays is at most one partial
    /// token, which the parser's limits bound.
    fn fill(&mut self) -> Result<(), ConnectorError> {
        self.buffer.drain(..self.start);
        self.start = 0;
        let filled = self.buffer.len();
        self.buffer.resize(filled + READ_CHUNK, 0);
        let read = self.stream.read(&mut self.buffer[filled..]);
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                self.buffer.truncate(filled);
                return Err(transport_error(&error, "read from the server"));
            }
        };
        self.buffer.truncate(filled + read);
        if read == 0 {
            return Err(ConnectorError::unreachable("the server closed the connection"));
        }
        Ok(())
    }

    /// Picks the protocol and authenticates: `HELLO 3 [AUTH user pass]` for
    /// RESP3, `AUTH [user] pass` for RESP2.
    pub fn handshake(
        &mut self,
        protocol: Protocol,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<Handshake, ConnectorError> {
        if protocol == Protocol::Resp2 {
            self.auth(username, password)?;
            return Ok(Handshake { protocol: 2, version: None, fell_back: false });
        }
        let mut hello = Command::new("HELLO").arg("3");
        if username.is_some() || password.is_some() {
            // HELLO's AUTH always names a user; `default` is the one plain AUTH uses.
            hello = hello.arg("AUTH").arg(username.unwrap_or("default")).arg(password.unwrap_or(""));
        }
        hello = hello.arg("SETNAME").arg(CLIENT_NAME);
        match self.call_raw(&hello)? {
            Ok(reply) => {
                self.protocol = 3;
                let version = reply.into_pairs().and_then(|pairs| {
                    pairs.into_iter().find(|(k, _)| k.as_bytes() == Some(b"version")).and_then(|(_, v)| v.to_text())
                });
                Ok(Handshake { protocol: 3, version, fell_back: false })
            }
            Err(error) if hello_unsupported(&error) => {
                if protocol == Protocol::Resp3 {
                    return Err(ConnectorError::unsupported(
                        "the server does not speak RESP3 (it refused HELLO 3); set protocol to \"auto\" or \"2\"",
                    ));
                }
                self.auth(username, password)?;
                Ok(Handshake { protocol: 2, version: None, fell_back: true })
            }
            Err(error) => Err(server_error("HELLO", &error)),
        }
    }

    /// RESP2 authentication; nothing to do without credentials.
    fn auth(&mut self, username: Option<&str>, password: Option<&str>) -> Result<(), ConnectorError> {
        let command = match (username, password) {
            (None, None) => return Ok(()),
            (None, Some(password)) => Command::new("AUTH").arg(password),
            // A `nopass` ACL user accepts any password, the empty one too.
            (Some(user), password) => Command::new("AUTH").arg(user).arg(password.unwrap_or("")),
        };
        match self.call_raw(&command)? {
            Ok(_) => Ok(()),
            Err(error) if username.is_some() && error.message.contains("wrong number of arguments") => {
                Err(ConnectorError::unsupported("the server has no ACL users (Redis < 6): leave username empty"))
            }
            Err(error) => Err(server_error("AUTH", &error)),
        }
    }

    /// Selects a database unless it is the current one (so that database 0
    /// works on servers without SELECT, such as Redis Cluster).
    pub fn select(&mut self, database: u8) -> Result<(), ConnectorError> {
        if database != self.database {
            self.call(&Command::new("SELECT").arg(database.to_string()))?;
            self.database = database;
        }
        Ok(())
    }
}

/// A failed read or write on an open connection. WASI reports some peer
/// closes (a TLS port dropping a plaintext client) as a bare I/O error, which
/// the SDK's mapping calls internal; for a socket it means the connection is gone.
fn transport_error(error: &std::io::Error, context: &str) -> ConnectorError {
    let mapped = inlet_sdk::io_error(error, context);
    if mapped.kind == inlet_sdk::ErrorKind::Internal {
        return ConnectorError::unreachable(mapped.message);
    }
    mapped
}

/// Whether a HELLO failed because the server does not know it or RESP3
/// (Redis < 6, or a proxy), rather than because of the credentials.
fn hello_unsupported(error: &ServerError) -> bool {
    error.code == "NOPROTO" || (error.code == "ERR" && error.message.to_ascii_lowercase().contains("unknown command"))
}

/// The server's text without what it echoes of our arguments (Redis quotes
/// the first arguments of an unknown command, which may be a password).
fn safe_text(error: &ServerError) -> String {
    let text = error.to_string();
    match text.find(", with args beginning with") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// The error kind the platform should act on for a server error reply.
pub fn server_error(command: &str, error: &ServerError) -> ConnectorError {
    let message = format!("{command} failed: {}", safe_text(error));
    let lower = error.message.to_ascii_lowercase();
    match error.code.as_str() {
        "WRONGPASS" => ConnectorError::auth(format!("the username or password was refused ({message})")),
        "NOAUTH" => ConnectorError::auth(format!("the server requires a password ({message})")),
        "NOPERM" => ConnectorError::permission(message),
        "LOADING" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" => ConnectorError::unreachable(message),
        "BUSY" => ConnectorError::timeout(message),
        "MOVED" | "ASK" | "CROSSSLOT" => {
            ConnectorError::unsupported(format!("{message} (Redis Cluster redirections are not supported)"))
        }
        "NOPROTO" => ConnectorError::unsupported(message),
        "ERR" if lower.contains("invalid password") || lower.contains("invalid username-password") => {
            ConnectorError::auth(format!("the password was refused ({message})"))
        }
        "ERR" if lower.contains("without any password configured") || lower.contains("no password is set") => {
            ConnectorError::config(format!(
                "a password is set for this data source, but the server needs none ({message})"
            ))
        }
        "ERR" if lower.contains("db index is out of range") => ConnectorError::not_found(message),
        "ERR" if lower.starts_with("unknown command") => ConnectorError::unsupported(message),
        _ => ConnectorError::protocol(message),
    }
}

/// A server for unit tests that answers from a script.
#[cfg(test)]
pub(crate) mod scripted {
    use std::io::Cursor;

    use super::*;

    /// A scripted server: replies come from `input`, requests go to `output`.
    /// Reads return at most `chunk` bytes, to exercise partial replies.
    pub struct Scripted {
        input: Cursor<Vec<u8>>,
        pub output: Vec<u8>,
        chunk: usize,
    }

    impl Scripted {
        pub fn new(replies: &[u8], chunk: usize) -> Self {
            Self { input: Cursor::new(replies.to_vec()), output: Vec::new(), chunk }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let limit = buf.len().min(self.chunk);
            self.input.read(&mut buf[..limit])
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Scripted {
        fn set_timeout(&self, _: Option<Duration>) {}
    }
}

#[cfg(test)]
mod tests {
    use inlet_sdk::ErrorKind;

    use super::scripted::Scripted;
    use super::*;

    fn client(replies: &[u8]) -> Client<Scripted> {
        Client::new(Scripted::new(replies, 3))
    }

    #[test]
    fn a_pipeline_sends_everything_then_reads_one_reply_each() {
        let mut client = client(b"+string\r\n:-1\r\n-ERR no such key\r\n>2\r\n+pubsub\r\n+x\r\n:7\r\n");
        let commands = [
            Command::new("TYPE").arg("k"),
            Command::new("PTTL").arg("k"),
            Command::new("MEMORY").arg("USAGE").arg("k"),
            Command::new("DBSIZE"),
        ];
        let replies = client.pipeline(&commands).unwrap();
        assert_eq!(replies[0], Ok(Value::Simple("string".into())));
        assert_eq!(replies[1], Ok(Value::Integer(-1)));
        assert_eq!(replies[2].as_ref().unwrap_err().code, "ERR");
        // The push in between is skipped.
        assert_eq!(replies[3], Ok(Value::Integer(7)));
        assert!(client.stream.output.starts_with(b"*2\r\n$4\r\nTYPE\r\n$1\r\nk\r\n*2\r\n$4\r\nPTTL\r\n"));
    }

    #[test]
    fn hello_3_authenticates_in_one_round_trip() {
        let mut client = client(b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n");
        let handshake = client.handshake(Protocol::Auto, Some("u"), Some("pw")).unwrap();
        assert_eq!(handshake, Handshake { protocol: 3, version: Some("7.0.15".into()), fell_back: false });
        let mut expected = Vec::new();
        resp::encode(&["HELLO", "3", "AUTH", "u", "pw", "SETNAME", "inlet"], &mut expected);
        assert_eq!(client.stream.output, expected);
    }

    #[test]
    fn auto_falls_back_to_auth_when_hello_is_unknown() {
        let mut client = client(b"-ERR unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'pw'\r\n+OK\r\n");
        let handshake = client.handshake(Protocol::Auto, None, Some("pw")).unwrap();
        assert_eq!((handshake.protocol, handshake.fell_back), (2, true));
        assert!(client.stream.output.ends_with(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"));
    }

    #[test]
    fn forced_resp3_on_an_old_server_is_unsupported_and_echoes_no_password() {
        let mut client =
            client(b"-ERR unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'default' 's3cret'\r\n");
        let error = client.handshake(Protocol::Resp3, None, Some("s3cret")).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unsupported);
        assert!(!error.message.contains("s3cret"));
    }

    #[test]
    fn credentials_errors_map_to_auth_and_permission() {
        let mut wrong = client(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        assert_eq!(wrong.handshake(Protocol::Auto, Some("u"), Some("x")).unwrap_err().kind, ErrorKind::Auth);
        let mut noauth = client(b"-NOAUTH HELLO must be called with the client already authenticated\r\n");
        assert_eq!(noauth.handshake(Protocol::Auto, None, None).unwrap_err().kind, ErrorKind::Auth);
        let mut old = client(b"-ERR invalid password\r\n");
        assert_eq!(old.handshake(Protocol::Resp2, None, Some("x")).unwrap_err().kind, ErrorKind::Auth);
        let denied = server_error("INFO", &ServerError { code: "NOPERM".into(), message: "no permissions".into() });
        assert_eq!(denied.kind, ErrorKind::Permission);
        let range =
            server_error("SELECT", &ServerError { code: "ERR".into(), message: "DB index is out of range".into() });
        assert_eq!(range.kind, ErrorKind::NotFound);
    }

    #[test]
    fn a_closed_or_garbled_stream_breaks_the_client() {
        let mut closed = client(b"+PA");
        let error = closed.call(&Command::new("PING")).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Unreachable);
        let mut garbled = client(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert_eq!(garbled.call(&Command::new("PING")).unwrap_err().kind, ErrorKind::Protocol);
        // No further command is sent on a stream whose position is lost.
        let sent = garbled.stream.output.len();
        assert_eq!(garbled.call(&Command::new("PING")).unwrap_err().kind, ErrorKind::Unreachable);
        assert_eq!(garbled.stream.output.len(), sent);
    }
}
