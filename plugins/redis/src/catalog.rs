//! The keyspace as a catalog: one schema per database (`db0`, `db1`, …), one
//! table per (key pattern, Redis type), described from a bounded sample.
//!
//! Per database: the key count from INFO keyspace, a SCAN sample, TYPE/PTTL/
//! MEMORY USAGE per sampled key ([`crate::sample`]), patterns over the
//! sampled names ([`crate::patterns`]), and a few keys of each pattern read
//! closely for columns ([`crate::detail`]).

use std::collections::BTreeMap;

use inlet_sdk::paging::schema_selected;
use inlet_sdk::prelude::*;

use crate::client::{Client, Command, Transport};
use crate::config::Config;
use crate::detail::{self, DETAIL_KEYS, Detail, FieldStats, MAX_FIELD_COLUMNS};
use crate::infer::{Kind, TtlStats, scale};
use crate::info::{info_text, parse_keyspace};
use crate::patterns;
use crate::sample::{self, KeyInfo};

pub fn schema_name(database: u8) -> String {
    format!("db{database}")
}

/// Samples every selected database and describes it. Returns to the
/// configured database afterwards, even after a failure, so that the pooled
/// connection stays where `connect` put it.
pub fn build<S: Transport>(
    client: &mut Client<S>,
    config: &Config,
    request: &DiscoverRequest,
) -> Result<Vec<(String, Vec<Table>)>, ConnectorError> {
    let outcome = build_all(client, config, request);
    let back = client.select(config.options.database);
    let catalog = outcome?;
    back?;
    Ok(catalog)
}

fn build_all<S: Transport>(
    client: &mut Client<S>,
    config: &Config,
    request: &DiscoverRequest,
) -> Result<Vec<(String, Vec<Table>)>, ConnectorError> {
    let info = info_text(client.call(&Command::new("INFO").arg("keyspace"))?)?;
    let counts = parse_keyspace(&info);
    let databases: Vec<u8> = match &config.options.databases {
        Some(listed) => {
            let mut listed = listed.clone();
            listed.sort_unstable();
            listed.dedup();
            listed
        }
        None => counts.keys().copied().collect(),
    };
    let mut catalog = Vec::new();
    for database in databases {
        let name = schema_name(database);
        if !schema_selected(request, &name) {
            continue;
        }
        let keys = counts.get(&database).map_or(0, |c| c.keys);
        client.select(database)?;
        let tables = describe_database(client, config.options.sample_size as usize, keys)?;
        catalog.push((name, tables.into_iter().map(|described| described.table).collect()));
    }
    Ok(catalog)
}

/// The keys of one (pattern, type) in the sample.
#[derive(Debug, Default)]
struct Group {
    count: u64,
    ttl: TtlStats,
    memory_sum: u64,
    memory_keys: u64,
    names: Vec<Vec<u8>>,
    detail: Detail,
}

/// One table of the catalog with what preview needs to read its rows: the
/// Redis type and the sampled keys that make it up, sorted by name.
#[derive(Debug)]
pub struct Described {
    pub table: Table,
    pub redis_type: String,
    pub keys: Vec<Vec<u8>>,
}

/// The one table named `object` in `database` (a schema discover lists), as
/// discover describes it from the same sample; `not_found` for any other
/// name. Returns to the configured database afterwards, even after a failure.
pub fn find<S: Transport>(
    client: &mut Client<S>,
    config: &Config,
    database: u8,
    object: &str,
) -> Result<Described, ConnectorError> {
    let outcome = find_in(client, config, database, object);
    let back = client.select(config.options.database);
    let described = outcome?;
    back?;
    Ok(described)
}

fn find_in<S: Transport>(
    client: &mut Client<S>,
    config: &Config,
    database: u8,
    object: &str,
) -> Result<Described, ConnectorError> {
    let name = schema_name(database);
    let info = info_text(client.call(&Command::new("INFO").arg("keyspace"))?)?;
    let keys = parse_keyspace(&info).get(&database).map_or(0, |c| c.keys);
    client.select(database)?;
    describe_database(client, config.options.sample_size as usize, keys)?
        .into_iter()
        .find(|described| described.table.name == object)
        .ok_or_else(|| ConnectorError::not_found(format!("no key pattern `{object}` in {name}")))
}

fn describe_database<S: Transport>(
    client: &mut Client<S>,
    sample_size: usize,
    info_keys: u64,
) -> Result<Vec<Described>, ConnectorError> {
    let scanned = sample::scan(client, sample_size)?;
    let complete = scanned.complete;
    let keys = sample::describe(client, scanned.keys)?;
    let sampled = keys.len() as u64;
    // A whole-keyspace scan counts exactly; INFO also counts expired keys
    // that no one has touched yet.
    let database_keys = if complete { sampled } else { info_keys.max(sampled) };

    let names: Vec<String> = keys.iter().map(|k| String::from_utf8_lossy(&k.name).into_owned()).collect();
    let key_patterns = patterns::infer_patterns(&names);
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for (KeyInfo { name, redis_type, ttl_ms, memory }, pattern) in keys.into_iter().zip(key_patterns) {
        let group = groups.entry((pattern, redis_type)).or_default();
        group.count += 1;
        group.ttl.add(ttl_ms);
        if let Some(memory) = memory {
            group.memory_sum += memory;
            group.memory_keys += 1;
        }
        group.names.push(name);
    }
    // The first keys by name, so that a rerun reads the same ones.
    let mut targets = Vec::with_capacity(groups.len());
    for ((_, redis_type), group) in groups.iter_mut() {
        group.names.sort();
        targets.push((redis_type.as_str(), &group.names[..group.names.len().min(DETAIL_KEYS)]));
    }
    let details = detail::read(client, &targets)?;
    for (group, detail) in groups.values_mut().zip(details) {
        group.detail = detail;
    }

    let mut types_per_pattern: BTreeMap<&str, usize> = BTreeMap::new();
    for (pattern, _) in groups.keys() {
        *types_per_pattern.entry(pattern).or_default() += 1;
    }
    let plural_types: Vec<bool> =
        groups.keys().map(|(pattern, _)| types_per_pattern.get(pattern.as_str()).copied().unwrap_or(1) > 1).collect();
    let mut tables: Vec<Described> = groups
        .into_iter()
        .zip(plural_types)
        .map(|(((pattern, redis_type), group), plural)| {
            let name = if plural { format!("{pattern} ({redis_type})") } else { pattern.clone() };
            let context = Sampling { sampled, database_keys, complete };
            let table = table(name, &pattern, &redis_type, &group, &context);
            Described { table, redis_type, keys: group.names }
        })
        .collect();
    tables.sort_by(|a, b| a.table.name.cmp(&b.table.name));
    Ok(tables)
}

/// How the sample relates to its database.
struct Sampling {
    sampled: u64,
    database_keys: u64,
    complete: bool,
}

fn table(name: String, pattern: &str, redis_type: &str, group: &Group, sampling: &Sampling) -> Table {
    let detail = &group.detail;
    let estimate = scale(group.count, sampling.sampled, sampling.database_keys);
    let key = ColumnBuilder::new("key", 1, data_type::STRING, "key")
        .nullable(false)
        .comment(Some(format!("the key name, matching {pattern}")))
        .build();
    let mut columns = vec![key];
    let mut primary = vec!["key".to_owned()];
    let mut notes = Vec::new();
    let push = |columns: &mut Vec<Column>, name: &str, data_type: &str, native: &str, nullable: bool| {
        let ordinal = columns.len() as u32 + 1;
        columns.push(ColumnBuilder::new(name, ordinal, data_type, native).nullable(nullable).build());
    };
    let average = |unit: &str| {
        (detail.keys > 0).then(|| format!("avg {:.1} {unit}", detail.length_sum as f64 / detail.keys as f64))
    };
    match redis_type {
        "string" => {
            push(&mut columns, "value", detail.values.data_type(), "string", false);
            notes.extend(average("bytes per value"));
            if detail.values.kind() == Some(Kind::JsonObject) {
                notes.push("values are JSON objects".to_owned());
            }
        }
        "hash" => {
            notes.extend(average("fields per hash"));
            if detail.fields_are_columns() {
                let mut fields: Vec<(&String, &FieldStats)> = detail.fields.iter().collect();
                // Fields every hash has first, then by name.
                fields.sort_by(|a, b| b.1.present.cmp(&a.1.present).then_with(|| a.0.cmp(b.0)));
                for (field, stats) in fields {
                    push(&mut columns, field, stats.kind.data_type(), "hash field", stats.present < detail.records);
                }
            } else {
                push(&mut columns, "field", data_type::STRING, "hash field name", false);
                push(&mut columns, "value", detail.values.data_type(), "hash field value", false);
                primary.push("field".to_owned());
                if detail.records > 0 {
                    notes.push("field names vary between keys: shown as field/value pairs".to_owned());
                }
            }
        }
        "list" => {
            push(&mut columns, "index", data_type::INT64, "list index", false);
            push(&mut columns, "element", detail.values.data_type(), "list element", false);
            primary.push("index".to_owned());
            notes.extend(average("elements per list"));
        }
        "set" => {
            push(&mut columns, "member", detail.values.data_type(), "set member", false);
            primary.push("member".to_owned());
            notes.extend(average("members per set"));
        }
        "zset" => {
            push(&mut columns, "member", detail.values.data_type(), "sorted set member", false);
            push(&mut columns, "score", data_type::FLOAT64, "sorted set score", false);
            primary.push("member".to_owned());
            notes.extend(average("members per sorted set"));
        }
        "stream" => {
            push(&mut columns, "id", data_type::STRING, "stream entry id", false);
            primary.push("id".to_owned());
            if detail.partial {
                notes.push(format!("more than {MAX_FIELD_COLUMNS} distinct entry fields; only the first are columns"));
            }
            for (field, stats) in &detail.fields {
                push(&mut columns, field, stats.kind.data_type(), "stream field", stats.present < detail.records);
            }
            notes.extend(average("entries per stream"));
            if detail.consumer_groups > 0 {
                notes.push(format!("{} consumer groups on the sampled streams", detail.consumer_groups));
            }
        }
        "ReJSON-RL" => push(&mut columns, "value", data_type::JSON, "ReJSON-RL", false),
        other => push(&mut columns, "value", data_type::OTHER, other, false),
    }

    let mut comment = vec![
        format!("redis type {redis_type}"),
        format!(
            "{} of {} sampled keys{}",
            group.count,
            sampling.sampled,
            if sampling.complete { " (the whole database)" } else { "" }
        ),
        group.ttl.describe(),
    ];
    comment.extend(notes);
    let avg_memory = (group.memory_keys > 0).then(|| group.memory_sum / group.memory_keys);
    if let Some(bytes) = avg_memory {
        comment.push(format!("avg {bytes} bytes of memory per key"));
    }
    TableBuilder::new(name, ObjectKind::KeySpace)
        .columns(columns)
        .constraint(Constraint::primary_key("key", primary))
        .comment(Some(comment.join("; ")))
        .row_estimate(Some(estimate))
        .size_bytes(avg_memory.map(|bytes| bytes.saturating_mul(estimate)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Value;

    fn record(fields: &[(&str, &str)]) -> Vec<(Value, Value)> {
        fields.iter().map(|(f, v)| (Value::Bulk(f.as_bytes().to_vec()), Value::Bulk(v.as_bytes().to_vec()))).collect()
    }

    #[test]
    fn consistent_hashes_become_columns_with_nullability() {
        let mut detail = Detail::default();
        detail.add_record(record(&[("name", "ann"), ("age", "31"), ("email", "a@x")]));
        detail.add_record(record(&[("name", "bob"), ("age", "40.5")]));
        assert!(detail.fields_are_columns());
        assert_eq!(detail.fields["age"].kind.data_type(), "float64");
        assert_eq!((detail.fields["email"].present, detail.records), (1, 2));
        let group = Group { count: 2, detail, ..Group::default() };
        let sampling = Sampling { sampled: 10, database_keys: 100, complete: false };
        let table = table("user:*".into(), "user:*", "hash", &group, &sampling);
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["key", "age", "name", "email"]);
        assert!(!table.columns[1].nullable && table.columns[3].nullable);
        assert_eq!(table.row_estimate, Some(20));
        assert_eq!(table.constraints[0].columns, ["key"]);
    }

    #[test]
    fn hashes_keyed_by_ids_become_field_value_pairs() {
        let mut detail = Detail::default();
        detail.add_record(record(&[("1001", "2"), ("1002", "1")]));
        detail.add_record(record(&[("1003", "5")]));
        assert!(!detail.fields_are_columns());
        let group = Group { count: 2, detail, ..Group::default() };
        let sampling = Sampling { sampled: 2, database_keys: 2, complete: true };
        let table = table("cart:*".into(), "cart:*", "hash", &group, &sampling);
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["key", "field", "value"]);
        assert_eq!(table.columns[2].data_type, "int64");
        assert_eq!(table.constraints[0].columns, ["key", "field"]);
        assert!(table.comment.unwrap().contains("(the whole database)"));
    }
}
