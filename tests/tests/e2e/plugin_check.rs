//! `inlet plugin check`, the conformance suite, through the real binary: the
//! template passes; every shipped plugin passes the static checks; the
//! hostile fixture's misbehaviours each fail their check with a clear reason
//! while the checker itself exits 1 (not a crash) in bounded time; and a
//! manifest for an API this host does not support names the supported ones;
//! the bounds a connector came near (log flood, values cut) are reported.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use inlet_tests::{fixture_dir, inlet_bin, plugin_dir, workspace_root};
use serde_json::{Value, json};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("no JSON report ({error}):\n{}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `inlet plugin check <dir> [--config <config>] <extra…>`.
fn check(dir: &Path, config: Option<&Value>, extra: &[&str]) -> Run {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(inlet_bin());
    cmd.arg("plugin").arg("check").arg(dir).args(extra);
    if let Some(config) = config {
        let path = scratch.path().join("config.json");
        std::fs::write(&path, config.to_string()).expect("write config");
        cmd.arg("--config").arg(path);
    }
    cmd.env("INLET_DATA_DIR", workspace_root().join("target/test-data"));
    let started = Instant::now();
    let output = cmd.output().expect("run inlet plugin check");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// The check named `name` in a JSON report.
fn named<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check `{name}` in {report:#}"))
}

fn template_config() -> Value {
    let ini = workspace_root().join("plugins/template/fixtures/example.ini");
    json!({ "file_path": ini.to_str().expect("utf-8 path") })
}

#[inlet_tests::test]
fn the_template_passes_every_check() {
    let run = check(&plugin_dir("template"), Some(&template_config()), &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for line in [
        "✓ manifest",
        "✓ component",
        "✓ template: config schema",
        "✓ template: secret fields",
        "✓ template: invalid configs",
        "✓ template: fails cleanly",
        "✓ template: connect",
        "✓ template: test",
        "✓ template: discover ",
        "✓ template: discover filters",
        "✓ template: paging",
        "✓ template: preview",
        "✓ template: limits",
        "✓ template: budgets",
    ] {
        assert!(run.stdout.contains(line), "`{line}` missing from:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains('✗'), "{}", run.stdout);
    assert!(run.stdout.contains("PASSED: 15 passed, 0 failed"), "{}", run.stdout);
    assert!(run.stdout.contains("3 tables in 1 schema"), "{}", run.stdout);

    let run = check(&plugin_dir("template"), Some(&template_config()), &["--json"]);
    assert_eq!(run.code, Some(0));
    let report = run.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["plugin"]["id"], "template");
    assert_eq!(report["summary"]["failed"], 0);
    let test = named(&report, "template: test");
    assert!(test["message"].as_str().unwrap_or_default().contains("2 steps"), "{test}");

    // Without a config the live checks are skipped, and say how to run them.
    let run = check(&plugin_dir("template"), None, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.contains("– live checks") && run.stdout.contains("--config"), "{}", run.stdout);
}

#[inlet_tests::test]
fn every_shipped_plugin_passes_the_static_checks() {
    let plugins = workspace_root().join("target/plugins");
    let mut dirs: Vec<_> = std::fs::read_dir(&plugins)
        .expect("target/plugins: run `cargo xtask build` first")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("plugin.wasm").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "{dirs:?}");
    let mut failures = Vec::new();
    for dir in &dirs {
        let run = check(dir, None, &["--json"]);
        let report = run.json();
        let checks = report["checks"].as_array().expect("checks");
        let mut failed = false;
        for check in checks {
            let name = check["name"].as_str().unwrap_or_default();
            if check["status"] == "fail" {
                failed = true;
                failures.push(format!("{}: {name}: {}", dir.display(), check["message"]));
            }
        }
        for static_check in ["config schema", "secret fields", "invalid configs"] {
            let count = checks.iter().filter(|c| c["name"].as_str().is_some_and(|n| n.ends_with(static_check))).count();
            assert!(count >= 1, "{}: no `{static_check}` check in {report:#}", dir.display());
        }
        assert_eq!(named(&report, "component")["status"], "pass", "{}", dir.display());
        assert_eq!(run.code, Some(if failed { 1 } else { 0 }), "{}", dir.display());
    }
    assert!(failures.is_empty(), "shipped plugins failing `inlet plugin check`:\n{}", failures.join("\n"));
}

#[inlet_tests::test]
fn each_hostile_behaviour_fails_its_check_clearly_and_the_checker_survives() {
    // Accepts connections and never answers: a read blocks in a host call.
    let silent = TcpListener::bind("127.0.0.1:0").expect("listener");
    let silent_port = silent.local_addr().expect("addr").port();
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "hostile",
            json!({"behavior": "spin"}),
            "hostile: test",
            "timeout: the connector did not answer within 2000 ms",
        ),
        ("hostile", json!({"behavior": "spin-connect"}), "hostile: connect", "timeout"),
        ("hostile", json!({"behavior": "sleep-connect"}), "hostile: connect", "timeout"),
        (
            "hostile-net",
            json!({"behavior": "block", "host": "127.0.0.1", "port": silent_port}),
            "hostile-net: test",
            "timeout",
        ),
        (
            "hostile",
            json!({"behavior": "memory-bomb"}),
            "hostile: test",
            "memory: the connector exceeded its memory limit of 32 MiB",
        ),
        ("hostile", json!({"behavior": "panic"}), "hostile: test", "trap: the connector crashed"),
        (
            "hostile",
            json!({"behavior": "connect", "target": "169.254.169.254:80"}),
            "hostile: test",
            "not allowed by the sandbox",
        ),
        ("hostile", json!({"behavior": "read-file"}), "hostile: test", "not_found"),
        ("hostile", json!({"behavior": "list-root"}), "hostile: test", "not_found"),
        ("hostile", json!({"behavior": "huge-discover"}), "hostile: discover", "memory limit of 32 MiB"),
        (
            "hostile",
            json!({"behavior": "huge-discover", "count": 20000}),
            "hostile: discover",
            "catalog page holds 20000 tables, more than the 50 asked for",
        ),
        ("hostile", json!({"behavior": "endless-discover"}), "hostile: discover", "did not end after 200 pages"),
        ("hostile", json!({"behavior": "repeat-token"}), "hostile: discover", "came back again"),
        ("hostile", json!({"behavior": "bad-catalog"}), "hostile: discover", "ordinal 1 is used twice"),
    ];
    let options = ["--json", "--connect-timeout-s", "2", "--query-timeout-s", "2", "--max-pages", "200"];
    for (source_type, config, name, expected) in cases {
        let mut extra = options.to_vec();
        extra.extend(["--type", source_type]);
        let run = check(&fixture_dir("hostile"), Some(&config), &extra);
        let label = format!("{config}");
        assert_eq!(run.code, Some(1), "{label}: the checker must fail, not crash:\n{}\n{}", run.stdout, run.stderr);
        assert!(run.took < Duration::from_secs(30), "{label}: took {:?}", run.took);
        let report = run.json();
        let check = named(&report, name);
        assert_eq!(check["status"], "fail", "{label}: {check}");
        let message = check["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{label}: `{expected}` not in `{message}`");
        // A breach of the sandbox's limits is also named on the limits line.
        if ["timeout", "memory", "trap"].iter().any(|k| expected.starts_with(k) || name.ends_with("connect")) {
            let limits = named(&report, &format!("{source_type}: limits"));
            assert_eq!(limits["status"], "fail", "{label}: {limits}");
            assert!(limits["message"].as_str().unwrap_or_default().contains("the sandbox had to step in"), "{limits}");
        }
        // After a breach in `test`, the checker opens a fresh instance and the next call is served.
        if name.ends_with(": test") && ["timeout", "memory", "trap"].iter().any(|k| expected.starts_with(k)) {
            let discover = named(&report, &format!("{source_type}: discover"));
            assert_eq!(discover["status"], "pass", "{label}: {discover}");
        }
    }
    drop(silent);

    // The text report shows the failure on its own line.
    let run = check(
        &fixture_dir("hostile"),
        Some(&json!({"behavior": "spin"})),
        &["--type", "hostile", "--query-timeout-s", "1"],
    );
    assert_eq!(run.code, Some(1));
    let line = run.stdout.lines().find(|l| l.contains("hostile: test")).unwrap_or_default();
    assert!(line.contains('✗') && line.contains("timeout"), "{}", run.stdout);
    assert!(run.stdout.lines().last().unwrap_or_default().starts_with("FAILED:"), "{}", run.stdout);
}

#[inlet_tests::test]
fn a_manifest_for_an_unsupported_api_version_names_the_supported_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = fixture_dir("hostile");
    let manifest = std::fs::read_to_string(source.join("plugin.toml")).expect("manifest");
    let manifest = manifest.replace("api_version = \"0.2.0\"", "api_version = \"0.9.0\"");
    std::fs::write(dir.path().join("plugin.toml"), manifest).expect("write");
    std::fs::copy(source.join("plugin.wasm"), dir.path().join("plugin.wasm")).expect("copy");
    let run = check(dir.path(), None, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let line = run.stdout.lines().find(|l| l.contains("manifest")).unwrap_or_default().to_owned();
    assert!(
        line.contains('✗') && line.contains("0.9.0") && line.contains("this host supports 0.1.0"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("– component"), "{}", run.stdout);
}

#[inlet_tests::test]
fn a_source_directory_is_told_to_build_first() {
    let run = check(&workspace_root().join("plugins/template"), None, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.contains("✓ template: config schema"), "{}", run.stdout);
    assert!(
        run.stdout.contains("has no plugin.wasm") && run.stdout.contains("target/plugins/template"),
        "{}",
        run.stdout
    );
}

/// The `signature` line: a warning while unsigned, a pass once signed by a
/// key trusted here, a failure once the wasm changes after signing.
#[inlet_tests::test]
fn the_signature_is_judged_as_an_install_here_would() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path().join("template");
    std::fs::create_dir_all(&dir).expect("dir");
    for file in ["plugin.toml", "plugin.wasm"] {
        std::fs::copy(plugin_dir("template").join(file), dir.join(file)).expect("copy");
    }
    let key = scratch.path().join("me.key");
    let keygen = Command::new(inlet_bin()).args(["plugin", "keygen", "--out"]).arg(&key).output().expect("keygen");
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let public_key = String::from_utf8_lossy(&keygen.stdout).trim().to_owned();
    let run = |trusted: &str| {
        let output = Command::new(inlet_bin())
            .args(["plugin", "check"])
            .arg(&dir)
            .env("INLET_DATA_DIR", workspace_root().join("target/test-data"))
            .env("INLET_TRUSTED_PLUGIN_KEYS", trusted)
            .output()
            .expect("check");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };

    let (code, out) = run("");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("! signature") && out.contains("unsigned"), "{out}");

    let sign = Command::new(inlet_bin()).args(["plugin", "sign"]).arg(&dir).arg("--key").arg(&key).output();
    assert!(sign.expect("sign").status.success());
    let (code, out) = run(&public_key);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("✓ signature") && out.contains("trusted here"), "{out}");

    let mut wasm = std::fs::read(dir.join("plugin.wasm")).expect("wasm");
    wasm.extend_from_slice(b"\0");
    std::fs::write(dir.join("plugin.wasm"), wasm).expect("tamper");
    let (code, out) = run(&public_key);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("✗ signature") && out.contains("changed after it was signed"), "{out}");
}

/// The bounds a connector came near are reported on a `budgets` line and in
/// the JSON report: a log flood (hostile-logs) and values over their sizes
/// (hostile-strings) warn with figures; a quiet connector passes.
#[inlet_tests::test]
fn the_budgets_a_connector_came_near_are_reported() {
    let flood = json!({"behavior": "log-flood", "count": 5000});
    let report = check(&fixture_dir("hostile-logs"), Some(&flood), &["--json"]).json();
    let line = named(&report, "hostile-logs: budgets");
    assert_eq!(line["status"], "warn", "{line}");
    assert!(line["message"].as_str().unwrap_or_default().contains("log lines suppressed"), "{line}");
    let budgets = &report["budgets"];
    assert!(budgets["log_lines_suppressed"].as_u64().unwrap_or(0) >= 4000, "{budgets}");
    assert!(budgets["log_lines_written"].as_u64().unwrap_or(u64::MAX) <= 200, "{budgets}");
    assert_eq!(budgets["log_lines_per_second_cap"], 50, "{budgets}");
    assert_eq!(budgets["page_bytes_cap"], 16 << 20, "{budgets}");

    let run = check(&fixture_dir("hostile-logs"), Some(&flood), &[]);
    let text = run.stdout.lines().find(|l| l.contains("hostile-logs: budgets")).unwrap_or_default();
    assert!(text.contains('!') && text.contains("log lines suppressed"), "{}", run.stdout);

    let huge = json!({"behavior": "huge-version", "mib": 1});
    let report = check(&fixture_dir("hostile-strings"), Some(&huge), &["--json"]).json();
    let line = named(&report, "hostile-strings: budgets");
    assert_eq!(line["status"], "warn", "{line}");
    assert!(line["message"].as_str().unwrap_or_default().contains("values truncated"), "{line}");
    assert!(report["budgets"]["values_truncated"].as_u64().unwrap_or(0) >= 1, "{}", report["budgets"]);

    let report = check(&plugin_dir("template"), Some(&template_config()), &["--json"]).json();
    assert_eq!(named(&report, "template: budgets")["status"], "pass");
    assert_eq!(report["budgets"]["log_lines_suppressed"], 0);
    assert_eq!(report["budgets"]["values_truncated"], 0);
    assert!(report["budgets"]["largest_page_bytes"].as_u64().unwrap_or(0) > 0, "{}", report["budgets"]);
}
