//! A throwaway PostgreSQL cluster for the tests that need password
//! authentication and TLS, which the shared server on 127.0.0.1:5432 (trust
//! auth) cannot give.
//!
//! It runs `initdb --auth=scram-sha-256` into a temporary directory, on a free
//! port on 127.0.0.1, with its unix socket inside that directory, TLS on (a
//! test CA and a server certificate for `localhost`), and three login roles:
//! a SCRAM one, an md5 one, and one that pg_hba.conf admits only over TLS.
//! initdb and postgres refuse to run as root, so everything runs as the
//! `postgres` OS user through `runuser` when the tests run as root.
//! The cluster stops (immediate mode) when the value is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::require;

pub const SCRAM_USER: &str = "inlet_scram";
pub const SCRAM_PASSWORD: &str = "scram-Pa55-zq81xv";
pub const MD5_USER: &str = "inlet_md5";
pub const MD5_PASSWORD: &str = "md5-Pa55-wk27ru";
/// Admitted only over TLS (`hostnossl … reject`).
pub const SSL_ONLY_USER: &str = "inlet_ssl_only";
pub const SSL_ONLY_PASSWORD: &str = "ssl-Pa55-mt64ep";
const SUPERUSER_PASSWORD: &str = "super-Pa55-hh19cd";

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// PEM of the CA that signed the server certificate (CN and SAN `localhost`).
    pub ca_pem: String,
}

/// The directory holding initdb, pg_ctl and postgres: the newest
/// /usr/lib/postgresql/<major>/bin, else wherever `initdb` is on PATH.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

/// Requires what a throwaway cluster needs here (see [`crate::require`]).
#[track_caller]
pub fn require() {
    let initdb = bin_dir().map(|dir| dir.join("initdb")).unwrap_or_else(|| PathBuf::from("initdb"));
    require::tool(&initdb.to_string_lossy());
    require::tool("openssl");
    if is_root() {
        require::tool("runuser");
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn run(command: &mut Command) -> anyhow::Result<String> {
    let output = command.output().with_context(|| format!("run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl PgCluster {
    pub fn start() -> anyhow::Result<Self> {
        let bin = bin_dir().context("no PostgreSQL server binaries found")?;
        let dir = tempfile::Builder::new().prefix("inlet-pg-").tempdir()?;
        let root = dir.path().to_path_buf();
        let root = root.as_path();
        let port = crate::free_port();
        std::fs::create_dir(root.join("sock"))?;
        std::fs::write(root.join("pw"), SUPERUSER_PASSWORD)?;
        make_certificates(root)?;
        if is_root() {
            run(Command::new("chown").arg("-R").arg("postgres:postgres").arg(root))?;
        }
        let cluster = Self { ca_pem: std::fs::read_to_string(root.join("ca.crt"))?, dir, bin, port };
        let data = cluster.data_dir();
        cluster.as_postgres(
            &mut cluster.tool("initdb"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                &format!("--pwfile={}", root.join("pw").display()),
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        // `localhost` may resolve to ::1 first: listen there too when this
        // machine has IPv6 loopback.
        let ipv6 = TcpListener::bind(("::1", port)).is_ok();
        let listen = if ipv6 { "127.0.0.1,::1" } else { "127.0.0.1" };
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf"))?;
        conf.push_str(&format!(
            "\nport = {port}\nlisten_addresses = '{listen}'\nunix_socket_directories = '{sock}'\n\
             ssl = on\nssl_cert_file = '{root}/server.crt'\nssl_key_file = '{root}/server.key'\n\
             fsync = off\nmax_connections = 20\n",
            sock = root.join("sock").display(),
            root = root.display(),
        ));
        std::fs::write(data.join("postgresql.conf"), conf)?;
        // First match wins: the TLS-only role is refused without TLS before
        // any password line can admit it; the md5 role gets md5 before the
        // catch-all SCRAM line.
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all all trust\n\
                 hostnossl all {SSL_ONLY_USER} all reject\n\
                 host all {MD5_USER} 127.0.0.1/32 md5\n\
                 host all {MD5_USER} ::1/128 md5\n\
                 host all all 127.0.0.1/32 scram-sha-256\n\
                 host all all ::1/128 scram-sha-256\n"
            ),
        )?;
        if is_root() {
            run(Command::new("chown").arg("-R").arg("postgres:postgres").arg(root))?;
        }
        cluster.start_server()?;
        cluster.psql(&format!(
            "CREATE ROLE {SCRAM_USER} LOGIN PASSWORD '{SCRAM_PASSWORD}'; \
             SET password_encryption = 'md5'; \
             CREATE ROLE {MD5_USER} LOGIN PASSWORD '{MD5_PASSWORD}'; \
             RESET password_encryption; \
             CREATE ROLE {SSL_ONLY_USER} LOGIN PASSWORD '{SSL_ONLY_PASSWORD}';"
        ))?;
        Ok(cluster)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_server(&self) -> anyhow::Result<()> {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let args = ["-D", &data.to_string_lossy(), "-l", &log.to_string_lossy(), "-w", "-t", "60", "start"];
        self.as_postgres(&mut self.tool("pg_ctl"), &args).map(drop)
    }

    /// Stops the server at once (its port refuses connections afterwards).
    pub fn stop_server(&self) -> anyhow::Result<()> {
        let data = self.data_dir();
        self.as_postgres(&mut self.tool("pg_ctl"), &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"])
            .map(drop)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let path = if path.exists() { path } else { PathBuf::from(name) };
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn as_postgres(&self, command: &mut Command, args: &[&str]) -> anyhow::Result<String> {
        run(command.args(args))
    }

    /// Runs SQL as the superuser over the cluster's unix socket.
    pub fn psql(&self, sql: &str) -> anyhow::Result<String> {
        let mut command = self.tool("psql");
        command
            .arg("-h")
            .arg(self.dir.path().join("sock"))
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-X", "-q", "-A", "-t"])
            .args(["-v", "ON_ERROR_STOP=1", "-c", sql]);
        run(&mut command)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.tool("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

/// A test CA and a server certificate it signed for `localhost` (DNS name
/// only, so that an IP host name fails `verify-full` but passes `verify-ca`).
fn make_certificates(root: &Path) -> anyhow::Result<()> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(Command::new("openssl").current_dir(root).args(["req", "-x509"]).args(ec).args([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=inlet test CA",
    ]))?;
    run(Command::new("openssl").current_dir(root).arg("req").args(ec).args([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]))?;
    std::fs::write(
        root.join("server.ext"),
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n",
    )?;
    run(Command::new("openssl").current_dir(root).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]))?;
    // PostgreSQL refuses a key file that others can read.
    let mut permissions = std::fs::metadata(root.join("server.key"))?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o600);
    std::fs::set_permissions(root.join("server.key"), permissions)?;
    Ok(())
}
