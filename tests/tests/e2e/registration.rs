//! Guards for the one-binary layout: a test that libtest would run but this
//! harness never sees fails here instead of vanishing silently.

use std::path::{Path, PathBuf};

use inlet_tests::workspace_root;

fn rust_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut sources: Vec<(PathBuf, String)> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
            (path, text)
        })
        .collect();
    sources.sort();
    sources
}

fn e2e_sources() -> Vec<(PathBuf, String)> {
    rust_files(&workspace_root().join("tests/tests/e2e"))
}

/// The e2e files and every other test file run by this harness (the
/// connectors' native tests).
fn harness_sources() -> Vec<(PathBuf, String)> {
    let plugins = workspace_root().join("plugins");
    let mut sources = e2e_sources();
    for plugin in
        std::fs::read_dir(&plugins).unwrap_or_else(|error| panic!("cannot list {}: {error}", plugins.display()))
    {
        let tests = plugin.expect("a directory entry").path().join("tests");
        sources.extend(rust_files(&tests).into_iter().filter(|(_, text)| text.contains("inlet_tests::harness::main")));
    }
    sources
}

/// Outside libtest, `#[test]` and `#[tokio::test]` compile to nothing: such a
/// test would never run. They must be `#[inlet_tests::test]`.
#[inlet_tests::test]
fn every_test_carries_the_harness_attribute() {
    let mut stray = Vec::new();
    for (path, text) in harness_sources() {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
                stray.push(format!("{}:{}: {line}", path.display(), number + 1));
            }
        }
    }
    assert!(stray.is_empty(), "use #[inlet_tests::test] (async fns too) instead of:\n{}", stray.join("\n"));
}

/// A file in tests/tests/e2e/ that main.rs does not declare is never compiled.
#[inlet_tests::test]
fn every_file_is_a_module_of_the_binary() {
    let sources = e2e_sources();
    let main = sources
        .iter()
        .find(|(path, _)| path.ends_with("main.rs"))
        .map(|(_, text)| text.clone())
        .expect("tests/tests/e2e/main.rs");
    let undeclared: Vec<String> = sources
        .iter()
        .filter_map(|(path, _)| path.file_stem()?.to_str().map(str::to_owned))
        .filter(|stem| stem != "main" && !main.lines().any(|line| line.trim() == format!("mod {stem};")))
        .collect();
    assert!(undeclared.is_empty(), "declare these in tests/tests/e2e/main.rs: {undeclared:?}");
}
