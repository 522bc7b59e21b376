//! `preview` and `query`: a statement run inside a read-only transaction
//! through the extended protocol, its rows pulled a batch at a time from a
//! portal.
//!
//! Each call to [`PgRows::next`] is one Execute with a row limit and a Sync,
//! so between batches the session always sits at ReadyForQuery inside the
//! transaction, and whatever the host does next (pull again, or drop the
//! rows) starts from a known state. The transaction ends (ROLLBACK: it never
//! wrote) as soon as the result is read to its end, fails, or the rows are
//! dropped, so the pooled connection is usable again.
//!
//! The server enforces read-only itself: a write fails with SQLSTATE 25006
//! (a `permission` error). The setup also runs a `SELECT` before the user's
//! statement: after a transaction's first snapshot PostgreSQL refuses
//! `SET TRANSACTION READ WRITE`, so the statement cannot lift the mode.

use inlet_sdk::prelude::*;
use inlet_sdk::rows::MAX_BATCH_BYTES;
use inlet_sdk::{Batch, ResultColumn};

use crate::PgConnection;
use crate::config::Flavor;
use crate::values::{Decoder, decode, result_column_for};
use crate::wire::{Client, Fetched, Param};

/// The portal every result is read from (one at a time per connection).
const PORTAL: &str = "inlet_rows";

/// Rows asked of the first Execute, before the width of a row is known.
const FIRST_FETCH_ROWS: u32 = 64;

/// A batch that grows past this fails rather than exhausting the guest's
/// memory (rows of several MiB each, before their width was known).
const MAX_BATCH_HARD_BYTES: usize = 16 * 1024 * 1024;

/// Quotes an identifier: `"a""b"`. A NUL cannot be sent, so it is refused.
pub fn identifier(name: &str) -> Result<String, ConnectorError> {
    if name.contains('\0') {
        return Err(ConnectorError::config("a schema, table or column name contains a NUL character"));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// The statement of a preview: the columns asked for (all when none) of one
/// relation, at most `limit` rows.
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

/// A parameter as the extended protocol sends it: text in each type's input
/// syntax (the server casts it to what the statement needs), bytes binary.
pub fn parameter(parameter: &Parameter) -> Param {
    match parameter {
        Parameter::Null => Param::Null,
        Parameter::Boolean(value) => Param::Text(if *value { "true" } else { "false" }.to_owned()),
        Parameter::Integer(value) => Param::Text(value.to_string()),
        Parameter::Float(value) => Param::Text(float_text(*value)),
        Parameter::Text(value) => Param::Text(value.clone()),
        Parameter::Binary(value) => Param::Binary(value.clone()),
    }
}

/// A float in PostgreSQL's input syntax; Rust's `Display` is exact
/// (shortest round trip) but spells the specials differently.
fn float_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        value.to_string()
    }
}

/// The statements that open the transaction: read-only, the statement
/// timeout when given, and the one text format [`crate::values`] parses.
pub fn setup_statement(flavor: Flavor, timeout_ms: Option<u32>) -> String {
    let mut sql = String::from("BEGIN READ ONLY");
    if let Some(ms) = timeout_ms.filter(|ms| *ms > 0) {
        sql.push_str(&format!("; SET LOCAL statement_timeout = {ms}"));
    }
    sql.push_str("; SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO'");
    if flavor == Flavor::Postgres {
        // Floats exact on servers before 12 (later ones print them exactly
        // anyway); Redshift has no bytea (its VARBYTE prints hex already).
        sql.push_str("; SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'");
    }
    // The first snapshot: from here on the transaction cannot become read-write.
    sql.push_str("; SELECT 1");
    sql
}

/// Opens the transaction and the portal for `sql`; `max_rows` bounds the
/// rows handed out in all.
pub fn start(
    connection: &mut PgConnection,
    sql: &str,
    params: &[Param],
    timeout_ms: Option<u32>,
    max_rows: u64,
) -> Result<PgRows, ConnectorError> {
    let client = &mut connection.client;
    // The zone users see timestamptz values in, before the transaction sets UTC.
    let time_zone = client.parameter("TimeZone").map(str::to_owned);
    if let Err(error) = client.simple_query(&setup_statement(connection.flavor, timeout_ms)) {
        end_transaction(client);
        return Err(error);
    }
    let fields = match client.open_portal(PORTAL, sql, params) {
        Ok(fields) => fields,
        Err(error) => {
            end_transaction(client);
            return Err(error);
        }
    };
    let (columns, decoders): (Vec<ResultColumn>, Vec<Decoder>) =
        fields.iter().map(|field| result_column_for(field, time_zone.as_deref())).unzip();
    let builder = BatchBuilder::new(&columns);
    Ok(PgRows { columns, decoders, builder, remaining: max_rows, row_bytes: None, open: true })
}

/// Ends the transaction (and with it the portal). A failure here leaves the
/// client marked broken when the transport failed, and is otherwise moot: the
/// caller already has an error or a result to report.
fn end_transaction(client: &mut Client) {
    if !client.is_broken() {
        let _ = client.simple_query("ROLLBACK");
    }
}

/// The rows of one preview or query, read from the connection's portal.
pub struct PgRows {
    columns: Vec<ResultColumn>,
    decoders: Vec<Decoder>,
    builder: BatchBuilder,
    /// Rows still to hand out (the request's cap).
    remaining: u64,
    /// The average DataRow size seen so far, to keep batches near
    /// [`MAX_BATCH_BYTES`] whatever `max_rows` allows.
    row_bytes: Option<usize>,
    /// Whether the transaction (and the portal) is still open.
    open: bool,
}

impl PgRows {
    /// How many rows to ask the next Execute for.
    fn fetch_size(&self, max_rows: u32) -> u32 {
        let by_bytes = match self.row_bytes {
            Some(bytes) => u32::try_from(MAX_BATCH_BYTES / bytes.max(1)).unwrap_or(u32::MAX).max(1),
            None => FIRST_FETCH_ROWS,
        };
        let by_cap = u32::try_from(self.remaining).unwrap_or(u32::MAX);
        max_rows.max(1).min(by_bytes).min(by_cap)
    }

    fn close_transaction(&mut self, connection: &mut PgConnection) {
        if self.open {
            self.open = false;
            end_transaction(&mut connection.client);
        }
    }
}

impl Rows<PgConnection> for PgRows {
    fn columns(&self) -> Vec<ResultColumn> {
        self.columns.clone()
    }

    fn next(&mut self, connection: &mut PgConnection, max_rows: u32) -> Result<Option<Batch>, ConnectorError> {
        if !self.open {
            return Ok(None);
        }
        if self.remaining == 0 {
            self.close_transaction(connection);
            return Ok(None);
        }
        let fetch = self.fetch_size(max_rows);
        let (decoders, builder) = (&self.decoders, &mut self.builder);
        let mut bytes = 0usize;
        let mut on_row = |cells: Vec<Option<&str>>, size: usize| {
            if cells.len() != decoders.len() {
                return Err(ConnectorError::protocol("a DataRow's width differs from its RowDescription"));
            }
            bytes += size;
            if builder.byte_size() > MAX_BATCH_HARD_BYTES {
                return Err(ConnectorError::protocol(format!(
                    "{} rows of this result take more than {} MiB; select fewer or narrower columns",
                    builder.len(),
                    MAX_BATCH_HARD_BYTES >> 20
                )));
            }
            let values = decoders.iter().zip(cells).map(|(d, cell)| decode(*d, cell)).collect::<Result<_, _>>()?;
            builder.push_row(values)
        };
        let outcome = connection.client.execute(PORTAL, fetch, &mut on_row);
        let batch = self.builder.finish();
        let fetched = match outcome {
            Ok(fetched) => fetched,
            Err(error) => {
                self.close_transaction(connection);
                return Err(error);
            }
        };
        let rows = batch.row_count;
        if rows > 0 {
            self.row_bytes = Some(bytes / rows as usize);
        }
        self.remaining = self.remaining.saturating_sub(u64::from(rows));
        if fetched == Fetched::Complete || self.remaining == 0 {
            // Read to its end (or to the cap): free the connection now rather
            // than when the host drops the rows.
            self.close_transaction(connection);
        }
        Ok((rows > 0).then_some(batch))
    }

    fn close(&mut self, connection: &mut PgConnection) {
        self.close_transaction(connection);
    }
}

/// The preview of one relation `discover` named.
pub fn preview(connection: &mut PgConnection, request: &PreviewRequest) -> Result<PgRows, ConnectorError> {
    let sql = preview_statement(request)?;
    // The session's statement timeout (set at connect) applies.
    start(connection, &sql, &[], None, u64::from(request.limit))
}

/// The user's statement, its parameters bound by the protocol.
pub fn query(connection: &mut PgConnection, request: &QueryRequest) -> Result<PgRows, ConnectorError> {
    if request.statement.trim().is_empty() {
        return Err(ConnectorError::config("the statement is empty"));
    }
    let params: Vec<Param> = request.parameters.iter().map(parameter).collect();
    start(connection, &request.statement, &params, Some(request.timeout_ms), request.max_rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(identifier("plain").unwrap(), "\"plain\"");
        assert_eq!(identifier("a\"b").unwrap(), "\"a\"\"b\"");
        assert_eq!(identifier("x\0").unwrap_err().kind, ErrorKind::Config);
    }

    #[test]
    fn previews_select_the_columns_asked_for() {
        let mut request =
            PreviewRequest { schema: "public".into(), object: "my \"table\"".into(), columns: vec![], limit: 50 };
        assert_eq!(preview_statement(&request).unwrap(), "SELECT * FROM \"public\".\"my \"\"table\"\"\" LIMIT 50");
        request.columns = vec!["b".into(), "a".into()];
        assert_eq!(
            preview_statement(&request).unwrap(),
            "SELECT \"b\", \"a\" FROM \"public\".\"my \"\"table\"\"\" LIMIT 50"
        );
    }

    #[test]
    fn parameters_are_sent_in_input_syntax() {
        assert_eq!(parameter(&Parameter::Null), Param::Null);
        assert_eq!(parameter(&Parameter::Boolean(true)), Param::Text("true".into()));
        assert_eq!(parameter(&Parameter::Integer(-5)), Param::Text("-5".into()));
        assert_eq!(parameter(&Parameter::Float(0.1)), Param::Text("0.1".into()));
        assert_eq!(parameter(&Parameter::Float(f64::NEG_INFINITY)), Param::Text("-Infinity".into()));
        assert_eq!(parameter(&Parameter::Float(f64::NAN)), Param::Text("NaN".into()));
        assert_eq!(parameter(&Parameter::Text("it's".into())), Param::Text("it's".into()));
        assert_eq!(parameter(&Parameter::Binary(vec![0, 1])), Param::Binary(vec![0, 1]));
    }

    #[test]
    fn the_setup_is_read_only_and_takes_a_snapshot() {
        let postgres = setup_statement(Flavor::Postgres, Some(1500));
        assert!(postgres.starts_with("BEGIN READ ONLY; SET LOCAL statement_timeout = 1500;"), "{postgres}");
        assert!(postgres.contains("TimeZone = 'UTC'") && postgres.contains("bytea_output"));
        assert!(postgres.ends_with("; SELECT 1"));
        let redshift = setup_statement(Flavor::Redshift, Some(0));
        assert!(!redshift.contains("statement_timeout") && !redshift.contains("bytea_output"), "{redshift}");
        assert!(redshift.starts_with("BEGIN READ ONLY; SET LOCAL TimeZone") && redshift.ends_with("; SELECT 1"));
    }
}
