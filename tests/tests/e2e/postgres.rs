//! End-to-end tests of the postgres plugin (types `postgresql` and
//! `redshift`) through the real host: `inlet plugin exec target/plugins/postgres`.
//!
//! - the shared server on 127.0.0.1:5432 (trust auth) with a fresh database
//!   loaded from tests/fixtures/postgres/catalog.sql: discovery, paging, filters;
//! - a throwaway cluster (`inlet_tests::pg_cluster`): SCRAM, md5, TLS modes,
//!   and through a server: a manual test that notices a password changed;
//! - addresses that cannot or must not be reached.

use std::time::{Duration, Instant};

use inlet_tests::catalog::{column, step, table, table_names};
use inlet_tests::pg_cluster::{self, PgCluster};
use inlet_tests::pg_fixture::FixtureDb;
use inlet_tests::require::{self, Service};
use inlet_tests::server::{Backend, Inlet};
use inlet_tests::{ExecOutcome, exec, free_port, plugin_dir};
use serde_json::{Value, json};

fn run(source_type: &str, config: &Value, password: Option<&str>, command: &str, extra: &[&str]) -> ExecOutcome {
    let secrets = password.map(|p| json!({ "password": p }));
    exec(&plugin_dir("postgres"), source_type, config, secrets.as_ref(), command, extra)
}

fn local_config(database: &str) -> Value {
    json!({"host": "127.0.0.1", "port": 5432, "database": database, "username": "postgres"})
}

fn require_local_postgres() {
    require::service(Service::Postgres);
    require::tool("psql");
}

fn constraint<'a>(table: &'a Value, kind: &str) -> &'a Value {
    table["constraints"]
        .as_array()
        .and_then(|constraints| constraints.iter().find(|c| c["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} constraint in {table}"))
}

#[inlet_tests::test]
fn test_reports_the_version_and_every_step() {
    require_local_postgres();
    let outcome = run("postgresql", &local_config("postgres"), None, "test", &[]);
    assert!(outcome.success, "{:?}", outcome);
    assert!(outcome.json["server_version"].as_str().is_some_and(|v| v.starts_with("PostgreSQL ")));
    let names: Vec<&str> =
        outcome.json["steps"].as_array().expect("steps").iter().filter_map(|s| s["name"].as_str()).collect();
    // The shared server has TLS on, and the default ssl_mode is prefer.
    assert_eq!(names, ["tcp connect", "tls", "authenticate", "query version", "catalog permission"]);
    assert_eq!(step(&outcome, "authenticate")["message"], "trust");
    assert!(outcome.json["steps"].as_array().expect("steps").iter().all(|s| s["passed"] == true));
}

#[inlet_tests::test]
fn redshift_type_connects_over_the_same_protocol() {
    // Real Redshift cannot run here: this checks only that the `redshift`
    // type's connect path (no startup options, SET statement_timeout) and
    // its test queries work against a PostgreSQL server.
    require_local_postgres();
    let outcome = run("redshift", &local_config("postgres"), None, "test", &[]);
    assert!(outcome.success, "{:?}", outcome);
}

#[inlet_tests::test]
fn discovers_the_fixture_catalog_field_by_field() {
    require_local_postgres();
    let db = FixtureDb::create("fixture", "fields");
    let outcome = run("postgresql", &local_config(&db.0), None, "discover", &[]);
    assert!(outcome.success, "{:?}", outcome);
    assert_eq!(
        table_names(&outcome),
        ["crm.customers", "o'reilly.notes", "sales.big_orders", "sales.order_totals", "sales.orders"]
    );

    let customers = table(&outcome, "crm", "customers");
    assert_eq!(customers["kind"], "table");
    assert_eq!(customers["comment"], "People who buy things");
    assert_eq!(customers["row_estimate"], 2);
    assert!(customers["size_bytes"].as_u64().is_some_and(|size| size > 0));
    let id = column(customers, "id");
    assert_eq!(
        (id["ordinal"].clone(), id["data_type"].clone(), id["native_type"].clone(), id["nullable"].clone()),
        (json!(1), json!("int32"), json!("integer"), json!(false))
    );
    let email = column(customers, "email");
    assert_eq!(email["data_type"], "string");
    assert_eq!(email["native_type"], "character varying(120)");
    assert_eq!(email["max_length"], 120);
    assert_eq!(email["nullable"], false);
    assert_eq!(email["comment"], "Primary contact address");
    assert_eq!(email["default_value"], Value::Null);
    let mood = column(customers, "mood");
    assert_eq!((mood["data_type"].as_str(), mood["native_type"].as_str()), (Some("enum"), Some("crm.mood")));
    assert_eq!(mood["nullable"], true);
    let tags = column(customers, "tags");
    assert_eq!((tags["data_type"].as_str(), tags["native_type"].as_str()), (Some("array"), Some("text[]")));
    let created = column(customers, "created_at");
    assert_eq!(created["data_type"], "timestamp-tz");
    assert_eq!(created["default_value"], "now()");
    assert_eq!(constraint(customers, "primary_key")["columns"], json!(["id"]));
    let unique = constraint(customers, "unique");
    assert_eq!((unique["name"].as_str(), unique["columns"].clone()), (Some("customers_email_key"), json!(["email"])));

    let orders = table(&outcome, "sales", "orders");
    assert_eq!(orders["comment"], "One row per order");
    let id = column(orders, "id");
    assert_eq!(id["data_type"], "int64");
    assert_eq!(id["default_value"], "nextval('sales.orders_id_seq'::regclass)");
    let total = column(orders, "total");
    assert_eq!(total["data_type"], "decimal");
    assert_eq!(total["native_type"], "numeric(10,2)");
    assert_eq!((total["precision"].clone(), total["scale"].clone()), (json!(10), json!(2)));
    assert_eq!(column(orders, "status")["default_value"], "'new'::text");
    let code = column(orders, "code");
    assert_eq!((code["native_type"].as_str(), code["max_length"].clone()), (Some("character(8)"), json!(8)));
    assert_eq!(code["nullable"], true);
    let fk = constraint(orders, "foreign_key");
    assert_eq!(fk["name"], "orders_customer_fkey");
    assert_eq!(fk["columns"], json!(["customer_id"]));
    assert_eq!(fk["referenced_schema"], "crm");
    assert_eq!(fk["referenced_table"], "customers");
    assert_eq!(fk["referenced_columns"], json!(["id"]));
    let check = constraint(orders, "check");
    assert_eq!(check["name"], "orders_total_positive");
    assert_eq!(check["columns"], json!(["total"]));
    assert_eq!(check["definition"], "CHECK ((total >= (0)::numeric))");
    assert_eq!(constraint(orders, "unique")["columns"], json!(["customer_id", "id"]));

    let view = table(&outcome, "sales", "big_orders");
    assert_eq!(view["kind"], "view");
    assert_eq!(view["row_estimate"], Value::Null);
    assert_eq!(column(view, "total")["native_type"], "numeric(10,2)");
    let matview = table(&outcome, "sales", "order_totals");
    assert_eq!(matview["kind"], "materialized_view");
    assert_eq!(column(matview, "total")["data_type"], "decimal");
}

#[inlet_tests::test]
fn paging_walks_every_table_once_and_filters_schemas() {
    require_local_postgres();
    let db = FixtureDb::create("fixture", "paging");
    let config = local_config(&db.0);
    let whole = run("postgresql", &config, None, "discover", &[]);
    let one_by_one = run("postgresql", &config, None, "discover", &["--page-size", "1"]);
    assert!(one_by_one.success, "{:?}", one_by_one);
    assert_eq!(one_by_one.json["pages"], 5);
    assert_eq!(table_names(&one_by_one), table_names(&whole));
    // A foreign key whose referenced table is on another page still names its columns.
    assert_eq!(constraint(table(&one_by_one, "sales", "orders"), "foreign_key")["referenced_columns"], json!(["id"]));

    let included = run("postgresql", &config, None, "discover", &["--include-schema", "o'reilly"]);
    assert_eq!(table_names(&included), ["o'reilly.notes"]);
    let excluded = run(
        "postgresql",
        &config,
        None,
        "discover",
        &["--exclude-schema", "sales", "--exclude-schema", "o'reilly", "--page-size", "2"],
    );
    assert_eq!(table_names(&excluded), ["crm.customers"]);
    // System schemas appear only when asked for by name.
    let system = run("postgresql", &config, None, "discover", &["--include-schema", "pg_catalog"]);
    assert!(table_names(&system).contains(&"pg_catalog.pg_class".to_owned()));
}

fn cluster_config(cluster: &PgCluster, user: &str, ssl_mode: &str) -> Value {
    json!({"host": "localhost", "port": cluster.port, "database": "postgres", "username": user, "ssl_mode": ssl_mode})
}

#[inlet_tests::test]
fn scram_and_md5_logins_and_a_wrong_password() {
    pg_cluster::require();
    let cluster = PgCluster::start().expect("start the cluster");

    let scram = run(
        "postgresql",
        &cluster_config(&cluster, pg_cluster::SCRAM_USER, "disable"),
        Some(pg_cluster::SCRAM_PASSWORD),
        "test",
        &[],
    );
    assert!(scram.success, "{:?}", scram);
    assert_eq!(step(&scram, "authenticate")["message"], "scram-sha-256");

    let md5 = run(
        "postgresql",
        &cluster_config(&cluster, pg_cluster::MD5_USER, "prefer"),
        Some(pg_cluster::MD5_PASSWORD),
        "test",
        &[],
    );
    assert!(md5.success, "{:?}", md5);
    assert_eq!(step(&md5, "authenticate")["message"], "md5");

    let wrong = "Wr0ng-pa55word-e2e";
    let failed =
        run("postgresql", &cluster_config(&cluster, pg_cluster::SCRAM_USER, "require"), Some(wrong), "test", &[]);
    assert!(!failed.success);
    assert_eq!(failed.error_kind(), Some("auth"), "{:?}", failed);
    assert_eq!(failed.json["error"]["retryable"], false);
    assert_eq!(step(&failed, "authenticate")["passed"], false);
    assert!(!failed.json.to_string().contains(wrong) && !failed.stderr.contains(wrong));
}

#[inlet_tests::test]
fn tls_modes() {
    pg_cluster::require();
    let cluster = PgCluster::start().expect("start the cluster");

    let require = run(
        "postgresql",
        &cluster_config(&cluster, pg_cluster::SCRAM_USER, "require"),
        Some(pg_cluster::SCRAM_PASSWORD),
        "test",
        &[],
    );
    assert!(require.success, "{:?}", require);
    let tls = step(&require, "tls");
    assert_eq!(tls["passed"], true);
    assert!(tls["message"].as_str().is_some_and(|m| m.starts_with("TLS 1.")), "{tls}");

    // The server certificate names `localhost` and is signed by the test CA.
    let mut full = cluster_config(&cluster, pg_cluster::SSL_ONLY_USER, "verify-full");
    full["ssl_root_cert"] = json!(cluster.ca_pem);
    let verified = run("postgresql", &full, Some(pg_cluster::SSL_ONLY_PASSWORD), "test", &[]);
    assert!(verified.success, "{:?}", verified);

    let untrusted = run(
        "postgresql",
        &cluster_config(&cluster, pg_cluster::SSL_ONLY_USER, "verify-full"),
        Some(pg_cluster::SSL_ONLY_PASSWORD),
        "test",
        &[],
    );
    assert!(!untrusted.success);
    assert_eq!(step(&untrusted, "tls")["passed"], false);
    assert!(untrusted.json["error"]["message"].as_str().is_some_and(|m| m.contains("certificate")), "{:?}", untrusted);

    let plaintext = run(
        "postgresql",
        &cluster_config(&cluster, pg_cluster::SSL_ONLY_USER, "disable"),
        Some(pg_cluster::SSL_ONLY_PASSWORD),
        "test",
        &[],
    );
    assert!(!plaintext.success);
    // PostgreSQL answers SQLSTATE 28000 (pg_hba.conf rejects the connection).
    assert!(matches!(plaintext.error_kind(), Some("auth" | "permission")), "{:?}", plaintext);
}

#[inlet_tests::test]
fn a_closed_port_is_unreachable() {
    let mut config = local_config("postgres");
    config["port"] = json!(free_port());
    let outcome = run("postgresql", &config, None, "test", &[]);
    assert!(!outcome.success);
    assert_eq!(outcome.error_kind(), Some("unreachable"), "{:?}", outcome);
}

#[inlet_tests::test]
fn the_metadata_address_is_refused_without_waiting() {
    let config = json!({"host": "169.254.169.254", "port": 5432, "database": "postgres", "username": "postgres"});
    let started = Instant::now();
    let outcome = run("postgresql", &config, None, "test", &["--connect-timeout-s", "20"]);
    assert!(!outcome.success);
    assert_eq!(outcome.error_kind(), Some("permission"), "{:?}", outcome);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[inlet_tests::test]
fn a_config_outside_the_schema_is_a_config_error() {
    let config = json!({"host": "127.0.0.1", "database": "postgres", "username": "postgres", "ssl_mode": "sometimes"});
    let outcome = run("postgresql", &config, None, "test", &[]);
    assert!(!outcome.success);
    assert_eq!(outcome.error_kind(), Some("config"), "{:?}", outcome);
}

/// A manual test (`POST /{id}/test`) opens a new connection: its steps show
/// TCP and authentication, and a password changed at the server fails it
/// with kind `auth` even though the pool holds a connection opened with the
/// old one. Scheduled checks may reuse; a person pressing "test" must not.
#[inlet_tests::test]
fn a_manual_test_connects_anew_and_notices_a_changed_password() {
    pg_cluster::require();
    let cluster = PgCluster::start().expect("start the cluster");
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "password rotation",
        "type": "postgresql",
        "config": cluster_config(&cluster, pg_cluster::SCRAM_USER, "disable"),
        "credentials": { "password": pg_cluster::SCRAM_PASSWORD },
        "health_check_interval_s": 3600
    }));
    let path = format!("/api/v1/data-sources/{}", created["id"].as_str().expect("id"));
    assert_eq!(api.wait_settled(created["id"].as_str().expect("id"))["status"], "active");
    let step_names = |outcome: &Value| -> Vec<String> {
        outcome["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str().map(str::to_owned))
            .collect()
    };

    // Twice: the second would reuse the first's pooled connection if it could.
    for _ in 0..2 {
        let passed = api.post(&format!("{path}/test"), &json!({})).expect(200).json();
        assert_eq!(passed["ok"], true, "{passed}");
        let names = step_names(&passed);
        assert!(names.iter().any(|n| n == "tcp connect") && names.iter().any(|n| n == "authenticate"), "{passed}");
        assert!(!names.iter().any(|n| n == "pooled_connection"), "a manual test never reuses: {passed}");
    }

    let rotated = "rotated-Pa55-qe73np";
    cluster.psql(&format!("ALTER ROLE {} PASSWORD '{rotated}'", pg_cluster::SCRAM_USER)).expect("rotate");
    let failed = api.post(&format!("{path}/test"), &json!({})).expect(200).json();
    assert_eq!(failed["ok"], false, "the old password no longer works: {failed}");
    assert_eq!(failed["error"]["kind"], "auth", "{failed}");
    let names = step_names(&failed);
    assert!(names.iter().any(|n| n == "tcp connect"), "the connect steps show: {failed}");
    let auth = failed["steps"].as_array().into_iter().flatten().find(|s| s["name"] == "authenticate");
    assert_eq!(auth.map(|s| s["passed"].clone()), Some(json!(false)), "{failed}");
    let data_source = api.get(&path).expect(200).json();
    assert_eq!(data_source["status"], "failed", "{data_source}");

    // The fix: the new password as the data source's credential.
    api.patch(&format!("{path}/credentials"), &json!({ "credentials": { "password": rotated } })).expect(200);
    api.wait_settled(created["id"].as_str().expect("id"));
    let fixed = api.post(&format!("{path}/test"), &json!({})).expect(200).json();
    assert_eq!(fixed["ok"], true, "{fixed}");
    assert!(step_names(&fixed).iter().any(|n| n == "authenticate"), "{fixed}");
    assert_eq!(api.get(&path).expect(200).json()["status"], "active");
    let serialized = format!("{failed}{fixed}{}", inlet.server_log());
    assert!(!serialized.contains(rotated) && !serialized.contains(pg_cluster::SCRAM_PASSWORD), "no password leaks");
}
