//! `inlet keys rotate`: every organization's data key is re-wrapped under the
//! new master key, after which the new key alone opens the store and the old
//! one is refused at start with a clear message.

use std::path::Path;
use std::process::{Command, Output};

use inlet_tests::inlet_bin;

fn inlet(data_dir: &Path, key: &str, previous: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(inlet_bin());
    command.args(args).env("INLET_DATA_DIR", data_dir).env("INLET_MASTER_KEY", key).env("RUST_LOG", "warn");
    command.env_remove("INLET_DATABASE_URL").env_remove("INLET_PREVIOUS_MASTER_KEYS");
    if let Some(previous) = previous {
        command.env("INLET_PREVIOUS_MASTER_KEYS", previous);
    }
    command.output().expect("run inlet")
}

/// 32 bytes as 64 hex characters, one of the forms INLET_MASTER_KEY takes.
fn key(byte: u8) -> String {
    (0..32u8).map(|i| format!("{:02x}", byte.wrapping_add(i))).collect()
}

#[inlet_tests::test]
fn rotation_rewraps_every_org_key_and_retires_the_old_master_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = (key(1), key(100));
    for org in ["acme", "globex"] {
        let out = inlet(dir.path(), &old, None, &["org", "create", org]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // The new key alone cannot open the store yet, and says why.
    let out = inlet(dir.path(), &new, None, &["token", "create", "--org", "acme", "--role", "viewer"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("master key"));
    let out = inlet(dir.path(), &new, Some(&old), &["keys", "rotate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-wrapped 2 organization keys"));
    // A second rotation finds nothing to do.
    let out = inlet(dir.path(), &new, Some(&old), &["keys", "rotate"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 organization keys"), "{out:?}");
    let out = inlet(dir.path(), &new, None, &["token", "create", "--org", "globex", "--role", "viewer"]);
    assert!(out.status.success(), "the new key alone opens the store: {}", String::from_utf8_lossy(&out.stderr));
    let out = inlet(dir.path(), &old, None, &["token", "create", "--org", "acme", "--role", "viewer"]);
    assert!(!out.status.success(), "the old key is retired");
    assert!(String::from_utf8_lossy(&out.stderr).contains("master key"));
}
