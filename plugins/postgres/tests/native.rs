//! The connector run natively (no sandbox) against real servers: the shared
//! PostgreSQL on 127.0.0.1:5432 (trust auth) and a throwaway cluster with
//! SCRAM, md5 and TLS (see `inlet_tests::pg_cluster`). The same code runs in
//! the wasm component; the end-to-end tests in tests/tests/postgres.rs drive
//! it through the host.

use inlet_plugin_postgres::{PgConnection, Postgres};
use inlet_sdk::Failure;
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{self, step};
use inlet_tests::pg_cluster::{self, PgCluster};
use inlet_tests::pg_fixture::FixtureDb;
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

#[test]
fn trust_login_reports_steps_and_version() {
    if !inlet_tests::service_available("PostgreSQL", 5432) {
        return;
    }
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

#[test]
fn a_missing_database_is_not_found() {
    if !inlet_tests::service_available("PostgreSQL", 5432) {
        return;
    }
    let failure = connect(&request("postgresql", 5432, local_config("inlet_no_such_db"), None)).err().expect("failure");
    assert_eq!(failure.error.kind, ErrorKind::NotFound, "{:?}", failure.error);
    assert!(failure.error.message.contains("3D000"));
    assert!(!step(&failure.steps, "authenticate").passed);
}

#[test]
fn ssl_disable_skips_the_tls_step() {
    if !inlet_tests::service_available("PostgreSQL", 5432) {
        return;
    }
    let mut config = local_config("postgres");
    config["ssl_mode"] = json!("disable");
    let (_, steps) = connect(&request("postgresql", 5432, config, None)).expect("connect");
    assert!(steps.iter().all(|s| s.name != "tls"), "{steps:?}");
}

#[test]
fn a_closed_port_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let failure = connect(&request("postgresql", port, local_config("postgres"), None)).err().expect("failure");
    assert_eq!(failure.error.kind, ErrorKind::Unreachable);
    assert!(failure.error.retryable);
    assert!(!step(&failure.steps, "tcp connect").passed);
}

#[test]
fn a_bad_page_token_leaves_the_session_usable() {
    if !inlet_tests::service_available("PostgreSQL", 5432) {
        return;
    }
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

#[test]
fn discovers_the_fixture_catalog() {
    if !inlet_tests::service_available("PostgreSQL", 5432) || !inlet_tests::tool_available("psql") {
        return;
    }
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

#[test]
fn password_methods_and_tls_modes_against_a_throwaway_cluster() {
    if !pg_cluster::available() {
        return;
    }
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
