//! Metadata of uploaded files (the bytes live in the object store).

use sqlx::FromRow;

use super::{Db, DbError};

#[derive(Debug, Clone, FromRow)]
pub struct StoredFileRow {
    pub id: String,
    pub organization_id: String,
    /// Who may see the file: members of this workspace (and org admins).
    pub workspace_id: String,
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: Option<String>,
    pub created_at: String,
    pub created_by: Option<String>,
}

const INSERT_COLUMNS: &str =
    "id, organization_id, workspace_id, name, size, sha256, content_type, created_at, created_by";
const COLUMNS: &str = "id, organization_id, COALESCE(workspace_id, '') AS workspace_id, name, size, sha256, \
                       content_type, created_at, created_by";

/// A data source that references a stored file.
#[derive(Debug, Clone, FromRow)]
pub struct FileUser {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
}

/// ` AND workspace_id IN ($n, …)` for the visible workspaces (`None`: all).
fn visible_clause(visible: Option<&[String]>, first: usize) -> String {
    match visible {
        None => String::new(),
        Some([]) => " AND 1 = 0".to_owned(),
        Some(ids) => {
            let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND workspace_id IN ({})", marks.join(", "))
        }
    }
}

impl Db {
    pub async fn insert_stored_file(&self, file: &StoredFileRow) -> Result<(), DbError> {
        sqlx::query(&format!(
            "INSERT INTO storage_files ({INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&file.id)
        .bind(&file.organization_id)
        .bind(&file.workspace_id)
        .bind(&file.name)
        .bind(file.size)
        .bind(&file.sha256)
        .bind(&file.content_type)
        .bind(&file.created_at)
        .bind(&file.created_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One of the organization's files (whatever its workspace: callers
    /// check visibility; data sources resolve within the organization).
    pub async fn stored_file(&self, org_id: &str, id: &str) -> Result<Option<StoredFileRow>, DbError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM storage_files WHERE organization_id = $1 AND id = $2"))
            .bind(org_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A page of the organization's files in the `visible` workspaces
    /// (`None`: all of them), newest first, with the total.
    pub async fn stored_files(
        &self,
        org_id: &str,
        visible: Option<&[String]>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredFileRow>, i64), DbError> {
        let filter = visible_clause(visible, 2);
        let ids = visible.unwrap_or_default();
        let count = format!("SELECT COUNT(*) FROM storage_files WHERE organization_id = $1{filter}");
        let mut total = sqlx::query_scalar::<_, i64>(&count).bind(org_id);
        for id in ids {
            total = total.bind(id);
        }
        let total: i64 = total.fetch_one(&self.pool).await?;
        let n = 2 + ids.len();
        let page = format!(
            "SELECT {COLUMNS} FROM storage_files WHERE organization_id = $1{filter} \
             ORDER BY created_at DESC, id DESC LIMIT ${n} OFFSET ${}",
            n + 1
        );
        let mut rows = sqlx::query_as::<_, StoredFileRow>(&page).bind(org_id);
        for id in ids {
            rows = rows.bind(id);
        }
        let rows = rows.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        Ok((rows, total))
    }

    pub async fn delete_stored_file(&self, org_id: &str, id: &str) -> Result<bool, DbError> {
        let result = sqlx::query("DELETE FROM storage_files WHERE organization_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The organization's live data sources whose config mentions the file
    /// id at all, so a file in use is not deleted under them. Deliberately
    /// wider than a parsed reference: a config that only almost names the
    /// file (a legacy `storage://<id>/`) still holds it.
    pub async fn data_sources_using(&self, org_id: &str, file_id: &str) -> Result<Vec<FileUser>, DbError> {
        let pattern = format!("%{}%", file_id.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        Ok(sqlx::query_as(
            "SELECT id, name, workspace_id FROM data_sources WHERE organization_id = $1 AND deleted_at IS NULL \
             AND config LIKE $2 ESCAPE '\\' ORDER BY name",
        )
        .bind(org_id)
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_listed_only_in_visible_workspaces() {
        let (db, _dir) = crate::db::test_db().await;
        let org = db.create_org("acme", "organization", "org-1", "k").await.expect("org");
        let default = db.default_workspace(&org.id).await.expect("ws").id;
        let other = db.create_workspace(&org.id, "other").await.expect("ws").id;
        for (id, workspace) in [("f1", &default), ("f2", &other), ("f3", &other)] {
            let row = StoredFileRow {
                id: id.into(),
                organization_id: org.id.clone(),
                workspace_id: workspace.clone(),
                name: format!("{id}.csv"),
                size: 1,
                sha256: "00".into(),
                content_type: None,
                created_at: crate::db::now(),
                created_by: None,
            };
            db.insert_stored_file(&row).await.expect("insert");
        }
        let (all, total) = db.stored_files(&org.id, None, 10, 0).await.unwrap();
        assert_eq!((all.len(), total), (3, 3));
        let (mine, total) = db.stored_files(&org.id, Some(std::slice::from_ref(&other)), 1, 0).await.unwrap();
        assert_eq!((mine.len(), total), (1, 2));
        assert_eq!(mine[0].workspace_id, other);
        let (none, total) = db.stored_files(&org.id, Some(&[][..]), 10, 0).await.unwrap();
        assert_eq!((none.len(), total), (0, 0));
    }
}
