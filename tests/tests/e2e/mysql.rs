//! End-to-end tests of the mysql plugin (types `mysql` and `mariadb`) through
//! the real host: `inlet plugin exec target/plugins/mysql`.
//!
//! - the shared MariaDB on 127.0.0.1:3306 (root, empty password), with fresh
//!   databases and users made by the `mariadb` CLI and dropped afterwards:
//!   discovery column by column, paging, filters, password logins, privileges;
//! - a throwaway `mariadbd` with a test CA (see [`TlsServer`]) for TLS, since
//!   the shared server has none;
//! - addresses that cannot be reached.
//!
//! MariaDB has no caching_sha2_password on the server side: that plugin (fast
//! auth, cleartext over TLS, and the RSA path) is covered by the unit tests in
//! plugins/mysql/src/auth.rs, not here.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inlet_tests::catalog::{column, step, table, table_names};
use inlet_tests::require::{self, Service};
use inlet_tests::server::{Backend, Inlet};
use inlet_tests::{ExecOutcome, exec, free_port, plugin_dir};
use serde_json::{Value, json};

const PORT: u16 = 3306;

fn run(source_type: &str, config: &Value, password: Option<&str>, command: &str, extra: &[&str]) -> ExecOutcome {
    let secrets = password.map(|p| json!({ "password": p }));
    exec(&plugin_dir("mysql"), source_type, config, secrets.as_ref(), command, extra)
}

fn config(user: &str) -> Value {
    json!({"host": "127.0.0.1", "port": PORT, "username": user})
}

/// The `mariadb` client, or `mysql` where only that name exists.
fn cli() -> &'static str {
    let on_path = |tool: &str| {
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).exists()))
    };
    if on_path("mariadb") { "mariadb" } else { "mysql" }
}

fn require_mariadb() {
    require::service(Service::MariaDb);
    require::tool(cli());
}

/// Runs SQL as root over TCP; panics with the server's message on failure.
fn sql_at(port: u16, script: &str) -> String {
    let mut child = Command::new(cli())
        .args(["--no-defaults", "-uroot", "-h127.0.0.1", "--protocol=TCP", "-N", "-B"])
        .arg(format!("-P{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the mariadb client");
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("write SQL");
    let output = child.wait_with_output().expect("mariadb client");
    assert!(output.status.success(), "SQL failed: {}\n{script}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A name unique to this test run and tag (tests run in parallel threads).
fn unique(tag: &str) -> String {
    format!("inlet_my_{}_{tag}", std::process::id())
}

/// Databases and users made for one test, dropped when it ends (even on panic).
struct Scratch {
    port: u16,
    databases: Vec<String>,
    users: Vec<String>,
}

impl Scratch {
    fn new(port: u16) -> Self {
        Self { port, databases: Vec::new(), users: Vec::new() }
    }

    fn database(&mut self, name: &str, script: &str) {
        sql_at(
            self.port,
            &format!(
                "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4; USE `{name}`; {script}"
            ),
        );
        self.databases.push(name.to_owned());
    }

    /// A mysql_native_password user reachable from anywhere, with the given grants.
    fn user(&mut self, name: &str, password: &str, extra: &str, grants: &[&str]) {
        let mut script = format!(
            "DROP USER IF EXISTS '{name}'@'%'; \
             CREATE USER '{name}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('{password}') {extra};"
        );
        for grant in grants {
            script.push_str(&format!("GRANT {grant} TO '{name}'@'%';"));
        }
        sql_at(self.port, &script);
        self.users.push(name.to_owned());
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut script = String::new();
        for user in &self.users {
            script.push_str(&format!("DROP USER IF EXISTS '{user}'@'%';"));
        }
        // Newest first: a later database's foreign keys point into an earlier one.
        for db in self.databases.iter().rev() {
            script.push_str(&format!("DROP DATABASE IF EXISTS `{db}`;"));
        }
        if !script.is_empty() {
            // Best effort (--force: go on after an error): a failed cleanup
            // must not hide the test's own failure.
            let _ = Command::new(cli())
                .args(["--no-defaults", "--force", "-uroot", "-h127.0.0.1", "--protocol=TCP"])
                .arg(format!("-P{}", self.port))
                .arg("-e")
                .arg(script)
                .output();
        }
    }
}

/// The catalog fixture: two databases, foreign keys (composite, and across
/// databases), enum, set, unsigned ints, JSON, generated columns, a view,
/// check constraints, comments, two tables whose names differ only in case,
/// and a system-versioned table (MariaDB's TABLE_TYPE `SYSTEM VERSIONED`).
fn fixture(scratch: &mut Scratch, main: &str, other: &str) {
    scratch.database(
        main,
        "CREATE TABLE customers (
           id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
           email VARCHAR(120) NOT NULL COMMENT 'Primary contact address',
           mood ENUM('happy','sad','meh') NOT NULL DEFAULT 'meh',
           tags SET('vip','new','churned') DEFAULT 'vip,new',
           profile JSON,
           score TINYINT UNSIGNED DEFAULT 0,
           balance BIGINT UNSIGNED,
           active BOOL NOT NULL DEFAULT TRUE,
           note VARCHAR(20) DEFAULT 'it''s',
           created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
           UNIQUE KEY customers_email_key (email)
         ) ENGINE=InnoDB COMMENT='People who buy things';
         INSERT INTO customers (email) VALUES ('a@example.com'), ('b@example.com');
         CREATE TABLE orders (
           id BIGINT NOT NULL AUTO_INCREMENT,
           customer_id INT UNSIGNED NOT NULL,
           price DECIMAL(10,2) NOT NULL,
           qty SMALLINT NOT NULL DEFAULT 1,
           total DECIMAL(12,2) AS (price * qty) STORED COMMENT 'price times qty',
           label VARCHAR(40) AS (CONCAT('#', id)) VIRTUAL,
           status VARCHAR(16) NOT NULL DEFAULT 'new',
           PRIMARY KEY (id),
           UNIQUE KEY orders_customer_id (customer_id, id),
           CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE,
           CONSTRAINT orders_qty_positive CHECK (qty > 0)
         ) ENGINE=InnoDB COMMENT='One row per order';
         CREATE TABLE order_lines (
           order_id BIGINT NOT NULL,
           line SMALLINT UNSIGNED NOT NULL,
           sku CHAR(8) NOT NULL,
           PRIMARY KEY (order_id, line),
           CONSTRAINT lines_order_fkey FOREIGN KEY (order_id) REFERENCES orders (id)
         ) ENGINE=InnoDB;
         CREATE TABLE shipments (
           id INT NOT NULL PRIMARY KEY,
           order_id BIGINT NOT NULL,
           line SMALLINT UNSIGNED NOT NULL,
           CONSTRAINT shipments_line_fkey FOREIGN KEY (order_id, line) REFERENCES order_lines (order_id, line)
         ) ENGINE=InnoDB;
         CREATE VIEW big_orders AS SELECT id, customer_id, total FROM orders WHERE total > 100;
         CREATE TABLE `Zeta` (a INT);
         CREATE TABLE zeta (b INT);
         ANALYZE TABLE customers;",
    );
    scratch.database(
        other,
        &format!(
            "CREATE TABLE `o'reilly` (
               id INT NOT NULL PRIMARY KEY,
               customer_id INT UNSIGNED,
               CONSTRAINT notes_customer_fkey FOREIGN KEY (customer_id) REFERENCES `{main}`.customers (id)
             ) ENGINE=InnoDB COMMENT='Notes, in another database';
             CREATE TABLE history (id INT NOT NULL PRIMARY KEY, v INT) WITH SYSTEM VERSIONING;"
        ),
    );
}

fn constraint<'a>(table: &'a Value, name: &str) -> &'a Value {
    table["constraints"]
        .as_array()
        .and_then(|constraints| constraints.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no constraint {name} in {table}"))
}

fn step_names(outcome: &ExecOutcome) -> Vec<String> {
    outcome.json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect()
}

/// (data_type, native_type, nullable, default_value) of a column.
fn shape(column: &Value) -> (Value, Value, Value, Value) {
    (
        column["data_type"].clone(),
        column["native_type"].clone(),
        column["nullable"].clone(),
        column["default_value"].clone(),
    )
}

fn server_has_tls(port: u16) -> bool {
    sql_at(port, "SELECT @@have_ssl").trim() == "YES"
}

#[inlet_tests::test]
fn test_reports_the_version_and_every_step() {
    require_mariadb();
    let outcome = run("mariadb", &config("root"), None, "test", &[]);
    assert!(outcome.success, "{outcome:?}");
    let version = outcome.json["server_version"].as_str().expect("server_version");
    assert!(version.starts_with("MariaDB 10.") || version.starts_with("MariaDB 11."), "{version}");
    assert_eq!(
        step_names(&outcome),
        ["tcp connect", "greeting", "tls", "authenticate", "session setup", "query version", "catalog permission"]
    );
    assert!(outcome.json["steps"].as_array().expect("steps").iter().all(|s| s["passed"] == true));
    assert_eq!(step(&outcome, "authenticate")["message"], "mysql_native_password");
    assert!(step(&outcome, "greeting")["message"].as_str().is_some_and(|m| m.starts_with("MariaDB ")));
    // ssl_mode defaults to preferred: TLS when the server has it, plaintext otherwise.
    let tls = step(&outcome, "tls")["message"].as_str().expect("tls note").to_owned();
    if server_has_tls(PORT) {
        assert!(tls.starts_with("TLS 1."), "{tls}");
    } else {
        assert!(tls.contains("does not offer TLS"), "{tls}");
    }
}

#[inlet_tests::test]
fn the_mysql_type_works_against_mariadb_and_says_so() {
    require_mariadb();
    let mut with_db = config("root");
    with_db["database"] = json!("test");
    let outcome = run("mysql", &with_db, None, "test", &[]);
    assert!(outcome.success, "{outcome:?}");
    let note = step(&outcome, "query version")["message"].as_str().expect("note");
    assert!(note.contains("the server is MariaDB, the data source type mysql"), "{note}");
}

#[inlet_tests::test]
fn discovers_the_fixture_catalog_column_by_column() {
    require_mariadb();
    let (main, other) = (unique("fields"), unique("fields_b"));
    let mut scratch = Scratch::new(PORT);
    fixture(&mut scratch, &main, &other);
    let outcome =
        run("mariadb", &config("root"), None, "discover", &["--include-schema", &main, "--include-schema", &other]);
    assert!(outcome.success, "{outcome:?}");
    // Byte order: `Zeta` before `zeta`, both present.
    let expected: Vec<String> = ["Zeta", "big_orders", "customers", "order_lines", "orders", "shipments", "zeta"]
        .iter()
        .map(|t| format!("{main}.{t}"))
        .chain([format!("{other}.history"), format!("{other}.o'reilly")])
        .collect();
    assert_eq!(table_names(&outcome), expected);

    let customers = table(&outcome, &main, "customers");
    assert_eq!(customers["kind"], "table");
    assert_eq!(customers["comment"], "People who buy things");
    assert_eq!(customers["row_estimate"], 2);
    assert!(customers["size_bytes"].as_u64().is_some_and(|size| size > 0), "{customers}");
    let id = column(customers, "id");
    assert_eq!(shape(id), (json!("uint32"), json!("int(10) unsigned"), json!(false), Value::Null));
    assert_eq!(id["ordinal"], 1);
    let email = column(customers, "email");
    assert_eq!(shape(email), (json!("string"), json!("varchar(120)"), json!(false), Value::Null));
    assert_eq!((email["max_length"].clone(), email["comment"].clone()), (json!(120), json!("Primary contact address")));
    assert_eq!(email["ordinal"], 2);
    assert_eq!(
        shape(column(customers, "mood")),
        (json!("enum"), json!("enum('happy','sad','meh')"), json!(false), json!("meh"))
    );
    assert_eq!(column(customers, "mood")["max_length"], Value::Null);
    assert_eq!(
        shape(column(customers, "tags")),
        (json!("other"), json!("set('vip','new','churned')"), json!(true), json!("vip,new"))
    );
    // MariaDB's JSON is a LONGTEXT with a json_valid() check; it is still json.
    let profile = column(customers, "profile");
    assert_eq!((profile["data_type"].clone(), profile["default_value"].clone()), (json!("json"), Value::Null));
    assert_eq!(
        shape(column(customers, "score")),
        (json!("uint8"), json!("tinyint(3) unsigned"), json!(true), json!("0"))
    );
    assert_eq!(column(customers, "balance")["data_type"], "uint64");
    assert_eq!(shape(column(customers, "active")), (json!("boolean"), json!("tinyint(1)"), json!(false), json!("1")));
    assert_eq!(column(customers, "note")["default_value"], "it's");
    assert_eq!(
        shape(column(customers, "created_at")),
        (json!("timestamp-tz"), json!("timestamp"), json!(false), json!("current_timestamp()"))
    );
    let pk = constraint(customers, "PRIMARY");
    assert_eq!((pk["kind"].clone(), pk["columns"].clone()), (json!("primary_key"), json!(["id"])));
    let unique_email = constraint(customers, "customers_email_key");
    assert_eq!((unique_email["kind"].clone(), unique_email["columns"].clone()), (json!("unique"), json!(["email"])));
    let json_check = constraint(customers, "profile");
    assert_eq!((json_check["kind"].clone(), json_check["columns"].clone()), (json!("check"), json!(["profile"])));
    assert_eq!(json_check["definition"], "CHECK (json_valid(`profile`))");

    let orders = table(&outcome, &main, "orders");
    assert_eq!(orders["comment"], "One row per order");
    assert_eq!(shape(column(orders, "id")), (json!("int64"), json!("bigint(20)"), json!(false), Value::Null));
    let price = column(orders, "price");
    assert_eq!(shape(price), (json!("decimal"), json!("decimal(10,2)"), json!(false), Value::Null));
    assert_eq!((price["precision"].clone(), price["scale"].clone()), (json!(10), json!(2)));
    assert_eq!(shape(column(orders, "qty")), (json!("int16"), json!("smallint(6)"), json!(false), json!("1")));
    let total = column(orders, "total");
    assert_eq!(total["default_value"], "GENERATED ALWAYS AS (`price` * `qty`) STORED");
    assert_eq!((total["comment"].clone(), total["precision"].clone()), (json!("price times qty"), json!(12)));
    assert_eq!(column(orders, "label")["default_value"], "GENERATED ALWAYS AS (concat('#',`id`)) VIRTUAL");
    assert_eq!(column(orders, "status")["default_value"], "new");
    let fk = constraint(orders, "orders_customer_fkey");
    assert_eq!(fk["kind"], "foreign_key");
    assert_eq!(fk["columns"], json!(["customer_id"]));
    assert_eq!(
        (fk["referenced_schema"].as_str(), fk["referenced_table"].as_str()),
        (Some(main.as_str()), Some("customers"))
    );
    assert_eq!(fk["referenced_columns"], json!(["id"]));
    let check = constraint(orders, "orders_qty_positive");
    assert_eq!((check["kind"].clone(), check["columns"].clone()), (json!("check"), json!(["qty"])));
    assert_eq!(check["definition"], "CHECK (`qty` > 0)");
    assert_eq!(constraint(orders, "orders_customer_id")["columns"], json!(["customer_id", "id"]));
    let kinds: Vec<&str> =
        orders["constraints"].as_array().expect("constraints").iter().filter_map(|c| c["kind"].as_str()).collect();
    assert_eq!(kinds, ["primary_key", "unique", "foreign_key", "check"]);

    let lines = table(&outcome, &main, "order_lines");
    assert_eq!(constraint(lines, "PRIMARY")["columns"], json!(["order_id", "line"]));
    assert_eq!(shape(column(lines, "sku")), (json!("string"), json!("char(8)"), json!(false), Value::Null));
    assert_eq!(column(lines, "sku")["max_length"], 8);
    let composite = constraint(table(&outcome, &main, "shipments"), "shipments_line_fkey");
    assert_eq!(composite["columns"], json!(["order_id", "line"]));
    assert_eq!(composite["referenced_table"], "order_lines");
    assert_eq!(composite["referenced_columns"], json!(["order_id", "line"]));

    let view = table(&outcome, &main, "big_orders");
    assert_eq!(view["kind"], "view");
    assert_eq!(
        (view["row_estimate"].clone(), view["size_bytes"].clone(), view["comment"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(column(view, "total")["native_type"], "decimal(12,2)");
    assert_eq!(view["constraints"], json!([]));

    let history = table(&outcome, &other, "history");
    assert_eq!(history["kind"], "table");
    // MariaDB adds the hidden period end to a versioned table's keys.
    assert_eq!(constraint(history, "PRIMARY")["columns"], json!(["id", "row_end"]));

    let notes = table(&outcome, &other, "o'reilly");
    assert_eq!(notes["comment"], "Notes, in another database");
    let across = constraint(notes, "notes_customer_fkey");
    assert_eq!(
        (across["referenced_schema"].as_str(), across["referenced_table"].as_str()),
        (Some(main.as_str()), Some("customers"))
    );
}

#[inlet_tests::test]
fn paging_walks_every_table_once_and_filters_schemas() {
    require_mariadb();
    let (main, other) = (unique("paging"), unique("paging_b"));
    let mut scratch = Scratch::new(PORT);
    fixture(&mut scratch, &main, &other);
    let both = ["--include-schema", main.as_str(), "--include-schema", other.as_str()];
    let whole = run("mariadb", &config("root"), None, "discover", &both);
    let mut one_by_one_args = both.to_vec();
    one_by_one_args.extend(["--page-size", "1"]);
    let one_by_one = run("mariadb", &config("root"), None, "discover", &one_by_one_args);
    assert!(one_by_one.success, "{one_by_one:?}");
    assert_eq!(one_by_one.json["pages"], 9);
    assert_eq!(table_names(&one_by_one), table_names(&whole));
    // Constraints do not depend on which page a referenced table is on.
    assert_eq!(table(&one_by_one, &main, "orders"), table(&whole, &main, "orders"));

    let excluded = run(
        "mariadb",
        &config("root"),
        None,
        "discover",
        &["--include-schema", &main, "--include-schema", &other, "--exclude-schema", &main, "--page-size", "3"],
    );
    assert_eq!(table_names(&excluded), [format!("{other}.history"), format!("{other}.o'reilly")]);

    // The config's `schemas` list does the same without a request filter.
    let mut only_other = config("root");
    only_other["schemas"] = json!([other]);
    assert_eq!(
        table_names(&run("mariadb", &only_other, None, "discover", &[])),
        [format!("{other}.history"), format!("{other}.o'reilly")]
    );

    // Without filters: the fixture is there, the system schemas are not.
    let all = table_names(&run("mariadb", &config("root"), None, "discover", &[]));
    assert!(all.contains(&format!("{main}.orders")), "{all:?}");
    assert!(!all.iter().any(|n| n.starts_with("mysql.") || n.starts_with("information_schema.")), "{all:?}");
    // …unless named, or switched on in the config.
    let system = run("mariadb", &config("root"), None, "discover", &["--include-schema", "mysql"]);
    assert!(
        table_names(&system).contains(&"mysql.user".to_owned())
            || table_names(&system).contains(&"mysql.global_priv".to_owned())
    );
    let mut with_system = config("root");
    with_system["include_system_schemas"] = json!(true);
    let everything = table_names(&run("mariadb", &with_system, None, "discover", &["--page-size", "500"]));
    assert!(everything.iter().any(|n| n.starts_with("information_schema.")), "{everything:?}");
}

#[inlet_tests::test]
fn password_logins_and_a_wrong_password() {
    require_mariadb();
    let db = unique("login");
    let user = unique("native");
    let password = "Native-Pa55-e2e-qv81";
    let mut scratch = Scratch::new(PORT);
    scratch.database(&db, "CREATE TABLE t (id INT PRIMARY KEY);");
    scratch.user(&user, password, "", &[&format!("SELECT ON `{db}`.*")]);
    let mut with_db = config(&user);
    with_db["database"] = json!(db);

    let ok = run("mariadb", &with_db, Some(password), "test", &[]);
    assert!(ok.success, "{ok:?}");
    assert_eq!(step(&ok, "authenticate")["message"], "mysql_native_password");
    let note = step(&ok, "catalog permission")["message"].as_str().expect("note");
    assert!(note.contains("1 database(s), 1 table(s) visible") && !note.contains("no SELECT"), "{note}");

    let wrong = "Wr0ng-pa55word-e2e";
    let failed = run("mariadb", &with_db, Some(wrong), "test", &[]);
    assert!(!failed.success);
    assert_eq!(failed.error_kind(), Some("auth"), "{failed:?}");
    assert_eq!(failed.json["error"]["retryable"], false);
    assert_eq!(step(&failed, "authenticate")["passed"], false);
    assert!(failed.json["error"]["message"].as_str().is_some_and(|m| m.contains("1045")), "{failed:?}");
    for secret in [wrong, password] {
        assert!(!failed.json.to_string().contains(secret) && !failed.stderr.contains(secret));
        assert!(!ok.json.to_string().contains(secret) && !ok.stderr.contains(secret));
    }

    let missing = run("mariadb", &with_db, None, "test", &[]);
    assert_eq!(missing.error_kind(), Some("auth"), "{missing:?}");

    let mut unknown_db = config(&user);
    unknown_db["database"] = json!(unique("no_such_db"));
    // A user without rights on a missing database is told "access denied", as
    // MariaDB does not reveal whether it exists; root is told it is not there.
    assert_eq!(run("mariadb", &unknown_db, Some(password), "test", &[]).error_kind(), Some("permission"));
    let mut unknown_for_root = config("root");
    unknown_for_root["database"] = json!(unique("no_such_db"));
    let not_found = run("mariadb", &unknown_for_root, None, "test", &[]);
    assert_eq!(not_found.error_kind(), Some("not_found"), "{not_found:?}");
}

#[inlet_tests::test]
fn a_user_with_few_rights_sees_only_what_it_may() {
    require_mariadb();
    let (main, other) = (unique("rights"), unique("rights_b"));
    let mut scratch = Scratch::new(PORT);
    fixture(&mut scratch, &main, &other);
    let password = "Reader-Pa55-e2e-hk20";
    let reader = unique("reader");
    scratch.user(&reader, password, "", &[&format!("SELECT ON `{main}`.customers")]);
    let writer = unique("writer");
    scratch.user(&writer, password, "", &[&format!("INSERT ON `{main}`.orders")]);
    let nobody = unique("nobody");
    scratch.user(&nobody, password, "", &[]);

    let tested = run("mariadb", &config(&reader), Some(password), "test", &[]);
    assert!(tested.success, "{tested:?}");
    let found = run("mariadb", &config(&reader), Some(password), "discover", &[]);
    assert!(found.success, "{found:?}");
    assert_eq!(table_names(&found), [format!("{main}.customers")]);
    // Its columns and keys are all there.
    assert_eq!(table(&found, &main, "customers")["columns"].as_array().map(Vec::len), Some(10));

    // Structure without data: test passes and says SELECT is missing.
    let write_only = run("mariadb", &config(&writer), Some(password), "test", &[]);
    assert!(write_only.success, "{write_only:?}");
    let note = step(&write_only, "catalog permission")["message"].as_str().expect("note");
    assert!(note.contains("no SELECT privilege"), "{note}");
    assert_eq!(
        table_names(&run("mariadb", &config(&writer), Some(password), "discover", &[])),
        [format!("{main}.orders")]
    );

    // No privileges at all: logged in, but nothing to discover.
    let none = run("mariadb", &config(&nobody), Some(password), "test", &[]);
    assert_eq!(none.error_kind(), Some("permission"), "{none:?}");
    assert_eq!(step(&none, "catalog permission")["passed"], false);

    // A database the user has no rights on: refused at login.
    let mut elsewhere = config(&reader);
    elsewhere["database"] = json!(other);
    let refused = run("mariadb", &elsewhere, Some(password), "test", &[]);
    assert_eq!(refused.error_kind(), Some("permission"), "{refused:?}");
    assert_eq!(step(&refused, "authenticate")["passed"], false);
}

#[inlet_tests::test]
fn without_server_tls_preferred_falls_back_and_required_fails_clearly() {
    require_mariadb();
    if server_has_tls(PORT) {
        require::skip("the shared MariaDB has TLS; the throwaway server test covers the TLS modes");
    }
    let mut preferred = config("root");
    preferred["ssl_mode"] = json!("preferred");
    let outcome = run("mariadb", &preferred, None, "test", &[]);
    assert!(outcome.success, "{outcome:?}");
    let mut required = config("root");
    required["ssl_mode"] = json!("required");
    let failed = run("mariadb", &required, None, "test", &[]);
    assert_eq!(failed.error_kind(), Some("unsupported"), "{failed:?}");
    assert_eq!(step(&failed, "tls")["passed"], false);
    let message = failed.json["error"]["message"].as_str().expect("message");
    assert_eq!(message, "the server does not offer TLS, but ssl_mode is required");
    // No step after tls ran: the password was never offered in the clear.
    assert_eq!(step_names(&failed), ["tcp connect", "greeting", "tls"]);
    // disabled skips the step.
    let mut disabled = config("root");
    disabled["ssl_mode"] = json!("disabled");
    let plain = run("mariadb", &disabled, None, "test", &[]);
    assert!(plain.success && !step_names(&plain).contains(&"tls".to_owned()), "{plain:?}");
}

#[inlet_tests::test]
fn a_closed_port_is_unreachable() {
    let mut closed = config("root");
    closed["port"] = json!(free_port());
    let outcome = run("mysql", &closed, None, "test", &[]);
    assert!(!outcome.success);
    assert_eq!(outcome.error_kind(), Some("unreachable"), "{outcome:?}");
    assert_eq!(step(&outcome, "tcp connect")["passed"], false);
}

#[inlet_tests::test]
fn a_port_that_is_not_mysql_fails_at_the_greeting() {
    // One server says something else first (an SSH banner), one says nothing
    // (as PostgreSQL and Redis do until the client speaks).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let mut held = Vec::new();
        for (i, stream) in listener.incoming().take(2).enumerate() {
            let mut stream = stream.expect("accept");
            if i == 0 {
                let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
            }
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let mut other = config("root");
    other["port"] = json!(port);
    let banner = run("mysql", &other, None, "test", &[]);
    assert_eq!(banner.error_kind(), Some("protocol"), "{banner:?}");
    assert_eq!(step(&banner, "greeting")["passed"], false);
    assert!(banner.json["error"]["message"].as_str().is_some_and(|m| m.contains("no MySQL greeting")), "{banner:?}");
    let started = Instant::now();
    let silent = run("mysql", &other, None, "test", &["--connect-timeout-s", "2"]);
    assert_eq!(silent.error_kind(), Some("timeout"), "{silent:?}");
    // The connector's own bound fired (a named step), not the host's deadline.
    assert_eq!(step(&silent, "greeting")["passed"], false);
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = server.join();
}

#[inlet_tests::test]
fn a_config_outside_the_schema_is_a_config_error() {
    for bad in [
        json!({"host": "127.0.0.1", "username": "root", "ssl_mode": "sometimes"}),
        json!({"host": "127.0.0.1", "username": "root", "password": "in-the-config"}),
        json!({"host": "127.0.0.1"}),
    ] {
        let outcome = run("mariadb", &bad, None, "test", &[]);
        assert_eq!(outcome.error_kind(), Some("config"), "{bad}: {outcome:?}");
    }
}

/// A throwaway MariaDB with TLS: `mariadb-install-db` into a temporary
/// directory, a test CA and a server certificate for `localhost` (DNS name
/// only, so that 127.0.0.1 does not match it), `mariadbd` on a free port.
/// Killed and deleted when dropped.
struct TlsServer {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
    ca_pem: String,
}

impl TlsServer {
    fn require() {
        for tool in ["mariadb-install-db", "mariadbd", "openssl", cli()] {
            require::tool(tool);
        }
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path();
        let run_ok = |command: &mut Command| {
            let output = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
            assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        let file = |name: &str| path.join(name).to_string_lossy().into_owned();
        run_ok(Command::new("openssl").args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]).args([
            "-subj",
            "/CN=inlet mysql test CA",
            "-keyout",
            &file("ca.key"),
            "-out",
            &file("ca.pem"),
        ]));
        run_ok(
            Command::new("openssl").args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"]).args([
                "-keyout",
                &file("server.key"),
                "-out",
                &file("server.csr"),
            ]),
        );
        std::fs::write(path.join("ext.cnf"), "subjectAltName=DNS:localhost\n").expect("ext.cnf");
        run_ok(Command::new("openssl").args(["x509", "-req", "-days", "2", "-CAcreateserial"]).args([
            "-in",
            &file("server.csr"),
            "-CA",
            &file("ca.pem"),
            "-CAkey",
            &file("ca.key"),
            "-out",
            &file("server.pem"),
            "-extfile",
            &file("ext.cnf"),
        ]));
        run_ok(
            Command::new("mariadb-install-db")
                .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
                .arg(format!("--datadir={}", file("data"))),
        );
        let port = free_port();
        let child = Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--skip-name-resolve"])
            .args(["--innodb-buffer-pool-size=16M", "--skip-log-bin"])
            .arg(format!("--port={port}"))
            .arg(format!("--datadir={}", file("data")))
            .arg(format!("--socket={}", file("mysqld.sock")))
            .arg(format!("--pid-file={}", file("mysqld.pid")))
            .arg(format!("--log-error={}", file("error.log")))
            .arg(format!("--ssl-ca={}", file("ca.pem")))
            .arg(format!("--ssl-cert={}", file("server.pem")))
            .arg(format!("--ssl-key={}", file("server.key")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let ca_pem = std::fs::read_to_string(path.join("ca.pem")).expect("ca.pem");
        let log = path.join("error.log");
        let mut server = Self { child, _dir: dir, port, ca_pem };
        server.wait_until_ready(&log);
        server
    }

    fn wait_until_ready(&mut self, log: &Path) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mariadbd exited ({status}): {}", std::fs::read_to_string(log).unwrap_or_default());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mariadbd did not start: {}", std::fs::read_to_string(log).unwrap_or_default());
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[inlet_tests::test]
fn tls_modes_against_a_throwaway_server() {
    TlsServer::require();
    let server = TlsServer::start();
    assert!(server_has_tls(server.port));
    let mut scratch = Scratch::new(server.port);
    let db = unique("tls");
    scratch.database(&db, "CREATE TABLE t (id INT PRIMARY KEY);");
    let password = "Tls-Pa55-e2e-ur73";
    scratch.user("inlet_tls_only", password, "REQUIRE SSL", &[&format!("SELECT ON `{db}`.*")]);
    scratch.user("inlet_plain", password, "", &[&format!("SELECT ON `{db}`.*")]);
    let at = |host: &str, user: &str, mode: &str, ca: bool| {
        let mut config = json!({"host": host, "port": server.port, "username": user, "ssl_mode": mode});
        if ca {
            config["ssl_root_cert"] = json!(server.ca_pem);
        }
        config
    };

    // preferred: encrypted, because the server offers it.
    let preferred = run("mariadb", &at("127.0.0.1", "inlet_plain", "preferred", false), Some(password), "test", &[]);
    assert!(preferred.success, "{preferred:?}");
    assert!(step(&preferred, "tls")["message"].as_str().is_some_and(|m| m.starts_with("TLS 1.")), "{preferred:?}");
    assert!(step(&preferred, "query version")["message"].as_str().is_some_and(|m| m.contains("encrypted")));

    // required: any certificate, encrypted; the REQUIRE SSL account gets in.
    let required = run("mariadb", &at("127.0.0.1", "inlet_tls_only", "required", false), Some(password), "test", &[]);
    assert!(required.success, "{required:?}");
    let discovered =
        run("mariadb", &at("127.0.0.1", "inlet_tls_only", "required", false), Some(password), "discover", &[]);
    assert_eq!(table_names(&discovered), [format!("{db}.t")]);

    // verify_identity: the CA and the name `localhost` both check out.
    let verified =
        run("mariadb", &at("localhost", "inlet_tls_only", "verify_identity", true), Some(password), "test", &[]);
    assert!(verified.success, "{verified:?}");

    // …but not without the CA, nor under a name the certificate lacks.
    let untrusted =
        run("mariadb", &at("localhost", "inlet_tls_only", "verify_identity", false), Some(password), "test", &[]);
    assert_eq!(untrusted.error_kind(), Some("protocol"), "{untrusted:?}");
    assert_eq!(step(&untrusted, "tls")["passed"], false);
    assert!(untrusted.json["error"]["message"].as_str().is_some_and(|m| m.contains("certificate")), "{untrusted:?}");
    let wrong_name =
        run("mariadb", &at("127.0.0.1", "inlet_tls_only", "verify_identity", true), Some(password), "test", &[]);
    assert_eq!(wrong_name.error_kind(), Some("protocol"), "{wrong_name:?}");
    assert!(
        wrong_name.json["error"]["message"].as_str().is_some_and(|m| m.contains("does not name")),
        "{wrong_name:?}"
    );

    // verify_ca checks the chain only, so the address is fine.
    let chain_only = run("mariadb", &at("127.0.0.1", "inlet_tls_only", "verify_ca", true), Some(password), "test", &[]);
    assert!(chain_only.success, "{chain_only:?}");

    // The REQUIRE SSL account over plaintext: the server refuses the login.
    let plaintext = run("mariadb", &at("127.0.0.1", "inlet_tls_only", "disabled", false), Some(password), "test", &[]);
    assert_eq!(plaintext.error_kind(), Some("auth"), "{plaintext:?}");
    assert!(!plaintext.json.to_string().contains(password));
}

/// Preview and query through the API with the wasm connector: typed values,
/// a bound parameter, and a write the server itself refuses.
#[inlet_tests::test]
fn preview_and_read_only_query_through_the_api() {
    require_mariadb();
    let mut scratch = Scratch::new(PORT);
    let db = unique("rows");
    scratch.database(
        &db,
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(12,3), born DATE); \
         INSERT INTO items VALUES (1, 'é', 12.500, '1999-12-31'), (2, '', NULL, NULL), (3, 'x'' OR 1=1', 0.001, '1970-01-01');",
    );
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "maria", "type": "mariadb", "config": config("root"), "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}");

    let preview = api.get(&format!("{path}/preview?schema={db}&table=items&limit=2")).expect(200).json();
    let types: Vec<&str> =
        preview["columns"].as_array().expect("columns").iter().filter_map(|c| c["data_type"].as_str()).collect();
    assert_eq!(types, ["int32", "string", "decimal", "date"], "{preview}");
    assert_eq!(preview["rows"], json!([[1, "é", "12.500", "1999-12-31"], [2, "", null, null]]));

    let bound = api
        .post(
            &format!("{path}/query"),
            &json!({"statement": format!("SELECT id FROM `{db}`.items WHERE name = ?"), "parameters": ["x' OR 1=1"]}),
        )
        .expect(200)
        .json();
    assert_eq!(bound["rows"], json!([[3]]), "the parameter is a value: {bound}");
    let refused = api.post(&format!("{path}/query"), &json!({"statement": format!("DELETE FROM `{db}`.items")}));
    refused.expect_error(422, "permission");
    let count = sql_at(PORT, &format!("SELECT count(*) FROM `{db}`.items"));
    assert_eq!(count.trim(), "3", "nothing was deleted");
}

/// A query cut at `max_rows` while the server still streams (a cross join of
/// 10^12 rows) is stopped at the server: the connector sends `KILL QUERY` on
/// a second session, as the same user with the password from the vault. The
/// statement leaves the process list at once and the pooled session runs
/// the next query.
#[inlet_tests::test]
fn a_query_cut_at_max_rows_is_cancelled_at_the_server() {
    require_mariadb();
    let mut scratch = Scratch::new(PORT);
    let db = unique("kill");
    scratch.database(&db, "");
    let user = unique("killer");
    scratch.user(&user, "kill-pw", "", &[&format!("SELECT ON `{db}`.*")]);
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "maria", "type": "mariadb", "config": config(&user),
        "credentials": { "password": "kill-pw" }, "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}/query");

    let statement = format!("SELECT a.seq AS a, b.seq AS b FROM `{db}`.seq_1_to_1000000 a, `{db}`.seq_1_to_1000000 b");
    let started = Instant::now();
    let cut = api.post(&path, &json!({"statement": statement, "max_rows": 10})).expect(200).json();
    assert_eq!(cut["row_count"], 10, "{cut}");
    assert_eq!(cut["truncated"], true, "{cut}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    // Seen from another session: nothing of the cross join runs on.
    let running = || {
        sql_at(
            PORT,
            &format!(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}' AND COMMAND <> 'Sleep'"
            ),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while running().trim() != "0" {
        assert!(Instant::now() < deadline, "the statement still runs at the server");
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = api.post(&path, &json!({"statement": "SELECT 42"})).expect(200).json();
    assert_eq!(after["rows"], json!([[42]]));
}
