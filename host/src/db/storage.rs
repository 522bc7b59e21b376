//! Metadata of uploaded files (the bytes live in the object store).

use sqlx::FromRow;

use super::{Db, DbError};

#[derive(Debug, Clone, FromRow)]
pub struct StoredFileRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: Option<String>,
    pub created_at: String,
    pub created_by: Option<String>,
}

const COLUMNS: &str = "id, organization_id, name, size, sha256, content_type, created_at, created_by";

impl Db {
    pub async fn insert_stored_file(&self, file: &StoredFileRow) -> Result<(), DbError> {
        sqlx::query(&format!("INSERT INTO storage_files ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(&file.id)
            .bind(&file.organization_id)
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

    /// One of the organization's files.
    pub async fn stored_file(&self, org_id: &str, id: &str) -> Result<Option<StoredFileRow>, DbError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM storage_files WHERE organization_id = $1 AND id = $2"))
            .bind(org_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A page of the organization's files, newest first, with the total.
    pub async fn stored_files(
        &self,
        org_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<StoredFileRow>, i64), DbError> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM storage_files WHERE organization_id = $1")
            .bind(org_id)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM storage_files WHERE organization_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(org_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
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

    /// Names of the organization's live data sources whose config references `reference`
    /// (a `storage://` URL), so a file in use is not deleted under them.
    pub async fn data_sources_using(&self, org_id: &str, reference: &str) -> Result<Vec<String>, DbError> {
        let pattern = format!("%\"{}\"%", reference.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        Ok(sqlx::query_scalar(
            "SELECT name FROM data_sources WHERE organization_id = $1 AND deleted_at IS NULL \
             AND config LIKE $2 ESCAPE '\\' ORDER BY name LIMIT 10",
        )
        .bind(org_id)
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?)
    }
}
