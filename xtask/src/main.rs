//! `cargo xtask build|serve|test|bench|lint`: the project's commands.
//!
//! - build: adds the wasm32-wasip2 target if missing, builds every plugin into
//!   `target/plugins/<id>/`, the test fixtures into `target/fixtures/`, and the
//!   host into `target/release/inlet`.
//! - plugins: only the guest half of build (plugins and fixtures), for
//!   connector authors iterating on a plugin.
//! - serve: build, then `inlet serve` on 127.0.0.1:8080 with data in `.inlet/`.
//! - test: build, then the whole test suite (in release, sharing one build).
//!
//! build (and so serve and test) first installs what a fresh machine lacks:
//! the guest toolchain, and for test the test tools and peers (setup.rs).
//! - bench: build, then the criterion benchmarks; `bench scale` (or only
//!   `bench discovery` / `bench scheduler`) instead runs the benchmarks at
//!   scale after `cargo xtask build` and prints markdown tables (see scale.rs).
//! - lint: rustfmt check and clippy (host side and wasm side).
//! - load: the API throughput figures under wrk, after build (see load.rs).

mod discovery_e2e;
mod load;
mod reading_bench;
mod scale;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const WASM_TARGET: &str = "wasm32-wasip2";

/// Components built for the guest: (crate directory, where the output goes).
#[derive(Clone, Copy)]
enum Output {
    /// A plugin: `target/plugins/<manifest id>/{plugin.wasm,plugin.toml}`.
    Plugin,
    /// A test fixture with a manifest: `target/fixtures/<dir name>/{plugin.wasm,plugin.toml}`.
    Fixture,
}

/// Errors end as one line (`xtask: …`), never a backtrace: what failed and
/// what to do is all a reader needs.
fn main() -> std::process::ExitCode {
    match run_command() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_command() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root()?;
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("build") => build(&root),
        Some("plugins") => build_guests(&root),
        Some("serve") => {
            build(&root)?;
            serve(&root)
        }
        Some("test") => {
            setup::test_tools()?;
            build(&root)?;
            test(&root, &args[1..])
        }
        Some("bench") => match args.get(1).map(String::as_str) {
            Some(which @ ("scale" | "discovery" | "scheduler")) => {
                scale::scale(&root, &scale::Options::parse(which, &args[2..])?)
            }
            Some("reading") => {
                build(&root)?;
                reading_bench::reading(&root)
            }
            _ => {
                build(&root)?;
                run(Command::new("cargo").args(["bench", "-p", "inlet"]).args(&args[1..]))
            }
        },
        Some("lint") => lint(&root),
        Some("load") => load::load(&root, &args[1..]),
        _ => bail!("usage: cargo xtask build|plugins|serve|test|bench [scale|discovery|scheduler|reading]|lint|load"),
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).context("xtask lives inside the workspace")
}

fn build(root: &Path) -> Result<()> {
    build_guests(root)?;
    run(Command::new("cargo").args(["build", "--release", "-p", "inlet"]))
}

fn build_guests(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    setup::guest_toolchain()?;
    let guests = guest_crates(root)?;
    let mut cargo = wasm_cargo(root);
    cargo.args(["build", "--profile", "wasm", "--target", WASM_TARGET]);
    for (_, package, _) in &guests {
        cargo.args(["-p", package]);
    }
    run(&mut cargo)?;
    for (dir, package, output) in &guests {
        install_guest(root, dir, package, output)?;
    }
    Ok(())
}

/// Every crate that builds for the guest, with its package name and output.
fn guest_crates(root: &Path) -> Result<Vec<(PathBuf, String, Output)>> {
    let mut guests = Vec::new();
    for (parent, output) in [("plugins", Output::Plugin), ("tests/fixtures", Output::Fixture)] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(parent))
            .with_context(|| format!("cannot list {parent}/"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.join("Cargo.toml").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            let package = package_name(&dir)?;
            guests.push((dir, package, output));
        }
    }
    Ok(guests)
}

fn package_name(dir: &Path) -> Result<String> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml"))?;
    let value: toml::Table = toml::from_str(&text)?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{}/Cargo.toml has no package name", dir.display()))
}

fn install_guest(root: &Path, dir: &Path, package: &str, output: &Output) -> Result<()> {
    let wasm = root
        .join("target/wasm-build")
        .join(WASM_TARGET)
        .join("wasm")
        .join(format!("{}.wasm", package.replace('-', "_")));
    let manifest = dir.join("plugin.toml");
    let dest = match output {
        Output::Plugin => {
            let text =
                std::fs::read_to_string(&manifest).with_context(|| format!("{} is missing", manifest.display()))?;
            let value: toml::Table = toml::from_str(&text)?;
            let id = value.get("id").and_then(|v| v.as_str()).context("plugin.toml has no id")?;
            root.join("target/plugins").join(id)
        }
        Output::Fixture => {
            let name = dir.file_name().and_then(|n| n.to_str()).context("fixture directory name")?;
            root.join("target/fixtures").join(name)
        }
    };
    std::fs::create_dir_all(&dest)?;
    std::fs::copy(&wasm, dest.join("plugin.wasm")).with_context(|| format!("copy {}", wasm.display()))?;
    if manifest.is_file() {
        std::fs::copy(&manifest, dest.join("plugin.toml"))?;
    }
    Ok(())
}

/// cargo for the guest side: its own target directory (so host and guest
/// builds never wait on each other's lock) and clang for the C code inside
/// guest crates (ring).
fn wasm_cargo(root: &Path) -> Command {
    let mut cargo = Command::new("cargo");
    cargo.env("CARGO_TARGET_DIR", root.join("target/wasm-build"));
    cargo.env("CC_wasm32_wasip2", "clang");
    cargo.env("AR_wasm32_wasip2", find_llvm_ar());
    cargo.env("CFLAGS_wasm32_wasip2", "-isystem /usr/include/wasm32-wasi");
    cargo
}

fn find_llvm_ar() -> String {
    for candidate in ["llvm-ar", "llvm-ar-19", "llvm-ar-16", "llvm-ar-15", "llvm-ar-14"] {
        if Command::new(candidate).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return candidate.to_owned();
        }
    }
    "llvm-ar".to_owned()
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(output) if String::from_utf8_lossy(&output.stdout).lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        Ok(_) => run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        Err(error) => {
            eprintln!("xtask: rustup not available ({error}); assuming {WASM_TARGET} is installed");
            Ok(())
        }
    }
}

fn serve(root: &Path) -> Result<()> {
    let mut inlet = Command::new(root.join("target/release/inlet"));
    inlet.arg("serve");
    for (name, default) in [
        ("INLET_BIND", "127.0.0.1:8080"),
        ("INLET_DATA_DIR", ".inlet"),
        ("INLET_PLUGINS_DIR", "target/plugins"),
        // Local development talks to databases on this machine.
        ("INLET_EGRESS_LOOPBACK", "allow"),
    ] {
        if std::env::var_os(name).is_none() {
            inlet.env(name, default);
        }
    }
    run(&mut inlet)
}

fn test(root: &Path, extra: &[String]) -> Result<()> {
    let mut cargo = Command::new("cargo");
    // Release, so that the tests share the host build (wasmtime compiles once).
    cargo.args(["test", "--release", "--workspace"]);
    cargo.args(extra);
    cargo.env("INLET_EGRESS_LOOPBACK", "allow");
    // Guest crates' unit tests run natively; their C code builds with the host compiler.
    let _ = root;
    run(&mut cargo)
}

fn lint(root: &Path) -> Result<()> {
    run(Command::new("cargo").args(["fmt", "--all", "--", "--check"]))?;
    run(Command::new("cargo").args(["clippy", "--release", "--all-targets", "--", "-D", "warnings"]))?;
    let mut wasm = wasm_cargo(root);
    wasm.args(["clippy", "--profile", "wasm", "--target", WASM_TARGET]);
    for (_, package, _) in guest_crates(root)? {
        wasm.args(["-p", &package]);
    }
    wasm.args(["--", "-D", "warnings"]);
    run(&mut wasm)
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
