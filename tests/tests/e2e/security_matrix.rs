//! The security suite: every operation of the OpenAPI document the running
//! server publishes, called as four callers against resources an org admin
//! created, each answer checked against the expectation table below:
//!
//! - `owner`: a member of the data source's own workspace;
//! - `sharer`: a member of a workspace the data source is shared with;
//! - `viewer`: a viewer of the data source's own workspace;
//! - `stranger`: a member of another organization.
//!
//! The table is keyed by operation and must match the document exactly: a
//! new route without an entry (or an entry for a route that went) fails the
//! suite. No answer may be a 5xx; where a role is not allowed, no answer may
//! be 2xx.

use std::collections::BTreeSet;

use inlet_tests::require::{self, Service};
use inlet_tests::server::{Api, Backend, Inlet, Response};
use serde_json::{Value, json};

/// What a role must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Past authorization: not 401, 403 or 404 (a 4xx about the input is fine).
    Allow,
    /// 403.
    Forbid,
    /// 404: the resource does not exist for this caller.
    Hide,
    /// 403 or 404.
    Deny,
    /// Any 4xx, never 2xx (unsigned file downloads).
    Refuse,
}

use Want::{Allow as A, Deny as D, Forbid as F, Hide as H, Refuse as R};

/// The request body an operation is called with: valid, so that the answer
/// is about who asks, not about what was sent.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    Json(fn() -> Value),
    /// A multipart form with a small CSV in the field `file`.
    Upload,
    /// A multipart form with a junk plugin package.
    Package,
}

struct Expect {
    body: Body,
    /// owner, sharer, viewer, stranger.
    roles: [Want; 4],
}

fn pg_config() -> Value {
    json!({ "host": "127.0.0.1", "port": 5432, "database": "postgres", "username": "postgres", "ssl_mode": "disable" })
}

fn new_data_source() -> Value {
    json!({ "name": "matrix", "type": "postgresql", "config": pg_config(), "credentials": { "password": "pw" } })
}

fn new_channel() -> Value {
    json!({ "name": "matrix", "url": "http://127.0.0.1:9/hook", "secret": "whsec-matrix-0123456789abcdef" })
}

/// The expectation of every operation, keyed `METHOD /path`.
fn table() -> Vec<(&'static str, Expect)> {
    let e = |body: Body, roles: [Want; 4]| Expect { body, roles };
    let none = Body::None;
    vec![
        // Data sources: sharing grants use (read, test, discover), never change.
        ("GET /api/v1/data-sources", e(none, [A, A, A, A])),
        ("POST /api/v1/data-sources", e(Body::Json(new_data_source), [A, A, F, A])),
        ("GET /api/v1/data-sources/metrics", e(none, [A, A, A, A])),
        ("GET /api/v1/data-sources/{data_source_id}", e(none, [A, A, A, H])),
        ("PATCH /api/v1/data-sources/{data_source_id}", e(Body::Json(|| json!({ "description": "m" })), [A, F, F, H])),
        ("DELETE /api/v1/data-sources/{data_source_id}", e(none, [A, F, F, H])),
        (
            "PATCH /api/v1/data-sources/{data_source_id}/credentials",
            e(Body::Json(|| json!({ "credentials": { "password": "pw2" } })), [A, F, F, H]),
        ),
        ("POST /api/v1/data-sources/{data_source_id}/test", e(none, [A, A, F, H])),
        ("POST /api/v1/data-sources/{data_source_id}/discover-schema", e(none, [A, A, F, H])),
        ("GET /api/v1/data-sources/{data_source_id}/schemas", e(none, [A, A, A, H])),
        // Reading data: anyone who sees it may preview; querying is a write-level use.
        ("GET /api/v1/data-sources/{data_source_id}/preview", e(none, [A, A, A, H])),
        (
            "POST /api/v1/data-sources/{data_source_id}/query",
            e(Body::Json(|| json!({ "statement": "SELECT 1" })), [A, A, F, H]),
        ),
        ("GET /api/v1/data-sources/{data_source_id}/health", e(none, [A, A, A, H])),
        ("GET /api/v1/data-sources/{data_source_id}/file-url", e(none, [A, A, A, H])),
        // Signed links only: a bearer token is no signature.
        ("GET /api/v1/files/{data_source_id}", e(none, [R, R, R, R])),
        ("GET /api/v1/data-source-types", e(none, [A, A, A, A])),
        // Alert channels: organization admins only.
        ("POST /api/v1/alert-channels", e(Body::Json(new_channel), [F, F, F, D])),
        ("GET /api/v1/alert-channels", e(none, [F, F, F, D])),
        ("GET /api/v1/alert-channels/{channel_id}", e(none, [F, F, F, D])),
        ("PATCH /api/v1/alert-channels/{channel_id}", e(Body::Json(|| json!({ "name": "m" })), [F, F, F, D])),
        ("DELETE /api/v1/alert-channels/{channel_id}", e(none, [F, F, F, D])),
        ("POST /api/v1/alert-channels/{channel_id}/test", e(none, [F, F, F, D])),
        ("GET /api/v1/alert-channels/{channel_id}/deliveries", e(none, [F, F, F, D])),
        // Stored files (uploaded by the admin into the default workspace):
        // visible in their own workspace only; a share of a data source
        // shares no files.
        ("POST /api/v1/storage/files", e(Body::Upload, [A, A, F, A])),
        ("GET /api/v1/storage/files", e(none, [A, A, A, A])),
        ("GET /api/v1/storage/files/{file_id}", e(none, [A, H, A, H])),
        ("DELETE /api/v1/storage/files/{file_id}", e(none, [A, H, F, H])),
        ("GET /api/v1/events", e(none, [A, A, A, A])),
        // The platform's plugins: platform admins only.
        ("GET /api/v1/plugins", e(none, [F, F, F, F])),
        ("POST /api/v1/plugins", e(Body::Package, [F, F, F, F])),
        ("GET /api/v1/plugins/audit", e(none, [F, F, F, F])),
        ("GET /api/v1/plugins/{plugin_id}", e(none, [F, F, F, F])),
        ("PUT /api/v1/plugins/{plugin_id}", e(Body::Package, [F, F, F, F])),
        ("DELETE /api/v1/plugins/{plugin_id}", e(none, [F, F, F, F])),
        ("POST /api/v1/plugins/{plugin_id}/enable", e(none, [F, F, F, F])),
        ("POST /api/v1/plugins/{plugin_id}/disable", e(none, [F, F, F, F])),
        // The organization's connector switches: read by all, switched by org admins.
        ("GET /api/v1/organization/plugins", e(none, [A, A, A, A])),
        ("PUT /api/v1/organization/plugins/{plugin_id}", e(Body::Json(|| json!({ "enabled": true })), [F, F, F, F])),
        // The organization's settings: read by all, changed by org admins.
        ("GET /api/v1/organization/settings", e(none, [A, A, A, A])),
        ("PATCH /api/v1/organization/settings", e(Body::Json(|| json!({ "querying": true })), [F, F, F, F])),
    ]
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every operation of the document, as `METHOD /path`.
fn operations(document: &Value) -> BTreeSet<String> {
    let paths = document["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect()
}

/// The resources the admin made, which path parameters name.
struct Resources {
    admin: Api,
    sharing_workspace: String,
    data_source: String,
    channel: String,
    file: String,
    plugin: String,
}

impl Resources {
    fn new_data_source(&self) -> String {
        let mut body = new_data_source();
        body["name"] = json!(format!("matrix {}", rand_suffix()));
        body["shared_with_workspaces"] = json!([self.sharing_workspace]);
        body["health_check_interval_s"] = json!(3600);
        self.admin.create(&body)["id"].as_str().expect("id").to_owned()
    }

    fn new_channel(&self) -> String {
        let mut body = new_channel();
        body["name"] = json!(format!("matrix {}", rand_suffix()));
        let channel = self.admin.post("/api/v1/alert-channels", &body).expect(201).json();
        channel["id"].as_str().expect("id").to_owned()
    }

    fn new_file(&self) -> String {
        let answer = upload(&self.admin).expect(201).json();
        answer["id"].as_str().expect("id").to_owned()
    }

    /// `template` with its parameters filled; a DELETE gets a resource of
    /// its own, so that one caller's success does not change the next one's answer.
    fn fill(&self, method: &str, template: &str) -> String {
        let fresh = method == "DELETE";
        let mut path = template.to_owned();
        if path.contains("{data_source_id}") {
            let id = if fresh { self.new_data_source() } else { self.data_source.clone() };
            path = path.replace("{data_source_id}", &id);
        }
        if path.contains("{channel_id}") {
            let id = if fresh { self.new_channel() } else { self.channel.clone() };
            path = path.replace("{channel_id}", &id);
        }
        if path.contains("{file_id}") {
            let id = if fresh { self.new_file() } else { self.file.clone() };
            path = path.replace("{file_id}", &id);
        }
        path = path.replace("{plugin_id}", &self.plugin);
        assert!(!path.contains('{'), "a path parameter the suite cannot fill: {template}");
        path
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn multipart(api: &Api, method: &str, path: &str, field: &str, filename: &str, bytes: &[u8]) -> Response {
    let boundary = "inlet-matrix-boundary-3c1d";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    api.send(method, path, &[("Content-Type", &content_type)], Some(&body))
}

fn upload(api: &Api) -> Response {
    multipart(api, "POST", "/api/v1/storage/files", "file", "matrix.csv", b"id,name\n1,a\n")
}

fn call(api: &Api, method: &str, path: &str, body: Body) -> Response {
    match body {
        Body::None if method == "GET" || method == "DELETE" => api.send(method, path, &[], None),
        Body::None => api.json(method, path, &json!({})),
        Body::Json(make) => api.json(method, path, &make()),
        Body::Upload => multipart(api, method, path, "file", "matrix.csv", b"id,name\n1,a\n"),
        Body::Package => multipart(api, method, path, "package", "plugin.tar.gz", b"not a package"),
    }
}

/// Whether `status` meets `want`; `None` when it does, else why not.
fn judge(want: Want, status: u16) -> Option<&'static str> {
    if status >= 500 {
        return Some("a server error");
    }
    let ok = match want {
        Want::Allow => !matches!(status, 401 | 403 | 404),
        Want::Forbid => status == 403,
        Want::Hide => status == 404,
        Want::Deny => matches!(status, 403 | 404),
        Want::Refuse => (400..500).contains(&status),
    };
    (!ok).then_some("not the expected class of answer")
}

#[inlet_tests::test]
fn every_operation_answers_each_role_as_the_table_says() {
    require::service(Service::Postgres);
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.org("acme");
    inlet.org("globex");
    let admin_token = inlet.token("acme", "org-admin", &[]);
    let sharing_workspace = inlet.workspace("acme", "analytics");
    inlet.workspace("globex", "ops");
    inlet.start();
    let admin = inlet.api(&admin_token);

    // The document the server publishes, and the table, must name the same operations.
    let document = inlet.api_raw(None).get("/api/openapi.json").expect(200).json();
    let documented = operations(&document);
    let table = table();
    let expected: BTreeSet<String> = table.iter().map(|(key, _)| (*key).to_owned()).collect();
    let missing: Vec<&String> = documented.difference(&expected).collect();
    assert!(missing.is_empty(), "operations without an entry in the security table: {missing:?}");
    let stale: Vec<&String> = expected.difference(&documented).collect();
    assert!(stale.is_empty(), "entries for operations the document no longer has: {stale:?}");
    assert_eq!(expected.len(), table.len(), "an operation is in the table twice");

    let health = inlet.api_raw(None).get("/healthz").expect(200).json();
    let plugin = health["plugins"]
        .as_array()
        .and_then(|plugins| plugins.iter().find_map(|p| p["id"].as_str()))
        .expect("a plugin")
        .to_owned();
    let mut resources = Resources {
        admin,
        sharing_workspace: sharing_workspace.clone(),
        data_source: String::new(),
        channel: String::new(),
        file: String::new(),
        plugin,
    };
    resources.data_source = resources.new_data_source();
    resources.admin.wait_settled(&resources.data_source);
    resources.channel = resources.new_channel();
    resources.file = resources.new_file();
    let home = resources.admin.get(&format!("/api/v1/data-sources/{}", resources.data_source)).expect(200).json()
        ["workspace_id"]
        .as_str()
        .expect("workspace")
        .to_owned();
    assert_ne!(home, sharing_workspace);
    // Tokens name workspaces by name; the default one is `default`.
    let roles = [
        ("owner", inlet.api(&inlet.token("acme", "member", &["default"]))),
        ("sharer", inlet.api(&inlet.token("acme", "member", &["analytics"]))),
        ("viewer", inlet.api(&inlet.token("acme", "viewer", &["default"]))),
        ("stranger", inlet.api(&inlet.token("globex", "member", &["ops"]))),
    ];

    let mut failures = Vec::new();
    let mut calls = 0;
    for (key, expect) in &table {
        let (method, template) = key.split_once(' ').expect("METHOD /path");
        for ((role, api), want) in roles.iter().zip(expect.roles) {
            let path = resources.fill(method, template);
            let answer = call(api, method, &path, expect.body);
            calls += 1;
            if let Some(why) = judge(want, answer.status) {
                let text: String = answer.text().chars().take(300).collect();
                failures.push(format!("{key} as {role}: {} ({why}; wanted {want:?}): {text}", answer.status));
            }
        }
    }
    eprintln!("{calls} calls over {} operations", table.len());
    assert!(failures.is_empty(), "{} answers broke the security table:\n{}", failures.len(), failures.join("\n"));
    // The admin's data source is still there and unchanged by anyone but its workspace.
    let data_source =
        resources.admin.get(&format!("/api/v1/data-sources/{}", resources.data_source)).expect(200).json();
    assert_eq!(data_source["config"]["host"], "127.0.0.1");
}
