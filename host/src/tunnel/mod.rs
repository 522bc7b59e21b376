//! SSH tunnels: the host (never a connector) reaches a database through an SSH bastion.
//!
//! A [`Tunnel`] owns one SSH session (russh) to the bastion and a local listener on
//! `127.0.0.1:0`. Every TCP connection accepted there is forwarded over its own
//! `direct-tcpip` channel to the target as the bastion sees it; all channels share the one
//! session. Keepalives detect a dead bastion; when the session is gone, the next accepted
//! connection (or [`Tunnel::check`]) opens a new one with the same settings, pinned to the
//! host key seen when the tunnel was opened.
//!
//! [`Tunnels`] keeps one tunnel per data source, replaced when its settings change.
//!
//! What this module must never do: accept a host key other than the pinned one, log or
//! print a secret (passwords, private keys, passphrases), or listen anywhere but loopback.

mod error;
mod keys;
mod registry;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::ssh_key::HashAlg;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, MethodKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroize;

pub use error::{TunnelError, TunnelFailure};
pub use keys::{decode_private_key, fingerprint_of_blob, normalize_fingerprint};
pub use registry::{Tunnels, TunnelsStats};

/// The name of the step that opens the TCP connection, exchanges keys and checks the host key.
pub const STEP_CONNECT: &str = "ssh connect";
/// The name of the step that authenticates (password or private key).
pub const STEP_AUTHENTICATE: &str = "ssh authenticate";
/// The name of the step that opens (and closes) a probe channel to the target.
pub const STEP_OPEN_CHANNEL: &str = "ssh open channel";

/// A tracing filter directive that logging setup should always add (after `RUST_LOG`):
/// russh logs decrypted packets at trace level, which would put passwords, keys being
/// offered and the tunnelled database traffic into the log.
pub const RUSSH_LOG_DIRECTIVE: &str = "russh=warn";

/// How many keepalives may go unanswered before the session is considered dead.
const KEEPALIVE_MAX: usize = 3;

/// Where and how to reach the bastion.
#[derive(Clone)]
pub struct TunnelSpec {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: TunnelAuth,
    pub host_key: HostKeyCheck,
    /// Bounds each stage: TCP connect plus handshake, authentication, opening a channel.
    pub connect_timeout: Duration,
    /// Interval of SSH keepalives while idle; zero disables them.
    pub keepalive: Duration,
}

impl TunnelSpec {
    /// A digest of everything that defines the tunnel (bastion, user, credentials, host key
    /// check, timeouts, target), for [`Tunnels::get_or_open`]: when it changes, the tunnel is
    /// replaced. It is a SHA-256 over length-prefixed fields; the secrets enter it only hashed.
    pub fn fingerprint(&self, target_host: &str, target_port: u16) -> [u8; 32] {
        fn field(hasher: &mut Sha256, name: &str, value: &[u8]) {
            hasher.update((name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value);
        }
        let mut hasher = Sha256::new();
        field(&mut hasher, "host", self.host.as_bytes());
        field(&mut hasher, "port", &self.port.to_le_bytes());
        field(&mut hasher, "username", self.username.as_bytes());
        match &self.auth {
            TunnelAuth::Password(password) => {
                field(&mut hasher, "password", password.as_bytes());
            }
            TunnelAuth::PrivateKey { openssh_pem, passphrase } => {
                field(&mut hasher, "private_key", openssh_pem.as_bytes());
                field(&mut hasher, "passphrase", passphrase.as_deref().unwrap_or("").as_bytes());
            }
        }
        match &self.host_key {
            HostKeyCheck::Pinned(fingerprint) => field(&mut hasher, "pinned", fingerprint.trim().as_bytes()),
            HostKeyCheck::TrustOnFirstUse => field(&mut hasher, "tofu", b""),
        }
        field(&mut hasher, "connect_timeout_ms", &(self.connect_timeout.as_millis() as u64).to_le_bytes());
        field(&mut hasher, "keepalive_ms", &(self.keepalive.as_millis() as u64).to_le_bytes());
        field(&mut hasher, "target_host", target_host.as_bytes());
        field(&mut hasher, "target_port", &target_port.to_le_bytes());
        hasher.finalize().into()
    }
}

impl fmt::Debug for TunnelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelSpec")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("auth", &self.auth)
            .field("host_key", &self.host_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive", &self.keepalive)
            .finish()
    }
}

/// How to authenticate to the bastion. The secrets are wiped from memory when dropped and
/// never shown by `Debug`.
#[derive(Clone)]
pub enum TunnelAuth {
    Password(String),
    /// An OpenSSH private key (ed25519, ECDSA or RSA; PEM and PKCS#8 are read too), encrypted
    /// or not.
    PrivateKey {
        openssh_pem: String,
        passphrase: Option<String>,
    },
}

impl TunnelAuth {
    /// `password` or `private_key`.
    pub fn method(&self) -> &'static str {
        match self {
            TunnelAuth::Password(_) => "password",
            TunnelAuth::PrivateKey { .. } => "private_key",
        }
    }
}

impl Drop for TunnelAuth {
    fn drop(&mut self) {
        match self {
            TunnelAuth::Password(password) => password.zeroize(),
            TunnelAuth::PrivateKey { openssh_pem, passphrase } => {
                openssh_pem.zeroize();
                passphrase.zeroize();
            }
        }
    }
}

impl fmt::Debug for TunnelAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelAuth::Password(_) => f.write_str("Password(<redacted>)"),
            TunnelAuth::PrivateKey { passphrase, .. } => f
                .debug_struct("PrivateKey")
                .field("openssh_pem", &"<redacted>")
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// How the bastion's host key is verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// Only this key is accepted: `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it.
    Pinned(String),
    /// Any key is accepted the first time and reported by [`Tunnel::host_key_fingerprint`]
    /// (for the caller to store and pin); reconnects of the same tunnel accept only that key.
    TrustOnFirstUse,
}

/// One stage of opening or checking a tunnel, for test reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStep {
    pub name: String,
    pub passed: bool,
    pub duration_us: u64,
    pub message: Option<String>,
}

/// Counters of one tunnel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStats {
    /// Forwarded connections open now.
    pub channels_open: u64,
    /// Forwarded connections since the tunnel opened (probe channels not counted).
    pub channels_total: u64,
    /// New SSH sessions opened after the first one.
    pub reconnects: u64,
    /// Failed reconnects, forwarded connections that could not be opened, and failed checks.
    pub failures: u64,
    /// Whether an SSH session is up right now.
    pub connected: bool,
}

/// The steps run so far.
#[derive(Default)]
struct Steps(Vec<TunnelStep>);

impl Steps {
    fn pass(&mut self, name: &str, started: Instant, message: Option<String>) {
        self.0.push(TunnelStep { name: name.into(), passed: true, duration_us: micros(started), message });
    }

    fn fail(&mut self, name: &str, started: Instant, error: TunnelError) -> TunnelError {
        self.0.push(TunnelStep {
            name: name.into(),
            passed: false,
            duration_us: micros(started),
            message: Some(error.to_string()),
        });
        error
    }

    fn failure(self, error: TunnelError) -> TunnelFailure {
        TunnelFailure { error, steps: self.0 }
    }
}

fn micros(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The russh client handler: checks the host key and remembers the one presented.
struct Client {
    expected: Option<String>,
    presented: Arc<StdMutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let data = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
            PublicKeyOrCertificate::Certificate(certificate) => certificate.public_key(),
        };
        let presented = keys::fingerprint_of(data);
        let accepted = self.expected.as_deref().is_none_or(|expected| expected == presented);
        if let Ok(mut slot) = self.presented.lock() {
            *slot = Some(presented);
        }
        Ok(accepted)
    }
}

type Session = client::Handle<Client>;

/// A freshly authenticated session.
struct Established {
    session: Session,
    host_key: String,
    key: Option<Arc<PrivateKey>>,
}

/// Opens and authenticates a session, recording the `ssh connect` and `ssh authenticate`
/// steps. `key` is the already decoded private key, if any (decoded here otherwise).
async fn establish(
    spec: &TunnelSpec,
    expected: Option<&str>,
    key: Option<Arc<PrivateKey>>,
    steps: &mut Steps,
) -> Result<Established, TunnelError> {
    let started = Instant::now();
    let (mut session, host_key) = match connect(spec, expected).await {
        Ok(connected) => connected,
        Err(error) => return Err(steps.fail(STEP_CONNECT, started, error)),
    };
    steps.pass(STEP_CONNECT, started, Some(format!("connected to {}:{}, host key {host_key}", spec.host, spec.port)));

    let started = Instant::now();
    let key = match (&spec.auth, key) {
        (TunnelAuth::PrivateKey { .. }, Some(key)) => Some(key),
        (TunnelAuth::PrivateKey { openssh_pem, passphrase }, None) => {
            match keys::decode_private_key(openssh_pem, passphrase.as_deref()) {
                Ok(key) => Some(Arc::new(key)),
                Err(error) => return Err(steps.fail(STEP_AUTHENTICATE, started, error)),
            }
        }
        (TunnelAuth::Password(_), _) => None,
    };
    let how = match tokio::time::timeout(spec.connect_timeout, authenticate(&mut session, spec, key.as_ref())).await {
        Ok(Ok(how)) => how,
        Ok(Err(error)) => return Err(steps.fail(STEP_AUTHENTICATE, started, error)),
        Err(_) => {
            let error = TunnelError::Timeout(format!(
                "the bastion did not complete authentication within {:?}",
                spec.connect_timeout
            ));
            return Err(steps.fail(STEP_AUTHENTICATE, started, error));
        }
    };
    steps.pass(STEP_AUTHENTICATE, started, Some(format!("authenticated as {:?} by {how}", spec.username)));
    Ok(Established { session, host_key, key })
}

/// TCP connection, key exchange and host key check.
async fn connect(spec: &TunnelSpec, expected: Option<&str>) -> Result<(Session, String), TunnelError> {
    let address = format!("{}:{}", spec.host, spec.port);
    let tcp =
        match tokio::time::timeout(spec.connect_timeout, TcpStream::connect((spec.host.as_str(), spec.port))).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(error)) => return Err(TunnelError::Unreachable(format!("{address}: {error}"))),
            Err(_) => {
                return Err(TunnelError::Timeout(format!(
                    "no TCP connection to {address} within {:?}",
                    spec.connect_timeout
                )));
            }
        };
    let _ = tcp.set_nodelay(true);
    let config = client::Config {
        keepalive_interval: (!spec.keepalive.is_zero()).then_some(spec.keepalive),
        keepalive_max: KEEPALIVE_MAX,
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    };
    let presented = Arc::new(StdMutex::new(None));
    let handler = Client { expected: expected.map(str::to_owned), presented: presented.clone() };
    let result =
        tokio::time::timeout(spec.connect_timeout, client::connect_stream(Arc::new(config), tcp, handler)).await;
    let presented = presented.lock().ok().and_then(|slot| slot.clone());
    if let (Some(expected), Some(presented)) = (expected, presented.as_deref())
        && expected != presented
    {
        return Err(TunnelError::HostKeyMismatch { expected: expected.to_owned(), presented: presented.to_owned() });
    }
    match result {
        Ok(Ok(session)) => match presented {
            Some(host_key) => Ok((session, host_key)),
            None => Err(TunnelError::Protocol(format!("{address} presented no host key"))),
        },
        Ok(Err(error)) => Err(error::from_russh(&error, &format!("SSH handshake with {address}"))),
        Err(_) => Err(TunnelError::Timeout(format!(
            "the SSH handshake with {address} did not finish within {:?}",
            spec.connect_timeout
        ))),
    }
}

/// Authenticates; answers how (for the step message).
async fn authenticate(
    session: &mut Session,
    spec: &TunnelSpec,
    key: Option<&Arc<PrivateKey>>,
) -> Result<String, TunnelError> {
    let user = spec.username.as_str();
    match (&spec.auth, key) {
        (TunnelAuth::Password(password), _) => {
            let result = session
                .authenticate_password(user, password.as_str())
                .await
                .map_err(|error| error::from_russh(&error, "password authentication"))?;
            let remaining = match result {
                AuthResult::Success => return Ok("password".into()),
                AuthResult::Failure { remaining_methods, .. } => remaining_methods,
            };
            // Servers that check passwords through PAM offer keyboard-interactive instead.
            if remaining.contains(&MethodKind::KeyboardInteractive)
                && keyboard_interactive(session, user, password).await?
            {
                return Ok("password (keyboard-interactive)".into());
            }
            Err(TunnelError::Auth(format!(
                "the bastion refused the password for user {user:?}{}",
                methods_hint(&remaining)
            )))
        }
        (TunnelAuth::PrivateKey { .. }, Some(key)) => {
            let hash = if key.algorithm().is_rsa() {
                match session.best_supported_rsa_hash().await {
                    Ok(Some(Some(hash))) => Some(hash),
                    _ => Some(HashAlg::Sha256),
                }
            } else {
                None
            };
            let key = PrivateKeyWithHashAlg::new(key.clone(), hash);
            let algorithm = key.algorithm().as_str().to_owned();
            let result = session
                .authenticate_publickey(user, key)
                .await
                .map_err(|error| error::from_russh(&error, "public key authentication"))?;
            match result {
                AuthResult::Success => Ok(format!("{algorithm} key")),
                AuthResult::Failure { remaining_methods, partial_success: true } => Err(TunnelError::Auth(format!(
                    "the bastion accepted the {algorithm} key for user {user:?} but demands more{}",
                    methods_hint(&remaining_methods)
                ))),
                AuthResult::Failure { remaining_methods, .. } => Err(TunnelError::Auth(format!(
                    "the bastion refused the {algorithm} key for user {user:?}{}",
                    methods_hint(&remaining_methods)
                ))),
            }
        }
        (TunnelAuth::PrivateKey { .. }, None) => Err(TunnelError::Key("the private key was not decoded".into())),
    }
}

/// Keyboard-interactive with the password as the answer to hidden prompts. True on success.
async fn keyboard_interactive(session: &mut Session, user: &str, password: &str) -> Result<bool, TunnelError> {
    let map = |error: russh::Error| error::from_russh(&error, "keyboard-interactive authentication");
    let mut response = session.authenticate_keyboard_interactive_start(user, None::<String>).await.map_err(map)?;
    for _ in 0..4 {
        match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|prompt| if prompt.echo { String::new() } else { password.to_owned() })
                    .collect();
                response = session.authenticate_keyboard_interactive_respond(answers).await.map_err(map)?;
            }
        }
    }
    Ok(false)
}

fn methods_hint(methods: &[MethodKind]) -> String {
    if methods.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = methods.iter().map(<&str>::from).collect();
    format!(" (it accepts: {})", names.join(", "))
}

/// Why a channel could not be opened.
enum ChannelError {
    Timeout,
    Ssh(russh::Error),
}

async fn direct_tcpip(
    session: &Session,
    target_host: &str,
    target_port: u16,
    origin: SocketAddr,
    limit: Duration,
) -> Result<Channel<client::Msg>, ChannelError> {
    let open = session.channel_open_direct_tcpip(
        target_host,
        u32::from(target_port),
        origin.ip().to_string(),
        u32::from(origin.port()),
    );
    match tokio::time::timeout(limit, open).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(error)) => Err(ChannelError::Ssh(error)),
        Err(_) => Err(ChannelError::Timeout),
    }
}

fn channel_error(error: ChannelError, target_host: &str, target_port: u16, limit: Duration) -> TunnelError {
    let stage = format!("channel to {target_host}:{target_port}");
    match error {
        ChannelError::Timeout => {
            TunnelError::Timeout(format!("{stage}: the bastion did not open the channel within {limit:?}"))
        }
        ChannelError::Ssh(error) => error::from_russh(&error, &stage),
    }
}

/// One SSH session to a bastion and the local listener forwarding to one target.
pub struct Tunnel {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    host_key: String,
}

struct Inner {
    /// The spec, with the host key pinned to the one seen at open.
    spec: TunnelSpec,
    expected: String,
    key: Option<Arc<PrivateKey>>,
    target_host: String,
    target_port: u16,
    session: Mutex<Option<Arc<Session>>>,
    shutdown: CancellationToken,
    closed: AtomicBool,
    channels_open: AtomicU64,
    channels_total: AtomicU64,
    reconnects: AtomicU64,
    failures: AtomicU64,
}

impl Tunnel {
    /// Connects to the bastion, authenticates, opens and closes a probe channel to the
    /// target, then listens on `127.0.0.1:0`. Answers the tunnel and the three steps
    /// (`ssh connect`, `ssh authenticate`, `ssh open channel`); on failure, the error and
    /// the steps run so far, the last one failed.
    pub async fn open(
        spec: TunnelSpec,
        target_host: String,
        target_port: u16,
    ) -> Result<(Arc<Tunnel>, Vec<TunnelStep>), TunnelFailure> {
        let mut steps = Steps::default();
        let started = Instant::now();
        let expected = match validate(&spec, &target_host, target_port) {
            Ok(expected) => expected,
            Err(error) => {
                let error = steps.fail(STEP_CONNECT, started, error);
                return Err(steps.failure(error));
            }
        };
        let established = match establish(&spec, expected.as_deref(), None, &mut steps).await {
            Ok(established) => established,
            Err(error) => return Err(steps.failure(error)),
        };
        let started = Instant::now();
        if let Err(error) = probe(&established.session, &target_host, target_port, spec.connect_timeout).await {
            let error = steps.fail(STEP_OPEN_CHANNEL, started, error);
            disconnect(&established.session).await;
            return Err(steps.failure(error));
        }
        steps.pass(STEP_OPEN_CHANNEL, started, Some(format!("the bastion reached {target_host}:{target_port}")));

        let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.and_then(|listener| {
            let address = listener.local_addr()?;
            Ok((listener, address))
        }) {
            Ok(bound) => bound,
            Err(error) => {
                disconnect(&established.session).await;
                return Err(steps.failure(TunnelError::Local(format!("cannot listen on 127.0.0.1: {error}"))));
            }
        };
        let (listener, local_addr) = listener;
        let Established { session, host_key, key } = established;
        let mut spec = spec;
        spec.host_key = HostKeyCheck::Pinned(host_key.clone());
        tracing::info!(
            bastion = %format!("{}:{}", spec.host, spec.port),
            user = %spec.username,
            auth = spec.auth.method(),
            target = %format!("{target_host}:{target_port}"),
            local = %local_addr,
            host_key = %host_key,
            "SSH tunnel open"
        );
        let inner = Arc::new(Inner {
            spec,
            expected: host_key.clone(),
            key,
            target_host,
            target_port,
            session: Mutex::new(Some(Arc::new(session))),
            shutdown: CancellationToken::new(),
            closed: AtomicBool::new(false),
            channels_open: AtomicU64::new(0),
            channels_total: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        tokio::spawn(accept_loop(inner.clone(), listener));
        Ok((Arc::new(Tunnel { inner, local_addr, host_key }), steps.0))
    }

    /// The local end: connect here to reach the target.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The fingerprint (`SHA256:…`) of the host key the bastion presented at open.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.host_key
    }

    /// The target as the bastion sees it.
    pub fn target(&self) -> (&str, u16) {
        (&self.inner.target_host, self.inner.target_port)
    }

    /// The spec the tunnel runs with (its host key check pinned to the key seen at open).
    pub fn spec(&self) -> &TunnelSpec {
        &self.inner.spec
    }

    pub fn stats(&self) -> TunnelStats {
        let inner = &self.inner;
        let connected = match inner.session.try_lock() {
            Ok(slot) => slot.as_ref().is_some_and(|session| !session.is_closed()),
            // Locked: a reconnect is under way.
            Err(_) => false,
        };
        TunnelStats {
            channels_open: inner.channels_open.load(Ordering::Relaxed),
            channels_total: inner.channels_total.load(Ordering::Relaxed),
            reconnects: inner.reconnects.load(Ordering::Relaxed),
            failures: inner.failures.load(Ordering::Relaxed),
            connected,
        }
    }

    /// Whether [`close`](Self::close) was called (or the tunnel dropped).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Checks the tunnel now, as a test or health check would: reuses the session when it is
    /// up (the `ssh connect` and `ssh authenticate` steps then pass at once and say so) or
    /// opens a new one, then opens and closes a probe channel to the target.
    pub async fn check(&self) -> Result<Vec<TunnelStep>, TunnelFailure> {
        let inner = &self.inner;
        let mut steps = Steps::default();
        if self.is_closed() {
            let error = steps.fail(STEP_CONNECT, Instant::now(), TunnelError::Local("the tunnel is closed".into()));
            return Err(steps.failure(error));
        }
        let session = match inner.session_with(&mut steps).await {
            Ok(session) => session,
            Err(error) => {
                inner.failures.fetch_add(1, Ordering::Relaxed);
                return Err(steps.failure(error));
            }
        };
        let started = Instant::now();
        let limit = inner.spec.connect_timeout;
        let origin = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        match direct_tcpip(&session, &inner.target_host, inner.target_port, origin, limit).await {
            Ok(channel) => {
                let _ = channel.close().await;
                let message = format!("the bastion reached {}:{}", inner.target_host, inner.target_port);
                steps.pass(STEP_OPEN_CHANNEL, started, Some(message));
                Ok(steps.0)
            }
            Err(error) => {
                if let ChannelError::Ssh(ssh) = &error
                    && error::session_gone(ssh)
                {
                    inner.forget(&session).await;
                }
                inner.failures.fetch_add(1, Ordering::Relaxed);
                let error = channel_error(error, &inner.target_host, inner.target_port, limit);
                let error = steps.fail(STEP_OPEN_CHANNEL, started, error);
                Err(steps.failure(error))
            }
        }
    }

    /// Stops listening, ends the forwarded connections and disconnects from the bastion.
    pub async fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.shutdown.cancel();
        let session = self.inner.session.lock().await.take();
        if let Some(session) = session {
            disconnect(&session).await;
        }
        tracing::info!(local = %self.local_addr, "SSH tunnel closed");
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // The accept loop sees this, stops listening and disconnects the session.
        self.inner.closed.store(true, Ordering::Release);
        self.inner.shutdown.cancel();
    }
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("bastion", &format_args!("{}:{}", self.inner.spec.host, self.inner.spec.port))
            .field("target", &format_args!("{}:{}", self.inner.target_host, self.inner.target_port))
            .field("local_addr", &self.local_addr)
            .field("host_key", &self.host_key)
            .finish()
    }
}

/// Checks the spec before connecting; answers the normalised pinned fingerprint.
fn validate(spec: &TunnelSpec, target_host: &str, target_port: u16) -> Result<Option<String>, TunnelError> {
    if spec.host.trim().is_empty() {
        return Err(TunnelError::Config("the SSH host is empty".into()));
    }
    if spec.port == 0 {
        return Err(TunnelError::Config("the SSH port is 0".into()));
    }
    if spec.username.is_empty() {
        return Err(TunnelError::Config("the SSH username is empty".into()));
    }
    if target_host.trim().is_empty() || target_port == 0 {
        return Err(TunnelError::Config(format!("the tunnel target {target_host:?}:{target_port} is not valid")));
    }
    if spec.connect_timeout.is_zero() {
        return Err(TunnelError::Config("the SSH connect timeout is zero".into()));
    }
    match &spec.host_key {
        HostKeyCheck::Pinned(pinned) => keys::normalize_fingerprint(pinned).map(Some),
        HostKeyCheck::TrustOnFirstUse => Ok(None),
    }
}

/// Opens and closes a channel to the target.
async fn probe(session: &Session, target_host: &str, target_port: u16, limit: Duration) -> Result<(), TunnelError> {
    let origin = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    match direct_tcpip(session, target_host, target_port, origin, limit).await {
        Ok(channel) => {
            let _ = channel.close().await;
            Ok(())
        }
        Err(error) => Err(channel_error(error, target_host, target_port, limit)),
    }
}

async fn disconnect(session: &Session) {
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        session.disconnect(russh::Disconnect::ByApplication, "tunnel closed", "en"),
    )
    .await;
}

impl Inner {
    /// The live session, or a new one (recording its steps). For a live one, the connect
    /// and authenticate steps pass at once.
    async fn session_with(&self, steps: &mut Steps) -> Result<Arc<Session>, TunnelError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref()
            && !session.is_closed()
        {
            let now = Instant::now();
            steps.pass(STEP_CONNECT, now, Some("the SSH session is open".into()));
            steps.pass(STEP_AUTHENTICATE, now, Some("the SSH session is open".into()));
            return Ok(session.clone());
        }
        if self.shutdown.is_cancelled() {
            let error = steps.fail(STEP_CONNECT, Instant::now(), TunnelError::Local("the tunnel is closed".into()));
            return Err(error);
        }
        *slot = None;
        match establish(&self.spec, Some(&self.expected), self.key.clone(), steps).await {
            Ok(established) => {
                self.reconnects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    bastion = %format!("{}:{}", self.spec.host, self.spec.port),
                    target = %format!("{}:{}", self.target_host, self.target_port),
                    "SSH tunnel reconnected"
                );
                let session = Arc::new(established.session);
                *slot = Some(session.clone());
                Ok(session)
            }
            Err(error) => {
                tracing::warn!(
                    bastion = %format!("{}:{}", self.spec.host, self.spec.port),
                    kind = error.kind(),
                    error = %error,
                    "SSH tunnel could not reconnect"
                );
                Err(error)
            }
        }
    }

    /// Drops the session if it is still the current one (it was found dead).
    async fn forget(&self, session: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|current| Arc::ptr_eq(current, session)) {
            *slot = None;
        }
    }

    /// A channel for one forwarded connection; a dead session is replaced once.
    async fn channel_for(&self, peer: SocketAddr) -> Result<Channel<client::Msg>, TunnelError> {
        let limit = self.spec.connect_timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let session = self.session_with(&mut Steps::default()).await?;
            match direct_tcpip(&session, &self.target_host, self.target_port, peer, limit).await {
                Ok(channel) => return Ok(channel),
                Err(ChannelError::Ssh(error)) if attempt == 1 && error::session_gone(&error) => {
                    self.forget(&session).await;
                }
                Err(error) => return Err(channel_error(error, &self.target_host, self.target_port, limit)),
            }
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    tokio::spawn(forward(inner.clone(), socket, peer));
                }
                Err(error) => {
                    tracing::warn!(error = %error, "SSH tunnel: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    inner.closed.store(true, Ordering::Release);
    let session = inner.session.lock().await.take();
    if let Some(session) = session {
        disconnect(&session).await;
    }
}

/// Counts a forwarded connection while it lives.
struct OpenChannel<'a>(&'a Inner);

impl<'a> OpenChannel<'a> {
    fn new(inner: &'a Inner) -> Self {
        inner.channels_open.fetch_add(1, Ordering::Relaxed);
        inner.channels_total.fetch_add(1, Ordering::Relaxed);
        OpenChannel(inner)
    }
}

impl Drop for OpenChannel<'_> {
    fn drop(&mut self) {
        self.0.channels_open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn forward(inner: Arc<Inner>, mut socket: TcpStream, peer: SocketAddr) {
    let _ = socket.set_nodelay(true);
    let channel = tokio::select! {
        _ = inner.shutdown.cancelled() => return,
        channel = inner.channel_for(peer) => channel,
    };
    let channel = match channel {
        Ok(channel) => channel,
        Err(error) => {
            inner.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                bastion = %format!("{}:{}", inner.spec.host, inner.spec.port),
                target = %format!("{}:{}", inner.target_host, inner.target_port),
                kind = error.kind(),
                error = %error,
                "SSH tunnel could not forward a connection"
            );
            return;
        }
    };
    let _open = OpenChannel::new(&inner);
    let mut stream = channel.into_stream();
    tokio::select! {
        _ = inner.shutdown.cancelled() => {}
        copied = tokio::io::copy_bidirectional(&mut socket, &mut stream) => {
            if let Err(error) = copied {
                tracing::debug!(error = %error, "SSH tunnel: forwarded connection ended with an error");
            }
        }
    }
}

#[cfg(test)]
mod tests;
