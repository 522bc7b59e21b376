//! Sampling one database's keys: bounded `SCAN` (never `KEYS`, which blocks
//! the server for the whole keyspace), then `TYPE`, `PTTL` and
//! `MEMORY USAGE` for every sampled key, pipelined.

use std::collections::HashSet;

use inlet_sdk::ConnectorError;

use crate::client::{Client, Command, Transport};
use crate::resp::Value;

/// The largest `COUNT` hint one SCAN gets.
pub const MAX_SCAN_COUNT: u32 = 1000;
/// SCAN calls per database, whatever the keyspace: a sparse or huge keyspace
/// ends the sample early instead of walking the whole table.
pub const MAX_SCAN_CALLS: u32 = 64;
/// Keys per pipelined batch of per-key commands.
pub const BATCH_KEYS: usize = 200;

/// The keys SCAN returned, in order and without duplicates.
#[derive(Debug, Default)]
pub struct Scanned {
    pub keys: Vec<Vec<u8>>,
    /// Whether SCAN went round the whole keyspace (cursor back to 0).
    pub complete: bool,
    pub calls: u32,
}

/// Collects up to `limit` keys of the selected database.
pub fn scan<S: Transport>(client: &mut Client<S>, limit: usize) -> Result<Scanned, ConnectorError> {
    let count = (limit as u32).clamp(10, MAX_SCAN_COUNT).to_string();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut scanned = Scanned::default();
    let mut cursor = b"0".to_vec();
    let mut truncated = false;
    while scanned.calls < MAX_SCAN_CALLS && scanned.keys.len() < limit {
        let reply = client.call(&Command::new("SCAN").arg(&cursor).arg("COUNT").arg(&count))?;
        scanned.calls += 1;
        let (next, keys) = scan_reply(reply)?;
        for key in keys {
            // SCAN may return a key twice when the table is rehashed meanwhile.
            if seen.contains(&key) {
                continue;
            }
            if scanned.keys.len() < limit {
                seen.insert(key.clone());
                scanned.keys.push(key);
            } else {
                truncated = true;
            }
        }
        if next == b"0" {
            scanned.complete = !truncated;
            break;
        }
        cursor = next;
    }
    Ok(scanned)
}

/// `[cursor, [key, …]]`, the same in RESP2 and RESP3.
fn scan_reply(reply: Value) -> Result<(Vec<u8>, Vec<Vec<u8>>), ConnectorError> {
    let malformed = || ConnectorError::protocol("SCAN returned something other than [cursor, keys]");
    let mut items = reply.into_items().ok_or_else(malformed)?.into_iter();
    let (Some(cursor), Some(keys), None) = (items.next(), items.next(), items.next()) else {
        return Err(malformed());
    };
    let cursor = cursor.as_bytes().ok_or_else(malformed)?.to_vec();
    let keys = keys
        .into_items()
        .ok_or_else(malformed)?
        .into_iter()
        .map(|key| key.as_bytes().map(<[u8]>::to_vec).ok_or_else(malformed))
        .collect::<Result<_, _>>()?;
    Ok((cursor, keys))
}

/// What the per-key commands say about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub name: Vec<u8>,
    /// TYPE's answer: `string`, `hash`, …, or a module's type name (`ReJSON-RL`).
    pub redis_type: String,
    /// Milliseconds to expiry; `None` for a key that never expires.
    pub ttl_ms: Option<u64>,
    /// MEMORY USAGE in bytes, when the server answers it.
    pub memory: Option<u64>,
}

/// TYPE, PTTL and (while the server allows it) MEMORY USAGE for each key.
/// Keys that vanished since SCAN are left out.
pub fn describe<S: Transport>(client: &mut Client<S>, keys: Vec<Vec<u8>>) -> Result<Vec<KeyInfo>, ConnectorError> {
    let mut memory_allowed = true;
    let mut described = Vec::with_capacity(keys.len());
    let mut keys = keys.into_iter().peekable();
    while keys.peek().is_some() {
        let batch: Vec<Vec<u8>> = keys.by_ref().take(BATCH_KEYS).collect();
        let per_key = if memory_allowed { 3 } else { 2 };
        let mut commands = Vec::with_capacity(batch.len() * per_key);
        for key in &batch {
            commands.push(Command::new("TYPE").arg(key));
            commands.push(Command::new("PTTL").arg(key));
            if memory_allowed {
                // The default 5 samples of nested values: cheap even for big keys.
                commands.push(Command::new("MEMORY").arg("USAGE").arg(key));
            }
        }
        let replies = client.pipeline(&commands)?;
        for (key, replies) in batch.into_iter().zip(replies.chunks(per_key)) {
            let redis_type = match &replies[0] {
                Ok(value) => value.to_text().unwrap_or_default(),
                Err(error) => return Err(crate::client::server_error("TYPE", error)),
            };
            let ttl = match &replies[1] {
                Ok(value) => value.as_int().unwrap_or(-1),
                Err(error) => return Err(crate::client::server_error("PTTL", error)),
            };
            // -2: gone since SCAN; `none`: the same, seen by TYPE.
            if redis_type == "none" || redis_type.is_empty() || ttl == -2 {
                continue;
            }
            let memory = match replies.get(2) {
                Some(Ok(value)) => value.as_int().and_then(|m| u64::try_from(m).ok()),
                // Denied by ACL, or a server without MEMORY: stop asking.
                Some(Err(_)) => {
                    memory_allowed = false;
                    None
                }
                None => None,
            };
            described.push(KeyInfo { name: key, redis_type, ttl_ms: u64::try_from(ttl).ok(), memory });
        }
    }
    Ok(described)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::scripted::Scripted;

    fn scan_page(cursor: &str, keys: &[&str]) -> Vec<u8> {
        let mut out = format!("*2\r\n${}\r\n{cursor}\r\n*{}\r\n", cursor.len(), keys.len()).into_bytes();
        for key in keys {
            out.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        }
        out
    }

    fn sent_scans(client: Client<Scripted>) -> usize {
        let sent = String::from_utf8_lossy(&client.into_stream().output).into_owned();
        sent.matches("SCAN").count()
    }

    #[test]
    fn scan_walks_the_cursor_and_drops_duplicates() {
        let mut replies = scan_page("17", &["a", "b"]);
        replies.extend(scan_page("0", &["b", "c"]));
        let mut client = Client::new(Scripted::new(&replies, 7));
        let scanned = scan(&mut client, 100).unwrap();
        assert_eq!(scanned.keys, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert!(scanned.complete);
        assert_eq!(scanned.calls, 2);
    }

    #[test]
    fn scan_stops_at_the_sample_size_and_is_then_incomplete() {
        let replies = scan_page("0", &["a", "b", "c"]);
        let mut client = Client::new(Scripted::new(&replies, 64));
        let scanned = scan(&mut client, 2).unwrap();
        assert_eq!(scanned.keys.len(), 2);
        assert!(!scanned.complete);
    }

    #[test]
    fn scan_calls_are_capped_even_when_the_server_never_finishes() {
        // A huge, sparse keyspace: every page empty, the cursor never 0.
        let mut replies = Vec::new();
        for page in 1..=MAX_SCAN_CALLS + 10 {
            replies.extend(scan_page(&page.to_string(), &[]));
        }
        let mut client = Client::new(Scripted::new(&replies, 1 << 16));
        let scanned = scan(&mut client, 1000).unwrap();
        assert_eq!((scanned.calls, scanned.keys.len(), scanned.complete), (MAX_SCAN_CALLS, 0, false));
        assert_eq!(sent_scans(client), MAX_SCAN_CALLS as usize);
    }

    #[test]
    fn describe_skips_vanished_keys_and_stops_asking_for_memory_when_refused() {
        // One batch: MEMORY USAGE goes out for every key of it; the refusal
        // for the first key leaves the others' answers in place.
        let replies = b"+string\r\n:-1\r\n-NOPERM no\r\n+none\r\n:-2\r\n:0\r\n+hash\r\n:5000\r\n:99\r\n";
        let mut client = Client::new(Scripted::new(replies, 5));
        let keys = vec![b"a".to_vec(), b"gone".to_vec(), b"h".to_vec()];
        let described = describe(&mut client, keys).unwrap();
        assert_eq!(
            described,
            [
                KeyInfo { name: b"a".to_vec(), redis_type: "string".into(), ttl_ms: None, memory: None },
                KeyInfo { name: b"h".to_vec(), redis_type: "hash".into(), ttl_ms: Some(5000), memory: Some(99) },
            ]
        );
    }

    #[test]
    fn after_a_refused_memory_usage_the_next_batch_does_not_ask() {
        let mut replies = Vec::new();
        for i in 0..BATCH_KEYS + 1 {
            replies.extend_from_slice(b"+string\r\n:-1\r\n");
            if i < BATCH_KEYS {
                replies.extend_from_slice(b"-NOPERM no\r\n");
            }
        }
        let mut client = Client::new(Scripted::new(&replies, 1 << 16));
        let keys: Vec<Vec<u8>> = (0..=BATCH_KEYS).map(|i| format!("k{i}").into_bytes()).collect();
        assert_eq!(describe(&mut client, keys).unwrap().len(), BATCH_KEYS + 1);
        let sent = String::from_utf8_lossy(&client.into_stream().output).into_owned();
        assert_eq!(sent.matches("MEMORY").count(), BATCH_KEYS);
    }
}
