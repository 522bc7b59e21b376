//! Shared harness for the end-to-end tests: where the built binary and plugins
//! are, how to run `inlet plugin exec`, the e2e harness and its one rule for
//! absent services ([`require`]).
//!
//! Build first with `cargo xtask build` (or run `cargo xtask test`, which does).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives inside the workspace").to_path_buf()
}

/// `target/release/inlet`, built by `cargo xtask build`.
pub fn inlet_bin() -> PathBuf {
    let path = workspace_root().join("target/release/inlet");
    assert!(path.exists(), "{} is missing: run `cargo xtask build` first", path.display());
    path
}

/// `target/plugins/<id>`, built by `cargo xtask build`.
pub fn plugin_dir(id: &str) -> PathBuf {
    let path = workspace_root().join("target/plugins").join(id);
    assert!(path.join("plugin.wasm").exists(), "{} has no plugin.wasm: run `cargo xtask build` first", path.display());
    path
}

/// The outcome of one `inlet plugin exec` run.
#[derive(Debug)]
pub struct ExecOutcome {
    pub success: bool,
    pub code: Option<i32>,
    /// stdout parsed as JSON.
    pub json: Value,
    pub stderr: String,
}

impl ExecOutcome {
    /// The error kind of a failed run (`error.kind`).
    pub fn error_kind(&self) -> Option<&str> {
        self.json.pointer("/error/kind").and_then(Value::as_str)
    }
}

/// Runs `inlet plugin exec <dir> --type <type> --config <file> [--secrets <file>] <command> [extra…]`.
pub fn exec(
    plugin: &Path,
    source_type: &str,
    config: &Value,
    secrets: Option<&Value>,
    command: &str,
    extra: &[&str],
) -> ExecOutcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).expect("write config");
    let mut cmd = Command::new(inlet_bin());
    cmd.arg("plugin").arg("exec").arg(plugin).arg("--type").arg(source_type);
    cmd.arg("--config").arg(&config_path);
    if let Some(secrets) = secrets {
        let secrets_path = dir.path().join("secrets.json");
        std::fs::write(&secrets_path, secrets.to_string()).expect("write secrets");
        cmd.arg("--secrets").arg(secrets_path);
    }
    cmd.arg(command).args(extra);
    // Keep the compiled-component cache per test run, not in the user's data dir.
    cmd.env("INLET_DATA_DIR", workspace_root().join("target/test-data"));
    let output = cmd.output().expect("run inlet");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!(
            "inlet plugin exec printed no JSON ({error}):\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    ExecOutcome {
        success: output.status.success(),
        code: output.status.code(),
        json,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A loopback port nothing listens on just now (the OS picks it), for a
/// server a test starts or for a closed port to connect to.
pub fn free_port() -> u16 {
    let listener =
        TcpListener::bind("127.0.0.1:0").unwrap_or_else(|error| panic!("cannot bind a loopback port: {error}"));
    listener.local_addr().unwrap_or_else(|error| panic!("a bound listener has no address: {error}")).port()
}

pub mod harness;
pub mod require;
/// `#[inlet_tests::test]`: registers an e2e test (see `tests/macros`).
pub use inlet_tests_macros::test;
pub mod pg_cluster;
pub mod pg_fixture;

/// `target/fixtures/<name>`, built by `cargo xtask build`.
pub fn fixture_dir(name: &str) -> PathBuf {
    let path = workspace_root().join("target/fixtures").join(name);
    assert!(path.join("plugin.wasm").exists(), "{} is missing: run `cargo xtask build` first", path.display());
    path
}
pub mod catalog;
pub mod file_connector;
pub mod moto;
pub mod server;
pub mod sshd;

/// Polls `what` until `done` holds for it and returns that value; panics
/// with the last value after `limit`.
#[track_caller]
pub fn wait_for(limit: Duration, mut what: impl FnMut() -> Value, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let value = what();
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "condition not reached within {limit:?}; last: {value}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
