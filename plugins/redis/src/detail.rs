//! Reading a few keys of each (pattern, type) closely, to give its table
//! columns: hash fields and stream entry fields (with their value kinds and
//! how often each is present), string values, collection elements.
//!
//! Reads are bounded per key: strings by GETRANGE (never a whole GET),
//! hashes by one HSCAN page, collections by a handful of elements, streams
//! by XINFO STREAM's first and last entry.

use std::collections::{BTreeMap, HashSet};

use inlet_sdk::ConnectorError;

use crate::client::{Client, Command, Reply, Transport};
use crate::infer::{Kind, KindSummary};
use crate::patterns;
use crate::resp::Value;
use crate::sample::BATCH_KEYS;

/// Keys per pattern read closely for columns.
pub const DETAIL_KEYS: usize = 10;
/// Bytes of a string value fetched to judge it (GETRANGE, never a whole GET).
pub const VALUE_PEEK: usize = 4096;
/// Hash fields fetched per key (HSCAN COUNT hint; small hashes come whole).
const HASH_FIELDS: usize = 100;
/// Elements fetched per list, set or sorted set.
const ELEMENTS: usize = 5;
/// More distinct hash or stream fields than this: not a record, a map.
pub const MAX_FIELD_COLUMNS: usize = 100;

/// What reading a few keys closely showed.
#[derive(Debug, Default)]
pub struct Detail {
    /// Keys whose details arrived.
    pub keys: u64,
    /// Sum of their lengths: bytes, fields, elements or entries.
    pub length_sum: u64,
    /// String values, or collection elements and members.
    pub values: KindSummary,
    /// Hashes or stream entries whose fields were read.
    pub records: u64,
    pub fields: BTreeMap<String, FieldStats>,
    /// Some hash had more fields than one HSCAN page, or more distinct
    /// fields showed up than a table should have columns.
    pub partial: bool,
    pub consumer_groups: u64,
}

#[derive(Debug, Default)]
pub struct FieldStats {
    pub present: u64,
    pub kind: KindSummary,
}

impl Detail {
    pub fn add_record(&mut self, pairs: impl IntoIterator<Item = (Value, Value)>) {
        self.records += 1;
        let mut seen = HashSet::new();
        for (field, value) in pairs {
            let (Some(field), Some(value)) = (field.to_text(), value.as_bytes().map(|v| Kind::of(v, true))) else {
                continue;
            };
            self.values.add(value);
            if !seen.insert(field.clone()) {
                continue;
            }
            if !self.fields.contains_key(&field) && self.fields.len() >= MAX_FIELD_COLUMNS {
                self.partial = true;
                continue;
            }
            let stats = self.fields.entry(field).or_default();
            stats.present += 1;
            stats.kind.add(value);
        }
    }

    /// Whether the hashes look like records with one field set (columns),
    /// rather than maps keyed by ids (field/value pairs).
    pub fn fields_are_columns(&self) -> bool {
        let n = self.fields.len();
        if n == 0 || self.partial {
            return false;
        }
        let id_like = self.fields.keys().filter(|f| patterns::is_id(f)).count();
        let common = self.fields.values().filter(|f| f.present * 2 >= self.records).count();
        id_like * 4 <= n && common * 2 >= n
    }
}

/// The commands that read one key closely, by type.
fn commands(redis_type: &str, key: &[u8]) -> Vec<Command> {
    match redis_type {
        "string" => vec![
            Command::new("STRLEN").arg(key),
            Command::new("GETRANGE").arg(key).arg("0").arg((VALUE_PEEK - 1).to_string()),
        ],
        "hash" => vec![
            Command::new("HLEN").arg(key),
            Command::new("HSCAN").arg(key).arg("0").arg("COUNT").arg(HASH_FIELDS.to_string()),
        ],
        "list" => vec![
            Command::new("LLEN").arg(key),
            Command::new("LRANGE").arg(key).arg("0").arg((ELEMENTS - 1).to_string()),
        ],
        "set" => vec![
            Command::new("SCARD").arg(key),
            Command::new("SSCAN").arg(key).arg("0").arg("COUNT").arg(ELEMENTS.to_string()),
        ],
        "zset" => vec![
            Command::new("ZCARD").arg(key),
            Command::new("ZRANGE").arg(key).arg("0").arg((ELEMENTS - 1).to_string()).arg("WITHSCORES"),
        ],
        "stream" => vec![Command::new("XLEN").arg(key), Command::new("XINFO").arg("STREAM").arg(key)],
        _ => Vec::new(),
    }
}

/// Reads the given keys of each target closely, pipelined; one [`Detail`]
/// per target, in order. A target is a Redis type and its keys.
pub fn read<S: Transport>(
    client: &mut Client<S>,
    targets: &[(&str, &[Vec<u8>])],
) -> Result<Vec<Detail>, ConnectorError> {
    let mut work: Vec<(usize, Vec<Command>)> = Vec::new();
    for (index, (redis_type, keys)) in targets.iter().enumerate() {
        for key in keys.iter() {
            let commands = commands(redis_type, key);
            if !commands.is_empty() {
                work.push((index, commands));
            }
        }
    }
    let mut details: Vec<Detail> = targets.iter().map(|_| Detail::default()).collect();
    for batch in work.chunks(BATCH_KEYS) {
        let commands: Vec<Command> = batch.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
        let mut replies = client.pipeline(&commands)?.into_iter();
        for (index, commands) in batch {
            let replies: Vec<Reply> = replies.by_ref().take(commands.len()).collect();
            let first = commands.first().map(Command::name).unwrap_or_default();
            if let Some(detail) = details.get_mut(*index) {
                absorb(detail, &first, replies);
            }
        }
    }
    Ok(details)
}

/// Adds one key's detail replies. A key that changed type or vanished since
/// it was sampled answers with an error or nothing, and is skipped.
fn absorb(detail: &mut Detail, first_command: &str, replies: Vec<Reply>) {
    let mut replies = replies.into_iter();
    let (Some(Ok(length)), Some(Ok(content))) = (replies.next(), replies.next()) else { return };
    let Some(length) = length.as_int().and_then(|n| u64::try_from(n).ok()) else { return };
    if length == 0 {
        return;
    }
    detail.keys += 1;
    detail.length_sum += length;
    match first_command {
        "STRLEN" => {
            if let Some(bytes) = content.as_bytes() {
                detail.values.add(Kind::of(bytes, bytes.len() as u64 >= length));
            }
        }
        "HLEN" => {
            let Some((cursor, items)) = cursor_and_items(content) else { return };
            if cursor != b"0" {
                detail.partial = true;
            }
            if let Some(pairs) = Value::Array(items).into_pairs() {
                detail.add_record(pairs);
            }
        }
        "LLEN" => add_elements(detail, content.into_items().unwrap_or_default()),
        "SCARD" => {
            if let Some((_, items)) = cursor_and_items(content) {
                add_elements(detail, items);
            }
        }
        "ZCARD" => {
            // RESP3 answers [[member, score], …], RESP2 [member, score, …].
            let items = content.into_items().unwrap_or_default();
            let members: Vec<Value> = if items.iter().all(|i| matches!(i, Value::Array(_))) {
                items.into_iter().filter_map(|pair| pair.into_items()?.into_iter().next()).collect()
            } else {
                items.into_iter().step_by(2).collect()
            };
            add_elements(detail, members);
        }
        "XLEN" => {
            let Some(info) = content.into_pairs() else { return };
            let mut last_id = None;
            for (name, value) in info {
                match name.to_text().as_deref() {
                    Some("groups") => {
                        detail.consumer_groups += value.as_int().and_then(|g| u64::try_from(g).ok()).unwrap_or(0)
                    }
                    Some("first-entry") | Some("last-entry") => {
                        let Some(mut entry) = value.into_items().map(Vec::into_iter) else { continue };
                        let (Some(id), Some(fields)) = (entry.next(), entry.next()) else { continue };
                        // A stream of one entry has it as both first and last.
                        let id = id.to_text();
                        if id.is_some() && id == last_id {
                            continue;
                        }
                        last_id = id;
                        if let Some(pairs) = fields.into_pairs() {
                            detail.add_record(pairs);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// `[cursor, [items…]]` from HSCAN and SSCAN.
fn cursor_and_items(reply: Value) -> Option<(Vec<u8>, Vec<Value>)> {
    let mut parts = reply.into_items()?.into_iter();
    let cursor = parts.next()?.as_bytes()?.to_vec();
    Some((cursor, parts.next()?.into_items()?))
}

fn add_elements(detail: &mut Detail, elements: Vec<Value>) {
    for element in elements {
        if let Some(bytes) = element.as_bytes() {
            detail.values.add(Kind::of(bytes, true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[(&str, &str)]) -> Vec<(Value, Value)> {
        fields.iter().map(|(f, v)| (Value::Bulk(f.as_bytes().to_vec()), Value::Bulk(v.as_bytes().to_vec()))).collect()
    }

    #[test]
    fn too_many_fields_are_not_columns() {
        let mut detail = Detail::default();
        let fields: Vec<(String, String)> = (0..150)
            .map(|i| {
                (
                    format!("field_name_{}", char::from(b'a' + (i % 26) as u8).to_string().repeat(i / 26 + 1)),
                    "v".to_owned(),
                )
            })
            .collect();
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
        detail.add_record(record(&pairs));
        assert!(detail.partial);
        assert!(!detail.fields_are_columns());
        assert_eq!(detail.fields.len(), MAX_FIELD_COLUMNS);
    }

    #[test]
    fn string_details_judge_only_complete_values() {
        let mut detail = Detail::default();
        absorb(&mut detail, "STRLEN", vec![Ok(Value::Integer(8)), Ok(Value::Bulk(b"1234567".to_vec()))]);
        assert_eq!(detail.values.kind(), Some(Kind::Text), "7 of 8 bytes is a prefix");
        let mut detail = Detail::default();
        absorb(&mut detail, "STRLEN", vec![Ok(Value::Integer(7)), Ok(Value::Bulk(b"1234567".to_vec()))]);
        absorb(&mut detail, "STRLEN", vec![Ok(Value::Integer(2)), Ok(Value::Bulk(b"42".to_vec()))]);
        assert_eq!(detail.values.kind(), Some(Kind::Integer));
        // A key gone since sampling adds nothing.
        absorb(&mut detail, "STRLEN", vec![Ok(Value::Integer(0)), Ok(Value::Bulk(Vec::new()))]);
        assert_eq!((detail.keys, detail.length_sum), (2, 9));
    }

    fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    #[test]
    fn sorted_set_members_read_the_same_in_resp2_and_resp3() {
        let resp2 = Value::Array(vec![bulk("7"), bulk("1"), bulk("8"), bulk("2.5")]);
        let resp3 = Value::Array(vec![
            Value::Array(vec![bulk("7"), Value::Double(1.0)]),
            Value::Array(vec![bulk("8"), Value::Double(2.5)]),
        ]);
        for reply in [resp2, resp3] {
            let mut detail = Detail::default();
            absorb(&mut detail, "ZCARD", vec![Ok(Value::Integer(2)), Ok(reply)]);
            // Members only: the scores would make it float.
            assert_eq!(detail.values.kind(), Some(Kind::Integer));
        }
    }

    #[test]
    fn a_stream_of_one_entry_counts_it_once() {
        let entry = || Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("type"), bulk("click")])]);
        let info = Value::Map(vec![
            (bulk("length"), Value::Integer(1)),
            (bulk("groups"), Value::Integer(2)),
            (bulk("first-entry"), entry()),
            (bulk("last-entry"), entry()),
        ]);
        let mut detail = Detail::default();
        absorb(&mut detail, "XLEN", vec![Ok(Value::Integer(1)), Ok(info)]);
        assert_eq!((detail.records, detail.consumer_groups), (1, 2));
        assert_eq!(detail.fields["type"].present, 1);
        // A key that changed type answers WRONGTYPE: skipped.
        let wrong = crate::resp::ServerError { code: "WRONGTYPE".into(), message: String::new() };
        absorb(&mut detail, "XLEN", vec![Err(wrong.clone()), Err(wrong)]);
        assert_eq!(detail.keys, 1);
    }
}
