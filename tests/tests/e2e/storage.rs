//! The storage API end to end: upload (multipart), list, metadata, delete;
//! a CSV data source on the uploaded file discovered through its
//! `storage://` path; another organization can neither see nor use it; the
//! presigned URL serves it; the deprecated `storage_file_id` still works.

use std::time::Duration;

use inlet_tests::server::{Api, Backend, Inlet, Response};
use inlet_tests::wait_for;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const FILES: &str = "/api/v1/storage/files";
const DS: &str = "/api/v1/data-sources";

fn upload(api: &Api, name: &str, bytes: &[u8]) -> Response {
    let boundary = "inlet-test-boundary-7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n").as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    api.send("POST", FILES, &[("Content-Type", &content_type)], Some(&body))
}

fn csv_rows(rows: usize) -> Vec<u8> {
    let mut text = String::from("id,name,amount,when\n");
    for i in 0..rows {
        text.push_str(&format!("{i},name {i},{}.25,2026-11-{:02}\n", i * 3, i % 28 + 1));
    }
    text.into_bytes()
}

#[inlet_tests::test]
fn uploaded_files_back_data_sources_within_their_organization() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_STORAGE_MAX_UPLOAD_MIB".into(), "1".into()));
    inlet.org("acme");
    inlet.org("globex");
    let acme = inlet.token("acme", "org-admin", &[]);
    let globex = inlet.token("globex", "org-admin", &[]);
    let viewer = inlet.token("acme", "viewer", &[]);
    inlet.start();
    let api = inlet.api(&acme);
    let other = inlet.api(&globex);

    // Upload: size and digest of exactly what was sent; a path for data sources.
    let bytes = csv_rows(500);
    let stored = upload(&api, "../../sales report.csv", &bytes).expect(201).json();
    assert_eq!(stored["size"], bytes.len());
    assert_eq!(stored["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(stored["name"], "sales report.csv", "only the last path segment is kept");
    let file_id = stored["id"].as_str().expect("id").to_owned();
    let file_path = stored["file_path"].as_str().expect("file_path").to_owned();
    assert_eq!(file_path, format!("storage://{file_id}"));
    assert_eq!(api.get(&format!("{FILES}/{file_id}")).expect(200).json()["sha256"], stored["sha256"]);
    let listed = api.get(FILES).expect(200).json();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["id"], file_id.as_str());

    // Limits and refusals.
    upload(&api, "big.csv", &vec![b'x'; (1 << 20) + 1]).expect_error(413, "payload_too_large");
    assert_eq!(api.get(FILES).expect(200).json()["total"], 1, "a refused upload leaves nothing");
    upload(&inlet.api(&viewer), "v.csv", b"a\n1\n").expect_error(403, "forbidden");
    let no_file = api.send("POST", FILES, &[("Content-Type", "multipart/form-data; boundary=x")], Some(b"--x--\r\n"));
    no_file.expect_error(400, "invalid_body");

    // Another organization sees nothing and cannot use the file.
    other.get(&format!("{FILES}/{file_id}")).expect_error(404, "not_found");
    assert_eq!(other.get(FILES).expect(200).json()["total"], 0);
    let stolen = other.post(DS, &json!({ "name": "stolen", "type": "csv", "config": { "file_path": file_path } }));
    let error = stolen.expect_error(422, "validation_failed");
    assert!(error.to_string().contains("/config/file_path"), "{error}");

    // A CSV data source on the stored file: tested and discovered.
    let created = api.create(&json!({ "name": "sales", "type": "csv", "config": { "file_path": file_path } }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    api.post(&format!("{DS}/{id}/discover-schema"), &json!({})).expect(202);
    let catalog = wait_for(
        Duration::from_secs(30),
        || api.get(&format!("{DS}/{id}/schemas")).expect(200).json(),
        |c| c["discovery"]["status"] == "succeeded",
    );
    let table = &catalog["items"][0];
    assert_eq!(table["row_estimate"], 500, "{table}");
    let columns: Vec<&str> =
        table["columns"].as_array().expect("columns").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(columns, ["id", "name", "amount", "when"]);

    // The presigned URL serves the stored bytes; tampering is refused.
    let url = api.get(&format!("{DS}/{id}/file-url?expires_in=60")).expect(200).json()["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let downloaded = inlet.api_raw(None).get(&url).expect(200);
    assert_eq!(downloaded.body, bytes);
    inlet.api_raw(None).get(&url.replace("signature=", "signature=00")).expect_error(403, "forbidden");

    // The deprecated `storage_file_id` still works, and says it is deprecated.
    let legacy = api.post(DS, &json!({ "name": "legacy", "type": "csv", "config": { "storage_file_id": file_id } }));
    let legacy = legacy.expect(201);
    assert!(legacy.header("deprecation").is_some(), "{:?}", legacy.headers);
    let legacy: Value = legacy.json();
    assert_eq!(legacy["config"]["file_path"], file_path.as_str(), "{legacy}");
    assert_eq!(api.wait_settled(legacy["id"].as_str().expect("id"))["status"], "active");

    // In use: refused; once unused: deleted, and a data source on it fails clearly.
    api.delete(&format!("{FILES}/{file_id}")).expect_error(409, "file_in_use");
    api.delete(&format!("{DS}/{id}")).expect(204);
    api.delete(&format!("{DS}/{}", legacy["id"].as_str().expect("id"))).expect(204);
    other.delete(&format!("{FILES}/{file_id}")).expect_error(404, "not_found");
    api.delete(&format!("{FILES}/{file_id}")).expect(204);
    api.get(&format!("{FILES}/{file_id}")).expect_error(404, "not_found");
    let files_left = walk(&inlet.data_dir.path().join("storage"));
    assert!(files_left.is_empty(), "the bytes are gone too: {files_left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}
