//! Organizations, workspaces, users and API tokens.

use sqlx::FromRow;

use super::{Db, DbError, new_id, now};

#[derive(Debug, Clone, FromRow)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub data_key: String,
    pub created_at: String,
}

/// An organization's own switches (`organizations` columns beside its identity).
#[derive(Debug, Clone, Copy, FromRow)]
pub struct OrgSettingsRow {
    /// 1 when members and admins may run queries, 0 when switched off.
    pub querying: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct WorkspaceRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub is_default: i64,
    pub created_at: String,
}

/// A token to store: only its hash, never the token.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub token_hash: &'a str,
    /// `None` for platform admins.
    pub org_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub role: &'a str,
    pub name: &'a str,
    pub expires_at: Option<&'a str>,
    /// Workspaces a member or viewer may see.
    pub workspace_ids: &'a [String],
}

#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    pub id: String,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    pub role: String,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl Db {
    /// Creates an organization with its default workspace (an individual
    /// account's one personal workspace).
    pub async fn create_org(
        &self,
        name: &str,
        kind: &str,
        id: &str,
        wrapped_data_key: &str,
    ) -> Result<OrgRow, DbError> {
        let created_at = now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO organizations (id, name, kind, data_key, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(name)
            .bind(kind)
            .bind(wrapped_data_key)
            .bind(&created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| DbError::conflict_on_unique(e, || format!("an organization named `{name}` already exists")))?;
        let workspace = if kind == "individual" { "personal" } else { "default" };
        sqlx::query(
            "INSERT INTO workspaces (id, organization_id, name, is_default, created_at) VALUES ($1, $2, $3, 1, $4)",
        )
        .bind(new_id())
        .bind(id)
        .bind(workspace)
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(OrgRow {
            id: id.to_owned(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            data_key: wrapped_data_key.to_owned(),
            created_at,
        })
    }

    pub async fn org_by_name(&self, name: &str) -> Result<Option<OrgRow>, DbError> {
        Ok(sqlx::query_as("SELECT id, name, kind, data_key, created_at FROM organizations WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn org(&self, id: &str) -> Result<Option<OrgRow>, DbError> {
        Ok(sqlx::query_as("SELECT id, name, kind, data_key, created_at FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn orgs(&self) -> Result<Vec<OrgRow>, DbError> {
        Ok(sqlx::query_as("SELECT id, name, kind, data_key, created_at FROM organizations ORDER BY id")
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn org_settings(&self, id: &str) -> Result<Option<OrgSettingsRow>, DbError> {
        Ok(sqlx::query_as("SELECT querying FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Sets whether the organization may run queries; false when it is gone.
    pub async fn set_org_querying(&self, id: &str, querying: bool) -> Result<bool, DbError> {
        let result = sqlx::query("UPDATE organizations SET querying = $1 WHERE id = $2")
            .bind(i64::from(querying))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Replaces an organization's wrapped data key if it is still `expected`
    /// (key rotation; a concurrent rotation loses rather than overwrites).
    pub async fn rewrap_org_key(&self, id: &str, expected: &str, wrapped: &str) -> Result<bool, DbError> {
        let result = sqlx::query("UPDATE organizations SET data_key = $1 WHERE id = $2 AND data_key = $3")
            .bind(wrapped)
            .bind(id)
            .bind(expected)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn create_workspace(&self, org_id: &str, name: &str) -> Result<WorkspaceRow, DbError> {
        let row = WorkspaceRow {
            id: new_id(),
            organization_id: org_id.to_owned(),
            name: name.to_owned(),
            is_default: 0,
            created_at: now(),
        };
        sqlx::query(
            "INSERT INTO workspaces (id, organization_id, name, is_default, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(&row.id)
        .bind(org_id)
        .bind(name)
        .bind(&row.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| DbError::conflict_on_unique(e, || format!("a workspace named `{name}` already exists")))?;
        Ok(row)
    }

    pub async fn workspaces(&self, org_id: &str) -> Result<Vec<WorkspaceRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, organization_id, name, is_default, created_at FROM workspaces WHERE organization_id = $1 ORDER BY name",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn workspace_by_name(&self, org_id: &str, name: &str) -> Result<Option<WorkspaceRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, organization_id, name, is_default, created_at FROM workspaces WHERE organization_id = $1 AND name = $2",
        )
        .bind(org_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn default_workspace(&self, org_id: &str) -> Result<WorkspaceRow, DbError> {
        sqlx::query_as(
            "SELECT id, organization_id, name, is_default, created_at FROM workspaces WHERE organization_id = $1 AND is_default = 1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| DbError::Corrupt(format!("organization {org_id} has no default workspace")))
    }

    pub async fn create_user(&self, org_id: Option<&str>, name: &str) -> Result<String, DbError> {
        let id = new_id();
        sqlx::query("INSERT INTO users (id, organization_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(org_id)
            .bind(name)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// Stores a token by its hash, with the workspaces it may see.
    pub async fn create_token(&self, new: &NewToken<'_>) -> Result<TokenRow, DbError> {
        let NewToken { token_hash, org_id, user_id, role, name, expires_at, workspace_ids } = *new;
        let row = TokenRow {
            id: new_id(),
            organization_id: org_id.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
            role: role.to_owned(),
            name: name.to_owned(),
            created_at: now(),
            expires_at: expires_at.map(str::to_owned),
            revoked_at: None,
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, organization_id, user_id, role, name, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(token_hash)
        .bind(org_id)
        .bind(user_id)
        .bind(role)
        .bind(name)
        .bind(&row.created_at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| DbError::conflict_on_unique(e, || "that token already exists".to_owned()))?;
        for workspace_id in workspace_ids {
            sqlx::query("INSERT INTO api_token_workspaces (token_id, workspace_id) VALUES ($1, $2)")
                .bind(&row.id)
                .bind(workspace_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// The live (unrevoked) token with this hash, and its workspaces.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<(TokenRow, Vec<String>)>, DbError> {
        let token: Option<TokenRow> = sqlx::query_as(
            "SELECT id, organization_id, user_id, role, name, created_at, expires_at, revoked_at \
             FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(token) = token else { return Ok(None) };
        let workspaces: Vec<(String,)> =
            sqlx::query_as("SELECT workspace_id FROM api_token_workspaces WHERE token_id = $1")
                .bind(&token.id)
                .fetch_all(&self.pool)
                .await?;
        Ok(Some((token, workspaces.into_iter().map(|(id,)| id).collect())))
    }

    /// Revokes a token by id; false when there is no such live token.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, DbError> {
        let result = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn tokens(&self, org_id: Option<&str>) -> Result<Vec<TokenRow>, DbError> {
        let sql = "SELECT id, organization_id, user_id, role, name, created_at, expires_at, revoked_at FROM api_tokens \
                   WHERE ($1 IS NULL AND organization_id IS NULL) OR organization_id = $1 ORDER BY created_at";
        Ok(sqlx::query_as(sql).bind(org_id).fetch_all(&self.pool).await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::db::{DbError, NewToken, test_db};

    #[tokio::test]
    async fn orgs_get_a_default_workspace_and_unique_names() {
        let (db, _dir) = test_db().await;
        let org = db.create_org("acme", "organization", "org-1", "wrapped").await.expect("create");
        assert_eq!(db.default_workspace(&org.id).await.expect("default").name, "default");
        let again = db.create_org("acme", "organization", "org-2", "wrapped").await;
        assert!(matches!(again, Err(DbError::Conflict(_))));
        let solo = db.create_org("ada", "individual", "org-3", "wrapped").await.expect("create");
        assert_eq!(db.default_workspace(&solo.id).await.expect("default").name, "personal");
    }

    #[tokio::test]
    async fn tokens_are_found_by_hash_until_revoked() {
        let (db, _dir) = test_db().await;
        let org = db.create_org("acme", "organization", "org-1", "wrapped").await.expect("create");
        let ws = db.create_workspace(&org.id, "analytics").await.expect("workspace");
        let workspaces = [ws.id.clone()];
        let new = NewToken {
            token_hash: "hash-1",
            org_id: Some(&org.id),
            user_id: None,
            role: "member",
            name: "ci",
            expires_at: None,
            workspace_ids: &workspaces,
        };
        let token = db.create_token(&new).await.expect("token");
        let (found, workspaces) = db.token_by_hash("hash-1").await.expect("query").expect("found");
        assert_eq!(found.id, token.id);
        assert_eq!(workspaces, vec![ws.id]);
        assert!(db.revoke_token(&token.id).await.expect("revoke"));
        assert!(db.token_by_hash("hash-1").await.expect("query").is_none());
        assert!(!db.revoke_token(&token.id).await.expect("revoke twice"));
    }
}
