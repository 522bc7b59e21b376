//! Connector operations on a data source's pooled connections: borrow one
//! (opening it with the stored definition when none is pooled), run the
//! operation, give it back or close it.
//!
//! A pooled connection can have died quietly (the server restarted, a
//! firewall dropped it). So when an operation fails on a reused connection,
//! the pool's other idle connections are dropped too and the operation runs
//! once more on a new connection, whose result is the one reported.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::App;
use super::domain::ConnectionSettings;
use super::error::{Error, Result};
use crate::catalog_store::PageSender;
use crate::connectors::{TestOutcome, Timeouts, discover_pages, run_checks};
use crate::db::{DataSourceRow, StoredFileRow};
use crate::model::{CheckStep, DiscoverRequest, ErrorKind, Failure};
use crate::plugin::{SSH_SECRET_FIELDS, Secrets};
use crate::pool::{Fingerprint, Lease, PoolSettings, Want};
use crate::source::Route;
use crate::vault::{self, SecretAad};

/// One operation on a lent connection (boxed: the future borrows the lease,
/// and must stay `Send` for the spawned tasks that run it).
type Operation<'a, T> = Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'a>>;

pub fn timeouts(settings: &ConnectionSettings) -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(u64::from(settings.connect_timeout_s)),
        query: Duration::from_secs(u64::from(settings.query_timeout_s)),
    }
}

fn pool_settings(settings: &ConnectionSettings) -> PoolSettings {
    PoolSettings {
        max_size: settings.pool_size,
        idle_timeout: Duration::from_secs(u64::from(settings.idle_timeout_s)),
        max_lifetime: Duration::from_secs(u64::from(settings.max_lifetime_s)),
        wait_timeout: Duration::from_secs(u64::from(settings.connect_timeout_s)),
    }
}

impl App {
    /// Runs the connector's checks on a connection of the data source.
    pub(super) async fn test_connection(&self, row: &DataSourceRow, want: Want) -> Result<TestOutcome> {
        let started = Instant::now();
        let result = self
            .on_connection(row, want, |lease| {
                Box::pin(async move {
                    let steps = if lease.is_reused() {
                        vec![reused_step(lease.age())]
                    } else {
                        lease.session().connect_steps.clone()
                    };
                    run_checks(lease.session(), steps).await
                })
            })
            .await?;
        Ok(TestOutcome::new(started, result))
    }

    /// Reads the data source's catalog on one of its connections, handing
    /// each page to `sink` as it arrives (a retry starts the sink over).
    pub(super) async fn discover_into(
        &self,
        row: &DataSourceRow,
        request: DiscoverRequest,
        sink: PageSender,
    ) -> Result<Result<u32, Failure>> {
        self.on_connection(row, Want::Any, |lease| {
            let (mut sink, request) = (sink.clone(), request.clone());
            Box::pin(async move {
                sink.restart().await;
                discover_pages(lease.session(), request, &mut sink).await
            })
        })
        .await
    }

    /// Borrows a connection, runs `operation` on it, and gives it back when
    /// the operation succeeded (a failed one leaves the protocol state
    /// unknown, so that connection is closed).
    async fn on_connection<T>(
        &self,
        row: &DataSourceRow,
        mut want: Want,
        mut operation: impl for<'a> FnMut(&'a mut Lease) -> Operation<'a, T>,
    ) -> Result<Result<T, Failure>> {
        loop {
            let mut lease = match self.borrow(row, want).await? {
                Ok(lease) => lease,
                Err(failure) => return Ok(Err(failure)),
            };
            match operation(&mut lease).await {
                Ok(value) => {
                    lease.release().await;
                    return Ok(Ok(value));
                }
                Err(failure) => {
                    // A timeout is not retried: a hung server would only hang again.
                    let maybe_stale = lease.is_reused() && failure.error.kind != ErrorKind::Timeout;
                    lease.discard().await;
                    if !maybe_stale {
                        return Ok(Err(failure));
                    }
                    tracing::info!(
                        data_source = %row.id,
                        kind = failure.error.kind.as_str(),
                        "a pooled connection failed; retrying on a new one"
                    );
                    self.pools().invalidate(&row.id).await;
                    want = Want::Fresh;
                }
            }
        }
    }

    /// A lent connection of the data source. Secrets are opened only when a
    /// new connection has to be made.
    pub(super) async fn borrow(&self, row: &DataSourceRow, want: Want) -> Result<Result<Lease, Failure>> {
        let Some(plugin) = self.connectors().source_type(&row.source_type).map(|found| found.plugin) else {
            let message = format!("no enabled plugin provides type `{}`", row.source_type);
            return Ok(Err(Failure::new(ErrorKind::Config, message, false)));
        };
        let settings = ConnectionSettings::of_row(row);
        let sealed = self.db().sealed_secrets(&row.id).await?;
        let fingerprint = fingerprint(&plugin.sha256, row, &sealed);
        let config: Value =
            serde_json::from_str(&row.config).map_err(|e| Error::internal("stored config is not JSON", e))?;
        let tunnel = super::tunnels::enabled_tunnel(row)?;
        let open = async || {
            let mut secrets = self.open_sealed(row, &sealed).await.map_err(|error| {
                Failure::new(ErrorKind::Internal, format!("cannot open the stored secrets: {error}"), false)
            })?;
            // The tunnel's credentials stay with the host.
            let ssh = secrets.split_off(&SSH_SECRET_FIELDS);
            let (via, ssh_steps) = match &tunnel {
                Some(tunnel) => {
                    let (local, steps) = self.tunnel_for(row, tunnel, &config, &ssh, &settings).await?;
                    (Some(local), steps)
                }
                None => (None, Vec::new()),
            };
            drop(ssh);
            let route = Route { tunnel: via, stored_file: self.stored_file_of(row, &config).await? };
            self.counters().add(&row.organization_id, |set| &set.connections_opened);
            match self.connectors().open(&row.source_type, &config, &secrets, timeouts(&settings), &route).await {
                Ok(mut session) => {
                    session.connect_steps.splice(0..0, ssh_steps);
                    Ok(session)
                }
                Err(mut failure) => {
                    failure.steps.splice(0..0, ssh_steps);
                    Err(failure)
                }
            }
        };
        Ok(self
            .pools()
            .checkout(&row.id, &row.organization_id, fingerprint, pool_settings(&settings), want, open)
            .await)
    }

    /// The stored file a file type's `storage://` reference names, looked
    /// up within the data source's organization only.
    pub async fn stored_file_row_of(
        &self,
        row: &DataSourceRow,
        config: &Value,
    ) -> Result<Option<StoredFileRow>, Failure> {
        let path_field = self
            .connectors()
            .source_type(&row.source_type)
            .and_then(|found| found.spec().file.as_ref().map(|file| file.path_field.clone()));
        let Some(value) = path_field.and_then(|field| config.get(&field)).and_then(Value::as_str) else {
            return Ok(None);
        };
        let reference = crate::storage::StorageRef::parse(value)
            .map_err(|error| Failure::new(ErrorKind::Config, error.to_string(), false))?;
        let Some(reference) = reference else { return Ok(None) };
        let not_found = || Failure::new(ErrorKind::NotFound, format!("no stored file `{reference}`"), false);
        self.db()
            .stored_file(&row.organization_id, reference.id())
            .await
            .map_err(|error| Failure::new(ErrorKind::Internal, format!("cannot look up a stored file: {error}"), true))?
            .ok_or_else(not_found)
            .map(Some)
    }

    /// Where a file type's `storage://` reference can be read on this host.
    pub(super) async fn stored_file_of(
        &self,
        row: &DataSourceRow,
        config: &Value,
    ) -> Result<Option<std::path::PathBuf>, Failure> {
        let Some(file) = self.stored_file_row_of(row, config).await? else { return Ok(None) };
        let path = self.files().local_file(file_ref(&file)).await.map_err(|error| match error {
            crate::storage::StorageError::Missing => {
                Failure::new(ErrorKind::NotFound, format!("stored file `{}` is missing from the store", file.id), false)
            }
            other => Failure::new(ErrorKind::Internal, format!("cannot read stored file `{}`: {other}", file.id), true),
        })?;
        Ok(Some(path))
    }

    /// Opens sealed secret fields of a data source.
    pub(super) async fn open_sealed(&self, row: &DataSourceRow, sealed: &[(String, String)]) -> Result<Secrets> {
        let key = self.data_key(&row.organization_id).await?;
        let mut secrets = Secrets::new();
        for (field, sealed) in sealed {
            let aad = SecretAad { org_id: &row.organization_id, data_source_id: &row.id, field };
            let value =
                vault::open(&key, &aad, sealed).map_err(|e| Error::internal("cannot open a stored secret", e))?;
            secrets.insert(field.clone(), value.as_str());
        }
        Ok(secrets)
    }
}

/// Everything that shaped a connection: when any of it changes, pooled
/// connections are not lent again. Sealed secrets change whenever the
/// credentials do (every seal has a fresh nonce), and they are not secret.
fn fingerprint(plugin_sha256: &str, row: &DataSourceRow, sealed: &[(String, String)]) -> Fingerprint {
    let mut hash = Sha256::new();
    for part in [plugin_sha256, &row.source_type, &row.config, &row.connection_settings] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    let tunnel = row.ssh_tunnel.as_deref().unwrap_or("");
    hash.update((tunnel.len() as u64).to_le_bytes());
    hash.update(tunnel.as_bytes());
    for (field, value) in sealed {
        for part in [field, value] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
    }
    hash.finalize().into()
}

/// The step a test on a pooled connection reports instead of the connect
/// stages, which happened when the connection was opened.
fn reused_step(age: Duration) -> CheckStep {
    CheckStep {
        name: "pooled_connection".to_owned(),
        passed: true,
        duration_us: 0,
        message: Some(format!("reused a connection opened {} s ago", age.as_secs())),
    }
}

/// How the file store addresses a stored file.
pub fn file_ref(file: &StoredFileRow) -> crate::storage::FileRef<'_> {
    crate::storage::FileRef {
        org_id: &file.organization_id,
        id: &file.id,
        name: &file.name,
        size: u64::try_from(file.size).unwrap_or_default(),
        sha256: &file.sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DataSourceRow {
        DataSourceRow {
            config: r#"{"host":"db"}"#.into(),
            connection_settings: "{}".into(),
            source_type: "postgresql".into(),
            ..DataSourceRow::default()
        }
    }

    #[test]
    fn the_fingerprint_follows_every_input_that_shapes_a_connection() {
        let sealed = vec![("password".to_owned(), "sealed-1".to_owned())];
        let base = fingerprint("sha", &row(), &sealed);
        assert_eq!(base, fingerprint("sha", &row(), &sealed), "stable for the same inputs");
        assert_ne!(base, fingerprint("sha2", &row(), &sealed), "plugin build");
        let mut config = row();
        config.config = r#"{"host":"db2"}"#.into();
        assert_ne!(base, fingerprint("sha", &config, &sealed), "config");
        let mut settings = row();
        settings.connection_settings = r#"{"pool_size":2}"#.into();
        assert_ne!(base, fingerprint("sha", &settings, &sealed), "connection settings");
        let resealed = vec![("password".to_owned(), "sealed-2".to_owned())];
        assert_ne!(base, fingerprint("sha", &row(), &resealed), "credentials");
        assert_ne!(base, fingerprint("sha", &row(), &[]), "a removed secret");
    }

    #[test]
    fn length_prefixes_keep_field_boundaries_apart() {
        let a = vec![("ab".to_owned(), "c".to_owned())];
        let b = vec![("a".to_owned(), "bc".to_owned())];
        assert_ne!(fingerprint("sha", &row(), &a), fingerprint("sha", &row(), &b));
    }
}
