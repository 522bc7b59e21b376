//! The file store on an S3-compatible bucket (`INLET_STORAGE_BACKEND=s3`),
//! against `moto_server` with signature checking on: uploads land in the
//! bucket under the configured prefix, a CSV data source on the stored file
//! is tested and discovered from a verified local copy, the `file-url` is
//! the bucket's own presigned URL, an object changed behind the host's back
//! is refused, and delete removes the object.

use std::time::Duration;

use inlet_tests::moto::{self, MotoServer, PY_HELPERS};
use inlet_tests::server::{Api, Backend, Inlet, Response, try_request};
use inlet_tests::wait_for;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const FILES: &str = "/api/v1/storage/files";
const DS: &str = "/api/v1/data-sources";
const BUCKET: &str = "inlet-files";
const PREFIX: &str = "tenants/eu";

/// The bucket, a user allowed s3:* on it, then authentication on.
const FIXTURE: &str = r#"
import sys, boto3
endpoint = sys.argv[1]
s3 = boto3.client("s3", **kw(endpoint))
iam = boto3.client("iam", **kw(endpoint))
s3.create_bucket(Bucket="inlet-files")
key = user(iam, "store", ["s3:*"])
enable_auth(endpoint)
print(json.dumps(key))
"#;

/// Lists the bucket with the user's keys: `{key: sha256}`; with `argv[2]`
/// set, first overwrites that key with other bytes.
const INSPECT: &str = r#"
import hashlib, os, sys, boto3
endpoint = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id=os.environ["KEY_ID"], aws_secret_access_key=os.environ["SECRET"])
if os.environ.get("OVERWRITE"):
    s3.put_object(Bucket="inlet-files", Key=os.environ["OVERWRITE"], Body=b"id,name\n1,tampered\n")
found = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="inlet-files"):
    for obj in page.get("Contents", []):
        body = s3.get_object(Bucket="inlet-files", Key=obj["Key"])["Body"].read()
        found[obj["Key"]] = hashlib.sha256(body).hexdigest()
print(json.dumps(found))
"#;

/// Checks a presigned URL's SigV4 query signature (AWS's algorithm, written
/// from its documentation) with the secret: moto does not check presigned
/// URLs itself (it fails them with a 500 while authentication is on).
const VERIFY_PRESIGNED: &str = r#"
import hashlib, hmac, os
from urllib.parse import urlsplit, parse_qsl, quote
url, secret = os.environ["URL"], os.environ["SECRET"]
parts = urlsplit(url)
query = parse_qsl(parts.query, keep_blank_values=True)
params = dict(query)
enc = lambda s: quote(s, safe="-_.~")
canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query) if k != "X-Amz-Signature")
request = "\n".join(["GET", parts.path, canonical_query, f"host:{parts.netloc}\n", "host", "UNSIGNED-PAYLOAD"])
scope = params["X-Amz-Credential"].split("/", 1)[1]
to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(request.encode()).hexdigest()])
key = ("AWS4" + secret).encode()
for part in scope.split("/"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
print(json.dumps({"valid": hmac.compare_digest(expected, params["X-Amz-Signature"]), "scope": scope}))
"#;

/// Turns moto's authentication off again (a large count of free requests).
const DISABLE_AUTH: &str = r#"
import sys
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/moto-api/reset-auth", data=b"1000000000",
    method="POST", headers={"Content-Type": "text/plain"})).read()
print("{}")
"#;

fn upload(api: &Api, name: &str, bytes: &[u8]) -> Response {
    let boundary = "inlet-s3-boundary-51c2";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    api.send("POST", FILES, &[("Content-Type", &content_type)], Some(&body))
}

fn csv_rows(rows: usize) -> Vec<u8> {
    let mut text = String::from("id,city,amount\n");
    for i in 0..rows {
        text.push_str(&format!("{i},city {},{}.5\n", i % 13, i * 7));
    }
    text.into_bytes()
}

fn inspect(moto: &MotoServer, key: &Value, overwrite: Option<&str>) -> Value {
    let script = format!("{PY_HELPERS}\n{INSPECT}");
    let mut env = vec![
        ("KEY_ID", key["access_key_id"].as_str().expect("key id")),
        ("SECRET", key["secret_access_key"].as_str().expect("secret")),
    ];
    if let Some(object) = overwrite {
        env.push(("OVERWRITE", object));
    }
    moto.fixture(&script, &env)
}

#[inlet_tests::test]
fn a_bucket_backs_the_file_store() {
    moto::require();
    let moto = MotoServer::start();
    let key = moto.fixture(&format!("{PY_HELPERS}\n{FIXTURE}"), &[]);
    let secret = key["secret_access_key"].as_str().expect("secret").to_owned();

    let mut inlet = Inlet::new(Backend::Sqlite);
    for (name, value) in [
        ("INLET_STORAGE_BACKEND", "s3"),
        ("INLET_STORAGE_S3_BUCKET", BUCKET),
        ("INLET_STORAGE_S3_ENDPOINT", moto.url.as_str()),
        ("INLET_STORAGE_S3_PREFIX", PREFIX),
        ("INLET_STORAGE_S3_ACCESS_KEY_ID", key["access_key_id"].as_str().expect("key id")),
        ("INLET_STORAGE_S3_SECRET_ACCESS_KEY", secret.as_str()),
    ] {
        inlet.extra_env.push((name.into(), value.into()));
    }
    let org = inlet.org("acme");
    let token = inlet.token("acme", "org-admin", &[]);
    inlet.start();
    let api = inlet.api(&token);

    // The upload lands in the bucket, under the prefix, byte for byte.
    let bytes = csv_rows(400);
    let digest = hex::encode(Sha256::digest(&bytes));
    let stored = upload(&api, "orders.csv", &bytes).expect(201).json();
    assert_eq!(stored["sha256"], digest.as_str());
    let file_id = stored["id"].as_str().expect("id").to_owned();
    let object = format!("{PREFIX}/{org}/{file_id}/orders.csv");
    let objects = inspect(&moto, &key, None);
    assert_eq!(objects, json!({ object.clone(): digest }), "the bucket holds exactly the upload");

    // A CSV data source on it, tested and discovered from the local copy.
    let file_path = stored["file_path"].as_str().expect("file_path").to_owned();
    let created = api.create(&json!({ "name": "orders", "type": "csv", "config": { "file_path": file_path } }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    api.post(&format!("{DS}/{id}/discover-schema"), &json!({})).expect(202);
    let catalog = wait_for(
        Duration::from_secs(30),
        || api.get(&format!("{DS}/{id}/schemas")).expect(200).json(),
        |c| c["discovery"]["status"] == "succeeded",
    );
    assert_eq!(catalog["items"][0]["row_estimate"], 400, "{catalog}");

    // The link is the bucket's own presigned URL, and it serves the bytes.
    let link = api.get(&format!("{DS}/{id}/file-url?expires_in=120")).expect(200).json();
    let url = link["url"].as_str().expect("url").to_owned();
    let path = url.strip_prefix(&moto.url).unwrap_or_else(|| panic!("a URL of the bucket's endpoint: {url}"));
    assert!(path.starts_with(&format!("/{BUCKET}/{PREFIX}/")), "{url}");
    assert!(path.contains("X-Amz-Signature=") && path.contains("X-Amz-Expires=120"), "{url}");
    assert!(!url.contains(&secret), "the secret never appears in a link");
    let verify = |url: &str| {
        moto.fixture(&format!("{PY_HELPERS}\n{VERIFY_PRESIGNED}"), &[("URL", url), ("SECRET", secret.as_str())])
    };
    let checked = verify(&url);
    assert_eq!(checked["valid"], true, "signed with the bucket's key: {checked}");
    assert!(checked["scope"].as_str().unwrap_or_default().ends_with("/us-east-1/s3/aws4_request"), "{checked}");
    let forged = url.replace("X-Amz-Expires=120", "X-Amz-Expires=604800");
    assert_eq!(verify(&forged)["valid"], false, "a changed expiry breaks the signature");

    // An object changed in the bucket behind the host's back is refused.
    let other = upload(&api, "other.csv", &csv_rows(10)).expect(201).json();
    let other_id = other["id"].as_str().expect("id");
    inspect(&moto, &key, Some(&format!("{PREFIX}/{org}/{other_id}/other.csv")));
    let tampered = api.create(&json!({ "name": "tampered", "type": "csv",
        "config": { "file_path": other["file_path"] } }));
    let tampered = api.wait_settled(tampered["id"].as_str().expect("id"));
    assert_eq!(tampered["status"], "failed", "{tampered}");
    assert!(tampered["status_reason"].as_str().unwrap_or_default().contains("SHA-256"), "{tampered}");

    // Delete: the object and the local copy go.
    api.delete(&format!("{DS}/{id}")).expect(204);
    api.delete(&format!("{FILES}/{file_id}")).expect(204);
    let objects = inspect(&moto, &key, None);
    assert!(objects.get(&object).is_none(), "the object is gone: {objects}");
    let cached = inlet.data_dir.path().join("cache/storage").join(&org).join(&file_id);
    assert!(!cached.exists(), "the local copy is gone");
    assert!(!inlet.server_log().contains(&secret), "the secret never reaches the log");

    // With authentication off (moto cannot serve presigned URLs with it on),
    // the link's host and path fetch the stored bytes.
    let kept = upload(&api, "kept.csv", &bytes).expect(201).json();
    let kept_source =
        api.create(&json!({ "name": "kept", "type": "csv", "config": { "file_path": kept["file_path"] } }));
    let kept_id = kept_source["id"].as_str().expect("id");
    let link = api.get(&format!("{DS}/{kept_id}/file-url")).expect(200).json();
    let url = link["url"].as_str().expect("url");
    assert!(url.contains("X-Amz-Expires=900"), "15 minutes by default: {url}");
    moto.fixture(&format!("{PY_HELPERS}\n{DISABLE_AUTH}"), &[]);
    let path = url.strip_prefix(&moto.url).expect("the bucket's endpoint");
    let fetched = try_request(moto.port, "GET", path, &[], None).expect("GET the presigned URL");
    assert_eq!(fetched.status, 200, "{}", fetched.text());
    assert_eq!(fetched.body, bytes);
}
