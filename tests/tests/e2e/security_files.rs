//! What file sources may read and what signed file links serve, attacked
//! through the real server as an ordinary member would (issue 15):
//! server paths only under `INLET_FILES_ROOT` (none by default), never
//! `/proc`, `/sys`, `/dev` or the data dir; links bound to the file they
//! were issued for; strict `storage://` references; stored files scoped to
//! workspaces; odd upload names end to end; private state on disk.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use inlet_tests::server::{Api, Backend, Inlet, Response};
use serde_json::{Value, json};

const FILES: &str = "/api/v1/storage/files";
const DS: &str = "/api/v1/data-sources";

fn upload_to(api: &Api, query: &str, name: &str, bytes: &[u8]) -> Response {
    let boundary = "inlet-security-boundary-41c9";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/html\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    api.send("POST", &format!("{FILES}{query}"), &[("Content-Type", &content_type)], Some(&body))
}

fn upload(api: &Api, name: &str, bytes: &[u8]) -> Value {
    upload_to(api, "", name, bytes).expect(201).json()
}

fn csv(name: &str, file_path: &str) -> Value {
    json!({ "name": name, "type": "csv", "config": { "file_path": file_path } })
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// A signed link to the data source's file (the relative URL).
fn link(api: &Api, id: &str) -> String {
    api.get(&format!("{DS}/{id}/file-url")).expect(200).json()["url"].as_str().expect("url").to_owned()
}

fn download(inlet: &Inlet, url: &str) -> Response {
    inlet.api_raw(None).get(url)
}

#[track_caller]
fn refused(response: Response) {
    let error = response.expect_error(422, "validation_failed");
    assert!(error.to_string().contains("/config/file_path"), "{error}");
}

#[inlet_tests::test]
fn by_default_file_sources_read_stored_files_only() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.without_files_root();
    inlet.org("acme");
    let member = inlet.token("acme", "member", &[]);
    inlet.start();
    let api = inlet.api(&member);
    let own_file = tempfile::tempdir().unwrap();
    std::fs::write(own_file.path().join("a.csv"), "a\n1\n").unwrap();
    let db = inlet.data_dir.path().join("inlet.db");
    for path in [
        "/proc/self/environ",
        "/proc/self/cmdline",
        "/proc/self/cwd/../../etc/hostname",
        "/etc/shadow",
        "/etc/hostname",
        "relative.csv",
        own_file.path().join("a.csv").to_str().unwrap(),
        db.to_str().unwrap(),
    ] {
        refused(api.post(DS, &csv("leak", path)));
    }
    assert_eq!(api.get(DS).expect(200).json()["total"], 0);
    // A stored file of the organization is what a server reads.
    let stored = upload(&api, "a.csv", b"a,b\n1,2\n");
    let id = id_of(&api.create(&csv("stored", stored["file_path"].as_str().unwrap())));
    assert_eq!(api.wait_settled(&id)["status"], "active");
    // Nor may a PATCH point an existing data source at a server path.
    let patched = api.patch(&format!("{DS}/{id}"), &json!({ "config": { "file_path": "/proc/self/environ" } }));
    assert_eq!(patched.status, 422, "{}", patched.text());
    assert_eq!(api.get(&format!("{DS}/{id}")).expect(200).json()["config"]["file_path"], stored["file_path"]);
}

#[inlet_tests::test]
fn files_roots_confine_paths_whatever_symlinks_and_dots_say() {
    let (root_a, root_b, outside) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(root_b.path().join("b.csv"), "x,y\n1,2\n").unwrap();
    std::fs::write(outside.path().join("secret.csv"), "s\nsecret\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.csv"), root_a.path().join("link.csv")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root_a.path().join("dirlink")).unwrap();
    std::os::unix::fs::symlink("/proc/self", root_a.path().join("proc")).unwrap();
    let mut inlet = Inlet::new(Backend::Sqlite);
    let roots = format!("{}:{}", root_a.path().display(), root_b.path().display());
    inlet.extra_env.push(("INLET_FILES_ROOT".into(), roots));
    inlet.org("acme");
    let member = inlet.token("acme", "member", &[]);
    inlet.start();
    let api = inlet.api(&member);
    // Several roots: a relative path is found in whichever holds it.
    let id = id_of(&api.create(&csv("b", "b.csv")));
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let escaping = [
        "link.csv".to_owned(),
        "dirlink/secret.csv".to_owned(),
        "proc/environ".to_owned(),
        "../../../../etc/hostname".to_owned(),
        root_a.path().join("..").join(outside.path().file_name().unwrap()).join("secret.csv").display().to_string(),
        outside.path().join("secret.csv").display().to_string(),
        "/proc/self/environ".to_owned(),
    ];
    for path in &escaping {
        refused(api.post(DS, &csv("escape", path)));
    }

    // A root that holds everything still never grants the system or the data dir.
    let mut wide = Inlet::new(Backend::Sqlite);
    wide.extra_env.push(("INLET_FILES_ROOT".into(), "/".into()));
    wide.org("acme");
    let member = wide.token("acme", "member", &[]);
    wide.start();
    let api = wide.api(&member);
    let db = wide.data_dir.path().join("inlet.db");
    for path in ["/proc/self/environ", "/sys/kernel/hostname", "/dev/zero", db.to_str().unwrap()] {
        refused(api.post(DS, &csv("system", path)));
    }
}

#[inlet_tests::test]
fn a_directory_swapped_for_a_symlink_is_not_served() {
    let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::create_dir(root.path().join("d")).unwrap();
    std::fs::write(root.path().join("d/x.csv"), "a\n1\n").unwrap();
    std::fs::write(outside.path().join("x.csv"), "a\nsecret\n").unwrap();
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_FILES_ROOT".into(), root.path().display().to_string()));
    inlet.org("acme");
    let member = inlet.token("acme", "member", &[]);
    inlet.start();
    let api = inlet.api(&member);
    let id = id_of(&api.create(&csv("x", "d/x.csv")));
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let url = link(&api, &id);
    assert_eq!(download(&inlet, &url).expect(200).body, b"a\n1\n");
    std::fs::rename(root.path().join("d"), root.path().join("d-old")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("d")).unwrap();
    download(&inlet, &url).expect_error(403, "forbidden");
    api.get(&format!("{DS}/{id}/file-url")).expect_error(403, "file_not_allowed");
}

#[inlet_tests::test]
fn signed_links_bind_the_file_they_were_issued_for() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.csv"), "a,b\n1,2\n").unwrap();
    std::fs::write(root.path().join("other.csv"), "c\n3\n").unwrap();
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_FILES_ROOT".into(), root.path().display().to_string()));
    inlet.org("acme");
    let member = inlet.token("acme", "member", &[]);
    inlet.start();
    let api = inlet.api(&member);
    let id = id_of(&api.create(&csv("a", "a.csv")));
    let first = link(&api, &id);
    let served = download(&inlet, &first).expect(200);
    assert_eq!(served.body, b"a,b\n1,2\n");
    assert_eq!(served.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(served.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(served.header("content-disposition"), Some("attachment; filename=\"a.csv\"; filename*=UTF-8''a.csv"));
    // The file changed since the link was issued: refused; a new link serves it.
    std::fs::write(root.path().join("a.csv"), "a,b\n1,2\n3,4\n").unwrap();
    download(&inlet, &first).expect_error(403, "forbidden");
    let second = link(&api, &id);
    assert_eq!(download(&inlet, &second).expect(200).body, b"a,b\n1,2\n3,4\n");
    // The data source now names another file: the old link is refused.
    api.patch(&format!("{DS}/{id}"), &json!({ "config": { "file_path": "other.csv" } })).expect(200);
    download(&inlet, &second).expect_error(403, "forbidden");
    assert_eq!(download(&inlet, &link(&api, &id)).expect(200).body, b"c\n3\n");

    // The same for stored files: a link names the stored file, not the data source.
    let (one, two) = (upload(&api, "one.csv", b"n\n1\n"), upload(&api, "two.csv", b"n\n2\n"));
    let stored = id_of(&api.create(&csv("stored", one["file_path"].as_str().unwrap())));
    let to_one = link(&api, &stored);
    let served = download(&inlet, &to_one).expect(200);
    assert_eq!(served.body, b"n\n1\n");
    assert_eq!(served.header("content-type"), Some("text/csv; charset=utf-8"), "not the uploader's text/html");
    api.patch(&format!("{DS}/{stored}"), &json!({ "config": { "file_path": two["file_path"] } })).expect(200);
    download(&inlet, &to_one).expect_error(403, "forbidden");
    assert_eq!(download(&inlet, &link(&api, &stored)).expect(200).body, b"n\n2\n");
}

#[inlet_tests::test]
fn storage_references_are_exact() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    let file = upload(&api, "a.csv", b"a\n1\n");
    let (file_id, path) = (id_of(&file), file["file_path"].as_str().unwrap().to_owned());
    for near in [format!("{path}/"), format!("{path}//"), format!("{path}/a.csv"), format!("{path} ")] {
        refused(api.post(DS, &csv("near", &near)));
    }
    let id = id_of(&api.create(&csv("exact", &path)));
    assert_eq!(api.wait_settled(&id)["status"], "active");
    api.delete(&format!("{FILES}/{file_id}")).expect_error(409, "file_in_use");
    api.delete(&format!("{DS}/{id}")).expect(204);
    api.delete(&format!("{FILES}/{file_id}")).expect(204);
}

#[inlet_tests::test]
fn stored_files_are_seen_only_in_their_workspace() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    let team_b = inlet.workspace("acme", "team-b");
    let admin = inlet.token("acme", "org-admin", &[]);
    let alice = inlet.token("acme", "member", &[]);
    let bob = inlet.token("acme", "member", &["team-b"]);
    inlet.start();
    let (admin, alice, bob) = (inlet.api(&admin), inlet.api(&alice), inlet.api(&bob));

    // Alice's upload goes to her (the default) workspace; Bob's to his.
    let file = upload(&alice, "alice.csv", b"a\n1\n");
    let file_id = id_of(&file);
    let bobs = upload(&bob, "bob.csv", b"b\n2\n");
    assert_eq!(bobs["workspace_id"], team_b.as_str());
    assert_ne!(file["workspace_id"], team_b.as_str());
    // Bob can neither list, read, use nor delete Alice's file.
    let listed = bob.get(FILES).expect(200).json();
    assert_eq!((listed["total"].as_i64(), listed["items"][0]["id"].as_str()), (Some(1), bobs["id"].as_str()));
    bob.get(&format!("{FILES}/{file_id}")).expect_error(404, "not_found");
    bob.delete(&format!("{FILES}/{file_id}")).expect_error(404, "not_found");
    refused(bob.post(DS, &csv("stolen", file["file_path"].as_str().unwrap())));
    assert_eq!(alice.get(FILES).expect(200).json()["total"], 1);
    assert_eq!(admin.get(FILES).expect(200).json()["total"], 2);
    // Uploading into a workspace: only one the uploader may use.
    upload_to(&alice, &format!("?workspace_id={team_b}"), "x.csv", b"x\n").expect_error(422, "validation_failed");
    let placed = upload_to(&admin, &format!("?workspace_id={team_b}"), "for-b.csv", b"x\n").expect(201).json();
    bob.get(&format!("{FILES}/{}", id_of(&placed))).expect(200);

    // In use by a data source Alice can see and by one she cannot: the 409
    // names hers only.
    let path = file["file_path"].as_str().unwrap();
    alice.create(&csv("alice-sales", path));
    admin.create(
        &json!({ "name": "hidden-b-report", "type": "csv", "workspace_id": team_b, "config": { "file_path": path } }),
    );
    let refusal = alice.delete(&format!("{FILES}/{file_id}"));
    let error = refusal.expect_error(409, "file_in_use");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("alice-sales") && !message.contains("hidden-b-report"), "{message}");
    assert!(message.contains("1 you cannot see"), "{message}");
}

#[inlet_tests::test]
fn odd_upload_names_work_end_to_end() {
    let (inlet, admin) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&admin);
    let cases = [
        ("we#ird.csv", "we#ird.csv"),
        ("100% sure.csv", "100% sure.csv"),
        ("%23%41.csv", "%23%41.csv"),
        ("dätä 📊 ünï.csv", "dätä 📊 ünï.csv"),
        ("a..b.csv", "a..b.csv"),
        ("..", "upload"),
        ("../../x y.csv", "x y.csv"),
    ];
    for (i, (sent, kept)) in cases.into_iter().enumerate() {
        let body = format!("n,name\n{i},{sent}\n").into_bytes();
        let file = upload(&api, sent, &body);
        assert_eq!(file["name"], kept, "{file}");
        let id = id_of(&api.create(&csv(&format!("odd-{i}"), file["file_path"].as_str().unwrap())));
        let settled = api.wait_settled(&id);
        assert_eq!(settled["status"], "active", "{sent}: {settled}");
        let served = download(&inlet, &link(&api, &id)).expect(200);
        assert_eq!(served.body, body, "{sent}");
        let disposition = served.header("content-disposition").unwrap_or_default().to_owned();
        let encoded = disposition.split("filename*=UTF-8''").nth(1).unwrap_or_default();
        let decoded = percent_decode(encoded);
        assert_eq!(decoded, kept, "{disposition}");
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[inlet_tests::test]
fn the_data_dir_and_database_are_private() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    let data = inlet.data_dir.path().join("nested/state");
    inlet.extra_env.push(("INLET_DATA_DIR".into(), data.display().to_string()));
    // No master key in the environment: the server keeps one in a key file.
    inlet.extra_env.push(("INLET_MASTER_KEY".into(), String::new()));
    inlet.org("acme");
    inlet.start();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("inlet.db")), 0o600);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    for journal in ["inlet.db-wal", "inlet.db-shm"] {
        if data.join(journal).exists() {
            assert_eq!(mode(&data.join(journal)), 0o600, "{journal}");
        }
    }
    assert!(!inlet.server_log().contains("readable by other users"), "{}", inlet.server_log());
    inlet.stop();

    // Loosened by hand: the server starts, and says so.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("inlet.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    inlet.start();
    let log = inlet.server_log();
    let warnings: Vec<&str> =
        log.lines().filter(|l| l.contains("WARN") && l.contains("readable by other users")).collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(warnings.iter().any(|l| l.contains("inlet.db")), "{log}");
}
