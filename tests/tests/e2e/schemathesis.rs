//! The OpenAPI document as a contract: schemathesis (PyPI) generates requests
//! from `/api/openapi.json` against the real server and checks that no
//! answer is a 5xx and every answer matches the document (status codes,
//! content types, headers, bodies).

use std::process::Command;

use inlet_tests::server::{Backend, Inlet};
use inlet_tests::{require, workspace_root};
use serde_json::json;

/// Checks about the server's answers. Checks that judge the *requests*
/// (e.g. that every schema-valid body is accepted) are left out: some
/// refusals depend on state no schema can express (an unknown workspace id,
/// a name already taken).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

#[inlet_tests::test]
fn answers_conform_to_the_openapi_document() {
    require::tool("st");
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    // Something to find, so operations on ids meet real rows too.
    let csv = workspace_root().join("tests/fixtures/csv/mixed.csv");
    api.create(&json!({ "name": "seed", "type": "csv", "config": { "file_path": csv } }));

    let report = tempfile::tempdir().expect("temp dir");
    let output = Command::new("st")
        .arg("run")
        .arg(format!("http://127.0.0.1:{}/api/openapi.json", inlet.port))
        .args(["--header", &format!("Authorization: Bearer {}", token.secret)])
        .args(["--checks", CHECKS])
        // One worker: with two, hypothesis parses lambda sources on two
        // threads at once, and CPython 3.11.7's `ast.parse` can then fail with
        // "AST constructor recursion depth mismatch" (seen in CI), an error
        // inside the tool that says nothing about the server.
        .args(["--max-examples", "30", "--seed", "20261127", "--workers", "1"])
        .args(["--generation-database", "none", "--request-timeout", "30", "--no-color"])
        .arg("--report-dir")
        .arg(report.path())
        // schemathesis keeps its state in the working directory: not in the tree.
        .current_dir(report.path())
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = inlet.server_log();
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!log.contains("panicked"), "the server panicked under schemathesis:\n{log}");
}
