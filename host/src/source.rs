//! From a data source definition (type, config, secrets) to what the runtime
//! needs: validated config, the endpoint the egress policy allowed, the file
//! grant, and the config as the connector must see it (paths rewritten).
//!
//! It resolves names and checks files, but never runs plugin code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::model::{ErrorKind, Failure};
use crate::plugin::{Secrets, SourceType};
use crate::sandbox::egress::EgressError;
use crate::sandbox::file_kind::{self, FileKindError};
use crate::sandbox::file_pool::{self, FilePoolError};
use crate::sandbox::files::{self, FileGrantError, FilesPolicy};
use crate::sandbox::http::{self, HttpTargetError};
use crate::sandbox::{EgressPolicy, FurtherEndpoints, Grants, HttpGrant};

/// Where and how a connection may be opened.
#[derive(Debug)]
pub struct Prepared {
    /// The config the connector receives (file paths rewritten for the guest).
    pub config: Value,
    pub endpoint: Option<SocketAddr>,
    pub grants: Grants,
}

/// The sandbox settings that apply to every data source.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub egress: EgressPolicy,
    /// Which server paths file sources may read.
    pub files: FilesPolicy,
    /// Largest HTTP response body a connector may receive.
    pub http_max_response_bytes: u64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            egress: EgressPolicy::default(),
            files: FilesPolicy::default(),
            http_max_response_bytes: http::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The server a network type's config names: its host and port.
pub fn network_target(source_type: &SourceType, config: &Value) -> Result<(String, u16), Failure> {
    let Some(network) = &source_type.network else {
        return Err(Failure::new(ErrorKind::Config, "this type does not connect to a server", false));
    };
    let host = config.get(&network.host_field).and_then(Value::as_str).ok_or_else(|| {
        Failure::new(ErrorKind::Config, format!("`{}` must name the server", network.host_field), false)
    })?;
    let port = match config.get(&network.port_field) {
        None | Some(Value::Null) => network.default_port,
        Some(value) => value.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0).ok_or_else(|| {
            Failure::new(ErrorKind::Config, format!("`{}` must be a port number", network.port_field), false)
        })?,
    };
    Ok((host.to_owned(), port))
}

/// What the host resolved for a connection before the sandbox decides.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// The local end of the SSH tunnel the connection must take instead of
    /// the network.
    pub tunnel: Option<SocketAddr>,
    /// A stored file (`storage://…`) the host resolved within the data
    /// source's organization: granted as is, in its own folder.
    pub stored_file: Option<PathBuf>,
}

/// Validates and resolves one data source for a connect.
pub async fn prepare(
    source_type: &SourceType,
    config: &Value,
    secrets: &Secrets,
    sandbox: &SandboxSettings,
    resolve_timeout: Duration,
    route: &Route,
) -> Result<Prepared, Failure> {
    source_type.validate(config, secrets).map_err(|error| Failure::new(ErrorKind::Config, error.to_string(), false))?;
    let mut config = config.clone();
    let mut grants = Grants::default();
    let mut endpoint = None;
    if source_type.network.is_some() {
        let allowed = match route.tunnel {
            // Through a tunnel: the connector may reach its local end only;
            // the bastion connects to the server named in the config.
            Some(local) => vec![local],
            None => {
                let (host, port) = network_target(source_type, &config)?;
                grants.further = Some(FurtherEndpoints { egress: sandbox.egress, resolve_timeout });
                sandbox.egress.resolve(&host, port, resolve_timeout).await.map_err(egress_failure)?
            }
        };
        endpoint = allowed.first().copied();
        grants.tcp = allowed;
    }
    if let Some(spec) = &source_type.http {
        let url = http::target_url(spec, &config).map_err(http_failure)?;
        let origin = http::origin_of(&url, &spec.url_field).map_err(http_failure)?;
        let addrs = sandbox.egress.resolve(&origin.host, origin.port, resolve_timeout).await.map_err(egress_failure)?;
        grants.http = Some(HttpGrant {
            origin,
            addrs,
            connect_timeout: resolve_timeout,
            io_timeout: resolve_timeout,
            max_response_bytes: sandbox.http_max_response_bytes,
        });
    }
    if let Some(file) = &source_type.file {
        let path = config
            .get(&file.path_field)
            .and_then(Value::as_str)
            .ok_or_else(|| Failure::new(ErrorKind::Config, format!("`{}` must name a file", file.path_field), false))?;
        let (stored, path) = (route.stored_file.clone(), path.to_owned());
        let files_policy: FilesPolicy = sandbox.files.clone();
        // Blocking file work (canonicalize, stat, the scan for special
        // files) runs on the bounded file pool, under the connect deadline.
        let grant = file_pool::run(resolve_timeout, move || {
            let grant = match &stored {
                Some(stored) => files::grant_stored(stored).map_err(file_failure)?,
                None => files_policy.grant(&path).map_err(file_failure)?,
            };
            file_kind::check_grant(&grant).map_err(file_kind_failure)?;
            Ok::<_, Failure>(grant)
        })
        .await
        .map_err(file_pool_failure)??;
        config[&file.path_field] = Value::String(grant.guest_path.clone());
        grants.file = Some(grant);
    }
    Ok(Prepared { config, endpoint, grants })
}

fn egress_failure(error: EgressError) -> Failure {
    let (kind, retryable) = match &error {
        EgressError::Denied { .. } => (ErrorKind::Permission, false),
        EgressError::Resolve { .. } => (ErrorKind::Unreachable, true),
        EgressError::ResolveTimeout { .. } => (ErrorKind::Timeout, true),
    };
    Failure::new(kind, error.to_string(), retryable)
}

fn http_failure(error: HttpTargetError) -> Failure {
    Failure::new(ErrorKind::Config, error.to_string(), false)
}

pub fn file_failure(error: FileGrantError) -> Failure {
    let kind = match &error {
        FileGrantError::Empty => ErrorKind::Config,
        FileGrantError::NotFound(_) => ErrorKind::NotFound,
        FileGrantError::ServerPathsDisabled { .. }
        | FileGrantError::OutsideRoot { .. }
        | FileGrantError::Forbidden { .. }
        | FileGrantError::Unreadable { .. }
        | FileGrantError::Changed { .. } => ErrorKind::Permission,
    };
    Failure::new(kind, error.to_string(), false)
}

fn file_kind_failure(error: FileKindError) -> Failure {
    Failure::new(ErrorKind::Permission, error.to_string(), false)
}

fn file_pool_failure(error: FilePoolError) -> Failure {
    let retryable = matches!(error, FilePoolError::Timeout { .. });
    Failure::new(ErrorKind::Timeout, error.to_string(), retryable)
}
