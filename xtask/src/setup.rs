//! What a fresh machine of our kind lacks, installed by the command that needs
//! it, so that `cargo xtask serve` and `cargo xtask test` work on a new
//! machine with nothing installed by hand.
//!
//! - The guest toolchain (every build): clang that targets wasm, wasm-ld,
//!   wasi-libc's headers and the wasm32 compiler builtins, which `ring`'s
//!   build script needs inside connectors.
//! - The test tools (`test` only): OpenSSL and OpenSSH's server (SSH tunnel
//!   tests), the pinned Python peers and checkers, and a running PostgreSQL.
//!
//! Debian packages are installed with apt-get when we are root (or sudo works
//! without a password); otherwise the command stops with one line that says
//! what to run. Each check is cheap, so a machine that has everything pays
//! a few milliseconds.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// A Debian package and how to tell it is already there.
struct DebianNeed {
    package: &'static str,
    present: fn() -> bool,
}

const GUEST_TOOLCHAIN: &[DebianNeed] = &[
    DebianNeed { package: "clang", present: || on_path("clang") },
    DebianNeed { package: "lld", present: || on_path("wasm-ld") },
    DebianNeed { package: "wasi-libc", present: || Path::new("/usr/include/wasm32-wasi").is_dir() },
    DebianNeed { package: "libclang-rt-14-dev-wasm32", present: wasm_builtins_present },
];

const TEST_TOOLS: &[DebianNeed] = &[
    DebianNeed { package: "openssl", present: || on_path("openssl") },
    DebianNeed { package: "openssh-server", present: || Path::new("/usr/sbin/sshd").is_file() },
];

/// A pinned PyPI requirement and the import (or command) that proves it is installed.
struct PythonNeed {
    requirements: &'static [&'static str],
    present: fn() -> bool,
}

const PYTHON_TOOLS: &[PythonNeed] = &[
    // schemathesis checks the server against its own OpenAPI document (tests/tests/e2e/schemathesis.rs).
    PythonNeed { requirements: &["schemathesis==4.32.5"], present: || on_path("st") },
    PythonNeed { requirements: &["pyarrow==26.0.1"], present: || python_imports("pyarrow") },
    PythonNeed {
        requirements: &["openpyxl==3.1.5", "xlwt==1.3.0", "odfpy==1.4.1"],
        present: || python_imports("openpyxl, xlwt, odf"),
    },
    PythonNeed { requirements: &["moto[server]==5.2.1"], present: || on_path("moto_server") },
];

/// Makes sure the guest crates can build (clang for wasm and friends).
pub fn guest_toolchain() -> Result<()> {
    install_debian(GUEST_TOOLCHAIN, "the connectors' build needs clang for wasm")
}

/// Makes sure everything the test suite talks to is installed and running.
pub fn test_tools() -> Result<()> {
    install_debian(TEST_TOOLS, "the tests need OpenSSL and an SSH server")?;
    install_python()?;
    start_postgres()
}

fn install_debian(needs: &[DebianNeed], why: &str) -> Result<()> {
    let missing: Vec<&str> = needs.iter().filter(|need| !(need.present)()).map(|need| need.package).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", missing.join(" "));
    let Some(runner) = AptRunner::here() else {
        bail!("{why}: run `sudo apt-get update && sudo {install}`, then this command again");
    };
    eprintln!("xtask: installing {} ({why})", missing.join(", "));
    if !runner.run(&["update", "-qq"])? || !runner.run(&[&["install", "-y", "-qq"][..], &missing].concat())? {
        bail!("{why}, and `{install}` failed: run it by hand and read its error");
    }
    Ok(())
}

/// How apt-get can run here: directly as root, or through passwordless sudo.
enum AptRunner {
    Root,
    Sudo,
}

impl AptRunner {
    fn here() -> Option<Self> {
        if !on_path("apt-get") {
            return None;
        }
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
            return Some(Self::Root);
        }
        let sudo = Command::new("sudo").args(["-n", "true"]).stderr(Stdio::null()).status();
        sudo.is_ok_and(|status| status.success()).then_some(Self::Sudo)
    }

    fn run(&self, args: &[&str]) -> Result<bool> {
        let mut command = match self {
            Self::Root => Command::new("apt-get"),
            Self::Sudo => {
                let mut sudo = Command::new("sudo");
                sudo.args(["-n", "apt-get"]);
                sudo
            }
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        Ok(command.status()?.success())
    }
}

fn install_python() -> Result<()> {
    let missing: Vec<&str> = PYTHON_TOOLS
        .iter()
        .filter(|need| !(need.present)())
        .flat_map(|need| need.requirements.iter().copied())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} from PyPI (test peers and checkers)", missing.join(", "));
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(&missing)
        .status()?;
    if !status.success() {
        bail!("the tests need {}: `python3 -m pip install {}` failed", missing.join(", "), missing.join(" "));
    }
    Ok(())
}

/// The machine's PostgreSQL is started before a session, but a stopped one is
/// started here the way the machine notes say.
fn start_postgres() -> Result<()> {
    if postgres_ready() {
        return Ok(());
    }
    let Some(version) = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut dirs| dirs.find_map(|entry| entry.ok()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
    else {
        eprintln!("xtask: no PostgreSQL cluster here; tests that need it will say so");
        return Ok(());
    };
    eprintln!("xtask: starting PostgreSQL {version}");
    let _ = Command::new("pg_ctlcluster").args(["--skip-systemctl-redirect", &version, "main", "start"]).status();
    for _ in 0..30 {
        if postgres_ready() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    bail!("PostgreSQL did not start on 127.0.0.1:5432: see `pg_lsclusters`")
}

fn postgres_ready() -> bool {
    Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
        .status()
        .is_ok_and(|status| status.success())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn python_imports(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn wasm_builtins_present() -> bool {
    let Ok(llvm_dirs) = std::fs::read_dir("/usr/lib") else { return false };
    llvm_dirs.filter_map(Result::ok).filter(|entry| entry.file_name().to_string_lossy().starts_with("llvm-")).any(
        |llvm| {
            let clang = llvm.path().join("lib/clang");
            std::fs::read_dir(clang)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .any(|version| version.path().join("lib/wasi/libclang_rt.builtins-wasm32.a").is_file())
        },
    )
}
