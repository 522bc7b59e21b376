//! The first rows of one (key pattern, type) table, in the columns discover
//! gave it.
//!
//! The table is found again from the same kind of sample discover takes
//! ([`catalog::find`]): a pattern only exists relative to a sample (names
//! merge into `*` across it), so the keys that sample put in the table are
//! the ones read, in name order. Rows are read a key at a time while the host
//! pulls batches, and never more than `limit` of them: a list of a million
//! elements costs one `LRANGE 0 limit-1`.

use std::collections::VecDeque;

use inlet_sdk::prelude::*;
use inlet_sdk::{Batch, ResultColumn};

use crate::RedisConnection;
use crate::catalog::{self, Described};
use crate::client::{Command, Reply};
use crate::config::MAX_DATABASE;
use crate::resp::Value as Resp;

/// A string longer than this is shown as its first bytes (text columns) or
/// NULL (numbers, booleans, JSON cannot be cut).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// How one key becomes rows, from the columns discover gave its table.
#[derive(Debug, Clone, PartialEq)]
enum Layout {
    /// `key, value`: one row per key.
    String,
    /// `key, <field>…`: one row per hash, its fields as columns.
    HashRecord(Vec<String>),
    /// `key, field, value`: one row per hash field.
    HashPairs,
    /// `key, index, element`.
    List,
    /// `key, member`.
    Set,
    /// `key, member, score`.
    SortedSet,
    /// `key, id, <field>…`: one row per entry.
    Stream(Vec<String>),
    /// `key, value`: the document as JSON (RedisJSON).
    Json,
    /// `key, value`: a module type there is no generic way to read: NULL.
    Opaque,
}

impl Layout {
    fn of(described: &Described) -> Self {
        let columns = &described.table.columns;
        let names_after = |skip: usize| columns.iter().skip(skip).map(|c| c.name.clone()).collect();
        match described.redis_type.as_str() {
            "string" => Self::String,
            "hash" if columns.get(1).is_some_and(|c| c.native_type == "hash field name") => Self::HashPairs,
            "hash" => Self::HashRecord(names_after(1)),
            "list" => Self::List,
            "set" => Self::Set,
            "zset" => Self::SortedSet,
            "stream" => Self::Stream(names_after(2)),
            "ReJSON-RL" => Self::Json,
            _ => Self::Opaque,
        }
    }
}

/// `db3` → 3, for the schemas this connection may read.
fn database_of(schema: &str, listed: Option<&[u8]>) -> Result<u8, ConnectorError> {
    let database = schema
        .strip_prefix("db")
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u8>().ok())
        .filter(|database| *database <= MAX_DATABASE);
    match database {
        Some(database) if listed.is_none_or(|listed| listed.contains(&database)) => Ok(database),
        _ => Err(ConnectorError::not_found(format!("no schema `{schema}` (schemas are the databases db0, db1, …)"))),
    }
}

pub fn preview(
    connection: &mut RedisConnection,
    request: &PreviewRequest,
) -> Result<Box<dyn Rows<RedisConnection>>, ConnectorError> {
    let database = database_of(&request.schema, connection.config.options.databases.as_deref())?;
    let described = catalog::find(&mut connection.client, &connection.config, database, &request.object)?;
    let all: Vec<ResultColumn> = described.table.columns.iter().map(result_of).collect();
    let picks: Vec<usize> = if request.columns.is_empty() {
        (0..all.len()).collect()
    } else {
        let index = |name: &String| {
            all.iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| ConnectorError::not_found(format!("no column `{name}` in `{}`", described.table.name)))
        };
        request.columns.iter().map(index).collect::<Result<_, _>>()?
    };
    let columns: Vec<ResultColumn> = picks.iter().map(|&i| all[i].clone()).collect();
    let builder = BatchBuilder::new(&columns);
    Ok(Box::new(KeyRows {
        layout: Layout::of(&described),
        types: all.iter().map(|c| c.data_type.clone()).collect(),
        columns,
        picks,
        database,
        keys: described.keys.into(),
        pending: VecDeque::new(),
        remaining: u64::from(request.limit),
        builder,
    }))
}

fn result_of(column: &Column) -> ResultColumn {
    let mut result = result_column(column.name.clone(), &column.data_type, column.native_type.clone());
    result.nullable = column.nullable;
    result
}

/// Rows read a key at a time as the host pulls them.
struct KeyRows {
    layout: Layout,
    /// The data type of every column of the table, in order.
    types: Vec<String>,
    /// The columns asked for, and where each is in a full row.
    columns: Vec<ResultColumn>,
    picks: Vec<usize>,
    database: u8,
    keys: VecDeque<Vec<u8>>,
    /// Rows read but not handed out yet (full rows).
    pending: VecDeque<Vec<Value>>,
    /// Rows the limit still allows reading.
    remaining: u64,
    builder: BatchBuilder,
}

impl Rows<RedisConnection> for KeyRows {
    fn columns(&self) -> Vec<ResultColumn> {
        self.columns.clone()
    }

    fn next(&mut self, connection: &mut RedisConnection, max_rows: u32) -> Result<Option<Batch>, ConnectorError> {
        let wanted = max_rows.max(1) as usize;
        if self.pending.len() < wanted && self.remaining > 0 && !self.keys.is_empty() {
            let home = connection.config.options.database;
            connection.client.select(self.database)?;
            let outcome = self.fill(connection, wanted);
            let back = connection.client.select(home);
            outcome?;
            back?;
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        while self.builder.len() < wanted as u32 {
            let Some(row) = self.pending.pop_front() else { break };
            let picked = self.picks.iter().map(|&i| row.get(i).cloned().unwrap_or(Value::Null)).collect();
            self.builder.push_row(picked)?;
        }
        Ok(Some(self.builder.finish()))
    }
}

impl KeyRows {
    /// Reads keys until `wanted` rows wait, the limit is reached or the keys run out.
    fn fill(&mut self, connection: &mut RedisConnection, wanted: usize) -> Result<(), ConnectorError> {
        while self.pending.len() < wanted && self.remaining > 0 {
            let Some(key) = self.keys.pop_front() else { break };
            let need = usize::try_from(self.remaining).unwrap_or(usize::MAX);
            let mut rows = self.read_key(connection, &key, need)?;
            rows.truncate(need);
            self.remaining -= rows.len() as u64;
            self.pending.extend(rows);
        }
        Ok(())
    }

    /// Up to `need` rows of one key; none for a key gone or retyped since sampling.
    fn read_key(
        &self,
        connection: &mut RedisConnection,
        key: &[u8],
        need: usize,
    ) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let client = &mut connection.client;
        let name = Value::Text(String::from_utf8_lossy(key).into_owned());
        let cell = |column: usize, bytes: &[u8]| typed(bytes, self.types.get(column).map_or("", String::as_str));
        let count = need.clamp(1, 10_000).to_string();
        let rows = match &self.layout {
            Layout::String => {
                let replies = client.pipeline(&[
                    Command::new("STRLEN").arg(key),
                    Command::new("GETRANGE").arg(key).arg("0").arg((MAX_VALUE_BYTES - 1).to_string()),
                ])?;
                let [length, value] = two(replies)?;
                let (Some(length), Some(value)) =
                    (length.and_then(|l| l.as_int()), value.and_then(|v| v.as_bytes().map(<[u8]>::to_vec)))
                else {
                    return Ok(Vec::new());
                };
                if length == 0 && value.is_empty() && !exists(client, key)? {
                    return Ok(Vec::new());
                }
                let cut = usize::try_from(length).map_or(true, |l| l > value.len());
                let value = if cut && self.types.get(1).is_some_and(|t| t != data_type::STRING) {
                    Value::Null
                } else {
                    cell(1, &value)
                };
                vec![vec![name, value]]
            }
            Layout::HashRecord(fields) => {
                let command = fields.iter().fold(Command::new("HMGET").arg(key), |command, field| command.arg(field));
                let Some(values) = reply(client.call_raw(&command)?)?.and_then(Resp::into_items) else {
                    return Ok(Vec::new());
                };
                if values.iter().all(|v| *v == Resp::Null) && !exists(client, key)? {
                    return Ok(Vec::new());
                }
                let mut row = vec![name];
                for (index, value) in values.into_iter().enumerate() {
                    row.push(value.as_bytes().map_or(Value::Null, |bytes| cell(index + 1, bytes)));
                }
                vec![row]
            }
            Layout::HashPairs => {
                let pairs = scan_collection(client, "HSCAN", key, need, &count)?;
                pairs
                    .chunks_exact(2)
                    .filter_map(|pair| Some((pair[0].as_bytes()?, pair[1].as_bytes()?)))
                    .map(|(field, value)| vec![name.clone(), cell(1, field), cell(2, value)])
                    .collect()
            }
            Layout::Set => scan_collection(client, "SSCAN", key, need, &count)?
                .iter()
                .filter_map(Resp::as_bytes)
                .map(|member| vec![name.clone(), cell(1, member)])
                .collect(),
            Layout::List => {
                let command = Command::new("LRANGE").arg(key).arg("0").arg((need - 1).to_string());
                let elements = reply(client.call_raw(&command)?)?.and_then(Resp::into_items).unwrap_or_default();
                let mut rows = Vec::new();
                for (index, element) in elements.iter().enumerate() {
                    if let Some(bytes) = element.as_bytes() {
                        rows.push(vec![name.clone(), Value::Int64(index as i64), cell(2, bytes)]);
                    }
                }
                rows
            }
            Layout::SortedSet => {
                let command = Command::new("ZRANGE").arg(key).arg("0").arg((need - 1).to_string()).arg("WITHSCORES");
                let items = reply(client.call_raw(&command)?)?.and_then(Resp::into_items).unwrap_or_default();
                scored(items)
                    .into_iter()
                    .filter_map(|(member, score)| Some(vec![name.clone(), cell(1, member.as_bytes()?), score]))
                    .collect()
            }
            Layout::Stream(fields) => {
                let command = Command::new("XRANGE").arg(key).arg("-").arg("+").arg("COUNT").arg(&count);
                let entries = reply(client.call_raw(&command)?)?.and_then(Resp::into_items).unwrap_or_default();
                let mut rows = Vec::new();
                for entry in entries {
                    let mut parts = entry.into_items().unwrap_or_default().into_iter();
                    let (Some(id), Some(pairs)) = (parts.next(), parts.next().and_then(Resp::into_pairs)) else {
                        continue;
                    };
                    let mut row = vec![name.clone(), id.to_text().map_or(Value::Null, Value::Text)];
                    for (index, field) in fields.iter().enumerate() {
                        let value = pairs.iter().find(|(f, _)| f.as_bytes() == Some(field.as_bytes()));
                        row.push(value.and_then(|(_, v)| v.as_bytes()).map_or(Value::Null, |v| cell(index + 2, v)));
                    }
                    rows.push(row);
                }
                rows
            }
            Layout::Json => {
                let Some(document) = reply(client.call_raw(&Command::new("JSON.GET").arg(key))?)? else {
                    return Ok(Vec::new());
                };
                let value = document.as_bytes().map_or(Value::Null, |bytes| cell(1, bytes));
                vec![vec![name, value]]
            }
            Layout::Opaque => {
                if !exists(client, key)? {
                    return Ok(Vec::new());
                }
                vec![vec![name, Value::Null]]
            }
        };
        Ok(rows)
    }
}

/// A reply's value; `None` for nil or WRONGTYPE (the key changed type since sampling).
fn reply(reply: Reply) -> Result<Option<Resp>, ConnectorError> {
    match reply {
        Ok(Resp::Null) => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(error) if error.code == "WRONGTYPE" => Ok(None),
        Err(error) => Err(crate::client::server_error("read", &error)),
    }
}

fn two(replies: Vec<Reply>) -> Result<[Option<Resp>; 2], ConnectorError> {
    let mut replies = replies.into_iter();
    match (replies.next(), replies.next()) {
        (Some(a), Some(b)) => Ok([reply(a)?, reply(b)?]),
        _ => Err(ConnectorError::protocol("a pipeline returned fewer replies than commands")),
    }
}

fn exists<S: crate::client::Transport>(
    client: &mut crate::client::Client<S>,
    key: &[u8],
) -> Result<bool, ConnectorError> {
    Ok(client.call(&Command::new("EXISTS").arg(key))?.as_int().unwrap_or(0) > 0)
}

/// Items of a hash (field, value, …) or set, by HSCAN/SSCAN pages until
/// `need` rows' worth arrived or the cursor comes back to 0.
fn scan_collection<S: crate::client::Transport>(
    client: &mut crate::client::Client<S>,
    command: &str,
    key: &[u8],
    need: usize,
    count: &str,
) -> Result<Vec<Resp>, ConnectorError> {
    let per_row = if command == "HSCAN" { 2 } else { 1 };
    let mut items = Vec::new();
    let mut cursor = b"0".to_vec();
    // SCAN-family calls per key, so that a sparse table cannot loop for long.
    for _ in 0..64 {
        let call = Command::new(command).arg(key).arg(&cursor).arg("COUNT").arg(count);
        let Some(page) = reply(client.call_raw(&call)?)?.and_then(Resp::into_items) else { break };
        let mut parts = page.into_iter();
        let (Some(next), Some(found)) = (parts.next(), parts.next().and_then(Resp::into_items)) else {
            return Err(ConnectorError::protocol(format!("{command} returned something other than [cursor, items]")));
        };
        items.extend(found);
        cursor = next.as_bytes().map(<[u8]>::to_vec).unwrap_or_else(|| b"0".to_vec());
        if cursor == b"0" || items.len() >= need * per_row {
            break;
        }
    }
    Ok(items)
}

/// ZRANGE … WITHSCORES: a flat member, score list (RESP2) or [member, score] pairs (RESP3).
fn scored(items: Vec<Resp>) -> Vec<(Resp, Value)> {
    let score = |value: &Resp| value.as_f64().map_or(Value::Null, Value::Float64);
    if items.iter().all(|item| matches!(item, Resp::Array(_))) {
        items
            .into_iter()
            .filter_map(|item| {
                let mut pair = item.into_items()?.into_iter();
                let (member, value) = (pair.next()?, pair.next()?);
                let value = score(&value);
                Some((member, value))
            })
            .collect()
    } else {
        items.chunks_exact(2).map(|pair| (pair[0].clone(), score(&pair[1]))).collect()
    }
}

/// A Redis string in the column's data type, as discover inferred it. A
/// value that does not fit (a key outside the keys discover read closely)
/// is NULL rather than a wrong number.
pub fn typed(bytes: &[u8], data_type: &str) -> Value {
    let text = || std::str::from_utf8(bytes).ok();
    match data_type {
        data_type::INT64 => text().and_then(|t| t.parse().ok()).map_or(Value::Null, Value::Int64),
        data_type::FLOAT64 => text().and_then(|t| t.parse().ok()).map_or(Value::Null, Value::Float64),
        data_type::BOOLEAN => match text() {
            Some(t) if t.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(t) if t.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => Value::Null,
        },
        data_type::JSON => text()
            .filter(|t| serde_json::from_str::<serde_json::Value>(t).is_ok())
            .map_or(Value::Null, |t| Value::Json(t.to_owned())),
        _ => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_databases_this_connection_may_read() {
        assert_eq!(database_of("db0", None).unwrap(), 0);
        assert_eq!(database_of("db15", Some(&[3, 15])).unwrap(), 15);
        for bad in ["db", "db16", "db-1", "db+1", "0", "DB1", "db256"] {
            assert_eq!(database_of(bad, None).unwrap_err().kind, ErrorKind::NotFound, "{bad}");
        }
        assert_eq!(database_of("db2", Some(&[3])).unwrap_err().kind, ErrorKind::NotFound);
    }

    #[test]
    fn values_take_their_column_type_or_null() {
        assert_eq!(typed(b"-42", data_type::INT64), Value::Int64(-42));
        assert_eq!(typed(b"4.5", data_type::INT64), Value::Null);
        assert_eq!(typed(b"4.5", data_type::FLOAT64), Value::Float64(4.5));
        assert_eq!(typed(b"TRUE", data_type::BOOLEAN), Value::Bool(true));
        assert_eq!(typed(b"yes", data_type::BOOLEAN), Value::Null);
        assert_eq!(typed(br#"{"a":1}"#, data_type::JSON), Value::Json(r#"{"a":1}"#.into()));
        assert_eq!(typed(b"{", data_type::JSON), Value::Null);
        assert_eq!(typed(b"", data_type::STRING), Value::Text(String::new()));
        assert_eq!(typed(&[0xff], data_type::STRING), Value::Text("\u{fffd}".into()));
    }

    #[test]
    fn sorted_set_scores_read_the_same_in_resp2_and_resp3() {
        let bulk = |t: &str| Resp::Bulk(t.as_bytes().to_vec());
        let resp2 = vec![bulk("a"), bulk("1.5"), bulk("b"), bulk("2")];
        let resp3 =
            vec![Resp::Array(vec![bulk("a"), Resp::Double(1.5)]), Resp::Array(vec![bulk("b"), Resp::Double(2.0)])];
        for items in [resp2, resp3] {
            let pairs = scored(items);
            assert_eq!(pairs, [(bulk("a"), Value::Float64(1.5)), (bulk("b"), Value::Float64(2.0))]);
        }
    }
}
