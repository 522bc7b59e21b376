//! The connector run natively (no sandbox): a smoke test against the MariaDB
//! on 127.0.0.1:3306, and whole logins against a scripted MySQL 8 server on a
//! local socket for caching_sha2_password, which MariaDB does not have on the
//! server side. The scripted server checks what a real one checks: the
//! SHA-256 scramble against SHA256(SHA256(password)), and the RSA-OAEP
//! message decrypted with its private key and XORed with the nonce.
//! The end-to-end tests (the wasm component in the host) are tests/tests/e2e/mysql.rs.

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use inlet_plugin_mysql::auth::OsRandom;
use inlet_plugin_mysql::catalog;
use inlet_plugin_mysql::client::{Greeting, Login};
use inlet_plugin_mysql::config::Config;
use inlet_plugin_mysql::handshake::{caps, client_capabilities};
use inlet_plugin_mysql::packet::{Cursor, PacketIo, put_lenenc_bytes};
use inlet_plugin_mysql::{MySql, MySqlConnection};
use inlet_sdk::Failure;
use inlet_sdk::prelude::*;
use inlet_sdk::testing::{self, step};
use inlet_tests::require::{self, Service};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

fn request(source_type: &str, port: u16, config: Value, password: Option<&str>) -> ConnectRequest {
    testing::network_request(source_type, port, &config, password)
}

fn connect(request: &ConnectRequest) -> Result<(MySqlConnection, Vec<CheckStep>), Failure> {
    testing::connect::<MySql>(request)
}

#[inlet_tests::test]
fn connects_tests_and_discovers_against_the_local_mariadb() {
    require::service(Service::MariaDb);
    let config = json!({"host": "127.0.0.1", "username": "root", "ssl_mode": "disabled"});
    let (mut connection, steps) = connect(&request("mariadb", 3306, config, None)).expect("connect");
    assert_eq!(step(&steps, "authenticate").message.as_deref(), Some("mysql_native_password"));
    let mut test_steps = Steps::new();
    let version = connection.test(&mut test_steps).expect("test").expect("version");
    assert!(version.starts_with("MariaDB "), "{version}");
    let page = connection
        .discover(&DiscoverRequest {
            include_schemas: vec!["mysql".into()],
            exclude_schemas: vec![],
            page_token: None,
            page_size: 3,
        })
        .expect("discover");
    assert_eq!(page.schemas.len(), 1);
    assert_eq!(page.schemas[0].tables.len(), 3);
    assert!(page.next_page_token.is_some());
    // The connection stays usable for the next page.
    let next = connection
        .discover(&DiscoverRequest {
            include_schemas: vec!["mysql".into()],
            exclude_schemas: vec![],
            page_token: page.next_page_token,
            page_size: 3,
        })
        .expect("second page");
    assert!(next.schemas[0].tables[0].name > page.schemas[0].tables[2].name);
}

/// MySQL 8's CHECK_CONSTRAINTS has no TABLE_NAME, so the connector joins it
/// to TABLE_CONSTRAINTS there. MariaDB has both tables: this runs that query
/// against the real server by pretending TABLE_NAME is missing.
#[inlet_tests::test]
fn the_mysql8_check_constraint_query_runs_against_mariadb() {
    require::service(Service::MariaDb);
    require::tool("mariadb");
    let db = format!("inlet_my_native_{}", std::process::id());
    let setup = format!(
        "DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}`; USE `{db}`; \
         CREATE TABLE t (qty INT, price INT, CONSTRAINT t_qty_positive CHECK (qty > 0), \
                         CONSTRAINT t_price_over_qty CHECK (price >= qty));"
    );
    let mariadb = |script: &str| {
        std::process::Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-h127.0.0.1", "--protocol=TCP", "-e", script])
            .output()
            .expect("mariadb client")
    };
    assert!(mariadb(&setup).status.success());

    let socket = inlet_sdk::net::connect_tcp(SocketAddr::from(([127, 0, 0, 1], 3306))).expect("tcp");
    let greeting = Greeting::read(socket).expect("greeting");
    let capabilities = client_capabilities(greeting.handshake.capabilities, false, false).expect("caps");
    let login = Login { username: "root", password: "", database: None, server_public_key: None };
    let (mut client, _) = greeting.plain().expect("plain").login(capabilities, &login).expect("login");
    let mut features = catalog::probe_features(&mut client).expect("probe");
    assert!(features.check_constraints && features.check_table_name, "{features:?}");
    features.check_table_name = false;
    let config = Config::from_json(r#"{"host": "127.0.0.1", "username": "root"}"#).expect("config");
    let request =
        DiscoverRequest { include_schemas: vec![db.clone()], exclude_schemas: vec![], page_token: None, page_size: 10 };
    let page = catalog::discover(&mut client, features, &config, &request);
    mariadb(&format!("DROP DATABASE IF EXISTS `{db}`"));
    let page = page.expect("discover");
    let checks: Vec<(String, Vec<String>, Option<String>)> = page.schemas[0].tables[0]
        .constraints
        .iter()
        .map(|c| (c.name.clone(), c.columns.clone(), c.definition.clone()))
        .collect();
    assert_eq!(
        checks,
        [
            (
                "t_price_over_qty".to_owned(),
                vec!["price".to_owned(), "qty".to_owned()],
                Some("CHECK (`price` >= `qty`)".to_owned())
            ),
            ("t_qty_positive".to_owned(), vec!["qty".to_owned()], Some("CHECK (`qty` > 0)".to_owned())),
        ]
    );
}

const USER: &str = "bob";
const PASSWORD: &str = "Sha2-Pa55-native-zk42";
const NONCE: &[u8; 20] = b"0123456789abcdefghij";

/// What the scripted server does when the scramble arrives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cache {
    /// The password is cached: check the scramble, answer 0x03 and OK.
    Hit,
    /// Not cached: ask for the password (0x04), then send the RSA key when asked.
    Miss,
}

/// A MySQL 8.0 server for one connection, speaking only what these tests need.
/// Returns the queries it was sent, or what went wrong.
fn scripted_server(cache: Cache) -> (SocketAddr, JoinHandle<Result<Vec<String>, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = std::thread::spawn(move || {
        let (socket, _) = listener.accept().map_err(|e| e.to_string())?;
        let mut io = PacketIo::new(socket);
        let send = |io: &mut PacketIo<_>, payload: &[u8]| io.write_packet(payload).map_err(|e| e.message);
        send(&mut io, &greeting())?;
        let response = io.read_packet().map_err(|e| e.message)?;
        let (user, scramble, plugin) = parse_response(&response)?;
        if user != USER || plugin != "caching_sha2_password" {
            return Err(format!("unexpected login {user} / {plugin}"));
        }
        let stored = Sha256::digest(Sha256::digest(PASSWORD.as_bytes()));
        if !scramble_matches(&stored, &scramble) {
            send(&mut io, &access_denied())?;
            return Ok(Vec::new());
        }
        match cache {
            Cache::Hit => send(&mut io, &[0x01, 0x03])?,
            Cache::Miss => {
                send(&mut io, &[0x01, 0x04])?;
                let request = io.read_packet().map_err(|e| e.message)?;
                if request != [0x02] {
                    return Err(format!("expected a public key request, got {request:?}"));
                }
                let key = RsaPrivateKey::new(&mut OsRandom, 1024).map_err(|e| e.to_string())?;
                let pem = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| e.to_string())?;
                let mut more = vec![0x01];
                more.extend_from_slice(pem.as_bytes());
                send(&mut io, &more)?;
                let encrypted = io.read_packet().map_err(|e| e.message)?;
                let plain = key.decrypt(Oaep::new::<Sha1>(), &encrypted).map_err(|e| e.to_string())?;
                let password: Vec<u8> = plain.iter().zip(NONCE.iter().cycle()).map(|(a, b)| a ^ b).collect();
                if password != [PASSWORD.as_bytes(), &[0]].concat() {
                    send(&mut io, &access_denied())?;
                    return Ok(Vec::new());
                }
            }
        }
        send(&mut io, &ok())?;
        let mut queries = Vec::new();
        loop {
            io.reset_seq();
            let command = io.read_packet().map_err(|e| e.message)?;
            match command.split_first() {
                Some((0x01, _)) => return Ok(queries),
                Some((0x03, sql)) => {
                    let sql = String::from_utf8_lossy(sql).into_owned();
                    for packet in answer(&sql) {
                        send(&mut io, &packet)?;
                    }
                    queries.push(sql);
                }
                _ => return Err(format!("unexpected command {command:?}")),
            }
        }
    });
    (addr, handle)
}

fn greeting() -> Vec<u8> {
    let capabilities = caps::LONG_PASSWORD
        | caps::PROTOCOL_41
        | caps::SECURE_CONNECTION
        | caps::PLUGIN_AUTH
        | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
        | caps::CONNECT_WITH_DB
        | caps::DEPRECATE_EOF
        | caps::TRANSACTIONS;
    let mut p = vec![10];
    p.extend_from_slice(b"8.0.36\0");
    p.extend_from_slice(&7u32.to_le_bytes());
    p.extend_from_slice(&NONCE[..8]);
    p.push(0);
    p.extend_from_slice(&(capabilities as u16).to_le_bytes());
    p.push(255);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(&NONCE[8..]);
    p.push(0);
    p.extend_from_slice(b"caching_sha2_password\0");
    p
}

/// (user, auth response, plugin) out of a HandshakeResponse41.
fn parse_response(payload: &[u8]) -> Result<(String, Vec<u8>, String), String> {
    let mut c = Cursor::new(payload);
    let capabilities = c.u32("caps").map_err(|e| e.to_string())?;
    c.skip(4 + 1 + 23, "fixed").map_err(|e| e.to_string())?;
    let user = String::from_utf8_lossy(c.nul_terminated("user").map_err(|e| e.to_string())?).into_owned();
    let scramble = c.lenenc_bytes("auth").map_err(|e| e.to_string())?.unwrap_or_default().to_vec();
    if capabilities & caps::CONNECT_WITH_DB != 0 {
        c.nul_terminated("db").map_err(|e| e.to_string())?;
    }
    let plugin = String::from_utf8_lossy(c.nul_terminated("plugin").map_err(|e| e.to_string())?).into_owned();
    Ok((user, scramble, plugin))
}

/// The server's fast-auth check: XOR with SHA256(stored + nonce) must give
/// a value whose SHA-256 is the stored digest.
fn scramble_matches(stored: &[u8], scramble: &[u8]) -> bool {
    let mask = Sha256::new().chain_update(stored).chain_update(NONCE).finalize();
    let stage1: Vec<u8> = scramble.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
    scramble.len() == 32 && Sha256::digest(&stage1).as_slice() == stored
}

fn ok() -> Vec<u8> {
    vec![0x00, 0, 0, 0x02, 0, 0, 0]
}

fn access_denied() -> Vec<u8> {
    let mut p = vec![0xFF, 0x15, 0x04];
    p.extend_from_slice(b"#28000Access denied for user 'bob'@'localhost' (using password: YES)");
    p
}

/// The packets answering one query: OK for SET, a one-row result otherwise.
fn answer(sql: &str) -> Vec<Vec<u8>> {
    let row: Vec<&str> = if sql.starts_with("SET ") {
        return vec![ok()];
    } else if sql.starts_with("SELECT VERSION()") {
        vec!["8.0.36", "MySQL Community Server - GPL"]
    } else if sql.starts_with("SELECT CURRENT_USER()") {
        vec!["bob@%", "1", "3"]
    } else if sql.starts_with("SHOW GRANTS") {
        vec!["GRANT SELECT ON `shop`.* TO `bob`@`%`"]
    } else {
        vec![]
    };
    let mut packets = vec![vec![row.len() as u8]];
    for i in 0..row.len() {
        let mut def = Vec::new();
        for part in ["def", "", "", "", &format!("c{i}"), ""] {
            put_lenenc_bytes(&mut def, part.as_bytes());
        }
        def.push(0x0C);
        def.extend_from_slice(&[0x21, 0, 0, 1, 0, 0, 0xFD, 0, 0, 0, 0, 0]);
        packets.push(def);
    }
    let mut values = Vec::new();
    for value in &row {
        put_lenenc_bytes(&mut values, value.as_bytes());
    }
    packets.push(values);
    packets.push(vec![0xFE, 0, 0, 0x02, 0, 0, 0]);
    packets
}

fn mysql8_config() -> Value {
    json!({"host": "127.0.0.1", "username": USER, "database": "shop", "ssl_mode": "preferred"})
}

#[inlet_tests::test]
fn caching_sha2_fast_auth_logs_in_and_tests() {
    let (addr, server) = scripted_server(Cache::Hit);
    let (mut connection, steps) =
        connect(&request("mysql", addr.port(), mysql8_config(), Some(PASSWORD))).expect("connect");
    assert_eq!(step(&steps, "authenticate").message.as_deref(), Some("caching_sha2_password"));
    assert_eq!(step(&steps, "greeting").message.as_deref(), Some("MySQL 8.0.36"));
    // The server offered no TLS; preferred goes on in plaintext.
    assert!(step(&steps, "tls").message.as_deref().is_some_and(|m| m.contains("does not offer TLS")));
    let mut test_steps = Steps::new();
    let version = connection.test(&mut test_steps).expect("test");
    assert_eq!(version.as_deref(), Some("MySQL 8.0.36"));
    let permission = step(test_steps.as_slice(), "catalog permission");
    assert_eq!(permission.message.as_deref(), Some("bob@%: 1 database(s), 3 table(s) visible"));
    drop(connection);
    let queries = server.join().expect("server thread").expect("server");
    // MySQL's statement timeout, not MariaDB's: 80 % of the 10 s query timeout.
    assert_eq!(queries[0], "SET SESSION max_execution_time = 8000");
}

#[inlet_tests::test]
fn caching_sha2_full_auth_over_plaintext_uses_the_servers_rsa_key() {
    let (addr, server) = scripted_server(Cache::Miss);
    let (connection, steps) =
        connect(&request("mysql", addr.port(), mysql8_config(), Some(PASSWORD))).expect("connect");
    assert_eq!(step(&steps, "authenticate").message.as_deref(), Some("caching_sha2_password"));
    drop(connection);
    server.join().expect("server thread").expect("server");
}

#[inlet_tests::test]
fn caching_sha2_wrong_password_is_auth() {
    let (addr, server) = scripted_server(Cache::Hit);
    let failure = connect(&request("mysql", addr.port(), mysql8_config(), Some("Wr0ng-native")))
        .err()
        .expect("the login must fail");
    assert_eq!(failure.error.kind, ErrorKind::Auth);
    assert!(failure.error.message.contains("[MySQL error 1045, SQLSTATE 28000]"), "{}", failure.error.message);
    assert!(!step(&failure.steps, "authenticate").passed);
    server.join().expect("server thread").expect("server");
}

#[inlet_tests::test]
fn required_tls_never_sends_the_login_to_a_server_without_tls() {
    let (addr, server) = scripted_server(Cache::Hit);
    let mut config = mysql8_config();
    config["ssl_mode"] = json!("required");
    let failure = connect(&request("mysql", addr.port(), config, Some(PASSWORD))).err().expect("must fail");
    assert_eq!(failure.error.kind, ErrorKind::Unsupported);
    assert!(!failure.steps.iter().any(|s| s.name == "authenticate"));
    // The server saw the connection close before any HandshakeResponse.
    assert!(server.join().expect("server thread").is_err());
}

/// Run by the e2e harness (`inlet_tests::harness`): a test whose server is
/// missing is reported as ignored, or fails under `INLET_REQUIRE_SERVICES=1`.
fn main() -> std::process::ExitCode {
    inlet_tests::harness::main()
}
