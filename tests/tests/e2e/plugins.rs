//! Plugins as a product, end to end over HTTP and the CLI: install (signed,
//! verified, compiled before anything is stored), refusals (unsigned,
//! untrusted, tampered, wrong API version, not a component, taken id), the
//! types appearing for organizations, disable and enable (data sources held
//! `inactive` with `plugin_disabled` and restored as they were), an
//! organization's own switch, upgrade (data sources keep working), uninstall
//! (refused while in use unless forced), the audit log, restarts, roles, and
//! a hostile plugin installed through the API that harms nothing else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use inlet_tests::server::{Api, Backend, Inlet};
use inlet_tests::{inlet_bin, plugin_dir, wait_for, workspace_root};
use serde_json::{Value, json};

const PLUGINS: &str = "/api/v1/plugins";
const DS: &str = "/api/v1/data-sources";
const ADMIN_TOKEN: &str = "platform-admin-token-for-plugin-tests-7c1d";

/// A copy of the json connector under another id, plugin and type both
/// `json-copy`, at `version`, in a directory of its own.
fn json_copy(root: &Path, version: &str) -> PathBuf {
    let dir = root.join(format!("json-copy-{version}"));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(plugin_dir("json").join("plugin.wasm"), dir.join("plugin.wasm")).expect("wasm");
    let manifest = std::fs::read_to_string(plugin_dir("json").join("plugin.toml")).expect("manifest");
    let manifest = manifest.replacen("id = \"json\"", "id = \"json-copy\"", 2).replacen(
        "version = \"0.1.0\"",
        &format!("version = \"{version}\""),
        1,
    );
    std::fs::write(dir.join("plugin.toml"), manifest).expect("write manifest");
    dir
}

/// Runs the inlet CLI with `env`; (status, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = std::process::Command::new(inlet_bin()).args(args).envs(env.iter().copied()).output().expect("run");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let (ok, out, err) = cli(&["plugin", "keygen", "--out", key.to_str().expect("path")], &[]);
    assert!(ok, "{err}");
    (key, out.trim().lines().last().expect("public key").to_owned())
}

fn sign(dir: &Path, key: &Path) {
    let (ok, _, err) = cli(&["plugin", "sign", dir.to_str().expect("path"), "--key", key.to_str().expect("path")], &[]);
    assert!(ok, "{err}");
}

fn types(api: &Api) -> Vec<String> {
    let list = api.get("/api/v1/data-source-types").expect(200).json();
    list["items"].as_array().expect("items").iter().filter_map(|t| t["type"].as_str().map(str::to_owned)).collect()
}

fn status(api: &Api, id: &str) -> Value {
    api.get(&format!("{DS}/{id}")).expect(200).json()
}

/// On PostgreSQL packages are stored as BYTEA, and replicas share them.
#[inlet_tests::test(each_store)]
fn plugins_are_installed_switched_upgraded_and_removed_with_an_audit_trail(backend: Backend) {
    let work = tempfile::tempdir().expect("temp");
    let (key, public_key) = keygen(work.path(), "publisher.key");
    let (stranger_key, _) = keygen(work.path(), "stranger.key");
    let data = work.path().join("orders.ndjson");
    std::fs::write(&data, "{\"id\": 1, \"total\": 9.5}\n{\"id\": 2, \"total\": 3.25}\n").expect("data");

    let mut inlet = Inlet::new(backend);
    inlet.extra_env.push(("INLET_BOOTSTRAP_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    inlet.extra_env.push(("INLET_TRUSTED_PLUGIN_KEYS".into(), public_key.clone()));
    inlet.extra_env.push(("INLET_HEALTH_SCHEDULER".into(), "off".into()));
    inlet.org("acme");
    inlet.org("globex");
    let acme_admin = inlet.token("acme", "org-admin", &[]);
    let acme_member = inlet.token("acme", "member", &["default"]);
    let globex_admin = inlet.token("globex", "org-admin", &[]);
    inlet.start();
    let admin = inlet.api_raw(Some(ADMIN_TOKEN));
    let acme = inlet.api(&acme_admin);
    let globex = inlet.api(&globex_admin);

    // The bundled plugins are listed with their capabilities.
    let listed = admin.get(PLUGINS).expect(200).json();
    let postgres = listed["items"].as_array().expect("items").iter().find(|p| p["id"] == "postgres").expect("postgres");
    assert_eq!((&postgres["origin"], &postgres["enabled"]), (&json!("bundled"), &json!(true)));
    assert_eq!(postgres["capabilities"]["types"][0]["tcp"]["default_port"], 5432, "{postgres}");
    assert!(
        postgres["capabilities"]["types"][0]["secret_fields"].as_array().expect("secrets").contains(&json!("password"))
    );
    // Nobody but a platform admin touches them.
    for token in [&acme_admin, &acme_member] {
        let api = inlet.api(token);
        api.get(PLUGINS).expect_error(403, "forbidden");
        api.post(&format!("{PLUGINS}/json/disable"), &json!({})).expect_error(403, "forbidden");
        api.delete(&format!("{PLUGINS}/json")).expect_error(403, "forbidden");
        api.upload_plugin("POST", PLUGINS, &json_copy(work.path(), "1.0.0")).expect_error(403, "forbidden");
    }

    // Refusals, before anything is stored.
    let v1 = json_copy(work.path(), "1.0.0");
    admin.upload_plugin("POST", PLUGINS, &v1).expect_error(422, "plugin_unsigned");
    sign(&v1, &stranger_key);
    admin.upload_plugin("POST", PLUGINS, &v1).expect_error(422, "plugin_untrusted");
    sign(&v1, &key);
    let mut wasm = std::fs::read(v1.join("plugin.wasm")).expect("wasm");
    let original = wasm.clone();
    let last = wasm.len() - 1;
    wasm[last] ^= 0xff;
    std::fs::write(v1.join("plugin.wasm"), &wasm).expect("tamper");
    admin.upload_plugin("POST", PLUGINS, &v1).expect_error(422, "plugin_tampered");
    std::fs::write(v1.join("plugin.wasm"), &original).expect("restore");
    let future = json_copy(work.path(), "0.9.0");
    let manifest = std::fs::read_to_string(future.join("plugin.toml")).expect("manifest");
    std::fs::write(future.join("plugin.toml"), manifest.replace("api_version = \"0.2.0\"", "api_version = \"7.0.0\""))
        .expect("write");
    sign(&future, &key);
    let refused = admin.upload_plugin("POST", PLUGINS, &future).expect_error(422, "unsupported_api_version");
    assert!(refused.to_string().contains("0.1.0"), "names the supported versions: {refused}");
    let fake = work.path().join("not-a-connector");
    std::fs::create_dir_all(&fake).expect("dir");
    for file in ["plugin.toml", "plugin.wasm"] {
        std::fs::copy(workspace_root().join("target/fixtures/not-a-connector").join(file), fake.join(file))
            .expect("copy");
    }
    sign(&fake, &key);
    admin.upload_plugin("POST", PLUGINS, &fake).expect_error(422, "plugin_invalid");
    assert_eq!(admin.get(PLUGINS).expect(200).json()["total"], listed["total"], "nothing stored");

    // Install: verified, trusted, and usable at once by organizations.
    let installed = admin.upload_plugin("POST", PLUGINS, &v1).expect(201).json();
    assert_eq!((&installed["id"], &installed["version"]), (&json!("json-copy"), &json!("1.0.0")));
    assert_eq!(installed["signature"]["status"], "trusted");
    assert_eq!(installed["capabilities"]["types"][0]["file"]["path_field"], "file_path");
    admin.upload_plugin("POST", PLUGINS, &v1).expect_error(409, "plugin_exists");
    assert!(types(&acme).contains(&"json-copy".to_owned()), "{:?}", types(&acme));
    let source = acme.create(&json!({ "name": "orders", "type": "json-copy", "config": { "file_path": data } }));
    let id = source["id"].as_str().expect("id").to_owned();
    assert_eq!(acme.wait_settled(&id)["status"], "active");
    let theirs = globex.create(&json!({ "name": "orders", "type": "json-copy", "config": { "file_path": data } }));
    let theirs = theirs["id"].as_str().expect("id").to_owned();
    assert_eq!(globex.wait_settled(&theirs)["status"], "active");

    // Disable: the type disappears, new ones are refused, existing ones are
    // held inactive and cannot be tested; enable restores them as they were.
    admin.post(&format!("{PLUGINS}/json-copy/disable"), &json!({})).expect(200);
    assert!(!types(&acme).contains(&"json-copy".to_owned()));
    acme.post(DS, &json!({ "name": "more", "type": "json-copy", "config": { "file_path": data } }))
        .expect_error(422, "plugin_disabled");
    let held = status(&acme, &id);
    assert_eq!((&held["status"], &held["status_reason"]), (&json!("inactive"), &json!("plugin_disabled")), "{held}");
    acme.post(&format!("{DS}/{id}/test"), &json!({})).expect_error(409, "plugin_disabled");
    let events = acme.get("/api/v1/events?kind=status_changed").expect(200).json();
    assert!(events["items"].as_array().expect("items").iter().any(|e| e["payload"]["reason"] == "plugin_disabled"));
    admin.post(&format!("{PLUGINS}/json-copy/enable"), &json!({})).expect(200);
    assert_eq!(status(&acme, &id)["status"], "active", "restored as it was");
    assert_eq!(status(&globex, &theirs)["status"], "active");

    // An organization's own switch touches that organization only.
    inlet
        .api(&acme_member)
        .json("PUT", "/api/v1/organization/plugins/json-copy", &json!({ "enabled": false }))
        .expect_error(403, "forbidden");
    let off =
        acme.json("PUT", "/api/v1/organization/plugins/json-copy", &json!({ "enabled": false })).expect(200).json();
    assert_eq!((&off["enabled"], &off["platform_enabled"]), (&json!(false), &json!(true)));
    assert!(!types(&acme).contains(&"json-copy".to_owned()));
    assert!(types(&globex).contains(&"json-copy".to_owned()));
    assert_eq!(status(&acme, &id)["status_reason"], "plugin_disabled");
    assert_eq!(status(&globex, &theirs)["status"], "active");
    acme.json("PUT", "/api/v1/organization/plugins/json-copy", &json!({ "enabled": true })).expect(200);
    assert_eq!(status(&acme, &id)["status"], "active");

    // Upgrade: only newer versions; data sources keep working on the new build.
    admin.upload_plugin("PUT", &format!("{PLUGINS}/json-copy"), &v1).expect_error(409, "version_not_newer");
    let v2 = json_copy(work.path(), "1.1.0");
    sign(&v2, &key);
    let upgraded = admin.upload_plugin("PUT", &format!("{PLUGINS}/json-copy"), &v2).expect(200).json();
    assert_eq!(upgraded["version"], "1.1.0");
    let tested = acme.post(&format!("{DS}/{id}/test"), &json!({})).expect(200).json();
    assert_eq!(tested["ok"], true, "{tested}");

    // A restart loads the installed package from the database.
    inlet.stop();
    inlet.start();
    let admin = inlet.api_raw(Some(ADMIN_TOKEN));
    let acme = inlet.api(&acme_admin);
    let after = admin.get(&format!("{PLUGINS}/json-copy")).expect(200).json();
    assert_eq!(
        (&after["version"], &after["loaded"], &after["data_sources"]),
        (&json!("1.1.0"), &json!(true), &json!(2))
    );
    assert_eq!(acme.post(&format!("{DS}/{id}/test"), &json!({})).expect(200).json()["ok"], true);

    // Uninstall: refused while in use, unless forced; bundled ones only disable.
    admin.delete(&format!("{PLUGINS}/json-copy")).expect_error(409, "plugin_in_use");
    admin.delete(&format!("{PLUGINS}/json")).expect_error(409, "bundled_plugin");
    admin.delete(&format!("{PLUGINS}/json-copy?force=true")).expect(204);
    admin.get(&format!("{PLUGINS}/json-copy")).expect_error(404, "not_found");
    assert_eq!(status(&acme, &id)["status"], "inactive");
    assert!(!types(&acme).contains(&"json-copy".to_owned()));

    // The audit log: who did what, in order.
    let audit = admin.get(&format!("{PLUGINS}/audit?plugin_id=json-copy")).expect(200).json();
    let actions: Vec<&str> =
        audit["items"].as_array().expect("items").iter().rev().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["install", "disable", "enable", "organization_disable", "organization_enable", "upgrade", "uninstall"]
    );
    let install = &audit["items"].as_array().expect("items")[6];
    assert_eq!(install["details"]["signature"], "trusted");
    assert!(install["actor"].as_str().expect("actor").starts_with("token:"), "{install}");
    inlet.api(&acme_admin).get(&format!("{PLUGINS}/audit")).expect_error(403, "forbidden");
}

/// The CLI does what the API does, on the same store; a running server
/// follows within seconds.
#[inlet_tests::test]
fn the_cli_installs_and_switches_plugins_for_a_running_server() {
    let work = tempfile::tempdir().expect("temp");
    let (key, public_key) = keygen(work.path(), "publisher.key");
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_TRUSTED_PLUGIN_KEYS".into(), public_key));
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);
    let dir = json_copy(work.path(), "2.0.0");
    sign(&dir, &key);
    let (out, _) = inlet.cli(&["plugins", "install", dir.to_str().expect("path")]);
    let installed: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(installed["signature"]["status"], "trusted");
    wait_for(Duration::from_secs(10), || json!(types(&api)), |t| t.to_string().contains("json-copy"));
    inlet.cli(&["plugins", "disable", "json-copy"]);
    wait_for(Duration::from_secs(10), || json!(types(&api)), |t| !t.to_string().contains("json-copy"));
    let (list, _) = inlet.cli(&["plugins", "list"]);
    let list: Value = serde_json::from_str(&list).expect("JSON");
    let copy = list.as_array().expect("list").iter().find(|p| p["id"] == "json-copy").expect("listed");
    assert_eq!(copy["enabled"], false);
}

/// The hostile fixture, installed through the API (unsigned, allowed by the
/// admin): every misbehaviour fails its own data source with a clear error,
/// network beyond its grant is refused, and a well-behaved data source and
/// the server carry on throughout.
#[inlet_tests::test]
fn a_hostile_plugin_installed_through_the_api_harms_nothing_else() {
    let work = tempfile::tempdir().expect("temp");
    let data = work.path().join("ok.ndjson");
    std::fs::write(&data, "{\"id\": 1}\n").expect("data");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let granted = listener.local_addr().expect("addr").port();
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let elsewhere = elsewhere.local_addr().expect("addr");

    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.allow_unsigned_installs(ADMIN_TOKEN);
    inlet.extra_env.push(("INLET_HEALTH_SCHEDULER".into(), "off".into()));
    inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let admin = inlet.api_raw(Some(ADMIN_TOKEN));
    let api = inlet.api(&token);

    let installed =
        admin.upload_plugin("POST", PLUGINS, &workspace_root().join("target/fixtures/hostile")).expect(201).json();
    assert_eq!(installed["signature"]["status"], "unsigned_allowed");
    assert_eq!(installed["capabilities"]["memory_mib"], 32);
    assert_eq!(installed["capabilities"]["types"][1]["tcp"]["host_field"], "host", "{installed}");

    let good = api.create(&json!({ "name": "good", "type": "json", "config": { "file_path": data } }));
    let good = good["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&good)["status"], "active");

    let quick = json!({ "connect_timeout_s": 2, "query_timeout_s": 2, "max_retries": 0 });
    let cases = [
        ("spin", json!({ "behavior": "spin" }), "hostile", "did not answer"),
        ("sleep-connect", json!({ "behavior": "sleep-connect" }), "hostile", "did not answer"),
        ("memory-bomb", json!({ "behavior": "memory-bomb" }), "hostile", "memory"),
        ("panic", json!({ "behavior": "panic" }), "hostile", "crashed"),
        ("read-file", json!({ "behavior": "read-file", "path": "/etc/passwd" }), "hostile", ""),
        ("metadata-address", json!({ "behavior": "ok", "host": "169.254.169.254", "port": 80 }), "hostile-net", ""),
        (
            "connect-elsewhere",
            json!({ "behavior": "connect", "host": "127.0.0.1", "port": granted, "target": elsewhere.to_string() }),
            "hostile-net",
            "",
        ),
    ];
    for (name, config, source_type, says) in cases {
        let created =
            api.create(&json!({ "name": name, "type": source_type, "config": config, "connection_settings": quick }));
        let id = created["id"].as_str().expect("id").to_owned();
        let settled = api.wait_settled(&id);
        assert_eq!(settled["status"], "failed", "{name}: {settled}");
        let error = &settled["last_test"]["error"];
        assert!(error["message"].as_str().unwrap_or_default().contains(says), "{name}: {error}");
        if name == "metadata-address" {
            assert_eq!(error["kind"], "permission", "refused before any plugin code runs: {error}");
        }
        if name == "connect-elsewhere" {
            // The connector names the kind; the sandbox's refusal is in the message.
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains("not allowed by the sandbox"), "more network than declared is refused: {error}");
        }
        // Everything else carries on.
        assert_eq!(api.post(&format!("{DS}/{good}/test"), &json!({})).expect(200).json()["ok"], true, "after {name}");
        assert_eq!(inlet.api_raw(None).get("/healthz").expect(200).json()["status"], "ok");
    }

    // A discovery that floods a page ends (failed or bounded), and the server lives.
    let flood = api.create(&json!({ "name": "flood", "type": "hostile", "config": { "behavior": "huge-discover" }, "connection_settings": quick }));
    let flood = flood["id"].as_str().expect("id").to_owned();
    api.wait_settled(&flood);
    api.post(&format!("{DS}/{flood}/discover-schema"), &json!({})).expect(202);
    let job = wait_for(
        Duration::from_secs(60),
        || api.get(&format!("{DS}/{flood}/schemas")).expect(200).json(),
        |c| matches!(c["discovery"]["status"].as_str(), Some("succeeded" | "failed")),
    );
    assert_eq!(job["discovery"]["status"], "failed", "{}", job["discovery"]);
    assert_eq!(api.post(&format!("{DS}/{good}/test"), &json!({})).expect(200).json()["ok"], true);
    drop(listener);
}
