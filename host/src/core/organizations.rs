//! An organization's own settings, set by its admins: today, whether its
//! members and admins may run queries (previews stay open to every role
//! that may see a data source).

use super::data_sources::org_of;
use super::{App, Error, Result};
use crate::auth::Principal;

/// What an organization has switched on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgSettings {
    pub querying: bool,
}

/// A change to [`OrgSettings`]; a field left `None` stays as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrgSettingsChange {
    pub querying: Option<bool>,
}

impl App {
    /// The caller's organization's settings (any role of it may read them).
    pub async fn org_settings(&self, principal: &Principal) -> Result<OrgSettings> {
        self.settings_of(org_of(principal)?).await
    }

    /// Changes the caller's organization's settings: organization admins only.
    pub async fn change_org_settings(&self, principal: &Principal, change: OrgSettingsChange) -> Result<OrgSettings> {
        let org_id = org_of(principal)?;
        if !principal.is_org_admin() {
            return Err(Error::forbidden("only organization admins change the organization's settings"));
        }
        if let Some(querying) = change.querying {
            if !self.db().set_org_querying(org_id, querying).await? {
                return Err(Error::not_found("organization"));
            }
            tracing::info!(organization_id = org_id, actor = %principal.actor, querying, "organization settings changed");
        }
        self.settings_of(org_id).await
    }

    /// Refuses a query when the organization has switched querying off.
    pub(super) async fn querying_allowed(&self, org_id: &str) -> Result<()> {
        if self.settings_of(org_id).await?.querying {
            Ok(())
        } else {
            Err(Error::forbidden(
                "querying is switched off for this organization; an organization admin can switch it on \
                 (PATCH /api/v1/organization/settings)",
            ))
        }
    }

    async fn settings_of(&self, org_id: &str) -> Result<OrgSettings> {
        let row = self.db().org_settings(org_id).await?.ok_or_else(|| Error::not_found("organization"))?;
        Ok(OrgSettings { querying: row.querying != 0 })
    }
}
