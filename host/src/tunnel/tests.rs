use std::path::Path;
use std::process::Command;
use std::time::Duration;

use russh::keys::ssh_key::PublicKey;

use super::*;

/// Runs `ssh-keygen` to make a key; None (with a note) when ssh-keygen is missing.
fn keygen(dir: &Path, name: &str, kind: &str, bits: Option<&str>, passphrase: &str) -> Option<(String, String)> {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", "inlet-test", "-f"]).arg(&path);
    if let Some(bits) = bits {
        cmd.args(["-b", bits]);
    }
    match cmd.output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!("ssh-keygen failed: {}", String::from_utf8_lossy(&output.stderr)),
        Err(_) => {
            eprintln!("SKIPPED: ssh-keygen is not installed");
            return None;
        }
    }
    let private = std::fs::read_to_string(&path).expect("private key");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    Some((private, public))
}

fn keygen_fingerprint(dir: &Path, name: &str) -> String {
    let output =
        Command::new("ssh-keygen").arg("-lf").arg(dir.join(format!("{name}.pub"))).output().expect("ssh-keygen -lf");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split_whitespace().nth(1).expect("a fingerprint field").to_owned()
}

#[test]
fn fingerprints_match_ssh_keygen() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, kind, bits) in [("ed", "ed25519", None), ("ec", "ecdsa", Some("256")), ("rsa", "rsa", Some("2048"))] {
        let Some((_, public)) = keygen(dir.path(), name, kind, bits, "") else { return };
        let expected = keygen_fingerprint(dir.path(), name);
        let key = PublicKey::from_openssh(&public).expect("public key parses");
        assert_eq!(keys::fingerprint_of(key.key_data()), expected, "{kind}");
        let blob = key.to_bytes().expect("key blob");
        assert_eq!(fingerprint_of_blob(&blob), expected, "{kind}");
        assert!(expected.starts_with("SHA256:") && !expected.ends_with('='));
        assert_eq!(normalize_fingerprint(&expected).expect("valid"), expected);
    }
}

#[test]
fn normalizes_pinned_fingerprints() {
    let body = "t3DW02Jimix8v3iR6cX1w2t9EM5596hN8BnngeG7Y4g";
    let canonical = format!("SHA256:{body}");
    assert_eq!(normalize_fingerprint(&canonical).unwrap(), canonical);
    assert_eq!(normalize_fingerprint(&format!("  {canonical}=\n")).unwrap(), canonical);
    assert_eq!(normalize_fingerprint(&format!("sha256:{body}")).unwrap(), canonical);
    for bad in [body.to_string(), format!("MD5:{body}"), "SHA256:abc".into(), "SHA256:!!!!".into(), String::new()] {
        let error = normalize_fingerprint(&bad).expect_err(&bad);
        assert_eq!(error.kind(), "config", "{bad}: {error}");
    }
}

#[test]
fn error_kinds() {
    let cases = [
        (TunnelError::Unreachable("x".into()), "unreachable", true),
        (TunnelError::Timeout("x".into()), "timeout", true),
        (TunnelError::Auth("x".into()), "auth", false),
        (TunnelError::HostKeyMismatch { expected: "a".into(), presented: "b".into() }, "config", false),
        (TunnelError::Key("x".into()), "config", false),
        (TunnelError::Config("x".into()), "config", false),
        (TunnelError::Channel("x".into()), "unreachable", true),
        (TunnelError::ForwardingDenied("x".into()), "permission", false),
        (TunnelError::Protocol("x".into()), "protocol", true),
        (TunnelError::Local("x".into()), "internal", false),
    ];
    for (error, kind, retryable) in cases {
        assert_eq!(error.kind(), kind, "{error:?}");
        assert_eq!(error.retryable(), retryable, "{error:?}");
    }
    let mismatch = TunnelError::HostKeyMismatch { expected: "SHA256:aaa".into(), presented: "SHA256:bbb".into() };
    let text = mismatch.to_string();
    assert!(text.contains("SHA256:aaa") && text.contains("SHA256:bbb"), "{text}");

    let refused = error::from_russh(&russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::ConnectFailed), "s");
    assert_eq!(refused.kind(), "unreachable");
    assert!(matches!(refused, TunnelError::Channel(_)));
    let denied = error::from_russh(
        &russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::AdministrativelyProhibited),
        "s",
    );
    assert_eq!(denied.kind(), "permission");
    assert_eq!(error::from_russh(&russh::Error::KeepaliveTimeout, "s").kind(), "timeout");
    assert_eq!(error::from_russh(&russh::Error::HUP, "s").kind(), "unreachable");
    assert_eq!(error::from_russh(&russh::Error::Kex, "s").kind(), "protocol");
}

#[test]
fn reads_every_key_type_and_encrypted_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((ed, _)) = keygen(dir.path(), "ed", "ed25519", None, "") else { return };
    let (ec, _) = keygen(dir.path(), "ec", "ecdsa", Some("384"), "").expect("ecdsa");
    let (rsa, _) = keygen(dir.path(), "rsa", "rsa", Some("2048"), "").expect("rsa");
    let (encrypted, encrypted_pub) = keygen(dir.path(), "enc", "ed25519", None, "open sesame").expect("encrypted");
    let (encrypted_rsa, _) = keygen(dir.path(), "encrsa", "rsa", Some("2048"), "open sesame").expect("encrypted rsa");

    assert!(decode_private_key(&ed, None).expect("ed25519").algorithm().as_str().contains("ed25519"));
    assert!(decode_private_key(&ec, None).expect("ecdsa").algorithm().as_str().contains("ecdsa"));
    assert!(decode_private_key(&rsa, None).expect("rsa").algorithm().is_rsa());
    // A passphrase given for an unencrypted key is ignored.
    decode_private_key(&ed, Some("unused")).expect("unencrypted key with a passphrase");

    let key = decode_private_key(&encrypted, Some("open sesame")).expect("encrypted key with its passphrase");
    let public = PublicKey::from_openssh(&encrypted_pub).expect("public");
    assert_eq!(key.public_key().key_data(), public.key_data());
    decode_private_key(&encrypted_rsa, Some("open sesame")).expect("encrypted rsa");

    for passphrase in [None, Some("")] {
        let error = decode_private_key(&encrypted, passphrase).expect_err("encrypted without passphrase");
        assert!(matches!(error, TunnelError::Key(ref m) if m.contains("no passphrase")), "{error}");
        assert_eq!(error.kind(), "config");
    }
    let error = decode_private_key(&encrypted, Some("wrong")).expect_err("wrong passphrase");
    assert!(matches!(error, TunnelError::Key(ref m) if m.contains("passphrase does not decrypt")), "{error}");
    assert!(!error.to_string().contains("wrong"), "the passphrase is not echoed: {error}");

    for garbage in ["", "not a key", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"] {
        let error = decode_private_key(garbage, None).expect_err(garbage);
        assert!(matches!(error, TunnelError::Key(_)), "{error}");
    }
}

fn spec(port: u16, auth: TunnelAuth) -> TunnelSpec {
    TunnelSpec {
        host: "127.0.0.1".into(),
        port,
        username: "nobody".into(),
        auth,
        host_key: HostKeyCheck::TrustOnFirstUse,
        connect_timeout: Duration::from_millis(500),
        keepalive: Duration::from_secs(10),
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let password = spec(22, TunnelAuth::Password("hunter2-secret".into()));
    let key =
        spec(22, TunnelAuth::PrivateKey { openssh_pem: "PEM-SECRET".into(), passphrase: Some("PASS-SECRET".into()) });
    let text = format!("{password:?} {key:?} {:?}", key.clone());
    for secret in ["hunter2-secret", "PEM-SECRET", "PASS-SECRET"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("redacted"));
}

#[test]
fn spec_fingerprint_follows_every_field() {
    let base = spec(22, TunnelAuth::Password("a".into()));
    let fp = base.fingerprint("db", 5432);
    assert_eq!(fp, base.clone().fingerprint("db", 5432));
    assert_ne!(fp, base.fingerprint("db", 5433));
    assert_ne!(fp, base.fingerprint("db2", 5432));
    let mut other = base.clone();
    other.auth = TunnelAuth::Password("b".into());
    assert_ne!(fp, other.fingerprint("db", 5432));
    let mut other = base.clone();
    other.host_key = HostKeyCheck::Pinned("SHA256:x".into());
    assert_ne!(fp, other.fingerprint("db", 5432));
    let mut other = base.clone();
    other.port = 2222;
    assert_ne!(fp, other.fingerprint("db", 5432));
    let mut other = base;
    other.username = "someone".into();
    assert_ne!(fp, other.fingerprint("db", 5432));
}

async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn closed_bastion_port_is_unreachable_at_connect() {
    let port = free_port().await;
    let failure = Tunnel::open(spec(port, TunnelAuth::Password("x".into())), "127.0.0.1".into(), 5432)
        .await
        .expect_err("nothing listens there");
    assert_eq!(failure.kind(), "unreachable", "{failure}");
    assert_eq!(failure.steps.len(), 1);
    assert_eq!(failure.steps[0].name, STEP_CONNECT);
    assert!(!failure.steps[0].passed);
}

#[tokio::test]
async fn silent_bastion_times_out_at_connect() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let failure = Tunnel::open(spec(port, TunnelAuth::Password("x".into())), "127.0.0.1".into(), 5432)
        .await
        .expect_err("the server never speaks");
    assert_eq!(failure.kind(), "timeout", "{failure}");
    assert_eq!(failure.steps.last().map(|step| step.name.as_str()), Some(STEP_CONNECT));
    hold.abort();
}

#[tokio::test]
async fn invalid_settings_fail_before_connecting() {
    let mut bad = spec(22, TunnelAuth::Password("x".into()));
    bad.host_key = HostKeyCheck::Pinned("MD5:aa:bb".into());
    let failure = Tunnel::open(bad, "127.0.0.1".into(), 5432).await.expect_err("bad fingerprint");
    assert_eq!(failure.kind(), "config", "{failure}");
    assert_eq!(failure.steps[0].name, STEP_CONNECT);

    let mut bad = spec(22, TunnelAuth::Password("x".into()));
    bad.host = " ".into();
    let failure = Tunnel::open(bad, "127.0.0.1".into(), 5432).await.expect_err("empty host");
    assert_eq!(failure.kind(), "config");

    let failure =
        Tunnel::open(spec(22, TunnelAuth::Password("x".into())), String::new(), 5432).await.expect_err("empty target");
    assert_eq!(failure.kind(), "config");
}

#[tokio::test]
async fn registry_without_tunnels() {
    let tunnels = Tunnels::new();
    assert!(!tunnels.close("nope").await);
    assert!(tunnels.get("nope").is_none());
    let port = free_port().await;
    let spec = spec(port, TunnelAuth::Password("x".into()));
    let fp = spec.fingerprint("127.0.0.1", 5432);
    let failure =
        tunnels.get_or_open("ds1", fp, spec, "127.0.0.1".into(), 5432).await.expect_err("nothing listens there");
    assert_eq!(failure.kind(), "unreachable");
    assert!(tunnels.get("ds1").is_none());
    let stats = tunnels.stats();
    assert_eq!(stats.tunnels_open, 0);
    assert_eq!(stats.failures, 1);
}
