//! `preview` and `query`: a prepared statement (COM_STMT_PREPARE /
//! COM_STMT_EXECUTE, parameters bound by the binary protocol, never spliced)
//! run inside `START TRANSACTION READ ONLY`, its binary rows read from the
//! socket a batch at a time.
//!
//! The server sends every row of a result without being asked, so
//! [`MyRows::next`] reads at most a batch of them and leaves the rest in the
//! socket. When the rows end, fail, or are dropped early, a short rest is
//! read and discarded; a longer or slower one is cancelled at the server with
//! `KILL QUERY` on a second session ([`crate::kill`]), and only what was
//! already sent is read up to the server's error. Without the cancel the rest
//! is drained (up to [`MAX_DRAIN_BYTES`]; past it the session is marked
//! broken and the host reconnects). Then the statement is closed and the
//! transaction rolled back, so the pooled connection is usable again.
//!
//! The server enforces read-only itself: a write fails with error 1792 (a
//! `permission` error). The session's transactions are made read-only as
//! well, since DDL commits the open transaction implicitly and would
//! otherwise run in a new, writable one. TIMESTAMP values come in UTC: the session's
//! `time_zone` is set to `+00:00` before the statement.

use std::time::{Duration, Instant};

use inlet_sdk::prelude::*;
use inlet_sdk::rows::MAX_BATCH_BYTES;
use inlet_sdk::{Batch, ResultColumn};

use crate::MySqlConnection;
use crate::client::Client;
use crate::error::parse_err;
use crate::kill;
use crate::packet::{Cursor, ParseError, put_lenenc_bytes};
use crate::resultset::is_end_of_rows;
use crate::values::{Decoder, decode_row, field, parse_column_def, result_column_for};

const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_CLOSE: u8 = 0x19;

/// Rows left unread when the rows are dropped are read and discarded up to
/// this much; a larger rest costs less as a reconnect than as a transfer.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// A rest of rows this small, arriving within [`REST_WAIT`], is read and
/// discarded rather than cancelled: cheaper than a second session.
pub const SMALL_REST_BYTES: usize = 256 * 1024;
pub const REST_WAIT: Duration = Duration::from_millis(200);

/// More columns than a statement may return (MySQL's own limit is 4096).
const MAX_COLUMNS: u64 = 4096;

/// SERVER_MORE_RESULTS_EXISTS in the status flags of the end packet.
const MORE_RESULTS_EXISTS: u16 = 0x0008;

/// The unsigned flag on a parameter's type in COM_STMT_EXECUTE.
const PARAM_UNSIGNED: u8 = 0x80;

/// Quotes an identifier: `` `a``b` ``. A NUL cannot be quoted, so it is refused.
pub fn identifier(name: &str) -> Result<String, ConnectorError> {
    if name.contains('\0') {
        return Err(ConnectorError::config("a schema, table or column name contains a NUL character"));
    }
    Ok(format!("`{}`", name.replace('`', "``")))
}

/// The statement of a preview: the columns asked for (all when none) of one
/// table, at most `limit` rows.
pub fn preview_statement(request: &PreviewRequest) -> Result<String, ConnectorError> {
    let columns = if request.columns.is_empty() {
        "*".to_owned()
    } else {
        request.columns.iter().map(|c| identifier(c)).collect::<Result<Vec<_>, _>>()?.join(", ")
    };
    Ok(format!(
        "SELECT {columns} FROM {}.{} LIMIT {}",
        identifier(&request.schema)?,
        identifier(&request.object)?,
        request.limit
    ))
}

/// The body of COM_STMT_EXECUTE: no cursor, one iteration, and the
/// parameters typed from their variant (the server converts them to what the
/// statement needs, as it does for any client's binary parameters).
pub fn execute_body(statement_id: u32, params: &[Parameter]) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + params.len() * 10);
    body.extend_from_slice(&statement_id.to_le_bytes());
    body.push(0x00); // CURSOR_TYPE_NO_CURSOR
    body.extend_from_slice(&1u32.to_le_bytes());
    if params.is_empty() {
        return body;
    }
    let mut bitmap = vec![0u8; params.len().div_ceil(8)];
    for (i, param) in params.iter().enumerate() {
        if matches!(param, Parameter::Null) {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    body.extend_from_slice(&bitmap);
    body.push(1); // new-params-bound: the types follow
    let mut values = Vec::new();
    for param in params {
        let (column_type, flag) = match param {
            Parameter::Null => (field::NULL, 0),
            Parameter::Boolean(value) => {
                values.push(u8::from(*value));
                (field::TINY, PARAM_UNSIGNED)
            }
            Parameter::Integer(value) => {
                values.extend_from_slice(&value.to_le_bytes());
                (field::LONGLONG, 0)
            }
            Parameter::Float(value) => {
                values.extend_from_slice(&value.to_le_bytes());
                (field::DOUBLE, 0)
            }
            Parameter::Text(value) => {
                put_lenenc_bytes(&mut values, value.as_bytes());
                (field::VAR_STRING, 0)
            }
            Parameter::Binary(value) => {
                put_lenenc_bytes(&mut values, value);
                (field::BLOB, 0)
            }
        };
        body.extend_from_slice(&[column_type, flag]);
    }
    body.extend_from_slice(&values);
    body
}

/// COM_STMT_PREPARE's OK: the statement id and its column and parameter counts.
fn parse_prepare_ok(payload: &[u8]) -> Result<(u32, u16, u16), ParseError> {
    let mut c = Cursor::new(payload);
    c.skip(1, "prepare OK")?;
    let id = c.u32("statement id")?;
    let columns = c.u16("column count")?;
    let params = c.u16("parameter count")?;
    Ok((id, columns, params))
}

/// The session statement that bounds one statement's run time, or that
/// restores the connection's own bound (`None`: the server's default).
fn timeout_statement(mariadb: bool, ms: Option<u32>) -> String {
    match (mariadb, ms) {
        (true, Some(ms)) => format!("SET SESSION max_statement_time = {:.3}", f64::from(ms) / 1000.0),
        (true, None) => "SET SESSION max_statement_time = DEFAULT".to_owned(),
        (false, Some(ms)) => format!("SET SESSION max_execution_time = {ms}"),
        (false, None) => "SET SESSION max_execution_time = DEFAULT".to_owned(),
    }
}

/// Runs a session statement; ER_UNKNOWN_SYSTEM_VARIABLE (an old server
/// without the timeout variable) is not an error.
fn session_statement(client: &mut Client, sql: &str) -> Result<(), ConnectorError> {
    match client.try_query(sql)? {
        Ok(_) => Ok(()),
        Err(server) if server.code == 1193 => Ok(()),
        Err(server) => Err(server.into_connector_error()),
    }
}

/// Reads `count` column definitions, and the EOF after them on servers that send one.
fn read_definitions(client: &mut Client, count: u64) -> Result<Vec<crate::values::ColumnDef>, ConnectorError> {
    let mut defs = Vec::new();
    for _ in 0..count {
        let packet = client.read_packet()?;
        defs.push(parse_column_def(&packet).inspect_err(|_| client.mark_broken())?);
    }
    if count > 0 && !client.deprecate_eof() {
        let eof = client.read_packet()?;
        if !is_end_of_rows(&eof, false) {
            client.mark_broken();
            return Err(ConnectorError::protocol("expected an EOF packet after the column definitions"));
        }
    }
    Ok(defs)
}

/// What still has to happen on the connection when the rows end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Rows are still in the socket.
    Reading,
    /// The result was read to its end; the statement and transaction are open.
    Read,
    /// Everything is closed.
    Closed,
}

/// The rows of one preview or query, read from the connection's socket.
pub struct MyRows {
    columns: Vec<ResultColumn>,
    decoders: Vec<Decoder>,
    builder: BatchBuilder,
    /// Rows still to hand out (the request's cap).
    remaining: u64,
    statement_id: Option<u32>,
    /// The session timeout statement to run at the end, when the query changed it.
    restore: Option<String>,
    state: State,
    /// The connection's own time bound passed while waiting for a row.
    timed_out: bool,
}

/// Opens the transaction, prepares and executes `sql`; `max_rows` bounds the
/// rows handed out in all, `timeout_ms` (when given) the statement's run time.
pub fn start(
    connection: &mut MySqlConnection,
    sql: &str,
    params: &[Parameter],
    timeout_ms: Option<u32>,
    max_rows: u64,
) -> Result<MyRows, ConnectorError> {
    let mariadb = connection.client.handshake.is_mariadb();
    let restore = timeout_ms.filter(|ms| *ms > 0).map(|_| timeout_statement(mariadb, connection.session_timeout_ms));
    let mut rows = MyRows {
        columns: Vec::new(),
        decoders: Vec::new(),
        builder: BatchBuilder::new(&[]),
        remaining: max_rows,
        statement_id: None,
        restore,
        state: State::Read,
        timed_out: false,
    };
    match open(connection, &mut rows, sql, params, timeout_ms) {
        Ok(()) => Ok(rows),
        Err(error) => {
            rows.finish(connection);
            Err(error)
        }
    }
}

fn open(
    connection: &mut MySqlConnection,
    rows: &mut MyRows,
    sql: &str,
    params: &[Parameter],
    timeout_ms: Option<u32>,
) -> Result<(), ConnectorError> {
    let mariadb = connection.client.handshake.is_mariadb();
    let client = &mut connection.client;
    if let Some(ms) = timeout_ms.filter(|ms| *ms > 0) {
        session_statement(client, &timeout_statement(mariadb, Some(ms)))?;
    }
    client.query("SET SESSION time_zone = '+00:00'")?;
    // DDL (and a user's COMMIT) ends the transaction implicitly and would
    // run outside it; with the session's own transactions read-only too, the
    // server refuses it as well (1792). Set on every call, so a statement
    // that changes it affects nothing but itself.
    client.query("SET SESSION TRANSACTION READ ONLY")?;
    client.query("START TRANSACTION READ ONLY")?;

    client.command(COM_STMT_PREPARE, sql.as_bytes())?;
    let first = client.read_packet()?;
    match first.first() {
        Some(0x00) => {}
        Some(0xFF) => return Err(parse_err(&first).inspect_err(|_| client.mark_broken())?.into_connector_error()),
        _ => {
            client.mark_broken();
            return Err(ConnectorError::protocol("unexpected response to COM_STMT_PREPARE"));
        }
    }
    let (id, column_count, param_count) = parse_prepare_ok(&first).inspect_err(|_| client.mark_broken())?;
    rows.statement_id = Some(id);
    read_definitions(client, u64::from(param_count))?;
    read_definitions(client, u64::from(column_count))?;
    if usize::from(param_count) != params.len() {
        return Err(ConnectorError::config(format!(
            "the statement has {param_count} parameter(s) (`?`), {} given",
            params.len()
        )));
    }

    client.command(COM_STMT_EXECUTE, &execute_body(id, params))?;
    let first = execute_response(connection, rows)?;
    let client = &mut connection.client;
    match first.first() {
        // No result set (a statement that returns no rows): no columns.
        Some(0x00) => return Ok(()),
        Some(0xFF) => return Err(parse_err(&first).inspect_err(|_| client.mark_broken())?.into_connector_error()),
        _ => {}
    }
    let width = Cursor::new(&first).lenenc_u64("column count").inspect_err(|_| client.mark_broken())?;
    if width == 0 || width > MAX_COLUMNS {
        client.mark_broken();
        return Err(ConnectorError::protocol(format!("the server announced {width} columns")));
    }
    // From here on rows may be in the socket.
    rows.state = State::Reading;
    let defs = read_definitions(client, width)?;
    (rows.columns, rows.decoders) = defs.iter().map(result_column_for).unzip();
    rows.builder = BatchBuilder::new(&rows.columns);
    Ok(())
}

/// The first packet of COM_STMT_EXECUTE's response. When the connection's
/// bound (a share of the host's timeout) passes first, the server's own
/// statement timeout being longer, the statement is cancelled at the server
/// and its answer awaited a short while, so that the session stays in step.
fn execute_response(connection: &mut MySqlConnection, rows: &mut MyRows) -> Result<Vec<u8>, ConnectorError> {
    if let Some(first) = connection.client.read_packet_within(None)? {
        return Ok(first);
    }
    let wait = cancel_statement(connection);
    let client = &mut connection.client;
    match client.read_packet_within(Some(wait)) {
        // The statement ended, with ER_QUERY_INTERRUPTED or without a result.
        Ok(Some(answer)) if matches!(answer.first(), Some(0xFF | 0x00)) => {}
        // Its result began all the same: `finish` reads it to its end.
        Ok(Some(_)) => rows.state = State::Reading,
        Ok(None) => client.mark_broken(),
        Err(_) => {}
    }
    Err(cancelled_for_time())
}

/// Sends `KILL QUERY` for the session's running statement on a session of
/// its own; returns how long the server's answer may still be awaited.
fn cancel_statement(connection: &MySqlConnection) -> Duration {
    let budget = kill::cancel_budget(connection.query_timeout);
    // Refused or failed: the caller reads the whole rest instead, or gives up.
    let _ = kill::kill_query(&connection.target, connection.client.handshake.connection_id, budget);
    budget
}

fn cancelled_for_time() -> ConnectorError {
    ConnectorError::timeout("the statement ran past the call's time limit and is cancelled at the server")
}

impl MyRows {
    /// Ends the result (see [`end_result`]), closes the statement and
    /// rolls back. Failures mark the client broken (transport) or are moot:
    /// the caller already has a result or an error to report.
    fn finish(&mut self, connection: &mut MySqlConnection) {
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Reading && !connection.client.is_broken() {
            end_result(connection, self.timed_out);
        }
        self.state = State::Closed;
        let client = &mut connection.client;
        if client.is_broken() {
            return;
        }
        if let Some(id) = self.statement_id.take() {
            // COM_STMT_CLOSE has no response.
            let _ = client.command(COM_STMT_CLOSE, &id.to_le_bytes());
        }
        let _ = client.try_query("ROLLBACK");
        if let Some(restore) = self.restore.take() {
            let _ = session_statement(client, &restore);
        }
    }
}

/// Ends a result whose rows are still coming, leaving the session in step
/// or marked broken. A short rest (at most [`SMALL_REST_BYTES`] within
/// [`REST_WAIT`]) is read and discarded. A longer or slower one is stopped
/// at the server first ([`kill::kill_query`]), after which only what was
/// already sent comes before the server's error; when the cancel cannot be
/// sent (a second session refused), the rest is drained up to
/// [`MAX_DRAIN_BYTES`] and the connection's own bound for one read.
/// `timed_out`: the connection's own bound already
/// passed waiting for a row, so the cancel comes at once and the wait for
/// the server's error is short.
fn end_result(connection: &mut MySqlConnection, timed_out: bool) {
    if !timed_out && drain(&mut connection.client, SMALL_REST_BYTES, Some(REST_WAIT)) == Rest::Ended {
        return;
    }
    let budget = cancel_statement(connection);
    let client = &mut connection.client;
    // In all, no longer than one read may wait (a rest that trickles in
    // without the cancel would otherwise hold the call much longer).
    let wait = if timed_out { Some(budget) } else { client.timeout() };
    if drain(client, MAX_DRAIN_BYTES, wait) == Rest::Remains {
        // Too much, or too slow: a reconnect costs less.
        client.mark_broken();
    }
}

/// What [`drain`] left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rest {
    /// The result ended (or the session broke: nothing more to read).
    Ended,
    /// More is to come: the byte bound or the wait was reached.
    Remains,
}

/// Reads and discards the rest of a result, up to `max_bytes`, waiting at
/// most `wait` in all (`None`: the connection's bound for each read).
fn drain(client: &mut Client, max_bytes: usize, wait: Option<Duration>) -> Rest {
    let until = wait.map(|wait| Instant::now() + wait);
    let mut bytes = 0usize;
    loop {
        let left = until.map(|until| until.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Rest::Remains;
        }
        let packet = match client.read_packet_within(left) {
            Ok(Some(packet)) => packet,
            Ok(None) => return Rest::Remains,
            Err(_) => return Rest::Ended,
        };
        if packet.first() == Some(&0xFF) {
            // The server's error ends the result (ER_QUERY_INTERRUPTED after a cancel).
            return Rest::Ended;
        }
        if is_end_of_rows(&packet, client.deprecate_eof()) {
            if end_status(&packet, client.deprecate_eof()).is_ok_and(|s| s & MORE_RESULTS_EXISTS != 0) {
                // Another result follows (CALL): not read by this client.
                client.mark_broken();
            }
            return Rest::Ended;
        }
        bytes += packet.len();
        if bytes > max_bytes {
            return Rest::Remains;
        }
    }
}

/// The status flags of the packet that ended the rows.
fn end_status(payload: &[u8], deprecate_eof: bool) -> Result<u16, ParseError> {
    let mut c = Cursor::new(payload);
    c.skip(1, "end of rows")?;
    if deprecate_eof {
        c.lenenc_u64("affected rows")?;
        c.lenenc_u64("last insert id")?;
    } else {
        c.skip(2, "warning count")?;
    }
    c.u16("status flags")
}

impl Rows<MySqlConnection> for MyRows {
    fn columns(&self) -> Vec<ResultColumn> {
        self.columns.clone()
    }

    fn next(&mut self, connection: &mut MySqlConnection, max_rows: u32) -> Result<Option<Batch>, ConnectorError> {
        if self.state != State::Reading || self.remaining == 0 {
            self.finish(connection);
            return Ok(None);
        }
        let client = &mut connection.client;
        let deprecate_eof = client.deprecate_eof();
        let wanted = u64::from(max_rows.max(1)).min(self.remaining);
        let mut outcome = Ok(());
        while u64::from(self.builder.len()) < wanted && self.builder.byte_size() < MAX_BATCH_BYTES {
            let packet = match client.read_packet_within(None) {
                Ok(Some(packet)) => packet,
                Ok(None) => {
                    // The connection's bound (a share of the host's timeout)
                    // passed before the server's own statement timeout: stop
                    // the statement at the server rather than leave it running.
                    self.timed_out = true;
                    outcome = Err(cancelled_for_time());
                    break;
                }
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            };
            if packet.first() == Some(&0xFF) {
                // The server's error ends the result (a timeout, a failed conversion).
                self.state = State::Read;
                outcome = Err(match parse_err(&packet) {
                    Ok(server) => server.into_connector_error(),
                    Err(error) => error.into(),
                });
                break;
            }
            if is_end_of_rows(&packet, deprecate_eof) {
                self.state = State::Read;
                if end_status(&packet, deprecate_eof).is_ok_and(|s| s & MORE_RESULTS_EXISTS != 0) {
                    client.mark_broken();
                    outcome = Err(ConnectorError::unsupported("statements that return several results (CALL)"));
                }
                break;
            }
            let pushed = decode_row(&packet, &self.decoders).and_then(|values| self.builder.push_row(values));
            if let Err(error) = pushed {
                outcome = Err(error);
                break;
            }
        }
        let batch = self.builder.finish();
        if let Err(error) = outcome {
            self.finish(connection);
            return Err(error);
        }
        self.remaining = self.remaining.saturating_sub(u64::from(batch.row_count));
        if self.state != State::Reading || self.remaining == 0 {
            // Read to its end (or to the cap): free the connection now rather
            // than when the host drops the rows.
            self.finish(connection);
        }
        Ok((batch.row_count > 0).then_some(batch))
    }

    fn close(&mut self, connection: &mut MySqlConnection) {
        self.finish(connection);
    }
}

/// The preview of one table `discover` named.
pub fn preview(connection: &mut MySqlConnection, request: &PreviewRequest) -> Result<MyRows, ConnectorError> {
    let sql = preview_statement(request)?;
    // The session's statement timeout (set at connect) applies.
    start(connection, &sql, &[], None, u64::from(request.limit))
}

/// The user's statement, its `?` parameters bound by the protocol.
pub fn query(connection: &mut MySqlConnection, request: &QueryRequest) -> Result<MyRows, ConnectorError> {
    if request.statement.trim().is_empty() {
        return Err(ConnectorError::config("the statement is empty"));
    }
    start(connection, &request.statement, &request.parameters, Some(request.timeout_ms), request.max_rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_nul_refused() {
        assert_eq!(identifier("a`b").unwrap(), "`a``b`");
        assert!(identifier("a\0b").is_err());
        let request = PreviewRequest {
            schema: "s".into(),
            object: "t`x".into(),
            columns: vec!["c".into(), "d".into()],
            limit: 5,
        };
        assert_eq!(preview_statement(&request).unwrap(), "SELECT `c`, `d` FROM `s`.`t``x` LIMIT 5");
    }

    #[test]
    fn execute_bodies_type_each_parameter() {
        let body = execute_body(
            7,
            &[Parameter::Null, Parameter::Integer(-1), Parameter::Text("ab".into()), Parameter::Boolean(true)],
        );
        let mut expected = vec![7, 0, 0, 0, 0, 1, 0, 0, 0, 0b0000_0001, 1];
        expected.extend_from_slice(&[field::NULL, 0, field::LONGLONG, 0, field::VAR_STRING, 0, field::TINY, 0x80]);
        expected.extend_from_slice(&(-1i64).to_le_bytes());
        expected.extend_from_slice(&[2, b'a', b'b', 1]);
        assert_eq!(body, expected);
        assert_eq!(execute_body(1, &[]), vec![1, 0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn timeouts_use_each_servers_variable() {
        assert_eq!(timeout_statement(true, Some(1500)), "SET SESSION max_statement_time = 1.500");
        assert_eq!(timeout_statement(false, Some(1500)), "SET SESSION max_execution_time = 1500");
        assert_eq!(timeout_statement(true, None), "SET SESSION max_statement_time = DEFAULT");
    }
}
