//! End-to-end tests of the REST API: the real `inlet serve` (SQLite or
//! PostgreSQL as its store), the real connectors, the shared PostgreSQL on
//! 127.0.0.1:5432 as a data source, all over plain HTTP.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use inlet_tests::require::{self, Service};
use inlet_tests::server::{Api, Backend, Inlet, PgDatabase, Response, random_master_key, try_request};
use inlet_tests::workspace_root;
use serde_json::{Value, json};

const DS: &str = "/api/v1/data-sources";

fn pg_config(database: &str) -> Value {
    json!({ "host": "127.0.0.1", "port": 5432, "database": database, "username": "postgres", "ssl_mode": "disable" })
}

/// A Postgres config that cannot connect (nothing listens on port 1).
fn dead_pg_config() -> Value {
    json!({ "host": "127.0.0.1", "port": 1, "database": "postgres", "username": "postgres", "ssl_mode": "disable" })
}

fn csv_path(name: &str) -> String {
    workspace_root().join("tests/fixtures/csv").join(name).to_string_lossy().into_owned()
}

fn csv_body(name: &str) -> Value {
    json!({ "name": name, "type": "csv", "config": { "file_path": csv_path("mixed.csv") } })
}

/// A source database with two schemas and three tables.
fn source_database() -> PgDatabase {
    let db = PgDatabase::create("inlet_api_src");
    db.run(
        "CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL, email varchar(200) UNIQUE);
         CREATE TABLE public.orders (id int PRIMARY KEY, customer_id int REFERENCES public.customers(id), total numeric(10,2));
         CREATE SCHEMA sales;
         CREATE TABLE sales.regions (code char(2) PRIMARY KEY, label text);",
    );
    db
}

fn id_of(data_source: &Value) -> String {
    data_source["id"].as_str().expect("id").to_owned()
}

fn strs(value: &Value) -> BTreeSet<String> {
    value.as_array().expect("array").iter().map(|v| v.as_str().expect("string").to_owned()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Polls the catalog until the latest discovery is no longer queued or running.
fn wait_discovery(api: &Api, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let catalog = api.get(&format!("{DS}/{id}/schemas")).expect(200).json();
        let status = catalog["discovery"]["status"].as_str().unwrap_or("").to_owned();
        // A `succeeded` job can be read before its tables (a race the test
        // `schema_catalog_is_consistent_with_its_discovery_status` pins down);
        // other tests wait for both, so they do not fail on it at random.
        let tables_visible = status != "succeeded" || catalog["total"] == catalog["discovery"]["tables_found"];
        if status != "queued" && status != "running" && !status.is_empty() && tables_visible {
            return catalog;
        }
        assert!(Instant::now() < deadline, "discovery did not finish: {catalog}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------- 1. happy path

#[inlet_tests::test(each_store)]
fn happy_path(backend: Backend) {
    require::service(Service::Postgres);
    let source = source_database();
    let (inlet, admin) = Inlet::started_with_org(backend, "acme");
    let api = inlet.api(&admin);

    // Create: 201, Location, status testing, no secrets.
    let response = api.post(
        DS,
        &json!({
            "name": "warehouse",
            "type": "postgresql",
            "config": pg_config(&source.name),
            "description": "the main database",
            "tags": ["prod", "pg"],
        }),
    );
    let created = response.clone().expect(201).json();
    let id = id_of(&created);
    assert_eq!(response.header("location"), Some(format!("{DS}/{id}").as_str()));
    assert_eq!(created["status"], "testing", "{created}");
    assert_eq!(created["type"], "postgresql");
    assert_eq!(created["secret_fields"], json!([]));
    assert_eq!(created["deleted_at"], Value::Null);

    // The background test makes it active.
    let settled = api.wait_settled(&id);
    assert_eq!(settled["status"], "active", "{settled}");
    assert_eq!(settled["status_reason"], Value::Null);
    assert_eq!(settled["last_test"]["ok"], true, "{settled}");
    assert!(settled["last_tested_at"].is_string(), "{settled}");

    // GET.
    let got = api.get(&format!("{DS}/{id}")).expect(200).json();
    assert_eq!(got["name"], "warehouse");
    assert_eq!(got["description"], "the main database");
    assert_eq!(got["config"], pg_config(&source.name));
    assert_eq!(strs(&got["tags"]), set(&["prod", "pg"]));
    assert_eq!(got["organization_id"], created["organization_id"]);
    assert!(got["workspace_id"].is_string());

    // List, with filters.
    let list = api.get(DS).expect(200).json();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["page"], 1);
    assert_eq!(list["page_size"], 20);
    assert_eq!(list["items"][0]["id"], id.as_str());
    for (query, total) in [
        ("type=postgresql", 1),
        ("type=csv", 0),
        ("category=sql", 1),
        ("category=file", 0),
        ("category=streaming&type=postgresql", 0),
        ("status=active", 1),
        ("status=failed", 0),
        ("tag=prod", 1),
        ("tag=nope", 0),
        ("search=WARE", 1),
        ("search=main%20data", 1),
        ("search=zzz", 0),
        ("sort=name", 1),
        ("sort=-updated_at", 1),
    ] {
        let list = api.get(&format!("{DS}?{query}")).expect(200).json();
        assert_eq!(list["total"], total, "{query}: {list}");
        assert_eq!(list["items"].as_array().unwrap().len(), total as usize, "{query}: {list}");
    }

    // Test now.
    let outcome = api.send("POST", &format!("{DS}/{id}/test"), &[], None).expect(200).json();
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert!(outcome["server_version"].as_str().unwrap_or("").contains("PostgreSQL"), "{outcome}");
    let steps = outcome["steps"].as_array().expect("steps");
    assert!(!steps.is_empty(), "{outcome}");
    for step in steps {
        assert!(step["name"].as_str().is_some_and(|n| !n.is_empty()), "{step}");
        assert_eq!(step["passed"], true, "{step}");
        assert!(step["duration_us"].is_u64(), "{step}");
    }
    assert!(outcome["latency_ms"].is_u64(), "{outcome}");
    assert!(outcome["tested_at"].is_string(), "{outcome}");
    assert_eq!(outcome["error"], Value::Null);

    // Discover, in the background.
    let accepted = api.send("POST", &format!("{DS}/{id}/discover-schema"), &[], None).expect(202).json();
    assert!(accepted["job_id"].is_string(), "{accepted}");
    assert!(["queued", "running"].contains(&accepted["status"].as_str().unwrap_or("")), "{accepted}");
    assert_eq!(accepted["created"], true);
    let catalog = wait_discovery(&api, &id);
    assert_eq!(catalog["discovery"]["status"], "succeeded", "{catalog}");
    assert_eq!(catalog["discovery"]["job_id"], accepted["job_id"]);
    assert_eq!(catalog["discovery"]["tables_found"], 3, "{catalog}");
    assert_eq!(catalog["total"], 3, "{catalog}");
    let items = catalog["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    let schemas: Vec<(String, i64)> = catalog["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["table_count"].as_i64().unwrap()))
        .collect();
    assert!(schemas.contains(&("public".into(), 2)) && schemas.contains(&("sales".into(), 1)), "{schemas:?}");
    let customers = items.iter().find(|t| t["name"] == "customers").expect("customers");
    assert_eq!(customers["schema"], "public");
    assert_eq!(customers["kind"], "table");
    let columns: Vec<&str> =
        customers["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(columns, ["id", "name", "email"], "{customers}");
    let kinds: Vec<&str> =
        customers["constraints"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"primary_key") && kinds.contains(&"unique"), "{customers}");
    let orders = items.iter().find(|t| t["name"] == "orders").expect("orders");
    let fk = orders["constraints"].as_array().unwrap().iter().find(|c| c["kind"] == "foreign_key").expect("fk");
    assert_eq!(fk["referenced_table"], "customers", "{fk}");

    // Catalog paging and filters.
    let page = api.get(&format!("{DS}/{id}/schemas?page_size=1")).expect(200).json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["page_size"], 1);
    let mut seen = BTreeSet::new();
    for n in 1..=3 {
        let page = api.get(&format!("{DS}/{id}/schemas?page_size=1&page={n}")).expect(200).json();
        seen.insert(page["items"][0]["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, set(&["customers", "orders", "regions"]));
    let beyond = api.get(&format!("{DS}/{id}/schemas?page_size=1&page=4")).expect(200).json();
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 3);
    let sales = api.get(&format!("{DS}/{id}/schemas?schema=sales")).expect(200).json();
    assert_eq!(sales["total"], 1);
    assert_eq!(sales["items"][0]["name"], "regions");
    let search = api.get(&format!("{DS}/{id}/schemas?search=CUST")).expect(200).json();
    assert_eq!(search["total"], 1, "{search}");
    api.get(&format!("{DS}/{id}/schemas?page_size=0")).expect_error(400, "invalid_query");
    api.get(&format!("{DS}/{id}/schemas?page_size=501")).expect_error(400, "invalid_query");
    api.get(&format!("{DS}/{id}/schemas?bogus=1")).expect_error(400, "invalid_query");

    // A second discovery request while one is running reuses it, or starts anew.
    let again = api.send("POST", &format!("{DS}/{id}/discover-schema"), &[], None).expect(202).json();
    assert!(again["job_id"].is_string());
    wait_discovery(&api, &id);

    // Health: the create check and the manual check, all good.
    let health = api.get(&format!("{DS}/{id}/health")).expect(200).json();
    assert_eq!(health["status"], "active", "{health}");
    assert_eq!(health["window"], "24h");
    assert!(health["checks_in_window"].as_i64().unwrap() >= 2, "{health}");
    assert_eq!(health["uptime_percent"], 100.0, "{health}");
    assert!(health["p50_response_ms"].is_i64() && health["p95_response_ms"].is_i64(), "{health}");
    let origins: BTreeSet<String> = health["history"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["origin"].as_str().unwrap().to_owned())
        .collect();
    assert!(origins.contains("create") && origins.contains("manual"), "{health}");
    assert!(health["history"]["items"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{health}");
    assert!(health["last_check"]["checked_at"].is_string(), "{health}");
    for window in ["7d", "30d"] {
        let health = api.get(&format!("{DS}/{id}/health?window={window}")).expect(200).json();
        assert_eq!(health["window"], window);
    }
    let paged = api.get(&format!("{DS}/{id}/health?page_size=1")).expect(200).json();
    assert_eq!(paged["history"]["items"].as_array().unwrap().len(), 1);
    assert!(paged["history"]["total"].as_i64().unwrap() >= 2);
    api.get(&format!("{DS}/{id}/health?window=1y")).expect_error(400, "invalid_query");

    // Metrics.
    let metrics = api.get(&format!("{DS}/metrics")).expect(200).json();
    assert_eq!(metrics["data_sources_total"], 1, "{metrics}");
    assert_eq!(metrics["data_sources_by_status"]["active"], 1, "{metrics}");
    assert!(metrics["tests_run"].as_u64().unwrap() >= 2, "{metrics}");
    assert!(metrics["discoveries_run"].as_u64().unwrap() >= 1, "{metrics}");
    assert!(metrics["plugins_loaded"].as_u64().unwrap() >= 2, "{metrics}");
    assert!(metrics["average_test_latency_ms"].is_number(), "{metrics}");

    // Types.
    let types = api.get("/api/v1/data-source-types").expect(200).json();
    let names: BTreeSet<String> =
        types["items"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap().to_owned()).collect();
    assert!(names.contains("postgresql") && names.contains("csv"), "{names:?}");
    let pg_type = types["items"].as_array().unwrap().iter().find(|t| t["type"] == "postgresql").unwrap();
    assert!(strs(&pg_type["secret_fields"]).contains("password"), "{pg_type}");
    assert_eq!(pg_type["default_port"], 5432);
    // Every type is in one of the product's categories; `?category=` narrows the list.
    let categories = ["sql", "nosql", "warehouse", "file", "streaming", "api", "custom"];
    for item in types["items"].as_array().unwrap() {
        assert!(categories.contains(&item["category"].as_str().unwrap_or("")), "{item}");
    }
    assert_eq!(pg_type["category"], "sql");
    let files = api.get("/api/v1/data-source-types?category=file").expect(200).json();
    let file_types: BTreeSet<&str> =
        files["items"].as_array().unwrap().iter().filter_map(|t| t["type"].as_str()).collect();
    assert!(
        file_types.contains("csv") && file_types.contains("parquet") && !file_types.contains("postgresql"),
        "{files}"
    );
    assert!(files["items"].as_array().unwrap().iter().all(|t| t["category"] == "file"), "{files}");
    api.get("/api/v1/data-source-types?category=database").expect_error(400, "invalid_query");
    api.get(&format!("{DS}?category=database")).expect_error(400, "invalid_query");

    // PATCH name, tags, description (no config change: stays active).
    let patched = api
        .patch(
            &format!("{DS}/{id}"),
            &json!({ "name": "warehouse-2", "tags": ["gold", "gold", " x "], "description": null }),
        )
        .expect(200)
        .json();
    assert_eq!(patched["name"], "warehouse-2");
    assert_eq!(strs(&patched["tags"]), set(&["gold", "x"]));
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["status"], "active", "{patched}");
    let got = api.get(&format!("{DS}/{id}")).expect(200).json();
    assert_eq!(got["name"], "warehouse-2");
    assert_eq!(api.get(&format!("{DS}?tag=gold")).expect(200).json()["total"], 1);
    assert_eq!(api.get(&format!("{DS}?tag=prod")).expect(200).json()["total"], 0);

    // PATCH config: retested.
    let mut config = pg_config(&source.name);
    config["port"] = json!(5432);
    config["database"] = json!("postgres");
    let patched = api.patch(&format!("{DS}/{id}"), &json!({ "config": config })).expect(200).json();
    assert_eq!(patched["status"], "testing");
    assert_eq!(api.wait_settled(&id)["status"], "active");

    // PATCH credentials: set, then remove.
    let patched = api
        .patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": { "password": "not-needed-with-trust" } }))
        .expect(200)
        .json();
    assert_eq!(patched["secret_fields"], json!(["password"]), "{patched}");
    assert!(!patched.to_string().contains("not-needed-with-trust"));
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let patched = api
        .patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": { "password": null } }))
        .expect(200)
        .json();
    assert_eq!(patched["secret_fields"], json!([]), "{patched}");
    api.wait_settled(&id);

    // Status set by the user.
    let held = api.patch(&format!("{DS}/{id}"), &json!({ "status": "maintenance" })).expect(200).json();
    assert_eq!(held["status"], "maintenance");
    assert!(held["status_reason"].as_str().is_some_and(|r| r.contains("set by")), "{held}");
    let resumed = api.patch(&format!("{DS}/{id}"), &json!({ "status": "active" })).expect(200).json();
    assert_eq!(resumed["status"], "testing");
    assert_eq!(api.wait_settled(&id)["status"], "active");

    // Soft delete.
    api.delete(&format!("{DS}/{id}")).expect(204);
    api.get(&format!("{DS}/{id}")).expect_error(404, "not_found");
    api.delete(&format!("{DS}/{id}")).expect_error(404, "not_found");
    assert_eq!(api.get(DS).expect(200).json()["total"], 0);
    let deleted = api.get(&format!("{DS}?include_deleted=true")).expect(200).json();
    assert_eq!(deleted["total"], 1, "{deleted}");
    assert_eq!(deleted["items"][0]["id"], id.as_str());
    assert!(deleted["items"][0]["deleted_at"].is_string(), "{deleted}");
    assert!(deleted["items"][0]["deleted_by"].is_string(), "{deleted}");
    // Its name is free again.
    let reuse = api.create(&json!({ "name": "warehouse-2", "type": "postgresql", "config": pg_config(&source.name) }));
    api.wait_settled(&id_of(&reuse));

    // Force delete (of the soft-deleted one): gone for good.
    api.delete(&format!("{DS}/{id}?force=true")).expect(204);
    let deleted = api.get(&format!("{DS}?include_deleted=true")).expect(200).json();
    assert_eq!(deleted["total"], 1, "{deleted}");
    assert_eq!(deleted["items"][0]["id"], reuse["id"]);
    api.delete(&format!("{DS}/{id}?force=true")).expect_error(404, "not_found");
    api.get(&format!("{DS}/{id}/health")).expect_error(404, "not_found");
    api.get(&format!("{DS}/{id}/schemas")).expect_error(404, "not_found");
}

// ---------------------------------------------------------------- 2. files

#[inlet_tests::test]
fn csv_source_and_presigned_file_urls() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    let csv = api.create(&csv_body("prices"));
    let id = id_of(&csv);
    let settled = api.wait_settled(&id);
    assert_eq!(settled["status"], "active", "{settled}");
    assert_eq!(settled["last_test"]["ok"], true, "{settled}");

    let file_url = api.get(&format!("{DS}/{id}/file-url")).expect(200).json();
    let url = file_url["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&format!("/api/v1/files/{id}?")), "{url}");
    assert!(file_url["expires_at"].is_string());

    // The link works without a token and returns the file's bytes.
    let download = try_request(inlet.port, "GET", &url, &[], None).expect("download").expect(200);
    assert_eq!(download.body, std::fs::read(csv_path("mixed.csv")).unwrap());
    assert_eq!(download.header("content-type"), Some("text/csv; charset=utf-8"), "the type follows the extension");
    assert!(download.header("content-disposition").unwrap_or("").contains("mixed.csv"));

    // A tampered signature, a tampered expiry, a non-hex signature, a past expiry.
    let last = url.chars().last().unwrap();
    let tampered = format!("{}{}", &url[..url.len() - 1], if last == '0' { '1' } else { '0' });
    try_request(inlet.port, "GET", &tampered, &[], None).unwrap().expect_error(403, "forbidden");
    let (base, query) = url.split_once('?').unwrap();
    let mut expires: i64 = 0;
    let mut signature = String::new();
    for pair in query.split('&') {
        match pair.split_once('=').unwrap() {
            ("expires", v) => expires = v.parse().unwrap(),
            ("signature", v) => signature = v.to_owned(),
            _ => {}
        }
    }
    let later = format!("{base}?expires={}&signature={signature}", expires + 1000);
    try_request(inlet.port, "GET", &later, &[], None).unwrap().expect_error(403, "forbidden");
    let not_hex = format!("{base}?expires={expires}&signature=zz");
    try_request(inlet.port, "GET", &not_hex, &[], None).unwrap().expect_error(403, "forbidden");
    let past = format!("{base}?expires=1&signature={signature}");
    try_request(inlet.port, "GET", &past, &[], None).unwrap().expect_error(403, "forbidden");
    let missing = format!("{base}?expires={expires}");
    try_request(inlet.port, "GET", &missing, &[], None).unwrap().expect_error(400, "invalid_query");
    // Another data source's id with this signature.
    let other = id_of(&api.create(&csv_body("other")));
    let moved = format!("/api/v1/files/{other}?{query}");
    try_request(inlet.port, "GET", &moved, &[], None).unwrap().expect_error(403, "forbidden");
    let other_url = api.get(&format!("{DS}/{other}/file-url")).expect(200).json()["url"].as_str().unwrap().to_owned();
    try_request(inlet.port, "GET", &other_url, &[], None).unwrap().expect(200);

    // A soft-deleted data source's links stop working.
    api.delete(&format!("{DS}/{other}")).expect(204);
    try_request(inlet.port, "GET", &other_url, &[], None).unwrap().expect_error(403, "forbidden");

    // expires_in bounds.
    api.get(&format!("{DS}/{id}/file-url?expires_in=60")).expect(200);
    api.get(&format!("{DS}/{id}/file-url?expires_in=0")).expect_error(400, "invalid_query");
    api.get(&format!("{DS}/{id}/file-url?expires_in=604801")).expect_error(400, "invalid_query");

    // Not for non-file types (no server needed: it never connects).
    let pg = api.create(&json!({ "name": "db", "type": "postgresql", "config": dead_pg_config() }));
    api.get(&format!("{DS}/{}/file-url", id_of(&pg))).expect_error(409, "not_file_based");

    // CSV discovery: one file, one table.
    api.send("POST", &format!("{DS}/{id}/discover-schema"), &[], None).expect(202);
    let catalog = wait_discovery(&api, &id);
    assert_eq!(catalog["discovery"]["status"], "succeeded", "{catalog}");
    assert!(catalog["total"].as_i64().unwrap() >= 1, "{catalog}");
    assert!(!catalog["items"][0]["columns"].as_array().unwrap().is_empty(), "{catalog}");

    // A CSV file that does not exist: failed, with the kind in the reason.
    let missing =
        api.create(&json!({ "name": "gone", "type": "csv", "config": { "file_path": csv_path("nonexistent.csv") } }));
    let failed = api.wait_settled(&id_of(&missing));
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["status_reason"].as_str().is_some_and(|r| r.contains(':')), "{failed}");
}

/// With `INLET_FILES_ROOT` set, a relative `file_path` is read by the
/// connector from inside the root; its presigned URL serves that same file.
#[inlet_tests::test]
fn presigned_urls_resolve_relative_paths_against_the_files_root() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_FILES_ROOT".into(), csv_path("")));
    inlet.org("acme");
    let admin = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&admin);
    // Inside the root, relative and absolute: fine.
    let inside = id_of(&api.create(&json!({ "name": "in", "type": "csv", "config": { "file_path": "mixed.csv" } })));
    assert_eq!(api.wait_settled(&inside)["status"], "active");
    let url = api.get(&format!("{DS}/{inside}/file-url")).expect(200).json()["url"].as_str().unwrap().to_owned();
    let download = try_request(inlet.port, "GET", &url, &[], None).unwrap();
    assert_eq!(download.status, 200, "a relative path inside the root cannot be downloaded: {}", download.text());
    assert_eq!(download.body, std::fs::read(csv_path("mixed.csv")).unwrap());
}

/// With `INLET_FILES_ROOT` set, a file outside the root is refused by the
/// connector; a presigned URL must not serve it either.
#[inlet_tests::test]
fn presigned_urls_never_serve_files_outside_the_root() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_FILES_ROOT".into(), csv_path("")));
    inlet.org("acme");
    let admin = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&admin);
    let absolute =
        id_of(&api.create(&json!({ "name": "abs", "type": "csv", "config": { "file_path": csv_path("mixed.csv") } })));
    assert_eq!(api.wait_settled(&absolute)["status"], "active");
    // Outside the root: the connector refuses it, and so must the download.
    let outside_file = inlet.data_dir.path().join("outside.csv");
    std::fs::write(&outside_file, "a,b\nnot,yours\n").unwrap();
    let outside = api
        .post(DS, &json!({ "name": "out", "type": "csv", "config": { "file_path": outside_file.to_string_lossy() } }));
    outside.expect_error(422, "validation_failed");
}

/// Even without a files root, a file-based data source must not turn the
/// server's own state (its database, with every organization's wrapped keys,
/// sealed secrets and token hashes) into a download for any member.
#[inlet_tests::test]
fn presigned_urls_never_serve_the_servers_own_data_dir() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    let db_path = inlet.data_dir.path().join("inlet.db");
    assert!(db_path.exists());
    let response =
        api.post(DS, &json!({ "name": "db", "type": "csv", "config": { "file_path": db_path.to_string_lossy() } }));
    if response.status != 201 {
        response.expect_error(422, "validation_failed");
        return;
    }
    let id = id_of(&response.json());
    api.wait_settled(&id);
    let response = api.get(&format!("{DS}/{id}/file-url"));
    if response.status == 200 {
        let url = response.json()["url"].as_str().unwrap().to_owned();
        let download = try_request(inlet.port, "GET", &url, &[], None).unwrap();
        assert_ne!(download.status, 200, "the server's own database was served ({} bytes)", download.body.len());
    }
}

/// Tokens that are expired, or that belong to no organization, are refused.
#[inlet_tests::test]
fn expired_and_platform_tokens() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    let bootstrap = "bootstrap-admin-token-0123456789";
    inlet.extra_env.push(("INLET_BOOTSTRAP_ADMIN_TOKEN".into(), bootstrap.into()));
    inlet.org("acme");
    let (stdout, _) = inlet.cli(&["token", "create", "--org", "acme", "--role", "org-admin", "--expires-in-days", "0"]);
    let expired = stdout.lines().last().unwrap().trim().to_owned();
    inlet.start();
    inlet.api_raw(Some(&expired)).get(DS).expect_error(401, "unauthorized");
    let platform = inlet.api_raw(Some(bootstrap));
    platform.get(DS).expect_error(403, "forbidden");
    platform.post(DS, &csv_body("x")).expect_error(403, "forbidden");
    platform.get(&format!("{DS}/metrics")).expect_error(403, "forbidden");
    platform.get(&format!("{DS}/00000000-0000-0000-0000-000000000000")).expect_error(403, "forbidden");
    platform.get("/api/v1/data-source-types").expect(200);
}

/// Concurrent creates of one name: exactly one wins, the rest are 409 (never 500).
#[inlet_tests::test(each_store)]
fn concurrent_creates(backend: Backend) {
    let (inlet, admin) = Inlet::started_with_org(backend, "acme");
    let api = inlet.api(&admin);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let api = api.clone();
                scope.spawn(move || api.post(DS, &csv_body("raced")).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
    // Different names in parallel all succeed.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let api = api.clone();
                scope.spawn(move || api.post(DS, &csv_body(&format!("parallel-{n}"))).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    assert_eq!(api.get(DS).expect(200).json()["total"], 9);
}

// ---------------------------------------------------------------- 3. errors

#[inlet_tests::test(each_store)]
fn error_statuses(backend: Backend) {
    let mut inlet = Inlet::new(backend);
    inlet.org("acme");
    let admin = inlet.token("acme", "org-admin", &[]);
    let viewer = inlet.token("acme", "viewer", &[]);
    inlet.start();
    let api = inlet.api(&admin);
    let csv = api.create(&csv_body("prices"));
    let id = id_of(&csv);

    // 401: missing, malformed, unknown tokens.
    let anonymous = inlet.api_raw(None);
    for path in [DS.to_owned(), format!("{DS}/{id}"), "/api/v1/data-source-types".into(), format!("{DS}/metrics")] {
        anonymous.get(&path).expect_error(401, "unauthorized");
    }
    anonymous.post(DS, &csv_body("x")).expect_error(401, "unauthorized");
    inlet.api_raw(Some("not-a-real-token")).get(DS).expect_error(401, "unauthorized");
    inlet.api_raw(Some("a.b.c")).get(DS).expect_error(401, "unauthorized");
    anonymous.send("GET", DS, &[("Authorization", "Basic dXNlcjpwYXNz")], None).expect_error(401, "unauthorized");
    anonymous.send("GET", DS, &[("Authorization", "Bearer ")], None).expect_error(401, "unauthorized");
    let long = "x".repeat(9000);
    inlet.api_raw(Some(&long)).get(DS).expect_error(401, "unauthorized");

    // 400: malformed JSON, unknown fields, wrong types, bad query parameters.
    let json_header = [("Content-Type", "application/json")];
    api.send("POST", DS, &json_header, Some(b"{")).expect_error(400, "malformed_json");
    api.send("POST", DS, &json_header, Some(b"")).expect_error(400, "malformed_json");
    api.send("POST", DS, &json_header, Some(b"[1,2]")).expect_error(400, "invalid_body");
    let mut unknown = csv_body("y");
    unknown["colour"] = json!("blue");
    api.post(DS, &unknown).expect_error(400, "invalid_body");
    api.post(DS, &json!({ "name": 5, "type": "csv", "config": {} })).expect_error(400, "invalid_body");
    api.post(DS, &json!({ "type": "csv", "config": {} })).expect_error(400, "invalid_body");
    let mut bad_credentials = csv_body("y");
    bad_credentials["credentials"] = json!({ "password": 5 });
    api.post(DS, &bad_credentials).expect_error(400, "invalid_body");
    let mut bad_settings = csv_body("y");
    bad_settings["connection_settings"] = json!({ "pool_size": 5, "pool": 1 });
    api.post(DS, &bad_settings).expect_error(400, "invalid_body");
    api.patch(&format!("{DS}/{id}"), &json!({ "nmae": "typo" })).expect_error(400, "invalid_body");
    api.patch(&format!("{DS}/{id}"), &json!({ "status": "failed" })).expect_error(400, "invalid_body");
    api.patch(&format!("{DS}/{id}/credentials"), &json!({ "password": "x" })).expect_error(400, "invalid_body");
    for query in [
        "page=abc",
        "page=-1",
        "page=99999999999",
        "page_size=x",
        "bogus=1",
        "sort=colour",
        "sort=-",
        "status=sleeping",
        "include_deleted=maybe",
    ] {
        api.get(&format!("{DS}?{query}")).expect_error(400, "invalid_query");
    }
    api.delete(&format!("{DS}/{id}?force=perhaps")).expect_error(400, "invalid_query");
    api.get(&format!("{DS}/{id}/health?window=1h")).expect_error(400, "invalid_query");

    // 403: a viewer cannot write.
    let viewer_api = inlet.api(&viewer);
    viewer_api.post(DS, &csv_body("v")).expect_error(403, "forbidden");
    viewer_api.get(&format!("{DS}/{id}")).expect(200);

    // 404: unknown ids and routes.
    let unknown_id = "00000000-0000-0000-0000-000000000000";
    api.get(&format!("{DS}/{unknown_id}")).expect_error(404, "not_found");
    api.get(&format!("{DS}/not-even-an-id")).expect_error(404, "not_found");
    api.get(&format!("{DS}/%27%22;DROP%20TABLE")).expect_error(404, "not_found");
    api.get(&format!("{DS}/{}", "z".repeat(5000))).expect_error(404, "not_found");
    api.patch(&format!("{DS}/{unknown_id}"), &json!({ "name": "x" })).expect_error(404, "not_found");
    api.delete(&format!("{DS}/{unknown_id}")).expect_error(404, "not_found");
    api.delete(&format!("{DS}/{unknown_id}?force=true")).expect_error(404, "not_found");
    api.send("POST", &format!("{DS}/{unknown_id}/test"), &[], None).expect_error(404, "not_found");
    api.get("/api/v1/no-such-route").expect_error(404, "not_found");

    // 405 answers in the error shape too.
    let response = api.send("PUT", &format!("{DS}/{id}"), &json_header, Some(b"{}"));
    assert_eq!(response.status, 405);
    api.delete(DS).expect_error(405, "method_not_allowed");

    // 409: the same name in the same workspace, on create and on rename.
    let conflict = api.post(DS, &csv_body("prices")).expect_error(409, "conflict");
    assert!(conflict["message"].as_str().unwrap().len() < 500, "{conflict}");
    api.post(DS, &csv_body("  prices  ")).expect_error(409, "conflict");
    let second = id_of(&api.create(&csv_body("second")));
    api.patch(&format!("{DS}/{second}"), &json!({ "name": "prices" })).expect_error(409, "conflict");
    // Renaming to its own name is fine.
    api.patch(&format!("{DS}/{id}"), &json!({ "name": "prices" })).expect(200);
    // A soft-deleted data source is gone for every action, and frees its name.
    api.delete(&format!("{DS}/{second}")).expect(204);
    let gone = format!("{DS}/{second}");
    api.patch(&gone, &json!({ "name": "back" })).expect_error(404, "not_found");
    api.patch(&format!("{gone}/credentials"), &json!({ "credentials": { "password": "x" } }))
        .expect_error(404, "not_found");
    api.send("POST", &format!("{gone}/test"), &[], None).expect_error(404, "not_found");
    api.send("POST", &format!("{gone}/discover-schema"), &[], None).expect_error(404, "not_found");
    api.get(&format!("{gone}/health")).expect_error(404, "not_found");
    api.get(&format!("{gone}/schemas")).expect_error(404, "not_found");
    api.get(&format!("{gone}/file-url")).expect_error(404, "not_found");
    let third = id_of(&api.create(&csv_body("third")));
    api.patch(&format!("{DS}/{third}"), &json!({ "name": "second" })).expect(200);
    // CSV has no secret fields.
    api.patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": { "password": "x" } }))
        .expect_error(422, "validation_failed");

    // 413: a body over 1 MiB.
    let mut big = csv_body("big");
    big["description"] = json!("x".repeat(1_100_000));
    api.post(DS, &big).expect_error(413, "payload_too_large");

    // 415: no JSON content type.
    let body = serde_json::to_vec(&csv_body("z")).unwrap();
    api.send("POST", DS, &[], Some(&body)).expect_error(415, "unsupported_media_type");
    api.send("POST", DS, &[("Content-Type", "text/plain")], Some(&body)).expect_error(415, "unsupported_media_type");
    api.send("PATCH", &format!("{DS}/{id}"), &[], Some(b"{}")).expect_error(415, "unsupported_media_type");

    // 422: config failing the type's schema names the field.
    let field_of = |error: &Value| -> Vec<String> {
        error["details"]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("no details.fields: {error}"))
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut config = dead_pg_config();
    config["port"] = json!("abc");
    let error = api
        .post(DS, &json!({ "name": "p", "type": "postgresql", "config": config }))
        .expect_error(422, "validation_failed");
    assert!(field_of(&error).contains(&"/config/port".to_owned()), "{error}");
    config["port"] = json!(70000);
    let error = api
        .post(DS, &json!({ "name": "p", "type": "postgresql", "config": config }))
        .expect_error(422, "validation_failed");
    assert!(field_of(&error).contains(&"/config/port".to_owned()), "{error}");
    let error = api
        .post(DS, &json!({ "name": "p", "type": "postgresql", "config": { "port": 5432 } }))
        .expect_error(422, "validation_failed");
    assert!(field_of(&error).iter().all(|f| f.starts_with("/config")), "{error}");
    for config in [json!("a string"), json!(null), json!([1]), json!({ "file_path": "" }), json!({ "file_path": 3 })] {
        let error = api
            .post(DS, &json!({ "name": "c", "type": "csv", "config": config }))
            .expect_error(422, "validation_failed");
        assert!(field_of(&error).iter().all(|f| f.starts_with("/config")), "{error}");
    }
    let error =
        api.post(DS, &json!({ "name": "u", "type": "oracle-9i", "config": {} })).expect_error(422, "unknown_type");
    assert_eq!(field_of(&error), ["/type"]);
    let with = |key: &str, value: Value| {
        let mut body = csv_body("w");
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("name", json!("")), "/name"),
        (with("name", json!("   ")), "/name"),
        (with("name", json!("x".repeat(201))), "/name"),
        (with("name", json!("tab\there")), "/name"),
        (with("description", json!("d".repeat(4001))), "/description"),
        (with("tags", json!(["ok", ""])), "/tags/1"),
        (with("tags", json!(["t".repeat(65)])), "/tags/0"),
        (with("tags", json!((0..51).map(|i| i.to_string()).collect::<Vec<_>>())), "/tags"),
        (with("health_check_interval_s", json!(1)), "/health_check_interval_s"),
        (with("health_check_interval_s", json!(86401)), "/health_check_interval_s"),
        (with("connection_settings", json!({ "pool_size": 0 })), "/connection_settings/pool_size"),
        (with("connection_settings", json!({ "query_timeout_s": 3601 })), "/connection_settings/query_timeout_s"),
        (with("schema_refresh", json!({ "interval_s": 10 })), "/schema_refresh/interval_s"),
        (with("workspace_id", json!("no-such-workspace")), "/workspace_id"),
        (with("shared_with_workspaces", json!(["no-such-workspace"])), "/shared_with_workspaces/0"),
        (with("credentials", json!({ "password": "p".repeat(65 * 1024) })), "/credentials/password"),
    ] {
        let error = api.post(DS, &body).expect_error(422, "validation_failed");
        assert_eq!(field_of(&error), [field], "{error}");
    }
    // A file type cannot use an SSH tunnel, nor carry SSH credentials.
    let tunnel = json!({ "enabled": true, "host": "bastion", "username": "u", "auth": "password" });
    let error = api.post(DS, &with("ssh_tunnel", tunnel)).expect_error(422, "validation_failed");
    assert_eq!(field_of(&error), ["/ssh_tunnel"], "{error}");
    let error =
        api.post(DS, &with("credentials", json!({ "ssh_password": "x" }))).expect_error(422, "validation_failed");
    assert_eq!(field_of(&error), ["/credentials/ssh_password"], "{error}");
    let bad_pin = json!({ "enabled": false, "host": "b", "username": "u", "auth": "password", "host_key_fingerprint": "SHA256:short" });
    let error = api.post(DS, &with("ssh_tunnel", bad_pin)).expect_error(422, "validation_failed");
    assert_eq!(field_of(&error), ["/ssh_tunnel/host_key_fingerprint"], "{error}");
    // PATCH validates too.
    let error = api
        .patch(&format!("{DS}/{id}"), &json!({ "config": { "file_path": "" } }))
        .expect_error(422, "validation_failed");
    assert!(field_of(&error).iter().all(|f| f.starts_with("/config")), "{error}");
    api.patch(&format!("{DS}/{id}"), &json!({ "name": "" })).expect_error(422, "validation_failed");
    api.patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": {} })).expect_error(422, "validation_failed");
    let error = api
        .patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": { "file_path": "x" } }))
        .expect_error(422, "validation_failed");
    assert_eq!(field_of(&error), ["/credentials/file_path"]);

    // A failing connection ends `failed`, naming the kind.
    let dead = api.create(&json!({ "name": "dead", "type": "postgresql", "config": dead_pg_config() }));
    let failed = api.wait_settled(&id_of(&dead));
    assert_eq!(failed["status"], "failed", "{failed}");
    let reason = failed["status_reason"].as_str().expect("status_reason");
    assert!(reason.starts_with("unreachable:"), "{reason}");
    assert_eq!(failed["last_test"]["ok"], false);
    assert_eq!(failed["last_test"]["error"]["kind"], "unreachable", "{failed}");
    let outcome = api.send("POST", &format!("{DS}/{}/test", id_of(&dead)), &[], None).expect(200).json();
    assert_eq!(outcome["ok"], false);
    assert_eq!(outcome["error"]["kind"], "unreachable");
    let health = api.get(&format!("{DS}/{}/health", id_of(&dead))).expect(200).json();
    assert_eq!(health["uptime_percent"], 0.0, "{health}");
    assert_eq!(health["last_check"]["error_kind"], "unreachable", "{health}");
    // Discovery of an unreachable source fails as a job, not as a 500.
    api.send("POST", &format!("{DS}/{}/discover-schema", id_of(&dead)), &[], None).expect(202);
    let catalog = wait_discovery(&api, &id_of(&dead));
    assert_eq!(catalog["discovery"]["status"], "failed", "{catalog}");
    assert_eq!(catalog["discovery"]["error_kind"], "unreachable", "{catalog}");

    // The server is still healthy, and never answered 500 (checked in the log too).
    try_request(inlet.port, "GET", "/healthz", &[], None).unwrap().expect(200);
    let log = inlet.server_log();
    assert!(!log.contains(" ERROR "), "the server logged errors:\n{log}");
}

/// A path id that is not valid UTF-8 is answered in the API's error shape,
/// like every other bad input (not axum's plain-text rejection).
#[inlet_tests::test]
fn malformed_path_ids_answer_json_errors() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    for path in [
        format!("{DS}/%ff"),
        format!("{DS}/%00%ff/health"),
        format!("{DS}/%c3%28/schemas"),
        "/api/v1/files/%ff?expires=1&signature=00".to_owned(),
    ] {
        let response = api.get(&path);
        assert!([400, 404].contains(&response.status), "{path}: {} {}", response.status, response.text());
        let code = if response.status == 400 { "bad_request" } else { "not_found" };
        let error: Value = serde_json::from_slice(&response.body)
            .unwrap_or_else(|_| panic!("{path}: not a JSON error: {} {}", response.status, response.text()));
        assert!(error["error"]["code"].is_string(), "{path}: {error}");
        response.expect_error(response.status, error["error"]["code"].as_str().unwrap_or(code));
    }
}

/// A poller never sees a discovery that `succeeded` next to a catalog that
/// does not hold its tables yet (the handler must not read the job status
/// after the tables).
#[inlet_tests::test]
fn schema_catalog_is_consistent_with_its_discovery_status() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    for round in 0..15 {
        // A fresh data source each round: its catalog goes from 0 tables to 1.
        let id = id_of(&api.create(&csv_body(&format!("prices-{round}"))));
        let path = format!("{DS}/{id}/schemas");
        let accepted = api.send("POST", &format!("{DS}/{id}/discover-schema"), &[], None).expect(202).json();
        let job = accepted["job_id"].clone();
        let violations: Vec<String> = std::thread::scope(|scope| {
            let pollers: Vec<_> = (0..3)
                .map(|_| {
                    let (api, path, job) = (api.clone(), path.clone(), job.clone());
                    scope.spawn(move || {
                        let mut bad = Vec::new();
                        let deadline = Instant::now() + Duration::from_secs(30);
                        loop {
                            let catalog = api.get(&path).expect(200).json();
                            let discovery = &catalog["discovery"];
                            if discovery["status"] == "succeeded" && catalog["total"] != discovery["tables_found"] {
                                bad.push(catalog.to_string());
                            }
                            if discovery["job_id"] == job
                                && !["queued", "running"].contains(&discovery["status"].as_str().unwrap_or(""))
                            {
                                return bad;
                            }
                            assert!(Instant::now() < deadline, "discovery did not finish: {catalog}");
                        }
                    })
                })
                .collect();
            pollers.into_iter().flat_map(|p| p.join().unwrap()).collect()
        });
        assert!(
            violations.is_empty(),
            "round {round}: a succeeded discovery next to a catalog without its tables: {}",
            violations[0]
        );
    }
}

/// Odd but well-formed inputs are answered with 2xx or a 4xx in the error
/// shape, never a 500 (NUL characters are what PostgreSQL refuses in text).
#[inlet_tests::test(each_store)]
fn odd_inputs_never_cause_a_500(backend: Backend) {
    let (inlet, admin) = Inlet::started_with_org(backend, "acme");
    let api = inlet.api(&admin);
    let id = id_of(&api.create(&csv_body("plain")));
    let failures = std::cell::RefCell::new(Vec::<String>::new());
    let check = |what: &str, response: Response| {
        if response.status >= 500 {
            failures.borrow_mut().push(format!("{what}: {} {}", response.status, response.text()));
        } else if response.status >= 400 {
            let json = response.json();
            assert!(json["error"]["code"].is_string(), "{what}: {json}");
        }
    };
    let mut nested = json!(1);
    for _ in 0..200 {
        nested = json!([nested]);
    }
    let bodies = [
        (
            "nul in description",
            json!({ "name": "n1", "type": "csv", "config": { "file_path": csv_path("mixed.csv") }, "description": "a\u{0}b" }),
        ),
        ("nul in config", json!({ "name": "n2", "type": "csv", "config": { "file_path": "/tmp/a\u{0}b.csv" } })),
        (
            "nul in a tag",
            json!({ "name": "n3", "type": "csv", "config": { "file_path": csv_path("mixed.csv") }, "tags": ["a\u{0}"] }),
        ),
        (
            "nul in a secret",
            json!({ "name": "n4", "type": "postgresql", "config": dead_pg_config(), "credentials": { "password": "a\u{0}b" } }),
        ),
        ("nul in the type", json!({ "name": "n5", "type": "c\u{0}sv", "config": {} })),
        (
            "nul in the workspace",
            json!({ "name": "n6", "type": "csv", "config": { "file_path": csv_path("mixed.csv") }, "workspace_id": "w\u{0}" }),
        ),
        (
            "unicode name",
            json!({ "name": "Données 📊 ünïcödé", "type": "csv", "config": { "file_path": csv_path("mixed.csv") } }),
        ),
        (
            "huge interval",
            json!({ "name": "n7", "type": "csv", "config": { "file_path": csv_path("mixed.csv") }, "health_check_interval_s": 1e20 }),
        ),
        (
            "negative interval",
            json!({ "name": "n8", "type": "csv", "config": { "file_path": csv_path("mixed.csv") }, "health_check_interval_s": -5 }),
        ),
        (
            "deep config",
            json!({ "name": "n9", "type": "csv", "config": { "file_path": csv_path("mixed.csv"), "x": nested } }),
        ),
        ("deep body", json!({ "name": nested, "type": "csv", "config": {} })),
        (
            "huge port",
            json!({ "name": "n10", "type": "postgresql", "config": { "host": "h", "port": 1e300, "database": "d", "username": "u" } }),
        ),
        (
            "many config keys",
            json!({ "name": "n11", "type": "csv", "config": (0..5000).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<String, Value>>() }),
        ),
    ];
    for (what, body) in &bodies {
        check(what, api.post(DS, body));
    }
    for (what, body) in [
        ("patch nul description", json!({ "description": "x\u{0}" })),
        ("patch nul name", json!({ "name": "x\u{0}" })),
        ("patch nul tag", json!({ "tags": ["\u{0}"] })),
        ("patch nul share", json!({ "shared_with_workspaces": ["\u{0}"] })),
    ] {
        check(what, api.patch(&format!("{DS}/{id}"), &body));
    }
    check(
        "nul secret field",
        api.patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": { "pass\u{0}word": "x" } })),
    );
    for query in [
        "search=%00",
        "search=%25%5F%5C",
        "tag=%00",
        "type=%00",
        "workspace_id=%00",
        "sort=%ff",
        "search=%ff",
        "search=Donn%C3%A9es",
    ] {
        check(query, api.get(&format!("{DS}?{query}")));
    }
    for query in ["search=%00", "schema=%00", "search=%25", "schema=%ff"] {
        check(query, api.get(&format!("{DS}/{id}/schemas?{query}")));
    }
    check("nul id", api.get(&format!("{DS}/%00")));
    check("nul id health", api.get(&format!("{DS}/a%00b/health")));
    check("nul file id", api.get("/api/v1/files/a%00b?expires=99999999999&signature=00"));
    let failures = failures.into_inner();
    assert!(failures.is_empty(), "{} inputs caused a 500:\n{}", failures.len(), failures.join("\n"));
    // The server is still up and logged no errors.
    try_request(inlet.port, "GET", "/healthz", &[], None).unwrap().expect(200);
    let log = inlet.server_log();
    assert!(!log.contains(" ERROR "), "the server logged errors:\n{log}");
}

// ---------------------------------------------------------------- 4. pagination

#[inlet_tests::test(each_store)]
fn pagination_edges(backend: Backend) {
    let (inlet, admin) = Inlet::started_with_org(backend, "acme");
    let api = inlet.api(&admin);
    for n in 1..=5 {
        api.create(&csv_body(&format!("ds-{n}")));
    }
    let names = |list: &Value| -> Vec<String> {
        list["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
    };
    let first = api.get(&format!("{DS}?page_size=2&sort=name")).expect(200).json();
    assert_eq!(
        (first["total"].as_i64(), first["page"].as_i64(), first["page_size"].as_i64()),
        (Some(5), Some(1), Some(2))
    );
    assert_eq!(names(&first), ["ds-1", "ds-2"]);
    let second = api.get(&format!("{DS}?page_size=2&page=2&sort=name")).expect(200).json();
    assert_eq!(names(&second), ["ds-3", "ds-4"]);
    let last = api.get(&format!("{DS}?page_size=2&page=3&sort=name")).expect(200).json();
    assert_eq!(names(&last), ["ds-5"]);
    assert_eq!(last["total"], 5);
    let beyond = api.get(&format!("{DS}?page_size=2&page=4&sort=name")).expect(200).json();
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 5);
    assert_eq!(beyond["page"], 4);
    let far = api.get(&format!("{DS}?page_size=100&page=4294967295")).expect(200).json();
    assert_eq!(far["items"], json!([]));
    assert_eq!(far["total"], 5);
    let descending = api.get(&format!("{DS}?sort=-name")).expect(200).json();
    assert_eq!(names(&descending), ["ds-5", "ds-4", "ds-3", "ds-2", "ds-1"]);
    let newest_first = api.get(DS).expect(200).json();
    assert_eq!(names(&newest_first).len(), 5);
    let exact = api.get(&format!("{DS}?page_size=5")).expect(200).json();
    assert_eq!(names(&exact).len(), 5);
    assert_eq!(api.get(&format!("{DS}?page_size=5&page=2")).expect(200).json()["items"], json!([]));
    assert_eq!(names(&api.get(&format!("{DS}?page_size=100")).expect(200).json()).len(), 5);
    assert_eq!(names(&api.get(&format!("{DS}?page_size=1")).expect(200).json()).len(), 1);
    for query in ["page_size=0", "page_size=101", "page=0", "page_size=-1", "page_size=4294967296"] {
        api.get(&format!("{DS}?{query}")).expect_error(400, "invalid_query");
    }
    // Every sort key pages without overlap.
    for sort in ["name", "-name", "created_at", "-created_at", "updated_at", "status", "-type", "type"] {
        let mut seen = BTreeSet::new();
        for page in 1..=3 {
            let list = api.get(&format!("{DS}?page_size=2&page={page}&sort={sort}")).expect(200).json();
            for name in names(&list) {
                assert!(seen.insert(name), "sort={sort}: a data source appeared twice");
            }
        }
        assert_eq!(seen.len(), 5, "sort={sort}");
    }
    // The types list answers in the list shape.
    let types = api.get("/api/v1/data-source-types").expect(200).json();
    assert_eq!(types["page"], 1);
    assert_eq!(types["total"].as_i64().unwrap() as usize, types["items"].as_array().unwrap().len());
}

// ---------------------------------------------------------------- 5. isolation

#[inlet_tests::test(each_store)]
fn organization_isolation(backend: Backend) {
    let mut inlet = Inlet::new(backend);
    inlet.org("org-a");
    inlet.org("org-b");
    let a = inlet.token("org-a", "org-admin", &[]);
    let b = inlet.token("org-b", "org-admin", &[]);
    let b_member = inlet.token("org-b", "member", &[]);
    inlet.start();
    let api_a = inlet.api(&a);
    let created = api_a.create(&csv_body("secret-plans"));
    let id = id_of(&created);
    let before = api_a.wait_settled(&id);
    api_a.send("POST", &format!("{DS}/{id}/discover-schema"), &[], None).expect(202);
    wait_discovery(&api_a, &id);

    for token in [&b, &b_member] {
        let api_b = inlet.api(token);
        let item = format!("{DS}/{id}");
        let not_found = |response: Response| {
            response.expect_error(404, "not_found");
        };
        not_found(api_b.get(&item));
        not_found(api_b.patch(&item, &json!({ "name": "stolen" })));
        not_found(api_b.patch(&item, &json!({ "config": { "file_path": "/etc/passwd" } })));
        not_found(api_b.delete(&item));
        if token.id == b.id {
            not_found(api_b.delete(&format!("{item}?force=true")));
        }
        not_found(api_b.patch(&format!("{item}/credentials"), &json!({ "credentials": { "password": "x" } })));
        not_found(api_b.send("POST", &format!("{item}/test"), &[], None));
        not_found(api_b.send("POST", &format!("{item}/discover-schema"), &[], None));
        not_found(api_b.get(&format!("{item}/schemas")));
        not_found(api_b.get(&format!("{item}/health")));
        not_found(api_b.get(&format!("{item}/file-url")));
        let list = api_b.get(DS).expect(200).json();
        assert_eq!(list["total"], 0, "{list}");
        let list = api_b.get(&format!("{DS}?include_deleted=true&search=secret")).expect(200).json();
        assert_eq!(list["total"], 0, "{list}");
        let list =
            api_b.get(&format!("{DS}?workspace_id={}", before["workspace_id"].as_str().unwrap())).expect(200).json();
        assert_eq!(list["total"], 0, "{list}");
        let metrics = api_b.get(&format!("{DS}/metrics")).expect(200).json();
        assert_eq!(metrics["data_sources_total"], 0, "{metrics}");
        // Org A's workspace cannot be named by org B.
        let mut body = csv_body("intruder");
        body["workspace_id"] = before["workspace_id"].clone();
        api_b.post(DS, &body).expect_error(422, "validation_failed");
        body["workspace_id"] = Value::Null;
        body["shared_with_workspaces"] = json!([before["workspace_id"]]);
        api_b.post(DS, &body).expect_error(422, "validation_failed");
    }

    // Org B may use the same name: names are per workspace.
    let api_b = inlet.api(&b);
    let own = api_b.create(&csv_body("secret-plans"));
    assert_ne!(own["organization_id"], before["organization_id"]);
    // And A cannot see B's.
    api_a.get(&format!("{DS}/{}", id_of(&own))).expect_error(404, "not_found");

    // Nothing of A's changed.
    let after = api_a.get(&format!("{DS}/{id}")).expect(200).json();
    assert_eq!(after["name"], "secret-plans");
    assert_eq!(after["config"], before["config"]);
    assert_eq!(after["secret_fields"], json!([]));
    assert_eq!(after["updated_at"], before["updated_at"]);
    let health = api_a.get(&format!("{DS}/{id}/health")).expect(200).json();
    let origins: Vec<&str> =
        health["history"]["items"].as_array().unwrap().iter().map(|c| c["origin"].as_str().unwrap()).collect();
    assert!(!origins.contains(&"manual"), "B's test must not have run: {health}");
    assert_eq!(api_a.get(DS).expect(200).json()["total"], 1);
}

// ---------------------------------------------------------------- 6. roles

#[inlet_tests::test(each_store)]
fn roles_workspaces_and_revocation(backend: Backend) {
    let mut inlet = Inlet::new(backend);
    inlet.org("acme");
    let analytics = inlet.workspace("acme", "analytics");
    let admin = inlet.token("acme", "org-admin", &[]);
    let viewer = inlet.token("acme", "viewer", &[]);
    let member = inlet.token("acme", "member", &["analytics"]);
    let doomed = inlet.token("acme", "member", &[]);
    inlet.start();
    let admin_api = inlet.api(&admin);
    let in_default = id_of(&admin_api.create(&csv_body("in-default")));
    let mut body = csv_body("in-analytics");
    body["workspace_id"] = json!(analytics);
    let in_analytics = id_of(&admin_api.create(&body));
    admin_api.wait_settled(&in_default);
    admin_api.wait_settled(&in_analytics);

    // Viewer: reads its workspace, writes nothing.
    let viewer_api = inlet.api(&viewer);
    let item = format!("{DS}/{in_default}");
    viewer_api.get(&item).expect(200);
    viewer_api.get(&format!("{item}/health")).expect(200);
    viewer_api.get(&format!("{item}/schemas")).expect(200);
    viewer_api.get(&format!("{item}/file-url")).expect(200);
    viewer_api.post(DS, &csv_body("viewer-made")).expect_error(403, "forbidden");
    viewer_api.patch(&item, &json!({ "name": "renamed" })).expect_error(403, "forbidden");
    viewer_api
        .patch(&format!("{item}/credentials"), &json!({ "credentials": { "x": "y" } }))
        .expect_error(403, "forbidden");
    viewer_api.delete(&item).expect_error(403, "forbidden");
    viewer_api.delete(&format!("{item}?force=true")).expect_error(403, "forbidden");
    viewer_api.send("POST", &format!("{item}/test"), &[], None).expect_error(403, "forbidden");
    viewer_api.send("POST", &format!("{item}/discover-schema"), &[], None).expect_error(403, "forbidden");
    let list = viewer_api.get(DS).expect(200).json();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], in_default.as_str());
    viewer_api.get(&format!("{DS}/{in_analytics}")).expect_error(404, "not_found");
    assert_eq!(admin_api.get(&item).expect(200).json()["name"], "in-default");

    // Member of analytics: sees and writes only there.
    let member_api = inlet.api(&member);
    let list = member_api.get(DS).expect(200).json();
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], in_analytics.as_str());
    member_api.get(&item).expect_error(404, "not_found");
    member_api.patch(&item, &json!({ "name": "x" })).expect_error(404, "not_found");
    member_api.delete(&item).expect_error(404, "not_found");
    member_api.get(&format!("{DS}/{in_analytics}")).expect(200);
    let mut body = csv_body("member-made");
    body["workspace_id"] = json!(analytics);
    let member_made = id_of(&member_api.create(&body));
    member_api.post(DS, &csv_body("member-default")).expect_error(422, "validation_failed");
    let default_ws = admin_api.get(&item).expect(200).json()["workspace_id"].clone();
    member_api
        .patch(&format!("{DS}/{member_made}"), &json!({ "shared_with_workspaces": [default_ws] }))
        .expect_error(422, "validation_failed");
    member_api.patch(&format!("{DS}/{member_made}"), &json!({ "shared_with_workspaces": [analytics] })).expect(200);
    member_api.send("POST", &format!("{DS}/{member_made}/test"), &[], None).expect(200);
    member_api.delete(&format!("{DS}/{member_made}?force=true")).expect_error(403, "forbidden");
    member_api.delete(&format!("{DS}/{member_made}")).expect(204);
    assert_eq!(member_api.get(DS).expect(200).json()["total"], 1);
    // The admin sees everything.
    assert_eq!(admin_api.get(DS).expect(200).json()["total"], 2);
    assert_eq!(admin_api.get(&format!("{DS}?workspace_id={analytics}")).expect(200).json()["total"], 1);
    // Shared with the default workspace, the analytics one becomes visible to its viewer.
    let shared = admin_api
        .patch(&format!("{DS}/{in_analytics}"), &json!({ "shared_with_workspaces": [default_ws] }))
        .expect(200)
        .json();
    assert_eq!(shared["shared_with_workspaces"], json!([default_ws]));
    viewer_api.get(&format!("{DS}/{in_analytics}")).expect(200);
    assert_eq!(viewer_api.get(DS).expect(200).json()["total"], 2);

    // Revocation takes effect within the token cache's lifetime.
    let doomed_api = inlet.api(&doomed);
    doomed_api.get(DS).expect(200);
    inlet.revoke(&doomed);
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let response = doomed_api.get(DS);
        if response.status == 401 {
            response.expect_error(401, "unauthorized");
            break;
        }
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(Instant::now() < deadline, "a revoked token still works after 6 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Other tokens are unaffected.
    viewer_api.get(DS).expect(200);
}

// ---------------------------------------------------------------- 7. secrets

#[inlet_tests::test(each_store)]
fn secrets_never_leak(backend: Backend) {
    require::service(Service::Postgres);
    const PLANTED: &str = "planted-S3cret-q7Zx91vK";
    const PLANTED_2: &str = "planted-S3cret-second-Hh42";
    const PLANTED_DEAD: &str = "planted-S3cret-dead-Pp03";
    let mut inlet = Inlet::new(backend);
    inlet.log_filter = "debug".into();
    inlet.org("acme");
    let admin = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&admin);
    let mut bodies: Vec<String> = Vec::new();
    fn keep_in(bodies: &mut Vec<String>, response: Response) -> Value {
        bodies.push(response.text());
        serde_json::from_slice(&response.body).unwrap_or(Value::Null)
    }
    macro_rules! keep {
        ($response:expr) => {{
            let response = $response;
            keep_in(&mut bodies, response)
        }};
    }

    let created = keep!(api.post(
        DS,
        &json!({
            "name": "with-password",
            "type": "postgresql",
            "config": pg_config("postgres"),
            "credentials": { "password": PLANTED },
        }),
    ));
    let id = id_of(&created);
    assert_eq!(created["secret_fields"], json!(["password"]), "{created}");
    let settled = api.wait_settled(&id);
    assert_eq!(settled["status"], "active", "{settled}");
    bodies.push(settled.to_string());
    let dead = keep!(api.post(
        DS,
        &json!({
            "name": "dead-with-password",
            "type": "postgresql",
            "config": dead_pg_config(),
            "credentials": { "password": PLANTED_DEAD },
        }),
    ));
    let dead_id = id_of(&dead);
    bodies.push(api.wait_settled(&dead_id).to_string());

    for id in [&id, &dead_id] {
        keep!(api.get(&format!("{DS}/{id}")).expect(200));
        keep!(api.send("POST", &format!("{DS}/{id}/test"), &[], None).expect(200));
        keep!(api.get(&format!("{DS}/{id}/health")).expect(200));
        keep!(api.send("POST", &format!("{DS}/{id}/discover-schema"), &[], None).expect(202));
        bodies.push(wait_discovery(&api, id).to_string());
    }
    keep!(api.get(DS).expect(200));
    keep!(api.get(&format!("{DS}/metrics")).expect(200));
    // A credentials change with a second planted value, then a config change.
    let patched =
        keep!(api.patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": { "password": PLANTED_2 } })));
    assert_eq!(patched["secret_fields"], json!(["password"]), "{patched}");
    bodies.push(api.wait_settled(&id).to_string());
    keep!(api.patch(&format!("{DS}/{id}"), &json!({ "config": pg_config("template1") })).expect(200));
    assert_eq!(api.wait_settled(&id)["status"], "active");
    // Errors that echo input must not echo secrets either.
    keep!(api.patch(&format!("{DS}/{id}/credentials"), &json!({ "credentials": { "nope": PLANTED } })).expect(422));
    keep!(api.post(DS, &json!({ "name": "with-password", "type": "postgresql", "config": pg_config("postgres"), "credentials": { "password": PLANTED } })).expect(409));
    keep!(api.send(
        "POST",
        DS,
        &[("Content-Type", "application/json")],
        Some(format!("{{\"name\":\"x\",\"type\":\"postgresql\",\"credentials\":{{\"password\":\"{PLANTED}\"}},\"config\":5,}}").as_bytes()),
    ));
    keep!(api.get(&format!("{DS}?include_deleted=true&search={PLANTED}")).expect(200));
    keep!(api.send("GET", "/api/openapi.json", &[], None).expect(200));
    keep!(api.delete(&format!("{DS}/{dead_id}")).expect(204));
    keep!(api.get(&format!("{DS}?include_deleted=true")).expect(200));

    let planted = [PLANTED, PLANTED_2, PLANTED_DEAD];
    for body in &bodies {
        for secret in planted {
            assert!(!body.contains(secret), "a response carried the secret: {body}");
        }
    }

    // Search every file of the data dir while the server runs (the SQLite
    // WAL is still there), then again after a graceful stop, and the log.
    let scan = |files: Vec<(std::path::PathBuf, Vec<u8>)>| {
        for (path, bytes) in &files {
            for secret in planted {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} carries the secret in plain text",
                    path.display()
                );
            }
        }
    };
    let running_files = inlet.data_files();
    if backend == Backend::Sqlite {
        assert!(running_files.iter().any(|(p, _)| p.to_string_lossy().ends_with("-wal")), "no WAL while running");
    }
    scan(running_files);
    inlet.stop();
    let log = inlet.server_log();
    assert!(log.contains("DEBUG"), "the server did not log at debug level");
    for secret in planted {
        assert!(!log.contains(secret), "the server log carries the secret");
    }
    let files = inlet.data_files();
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        for secret in planted {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} carries the secret in plain text",
                path.display()
            );
        }
    }
    if backend == Backend::Sqlite {
        assert!(files.iter().any(|(p, _)| p.to_string_lossy().contains("inlet.db")), "no inlet.db in the data dir");
    }
    if let Some(dump) = inlet.pg_dump() {
        for secret in planted {
            assert!(
                !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the PostgreSQL store carries the secret"
            );
        }
    }
}

// ---------------------------------------------------------------- 8. restart

fn restart(backend: Backend, key_file: bool) {
    backend.require();
    // The restart also reopens a sealed PostgreSQL password.
    require::service(Service::Postgres);
    let mut inlet = Inlet::new(backend);
    if key_file {
        // No INLET_MASTER_KEY: the server creates a key file in the data dir.
        inlet.master_key = String::new();
    }
    inlet.org("acme");
    let admin = inlet.token("acme", "org-admin", &[]);
    let viewer = inlet.token("acme", "viewer", &[]);
    inlet.start();
    let api = inlet.api(&admin);
    let csv = id_of(&api.create(&csv_body("prices")));
    api.wait_settled(&csv);
    api.send("POST", &format!("{DS}/{csv}/discover-schema"), &[], None).expect(202);
    let catalog = wait_discovery(&api, &csv);
    assert_eq!(catalog["discovery"]["status"], "succeeded", "{catalog}");
    let pg_id = id_of(&api.create(&json!({
        "name": "db",
        "type": "postgresql",
        "config": pg_config("postgres"),
        "credentials": { "password": "restart-Pa55" },
        "tags": ["keep"],
    })));
    assert_eq!(api.wait_settled(&pg_id)["status"], "active");
    let before = api.get(&format!("{DS}?sort=name")).expect(200).json();

    inlet.stop();
    inlet.start();
    assert_ne!(inlet.port, 0);
    let api = inlet.api(&admin);
    let after = api.get(&format!("{DS}?sort=name")).expect(200).json();
    assert_eq!(after["total"], before["total"]);
    for (a, b) in after["items"].as_array().unwrap().iter().zip(before["items"].as_array().unwrap()) {
        for key in ["id", "name", "config", "tags", "secret_fields", "status", "created_at", "workspace_id"] {
            assert_eq!(a[key], b[key], "{key} changed across the restart");
        }
    }
    inlet.api(&viewer).get(&format!("{DS}/{csv}")).expect(200);
    let catalog_after = api.get(&format!("{DS}/{csv}/schemas")).expect(200).json();
    assert_eq!(catalog_after["total"], catalog["total"], "before: {catalog}\nafter: {catalog_after}");
    assert_eq!(catalog_after["discovery"]["job_id"], catalog["discovery"]["job_id"]);
    let health = api.get(&format!("{DS}/{csv}/health")).expect(200).json();
    assert!(health["history"]["total"].as_i64().unwrap() >= 1);
    let outcome = api.send("POST", &format!("{DS}/{csv}/test"), &[], None).expect(200).json();
    assert_eq!(outcome["ok"], true, "{outcome}");
    // The sealed password still opens: the test runs (trust auth ignores it).
    let outcome = api.send("POST", &format!("{DS}/{pg_id}/test"), &[], None).expect(200).json();
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert_eq!(api.get(&format!("{DS}/{pg_id}")).expect(200).json()["secret_fields"], json!(["password"]));
    // And can be replaced.
    api.patch(&format!("{DS}/{pg_id}/credentials"), &json!({ "credentials": { "password": "again" } })).expect(200);
    assert_eq!(api.wait_settled(&pg_id)["status"], "active");
    // New writes after the restart work too.
    api.create(&csv_body("after-restart"));
    // A token created while the server runs works (SQLite allows a second writer).
    let late = inlet.token("acme", "viewer", &[]);
    inlet.api(&late).get(DS).expect(200);
    if key_file {
        // The key file is private to the server's user.
        use std::os::unix::fs::PermissionsExt;
        let keys: Vec<_> = inlet
            .data_files()
            .into_iter()
            .filter(|(p, bytes)| bytes.len() < 200 && p.to_string_lossy().contains("key"))
            .map(|(p, _)| p)
            .collect();
        assert!(
            !keys.is_empty(),
            "no key file in the data dir: {:?}",
            inlet.data_files().iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for key in keys {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} has mode {mode:o}", key.display());
        }
    }
}

#[inlet_tests::test]
fn restart_keeps_data_sources_tokens_and_secrets() {
    restart(Backend::Sqlite, false);
}

#[inlet_tests::test]
fn restart_with_a_key_file() {
    restart(Backend::Sqlite, true);
}

#[inlet_tests::test]
fn restart_postgres_store() {
    restart(Backend::Postgres, false);
}

// ---------------------------------------------------------------- 9. wrong key

#[inlet_tests::test]
fn wrong_master_key_fails_fast() {
    let inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    let started = Instant::now();
    let output = inlet
        .serve_with_key(&random_master_key(), Duration::from_secs(30))
        .expect("inlet serve kept running with the wrong master key");
    assert!(!output.status.success(), "inlet serve exited successfully with the wrong key");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.to_lowercase().contains("master key"), "{stderr}");
    assert!(!stderr.contains(&inlet.master_key), "the key itself was printed");
    // Malformed keys are refused too, without echoing them.
    let output = inlet.serve_with_key("definitely-not-base64!!", Duration::from_secs(30)).expect("exits");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INLET_MASTER_KEY") || stderr.to_lowercase().contains("master key"), "{stderr}");
    // The right key still works.
    let (stdout, _) = inlet.cli(&["org", "create", "other"]);
    assert!(!stdout.trim().is_empty());
}

// ---------------------------------------------------------------- docs

#[inlet_tests::test]
fn healthz_openapi_and_swagger_ui() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let anonymous = inlet.api_raw(None);
    let health = anonymous.get("/healthz").expect(200).json();
    assert_eq!(health["status"], "ok");
    let openapi = anonymous.get("/api/openapi.json").expect(200).json();
    let paths = openapi["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/data-sources",
        "/api/v1/data-sources/{data_source_id}",
        "/api/v1/data-sources/{data_source_id}/credentials",
        "/api/v1/data-sources/{data_source_id}/test",
        "/api/v1/data-sources/{data_source_id}/discover-schema",
        "/api/v1/data-sources/{data_source_id}/schemas",
        "/api/v1/data-sources/{data_source_id}/health",
        "/api/v1/data-sources/{data_source_id}/file-url",
        "/api/v1/data-sources/metrics",
        "/api/v1/data-source-types",
    ] {
        assert!(paths.contains_key(path), "{path} is not in the OpenAPI document");
    }
    let docs = anonymous.get("/docs/").expect(200);
    assert!(docs.text().to_lowercase().contains("swagger"), "{}", docs.text());
    inlet.api(&admin).get("/api/v1/data-source-types").expect(200);
}

/// GET answers are cached until the organization's data sources change: every
/// kind of write shows in the very next read, for every caller.
#[inlet_tests::test]
fn reads_reflect_every_write_at_once() {
    let (inlet, admin_token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let ops = inlet.workspace("acme", "ops");
    let member = inlet.api(&inlet.token("acme", "member", &["ops"]));
    let admin = inlet.api(&admin_token);
    let created = admin.create(&csv_body("orders"));
    let id = id_of(&created);
    let path = format!("{DS}/{id}");
    let list = || admin.get(&format!("{DS}?page_size=5")).expect(200).json();
    let detail = || admin.get(&path).expect(200).json();
    admin.wait_settled(&id);
    // Warm both caches, then write and read back at once.
    assert_eq!(list()["total"], 1);
    assert!(detail()["description"].is_null());
    admin.patch(&path, &json!({ "description": "daily orders" })).expect(200);
    assert_eq!(detail()["description"], "daily orders");
    assert_eq!(list()["items"][0]["description"], "daily orders");

    admin.patch(&path, &json!({ "tags": ["prod"] })).expect(200);
    assert_eq!(admin.get(&format!("{DS}?tag=prod")).expect(200).json()["total"], 1);
    assert_eq!(detail()["tags"], json!(["prod"]));

    // Visibility follows shares, also for a cached answer.
    member.get(&path).expect_error(404, "not_found");
    admin.patch(&path, &json!({ "shared_with_workspaces": [ops] })).expect(200);
    assert_eq!(member.get(&path).expect(200).json()["id"], id.as_str());
    admin.patch(&path, &json!({ "shared_with_workspaces": [] })).expect(200);
    member.get(&path).expect_error(404, "not_found");

    admin.patch(&path, &json!({ "status": "maintenance" })).expect(200);
    assert_eq!(detail()["status"], "maintenance");
    admin.post(&format!("{path}/test"), &json!({})).expect(200);
    assert!(detail()["last_test"].is_object(), "a manual test's result shows at once");

    admin.delete(&path).expect(204);
    admin.get(&path).expect_error(404, "not_found");
    assert_eq!(list()["total"], 0);
    assert_eq!(admin.get(&format!("{DS}?include_deleted=true")).expect(200).json()["total"], 1);
}
