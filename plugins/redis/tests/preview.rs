//! Preview against the Redis server on 127.0.0.1:6379: keys written by
//! redis-cli under a prefix of this test's own (deleted afterwards), read
//! back through discover's names and columns.

use std::process::Command;

use inlet_plugin_redis::{Redis, RedisConnection};
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{self, texts};
use inlet_sdk::{Batch, Values};
use inlet_tests::require::{self, Service};
use serde_json::json;

/// A database the e2e tests leave alone (they use 11–15).
const DB: u8 = 9;

/// Keys under one prefix of letters only (digits would make it an id, and
/// so a `*` in the pattern), deleted when the test ends.
struct Keys {
    prefix: String,
}

impl Keys {
    fn new(test: &str) -> Self {
        require::service(Service::Redis);
        require::tool("redis-cli");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let mut tag = u64::from(nanos) ^ (u64::from(std::process::id()) << 30);
        let mut letters = String::new();
        for _ in 0..10 {
            letters.push(char::from(b'a' + (tag % 26) as u8));
            tag /= 26;
        }
        Self { prefix: format!("pv{test}{letters}") }
    }

    /// Runs a Lua script with the prefix as ARGV[1].
    fn script(&self, lua: &str) {
        cli(&["EVAL", lua, "0", &self.prefix]);
    }

    fn name(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let lua = "for _, k in ipairs(redis.call('KEYS', ARGV[1] .. ':*')) do redis.call('DEL', k) end";
        let _ = Command::new("redis-cli").args(["-n", &DB.to_string(), "EVAL", lua, "0", &self.prefix]).output();
    }
}

fn cli(args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "-n", &DB.to_string()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success() && !stdout.starts_with("ERR"), "redis-cli {args:?}: {stdout}");
    stdout
}

fn connection(protocol: &str) -> RedisConnection {
    let config = json!({"host": "127.0.0.1", "port": 6379, "database": DB, "databases": [DB], "protocol": protocol});
    testing::connect::<Redis>(&testing::network_request("redis", 6379, &config, None)).expect("connect").0
}

fn request(object: &str, columns: &[&str], limit: u32) -> PreviewRequest {
    PreviewRequest {
        schema: format!("db{DB}"),
        object: object.to_owned(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        limit,
    }
}

type NameAndType = (String, String);

/// The columns (name, type) and the batches of a preview pulled `max_rows` at a time.
fn preview(
    connection: &mut RedisConnection,
    request: &PreviewRequest,
    max_rows: u32,
) -> Result<(Vec<NameAndType>, Vec<Batch>), ConnectorError> {
    let rows = connection.preview(request)?;
    let columns = rows.columns().into_iter().map(|c| (c.name, c.data_type)).collect();
    Ok((columns, testing::drain(rows, connection, max_rows)?))
}

fn names(columns: &[(String, String)]) -> Vec<(&str, &str)> {
    columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect()
}

fn int64s(batch: &Batch, column: usize) -> Vec<i64> {
    match &batch.columns[column].values {
        Values::Int64(v) => v.clone(),
        other => panic!("not int64: {other:?}"),
    }
}

#[inlet_tests::test]
fn strings_come_typed_as_discover_typed_them_in_key_order() {
    let keys = Keys::new("str");
    keys.script(
        "for i = 1, 12 do redis.call('SET', ARGV[1] .. ':count:' .. i, tostring(i * -7)) end \
         for i = 1, 3 do redis.call('SET', ARGV[1] .. ':doc:' .. i, '{\"id\":' .. i .. ',\"tags\":[\"a\"]}') end \
         for i = 1, 2 do redis.call('SET', ARGV[1] .. ':ratio:' .. i, tostring(i / 4)) end \
         redis.call('SET', ARGV[1] .. ':note:1', '') redis.call('SET', ARGV[1] .. ':note:2', 'héllo')",
    );
    for protocol in ["2", "3"] {
        let mut connection = connection(protocol);
        let (columns, batches) = preview(&mut connection, &request(&keys.name("count:*"), &[], 4), 3).unwrap();
        assert_eq!(names(&columns), [("key", "string"), ("value", "int64")]);
        assert_eq!(batches.iter().map(|b| b.row_count).collect::<Vec<_>>(), [3, 1], "limit 4, 3 per batch");
        // Sorted by name, as discover reads them: 1, 10, 11, 12.
        assert_eq!(texts(&batches[0].columns[0])[1], Some(keys.name("count:10")));
        assert_eq!(int64s(&batches[0], 1), [-7, -70, -77]);
        assert_eq!(int64s(&batches[1], 1), [-84]);

        let (columns, batches) = preview(&mut connection, &request(&keys.name("doc:*"), &[], 10), 100).unwrap();
        assert_eq!(names(&columns), [("key", "string"), ("value", "json")]);
        assert_eq!(texts(&batches[0].columns[1])[2].as_deref(), Some(r#"{"id":3,"tags":["a"]}"#));

        let (columns, batches) = preview(&mut connection, &request(&keys.name("ratio:*"), &[], 10), 100).unwrap();
        assert_eq!(columns[1].1, "float64");
        assert!(matches!(&batches[0].columns[1].values, Values::Float64(v) if v == &[0.25, 0.5]));

        // An empty string is a value, not NULL.
        let (_, batches) = preview(&mut connection, &request(&keys.name("note:*"), &["value"], 10), 100).unwrap();
        assert_eq!(texts(&batches[0].columns[0]), [Some(String::new()), Some("héllo".to_owned())]);
        assert!(batches[0].columns[0].validity.is_empty());
    }
}

#[inlet_tests::test]
fn hashes_as_records_have_their_fields_as_columns_with_nulls() {
    let keys = Keys::new("hash");
    keys.script(
        "for i = 1, 4 do \
           local k = ARGV[1] .. ':user:' .. i \
           redis.call('HSET', k, 'name', 'user' .. i, 'age', tostring(20 + i), 'active', (i % 2 == 0) and 'true' or 'false') \
           if i % 2 == 1 then redis.call('HSET', k, 'email', 'u' .. i .. '@example.com') end \
         end",
    );
    let mut connection = connection("auto");
    let (columns, batches) = preview(&mut connection, &request(&keys.name("user:*"), &[], 3), 100).unwrap();
    assert_eq!(
        names(&columns),
        [("key", "string"), ("active", "boolean"), ("age", "int64"), ("name", "string"), ("email", "string")]
    );
    let batch = &batches[0];
    assert_eq!(batch.row_count, 3);
    assert!(matches!(&batch.columns[1].values, Values::Boolean(v) if v == &[false, true, false]));
    assert_eq!(int64s(batch, 2), [21, 22, 23]);
    assert_eq!(texts(&batch.columns[4]), [Some("u1@example.com".to_owned()), None, Some("u3@example.com".to_owned())]);

    // A subset, in the order asked.
    let (columns, batches) =
        preview(&mut connection, &request(&keys.name("user:*"), &["email", "key"], 2), 100).unwrap();
    assert_eq!(names(&columns), [("email", "string"), ("key", "string")]);
    assert_eq!(texts(&batches[0].columns[1]), [Some(keys.name("user:1")), Some(keys.name("user:2"))]);

    let unknown = preview(&mut connection, &request(&keys.name("user:*"), &["key", "phone"], 2), 100).unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::NotFound, "{}", unknown.message);
}

#[inlet_tests::test]
fn hashes_keyed_by_ids_are_field_value_rows() {
    let keys = Keys::new("cart");
    keys.script(
        "redis.call('HSET', ARGV[1] .. ':cart:1', '1001', '2', '1002', '5') \
         redis.call('HSET', ARGV[1] .. ':cart:2', '1003', '1')",
    );
    let mut connection = connection("auto");
    let (columns, batches) = preview(&mut connection, &request(&keys.name("cart:*"), &[], 10), 100).unwrap();
    assert_eq!(names(&columns), [("key", "string"), ("field", "string"), ("value", "int64")]);
    let batch = &batches[0];
    let mut rows: Vec<(String, String, i64)> = texts(&batch.columns[0])
        .into_iter()
        .zip(texts(&batch.columns[1]))
        .zip(int64s(batch, 2))
        .map(|((k, f), v)| (k.unwrap(), f.unwrap(), v))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            (keys.name("cart:1"), "1001".to_owned(), 2),
            (keys.name("cart:1"), "1002".to_owned(), 5),
            (keys.name("cart:2"), "1003".to_owned(), 1)
        ]
    );
}

#[inlet_tests::test]
fn lists_sets_sorted_sets_and_streams_are_a_row_per_element() {
    let keys = Keys::new("coll");
    keys.script(
        "redis.call('RPUSH', ARGV[1] .. ':queue:1', 'a', 'b', 'c') redis.call('RPUSH', ARGV[1] .. ':queue:2', 'd') \
         redis.call('SADD', ARGV[1] .. ':tags:1', '10', '20') \
         redis.call('ZADD', ARGV[1] .. ':board:1', '2.5', 'ann', '-1', 'bob') \
         redis.call('XADD', ARGV[1] .. ':events:1', '1-1', 'type', 'click', 'n', '3') \
         redis.call('XADD', ARGV[1] .. ':events:1', '1-2', 'type', 'view')",
    );
    for protocol in ["2", "3"] {
        let mut connection = connection(protocol);
        let (columns, batches) = preview(&mut connection, &request(&keys.name("queue:*"), &[], 10), 2).unwrap();
        assert_eq!(names(&columns), [("key", "string"), ("index", "int64"), ("element", "string")]);
        let rows: Vec<Option<String>> = batches.iter().flat_map(|b| texts(&b.columns[2])).collect();
        assert_eq!(rows, ["a", "b", "c", "d"].map(|s| Some(s.to_owned())));
        assert_eq!(int64s(&batches[1], 1), [2, 0]);

        let (columns, batches) = preview(&mut connection, &request(&keys.name("tags:*"), &[], 10), 10).unwrap();
        assert_eq!(names(&columns), [("key", "string"), ("member", "int64")]);
        let mut members = int64s(&batches[0], 1);
        members.sort();
        assert_eq!(members, [10, 20]);

        let (columns, batches) = preview(&mut connection, &request(&keys.name("board:*"), &[], 10), 10).unwrap();
        assert_eq!(names(&columns), [("key", "string"), ("member", "string"), ("score", "float64")]);
        assert_eq!(texts(&batches[0].columns[1]), [Some("bob".to_owned()), Some("ann".to_owned())]);
        assert!(matches!(&batches[0].columns[2].values, Values::Float64(v) if v == &[-1.0, 2.5]));

        let (columns, batches) = preview(&mut connection, &request(&keys.name("events:*"), &[], 10), 10).unwrap();
        assert_eq!(names(&columns), [("key", "string"), ("id", "string"), ("n", "int64"), ("type", "string")]);
        assert_eq!(texts(&batches[0].columns[1]), [Some("1-1".to_owned()), Some("1-2".to_owned())]);
        assert_eq!(batches[0].columns[2].validity, [true, false]);
        assert_eq!(int64s(&batches[0], 2)[0], 3);
    }
}

#[inlet_tests::test]
fn a_big_list_is_read_only_up_to_the_limit_and_limit_zero_gives_columns() {
    let keys = Keys::new("big");
    keys.script("for i = 1, 200000 do redis.call('RPUSH', ARGV[1] .. ':log:1', 'line' .. i) end");
    let mut connection = connection("auto");
    let (_, batches) = preview(&mut connection, &request(&keys.name("log:*"), &["element"], 3), 100).unwrap();
    assert_eq!(texts(&batches[0].columns[0]), ["line1", "line2", "line3"].map(|s| Some(s.to_owned())));
    // LRANGE 0 2 on a 200,000-element list: the reply holds 3 elements, not 200,000.
    let (columns, batches) = preview(&mut connection, &request(&keys.name("log:*"), &[], 0), 100).unwrap();
    assert_eq!(names(&columns), [("key", "string"), ("index", "int64"), ("element", "string")]);
    assert!(batches.is_empty());
}

#[inlet_tests::test]
fn unknown_schemas_and_patterns_are_not_found_and_the_database_stays_selected() {
    let keys = Keys::new("none");
    keys.script("redis.call('SET', ARGV[1] .. ':only:1', 'x')");
    let mut connection = connection("auto");
    let missing = preview(&mut connection, &request(&keys.name("nothing:*"), &[], 5), 10).unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound, "{}", missing.message);
    let mut elsewhere = request(&keys.name("only:*"), &[], 5);
    elsewhere.schema = "db3".into();
    assert_eq!(preview(&mut connection, &elsewhere, 10).unwrap_err().kind, ErrorKind::NotFound);
    elsewhere.schema = "users".into();
    assert_eq!(preview(&mut connection, &elsewhere, 10).unwrap_err().kind, ErrorKind::NotFound);
    let (_, batches) = preview(&mut connection, &request(&keys.name("only:*"), &[], 5), 10).unwrap();
    assert_eq!(texts(&batches[0].columns[1]), [Some("x".to_owned())]);
    connection.test(&mut Steps::new()).expect("test after the previews");
}

fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
