//! Who is calling: bearer tokens (opaque, stored as hashes) and JWTs, turned
//! into a [`Principal`] with an organization, a role and visible workspaces.
//!
//! It authenticates and answers "may this principal …?"; it never loads or
//! changes a data source.

mod jwt;
mod token;

pub use jwt::{JwtConfig, JwtError};
pub use token::{generate_token, hash_token};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Viewer,
    Member,
    OrgAdmin,
    PlatformAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::OrgAdmin => "org-admin",
            Self::PlatformAdmin => "platform-admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "viewer" => Ok(Self::Viewer),
            "member" => Ok(Self::Member),
            "org-admin" => Ok(Self::OrgAdmin),
            "platform-admin" => Ok(Self::PlatformAdmin),
            other => Err(format!("unknown role `{other}` (viewer, member, org-admin, platform-admin)")),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who acted, for created_by/updated_by: `token:<id>` or `jwt:<sub>`.
    pub actor: String,
    /// `None` only for platform admins without an organization.
    pub org_id: Option<String>,
    pub role: Role,
    /// `None`: every workspace of the organization (org admins);
    /// `Some`: only these (members and viewers).
    pub workspaces: Option<Vec<String>>,
}

impl Principal {
    /// Viewers read; members and admins write.
    pub fn can_write(&self) -> bool {
        self.role >= Role::Member
    }

    pub fn is_org_admin(&self) -> bool {
        self.role >= Role::OrgAdmin
    }

    /// Whether a data source in `workspace_id` (shared with `shared_with`) is visible.
    pub fn sees(&self, workspace_id: &str, shared_with: &[String]) -> bool {
        match &self.workspaces {
            None => true,
            Some(mine) => mine.iter().any(|w| w == workspace_id || shared_with.contains(w)),
        }
    }

    /// Whether the principal may change (edit, re-credential, set the
    /// status of, delete) a data source owned by `workspace_id`: writers of
    /// that workspace and org admins. A share grants use, never change.
    pub fn may_change(&self, workspace_id: &str) -> bool {
        self.can_write() && self.may_use_workspace(workspace_id)
    }

    /// Whether the principal may put a data source into `workspace_id`.
    pub fn may_use_workspace(&self, workspace_id: &str) -> bool {
        self.workspaces.as_ref().is_none_or(|mine| mine.iter().any(|w| w == workspace_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, workspaces: Option<Vec<String>>) -> Principal {
        Principal { actor: "token:t".into(), org_id: Some("o".into()), role, workspaces }
    }

    #[test]
    fn roles_order_by_power_and_round_trip() {
        assert!(Role::Viewer < Role::Member && Role::Member < Role::OrgAdmin);
        for role in [Role::Viewer, Role::Member, Role::OrgAdmin, Role::PlatformAdmin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn members_see_their_workspaces_and_what_is_shared_with_them() {
        let member = principal(Role::Member, Some(vec!["w1".into()]));
        assert!(member.sees("w1", &[]));
        assert!(!member.sees("w2", &[]));
        assert!(member.sees("w2", &["w1".into()]));
        assert!(member.can_write() && !member.is_org_admin());
        assert!(member.may_change("w1") && !member.may_change("w2"), "a share grants use, not change");
        let viewer = principal(Role::Viewer, Some(vec!["w1".into()]));
        assert!(!viewer.may_change("w1"));
        assert!(!viewer.can_write());
        let admin = principal(Role::OrgAdmin, None);
        assert!(admin.sees("anything", &[]) && admin.may_use_workspace("anything"));
    }
}
