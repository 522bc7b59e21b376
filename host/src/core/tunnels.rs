//! A data source's SSH tunnel, from its stored settings and SSH credentials:
//! the host opens it (never the connector), one per data source shared by
//! its pool, and the connector reaches only the tunnel's local end.
//!
//! The bastion's address is resolved here under the egress policy, and the
//! tunnel connects to that address, so a DNS answer cannot move it later.
//! With trust on first use, the key seen first is stored and pinned.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::App;
use super::domain::{ConnectionSettings, SshAuth, SshTunnel};
use super::error::{Error, Result};
use crate::db::DataSourceRow;
use crate::model::{CheckStep, ErrorKind, Failure};
use crate::plugin::Secrets;
use crate::source::network_target;
use crate::tunnel::{HostKeyCheck, TunnelAuth, TunnelFailure, TunnelSpec, TunnelStep};

/// SSH keepalive while a tunnel is idle: a dead bastion is noticed within
/// a few of these.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// The tunnel settings of a data source when they are enabled.
pub fn enabled_tunnel(row: &DataSourceRow) -> Result<Option<SshTunnel>> {
    let Some(stored) = row.ssh_tunnel.as_deref() else { return Ok(None) };
    let tunnel: SshTunnel =
        serde_json::from_str(stored).map_err(|e| Error::internal("stored tunnel settings are not valid", e))?;
    Ok(tunnel.enabled.then_some(tunnel))
}

impl App {
    /// Opens (or checks) the data source's tunnel. Answers the local address
    /// to connect to and the SSH steps, or a failure carrying them.
    pub(super) async fn tunnel_for(
        &self,
        row: &DataSourceRow,
        tunnel: &SshTunnel,
        config: &Value,
        ssh: &Secrets,
        settings: &ConnectionSettings,
    ) -> Result<(SocketAddr, Vec<CheckStep>), Failure> {
        let connect_timeout = Duration::from_secs(u64::from(settings.connect_timeout_s));
        let found = self.connectors().source_type(&row.source_type).ok_or_else(|| {
            Failure::new(ErrorKind::Config, format!("no enabled plugin provides type `{}`", row.source_type), false)
        })?;
        let (target_host, target_port) = network_target(found.spec(), config)?;
        let bastion =
            self.connectors().sandbox().egress.resolve(&tunnel.host, tunnel.port, connect_timeout).await.map_err(
                |error| {
                    let kind = match error {
                        crate::sandbox::EgressError::Denied { .. } => ErrorKind::Permission,
                        crate::sandbox::EgressError::ResolveTimeout { .. } => ErrorKind::Timeout,
                        crate::sandbox::EgressError::Resolve { .. } => ErrorKind::Unreachable,
                    };
                    Failure::new(kind, format!("SSH bastion: {error}"), kind != ErrorKind::Permission)
                },
            )?;
        let bastion = bastion.first().copied().ok_or_else(|| {
            Failure::new(ErrorKind::Unreachable, format!("SSH bastion `{}` has no address", tunnel.host), true)
        })?;
        let spec = TunnelSpec {
            host: bastion.ip().to_string(),
            port: bastion.port(),
            username: tunnel.username.clone(),
            auth: auth_of(tunnel.auth, ssh)?,
            host_key: match &tunnel.host_key_fingerprint {
                Some(fingerprint) => HostKeyCheck::Pinned(fingerprint.clone()),
                None => HostKeyCheck::TrustOnFirstUse,
            },
            connect_timeout,
            keepalive: KEEPALIVE,
        };
        let fingerprint = spec.fingerprint(&target_host, target_port);
        let (opened, steps) = self
            .tunnels()
            .get_or_open(&row.id, fingerprint, spec, target_host, target_port)
            .await
            .map_err(tunnel_failure)?;
        if tunnel.host_key_fingerprint.is_none() {
            self.pin_learned_host_key(row, tunnel, opened.host_key_fingerprint()).await;
        }
        Ok((opened.local_addr(), steps.into_iter().map(check_step).collect()))
    }

    /// Trust on first use: stores the key seen so that it is pinned from now on.
    async fn pin_learned_host_key(&self, row: &DataSourceRow, tunnel: &SshTunnel, presented: &str) {
        let mut pinned = tunnel.clone();
        pinned.host_key_fingerprint = Some(presented.to_owned());
        let (Some(before), Ok(after)) = (row.ssh_tunnel.as_deref(), serde_json::to_string(&pinned)) else { return };
        match self.db().replace_tunnel(&row.organization_id, &row.id, before, &after).await {
            Ok(true) => tracing::warn!(
                data_source = %row.id,
                host_key = presented,
                "SSH host key trusted on first use and pinned"
            ),
            // Someone changed the tunnel meanwhile: their settings win.
            Ok(false) => {}
            Err(error) => tracing::warn!(data_source = %row.id, %error, "cannot store the learned SSH host key"),
        }
    }
}

fn auth_of(auth: SshAuth, ssh: &Secrets) -> Result<TunnelAuth, Failure> {
    let missing =
        |field: &str| Failure::new(ErrorKind::Config, format!("the SSH tunnel needs the credential `{field}`"), false);
    Ok(match auth {
        SshAuth::Password => {
            TunnelAuth::Password(ssh.get("ssh_password").ok_or_else(|| missing("ssh_password"))?.into())
        }
        SshAuth::PrivateKey => TunnelAuth::PrivateKey {
            openssh_pem: ssh.get("ssh_private_key").ok_or_else(|| missing("ssh_private_key"))?.into(),
            passphrase: ssh.get("ssh_private_key_passphrase").map(str::to_owned),
        },
    })
}

fn check_step(step: TunnelStep) -> CheckStep {
    CheckStep { name: step.name, passed: step.passed, duration_us: step.duration_us, message: step.message }
}

/// A tunnel that failed, as a connection failure: the kind its error maps
/// to, a message that names SSH, and the SSH steps that ran.
fn tunnel_failure(failure: TunnelFailure) -> Failure {
    let kind = match failure.kind() {
        "unreachable" => ErrorKind::Unreachable,
        "timeout" => ErrorKind::Timeout,
        "auth" => ErrorKind::Auth,
        "config" => ErrorKind::Config,
        "permission" => ErrorKind::Permission,
        "protocol" => ErrorKind::Protocol,
        _ => ErrorKind::Internal,
    };
    let mut result = Failure::new(kind, format!("SSH tunnel: {failure}"), failure.error.retryable());
    result.steps = failure.steps.into_iter().map(check_step).collect();
    result
}
