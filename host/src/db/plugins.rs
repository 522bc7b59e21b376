//! Plugins as the platform manages them: their rows (and installed
//! packages), the platform's and organizations' switches, the audit log, and
//! holding a disabled plugin's data sources `inactive` until it is enabled
//! again. Every change moves `plugin_state.generation`, which servers poll.

use sqlx::FromRow;

use super::events::{NewEvent, append};
use super::sql::{Sql, query_as_with};
use super::{Db, DbError, new_id, now};
use crate::events::EventKind;

/// Why a data source is held inactive.
pub const HELD_REASON: &str = "plugin_disabled";

#[derive(Debug, Clone, FromRow)]
pub struct PluginRow {
    pub id: String,
    pub version: String,
    /// `bundled` (the plugins directory) or `installed` (uploaded).
    pub origin: String,
    pub enabled: i64,
    pub sha256: String,
    /// `trusted`, `untrusted_allowed`, `unsigned_allowed` or `operator` (bundled, unsigned).
    pub signature_status: String,
    pub signer_key_id: Option<String>,
    pub installed_at: String,
    pub installed_by: Option<String>,
    pub updated_at: String,
}

/// An installed plugin's package.
#[derive(Debug, Clone, FromRow)]
pub struct PluginPackageRow {
    pub id: String,
    pub sha256: String,
    pub manifest: String,
    pub wasm: Vec<u8>,
    pub signature: Option<String>,
}

/// A package to store (install or upgrade).
#[derive(Debug, Clone)]
pub struct NewPlugin<'a> {
    pub id: &'a str,
    pub version: &'a str,
    pub sha256: &'a str,
    pub signature_status: &'a str,
    pub signer_key_id: Option<&'a str>,
    pub manifest: &'a str,
    pub wasm: &'a [u8],
    pub signature: Option<&'a str>,
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub organization_id: Option<String>,
    pub action: String,
    pub plugin_id: String,
    pub version: Option<String>,
    /// JSON object.
    pub details: String,
}

/// One audit entry to write with a change.
#[derive(Debug, Clone)]
pub struct Audit<'a> {
    pub actor: &'a str,
    pub organization_id: Option<&'a str>,
    pub action: &'a str,
    pub plugin_id: &'a str,
    pub version: Option<&'a str>,
    pub details: serde_json::Value,
}

const COLUMNS: &str = "id, version, origin, enabled, sha256, signature_status, signer_key_id, \
    installed_at, installed_by, updated_at";

async fn audit(tx: &mut sqlx::AnyConnection, entry: &Audit<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO plugin_audit (id, at, actor, organization_id, action, plugin_id, version, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(now())
    .bind(entry.actor)
    .bind(entry.organization_id)
    .bind(entry.action)
    .bind(entry.plugin_id)
    .bind(entry.version)
    .bind(entry.details.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn bump(tx: &mut sqlx::AnyConnection) -> Result<(), DbError> {
    sqlx::query("UPDATE plugin_state SET generation = generation + 1 WHERE id = 1").execute(&mut *tx).await?;
    Ok(())
}

impl Db {
    pub async fn plugin_rows(&self) -> Result<Vec<PluginRow>, DbError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM plugins ORDER BY id")).fetch_all(&self.pool).await?)
    }

    pub async fn plugin_row(&self, id: &str) -> Result<Option<PluginRow>, DbError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM plugins WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// An installed plugin's package.
    pub async fn plugin_package(&self, id: &str) -> Result<Option<PluginPackageRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, sha256, manifest, wasm, signature FROM plugins \
             WHERE id = $1 AND origin = 'installed' AND manifest IS NOT NULL AND wasm IS NOT NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Moves on every change to plugins or their switches.
    pub async fn plugin_generation(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT generation FROM plugin_state WHERE id = 1").fetch_one(&self.pool).await?)
    }

    /// Records a plugin of the plugins directory: a new row (enabled), or the
    /// new version of a bundled one. An installed package of the same id
    /// takes precedence and is left alone.
    pub async fn register_bundled(
        &self,
        id: &str,
        version: &str,
        sha256: &str,
        signature_status: &str,
    ) -> Result<(), DbError> {
        let mut tx = self.begin_claim().await?;
        let existing: Option<(String, String)> = sqlx::query_as("SELECT origin, sha256 FROM plugins WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            None => {
                let at = now();
                sqlx::query(
                    "INSERT INTO plugins (id, version, origin, enabled, sha256, signature_status, installed_at, updated_at) \
                     VALUES ($1, $2, 'bundled', 1, $3, $4, $5, $5)",
                )
                .bind(id)
                .bind(version)
                .bind(sha256)
                .bind(signature_status)
                .bind(&at)
                .execute(&mut *tx)
                .await?;
                bump(&mut tx).await?;
            }
            Some((origin, known)) if origin == "bundled" && known != sha256 => {
                sqlx::query(
                    "UPDATE plugins SET version = $1, sha256 = $2, signature_status = $3, updated_at = $4 WHERE id = $5",
                )
                .bind(version)
                .bind(sha256)
                .bind(signature_status)
                .bind(now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
                bump(&mut tx).await?;
            }
            Some(_) => {}
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a package: a new plugin (`replace` false; a taken id is a
    /// conflict) or a new version of one (`replace` true, keeping its switch).
    pub async fn store_plugin(&self, new: &NewPlugin<'_>, replace: bool, entry: &Audit<'_>) -> Result<(), DbError> {
        let mut tx = self.begin_claim().await?;
        let at = now();
        if replace {
            sqlx::query(
                "UPDATE plugins SET version = $1, origin = 'installed', sha256 = $2, signature_status = $3, \
                 signer_key_id = $4, manifest = $5, wasm = $6, signature = $7, updated_at = $8 WHERE id = $9",
            )
            .bind(new.version)
            .bind(new.sha256)
            .bind(new.signature_status)
            .bind(new.signer_key_id)
            .bind(new.manifest)
            .bind(new.wasm)
            .bind(new.signature)
            .bind(&at)
            .bind(new.id)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO plugins (id, version, origin, enabled, sha256, signature_status, signer_key_id, \
                 manifest, wasm, signature, installed_at, installed_by, updated_at) \
                 VALUES ($1, $2, 'installed', 1, $3, $4, $5, $6, $7, $8, $9, $10, $9)",
            )
            .bind(new.id)
            .bind(new.version)
            .bind(new.sha256)
            .bind(new.signature_status)
            .bind(new.signer_key_id)
            .bind(new.manifest)
            .bind(new.wasm)
            .bind(new.signature)
            .bind(&at)
            .bind(entry.actor)
            .execute(&mut *tx)
            .await
            .map_err(|e| DbError::conflict_on_unique(e, || format!("plugin `{}` is already installed", new.id)))?;
        }
        audit(&mut tx, entry).await?;
        bump(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a plugin's row; with `types` given, first holds their data
    /// sources inactive (a forced uninstall).
    pub async fn remove_plugin(&self, id: &str, types: &[String], entry: &Audit<'_>) -> Result<Vec<String>, DbError> {
        let mut tx = self.begin_claim().await?;
        let held = hold_sources(&mut tx, self.backend, types, None).await?;
        sqlx::query("DELETE FROM plugins WHERE id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM org_plugin_settings WHERE plugin_id = $1").bind(id).execute(&mut *tx).await?;
        audit(&mut tx, entry).await?;
        bump(&mut tx).await?;
        tx.commit().await?;
        self.after_hold(&held);
        Ok(held.into_iter().map(|(_, id)| id).collect())
    }

    /// The platform's switch. Disabling holds every data source of `types`
    /// inactive; enabling restores those of organizations that did not
    /// switch the plugin off themselves. Answers the data sources changed.
    pub async fn set_plugin_enabled(
        &self,
        id: &str,
        enabled: bool,
        types: &[String],
        entry: &Audit<'_>,
    ) -> Result<Vec<String>, DbError> {
        let mut tx = self.begin_claim().await?;
        sqlx::query("UPDATE plugins SET enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(enabled))
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let changed = if enabled {
            let orgs_off: Vec<String> = sqlx::query_scalar(
                "SELECT organization_id FROM org_plugin_settings WHERE plugin_id = $1 AND enabled = 0",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            restore_sources(&mut tx, self.backend, types, None, &orgs_off).await?
        } else {
            hold_sources(&mut tx, self.backend, types, None).await?
        };
        audit(&mut tx, entry).await?;
        bump(&mut tx).await?;
        tx.commit().await?;
        self.after_hold(&changed);
        Ok(changed.into_iter().map(|(_, id)| id).collect())
    }

    /// An organization's own switch for a plugin; enabling restores its data
    /// sources only while the platform has the plugin enabled.
    pub async fn set_org_plugin_enabled(
        &self,
        org_id: &str,
        id: &str,
        enabled: bool,
        platform_enabled: bool,
        types: &[String],
        entry: &Audit<'_>,
    ) -> Result<Vec<String>, DbError> {
        let mut tx = self.begin_claim().await?;
        sqlx::query("DELETE FROM org_plugin_settings WHERE organization_id = $1 AND plugin_id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if !enabled {
            sqlx::query(
                "INSERT INTO org_plugin_settings (organization_id, plugin_id, enabled, updated_at, updated_by) \
                 VALUES ($1, $2, 0, $3, $4)",
            )
            .bind(org_id)
            .bind(id)
            .bind(now())
            .bind(entry.actor)
            .execute(&mut *tx)
            .await?;
        }
        let changed = match (enabled, platform_enabled) {
            (false, _) => hold_sources(&mut tx, self.backend, types, Some(org_id)).await?,
            (true, true) => restore_sources(&mut tx, self.backend, types, Some(org_id), &[]).await?,
            (true, false) => Vec::new(),
        };
        audit(&mut tx, entry).await?;
        bump(&mut tx).await?;
        tx.commit().await?;
        self.after_hold(&changed);
        Ok(changed.into_iter().map(|(_, id)| id).collect())
    }

    /// The plugins an organization switched off.
    pub async fn org_disabled_plugins(&self, org_id: &str) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT plugin_id FROM org_plugin_settings WHERE organization_id = $1 AND enabled = 0 ORDER BY plugin_id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Live data sources per type, over every organization.
    pub async fn data_sources_per_type(&self) -> Result<Vec<(String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT source_type, COUNT(*) FROM data_sources WHERE deleted_at IS NULL GROUP BY source_type",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The audit log, newest first, optionally of one plugin.
    pub async fn plugin_audit(
        &self,
        plugin_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditRow>, i64), DbError> {
        let mut count = Sql::default();
        count.push("SELECT COUNT(*) FROM plugin_audit");
        let mut page = Sql::default();
        page.push("SELECT id, at, actor, organization_id, action, plugin_id, version, details FROM plugin_audit");
        if let Some(id) = plugin_id {
            count.push(" WHERE plugin_id = ").bind_text(id);
            page.push(" WHERE plugin_id = ").bind_text(id);
        }
        page.push(" ORDER BY seq DESC LIMIT ").bind_int(limit).push(" OFFSET ").bind_int(offset);
        let total: i64 = super::sql::scalar_with(&count)?.fetch_one(&self.pool).await?;
        let rows = query_as_with::<AuditRow>(&page)?.fetch_all(&self.pool).await?;
        Ok((rows, total))
    }

    fn after_hold(&self, changed: &[(String, String)]) {
        for (org_id, _) in changed {
            self.changed(org_id);
        }
        if !changed.is_empty() {
            self.events_added();
        }
    }
}

/// Holds the live data sources of `types` (of one organization, or all)
/// inactive, keeping their status to restore; answers (organization, id).
async fn hold_sources(
    tx: &mut sqlx::AnyConnection,
    backend: super::Backend,
    types: &[String],
    org_id: Option<&str>,
) -> Result<Vec<(String, String)>, DbError> {
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::default();
    sql.push("SELECT organization_id, id, status FROM data_sources WHERE deleted_at IS NULL AND held_status IS NULL");
    sql.push(" AND source_type IN ").bind_list(types);
    if let Some(org_id) = org_id {
        sql.push(" AND organization_id = ").bind_text(org_id);
    }
    let rows = query_as_with::<(String, String, String)>(&sql)?.fetch_all(&mut *tx).await?;
    for (org, id, status) in &rows {
        sqlx::query(
            "UPDATE data_sources SET held_status = status, status = 'inactive', status_reason = $1 WHERE id = $2",
        )
        .bind(HELD_REASON)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if status != "inactive" {
            let payload = serde_json::json!({ "from": status, "to": "inactive", "reason": HELD_REASON });
            let event =
                NewEvent { organization_id: org, data_source_id: Some(id), kind: EventKind::StatusChanged, payload };
            append(tx, backend, &event).await?;
        }
    }
    Ok(rows.into_iter().map(|(org, id, _)| (org, id)).collect())
}

/// Gives held data sources of `types` back the status they had, except in
/// the organizations of `skip`; answers (organization, id).
async fn restore_sources(
    tx: &mut sqlx::AnyConnection,
    backend: super::Backend,
    types: &[String],
    org_id: Option<&str>,
    skip: &[String],
) -> Result<Vec<(String, String)>, DbError> {
    if types.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::default();
    sql.push("SELECT organization_id, id, held_status FROM data_sources WHERE held_status IS NOT NULL");
    sql.push(" AND deleted_at IS NULL AND source_type IN ").bind_list(types);
    if let Some(org_id) = org_id {
        sql.push(" AND organization_id = ").bind_text(org_id);
    }
    if !skip.is_empty() {
        sql.push(" AND organization_id NOT IN ").bind_list(skip);
    }
    let rows = query_as_with::<(String, String, String)>(&sql)?.fetch_all(&mut *tx).await?;
    for (org, id, held) in &rows {
        sqlx::query("UPDATE data_sources SET status = $1, status_reason = NULL, held_status = NULL WHERE id = $2")
            .bind(held)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if held != "inactive" {
            let payload = serde_json::json!({ "from": "inactive", "to": held, "reason": "plugin_enabled" });
            let event =
                NewEvent { organization_id: org, data_source_id: Some(id), kind: EventKind::StatusChanged, payload };
            append(tx, backend, &event).await?;
        }
    }
    Ok(rows.into_iter().map(|(org, id, _)| (org, id)).collect())
}
