//! A real OpenSSH server (Debian's openssh-server) for the SSH tunnel tests.
//!
//! [`Sshd::start`] runs `/usr/sbin/sshd -D` on a random loopback port with its own host key,
//! its own `sshd_config` and log file (`LogLevel DEBUG1`, so every forwarded `direct-tcpip`
//! channel is logged with its target), all in a temporary directory. The login is the system
//! user [`USER`] (created with `useradd` when missing, its password set to [`PASSWORD`] with
//! `chpasswd`); its authorized keys are generated per server: ed25519, ECDSA, RSA and an
//! encrypted ed25519 (passphrase [`KEY_PASSPHRASE`]). Root's account is never touched.
//!
//! sshd needs root (it switches to the user), as in CI; elsewhere [`Sshd::require`] skips.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{free_port, require};

/// The server binary.
pub const SSHD: &str = "/usr/sbin/sshd";
/// The login the server accepts (a dedicated system user, never root).
pub const USER: &str = "inlet_tunnel";
/// That user's password (set by every [`Sshd::start`]).
pub const PASSWORD: &str = "inlet-Tunnel-pw-4821";
/// The passphrase of the encrypted client key.
pub const KEY_PASSPHRASE: &str = "correct horse battery staple";

/// A client key the server accepts.
#[derive(Clone, Debug)]
pub struct ClientKey {
    /// `ed25519`, `ecdsa`, `rsa` or `ed25519-encrypted`.
    pub kind: &'static str,
    pub path: PathBuf,
    pub passphrase: Option<String>,
}

impl ClientKey {
    /// The private key in OpenSSH format.
    pub fn pem(&self) -> String {
        std::fs::read_to_string(&self.path).expect("read client key")
    }

    /// The public key line.
    pub fn public(&self) -> String {
        std::fs::read_to_string(self.path.with_extension("pub")).expect("read client public key")
    }
}

/// A running OpenSSH server; stopped (with its sessions) on drop.
pub struct Sshd {
    pub port: u16,
    pub user: String,
    pub password: String,
    pub ed25519: ClientKey,
    pub ecdsa: ClientKey,
    pub rsa: ClientKey,
    pub ed25519_encrypted: ClientKey,
    dir: TempDir,
    child: Option<Child>,
    host_key_fingerprint: String,
}

impl Sshd {
    /// Requires what an OpenSSH server needs here: sshd and ssh-keygen
    /// installed, and root (see [`crate::require`]).
    #[track_caller]
    pub fn require() {
        require::tool(SSHD);
        require::tool("ssh-keygen");
        require::that(is_root(), "root (sshd switches users)");
    }

    /// Starts a server (see the module doc). Panics when it cannot; call [`Sshd::require`] first.
    pub fn start() -> Sshd {
        ensure_user();
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (privilege separation directory)");
        let _ = std::fs::set_permissions("/run/sshd", std::fs::Permissions::from_mode(0o755));

        let dir = tempfile::Builder::new().prefix("inlet-sshd-").tempdir().expect("temp dir");
        // The user reads authorized_keys from here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        keygen(&dir.path().join("host_ed25519"), "ed25519", None, "");
        let key = |kind: &'static str, file: &str, bits: Option<&str>, passphrase: Option<&str>| {
            let path = dir.path().join(file);
            keygen(&path, kind.trim_end_matches("-encrypted"), bits, passphrase.unwrap_or(""));
            ClientKey { kind, path, passphrase: passphrase.map(str::to_owned) }
        };
        let ed25519 = key("ed25519", "id_ed25519", None, None);
        let ecdsa = key("ecdsa", "id_ecdsa", Some("256"), None);
        let rsa = key("rsa", "id_rsa", Some("3072"), None);
        let ed25519_encrypted = key("ed25519-encrypted", "id_ed25519_encrypted", None, Some(KEY_PASSPHRASE));
        let authorized: String = [&ed25519, &ecdsa, &rsa, &ed25519_encrypted].iter().map(|key| key.public()).collect();
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::write(&authorized_keys, authorized).expect("write authorized_keys");
        std::fs::set_permissions(&authorized_keys, std::fs::Permissions::from_mode(0o644)).expect("chmod");

        let host_key_fingerprint = fingerprint(&dir.path().join("host_ed25519.pub"));
        let port = free_port();
        write_config(dir.path(), port);

        let mut sshd = Sshd {
            port,
            user: USER.into(),
            password: PASSWORD.into(),
            ed25519,
            ecdsa,
            rsa,
            ed25519_encrypted,
            dir,
            child: None,
            host_key_fingerprint,
        };
        sshd.spawn();
        sshd
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The server's host key fingerprint, `SHA256:…` as `ssh-keygen -lf` prints it.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.host_key_fingerprint
    }

    /// The server's log (`-E`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("sshd.log")
    }

    /// How many `direct-tcpip` channels to `host:port` the server has opened so far (its
    /// `server_request_direct_tcpip: originator …, target HOST port PORT` lines).
    pub fn forwarded_channels(&self, host: &str, port: u16) -> usize {
        let needle = format!("target {host} port {port}");
        self.log().lines().filter(|line| line.contains("server_request_direct_tcpip") && line.contains(&needle)).count()
    }

    /// Stops the server and every session it runs (as a bastion reboot would), then starts it
    /// again on the same port with the same host key and users.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Gives the server a new host key and restarts it (a rebuilt bastion, or an impostor).
    pub fn rotate_host_key(&mut self) {
        self.stop();
        let key = self.dir.path().join("host_ed25519");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        keygen(&key, "ed25519", None, "");
        self.host_key_fingerprint = fingerprint(&key.with_extension("pub"));
        self.spawn();
    }

    /// Freezes (SIGSTOP) every session process, the listener excepted: the connections stay
    /// open but nothing answers on them, as with a bastion that vanished from the network.
    /// New connections are still served. [`resume_sessions`](Self::resume_sessions) undoes it.
    pub fn pause_sessions(&self) -> usize {
        self.signal_sessions("-STOP")
    }

    /// Lets the frozen session processes run again.
    pub fn resume_sessions(&self) -> usize {
        self.signal_sessions("-CONT")
    }

    fn signal_sessions(&self, signal: &str) -> usize {
        let Some(child) = self.child.as_ref() else { return 0 };
        let sessions = descendants(child.id());
        if !sessions.is_empty() {
            let _ = Command::new("kill")
                .arg(signal)
                .args(sessions.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
        sessions.len()
    }

    /// Stops the server and its sessions; [`restart`](Self::restart) starts it again.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // sshd's per-connection processes survive the listener: end them first, the deepest
        // first, so that each is reaped by its parent rather than left a zombie.
        for pid in descendants(child.id()).into_iter().rev() {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).stderr(Stdio::null()).status();
            let deadline = Instant::now() + Duration::from_millis(500);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        // The port is free again once nothing accepts there.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn(&mut self) {
        let config = self.dir.path().join("sshd_config");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .arg("-E")
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        // Ready when it sends its banner.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("sshd exited at start ({status}); its log:\n{}", self.log());
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(500)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 8];
                if stream.read_exact(&mut banner).is_ok() && banner.starts_with(b"SSH-2.0") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not answer on {} within 15 s; its log:\n{}",
                self.addr(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2))
                .map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// Creates [`USER`] when missing and sets its password (once per test process).
fn ensure_user() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let exists = || Command::new("id").arg("-u").arg(USER).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if !exists().is_ok_and(|status| status.success()) {
            let output = Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]).output().expect("run useradd");
            // Another test process may have created it meanwhile.
            assert!(
                output.status.success() || exists().is_ok_and(|status| status.success()),
                "useradd {USER} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // Another process may hold the shadow lock for a moment.
        let mut last = String::new();
        for _ in 0..20 {
            let mut child = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run chpasswd");
            if let Some(mut stdin) = child.stdin.take() {
                writeln!(stdin, "{USER}:{PASSWORD}").expect("write to chpasswd");
            }
            let output = child.wait_with_output().expect("chpasswd");
            if output.status.success() {
                return;
            }
            last = String::from_utf8_lossy(&output.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chpasswd for {USER} failed: {last}");
    });
}

fn keygen(path: &Path, kind: &str, bits: Option<&str>, passphrase: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", "inlet-test", "-f"]).arg(path);
    if let Some(bits) = bits {
        cmd.args(["-b", bits]);
    }
    let output = cmd.output().expect("run ssh-keygen");
    assert!(output.status.success(), "ssh-keygen -t {kind} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// `SHA256:…` of a public key file, from `ssh-keygen -lf`.
pub fn fingerprint(public_key: &Path) -> String {
    let output = Command::new("ssh-keygen").arg("-lf").arg(public_key).output().expect("run ssh-keygen -lf");
    assert!(output.status.success(), "ssh-keygen -lf failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).split_whitespace().nth(1).expect("a fingerprint field").to_owned()
}

fn write_config(dir: &Path, port: u16) {
    let path = dir.join("sshd_config");
    let base = format!(
        "# Written by the inlet test harness (tests/src/sshd.rs).\n\
         Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {dir}/host_ed25519\n\
         PidFile none\n\
         UsePAM no\n\
         PasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\n\
         PermitEmptyPasswords no\n\
         PermitRootLogin no\n\
         AllowUsers {USER}\n\
         AuthorizedKeysFile {dir}/authorized_keys\n\
         StrictModes no\n\
         AllowTcpForwarding yes\n\
         PermitOpen any\n\
         GatewayPorts no\n\
         X11Forwarding no\n\
         PrintMotd no\n\
         MaxAuthTries 10\n\
         MaxStartups 100\n\
         LoginGraceTime 30\n\
         LogLevel DEBUG1\n",
        dir = dir.display(),
    );
    // OpenSSH 9.8+ penalises sources that fail to authenticate (our wrong-password tests
    // all come from 127.0.0.1); older servers do not know the option.
    let with_penalties = format!("{base}PerSourcePenalties no\n");
    std::fs::write(&path, &with_penalties).expect("write sshd_config");
    if check_config(&path).is_ok() {
        return;
    }
    std::fs::write(&path, &base).expect("write sshd_config");
    if let Err(error) = check_config(&path) {
        panic!("sshd -t rejects the generated config: {error}");
    }
}

fn check_config(path: &Path) -> Result<(), String> {
    let output = Command::new(SSHD).arg("-t").arg("-f").arg(path).output().map_err(|error| error.to_string())?;
    if output.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&output.stderr).into_owned()) }
}

/// Every process below `root` (from /proc), parents before their children.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // pid (comm) state ppid …; comm may contain spaces and parentheses.
            let Some(after) = stat.rfind(')').map(|index| &stat[index + 1..]) else { continue };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|ppid| ppid.parse::<u32>().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        index += 1;
    }
    found.remove(0);
    found
}
