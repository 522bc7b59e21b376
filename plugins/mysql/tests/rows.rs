//! `preview` and `query` run natively against the MariaDB on 127.0.0.1:3306:
//! every column type value by value (NULLs and empty values too), bound
//! parameters, a write the server refuses, a stream dropped mid-result, and
//! the server's statement timeout. The tables are made with the `mariadb`
//! client in a database of their own.

use inlet_plugin_mysql::dial::Target;
use inlet_plugin_mysql::{MySql, MySqlConnection, kill};
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{self, drain};
use inlet_sdk::{Batch, ColumnValues, Values, data_type as dt};
use inlet_tests::require::{self, Service};
use serde_json::json;

/// Runs `script` with the `mariadb` client as root; returns what it printed
/// (tab-separated, without column names).
fn mariadb(script: &str) -> String {
    let output = std::process::Command::new("mariadb")
        .args(["--no-defaults", "-uroot", "-h127.0.0.1", "--protocol=TCP", "-N", "-e", script])
        .output()
        .expect("mariadb client");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A database of its own for one test, dropped when the guard goes.
struct Database(String);

impl Database {
    fn new(tag: &str, tables: &str) -> Self {
        require::service(Service::MariaDb);
        require::tool("mariadb");
        let name = format!("inlet_my_rows_{tag}_{}", std::process::id());
        mariadb(&format!(
            "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`; USE `{name}`; SET time_zone = '+00:00'; {tables}"
        ));
        Self(name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        mariadb(&format!("DROP DATABASE IF EXISTS `{}`", self.0));
    }
}

/// An account of its own with a password, allowed `max_connections` sessions
/// at once (0: no limit), dropped when the guard goes.
struct Account {
    name: String,
    password: String,
}

impl Account {
    fn new(tag: &str, db: &Database, max_connections: u32) -> Self {
        let name = format!("inlet_my_{tag}_{}", std::process::id());
        let password = format!("pw-{tag}-{}", std::process::id());
        mariadb(&format!(
            "DROP USER IF EXISTS '{name}'@'%'; CREATE USER '{name}'@'%' IDENTIFIED BY '{password}' \
             WITH MAX_USER_CONNECTIONS {max_connections}; GRANT SELECT ON `{}`.* TO '{name}'@'%';",
            db.0
        ));
        Self { name, password }
    }

    fn connect(&self) -> MySqlConnection {
        let config = json!({"host": "127.0.0.1", "username": self.name, "ssl_mode": "disabled"});
        let request = testing::network_request("mariadb", 3306, &config, Some(&self.password));
        testing::connect::<MySql>(&request).map_err(|f| f.error).expect("connect").0
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        mariadb(&format!("DROP USER IF EXISTS '{}'@'%'", self.name));
    }
}

/// The session's id, as the server numbers it.
fn connection_id(connection: &mut MySqlConnection) -> String {
    let got = single(&run(connection, &sql("SELECT CONNECTION_ID()", vec![])).expect("connection id"));
    got[0][0].clone().expect("an id")
}

/// What session `id` is running, as another session sees it in the process
/// list (`None`: nothing, it is idle or gone).
fn running(id: &str) -> Option<String> {
    let info = mariadb(&format!(
        "SELECT IFNULL(INFO, '') FROM information_schema.PROCESSLIST WHERE ID = {id} AND COMMAND <> 'Sleep'"
    ));
    (!info.is_empty()).then_some(info)
}

fn connect() -> MySqlConnection {
    let config = json!({"host": "127.0.0.1", "username": "root", "ssl_mode": "disabled"});
    let request = testing::network_request("mariadb", 3306, &config, None);
    testing::connect::<MySql>(&request).map_err(|f| f.error).expect("connect").0
}

fn sql(statement: &str, parameters: Vec<Parameter>) -> QueryRequest {
    QueryRequest { statement: statement.to_owned(), parameters, max_rows: 1_000_000, timeout_ms: 10_000 }
}

/// Every value of a column as text (`None`: NULL): numbers as Rust prints
/// them, bytes in hex.
fn cells(column: &ColumnValues) -> Vec<Option<String>> {
    fn all<T>(v: &[T], f: impl Fn(&T) -> String) -> Vec<String> {
        v.iter().map(f).collect()
    }
    let texts: Vec<String> = match &column.values {
        Values::Boolean(v) => all(v, |x| x.to_string()),
        Values::Int16(v) => all(v, |x| x.to_string()),
        Values::Int32(v) | Values::Date(v) => all(v, |x| x.to_string()),
        Values::Int64(v) | Values::Time(v) | Values::Timestamp(v) => all(v, |x| x.to_string()),
        Values::Uint8(v) => all(v, |x| x.to_string()),
        Values::Uint16(v) => all(v, |x| x.to_string()),
        Values::Uint32(v) => all(v, |x| x.to_string()),
        Values::Uint64(v) => all(v, |x| x.to_string()),
        Values::Float32(v) => all(v, |x| x.to_string()),
        Values::Float64(v) => all(v, |x| x.to_string()),
        Values::Binary(v) => v
            .offsets
            .windows(2)
            .map(|w| v.data[w[0] as usize..w[1] as usize].iter().map(|b| format!("{b:02x}")).collect())
            .collect(),
        _ => return testing::texts(column),
    };
    texts.into_iter().enumerate().map(|(i, t)| column.validity.get(i).copied().unwrap_or(true).then_some(t)).collect()
}

/// The rows of one single-batch result, column by column.
fn single(batches: &[Batch]) -> Vec<Vec<Option<String>>> {
    assert_eq!(batches.len(), 1, "{batches:?}");
    batches[0].columns.iter().map(cells).collect()
}

fn run(connection: &mut MySqlConnection, request: &QueryRequest) -> Result<Vec<Batch>, ConnectorError> {
    let rows = connection.query(request)?;
    drain(rows, connection, 100)
}

const ALL_TYPES: &str = "CREATE TABLE t (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, \
    su SMALLINT UNSIGNED, mi MEDIUMINT, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, f FLOAT, \
    d DOUBLE, de DECIMAL(10,2), dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL, y YEAR, \
    vc VARCHAR(20), ch CHAR(3), tx TEXT, vb VARBINARY(8), bl BLOB, js JSON, bt BIT(10), en ENUM('a','b'), \
    st SET('x','y'));
    INSERT INTO t VALUES (1, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295, \
      -9223372036854775808, 18446744073709551615, 1.5, -2.25, -12345678.91, '2024-02-29', '-25:30:00.5', \
      '1969-12-31 23:59:59.999999', '2038-01-19 03:14:07.5', 2024, 'h\u{e9}llo', 'abc', 'long text', \
      0x00FF, 0xDEADBEEF, '{\"a\": 1}', b'1000000001', 'b', 'x,y');
    INSERT INTO t (id) VALUES (2);
    INSERT INTO t VALUES (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '1970-01-01', '00:00:00', \
      '1970-01-01 00:00:00', '1970-01-01 00:00:01', 2000, '', '', '', '', '', '[]', b'0', 'a', '');";

#[inlet_tests::test]
fn every_type_reads_value_by_value() {
    let db = Database::new("types", ALL_TYPES);
    let mut connection = connect();
    let rows = connection.query(&sql(&format!("SELECT * FROM `{}`.t ORDER BY id", db.0), vec![])).expect("query");
    let columns = rows.columns();
    let types: Vec<(&str, &str)> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(
        types,
        [
            ("id", dt::INT32),
            ("ti", dt::INT16),
            ("tu", dt::UINT8),
            ("si", dt::INT16),
            ("su", dt::UINT16),
            ("mi", dt::INT32),
            ("i", dt::INT32),
            ("iu", dt::UINT32),
            ("bi", dt::INT64),
            ("bu", dt::UINT64),
            ("f", dt::FLOAT32),
            ("d", dt::FLOAT64),
            ("de", dt::DECIMAL),
            ("dt", dt::DATE),
            ("tm", dt::TIME),
            ("dtm", dt::TIMESTAMP),
            ("ts", dt::TIMESTAMP_TZ),
            ("y", dt::INT16),
            ("vc", dt::STRING),
            ("ch", dt::STRING),
            ("tx", dt::STRING),
            ("vb", dt::BINARY),
            ("bl", dt::BINARY),
            // MariaDB's JSON is LONGTEXT with a check: a string column.
            ("js", dt::STRING),
            ("bt", dt::BINARY),
            ("en", dt::STRING),
            ("st", dt::STRING),
        ]
    );
    assert_eq!((columns[12].precision, columns[12].scale), (Some(10), Some(2)));
    assert!(!columns[0].nullable && columns[1].nullable);
    let batches = drain(rows, &mut connection, 100).expect("rows");
    let got = single(&batches);
    let s = |v: &str| Some(v.to_owned());
    let expected: Vec<[Option<String>; 3]> = vec![
        [s("1"), s("2"), s("3")],
        [s("-128"), None, s("0")],
        [s("255"), None, s("0")],
        [s("-32768"), None, s("0")],
        [s("65535"), None, s("0")],
        [s("-8388608"), None, s("0")],
        [s("-2147483648"), None, s("0")],
        [s("4294967295"), None, s("0")],
        [s("-9223372036854775808"), None, s("0")],
        [s("18446744073709551615"), None, s("0")],
        [s("1.5"), None, s("0")],
        [s("-2.25"), None, s("0")],
        [s("-12345678.91"), None, s("0.00")],
        [s("19782"), None, s("0")],
        [s("-91800500000"), None, s("0")],
        [s("-1"), None, s("0")],
        [s("2147483647500000"), None, s("1000000")],
        [s("2024"), None, s("2000")],
        [s("h\u{e9}llo"), None, s("")],
        [s("abc"), None, s("")],
        [s("long text"), None, s("")],
        [s("00ff"), None, s("")],
        [s("deadbeef"), None, s("")],
        [s("{\"a\": 1}"), None, s("[]")],
        [s("0201"), None, s("0000")],
        [s("b"), None, s("a")],
        [s("x,y"), None, s("")],
    ];
    for ((column, values), want) in columns.iter().zip(&got).zip(&expected) {
        assert_eq!(values, &want.to_vec(), "column {}", column.name);
    }

    // A preview of the same table: quoted columns, the limit, the same types.
    let request =
        PreviewRequest { schema: db.0.clone(), object: "t".into(), columns: vec!["vc".into(), "id".into()], limit: 2 };
    let rows = connection.preview(&request).expect("preview");
    assert_eq!(rows.columns().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["vc", "id"]);
    let batches = drain(rows, &mut connection, 100).expect("preview rows");
    assert_eq!(batches.iter().map(|b| b.row_count).sum::<u32>(), 2);
    let missing = PreviewRequest { schema: db.0.clone(), object: "nope".into(), columns: vec![], limit: 2 };
    assert_eq!(connection.preview(&missing).err().expect("no such table").kind, ErrorKind::NotFound);
}

#[inlet_tests::test]
fn parameters_are_bound_never_spliced() {
    let db = Database::new("params", "CREATE TABLE p (name VARCHAR(40)); INSERT INTO p VALUES ('alice'), ('bob');");
    let mut connection = connect();
    let injection = "x' OR '1'='1";
    let statement = format!("SELECT name FROM `{}`.p WHERE name = ?", db.0);
    let batches = run(&mut connection, &sql(&statement, vec![Parameter::Text(injection.into())])).expect("query");
    assert!(batches.is_empty(), "the injection matched rows: {batches:?}");
    let batches = run(&mut connection, &sql(&statement, vec![Parameter::Text("bob".into())])).expect("query");
    assert_eq!(single(&batches), [[Some("bob".to_owned())]]);

    let request = sql(
        "SELECT ? AS t, ? AS i, ? AS f, ? AS b, ? AS n, HEX(?) AS h",
        vec![
            Parameter::Text(injection.into()),
            Parameter::Integer(-42),
            Parameter::Float(0.25),
            Parameter::Boolean(true),
            Parameter::Null,
            Parameter::Binary(vec![0, 0xFF]),
        ],
    );
    let got = single(&run(&mut connection, &request).expect("parameters"));
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(got, [vec![s(injection)], vec![s("-42")], vec![s("0.25")], vec![s("1")], vec![None], vec![s("00FF")]]);

    let wrong = sql("SELECT ?", vec![]);
    assert_eq!(run(&mut connection, &wrong).unwrap_err().kind, ErrorKind::Config);
    // The connection is usable after that refusal.
    assert_eq!(single(&run(&mut connection, &sql("SELECT 1", vec![])).expect("after")), [[Some("1".to_owned())]]);
}

#[inlet_tests::test]
fn writes_are_refused_and_errors_are_kinds() {
    let db = Database::new("write", "CREATE TABLE w (v INT); INSERT INTO w VALUES (1);");
    let mut connection = connect();
    let insert = sql(&format!("INSERT INTO `{}`.w VALUES (2)", db.0), vec![]);
    let error = run(&mut connection, &insert).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Permission, "{error:?}");
    assert!(error.message.contains("1792"), "{}", error.message);
    let kind =
        |connection: &mut MySqlConnection, statement: &str| run(connection, &sql(statement, vec![])).unwrap_err().kind;
    assert_eq!(kind(&mut connection, "SELEC 1"), ErrorKind::Config);
    assert_eq!(kind(&mut connection, &format!("SELECT * FROM `{}`.nope", db.0)), ErrorKind::NotFound);
    assert_eq!(kind(&mut connection, &format!("SELECT nope FROM `{}`.w", db.0)), ErrorKind::NotFound);
    assert_eq!(kind(&mut connection, "   "), ErrorKind::Config);
    // DDL commits implicitly and would run outside the read-only
    // transaction; the read-only session refuses it too.
    for ddl in [format!("CREATE TABLE `{}`.made (a INT)", db.0), format!("DROP TABLE `{}`.w", db.0)] {
        let error = run(&mut connection, &sql(&ddl, vec![])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Permission, "{ddl}: {error:?}");
    }
    let made = sql(&format!("SELECT * FROM `{}`.made", db.0), vec![]);
    assert_eq!(run(&mut connection, &made).unwrap_err().kind, ErrorKind::NotFound);
    // The write never happened, and the connection is still usable.
    let count = sql(&format!("SELECT COUNT(*) FROM `{}`.w", db.0), vec![]);
    assert_eq!(single(&run(&mut connection, &count).expect("count")), [[Some("1".to_owned())]]);
}

#[inlet_tests::test]
fn a_dropped_stream_leaves_the_connection_usable() {
    // The sequence engine's virtual tables need a current or named database.
    let db = Database::new("drop", "");
    let mut connection = connect();
    let statement = format!("SELECT seq FROM `{}`.seq_1_to_200000", db.0);
    let mut rows = connection.query(&sql(&statement, vec![])).expect("query");
    let batch = rows.next(&mut connection, 10).expect("next").expect("a batch");
    assert_eq!(batch.row_count, 10);
    assert_eq!(cells(&batch.columns[0])[9].as_deref(), Some("10"));
    rows.close(&mut connection);
    drop(rows);
    let got = single(&run(&mut connection, &sql("SELECT 7", vec![])).expect("after the drop"));
    assert_eq!(got, [[Some("7".to_owned())]]);

    // max_rows caps the rows handed out; batches honour the host's size.
    let mut capped = sql(&format!("SELECT seq FROM `{}`.seq_1_to_1000", db.0), vec![]);
    capped.max_rows = 5;
    let batches = run(&mut connection, &capped).expect("capped");
    let rows = connection.query(&capped).expect("capped again");
    let sizes: Vec<u32> = drain(rows, &mut connection, 2).expect("drain").iter().map(|b| b.row_count).collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(batches.iter().map(|b| b.row_count).sum::<u32>(), 5);
}

#[inlet_tests::test]
fn the_servers_statement_timeout_applies() {
    require::service(Service::MariaDb);
    let mut connection = connect();
    let before = single(&run(&mut connection, &sql("SELECT @@max_statement_time", vec![])).expect("before"));
    let mut slow = sql("SELECT SLEEP(5)", vec![]);
    slow.timeout_ms = 300;
    let started = std::time::Instant::now();
    let error = run(&mut connection, &slow).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    // Stopped part-way through the rows: the error ends the stream, and the
    // connection is usable after.
    let db = Database::new("timeout", "");
    let mut slow_rows = sql(&format!("SELECT seq, SLEEP(0.05) FROM `{}`.seq_1_to_100", db.0), vec![]);
    slow_rows.timeout_ms = 300;
    let error = run(&mut connection, &slow_rows).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    // The session's own bound is back.
    let after = single(&run(&mut connection, &sql("SELECT @@max_statement_time", vec![])).expect("after"));
    assert_eq!(before, after);
}

/// A result of 10^12 rows, streaming as fast as the server can send it.
fn cross_join(db: &Database) -> QueryRequest {
    sql(&format!("SELECT a.seq, b.seq FROM `{0}`.seq_1_to_1000000 a, `{0}`.seq_1_to_1000000 b", db.0), vec![])
}

#[inlet_tests::test]
fn a_dropped_long_result_is_cancelled_at_the_server() {
    let db = Database::new("kill", "");
    // With a password: the cancelling session logs in as the same user.
    let account = Account::new("kill", &db, 0);
    let mut connection = account.connect();
    let id = connection_id(&mut connection);
    let mut rows = connection.query(&cross_join(&db)).expect("query");
    let batch = rows.next(&mut connection, 10).expect("next").expect("a batch");
    assert_eq!(batch.row_count, 10);
    assert!(running(&id).is_some_and(|info| info.contains("seq_1_to_1000000")), "{:?}", running(&id));
    let started = std::time::Instant::now();
    rows.close(&mut connection);
    drop(rows);
    // KILL QUERY stopped it: the close waited only for what was in flight
    // (a drain of the rest would take hours, or give the session up).
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(running(&id), None);
    // The same session goes on, with its statement timeout (80 % of the
    // call's 10 s) restored: read by a statement that sets none of its own.
    let mut after = sql("SELECT 7, @@max_statement_time", vec![]);
    after.timeout_ms = 0;
    let got = single(&run(&mut connection, &after).expect("after"));
    assert_eq!(got, [[Some("7".to_owned())], [Some("8".to_owned())]]);
    assert_eq!(connection_id(&mut connection), id);

    // A statement that slows down after its first rows (the server sends
    // rows in 16 KiB writes: 5,000 fill a few) is cancelled the same way,
    // once the rest is slow to come.
    let statement = format!("SELECT seq, IF(seq > 5000, SLEEP(1), 0) FROM `{}`.seq_1_to_100000", db.0);
    let mut rows = connection.query(&sql(&statement, vec![])).expect("slow query");
    assert_eq!(rows.next(&mut connection, 10).expect("next").expect("a batch").row_count, 10);
    let started = std::time::Instant::now();
    rows.close(&mut connection);
    drop(rows);
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(running(&id), None);
    assert_eq!(single(&run(&mut connection, &sql("SELECT 8", vec![])).expect("after")), [[Some("8".to_owned())]]);
}

#[inlet_tests::test]
fn without_a_second_session_the_rest_is_drained_or_the_session_given_up() {
    let db = Database::new("nokill", "");
    // One session at a time: the server refuses the cancelling one (1226).
    let account = Account::new("nokill", &db, 1);
    let mut connection = account.connect();
    let id = connection_id(&mut connection);
    let mut rows = connection.query(&cross_join(&db)).expect("query");
    assert_eq!(rows.next(&mut connection, 10).expect("next").expect("a batch").row_count, 10);
    let started = std::time::Instant::now();
    rows.close(&mut connection);
    drop(rows);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    // The bounded drain ran out: the session is given up, not left out of step.
    let error = run(&mut connection, &sql("SELECT 1", vec![])).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unreachable, "{error:?}");
    assert!(error.message.contains("reconnect"), "{}", error.message);
    // Closing the socket ends the statement at the server.
    drop(connection);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while running(&id).is_some() {
        assert!(std::time::Instant::now() < deadline, "still running: {:?}", running(&id));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // A slow rest without the cancel: the drain waits no longer than one
    // read may (1.8 s of a call limited to 2 s), then gives the session up.
    let config = json!({"host": "127.0.0.1", "username": account.name, "ssl_mode": "disabled"});
    let mut request = testing::network_request("mariadb", 3306, &config, Some(&account.password));
    request.query_timeout_ms = 2_000;
    let mut connection = testing::connect::<MySql>(&request).map_err(|f| f.error).expect("connect").0;
    let slow_id = connection_id(&mut connection);
    let statement = format!("SELECT seq, IF(seq > 5000, SLEEP(1), 0) FROM `{}`.seq_1_to_100000", db.0);
    // Its own limit (20 s) longer than the call's, so the server lets it run.
    let mut slow = sql(&statement, vec![]);
    slow.timeout_ms = 20_000;
    let mut rows = connection.query(&slow).expect("slow query");
    assert_eq!(rows.next(&mut connection, 10).expect("next").expect("a batch").row_count, 10);
    let started = std::time::Instant::now();
    rows.close(&mut connection);
    drop(rows);
    let took = started.elapsed();
    assert!(took > std::time::Duration::from_millis(1500) && took < std::time::Duration::from_secs(3), "{took:?}");
    let error = run(&mut connection, &sql("SELECT 1", vec![])).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unreachable, "{error:?}");
    drop(connection);
    // The abandoned statement writes nothing for long, so the server would
    // not notice the closed socket soon (the case the cancel is for): end it.
    mariadb(&format!("KILL {slow_id}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while running(&slow_id).is_some() {
        assert!(std::time::Instant::now() < deadline, "still running: {:?}", running(&slow_id));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // A short rest needs no second session: read to its end, the session goes on.
    let mut connection = account.connect();
    let short = sql(&format!("SELECT seq FROM `{}`.seq_1_to_2000", db.0), vec![]);
    let mut rows = connection.query(&short).expect("short");
    assert_eq!(rows.next(&mut connection, 10).expect("next").expect("a batch").row_count, 10);
    rows.close(&mut connection);
    drop(rows);
    assert_eq!(single(&run(&mut connection, &sql("SELECT 9", vec![])).expect("after")), [[Some("9".to_owned())]]);
}

#[inlet_tests::test]
fn the_calls_time_limit_cancels_a_statement_the_server_would_let_run() {
    let db = Database::new("deadline", "");
    let account = Account::new("deadline", &db, 0);
    let config = json!({"host": "127.0.0.1", "username": account.name, "ssl_mode": "disabled"});
    let mut request = testing::network_request("mariadb", 3306, &config, Some(&account.password));
    // The host's limit per call: 2 s, so the socket bound is 1.8 s.
    request.query_timeout_ms = 2_000;
    let mut connection = testing::connect::<MySql>(&request).map_err(|f| f.error).expect("connect").0;
    let id = connection_id(&mut connection);
    // The statement's own limit (20 s) is longer than the call's.
    let mut slow = sql("SELECT SLEEP(20)", vec![]);
    slow.timeout_ms = 20_000;
    let started = std::time::Instant::now();
    let error = run(&mut connection, &slow).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    assert!(error.message.contains("cancelled at the server"), "{}", error.message);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(running(&id), None);
    // The session is in step and has its own statement limit (80 % of 2 s) back.
    let mut after = sql("SELECT @@max_statement_time", vec![]);
    after.timeout_ms = 0;
    let got = single(&run(&mut connection, &after).expect("after"));
    assert_eq!(got, [[Some("1.6".to_owned())]]);
}

#[inlet_tests::test]
fn a_cancel_that_comes_after_the_statement_does_not_hit_the_next() {
    // The race `KILL QUERY` can lose: the statement ended before the kill
    // arrived, which then finds the session idle. Its next command runs.
    require::service(Service::MariaDb);
    let config = json!({"host": "127.0.0.1", "username": "root", "ssl_mode": "disabled"});
    let request = testing::network_request("mariadb", 3306, &config, None);
    let mut connection = testing::connect::<MySql>(&request).map_err(|f| f.error).expect("connect").0;
    let id = connection_id(&mut connection);
    let target = Target::from_request(&request).expect("target");
    kill::kill_query(&target, id.parse().expect("numeric id"), kill::MAX_CANCEL_TIME).expect("kill");
    let got = single(&run(&mut connection, &sql("SELECT 5", vec![])).expect("after the kill"));
    assert_eq!(got, [[Some("5".to_owned())]]);
    // A session that does not exist: the server says so (1094).
    let error = kill::kill_query(&target, u32::MAX, kill::MAX_CANCEL_TIME).unwrap_err();
    assert!(error.message.contains("1094"), "{}", error.message);
}

fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
