//! JWTs issued by the product, end to end: the real `inlet serve` configured
//! with an HS256 secret or an RS256 public key, driven over HTTP with tokens
//! this test signs.

use std::process::Command;

use inlet_tests::require;
use inlet_tests::server::{Api, Backend, Inlet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

const DS: &str = "/api/v1/data-sources";
const HS256_SECRET: &str = "jwt-test-secret-0123456789abcdef-0123456789";

fn in_ten_minutes() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(now.as_secs()).expect("time") + 600
}

fn claims(org: &str, role: &str, workspaces: &[&str]) -> Value {
    json!({ "sub": "alice", "org": org, "roles": [role], "workspaces": workspaces, "exp": in_ten_minutes() })
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).expect("sign")
}

/// A data source that never connects (nothing listens on port 1): enough to
/// exercise permissions without a database.
fn body(name: &str) -> Value {
    json!({
        "name": name,
        "type": "postgresql",
        "config": { "host": "127.0.0.1", "port": 1, "database": "postgres", "username": "postgres", "ssl_mode": "disable" }
    })
}

fn bearer(inlet: &Inlet, token: &str) -> Api {
    inlet.api_raw(Some(token))
}

#[inlet_tests::test]
fn hs256_tokens_carry_organization_role_and_workspaces() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_JWT_HS256_SECRET".into(), HS256_SECRET.into()));
    let org = inlet.org("acme");
    let other_org = inlet.org("globex");
    let staging = inlet.workspace("acme", "staging");
    inlet.start();
    let secret = HS256_SECRET.as_bytes();

    let admin = bearer(&inlet, &hs256(&claims(&org, "org-admin", &[]), secret));
    let created = admin.create(&body("orders"));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["created_by"], "jwt:alice", "the JWT's subject is the actor");
    let default_workspace = created["workspace_id"].as_str().expect("workspace").to_owned();
    assert_ne!(default_workspace, staging);
    let path = format!("{DS}/{id}");

    // Members see their workspaces only; viewers read but never write.
    let member = bearer(&inlet, &hs256(&claims(&org, "member", &[&default_workspace]), secret));
    assert_eq!(member.get(&path).expect(200).json()["id"], id.as_str());
    let outsider = bearer(&inlet, &hs256(&claims(&org, "member", &[&staging]), secret));
    outsider.get(&path).expect_error(404, "not_found");
    assert_eq!(outsider.get(DS).expect(200).json()["total"], 0);
    let viewer = bearer(&inlet, &hs256(&claims(&org, "viewer", &[&default_workspace]), secret));
    viewer.get(&path).expect(200);
    viewer.patch(&path, &json!({"description": "no"})).expect_error(403, "forbidden");
    viewer.post(DS, &body("nope")).expect_error(403, "forbidden");

    // Another organization's token: 404, never 403.
    let stranger = bearer(&inlet, &hs256(&claims(&other_org, "org-admin", &[]), secret));
    stranger.get(&path).expect_error(404, "not_found");
    stranger.delete(&path).expect_error(404, "not_found");

    // Forged, expired and strange tokens are 401.
    let forged = hs256(&claims(&org, "org-admin", &[]), b"another-secret-another-secret-another");
    bearer(&inlet, &forged).get(DS).expect_error(401, "unauthorized");
    let mut expired = claims(&org, "org-admin", &[]);
    expired["exp"] = json!(1_000);
    bearer(&inlet, &hs256(&expired, secret)).get(DS).expect_error(401, "unauthorized");
    let unknown_role = hs256(&claims(&org, "superuser", &[]), secret);
    bearer(&inlet, &unknown_role).get(DS).expect_error(401, "unauthorized");
    let no_subject = hs256(&json!({"org": org, "roles": ["org-admin"], "exp": in_ten_minutes()}), secret);
    bearer(&inlet, &no_subject).get(DS).expect_error(401, "unauthorized");
    let none_alg =
        format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&claims(&org, "org-admin", &[]).to_string()));
    bearer(&inlet, &none_alg).get(DS).expect_error(401, "unauthorized");

    // Opaque tokens keep working beside JWTs.
    let opaque = inlet.token("acme", "viewer", &[]);
    inlet.api(&opaque).get(&path).expect(200);
    admin.delete(&path).expect(204);
}

#[inlet_tests::test]
fn rs256_tokens_verify_against_the_configured_public_key() {
    require::tool("openssl");
    let keys = tempfile::tempdir().expect("temp dir");
    let private = keys.path().join("private.pem");
    let public = keys.path().join("public.pem");
    let status = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&private)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl genpkey");
    assert!(status.success());
    let status =
        Command::new("openssl").arg("pkey").arg("-in").arg(&private).arg("-pubout").arg("-out").arg(&public).status();
    assert!(status.expect("openssl pkey").success());

    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_JWT_RS256_PUBLIC_KEY_FILE".into(), public.to_string_lossy().into_owned()));
    let org = inlet.org("acme");
    inlet.start();

    let private_pem = std::fs::read(&private).expect("private key");
    let key = EncodingKey::from_rsa_pem(&private_pem).expect("rsa key");
    let token = encode(&Header::new(Algorithm::RS256), &claims(&org, "org-admin", &[]), &key).expect("sign");
    let admin = bearer(&inlet, &token);
    let created = admin.create(&body("orders"));
    assert_eq!(created["created_by"], "jwt:alice");
    assert_eq!(admin.get(DS).expect(200).json()["total"], 1);

    // Algorithm confusion: the public key used as an HMAC secret is refused.
    let public_pem = std::fs::read(&public).expect("public key");
    let confused = hs256(&claims(&org, "org-admin", &[]), &public_pem);
    bearer(&inlet, &confused).get(DS).expect_error(401, "unauthorized");
}

/// Base64url without padding, as JWT segments are written.
fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn now() -> i64 {
    in_ten_minutes() - 600
}

/// `claims` with more claims set (or, with `null`, removed).
fn claims_with(org: &str, extra: &[(&str, Value)]) -> Value {
    let mut claims = claims(org, "org-admin", &[]);
    for (key, value) in extra {
        match value {
            Value::Null => {
                claims.as_object_mut().expect("object").remove(*key);
            }
            value => claims[*key] = value.clone(),
        }
    }
    claims
}

#[inlet_tests::test]
fn tokens_not_yet_valid_or_issued_in_the_future_are_refused() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_JWT_HS256_SECRET".into(), HS256_SECRET.into()));
    let org = inlet.org("acme");
    inlet.start();
    let secret = HS256_SECRET.as_bytes();
    let call = |extra: &[(&str, Value)]| bearer(&inlet, &hs256(&claims_with(&org, extra), secret)).get(DS);
    // 60 s of clock skew is tolerated; more is refused.
    call(&[("nbf", json!(now() + 600))]).expect_error(401, "unauthorized");
    call(&[("iat", json!(now() + 600))]).expect_error(401, "unauthorized");
    call(&[("nbf", json!(now() + 20)), ("iat", json!(now() + 20))]).expect(200);
    call(&[("nbf", json!(now() - 60)), ("iat", json!(now() - 60))]).expect(200);
    // Without an issuer or audience configured, the claims are not required.
    call(&[("iss", json!("https://anyone.example")), ("aud", json!("anything"))]).expect(200);
}

#[inlet_tests::test]
fn issuer_and_audience_are_enforced_when_configured() {
    let mut inlet = Inlet::new(Backend::Sqlite);
    inlet.extra_env.push(("INLET_JWT_HS256_SECRET".into(), HS256_SECRET.into()));
    inlet.extra_env.push(("INLET_JWT_ISSUER".into(), "https://id.example".into()));
    inlet.extra_env.push(("INLET_JWT_AUDIENCE".into(), "inlet".into()));
    let org = inlet.org("acme");
    inlet.start();
    let secret = HS256_SECRET.as_bytes();
    let call = |extra: &[(&str, Value)]| bearer(&inlet, &hs256(&claims_with(&org, extra), secret)).get(DS);
    let iss = ("iss", json!("https://id.example"));
    let aud = ("aud", json!("inlet"));
    call(&[iss.clone(), aud.clone()]).expect(200);
    call(&[iss.clone(), ("aud", json!(["billing", "inlet"]))]).expect(200);
    call(&[("iss", json!("https://evil.example")), aud.clone()]).expect_error(401, "unauthorized");
    call(&[iss.clone(), ("aud", json!("billing"))]).expect_error(401, "unauthorized");
    call(std::slice::from_ref(&aud)).expect_error(401, "unauthorized");
    call(std::slice::from_ref(&iss)).expect_error(401, "unauthorized");
}
