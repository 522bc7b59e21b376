//! SSH tunnels through the API, end to end: a real OpenSSH server (its own
//! host key, users and log) in front of the local PostgreSQL and MariaDB.
//! sshd's own log proves the database traffic took the tunnel.

use std::time::Duration;

use inlet_tests::require::{self, Service};
use inlet_tests::server::{Api, Backend, Inlet};
use inlet_tests::sshd::Sshd;
use inlet_tests::wait_for;
use serde_json::{Value, json};

const DS: &str = "/api/v1/data-sources";

fn server() -> (Inlet, Api) {
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    (inlet, api)
}

fn postgres(name: &str, tunnel: Value, credentials: Value) -> Value {
    json!({
        "name": name,
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": 5432, "database": "postgres", "username": "postgres", "ssl_mode": "disable" },
        "ssh_tunnel": tunnel,
        "credentials": credentials,
        "connection_settings": { "connect_timeout_s": 10 },
        "health_check_interval_s": 3600
    })
}

fn tunnel(sshd: &Sshd, auth: &str, fingerprint: &str) -> Value {
    json!({
        "enabled": true,
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.user,
        "auth": auth,
        "host_key_fingerprint": fingerprint
    })
}

fn step_names(test: &Value) -> Vec<String> {
    test["steps"]
        .as_array()
        .map_or_else(Vec::new, |steps| steps.iter().map(|s| s["name"].as_str().unwrap_or("").to_owned()).collect())
}

fn failed_step(test: &Value) -> String {
    test["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["passed"] == false))
        .and_then(|s| s["name"].as_str())
        .unwrap_or("")
        .to_owned()
}

fn require_sshd_and_databases() {
    Sshd::require();
    require::service(Service::Postgres);
    require::service(Service::MariaDb);
}

#[inlet_tests::test]
fn databases_are_reached_through_the_bastion_with_every_kind_of_credential() {
    require_sshd_and_databases();
    let sshd = Sshd::start();
    let (_inlet, api) = server();
    let pinned = sshd.host_key_fingerprint().to_owned();

    // Password authentication to PostgreSQL: the SSH stages come first.
    let before = sshd.forwarded_channels("127.0.0.1", 5432);
    let created = api.create(&postgres(
        "pg via password",
        tunnel(&sshd, "password", &pinned),
        json!({ "ssh_password": sshd.password }),
    ));
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(created["secret_fields"].as_array().is_some_and(|f| f.contains(&json!("ssh_password"))), "{created}");
    assert!(!created.to_string().contains(&sshd.password), "the SSH password never comes back");
    let settled = api.wait_settled(&id);
    assert_eq!(settled["status"], "active", "{settled}");
    let names = step_names(&settled["last_test"]);
    assert_eq!(names[..3], ["ssh connect", "ssh authenticate", "ssh open channel"], "{names:?}");
    assert!(names.iter().any(|n| n == "tcp connect"), "the database steps follow: {names:?}");
    assert!(sshd.forwarded_channels("127.0.0.1", 5432) > before, "sshd forwarded the database connection");

    // Keys of every type, and an encrypted one, to MariaDB and PostgreSQL.
    let maria = api.create(&json!({
        "name": "maria via ed25519",
        "type": "mariadb",
        "config": { "host": "127.0.0.1", "port": 3306, "username": "root", "ssl_mode": "disabled" },
        "ssh_tunnel": tunnel(&sshd, "private_key", &pinned),
        "credentials": { "ssh_private_key": sshd.ed25519.pem() },
        "health_check_interval_s": 3600
    }));
    let maria_id = maria["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&maria_id)["status"], "active", "{}", api.get(&format!("{DS}/{maria_id}")).text());
    assert!(sshd.forwarded_channels("127.0.0.1", 3306) >= 1, "sshd forwarded the MariaDB connection");
    for key in [&sshd.ecdsa, &sshd.rsa, &sshd.ed25519_encrypted] {
        let mut credentials = json!({ "ssh_private_key": key.pem() });
        if let Some(passphrase) = &key.passphrase {
            credentials["ssh_private_key_passphrase"] = json!(passphrase);
        }
        let body = postgres(&format!("pg via {}", key.kind), tunnel(&sshd, "private_key", &pinned), credentials);
        let id = api.create(&body)["id"].as_str().expect("id").to_owned();
        let settled = api.wait_settled(&id);
        assert_eq!(settled["status"], "active", "{} key: {settled}", key.kind);
    }

    let metrics = api.get(&format!("{DS}/metrics")).expect(200).json();
    assert!(metrics["ssh_tunnels"]["tunnels_open"].as_u64() >= Some(5), "{}", metrics["ssh_tunnels"]);
    let log = inlet_log_has_no(&_inlet, &[&sshd.password, KEY_MARKER]);
    assert!(log, "no SSH secret in the server log");

    // Deleting a data source closes its tunnel.
    api.delete(&format!("{DS}/{id}")).expect(204);
    let after = api.get(&format!("{DS}/metrics")).expect(200).json();
    assert_eq!(
        after["ssh_tunnels"]["tunnels_open"].as_u64(),
        metrics["ssh_tunnels"]["tunnels_open"].as_u64().map(|n| n - 1),
        "{after}"
    );
}

/// A line of every OpenSSH private key file.
const KEY_MARKER: &str = "BEGIN OPENSSH PRIVATE KEY";

fn inlet_log_has_no(inlet: &Inlet, needles: &[&str]) -> bool {
    let log = inlet.server_log();
    needles.iter().all(|needle| !log.contains(needle))
}

#[inlet_tests::test]
fn wrong_host_keys_and_credentials_fail_on_their_ssh_step() {
    require_sshd_and_databases();
    let sshd = Sshd::start();
    let (_inlet, api) = server();
    let pinned = sshd.host_key_fingerprint().to_owned();

    // Another key pinned: refused at connect, never a silent accept.
    let other_key = format!("SHA256:{}", "A".repeat(43));
    let created = api.create(&postgres(
        "wrong key",
        tunnel(&sshd, "password", &other_key),
        json!({ "ssh_password": sshd.password }),
    ));
    let settled = api.wait_settled(created["id"].as_str().expect("id"));
    assert_eq!(settled["status"], "failed", "{settled}");
    let test = &settled["last_test"];
    assert_eq!(test["error"]["kind"], "config", "{test}");
    assert!(test["error"]["message"].as_str().is_some_and(|m| m.contains("host key") && m.contains(&pinned)), "{test}");
    assert_eq!(failed_step(test), "ssh connect", "{test}");

    // A wrong password: `auth` on the SSH step, not on the database's.
    let created =
        api.create(&postgres("wrong password", tunnel(&sshd, "password", &pinned), json!({ "ssh_password": "nope" })));
    let settled = api.wait_settled(created["id"].as_str().expect("id"));
    let test = &settled["last_test"];
    assert_eq!(test["error"]["kind"], "auth", "{test}");
    assert_eq!(failed_step(test), "ssh authenticate", "{test}");
    let health = api.get(&format!("{DS}/{}/health", created["id"].as_str().expect("id"))).expect(200).json();
    let message = health["history"]["items"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("SSH"), "the history names the SSH failure: {health}");

    // Without a pinned key, and no trust on first use: refused up front.
    let mut unpinned = tunnel(&sshd, "password", &pinned);
    unpinned.as_object_mut().expect("tunnel").remove("host_key_fingerprint");
    let response = api.post(DS, &postgres("unpinned", unpinned, json!({ "ssh_password": sshd.password })));
    response.expect_error(422, "validation_failed");
    // Password auth without the password.
    let response = api.post(DS, &postgres("no password", tunnel(&sshd, "password", &pinned), json!({})));
    let error = response.expect_error(422, "validation_failed");
    assert!(error.to_string().contains("ssh_password"), "{error}");
    // SSH credentials on a file type make no sense.
    let csv = json!({ "name": "csv", "type": "csv", "config": { "file_path": "/tmp/x.csv" }, "credentials": { "ssh_password": "x" } });
    api.post(DS, &csv).expect_error(422, "validation_failed");
}

#[inlet_tests::test]
fn a_restarted_bastion_is_reconnected_and_trust_on_first_use_pins_the_key() {
    require_sshd_and_databases();
    let mut sshd = Sshd::start();
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_SSH_TRUST_ON_FIRST_USE".into(), "allow".into()));
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);

    let mut unpinned = tunnel(&sshd, "password", "");
    unpinned.as_object_mut().expect("tunnel").remove("host_key_fingerprint");
    let created = api.create(&postgres("tofu", unpinned, json!({ "ssh_password": sshd.password })));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let stored = wait_for(
        Duration::from_secs(10),
        || api.get(&format!("{DS}/{id}")).expect(200).json(),
        |d| !d["ssh_tunnel"]["host_key_fingerprint"].is_null(),
    );
    assert_eq!(stored["ssh_tunnel"]["host_key_fingerprint"], sshd.host_key_fingerprint(), "the learned key is pinned");

    // The pinned settings replace the first-use tunnel on the next connection.
    let test = api.post(&format!("{DS}/{id}/test"), &json!({})).expect(200).json();
    assert_eq!(test["ok"], true, "{test}");
    let reconnects =
        |api: &Api| api.get(&format!("{DS}/metrics")).expect(200).json()["ssh_tunnels"]["reconnects"].as_u64();
    let before = reconnects(&api);

    // The bastion goes away and comes back: the next test reconnects.
    sshd.restart();
    let test = wait_for(
        Duration::from_secs(30),
        || api.post(&format!("{DS}/{id}/test"), &json!({})).expect(200).json(),
        |t| t["ok"] == true,
    );
    assert!(step_names(&test).iter().any(|n| n == "ssh open channel"), "{test}");
    assert!(reconnects(&api) > before, "the tunnel reconnected rather than being replaced");
}
