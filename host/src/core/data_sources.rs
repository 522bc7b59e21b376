//! The data sources service: create, change, re-credential and delete a
//! data source under the rules that keep it sound — input bounds, the
//! type's JSON Schema, credentials merged and sealed, tunnels and file
//! paths allowed, credentials re-sent when a change re-targets them — and
//! the effects of a change: pooled connections and the tunnel closed (in
//! [`App::retire_connections`] only), the status moved and a check started.
//!
//! Every lookup is scoped by the caller: another organization's data source,
//! or one outside the caller's workspaces, is "not found".

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::App;
use super::domain::{CheckOrigin, ConnectionSettings, SchemaRefresh, SshAuth, SshTunnel, Status};
use super::error::{Error, Result};
use crate::auth::Principal;
use crate::connectors::TypeRef;
use crate::db::{DataSourceRow, NewDataSource, StoredFileRow, new_id, now};
use crate::plugin::{ConfigError, SSH_SECRET_FIELDS, Secrets, SourceType, retarget};

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_TAGS: usize = 50;
const MAX_TAG: usize = 64;
const MAX_SECRET: usize = 64 * 1024;
const MAX_HEALTH_INTERVAL_S: u32 = 86_400;

/// A new data source as a caller describes it.
pub struct NewSource {
    pub name: String,
    pub description: Option<String>,
    pub source_type: String,
    /// The organization's default workspace when absent.
    pub workspace_id: Option<String>,
    pub config: Value,
    pub credentials: BTreeMap<String, String>,
    pub connection_settings: Option<ConnectionSettings>,
    pub ssh_tunnel: Option<SshTunnel>,
    pub schema_refresh: Option<SchemaRefresh>,
    pub health_check_interval_s: Option<u32>,
    pub tags: Option<Vec<String>>,
    pub shared_with_workspaces: Option<Vec<String>>,
}

/// A change to a data source: `None` leaves a part as it is.
#[derive(Default)]
pub struct Changes {
    pub name: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub config: Option<Value>,
    pub connection_settings: Option<ConnectionSettings>,
    /// `Some(None)` removes the tunnel.
    pub ssh_tunnel: Option<Option<SshTunnel>>,
    pub schema_refresh: Option<SchemaRefresh>,
    pub health_check_interval_s: Option<u32>,
    pub tags: Option<Vec<String>>,
    pub shared_with_workspaces: Option<Vec<String>>,
    /// A status a user may set: active, inactive or maintenance.
    pub status: Option<Status>,
    /// Secret fields set with the change.
    pub credentials: BTreeMap<String, String>,
}

/// A data source as written, and whether the request used the deprecated
/// `storage_file_id` (rewritten to `file_path: storage://<id>`).
pub struct Written {
    pub row: DataSourceRow,
    pub deprecated: bool,
}

/// Whether a type is wanted for a new data source or an existing one: a
/// disabled plugin refuses the first as invalid input (422) and the second
/// as a conflict with the platform's or organization's switch (409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeUse {
    New,
    Existing,
}

/// The caller's organization; platform admins without one cannot use
/// organization-scoped operations.
pub fn org_of(principal: &Principal) -> Result<&str> {
    principal
        .org_id
        .as_deref()
        .ok_or_else(|| Error::forbidden("this token belongs to no organization; use an organization token"))
}

impl App {
    /// A data source the caller may see; anything else is not found.
    pub async fn visible_source(&self, principal: &Principal, id: &str) -> Result<DataSourceRow> {
        let org_id = org_of(principal)?;
        let row = self.db().data_source(org_id, id, false).await?.ok_or_else(|| Error::not_found("data source"))?;
        if principal.workspaces.is_some() {
            let shares: Vec<String> =
                self.db().shares_of(std::slice::from_ref(&row.id)).await?.into_iter().map(|(_, w)| w).collect();
            if !principal.sees(&row.workspace_id, &shares) {
                return Err(Error::not_found("data source"));
            }
        }
        Ok(row)
    }

    /// A data source the caller may change: visible, and owned by one of the
    /// caller's workspaces (or the caller is an org admin). A share with the
    /// caller's workspace grants use (read, test, discover), never change.
    pub async fn changeable_source(&self, principal: &Principal, id: &str) -> Result<DataSourceRow> {
        let row = self.visible_source(principal, id).await?;
        if !principal.may_change(&row.workspace_id) {
            return Err(Error::forbidden(
                "this data source is shared with your workspace: you may use it, only its own workspace may change it",
            ));
        }
        Ok(row)
    }

    /// A stored file the caller may see; anything else is not found.
    pub async fn visible_stored_file(&self, principal: &Principal, id: &str) -> Result<StoredFileRow> {
        let org_id = org_of(principal)?;
        let row = self.db().stored_file(org_id, id).await?.ok_or_else(|| Error::not_found("file"))?;
        if !principal.sees(&row.workspace_id, &[]) {
            return Err(Error::not_found("file"));
        }
        Ok(row)
    }

    /// The type's plugin and spec, when a plugin provides it and neither the
    /// platform nor the organization switched that plugin off.
    pub async fn usable_type(&self, org_id: &str, source_type: &str, usage: TypeUse) -> Result<TypeRef> {
        let found = self.connectors().source_type(source_type).ok_or_else(|| {
            Error::rejected("unknown_type", format!("no enabled connector provides the type `{source_type}`"))
                .with_details(json!({ "fields": [{ "field": "/type", "message": "unknown or disabled type" }] }))
        })?;
        let plugin = &found.plugin.manifest.id;
        let who = if !found.enabled {
            Some("the platform")
        } else if self.db().org_disabled_plugins(org_id).await?.contains(plugin) {
            Some("this organization")
        } else {
            None
        };
        if let Some(who) = who {
            let message = format!("the `{plugin}` connector, which provides `{source_type}`, is disabled by {who}");
            return Err(match usage {
                TypeUse::New => Error::rejected("plugin_disabled", message),
                TypeUse::Existing => Error::conflict("plugin_disabled", message),
            });
        }
        Ok(found)
    }

    /// Creates a data source (status `testing`) and tests it in the background.
    pub async fn create_source(&self, principal: &Principal, mut new: NewSource) -> Result<Written> {
        let org_id = org_of(principal)?.to_owned();
        let name = check_name(&new.name)?;
        let description = check_description(new.description)?;
        let found = self.usable_type(&org_id, &new.source_type, TypeUse::New).await?;
        let spec = found.spec();
        let deprecated = migrate_storage_file_id(spec, &mut new.config);
        let (connector_secrets, ssh_secrets) = split_credentials(spec, secrets_from(new.credentials)?)?;
        spec.validate(&new.config, &connector_secrets).map_err(config_error)?;
        self.check_file_path(principal, spec, &new.config).await?;
        let settings = new.connection_settings.unwrap_or_default();
        check_settings(&settings)?;
        self.check_tunnel(spec, &new.ssh_tunnel, &ssh_secrets)?;
        let mut secrets = connector_secrets;
        for (field, value) in ssh_secrets.iter() {
            secrets.insert(field, value);
        }
        let refresh = new.schema_refresh.unwrap_or_default();
        self.check_refresh(&refresh)?;
        let interval = self.check_interval(new.health_check_interval_s.unwrap_or(60))?;
        let tags = check_tags(new.tags.unwrap_or_default())?;
        let workspace_id = match new.workspace_id {
            Some(id) => {
                self.check_workspaces(principal, &org_id, std::slice::from_ref(&id), "/workspace_id")
                    .await
                    .map_err(|_| Error::invalid("/workspace_id", "unknown workspace"))?;
                id
            }
            None => {
                let default = self.db().default_workspace(&org_id).await?.id;
                if !principal.may_use_workspace(&default) {
                    return Err(Error::invalid("/workspace_id", "name one of your workspaces"));
                }
                default
            }
        };
        let shared = new.shared_with_workspaces.unwrap_or_default();
        self.check_workspaces(principal, &org_id, &shared, "/shared_with_workspaces").await?;
        let id = new_id();
        let sealed = self.seal_secrets(&org_id, &id, &secrets).await?;
        drop(secrets);
        let at = now();
        let row = DataSourceRow {
            id: id.clone(),
            organization_id: org_id,
            workspace_id,
            name,
            description,
            source_type: new.source_type,
            config: new.config.to_string(),
            connection_settings: to_json(&settings)?,
            ssh_tunnel: new.ssh_tunnel.as_ref().map(to_json).transpose()?,
            schema_refresh: to_json(&refresh)?,
            health_check_interval_s: i64::from(interval),
            status: Status::Testing.as_str().to_owned(),
            status_reason: None,
            last_test: None,
            last_tested_at: None,
            created_at: at.clone(),
            created_by: Some(principal.actor.clone()),
            updated_at: at,
            updated_by: Some(principal.actor.clone()),
            deleted_at: None,
            deleted_by: None,
            version: 1,
            breaker_state: crate::health::BreakerState::Closed.as_str().to_owned(),
            breaker_failures: 0,
            breaker_opens: 0,
            breaker_open_until: None,
            next_discovery_at: None,
        };
        self.db()
            .insert_data_source(&NewDataSource { row: row.clone(), tags, shared_with: shared, secrets: sealed })
            .await?;
        self.spawn_test(row.clone(), CheckOrigin::Create);
        Ok(Written { row, deprecated })
    }

    /// Applies a change. A change of what the connection is (config,
    /// credentials, settings, tunnel) or a status that stops its use closes
    /// the pooled connections; a changed definition is tested again unless a
    /// user holds the data source inactive or in maintenance.
    pub async fn update_source(&self, principal: &Principal, id: &str, mut changes: Changes) -> Result<Written> {
        let mut row = self.changeable_source(principal, id).await?;
        let org_id = row.organization_id.clone();
        let deprecated = match (&mut changes.config, self.connectors().source_type(&row.source_type)) {
            (Some(config), Some(found)) => migrate_storage_file_id(found.spec(), config),
            _ => false,
        };
        if let Some(name) = &changes.name {
            row.name = check_name(name)?;
        }
        if let Some(description) = changes.description {
            row.description = check_description(description)?;
        }
        let config_changed = changes
            .config
            .as_ref()
            .is_some_and(|c| serde_json::from_str::<Value>(&row.config).ok().as_ref() != Some(c));
        let given = secrets_from(std::mem::take(&mut changes.credentials))?;
        if changes.config.is_some() || changes.ssh_tunnel.is_some() || !given.is_empty() {
            let found = self.usable_type(&org_id, &row.source_type, TypeUse::Existing).await?;
            let spec = found.spec();
            check_secret_names(spec, &given)?;
            let stored = self.open_secrets(&row).await?;
            let before: Value =
                serde_json::from_str(&row.config).map_err(|e| Error::internal("stored config is not JSON", e))?;
            let tunnel_changed = match &changes.ssh_tunnel {
                None => false,
                Some(tunnel) => {
                    let stored_tunnel: Option<Value> =
                        row.ssh_tunnel.as_deref().and_then(|t| serde_json::from_str(t).ok());
                    let new_tunnel = tunnel
                        .as_ref()
                        .map(serde_json::to_value)
                        .transpose()
                        .map_err(|e| Error::internal("cannot serialize the tunnel", e))?;
                    stored_tunnel != new_tunnel
                }
            };
            let retargeted =
                retarget::retargeted(spec, &before, changes.config.as_ref().unwrap_or(&before), tunnel_changed);
            let missing = retarget::missing_credentials(&retargeted, stored.names(), |field| given.contains(field));
            if !missing.is_empty() {
                return Err(credentials_required(&retargeted, &missing));
            }
            // The secrets already set count toward the schema's required fields.
            let mut merged = Secrets::new();
            for (field, value) in stored.iter().chain(given.iter()) {
                merged.insert(field, value);
            }
            let (connector_secrets, ssh_secrets) = split_credentials(spec, merged)?;
            if let Some(config) = &changes.config {
                spec.validate(config, &connector_secrets).map_err(config_error)?;
                self.check_file_path(principal, spec, config).await?;
                row.config = config.to_string();
            }
            if let Some(tunnel) = &changes.ssh_tunnel {
                self.check_tunnel(spec, tunnel, &ssh_secrets)?;
                row.ssh_tunnel = tunnel.as_ref().map(to_json).transpose()?;
            }
        }
        if let Some(settings) = &changes.connection_settings {
            check_settings(settings)?;
            row.connection_settings = to_json(settings)?;
        }
        if let Some(refresh) = &changes.schema_refresh {
            self.check_refresh(refresh)?;
            row.schema_refresh = to_json(refresh)?;
        }
        if let Some(interval) = changes.health_check_interval_s {
            row.health_check_interval_s = i64::from(self.check_interval(interval)?);
        }
        let tags = changes.tags.map(check_tags).transpose()?;
        if let Some(shared) = &changes.shared_with_workspaces {
            self.check_workspaces(principal, &org_id, shared, "/shared_with_workspaces").await?;
        }
        row.updated_at = now();
        row.updated_by = Some(principal.actor.clone());
        // The credentials first: the new target never sees the old ones, even
        // from a scheduled check that runs between the two writes.
        let credentials_changed = !given.is_empty();
        if credentials_changed {
            let sealed = self.seal_secrets(&org_id, &row.id, &given).await?;
            drop(given);
            self.db().replace_secrets(&org_id, &row.id, &sealed, &[]).await?;
            // Writing secrets bumps the version the row update below expects.
            row.version += 1;
        }
        let config_changed = config_changed || credentials_changed;
        let mut row =
            self.db().update_data_source(&row, tags.as_deref(), changes.shared_with_workspaces.as_deref()).await?;
        let stops_use = changes.status.is_some_and(Status::is_held);
        if config_changed || changes.connection_settings.is_some() || changes.ssh_tunnel.is_some() || stops_use {
            self.retire_connections(&row.id).await;
        }
        if let Some(status) = changes.status {
            let reason = format!("set by {}", principal.actor);
            self.set_status(&mut row, status, Some(reason)).await?;
            if status == Status::Active {
                // "Active" is a claim to check, not a state to take on faith.
                self.begin_check(&mut row, CheckOrigin::Update).await?;
            }
        } else if config_changed && !Status::of_row(&row).is_held() {
            self.begin_check(&mut row, CheckOrigin::Update).await?;
        }
        Ok(Written { row, deprecated })
    }

    /// Sets (a value) or removes (`None`) secret fields, then tests the data
    /// source again unless a user holds it.
    pub async fn update_credentials(
        &self,
        principal: &Principal,
        id: &str,
        credentials: &BTreeMap<String, Option<String>>,
    ) -> Result<DataSourceRow> {
        let row = self.changeable_source(principal, id).await?;
        let found = self.usable_type(&row.organization_id, &row.source_type, TypeUse::Existing).await?;
        let spec = found.spec();
        if credentials.is_empty() {
            return Err(Error::invalid("/credentials", "name at least one secret field"));
        }
        let mut set = Secrets::new();
        let mut remove = Vec::new();
        for (field, value) in credentials {
            let ssh_field = spec.network.is_some() && SSH_SECRET_FIELDS.contains(&field.as_str());
            if !spec.is_secret(field) && !ssh_field {
                return Err(Error::invalid(format!("/credentials/{field}"), "is not a secret field of this type"));
            }
            match value {
                Some(value) if value.len() > MAX_SECRET => {
                    return Err(Error::invalid(format!("/credentials/{field}"), "is longer than 64 KiB"));
                }
                Some(value) => set.insert(field.clone(), value.clone()),
                None => remove.push(field.clone()),
            }
        }
        let stored = self.open_secrets(&row).await?;
        let mut merged = Secrets::new();
        for (field, value) in stored.iter().chain(set.iter()) {
            if !remove.iter().any(|r| r == field) {
                merged.insert(field, value);
            }
        }
        drop(stored);
        let config: Value =
            serde_json::from_str(&row.config).map_err(|e| Error::internal("stored config is not JSON", e))?;
        let (connector_secrets, ssh_secrets) = split_credentials(spec, merged)?;
        spec.validate(&config, &connector_secrets).map_err(config_error)?;
        let tunnel: Option<SshTunnel> = row
            .ssh_tunnel
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| Error::internal("stored tunnel settings are not valid", e))?;
        self.check_tunnel(spec, &tunnel, &ssh_secrets)?;
        drop((connector_secrets, ssh_secrets));
        let sealed = self.seal_secrets(&row.organization_id, &row.id, &set).await?;
        drop(set);
        self.db().replace_secrets(&row.organization_id, &row.id, &sealed, &remove).await?;
        self.retire_connections(&row.id).await;
        let mut row = self.visible_source(principal, id).await?;
        if !Status::of_row(&row).is_held() {
            self.begin_check(&mut row, CheckOrigin::Update).await?;
        }
        Ok(row)
    }

    /// Deletes a data source: softly (it can still be removed for good), or
    /// for good with `force` (the caller's right to that is checked at the
    /// edge), with its secrets, history and cached catalog.
    pub async fn delete_source(&self, principal: &Principal, id: &str, force: bool) -> Result<()> {
        let org_id = org_of(principal)?;
        if force {
            let exists = self.db().data_source(org_id, id, true).await?.is_some();
            if !exists || !self.db().hard_delete_data_source(org_id, id).await? {
                return Err(Error::not_found("data source"));
            }
            self.schemas().forget(id);
        } else {
            self.changeable_source(principal, id).await?;
            if !self.db().soft_delete_data_source(org_id, id, &principal.actor).await? {
                return Err(Error::not_found("data source"));
            }
        }
        self.retire_connections(id).await;
        Ok(())
    }

    /// A test a person asked for: on a new connection, so every connect
    /// stage runs and shows.
    pub async fn test_source(&self, row: &DataSourceRow) -> Result<crate::connectors::TestOutcome> {
        self.usable_type(&row.organization_id, &row.source_type, TypeUse::Existing).await?;
        self.run_test(row, CheckOrigin::Manual, None).await
    }

    /// Closes the data source's pooled connections (lent ones when they come
    /// back) and its tunnel now rather than at their next use: what they
    /// were opened with no longer holds.
    pub async fn retire_connections(&self, data_source_id: &str) {
        self.pools().invalidate(data_source_id).await;
        self.tunnels().close(data_source_id).await;
    }

    /// Stores a status (and why) and mirrors it in `row`.
    async fn set_status(&self, row: &mut DataSourceRow, status: Status, reason: Option<String>) -> Result<()> {
        self.db().set_status(&row.organization_id, &row.id, status.as_str(), reason.as_deref(), None).await?;
        row.status = status.as_str().to_owned();
        row.status_reason = reason;
        Ok(())
    }

    /// Marks the data source `testing` and tests it in the background.
    async fn begin_check(&self, row: &mut DataSourceRow, origin: CheckOrigin) -> Result<()> {
        self.set_status(row, Status::Testing, None).await?;
        self.spawn_test(row.clone(), origin);
        Ok(())
    }

    fn check_interval(&self, interval: u32) -> Result<u32> {
        let min = self.health().min_interval_s;
        if !(min..=MAX_HEALTH_INTERVAL_S).contains(&interval) {
            return Err(Error::invalid(
                "/health_check_interval_s",
                format!("must be between {min} and {MAX_HEALTH_INTERVAL_S}"),
            ));
        }
        Ok(interval)
    }

    fn check_refresh(&self, refresh: &SchemaRefresh) -> Result<()> {
        let min = self.health().min_schema_refresh_s;
        if !(min..=604_800).contains(&refresh.interval_s) {
            return Err(Error::invalid("/schema_refresh/interval_s", format!("must be between {min} and 604800")));
        }
        Ok(())
    }

    /// A tunnel's settings, and when it is enabled, that this type can use
    /// one, that its host key is pinned (or the server trusts on first use)
    /// and that the credentials its authentication needs are there.
    fn check_tunnel(&self, spec: &SourceType, tunnel: &Option<SshTunnel>, ssh: &Secrets) -> Result<()> {
        let Some(tunnel) = tunnel else { return Ok(()) };
        if tunnel.host.trim().is_empty() || tunnel.username.trim().is_empty() {
            return Err(Error::invalid("/ssh_tunnel", "host and username are required"));
        }
        if tunnel.port == 0 {
            return Err(Error::invalid("/ssh_tunnel/port", "must be a port number"));
        }
        if let Some(fingerprint) = &tunnel.host_key_fingerprint
            && !is_sha256_fingerprint(fingerprint)
        {
            return Err(Error::invalid(
                "/ssh_tunnel/host_key_fingerprint",
                "use the SHA256:… form that ssh-keygen -lf prints",
            ));
        }
        if !tunnel.enabled {
            return Ok(());
        }
        if spec.network.is_none() {
            return Err(Error::invalid("/ssh_tunnel", "only data sources reached over TCP can use an SSH tunnel"));
        }
        if tunnel.host_key_fingerprint.is_none() && !self.ssh_trust_on_first_use() {
            return Err(Error::invalid(
                "/ssh_tunnel/host_key_fingerprint",
                "is required: this server does not trust host keys on first use (INLET_SSH_TRUST_ON_FIRST_USE)",
            ));
        }
        let needed = match tunnel.auth {
            SshAuth::Password => "ssh_password",
            SshAuth::PrivateKey => "ssh_private_key",
        };
        if !ssh.contains(needed) {
            return Err(Error::invalid(format!("/credentials/{needed}"), "is required by the tunnel's authentication"));
        }
        Ok(())
    }

    /// A file type's `file_path` must name a stored file the caller can see
    /// (`storage://<id>`, parsed strictly) or a server path the files policy
    /// allows (by default none: `INLET_FILES_ROOT`).
    async fn check_file_path(&self, principal: &Principal, spec: &SourceType, config: &Value) -> Result<()> {
        let Some(file) = &spec.file else { return Ok(()) };
        let Some(path) = config.get(&file.path_field).and_then(Value::as_str) else { return Ok(()) };
        let field = format!("/config/{}", file.path_field);
        match crate::storage::StorageRef::parse(path).map_err(|error| Error::invalid(&field, error.to_string()))? {
            Some(reference) => match self.visible_stored_file(principal, reference.id()).await {
                Ok(_) => Ok(()),
                Err(Error::NotFound(_)) => {
                    Err(Error::invalid(&field, format!("no stored file `{}` in your workspaces", reference.id())))
                }
                Err(error) => Err(error),
            },
            None => {
                self.connectors().sandbox().files.check(path).map_err(|error| Error::invalid(&field, error.to_string()))
            }
        }
    }

    /// Workspaces named in a request must belong to the caller's
    /// organization (and, for members, be theirs).
    async fn check_workspaces(&self, principal: &Principal, org_id: &str, ids: &[String], field: &str) -> Result<()> {
        let known: Vec<String> = self.db().workspaces(org_id).await?.into_iter().map(|w| w.id).collect();
        for (i, id) in ids.iter().enumerate() {
            if !known.contains(id) || !principal.may_use_workspace(id) {
                return Err(Error::invalid(format!("{field}/{i}"), "unknown workspace"));
            }
        }
        Ok(())
    }
}

/// The change sends the stored credentials elsewhere, so they must be sent
/// again with it.
fn credentials_required(retargeted: &[String], missing: &[String]) -> Error {
    Error::rejected(
        "credentials_required",
        format!(
            "changing {} sends this data source's credentials elsewhere: send {} again under `credentials` in the same request",
            retargeted.join(", "),
            missing.join(", ")
        ),
    )
    .with_details(json!({ "changed": retargeted, "credentials": missing }))
}

/// Checks that every named credential is a secret field of this type (or an
/// SSH field of a type that can use a tunnel).
fn check_secret_names(spec: &SourceType, secrets: &Secrets) -> Result<()> {
    for field in secrets.names() {
        let ssh_field = spec.network.is_some() && SSH_SECRET_FIELDS.contains(&field);
        if !spec.is_secret(field) && !ssh_field {
            return Err(Error::invalid(format!("/credentials/{field}"), "is not a secret field of this type"));
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid("/name", format!("must be 1-{MAX_NAME} characters without control characters")));
    }
    Ok(name.to_owned())
}

fn check_description(description: Option<String>) -> Result<Option<String>> {
    match description {
        Some(text) if text.chars().count() > MAX_DESCRIPTION => {
            Err(Error::invalid("/description", format!("must be at most {MAX_DESCRIPTION} characters")))
        }
        Some(text) if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') => {
            Err(Error::invalid("/description", "must not contain control characters"))
        }
        other => Ok(other),
    }
}

fn check_tags(tags: Vec<String>) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid("/tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.into_iter().enumerate() {
        let tag = tag.trim().to_owned();
        if tag.is_empty() || tag.chars().count() > MAX_TAG || tag.chars().any(char::is_control) {
            return Err(Error::invalid(format!("/tags/{i}"), format!("must be 1-{MAX_TAG} characters")));
        }
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

fn check_settings(settings: &ConnectionSettings) -> Result<()> {
    settings.check().map_err(|(field, message)| Error::invalid(field, message))
}

/// `SHA256:` and 43 characters of unpadded base64: a SHA-256 digest.
fn is_sha256_fingerprint(text: &str) -> bool {
    text.strip_prefix("SHA256:").is_some_and(|digest| {
        digest.len() == 43 && digest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    })
}

/// A file type's config that names a stored file by the deprecated
/// `storage_file_id`: rewritten to `file_path: storage://<id>`. True when it
/// did, so the answer can carry a deprecation notice.
fn migrate_storage_file_id(spec: &SourceType, config: &mut Value) -> bool {
    let (Some(file), Value::Object(fields)) = (&spec.file, config) else { return false };
    let Some(Value::String(id)) = fields.get("storage_file_id").cloned() else { return false };
    fields.remove("storage_file_id");
    fields.entry(file.path_field.clone()).or_insert_with(|| Value::String(format!("{}{id}", crate::storage::SCHEME)));
    true
}

/// Splits credentials into the connector's and the tunnel's; SSH fields are
/// accepted only for types that can use a tunnel.
fn split_credentials(spec: &SourceType, mut secrets: Secrets) -> Result<(Secrets, Secrets)> {
    let ssh = secrets.split_off(&SSH_SECRET_FIELDS);
    if spec.network.is_none()
        && let Some(field) = ssh.names().next()
    {
        return Err(Error::invalid(
            format!("/credentials/{field}"),
            "only data sources reached over TCP have SSH credentials",
        ));
    }
    Ok((secrets, ssh))
}

fn config_error(error: ConfigError) -> Error {
    let fields: Vec<Value> = error
        .field_errors()
        .into_iter()
        .map(|f| json!({ "field": if f.field.is_empty() { "/config".to_owned() } else { format!("/config{}", f.field) }, "message": f.message }))
        .collect();
    Error::rejected("validation_failed", error.to_string()).with_details(json!({ "fields": fields }))
}

fn secrets_from(credentials: BTreeMap<String, String>) -> Result<Secrets> {
    let mut secrets = Secrets::new();
    for (field, value) in credentials {
        if value.len() > MAX_SECRET {
            return Err(Error::invalid(format!("/credentials/{field}"), "is longer than 64 KiB"));
        }
        secrets.insert(field, value);
    }
    Ok(secrets)
}

/// Our own settings as stored JSON.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal("cannot serialize settings", e))
}
