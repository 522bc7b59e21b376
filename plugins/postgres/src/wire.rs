//! A small PostgreSQL frontend/backend protocol v3 client over a blocking
//! socket: SSL negotiation, startup and authentication, the simple query
//! protocol with text results, and the extended protocol's portals (bound
//! parameters, results pulled a number of rows at a time). `postgres-protocol` frames the messages and
//! does the MD5 and SCRAM arithmetic; the state machine is here.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
pub use inlet_sdk::tls::Stream;
use inlet_sdk::tls::{self, TlsOptions};
use inlet_sdk::{ConnectorError, IoErrorExt};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::backend::{ErrorFields, Message};
use postgres_protocol::message::frontend;

/// A backend message larger than this is treated as hostile rather than
/// buffered: the sandbox's memory limit would end the call less clearly.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The most text one query may return: past it the query fails with a
/// clear error (ask for smaller pages) instead of exhausting guest memory.
const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// One row of a text-format result; `None` is SQL NULL.
pub type Row = Vec<Option<String>>;

/// A parameter of the extended protocol, sent with type OID 0 (unspecified):
/// the server infers its type from the statement, as for a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    /// Text format: the type's input syntax.
    Text(String),
    /// Binary format (bytea's binary form is the bytes themselves).
    Binary(Vec<u8>),
}

/// One column of a portal's RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
}

/// Takes each row of an Execute: its text cells (`None` for NULL) and its
/// size on the wire.
pub type OnRow<'a> = dyn FnMut(Vec<Option<&str>>, usize) -> Result<(), ConnectorError> + 'a;

/// How an Execute ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The row limit was reached: the portal has (or may have) more rows.
    Suspended,
    /// The statement ran to its end.
    Complete,
}

/// Bounds every read and write on the socket; zero means no bound.
pub fn set_socket_timeout(socket: &TcpStream, timeout: Option<Duration>) {
    inlet_sdk::net::set_timeouts(socket, timeout);
}

/// The outcome of an SSLRequest.
pub enum TlsOutcome {
    /// Encrypted; the negotiated version, e.g. "TLS 1.3".
    Encrypted(String),
    /// The server answered 'N': it has TLS switched off.
    Refused,
}

/// Sends an SSLRequest and, if the server agrees, completes the TLS handshake.
pub fn negotiate_tls(mut socket: TcpStream, options: &TlsOptions<'_>) -> Result<(Stream, TlsOutcome), ConnectorError> {
    let mut request = BytesMut::new();
    frontend::ssl_request(&mut request);
    socket.write_all(&request).io_context("send SSLRequest")?;
    // Exactly one byte: anything the server sent after it must go through
    // the TLS layer, never be taken as plaintext (CVE-2021-23222).
    let mut answer = [0u8; 1];
    socket.read_exact(&mut answer).io_context("read the SSLRequest answer")?;
    match answer[0] {
        b'S' => {}
        b'N' => return Ok((Stream::Plain(socket), TlsOutcome::Refused)),
        b'E' => {
            return Err(ConnectorError::unsupported(
                "the server rejected the SSLRequest (a server older than protocol 3?)",
            ));
        }
        other => {
            return Err(ConnectorError::protocol(format!("unexpected answer to SSLRequest: byte 0x{other:02x}")));
        }
    }
    let (stream, version) = tls::upgrade(socket, options)?;
    Ok((stream, TlsOutcome::Encrypted(version)))
}

/// The startup packet's contents.
pub struct StartupParams<'a> {
    pub user: &'a str,
    pub database: &'a str,
    pub application_name: &'a str,
    /// Sent as `options=-c statement_timeout=N` (PostgreSQL applies it from
    /// the first statement on); `None` leaves the server's default.
    pub statement_timeout_ms: Option<u32>,
}

/// The way the server authenticated us, for the "authenticate" step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Trust,
    Password,
    Md5,
    ScramSha256,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trust => "trust",
            Self::Password => "password",
            Self::Md5 => "md5",
            Self::ScramSha256 => "scram-sha-256",
        }
    }
}

/// An authenticated session, ready for queries.
pub struct Client {
    stream: Stream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    parameters: HashMap<String, String>,
    /// Set after a transport or protocol failure: the stream position is
    /// unknown, so no further query may be sent on it.
    broken: bool,
}

impl Client {
    /// Sends the startup packet and authenticates. Returns once the server is
    /// ready for the first query.
    pub fn startup(
        stream: Stream,
        params: &StartupParams<'_>,
        password: Option<&str>,
    ) -> Result<(Self, AuthMethod), ConnectorError> {
        let mut client = Self {
            stream,
            read_buf: BytesMut::with_capacity(8192),
            write_buf: BytesMut::with_capacity(1024),
            parameters: HashMap::new(),
            broken: false,
        };
        let options = params.statement_timeout_ms.map(|ms| format!("-c statement_timeout={ms}"));
        let mut startup = vec![
            ("user", params.user),
            ("database", params.database),
            ("application_name", params.application_name),
            ("client_encoding", "UTF8"),
        ];
        if let Some(options) = options.as_deref() {
            startup.push(("options", options));
        }
        frontend::startup_message(startup, &mut client.write_buf)
            .map_err(|error| ConnectorError::config(format!("startup parameters: {error}")))?;
        client.send()?;
        let method = client.authenticate(params.user, password)?;
        client.wait_until_ready()?;
        Ok((client, method))
    }

    fn authenticate(&mut self, user: &str, password: Option<&str>) -> Result<AuthMethod, ConnectorError> {
        let need_password = || {
            password
                .ok_or_else(|| ConnectorError::auth("the server asks for a password, but the data source has none set"))
        };
        let mut method = AuthMethod::Trust;
        loop {
            match self.read_message()? {
                Message::AuthenticationOk => return Ok(method),
                Message::AuthenticationCleartextPassword => {
                    let password = need_password()?;
                    frontend::password_message(password.as_bytes(), &mut self.write_buf)
                        .map_err(|_| ConnectorError::config("the password contains a NUL byte"))?;
                    self.send()?;
                    method = AuthMethod::Password;
                }
                Message::AuthenticationMd5Password(body) => {
                    let password = need_password()?;
                    let hash = md5_hash(user.as_bytes(), password.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut self.write_buf)
                        .map_err(|error| ConnectorError::internal(format!("md5 message: {error}")))?;
                    self.send()?;
                    method = AuthMethod::Md5;
                }
                Message::AuthenticationSasl(body) => {
                    let password = need_password()?;
                    let mut offered = Vec::new();
                    let mut mechanisms = body.mechanisms();
                    while let Some(mechanism) = mechanisms.next().map_err(protocol_error)? {
                        offered.push(mechanism.to_owned());
                    }
                    if !offered.iter().any(|m| m == SCRAM_SHA_256) {
                        return Err(ConnectorError::unsupported(format!(
                            "the server offers SASL mechanisms {offered:?}; this connector speaks SCRAM-SHA-256"
                        )));
                    }
                    self.scram(password)?;
                    method = AuthMethod::ScramSha256;
                }
                Message::ErrorResponse(body) => return Err(server_error(body.fields())?),
                Message::NoticeResponse(_) => {}
                Message::AuthenticationKerberosV5 => return Err(unsupported_auth("Kerberos V5")),
                Message::AuthenticationGss | Message::AuthenticationGssContinue(_) => {
                    return Err(unsupported_auth("GSSAPI"));
                }
                Message::AuthenticationSspi => return Err(unsupported_auth("SSPI")),
                Message::AuthenticationScmCredential => {
                    return Err(unsupported_auth("SCM credential"));
                }
                _ => {
                    return Err(ConnectorError::protocol("unexpected message during authentication"));
                }
            }
        }
    }

    /// SCRAM-SHA-256 without channel binding ("n,,"): the server may offer
    /// SCRAM-SHA-256-PLUS over TLS, but declining it is allowed and avoids
    /// needing the certificate hash.
    fn scram(&mut self, password: &str) -> Result<(), ConnectorError> {
        let mut scram = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        frontend::sasl_initial_response(SCRAM_SHA_256, scram.message(), &mut self.write_buf)
            .map_err(|error| ConnectorError::internal(format!("SASL message: {error}")))?;
        self.send()?;
        match self.read_message()? {
            Message::AuthenticationSaslContinue(body) => scram
                .update(body.data())
                .map_err(|error| ConnectorError::protocol(format!("SCRAM server-first message: {error}")))?,
            Message::ErrorResponse(body) => return Err(server_error(body.fields())?),
            _ => {
                return Err(ConnectorError::protocol("expected a SCRAM server-first message"));
            }
        }
        frontend::sasl_response(scram.message(), &mut self.write_buf)
            .map_err(|error| ConnectorError::internal(format!("SASL message: {error}")))?;
        self.send()?;
        match self.read_message()? {
            Message::AuthenticationSaslFinal(body) => scram.finish(body.data()).map_err(|_| {
                // The server proved it does not know the password (or is not the server).
                ConnectorError::auth("the server's SCRAM signature did not verify")
            }),
            Message::ErrorResponse(body) => Err(server_error(body.fields())?),
            _ => Err(ConnectorError::protocol("expected a SCRAM server-final message")),
        }
    }

    /// Reads ParameterStatus, BackendKeyData and notices up to ReadyForQuery.
    fn wait_until_ready(&mut self) -> Result<(), ConnectorError> {
        loop {
            match self.read_message()? {
                Message::ReadyForQuery(_) => return Ok(()),
                Message::ParameterStatus(body) => self.record_parameter(&body)?,
                Message::BackendKeyData(_) | Message::NoticeResponse(_) => {}
                Message::ErrorResponse(body) => return Err(server_error(body.fields())?),
                _ => {
                    return Err(ConnectorError::protocol("unexpected message after authentication"));
                }
            }
        }
    }

    fn record_parameter(
        &mut self,
        body: &postgres_protocol::message::backend::ParameterStatusBody,
    ) -> Result<(), ConnectorError> {
        let name = body.name().map_err(protocol_error)?;
        let value = body.value().map_err(protocol_error)?;
        self.parameters.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    /// A run-time parameter the server reported (e.g. `server_version`).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// Whether `'...'` literals treat backslashes literally. A server that
    /// does not report it (8.0, which Redshift forked) treats them as escapes,
    /// and assuming so is the safe side for quoting.
    pub fn standard_conforming_strings(&self) -> bool {
        self.parameter("standard_conforming_strings") == Some("on")
    }

    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.stream.set_timeout(timeout);
    }

    /// Runs one statement with the simple query protocol and returns its rows
    /// as text. A server error leaves the session usable; a transport or
    /// protocol failure does not.
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<Row>, ConnectorError> {
        if self.broken {
            return Err(ConnectorError::unreachable("the connection to the server was lost earlier; reconnect"));
        }
        match self.simple_query_inner(sql) {
            Ok(outcome) => outcome,
            Err(error) => {
                self.broken = true;
                Err(error)
            }
        }
    }

    /// The outer error is the transport's, the inner one the server's.
    fn simple_query_inner(&mut self, sql: &str) -> Result<Result<Vec<Row>, ConnectorError>, ConnectorError> {
        if sql.contains('\0') {
            return Ok(Err(ConnectorError::internal("a query contained a NUL byte")));
        }
        frontend::query(sql, &mut self.write_buf)
            .map_err(|error| ConnectorError::internal(format!("query message: {error}")))?;
        self.send()?;
        let mut rows = Vec::new();
        let mut width = None;
        let mut failure = None;
        let mut result_bytes = 0usize;
        loop {
            match self.read_message()? {
                Message::RowDescription(body) => {
                    width = Some(body.fields().count().map_err(protocol_error)?);
                }
                Message::DataRow(body) => {
                    let buffer = body.buffer();
                    result_bytes += buffer.len();
                    if result_bytes > MAX_RESULT_BYTES {
                        return Err(ConnectorError::protocol(format!(
                            "the result exceeds {MAX_RESULT_BYTES} bytes; use a smaller page size"
                        )));
                    }
                    let mut row = Vec::with_capacity(width.unwrap_or(0));
                    let mut ranges = body.ranges();
                    while let Some(range) = ranges.next().map_err(protocol_error)? {
                        row.push(match range {
                            None => None,
                            Some(range) => {
                                let bytes = buffer
                                    .get(range)
                                    .ok_or_else(|| ConnectorError::protocol("a DataRow field runs past its message"))?;
                                Some(
                                    String::from_utf8(bytes.to_vec()).map_err(|_| {
                                        ConnectorError::protocol("the server sent text that is not UTF-8")
                                    })?,
                                )
                            }
                        });
                    }
                    if width.is_some_and(|width| width != row.len()) {
                        return Err(ConnectorError::protocol("a DataRow's width differs from its RowDescription"));
                    }
                    rows.push(row);
                }
                Message::CommandComplete(_) | Message::EmptyQueryResponse => {}
                Message::ErrorResponse(body) => {
                    // Keep reading: the server still sends ReadyForQuery.
                    failure = Some(server_error(body.fields())?);
                }
                Message::NoticeResponse(_) | Message::NotificationResponse(_) => {}
                Message::ParameterStatus(body) => self.record_parameter(&body)?,
                Message::ReadyForQuery(_) => {
                    return Ok(match failure {
                        Some(error) => Err(error),
                        None => Ok(rows),
                    });
                }
                Message::CopyInResponse(_) | Message::CopyOutResponse(_) => {
                    return Err(ConnectorError::unsupported("COPY is not supported by this client"));
                }
                _ => {
                    return Err(ConnectorError::protocol("unexpected message in a query response"));
                }
            }
        }
    }

    /// Parses `sql` into the unnamed statement and binds it with `params`
    /// to the portal `portal` (text results), and returns its columns (none
    /// for a statement without rows). Nothing runs yet: [`Client::execute`]
    /// pulls the rows. The portal lives until the transaction ends, so call
    /// this inside one. A server error leaves the session usable (in a failed
    /// transaction, which the caller rolls back).
    pub fn open_portal(&mut self, portal: &str, sql: &str, params: &[Param]) -> Result<Vec<Field>, ConnectorError> {
        self.usable()?;
        if sql.contains('\0') {
            return Err(ConnectorError::config("the statement contains a NUL character"));
        }
        let outcome = self.open_portal_inner(portal, sql, params);
        self.unless_broken(outcome)
    }

    fn open_portal_inner(
        &mut self,
        portal: &str,
        sql: &str,
        params: &[Param],
    ) -> Result<Result<Vec<Field>, ConnectorError>, ConnectorError> {
        let message_error = |error: std::io::Error| ConnectorError::internal(format!("statement message: {error}"));
        frontend::parse("", sql, params.iter().map(|_| 0), &mut self.write_buf).map_err(message_error)?;
        let formats = params.iter().map(|p| i16::from(matches!(p, Param::Binary(_))));
        let serializer = |param: &Param,
                          buf: &mut BytesMut|
         -> Result<postgres_protocol::IsNull, Box<dyn std::error::Error + Sync + Send>> {
            match param {
                Param::Null => return Ok(postgres_protocol::IsNull::Yes),
                Param::Text(text) => buf.extend_from_slice(text.as_bytes()),
                Param::Binary(bytes) => buf.extend_from_slice(bytes),
            }
            Ok(postgres_protocol::IsNull::No)
        };
        frontend::bind(portal, "", formats, params, serializer, [0], &mut self.write_buf).map_err(
            |error| match error {
                frontend::BindError::Conversion(error) => ConnectorError::internal(format!("bind message: {error}")),
                frontend::BindError::Serialization(error) => {
                    // More than 65,535 parameters, or a value over 2 GiB.
                    ConnectorError::config(format!("the parameters do not fit one Bind message: {error}"))
                }
            },
        )?;
        frontend::describe(b'P', portal, &mut self.write_buf).map_err(message_error)?;
        frontend::sync(&mut self.write_buf);
        self.send()?;
        let mut fields = Vec::new();
        let mut failure = None;
        loop {
            match self.read_message()? {
                Message::ParseComplete | Message::BindComplete | Message::NoData => {}
                Message::RowDescription(body) => {
                    let mut iter = body.fields();
                    while let Some(field) = iter.next().map_err(protocol_error)? {
                        fields.push(Field {
                            name: field.name().to_owned(),
                            type_oid: field.type_oid(),
                            type_modifier: field.type_modifier(),
                        });
                    }
                }
                Message::ErrorResponse(body) => failure = Some(server_error(body.fields())?),
                Message::NoticeResponse(_) | Message::NotificationResponse(_) => {}
                Message::ParameterStatus(body) => self.record_parameter(&body)?,
                Message::ReadyForQuery(_) => return Ok(failure.map_or(Ok(fields), Err)),
                _ => return Err(ConnectorError::protocol("unexpected message in answer to Parse/Bind/Describe")),
            }
        }
    }

    /// Runs `portal` for at most `max_rows` more rows (at least one), handing
    /// each row's text cells to `on_row`. Every call ends at ReadyForQuery,
    /// so the session is in a known state between calls. An error of
    /// `on_row` (a value that does not parse) is returned after the server's
    /// answer is read to its end.
    pub fn execute(&mut self, portal: &str, max_rows: u32, on_row: &mut OnRow<'_>) -> Result<Fetched, ConnectorError> {
        self.usable()?;
        let outcome = self.execute_inner(portal, max_rows, on_row);
        self.unless_broken(outcome)
    }

    fn execute_inner(
        &mut self,
        portal: &str,
        max_rows: u32,
        on_row: &mut OnRow<'_>,
    ) -> Result<Result<Fetched, ConnectorError>, ConnectorError> {
        // Zero would mean "all rows" to the server.
        let limit = i32::try_from(max_rows.max(1)).unwrap_or(i32::MAX);
        frontend::execute(portal, limit, &mut self.write_buf)
            .map_err(|error| ConnectorError::internal(format!("execute message: {error}")))?;
        frontend::sync(&mut self.write_buf);
        self.send()?;
        let mut fetched = Fetched::Complete;
        let mut failure = None;
        loop {
            match self.read_message()? {
                Message::DataRow(body) => {
                    let buffer = body.buffer();
                    let mut cells = Vec::new();
                    let mut ranges = body.ranges();
                    while let Some(range) = ranges.next().map_err(protocol_error)? {
                        cells.push(match range {
                            None => None,
                            Some(range) => {
                                let bytes = buffer
                                    .get(range)
                                    .ok_or_else(|| ConnectorError::protocol("a DataRow field runs past its message"))?;
                                Some(
                                    std::str::from_utf8(bytes).map_err(|_| {
                                        ConnectorError::protocol("the server sent text that is not UTF-8")
                                    })?,
                                )
                            }
                        });
                    }
                    if failure.is_none() {
                        failure = on_row(cells, buffer.len()).err();
                    }
                }
                Message::PortalSuspended => fetched = Fetched::Suspended,
                Message::CommandComplete(_) | Message::EmptyQueryResponse => fetched = Fetched::Complete,
                Message::ErrorResponse(body) => {
                    let error = server_error(body.fields())?;
                    failure.get_or_insert(error);
                }
                Message::NoticeResponse(_) | Message::NotificationResponse(_) => {}
                Message::ParameterStatus(body) => self.record_parameter(&body)?,
                Message::ReadyForQuery(_) => return Ok(failure.map_or(Ok(fetched), Err)),
                Message::CopyInResponse(_) | Message::CopyOutResponse(_) => {
                    // The server waits for COPY data we will never send: the
                    // stream cannot be brought back in step.
                    return Err(ConnectorError::unsupported("COPY is not supported by this client"));
                }
                _ => return Err(ConnectorError::protocol("unexpected message in answer to Execute")),
            }
        }
    }

    /// An error once the connection is broken: its stream position is unknown.
    fn usable(&self) -> Result<(), ConnectorError> {
        if self.broken {
            return Err(ConnectorError::unreachable("the connection to the server was lost earlier; reconnect"));
        }
        Ok(())
    }

    /// Marks the session broken on a transport or protocol failure (the
    /// outer error) and flattens the outcome.
    fn unless_broken<T>(
        &mut self,
        outcome: Result<Result<T, ConnectorError>, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        outcome.unwrap_or_else(|error| {
            self.broken = true;
            Err(error)
        })
    }

    /// Whether a transport or protocol failure ended the session.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    fn send(&mut self) -> Result<(), ConnectorError> {
        let outcome =
            self.stream.write_all(&self.write_buf).and_then(|()| self.stream.flush()).io_context("send to the server");
        self.write_buf.clear();
        outcome
    }

    fn read_message(&mut self) -> Result<Message, ConnectorError> {
        loop {
            if self.read_buf.len() >= 5 {
                let length =
                    u32::from_be_bytes([self.read_buf[1], self.read_buf[2], self.read_buf[3], self.read_buf[4]]);
                if length as usize > MAX_MESSAGE_BYTES {
                    return Err(ConnectorError::protocol(format!(
                        "the server sent a {length}-byte message (limit {MAX_MESSAGE_BYTES})"
                    )));
                }
            }
            if let Some(message) = Message::parse(&mut self.read_buf).map_err(protocol_error)? {
                return Ok(message);
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = self.stream.read(&mut chunk).io_context("read from the server")?;
            if read == 0 {
                return Err(ConnectorError::unreachable("the server closed the connection"));
            }
            self.read_buf.extend_from_slice(&chunk[..read]);
        }
    }
}

impl Drop for Client {
    /// Says goodbye so the server logs a clean disconnect; best effort.
    fn drop(&mut self) {
        if self.broken {
            return;
        }
        self.write_buf.clear();
        frontend::terminate(&mut self.write_buf);
        let _ = self.stream.write_all(&self.write_buf);
        self.stream.send_close_notify();
        let _ = self.stream.flush();
    }
}

/// An ErrorResponse as a [`ConnectorError`] of the kind its SQLSTATE means.
fn server_error(mut fields: ErrorFields<'_>) -> Result<ConnectorError, ConnectorError> {
    let mut code = String::new();
    let mut message = String::new();
    let mut detail = None;
    while let Some(field) = fields.next().map_err(protocol_error)? {
        match field.type_() {
            b'C' => code = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            b'D' => detail = Some(String::from_utf8_lossy(field.value_bytes()).into_owned()),
            _ => {}
        }
    }
    let text = match detail {
        Some(detail) => format!("{message} ({detail}) [SQLSTATE {code}]"),
        None => format!("{message} [SQLSTATE {code}]"),
    };
    Ok(error_for_sqlstate(&code, text))
}

/// The kind the platform should act on for a SQLSTATE.
pub fn error_for_sqlstate(code: &str, text: String) -> ConnectorError {
    match code {
        // invalid_password, invalid_authorization_specification (incl. pg_hba rejections)
        "28P01" | "28000" => ConnectorError::auth(text),
        // invalid_catalog_name: the database does not exist
        "3D000" => ConnectorError::not_found(text),
        // insufficient_privilege
        "42501" => ConnectorError::permission(text),
        // too_many_connections, cannot_connect_now (starting up / recovering)
        "53300" | "57P03" => ConnectorError::unreachable(text).retryable(true),
        // query_canceled: statement_timeout fired
        "57014" => ConnectorError::timeout(text),
        // read_only_sql_transaction: a write inside a preview or query
        "25006" => ConnectorError::permission(text),
        // undefined_table, undefined_column, invalid_schema_name
        "42P01" | "42703" | "3F000" => ConnectorError::not_found(text),
        // syntax_error: in a query, the user's statement
        "42601" => ConnectorError::config(text),
        _ => ConnectorError::protocol(text),
    }
}

fn unsupported_auth(method: &str) -> ConnectorError {
    ConnectorError::unsupported(format!(
        "the server asks for {method} authentication; this connector supports password, md5 and scram-sha-256"
    ))
}

fn protocol_error(error: std::io::Error) -> ConnectorError {
    ConnectorError::protocol(format!("malformed message from the server: {error}"))
}

/// The SDK's mapping of an I/O error to a kind, for an error already in hand.
pub fn io_error(error: std::io::Error, context: &str) -> ConnectorError {
    inlet_sdk::io_error(&error, context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inlet_sdk::ErrorKind;

    #[test]
    fn sqlstates_map_to_kinds() {
        let kind = |code: &str| error_for_sqlstate(code, String::new());
        assert_eq!(kind("28P01").kind, ErrorKind::Auth);
        assert_eq!(kind("28000").kind, ErrorKind::Auth);
        assert_eq!(kind("3D000").kind, ErrorKind::NotFound);
        assert_eq!(kind("42501").kind, ErrorKind::Permission);
        assert_eq!(kind("53300").kind, ErrorKind::Unreachable);
        assert!(kind("57P03").retryable);
        assert_eq!(kind("57014").kind, ErrorKind::Timeout);
        assert_eq!(kind("25006").kind, ErrorKind::Permission);
        assert_eq!(kind("42601").kind, ErrorKind::Config);
        assert_eq!(kind("42P01").kind, ErrorKind::NotFound);
        assert!(!kind("42P01").retryable);
        assert_eq!(kind("XX000").kind, ErrorKind::Protocol);
    }
}
