//! The SSH tunnel library (`inlet::tunnel`) against a real OpenSSH server in front of the
//! real Redis on 127.0.0.1:6379: every authentication method and key type, host key
//! pinning, wrong credentials, a closed target, the bastion restarted mid-use, and sshd's
//! own log as proof that the traffic went through it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use inlet::tunnel::{
    HostKeyCheck, STEP_AUTHENTICATE, STEP_CONNECT, STEP_OPEN_CHANNEL, Tunnel, TunnelAuth, TunnelError, TunnelSpec,
    TunnelStep, Tunnels,
};
use inlet_tests::require::{self, Service};
use inlet_tests::sshd::{ClientKey, Sshd};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const REDIS: u16 = 6379;

fn require_sshd_and_redis() {
    Sshd::require();
    require::service(Service::Redis);
}

fn spec(sshd: &Sshd, auth: TunnelAuth) -> TunnelSpec {
    TunnelSpec {
        host: "127.0.0.1".into(),
        port: sshd.port,
        username: sshd.user.clone(),
        auth,
        host_key: HostKeyCheck::Pinned(sshd.host_key_fingerprint().to_owned()),
        connect_timeout: Duration::from_secs(10),
        keepalive: Duration::from_secs(5),
    }
}

fn password(sshd: &Sshd) -> TunnelAuth {
    TunnelAuth::Password(sshd.password.clone())
}

fn key_auth(key: &ClientKey) -> TunnelAuth {
    TunnelAuth::PrivateKey { openssh_pem: key.pem(), passphrase: key.passphrase.clone() }
}

async fn open(spec: TunnelSpec) -> (Arc<Tunnel>, Vec<TunnelStep>) {
    match Tunnel::open(spec, "127.0.0.1".into(), REDIS).await {
        Ok(opened) => opened,
        Err(failure) => panic!("tunnel did not open: {failure} (steps {:?})", failure.steps),
    }
}

/// `PING` over a new connection to `addr`; the reply line.
async fn ping(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(b"PING\r\n").await?;
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), BufReader::new(&mut stream).read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply within 10 s"))??;
    if read == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed without a reply"));
    }
    Ok(line.trim_end().to_owned())
}

fn assert_steps_passed(steps: &[TunnelStep]) {
    let names: Vec<&str> = steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(names, [STEP_CONNECT, STEP_AUTHENTICATE, STEP_OPEN_CHANNEL], "{steps:?}");
    assert!(steps.iter().all(|step| step.passed), "{steps:?}");
}

#[inlet_tests::test]
async fn password_auth_forwards_through_sshd() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let (tunnel, steps) = open(spec(&sshd, password(&sshd))).await;
    assert_steps_passed(&steps);
    assert!(steps[0].duration_us > 0 && steps[1].duration_us > 0, "{steps:?}");
    assert_eq!(tunnel.host_key_fingerprint(), sshd.host_key_fingerprint());
    assert!(tunnel.local_addr().ip().is_loopback());
    assert_ne!(tunnel.local_addr().port(), REDIS);
    // The probe channel of "ssh open channel" went through sshd already.
    assert_eq!(sshd.forwarded_channels("127.0.0.1", REDIS), 1, "{}", sshd.log());

    for _ in 0..3 {
        assert_eq!(ping(tunnel.local_addr()).await.expect("ping through the tunnel"), "+PONG");
    }
    // Each connection is its own direct-tcpip channel, logged by sshd with its target.
    let log = sshd.log();
    assert!(log.contains(&format!("Accepted password for {}", sshd.user)), "{log}");
    assert_eq!(sshd.forwarded_channels("127.0.0.1", REDIS), 4, "{log}");
    assert_eq!(log.matches("Accepted password").count(), 1, "one SSH session carries every channel: {log}");

    let stats = tunnel.stats();
    assert_eq!((stats.channels_total, stats.reconnects, stats.failures), (3, 0, 0), "{stats:?}");
    assert!(stats.connected);
    tunnel.close().await;
    assert!(tunnel.is_closed());
    assert!(ping(tunnel.local_addr()).await.is_err(), "a closed tunnel no longer listens");
}

#[inlet_tests::test]
async fn every_key_type_authenticates() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    for key in [&sshd.ed25519, &sshd.ecdsa, &sshd.rsa, &sshd.ed25519_encrypted] {
        let (tunnel, steps) = open(spec(&sshd, key_auth(key))).await;
        assert_steps_passed(&steps);
        assert_eq!(ping(tunnel.local_addr()).await.expect("ping"), "+PONG", "{}", key.kind);
        tunnel.close().await;
    }
    let log = sshd.log();
    for algorithm in ["ED25519", "ECDSA", "RSA"] {
        assert!(log.contains(&format!("Accepted publickey for {} from 127.0.0.1", sshd.user)), "{log}");
        assert!(
            log.lines().any(|line| line.contains("Accepted publickey") && line.contains(algorithm)),
            "{algorithm}: {log}"
        );
    }
    assert_eq!(log.matches("Accepted publickey").count(), 4, "{log}");
}

#[inlet_tests::test]
async fn trust_on_first_use_reports_the_key() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let mut spec = spec(&sshd, key_auth(&sshd.ed25519));
    spec.host_key = HostKeyCheck::TrustOnFirstUse;
    let (tunnel, steps) = open(spec).await;
    assert_steps_passed(&steps);
    assert_eq!(tunnel.host_key_fingerprint(), sshd.host_key_fingerprint());
    assert_eq!(tunnel.spec().host_key, HostKeyCheck::Pinned(sshd.host_key_fingerprint().to_owned()));
    assert!(steps[0].message.as_deref().unwrap_or("").contains(sshd.host_key_fingerprint()), "{steps:?}");
    tunnel.close().await;
}

#[inlet_tests::test]
async fn wrong_host_key_is_refused() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    // A real fingerprint, of another key.
    let other = inlet_tests::sshd::fingerprint(&sshd.ed25519.path.with_extension("pub"));
    let mut spec = spec(&sshd, password(&sshd));
    spec.host_key = HostKeyCheck::Pinned(other.clone());
    let failure = Tunnel::open(spec, "127.0.0.1".into(), REDIS).await.expect_err("a wrong host key");
    match &failure.error {
        TunnelError::HostKeyMismatch { expected, presented } => {
            assert_eq!(expected, &other);
            assert_eq!(presented, sshd.host_key_fingerprint());
        }
        other => panic!("expected a host key mismatch, got {other:?}"),
    }
    assert_eq!(failure.kind(), "config");
    assert_eq!(failure.steps.len(), 1, "{:?}", failure.steps);
    assert_eq!(failure.steps[0].name, STEP_CONNECT);
    assert!(!failure.steps[0].passed);
    let message = failure.steps[0].message.clone().unwrap_or_default();
    assert!(message.contains(&other) && message.contains(sshd.host_key_fingerprint()), "{message}");
    // Refused before authenticating: no password was sent.
    assert!(!sshd.log().contains("Accepted password"), "{}", sshd.log());
}

#[inlet_tests::test]
async fn wrong_credentials_fail_at_authenticate() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let failure = Tunnel::open(spec(&sshd, TunnelAuth::Password("not-the-password".into())), "127.0.0.1".into(), REDIS)
        .await
        .expect_err("a wrong password");
    assert!(matches!(failure.error, TunnelError::Auth(_)), "{failure}");
    assert_eq!(failure.kind(), "auth");
    let names: Vec<&str> = failure.steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(names, [STEP_CONNECT, STEP_AUTHENTICATE]);
    assert!(failure.steps[0].passed && !failure.steps[1].passed);
    assert!(!failure.to_string().contains("not-the-password"), "{failure}");

    // A key the server does not know.
    let stranger = tempfile::tempdir().expect("tempdir");
    let path = stranger.path().join("id");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let pem = std::fs::read_to_string(&path).expect("key");
    let failure = Tunnel::open(
        spec(&sshd, TunnelAuth::PrivateKey { openssh_pem: pem, passphrase: None }),
        "127.0.0.1".into(),
        REDIS,
    )
    .await
    .expect_err("an unknown key");
    assert_eq!(failure.kind(), "auth", "{failure}");
    assert_eq!(failure.steps.last().map(|step| step.name.as_str()), Some(STEP_AUTHENTICATE));

    // The encrypted key with a wrong passphrase, and with none.
    for passphrase in [Some("wrong".to_string()), None] {
        let auth = TunnelAuth::PrivateKey { openssh_pem: sshd.ed25519_encrypted.pem(), passphrase };
        let failure =
            Tunnel::open(spec(&sshd, auth), "127.0.0.1".into(), REDIS).await.expect_err("an unusable encrypted key");
        assert!(matches!(failure.error, TunnelError::Key(_)), "{failure}");
        assert_eq!(failure.kind(), "config");
        assert_eq!(failure.steps.last().map(|step| step.name.as_str()), Some(STEP_AUTHENTICATE));
    }
}

#[inlet_tests::test]
async fn closed_target_fails_at_open_channel() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let closed = inlet_tests::free_port();
    let failure = Tunnel::open(spec(&sshd, password(&sshd)), "127.0.0.1".into(), closed)
        .await
        .expect_err("nothing listens on the target");
    assert!(matches!(failure.error, TunnelError::Channel(_)), "{failure}");
    assert_eq!(failure.kind(), "unreachable");
    let names: Vec<&str> = failure.steps.iter().map(|step| step.name.as_str()).collect();
    assert_eq!(names, [STEP_CONNECT, STEP_AUTHENTICATE, STEP_OPEN_CHANNEL]);
    assert!(failure.steps[0].passed && failure.steps[1].passed && !failure.steps[2].passed);
    assert_eq!(sshd.forwarded_channels("127.0.0.1", closed), 1, "{}", sshd.log());
}

#[inlet_tests::test]
async fn bastion_restart_reconnects() {
    require_sshd_and_redis();
    let mut sshd = Sshd::start();
    let (tunnel, _) = open(spec(&sshd, key_auth(&sshd.ed25519))).await;
    assert_eq!(ping(tunnel.local_addr()).await.expect("ping before"), "+PONG");

    // The bastion goes away: connections through the tunnel fail (nothing bypasses it)…
    sshd.stop();
    assert!(ping(tunnel.local_addr()).await.is_err(), "no bastion, no traffic");
    assert!(tunnel.stats().failures >= 1, "{:?}", tunnel.stats());
    let failure = tunnel.check().await.expect_err("the check fails while the bastion is down");
    assert_eq!(failure.kind(), "unreachable", "{failure}");
    assert_eq!(failure.steps.last().map(|step| step.name.as_str()), Some(STEP_CONNECT));

    // …and once it is back, the next connection opens a new session by itself.
    sshd.restart();
    assert_eq!(ping(tunnel.local_addr()).await.expect("ping after the restart"), "+PONG");
    let stats = tunnel.stats();
    assert_eq!(stats.reconnects, 1, "{stats:?}");
    assert!(stats.connected);
    let steps = tunnel.check().await.expect("check after the restart");
    assert_steps_passed(&steps);

    // Restarted while connected (sessions killed with it): the next connection still works.
    sshd.restart();
    assert_eq!(ping(tunnel.local_addr()).await.expect("ping after the second restart"), "+PONG");
    assert_eq!(tunnel.stats().reconnects, 2, "{:?}", tunnel.stats());
    tunnel.close().await;
}

#[inlet_tests::test]
async fn channels_share_one_session() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let (tunnel, _) = open(spec(&sshd, password(&sshd))).await;
    let addr = tunnel.local_addr();
    let pings: Vec<_> = (0..16).map(|_| tokio::spawn(ping(addr))).collect();
    for ping in pings {
        assert_eq!(ping.await.expect("task").expect("ping"), "+PONG");
    }
    let stats = tunnel.stats();
    assert_eq!(stats.channels_total, 16, "{stats:?}");
    assert_eq!(sshd.forwarded_channels("127.0.0.1", REDIS), 17, "16 and the probe");
    assert_eq!(sshd.log().matches("Accepted password").count(), 1);
    // Open channels are counted while they live.
    let held = TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tunnel.stats().channels_open, 1, "{:?}", tunnel.stats());
    drop(held);
    tunnel.close().await;
}

#[inlet_tests::test]
async fn registry_reuses_and_replaces() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let tunnels = Tunnels::new();
    let first_spec = spec(&sshd, password(&sshd));
    let fp = first_spec.fingerprint("127.0.0.1", REDIS);
    let (first, steps) =
        tunnels.get_or_open("ds-1", fp, first_spec.clone(), "127.0.0.1".into(), REDIS).await.expect("open");
    assert_steps_passed(&steps);
    assert_eq!(ping(first.local_addr()).await.expect("ping"), "+PONG");

    // Same settings: the same tunnel, checked.
    let (again, steps) = tunnels.get_or_open("ds-1", fp, first_spec, "127.0.0.1".into(), REDIS).await.expect("reuse");
    assert!(Arc::ptr_eq(&first, &again));
    assert_steps_passed(&steps);
    assert!(steps[0].message.as_deref().unwrap_or("").contains("open"), "{steps:?}");
    assert_eq!(sshd.log().matches("Accepted password").count(), 1, "reused the session");

    // Other settings: replaced, the old one closed.
    let second_spec = spec(&sshd, key_auth(&sshd.ecdsa));
    let fp2 = second_spec.fingerprint("127.0.0.1", REDIS);
    assert_ne!(fp, fp2);
    let (second, _) = tunnels.get_or_open("ds-1", fp2, second_spec, "127.0.0.1".into(), REDIS).await.expect("replace");
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(first.is_closed());
    assert!(ping(first.local_addr()).await.is_err());
    assert_eq!(ping(second.local_addr()).await.expect("ping"), "+PONG");

    let other_spec = spec(&sshd, key_auth(&sshd.rsa));
    let fp3 = other_spec.fingerprint("127.0.0.1", REDIS);
    tunnels.get_or_open("ds-2", fp3, other_spec, "127.0.0.1".into(), REDIS).await.expect("second data source");
    let stats = tunnels.stats();
    assert_eq!(stats.tunnels_open, 2, "{stats:?}");
    assert_eq!(stats.channels_total, 2, "closed tunnels still count: {stats:?}");

    assert!(tunnels.close("ds-1").await);
    assert!(second.is_closed());
    assert!(tunnels.get("ds-1").is_none());
    assert!(!tunnels.close("ds-1").await);
    assert_eq!(tunnels.stats().tunnels_open, 1);
    tunnels.close_all().await;
    assert_eq!(tunnels.stats().tunnels_open, 0);
}

#[inlet_tests::test]
async fn keepalives_detect_a_silent_bastion() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let mut spec = spec(&sshd, password(&sshd));
    spec.keepalive = Duration::from_millis(500);
    let (tunnel, _) = open(spec).await;
    assert_eq!(ping(tunnel.local_addr()).await.expect("ping"), "+PONG");
    assert!(tunnel.stats().connected);

    // The session stops answering (no FIN, no RST): only keepalives can tell.
    assert!(sshd.pause_sessions() > 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tunnel.stats().connected {
        assert!(tokio::time::Instant::now() < deadline, "the dead session was not noticed: {:?}", tunnel.stats());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The listener still serves new sessions: the next connection reconnects.
    assert_eq!(ping(tunnel.local_addr()).await.expect("ping after the keepalive timeout"), "+PONG");
    assert_eq!(tunnel.stats().reconnects, 1, "{:?}", tunnel.stats());
    sshd.resume_sessions();
    tunnel.close().await;
}

#[inlet_tests::test]
async fn large_values_cross_the_channel_window() {
    require_sshd_and_redis();
    let sshd = Sshd::start();
    let (tunnel, _) = open(spec(&sshd, key_auth(&sshd.rsa))).await;
    // 8 MiB: several times russh's 2 MiB channel window, in both directions.
    let value: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
    let key = format!("inlet:tunnel_lib:{}", std::process::id());
    let mut stream = TcpStream::connect(tunnel.local_addr()).await.expect("connect");
    let mut command = format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n", key.len(), value.len()).into_bytes();
    command.extend_from_slice(&value);
    command.extend_from_slice(format!("\r\n*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes());
    command.extend_from_slice(format!("*2\r\n$3\r\nDEL\r\n${}\r\n{key}\r\n", key.len()).as_bytes());
    stream.write_all(&command).await.expect("send");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.expect("SET reply");
    assert_eq!(line, "+OK\r\n");
    line.clear();
    reader.read_line(&mut line).await.expect("GET header");
    assert_eq!(line, format!("${}\r\n", value.len()));
    let mut got = vec![0u8; value.len() + 2];
    tokio::time::timeout(Duration::from_secs(30), tokio::io::AsyncReadExt::read_exact(&mut reader, &mut got))
        .await
        .expect("the value within 30 s")
        .expect("read the value");
    assert!(got[..value.len()] == value[..], "the value came back changed");
    line.clear();
    reader.read_line(&mut line).await.expect("DEL reply");
    assert_eq!(line, ":1\r\n");
    tunnel.close().await;
}

#[inlet_tests::test]
async fn changed_host_key_is_refused_on_reconnect() {
    require_sshd_and_redis();
    let mut sshd = Sshd::start();
    let mut spec = spec(&sshd, password(&sshd));
    // Even a key learned on first use is pinned for the tunnel's reconnects.
    spec.host_key = HostKeyCheck::TrustOnFirstUse;
    let (tunnel, _) = open(spec).await;
    let original = sshd.host_key_fingerprint().to_owned();
    assert_eq!(tunnel.host_key_fingerprint(), original);
    assert_eq!(ping(tunnel.local_addr()).await.expect("ping"), "+PONG");

    sshd.rotate_host_key();
    assert_ne!(sshd.host_key_fingerprint(), original);
    assert!(ping(tunnel.local_addr()).await.is_err(), "traffic must not flow to a bastion with another key");
    let failure = tunnel.check().await.expect_err("the new key is refused");
    match &failure.error {
        TunnelError::HostKeyMismatch { expected, presented } => {
            assert_eq!(expected, &original);
            assert_eq!(presented, sshd.host_key_fingerprint());
        }
        other => panic!("expected a host key mismatch, got {other:?}"),
    }
    assert_eq!(failure.steps.last().map(|step| step.name.as_str()), Some(STEP_CONNECT));
    assert_eq!(tunnel.stats().reconnects, 0);
    assert_eq!(sshd.log().matches("Accepted password").count(), 1, "no credentials went to the new key");
    tunnel.close().await;
}
