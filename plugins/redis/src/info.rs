//! What INFO says: the per-database key counts of `INFO keyspace` and the
//! `name:value` fields of any section.

use std::collections::BTreeMap;

use inlet_sdk::ConnectorError;

use crate::resp::Value;

/// Key and expiry counts per database, as INFO keyspace lists them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbCounts {
    pub keys: u64,
    pub expires: u64,
}

/// Reads `db3:keys=10,expires=2,avg_ttl=0` lines.
pub fn parse_keyspace(info: &str) -> BTreeMap<u8, DbCounts> {
    let mut databases = BTreeMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line.trim().split_once(':') else { continue };
        let Some(Ok(index)) = name.strip_prefix("db").map(str::parse::<u8>) else { continue };
        let mut counts = DbCounts::default();
        for field in fields.split(',') {
            match field.split_once('=') {
                Some(("keys", n)) => counts.keys = n.parse().unwrap_or(0),
                Some(("expires", n)) => counts.expires = n.parse().unwrap_or(0),
                _ => {}
            }
        }
        databases.insert(index, counts);
    }
    databases
}

/// A `name:value` field of an INFO section.
pub fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
}

/// INFO's text: a bulk string in RESP2, a verbatim string in RESP3.
pub fn info_text(reply: Value) -> Result<String, ConnectorError> {
    match reply {
        Value::Bulk(_) | Value::Verbatim { .. } | Value::Simple(_) => Ok(reply.to_text().unwrap_or_default()),
        other => Err(ConnectorError::protocol(format!("INFO returned a {} instead of text", other.type_name()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_lines_give_counts_per_database() {
        let info = "# Keyspace\r\ndb0:keys=12,expires=3,avg_ttl=100\r\ndb11:keys=5,expires=0,avg_ttl=0\r\nnoise\r\n";
        let counts = parse_keyspace(info);
        assert_eq!(counts.get(&0), Some(&DbCounts { keys: 12, expires: 3 }));
        assert_eq!(counts.get(&11), Some(&DbCounts { keys: 5, expires: 0 }));
        assert_eq!(counts.len(), 2);
        assert_eq!(
            info_field("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", "redis_mode"),
            Some("standalone")
        );
        assert_eq!(info_field("redis_version:7.0.15", "redis"), None);
    }
}
