//! Reading data through the API (`GET /{id}/preview`, `POST /{id}/query`)
//! from the real PostgreSQL on 127.0.0.1:5432 with the postgres plugin
//! (WIT 0.2.0): typed values column by column in every format, writes
//! refused by the server itself, timeouts and disconnects stopped at the
//! server, Arrow read back by pyarrow, roles, and a 0.1.0 plugin beside
//! the 0.2.0 ones.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use inlet_tests::fixture_dir;
use inlet_tests::pg_fixture::psql;
use inlet_tests::require::{self, Service};
use inlet_tests::server::{Api, Backend, Inlet, Token};
use serde_json::{Value, json};

/// A database of our own with one table of every portable type.
struct TypesDb(String);

impl TypesDb {
    fn create(tag: &str) -> Self {
        let name = format!("inlet_reading_{tag}_{}", std::process::id());
        psql("postgres", &["-c", &format!("DROP DATABASE IF EXISTS {name}")]);
        psql("postgres", &["-c", &format!("CREATE DATABASE {name}")]);
        psql(
            &name,
            &[
                "-c",
                "CREATE SCHEMA shop;
                 CREATE TABLE shop.items (
                   id int8 PRIMARY KEY, small int2, flag bool, ratio float8, price numeric(20,6),
                   name text, note varchar(20), blob bytea, born date, at_time time,
                   seen timestamp, seen_tz timestamptz, doc jsonb, uid uuid);
                 INSERT INTO shop.items VALUES
                   (1, -32768, true, 'NaN', 12345678901234.123456, 'é ☃', '', '\\x00ff10', '1999-12-31', '23:59:59.999999',
                    '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012+02', '{\"a\": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
                   (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                   (3, 7, false, -1.5, -0.000001, 'plain', 'x', '\\x', '1970-01-01', '00:00:00', '1970-01-01 00:00:00',
                    '1970-01-01 00:00:00+00', 'null', NULL);
                 CREATE TABLE shop.big AS SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 200000) g;",
            ],
        );
        Self(name)
    }
}

impl Drop for TypesDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-X", "-q", "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0))
            .output();
    }
}

fn require_postgres() {
    require::service(Service::Postgres);
    require::tool("psql");
}

/// A server with an organization, its admin token and one PostgreSQL data
/// source on `database`, settled `active`.
fn server_with_source(database: &str) -> (Inlet, Token, String) {
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let created = api.create(&json!({
        "name": "shop",
        "type": "postgresql",
        "config": {"host": "127.0.0.1", "port": 5432, "database": database, "username": "postgres", "ssl_mode": "disable"},
        "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    (inlet, token, format!("/api/v1/data-sources/{id}"))
}

fn query(api: &Api, path: &str, body: &Value, accept: &str) -> inlet_tests::server::Response {
    let body = serde_json::to_vec(body).expect("body");
    api.send("POST", &format!("{path}/query"), &[("content-type", "application/json"), ("accept", accept)], Some(&body))
}

#[inlet_tests::test]
fn every_portable_type_arrives_typed_in_json() {
    require_postgres();
    let db = TypesDb::create("types");
    let (inlet, token, path) = server_with_source(&db.0);
    let api = inlet.api(&token);
    let result = query(&api, &path, &json!({"statement": "SELECT * FROM shop.items ORDER BY id"}), "application/json")
        .expect(200)
        .json();
    let types: Vec<(&str, &str)> = result["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["data_type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", "int64"),
            ("small", "int16"),
            ("flag", "boolean"),
            ("ratio", "float64"),
            ("price", "decimal"),
            ("name", "string"),
            ("note", "string"),
            ("blob", "binary"),
            ("born", "date"),
            ("at_time", "time"),
            ("seen", "timestamp"),
            ("seen_tz", "timestamp-tz"),
            ("doc", "json"),
            ("uid", "uuid"),
        ]
    );
    let price = result["columns"].as_array().unwrap().iter().find(|c| c["name"] == "price").unwrap();
    assert_eq!((price["precision"].clone(), price["scale"].clone()), (json!(20), json!(6)));
    assert_eq!(result["row_count"], 3);
    let rows = result["rows"].as_array().expect("rows");
    assert_eq!(
        rows[0],
        json!([1, -32768, true, "NaN", "12345678901234.123456", "é ☃", "", "AP8Q", "1999-12-31", "23:59:59.999999",
               "2024-02-29T12:34:56.789012", "2024-02-29T10:34:56.789012Z", {"a": [1, 2]},
               "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])
    );
    assert_eq!(rows[1], json!([2, null, null, null, null, null, null, null, null, null, null, null, null, null]));
    assert_eq!(rows[2][4], "-0.000001");
    assert_eq!(rows[2][7], "", "an empty bytea is not NULL");
    assert_eq!(rows[2][12], Value::Null, "JSON null text embeds as null");
}

#[inlet_tests::test]
fn preview_csv_and_ndjson_tell_null_from_empty() {
    require_postgres();
    let db = TypesDb::create("formats");
    let (inlet, token, path) = server_with_source(&db.0);
    let api = inlet.api(&token);
    let preview = |accept: &str| {
        api.send(
            "GET",
            &format!("{path}/preview?schema=shop&table=items&columns=id,note&limit=2"),
            &[("accept", accept)],
            None,
        )
    };
    let csv = preview("text/csv").expect(200);
    assert!(csv.header("content-type").is_some_and(|t| t.starts_with("text/csv")));
    // Rows come in the table's order; the preview has no ORDER BY but the
    // table was written in one insert.
    assert_eq!(csv.text(), "id,note\r\n1,\"\"\r\n2,\r\n");
    let ndjson = preview("application/x-ndjson").expect(200).text();
    let lines: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 3, "{ndjson}");
    assert_eq!(lines[0]["columns"][1]["name"], "note");
    assert_eq!(lines[1], json!([1, ""]));
    assert_eq!(lines[2], json!([2, null]));
    api.send("GET", &format!("{path}/preview?schema=shop&table=items"), &[("accept", "application/xml")], None)
        .expect_error(406, "not_acceptable");
    api.get(&format!("{path}/preview?schema=shop&table=missing")).expect_error(422, "not_found");
    api.get(&format!("{path}/preview?schema=shop&table=items&limit=0")).expect_error(422, "validation_failed");
}

#[inlet_tests::test]
fn a_write_is_refused_by_the_server_itself_and_parameters_are_bound() {
    require_postgres();
    let db = TypesDb::create("readonly");
    let (inlet, token, path) = server_with_source(&db.0);
    let api = inlet.api(&token);
    let refused = query(&api, &path, &json!({"statement": "DELETE FROM shop.items"}), "application/json");
    let error = refused.expect_error(422, "permission");
    assert!(error["message"].as_str().unwrap().contains("read-only"), "{error}");
    let count = query(&api, &path, &json!({"statement": "SELECT count(*) AS n FROM shop.items"}), "application/json")
        .expect(200)
        .json();
    assert_eq!(count["rows"][0][0], 3, "nothing was deleted");

    // A parameter is a value, never SQL.
    let bound = query(
        &api,
        &path,
        &json!({"statement": "SELECT id FROM shop.items WHERE name = $1 OR id = $2", "parameters": ["x' OR '1'='1", 3]}),
        "application/json",
    )
    .expect(200)
    .json();
    assert_eq!(bound["rows"], json!([[3]]));
    query(&api, &path, &json!({"statement": "SELEC 1"}), "application/json").expect(422);
    query(&api, &path, &json!({"statement": "SELECT 1", "timeout_s": 100000}), "application/json")
        .expect_error(422, "validation_failed");
}

/// The backends of `database` running a statement like `like` or holding
/// its transaction open (between the fetches of a streamed result).
fn active_queries(database: &str, like: &str) -> u32 {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-X", "-A", "-t", "-c"])
        .arg(format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND state IN ('active', 'idle in transaction') AND query LIKE '%{like}%' AND pid <> pg_backend_pid()"
        ))
        .output()
        .expect("psql");
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(u32::MAX)
}

#[inlet_tests::test]
fn a_timeout_and_a_disconnect_stop_the_statement_at_the_server() {
    require_postgres();
    let db = TypesDb::create("cancel");
    let (inlet, token, path) = server_with_source(&db.0);
    let api = inlet.api(&token);
    let started = Instant::now();
    let timed_out =
        query(&api, &path, &json!({"statement": "SELECT pg_sleep(60)", "timeout_s": 2}), "application/json");
    assert!(started.elapsed() < Duration::from_secs(20), "stopped near its timeout");
    assert!([422, 504].contains(&timed_out.status), "{}", timed_out.text());
    assert_eq!(timed_out.json()["error"]["details"]["kind"], "timeout", "{}", timed_out.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    while active_queries(&db.0, "pg_sleep") > 0 {
        assert!(Instant::now() < deadline, "the sleeping statement is still running at the server");
        std::thread::sleep(Duration::from_millis(200));
    }

    // A client that reads the start of a large stream and goes away.
    let body = json!({"statement": "SELECT n, h, pg_sleep(0.0005) FROM shop.big", "max_rows": 200000}).to_string();
    let mut socket = TcpStream::connect(("127.0.0.1", inlet.port)).expect("connect");
    write!(
        socket,
        "POST {path}/query HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nAccept: application/x-ndjson\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        token.secret,
        body.len()
    )
    .expect("send");
    let mut first = [0u8; 4096];
    let read = socket.read(&mut first).expect("read the start");
    assert!(
        String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..read])
    );
    assert!(active_queries(&db.0, "shop.big") > 0, "the statement runs while the client reads");
    drop(socket);
    let deadline = Instant::now() + Duration::from_secs(15);
    while active_queries(&db.0, "shop.big") > 0 {
        assert!(Instant::now() < deadline, "the abandoned statement is still running at the server");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The connection went back to the pool in working order.
    let after = query(&api, &path, &json!({"statement": "SELECT 41 + 1"}), "application/json").expect(200).json();
    assert_eq!(after["rows"], json!([[42]]));
}

/// pyarrow, which `cargo xtask test` installs (see [`require`]).
fn require_pyarrow() {
    let found = Command::new("python3").args(["-c", "import pyarrow"]).output().is_ok_and(|o| o.status.success());
    require::that(found, "pyarrow for python3 (python3 -m pip install pyarrow)");
}

#[inlet_tests::test]
fn arrow_ipc_reads_back_in_pyarrow_equal_to_the_source() {
    require_postgres();
    require_pyarrow();
    let db = TypesDb::create("arrow");
    let (inlet, token, path) = server_with_source(&db.0);
    let api = inlet.api(&token);
    let statement = "SELECT id, small, flag, price, name, blob, born, seen_tz FROM shop.items ORDER BY id";
    let arrow = query(&api, &path, &json!({"statement": statement}), "application/vnd.apache.arrow.stream").expect(200);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &arrow.body).expect("write");
    let script = r#"
import sys, json, pyarrow.ipc as ipc
table = ipc.open_stream(open(sys.argv[1], 'rb')).read_all()
print(json.dumps({"schema": [f"{f.name}:{f.type}" for f in table.schema],
                  "rows": [[str(v) if v is not None else None for v in row.values()] for row in table.to_pylist()]}))
"#;
    let output = Command::new("python3").args(["-c", script]).arg(file.path()).output().expect("python3");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let read: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        read["schema"],
        json!([
            "id:int64",
            "small:int16",
            "flag:bool",
            "price:decimal128(20, 6)",
            "name:string",
            "blob:binary",
            "born:date32[day]",
            "seen_tz:timestamp[us, tz=UTC]"
        ])
    );
    assert_eq!(read["rows"][0][3], "12345678901234.123456");
    assert_eq!(read["rows"][0][5], "b'\\x00\\xff\\x10'");
    assert_eq!(read["rows"][0][6], "1999-12-31");
    assert_eq!(read["rows"][0][7], "2024-02-29 10:34:56.789012+00:00");
    assert_eq!(read["rows"][1], json!(["2", null, null, null, null, null, null, null]));
}

#[inlet_tests::test]
fn viewers_preview_members_query_and_other_organizations_see_nothing() {
    require_postgres();
    let db = TypesDb::create("roles");
    let (inlet, token, path) = server_with_source(&db.0);
    let viewer = inlet.token("acme", "viewer", &[]);
    let viewer_api = inlet.api(&viewer);
    viewer_api.get(&format!("{path}/preview?schema=shop&table=items&limit=1")).expect(200);
    query(&viewer_api, &path, &json!({"statement": "SELECT 1"}), "application/json").expect_error(403, "forbidden");
    inlet.org("globex");
    let stranger = inlet.api(&inlet.token("globex", "org-admin", &[]));
    stranger.get(&format!("{path}/preview?schema=shop&table=items")).expect_error(404, "not_found");
    query(&stranger, &path, &json!({"statement": "SELECT 1"}), "application/json").expect_error(404, "not_found");

    // A query is an event without its statement.
    let api = inlet.api(&token);
    query(&api, &path, &json!({"statement": "SELECT 'secret-literal' AS s"}), "application/json").expect(200);
    let events = api.get("/api/v1/events?kind=query_run").expect(200).json();
    let event = &events["items"][0];
    assert_eq!(event["payload"]["outcome"], "succeeded", "{events}");
    assert_eq!(event["payload"]["rows"], 1);
    assert!(!events.to_string().contains("secret-literal"));

    // An organization admin may switch querying off (and only they may);
    // previews stay open, and switching it on again restores queries.
    assert_eq!(api.get("/api/v1/organization/settings").expect(200).json(), json!({"querying": true}));
    let member = inlet.api(&inlet.token("acme", "member", &[]));
    member.patch("/api/v1/organization/settings", &json!({"querying": false})).expect_error(403, "forbidden");
    api.patch("/api/v1/organization/settings", &json!({"querying": "no"})).expect(400);
    let off = api.patch("/api/v1/organization/settings", &json!({"querying": false})).expect(200).json();
    assert_eq!(off, json!({"querying": false}));
    let refused = query(&member, &path, &json!({"statement": "SELECT 1"}), "application/json");
    let refused = refused.expect_error(403, "forbidden");
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("switched off")), "{refused}");
    query(&api, &path, &json!({"statement": "SELECT 1"}), "application/json").expect_error(403, "forbidden");
    member.get(&format!("{path}/preview?schema=shop&table=items&limit=1")).expect(200);
    stranger.get("/api/v1/organization/settings").expect(200);
    assert_eq!(stranger.get("/api/v1/organization/settings").json()["querying"], true, "another organization's own");
    api.patch("/api/v1/organization/settings", &json!({})).expect(200);
    api.patch("/api/v1/organization/settings", &json!({"querying": true})).expect(200);
    query(&member, &path, &json!({"statement": "SELECT 1"}), "application/json").expect(200);
}

const ADMIN_TOKEN: &str = "platform-admin-token-for-reading-7f3c";

#[inlet_tests::test]
fn a_0_1_0_plugin_runs_beside_0_2_0_ones_doing_what_its_version_can() {
    require_postgres();
    let db = TypesDb::create("versions");
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.allow_unsigned_installs(ADMIN_TOKEN);
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let admin = inlet.api_raw(Some(ADMIN_TOKEN));
    let installed = admin.upload_plugin("POST", "/api/v1/plugins", &fixture_dir("v0-1-0")).expect(201).json();
    assert_eq!(installed["api_version"], "0.1.0", "{installed}");
    let api = inlet.api(&token);
    let legacy = api.create(&json!({"name": "legacy", "type": "legacy_echo", "config": {"message": "hi"}}));
    let legacy = legacy["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&legacy)["status"], "active");
    let tested = api.post(&format!("/api/v1/data-sources/{legacy}/test"), &json!({})).expect(200).json();
    assert_eq!(tested["server_version"], "legacy 0.1.0", "{tested}");
    api.post(&format!("/api/v1/data-sources/{legacy}/discover-schema"), &json!({})).expect(202);
    let preview = api.get(&format!("/api/v1/data-sources/{legacy}/preview?schema=legacy&table=echo"));
    let error = preview.expect_error(422, "unsupported");
    assert!(error["message"].as_str().unwrap().contains("0.1"), "{error}");
    query(&api, &format!("/api/v1/data-sources/{legacy}"), &json!({"statement": "x"}), "application/json")
        .expect_error(422, "unsupported");

    // The same server reads from a 0.2.0 connector.
    let shop = api.create(&json!({
        "name": "shop",
        "type": "postgresql",
        "config": {"host": "127.0.0.1", "port": 5432, "database": db.0, "username": "postgres", "ssl_mode": "disable"},
        "health_check_interval_s": 3600
    }));
    let shop = shop["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&shop)["status"], "active");
    let rows = api.get(&format!("/api/v1/data-sources/{shop}/preview?schema=shop&table=items&columns=id&limit=2"));
    assert_eq!(rows.expect(200).json()["rows"], json!([[1], [2]]));
}
