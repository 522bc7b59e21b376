//! The connector run natively (no sandbox) against real servers: the shared
//! PostgreSQL on 127.0.0.1:5432 (trust auth) and a throwaway cluster with
//! SCRAM, md5 and TLS (see `inlet_tests::pg_cluster`). The same code runs in
//! the wasm component; the end-to-end tests in tests/tests/e2e/postgres.rs drive
//! it through the host.

use inlet_plugin_postgres::{PgConnection, Postgres};
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{self, step};
use inlet_sdk::{Failure, Values};
use inlet_tests::pg_cluster::{self, PgCluster};
use inlet_tests::pg_fixture::FixtureDb;
use inlet_tests::require::{self, Service};
use serde_json::{Value, json};

fn request(source_type: &str, port: u16, config: Value, password: Option<&str>) -> ConnectRequest {
    testing::network_request(source_type, port, &config, password)
}

fn connect(request: &ConnectRequest) -> Result<(PgConnection, Vec<CheckStep>), Failure> {
    testing::connect::<Postgres>(request)
}

fn local_config(database: &str) -> Value {
    json!({"host": "127.0.0.1", "port": 5432, "database": database, "username": "postgres"})
}

fn discover_all(
    connection: &mut PgConnection,
    page_size: u32,
    include: &[&str],
    exclude: &[&str],
) -> (Vec<(String, Table)>, usize) {
    let mut tables = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = connection
            .discover(&DiscoverRequest {
                include_schemas: include.iter().map(|s| (*s).to_owned()).collect(),
                exclude_schemas: exclude.iter().map(|s| (*s).to_owned()).collect(),
                page_token: token.take(),
                page_size,
            })
            .expect("discover");
        pages += 1;
        for schema in page.schemas {
            for table in schema.tables {
                tables.push((schema.name.clone(), table));
            }
        }
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => return (tables, pages),
        }
        assert!(pages < 100, "paging does not end");
    }
}

#[inlet_tests::test]
fn trust_login_reports_steps_and_version() {
    require::service(Service::Postgres);
    let (mut connection, steps) =
        connect(&request("postgresql", 5432, local_config("postgres"), None)).expect("connect");
    let auth = step(&steps, "authenticate");
    assert!(auth.passed);
    assert_eq!(auth.message.as_deref(), Some("trust"));
    let mut steps = Steps::new();
    let version = connection.test(&mut steps).expect("test").expect("a version");
    assert!(version.starts_with("PostgreSQL "), "{version}");
    let steps = steps.into_steps();
    assert_eq!(steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["query version", "catalog permission"]);
    assert!(steps.iter().all(|s| s.passed), "{steps:?}");
}

#[inlet_tests::test]
fn a_missing_database_is_not_found() {
    require::service(Service::Postgres);
    let failure = connect(&request("postgresql", 5432, local_config("inlet_no_such_db"), None)).err().expect("failure");
    assert_eq!(failure.error.kind, ErrorKind::NotFound, "{:?}", failure.error);
    assert!(failure.error.message.contains("3D000"));
    assert!(!step(&failure.steps, "authenticate").passed);
}

#[inlet_tests::test]
fn ssl_disable_skips_the_tls_step() {
    require::service(Service::Postgres);
    let mut config = local_config("postgres");
    config["ssl_mode"] = json!("disable");
    let (_, steps) = connect(&request("postgresql", 5432, config, None)).expect("connect");
    assert!(steps.iter().all(|s| s.name != "tls"), "{steps:?}");
}

#[inlet_tests::test]
fn a_closed_port_is_unreachable() {
    let port = inlet_tests::free_port();
    let failure = connect(&request("postgresql", port, local_config("postgres"), None)).err().expect("failure");
    assert_eq!(failure.error.kind, ErrorKind::Unreachable);
    assert!(failure.error.retryable);
    assert!(!step(&failure.steps, "tcp connect").passed);
}

#[inlet_tests::test]
fn a_bad_page_token_leaves_the_session_usable() {
    require::service(Service::Postgres);
    let (mut connection, _) = connect(&request("postgresql", 5432, local_config("postgres"), None)).expect("connect");
    let error = connection
        .discover(&DiscoverRequest {
            include_schemas: vec!["pg_catalog".into()],
            exclude_schemas: vec![],
            page_token: Some("not a token".into()),
            page_size: 5,
        })
        .expect_err("bad token");
    assert_eq!(error.kind, ErrorKind::Config);
    // An include list naming pg_catalog overrides the default exclusion.
    let (tables, _) = discover_all(&mut connection, 500, &["pg_catalog"], &[]);
    assert!(tables.iter().any(|(_, t)| t.name == "pg_class"));
}

#[inlet_tests::test]
fn discovers_the_fixture_catalog() {
    require::service(Service::Postgres);
    require::tool("psql");
    let db = FixtureDb::create("native", "discover");
    let (mut connection, _) = connect(&request("postgresql", 5432, local_config(&db.0), None)).expect("connect");
    let (tables, pages) = discover_all(&mut connection, 100, &[], &[]);
    assert_eq!(pages, 1);
    let names: Vec<String> = tables.iter().map(|(s, t)| format!("{s}.{}", t.name)).collect();
    assert_eq!(names, ["crm.customers", "o'reilly.notes", "sales.big_orders", "sales.order_totals", "sales.orders"]);
    let table = |name: &str| &tables.iter().find(|(s, t)| format!("{s}.{}", t.name) == name).expect(name).1;

    let customers = table("crm.customers");
    assert_eq!(customers.kind, ObjectKind::Table);
    assert_eq!(customers.comment.as_deref(), Some("People who buy things"));
    assert_eq!(customers.row_estimate, Some(2));
    assert!(customers.size_bytes.is_some_and(|s| s > 0));
    let types: Vec<(&str, &str, &str)> =
        customers.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.native_type.as_str())).collect();
    assert_eq!(
        types,
        [
            ("id", "int32", "integer"),
            ("email", "string", "character varying(120)"),
            ("mood", "enum", "crm.mood"),
            ("tags", "array", "text[]"),
            ("created_at", "timestamp-tz", "timestamp with time zone"),
        ]
    );
    let email = &customers.columns[1];
    assert!(!email.nullable);
    assert_eq!(email.max_length, Some(120));
    assert_eq!(email.comment.as_deref(), Some("Primary contact address"));
    assert_eq!(customers.columns[4].default_value.as_deref(), Some("now()"));
    assert!(customers.columns[2].nullable);

    let orders = table("sales.orders");
    let total = orders.columns.iter().find(|c| c.name == "total").expect("total");
    assert_eq!((total.data_type.as_str(), total.precision, total.scale), ("decimal", Some(10), Some(2)));
    let code = orders.columns.iter().find(|c| c.name == "code").expect("code");
    assert_eq!((code.native_type.as_str(), code.max_length), ("character(8)", Some(8)));
    let status = orders.columns.iter().find(|c| c.name == "status").expect("status");
    assert_eq!(status.default_value.as_deref(), Some("'new'::text"));
    let fk = orders.constraints.iter().find(|c| c.kind == ConstraintKind::ForeignKey).expect("fk");
    assert_eq!(fk.name, "orders_customer_fkey");
    assert_eq!(fk.columns, ["customer_id"]);
    assert_eq!(fk.referenced_schema.as_deref(), Some("crm"));
    assert_eq!(fk.referenced_table.as_deref(), Some("customers"));
    assert_eq!(fk.referenced_columns, ["id"]);
    let check = orders.constraints.iter().find(|c| c.kind == ConstraintKind::Check).expect("check");
    assert_eq!(check.columns, ["total"]);
    assert_eq!(check.definition.as_deref(), Some("CHECK ((total >= (0)::numeric))"));
    let unique = orders.constraints.iter().find(|c| c.kind == ConstraintKind::Unique).expect("unique");
    assert_eq!(unique.columns, ["customer_id", "id"]);

    assert_eq!(table("sales.big_orders").kind, ObjectKind::View);
    assert_eq!(table("sales.big_orders").row_estimate, None);
    assert_eq!(table("sales.order_totals").kind, ObjectKind::MaterializedView);

    // Page size 1 walks every relation exactly once, including a foreign
    // key whose referenced table is on another page.
    let (one_by_one, pages) = discover_all(&mut connection, 1, &[], &[]);
    assert_eq!(pages, 5);
    assert_eq!(one_by_one.iter().map(|(s, t)| format!("{s}.{}", t.name)).collect::<Vec<_>>(), names);
    let orders_alone = &one_by_one[4].1;
    let fk = orders_alone.constraints.iter().find(|c| c.kind == ConstraintKind::ForeignKey).expect("fk");
    assert_eq!(fk.referenced_columns, ["id"]);

    let (only, _) = discover_all(&mut connection, 100, &["o'reilly"], &[]);
    assert_eq!(only.len(), 1);
    let (without, _) = discover_all(&mut connection, 2, &[], &["sales", "o'reilly"]);
    assert_eq!(without.iter().map(|(_, t)| t.name.as_str()).collect::<Vec<_>>(), ["customers"]);
}

fn cluster_config(cluster: &PgCluster, user: &str, ssl_mode: &str) -> Value {
    json!({"host": "localhost", "port": cluster.port, "database": "postgres", "username": user, "ssl_mode": ssl_mode})
}

#[inlet_tests::test]
fn password_methods_and_tls_modes_against_a_throwaway_cluster() {
    pg_cluster::require();
    let cluster = PgCluster::start().expect("start the cluster");
    let port = cluster.port;
    let login = |user: &str, ssl_mode: &str, password: Option<&str>| {
        connect(&request("postgresql", port, cluster_config(&cluster, user, ssl_mode), password))
    };

    let (mut scram, steps) =
        login(pg_cluster::SCRAM_USER, "disable", Some(pg_cluster::SCRAM_PASSWORD)).expect("scram login");
    assert_eq!(step(&steps, "authenticate").message.as_deref(), Some("scram-sha-256"));
    assert!(scram.test(&mut Steps::new()).is_ok());

    let (_, steps) = login(pg_cluster::MD5_USER, "disable", Some(pg_cluster::MD5_PASSWORD)).expect("md5 login");
    assert_eq!(step(&steps, "authenticate").message.as_deref(), Some("md5"));

    let failure = login(pg_cluster::SCRAM_USER, "require", Some("wrong-password-123")).err().expect("wrong password");
    assert_eq!(failure.error.kind, ErrorKind::Auth, "{:?}", failure.error);
    assert!(!format!("{failure:?}").contains("wrong-password-123"));

    let (_, steps) = login(pg_cluster::SCRAM_USER, "require", Some(pg_cluster::SCRAM_PASSWORD)).expect("tls require");
    let tls = step(&steps, "tls");
    assert!(tls.passed && tls.message.as_deref().is_some_and(|m| m.starts_with("TLS 1.")), "{tls:?}");

    let mut full = cluster_config(&cluster, pg_cluster::SSL_ONLY_USER, "verify-full");
    full["ssl_root_cert"] = json!(cluster.ca_pem);
    connect(&request("postgresql", port, full.clone(), Some(pg_cluster::SSL_ONLY_PASSWORD))).expect("verify-full");

    // verify-ca ignores the name: 127.0.0.1 is not in the certificate.
    let mut by_ip = full.clone();
    by_ip["host"] = json!("127.0.0.1");
    by_ip["ssl_mode"] = json!("verify-ca");
    connect(&request("postgresql", port, by_ip.clone(), Some(pg_cluster::SSL_ONLY_PASSWORD))).expect("verify-ca");
    by_ip["ssl_mode"] = json!("verify-full");
    let failure =
        connect(&request("postgresql", port, by_ip, Some(pg_cluster::SSL_ONLY_PASSWORD))).err().expect("name mismatch");
    assert!(!step(&failure.steps, "tls").passed);

    let failure =
        login(pg_cluster::SSL_ONLY_USER, "verify-full", Some(pg_cluster::SSL_ONLY_PASSWORD)).err().expect("untrusted");
    assert_eq!(failure.error.kind, ErrorKind::Protocol);
    assert!(!step(&failure.steps, "tls").passed);

    let failure =
        login(pg_cluster::SSL_ONLY_USER, "disable", Some(pg_cluster::SSL_ONLY_PASSWORD)).err().expect("hostssl only");
    assert_eq!(failure.error.kind, ErrorKind::Auth, "{:?}", failure.error);

    let missing = login(pg_cluster::SCRAM_USER, "prefer", None).err().expect("no password");
    assert_eq!(missing.error.kind, ErrorKind::Auth);
}

// Preview and query (API 0.2.0): the rows as the host would pull them.

fn query_request(statement: &str, parameters: Vec<Parameter>, max_rows: u64, timeout_ms: u32) -> QueryRequest {
    QueryRequest { statement: statement.to_owned(), parameters, max_rows, timeout_ms }
}

fn local_connection() -> PgConnection {
    connect(&request("postgresql", 5432, local_config("postgres"), None)).expect("connect").0
}

/// A query run to its end, as the host pulls it: the error of the call or of any batch.
fn run(connection: &mut PgConnection, request: &QueryRequest) -> Result<Vec<inlet_sdk::Batch>, ConnectorError> {
    let rows = connection.query(request)?;
    testing::drain(rows, connection, 100)
}

/// The connection still answers: the session is idle and out of any transaction.
fn assert_usable(connection: &mut PgConnection) {
    let batches = testing::drain(
        connection
            .query(&query_request("SELECT pg_catalog.current_setting('transaction_read_only')", vec![], 10, 0))
            .expect("a follow-up query"),
        connection,
        10,
    )
    .expect("follow-up rows");
    assert_eq!(testing::texts(&batches[0].columns[0]), [Some("on".to_owned())]);
    connection.test(&mut Steps::new()).expect("test after");
}

#[inlet_tests::test]
fn query_binds_parameters_and_types_its_columns() {
    require::service(Service::Postgres);
    let mut connection = local_connection();
    let sql = "SELECT $1::int4 AS i, $2::text AS t, $3::bytea AS b, NULL::int8 AS n, 1.5::numeric(5,2) AS d, \
               DATE '2024-01-31' AS day, TIME '12:00:00.5' AS tm, TIMESTAMPTZ '2024-01-31 13:00:00+01' AS ts, \
               '{\"a\": 1}'::jsonb AS j, $4::bool AS flag, $5::float8 AS f";
    let parameters = vec![
        Parameter::Integer(42),
        Parameter::Text("it's; DROP TABLE x".into()),
        Parameter::Binary(vec![0, 255]),
        Parameter::Boolean(true),
        Parameter::Float(0.25),
    ];
    let rows = connection.query(&query_request(sql, parameters, 100, 5_000)).expect("query");
    let columns = rows.columns();
    let types: Vec<_> = columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
    assert_eq!(
        types,
        [
            ("i", "int32"),
            ("t", "string"),
            ("b", "binary"),
            ("n", "int64"),
            ("d", "decimal"),
            ("day", "date"),
            ("tm", "time"),
            ("ts", "timestamp-tz"),
            ("j", "json"),
            ("flag", "boolean"),
            ("f", "float64")
        ]
    );
    assert_eq!((columns[4].precision, columns[4].scale), (Some(5), Some(2)));
    // The zone the session showed before the transaction set UTC.
    assert!(columns[7].time_zone.as_deref().is_some_and(|zone| !zone.is_empty()), "{:?}", columns[7]);
    let batches = testing::drain(rows, &mut connection, 100).expect("rows");
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.row_count, 1);
    assert!(matches!(&batch.columns[0].values, Values::Int32(v) if v == &[42]));
    assert_eq!(testing::texts(&batch.columns[1]), [Some("it's; DROP TABLE x".to_owned())]);
    assert!(matches!(&batch.columns[2].values, Values::Binary(b) if b.data == [0, 255]));
    assert_eq!(batch.columns[3].validity, [false]);
    assert_eq!(testing::texts(&batch.columns[4]), [Some("1.50".to_owned())]);
    assert!(matches!(&batch.columns[5].values, Values::Date(v) if v == &[19_753]));
    assert!(matches!(&batch.columns[6].values, Values::Time(v) if v == &[43_200_500_000]));
    assert!(matches!(&batch.columns[7].values, Values::Timestamp(v) if v == &[1_706_702_400_000_000]));
    assert_eq!(testing::texts(&batch.columns[8]), [Some("{\"a\": 1}".to_owned())]);
    assert!(matches!(&batch.columns[9].values, Values::Boolean(v) if v == &[true]));
    assert!(matches!(&batch.columns[10].values, Values::Float64(v) if v == &[0.25]));
    assert_usable(&mut connection);
}

#[inlet_tests::test]
fn results_stream_in_batches_and_stop_at_the_cap() {
    require::service(Service::Postgres);
    let mut connection = local_connection();
    let sql = "SELECT g FROM pg_catalog.generate_series(1, 1000) AS g";
    let rows = connection.query(&query_request(sql, vec![], 10_000, 5_000)).expect("query");
    let batches = testing::drain(rows, &mut connection, 100).expect("rows");
    // The first Execute asks for 64 rows (their width unknown), the next ones for `max_rows`.
    let mut sizes = vec![64];
    sizes.extend([100; 9]);
    sizes.push(36);
    assert_eq!(batches.iter().map(|b| b.row_count).collect::<Vec<_>>(), sizes);
    let rows = connection.query(&query_request(sql, vec![], 150, 5_000)).expect("query");
    let batches = testing::drain(rows, &mut connection, 100).expect("rows");
    assert_eq!(batches.iter().map(|b| b.row_count).collect::<Vec<_>>(), [64, 86]);
    assert_usable(&mut connection);
}

#[inlet_tests::test]
fn wide_rows_make_smaller_batches_and_huge_ones_fail_cleanly() {
    require::service(Service::Postgres);
    let mut connection = local_connection();
    let wide = "SELECT pg_catalog.repeat('x', 100000) FROM pg_catalog.generate_series(1, 200)";
    let batches = run(&mut connection, &query_request(wide, vec![], 10_000, 5_000)).expect("wide rows");
    let sizes: Vec<u32> = batches.iter().map(|b| b.row_count).collect();
    assert_eq!(sizes.iter().sum::<u32>(), 200);
    assert!(sizes[0] == 64 && sizes[1..].iter().all(|n| *n <= 42), "batches near 4 MiB: {sizes:?}");
    let huge = "SELECT pg_catalog.repeat('x', 1000000) FROM pg_catalog.generate_series(1, 40)";
    let error = run(&mut connection, &query_request(huge, vec![], 10_000, 5_000)).expect_err("too wide");
    assert_eq!(error.kind, ErrorKind::Protocol);
    assert!(error.message.contains("16 MiB"), "{}", error.message);
    assert_usable(&mut connection);
}

#[inlet_tests::test]
fn dropping_rows_mid_result_leaves_the_connection_usable() {
    require::service(Service::Postgres);
    let mut connection = local_connection();
    let sql = "SELECT g FROM pg_catalog.generate_series(1, 100000) AS g";
    let mut rows = connection.query(&query_request(sql, vec![], 1_000_000, 5_000)).expect("query");
    let first = rows.next(&mut connection, 10).expect("next").expect("a batch");
    assert_eq!(first.row_count, 10);
    rows.close(&mut connection);
    drop(rows);
    assert_usable(&mut connection);
}

#[inlet_tests::test]
fn writes_are_refused_by_the_server() {
    require::service(Service::Postgres);
    let mut connection = local_connection();
    for sql in [
        "CREATE TABLE inlet_must_not_exist (a int)",
        "WITH w AS (INSERT INTO pg_catalog.pg_description VALUES (0, 0, 0, 'x') RETURNING 1) SELECT * FROM w",
    ] {
        let error = run(&mut connection, &query_request(sql, vec![], 10, 5_000)).expect_err("refused");
        assert_eq!(error.kind, ErrorKind::Permission, "{sql}: {}", error.message);
        assert!(error.message.contains("25006"), "{}", error.message);
        assert_usable(&mut connection);
    }
    // Past the transaction's first snapshot, read-only cannot be lifted.
    let lift = "SELECT pg_catalog.set_config('transaction_read_only', 'off', true)";
    let error = run(&mut connection, &query_request(lift, vec![], 10, 5_000)).expect_err("cannot lift read-only");
    assert!(error.message.contains("read-write"), "{error:?}");
    assert_usable(&mut connection);
    let error = run(&mut connection, &query_request("SET TRANSACTION READ WRITE", vec![], 10, 5_000));
    let error = error.expect_err("cannot lift read-only");
    assert!(error.message.contains("read-write"), "{error:?}");
    assert_usable(&mut connection);
}

#[inlet_tests::test]
fn query_errors_have_kinds_and_leave_the_connection_usable() {
    require::service(Service::Postgres);
    let mut connection = local_connection();
    let cases = [
        ("SELEC 1", ErrorKind::Config),
        ("SELECT * FROM inlet_no_such_table", ErrorKind::NotFound),
        // The extended protocol takes one statement: no second one after a `;`.
        ("SELECT 1; SELECT 2", ErrorKind::Config),
    ];
    for (sql, kind) in cases {
        let error = run(&mut connection, &query_request(sql, vec![], 10, 5_000)).expect_err("an error");
        assert_eq!(error.kind, kind, "{sql}: {}", error.message);
        assert_usable(&mut connection);
    }
    // The statement timeout fires at the server, mid-result.
    let error = run(&mut connection, &query_request("SELECT pg_catalog.pg_sleep(2)", vec![], 10, 100));
    let error = error.expect_err("timeout");
    assert_eq!(error.kind, ErrorKind::Timeout, "{}", error.message);
    assert_usable(&mut connection);
    // A value that does not parse as its column's type fails only this query.
    let error = run(&mut connection, &query_request("SELECT $1::int4", vec![Parameter::Text("x".into())], 10, 5_000));
    assert!(error.is_err());
    assert_usable(&mut connection);
}

#[inlet_tests::test]
fn preview_reads_the_first_rows_of_a_relation() {
    require::service(Service::Postgres);
    let mut connection = local_connection();
    let request = PreviewRequest {
        schema: "pg_catalog".into(),
        object: "pg_type".into(),
        columns: vec!["typname".into(), "oid".into()],
        limit: 5,
    };
    let rows = connection.preview(&request).expect("preview");
    let names: Vec<_> = rows.columns().into_iter().map(|c| (c.name, c.data_type)).collect();
    assert_eq!(names, [("typname".into(), "string".into()), ("oid".into(), "other".into())]);
    let batches = testing::drain(rows, &mut connection, 2).expect("rows");
    assert_eq!(batches.iter().map(|b| b.row_count).collect::<Vec<_>>(), [2, 2, 1]);
    let missing = PreviewRequest { object: "no_such_relation".into(), ..request };
    let error = connection.preview(&missing).err().expect("missing");
    assert_eq!(error.kind, ErrorKind::NotFound, "{}", error.message);
    assert_usable(&mut connection);
}

/// Run by the e2e harness (`inlet_tests::harness`): a test whose server is
/// missing is reported as ignored, or fails under `INLET_REQUIRE_SERVICES=1`.
fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
