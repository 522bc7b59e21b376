//! `/api/v1/storage/files`: upload (streaming multipart, field `file`),
//! list, metadata and delete of an organization's files. An upload answers
//! the `file_path` (`storage://<id>`) that file-based data sources reference.
//!
//! A file belongs to a workspace and is visible as a data source of that
//! workspace is: to the workspace's members and to org admins. Anything
//! else answers 404, as for data sources.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::data_sources::org_of;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiMultipart, ApiPath, ApiQuery, Auth};
use crate::auth::Principal;
use crate::db::{StoredFileRow, new_id, now};
use crate::storage::{StorageError, StorageRef, safe_name};

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredFile {
    pub id: String,
    /// What a file-based data source's `file_path` takes to read this file.
    pub file_path: String,
    /// The workspace whose members may see and use the file.
    pub workspace_id: String,
    pub name: String,
    pub size: i64,
    /// Hex SHA-256 of the bytes, as received.
    pub sha256: String,
    pub content_type: Option<String>,
    pub created_at: String,
    pub created_by: Option<String>,
}

impl From<StoredFileRow> for StoredFile {
    fn from(row: StoredFileRow) -> Self {
        Self {
            file_path: StorageRef::new(&row.id).map(|r| r.to_string()).unwrap_or_default(),
            id: row.id,
            workspace_id: row.workspace_id,
            name: row.name,
            size: row.size,
            sha256: row.sha256,
            content_type: row.content_type,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoredFileList {
    pub items: Vec<StoredFile>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StoredFileParams {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's workspace (default: the organization's default workspace
    /// when the caller may use it, else the caller's first workspace).
    pub workspace_id: Option<String>,
}

/// The multipart body of an upload (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

#[utoipa::path(post, path = "/api/v1/storage/files", tag = "storage", params(UploadParams),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = StoredFile), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 413, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody),
              (status = 422, body = super::error::ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<UploadParams>,
    ApiMultipart(mut form): ApiMultipart,
) -> ApiResult<Response> {
    if !principal.can_write() {
        return Err(ApiError::forbidden("viewers cannot upload files"));
    }
    let org_id = org_of(&principal)?.to_owned();
    let workspace_id = upload_workspace(&state, &principal, &org_id, params.workspace_id).await?;
    let malformed = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("the multipart body is malformed: {}", e.body_text())).with_code("invalid_body")
    };
    loop {
        let Some(mut field) = form.next_field().await.map_err(malformed)? else {
            return Err(
                ApiError::bad_request("send the file in a multipart field named `file`").with_code("invalid_body")
            );
        };
        if field.name() != Some("file") {
            continue;
        }
        let id = new_id();
        let name = safe_name(field.file_name());
        let content_type = field.content_type().map(|t| t.chars().take(200).collect::<String>());
        let mut upload = state.files().upload(&org_id, &id, &name);
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(error) => {
                    upload.abort().await;
                    return Err(malformed(error));
                }
            };
            if let Err(error) = upload.write(chunk).await {
                upload.abort().await;
                return Err(storage_error(error));
            }
        }
        let (size, sha256) = upload.finish().await.map_err(storage_error)?;
        let row = StoredFileRow {
            id,
            organization_id: org_id,
            workspace_id,
            name,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
            content_type,
            created_at: now(),
            created_by: Some(principal.actor.clone()),
        };
        if let Err(error) = state.db().insert_stored_file(&row).await {
            let _ = state.files().delete(&row.organization_id, &row.id, &row.name).await;
            return Err(error.into());
        }
        tracing::info!(file = %row.id, size, "file uploaded");
        let location = format!("/api/v1/storage/files/{}", row.id);
        return Ok((StatusCode::CREATED, [(axum::http::header::LOCATION, location)], Json(StoredFile::from(row)))
            .into_response());
    }
}

/// The workspace an upload goes to: the one named (which the caller must
/// be able to use), else the organization's default when the caller may use
/// it, else the caller's first workspace.
async fn upload_workspace(
    state: &AppState,
    principal: &Principal,
    org_id: &str,
    named: Option<String>,
) -> ApiResult<String> {
    let unknown = || {
        ApiError::unprocessable("validation_failed", "workspace_id: unknown workspace").with_details(
            serde_json::json!({ "fields": [{ "field": "workspace_id", "message": "unknown workspace" }] }),
        )
    };
    let known: Vec<String> = state.db().workspaces(org_id).await?.into_iter().map(|w| w.id).collect();
    let usable = |id: &String| known.contains(id) && principal.may_use_workspace(id);
    match named {
        Some(id) if usable(&id) => Ok(id),
        Some(_) => Err(unknown()),
        None => {
            let default = state.db().default_workspace(org_id).await?.id;
            if usable(&default) {
                return Ok(default);
            }
            principal.workspaces.iter().flatten().find(|&id| usable(id)).cloned().ok_or_else(unknown)
        }
    }
}

/// A stored file the caller may see (org and workspace), or 404.
pub(super) async fn visible_file(state: &AppState, principal: &Principal, id: &str) -> ApiResult<StoredFileRow> {
    Ok(state.visible_stored_file(principal, id).await?)
}

fn storage_error(error: StorageError) -> ApiError {
    match error {
        StorageError::TooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", error.to_string())
        }
        other => ApiError::internal("cannot store the file", other),
    }
}

#[utoipa::path(get, path = "/api/v1/storage/files", tag = "storage", params(StoredFileParams),
    responses((status = 200, body = StoredFileList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<StoredFileParams>,
) -> ApiResult<Json<StoredFileList>> {
    let org_id = org_of(&principal)?;
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(20);
    if page == 0 || !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request("page starts at 1; page_size is 1-100").with_code("invalid_query"));
    }
    let offset = i64::from(page - 1) * i64::from(page_size);
    let visible = principal.workspaces.as_deref();
    let (rows, total) = state.db().stored_files(org_id, visible, i64::from(page_size), offset).await?;
    Ok(Json(StoredFileList { items: rows.into_iter().map(StoredFile::from).collect(), total, page, page_size }))
}

#[utoipa::path(get, path = "/api/v1/storage/files/{file_id}", tag = "storage",
    params(("file_id" = String, Path)),
    responses((status = 200, body = StoredFile), (status = 401, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<StoredFile>> {
    Ok(Json(visible_file(&state, &principal, &id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/storage/files/{file_id}", tag = "storage",
    params(("file_id" = String, Path)),
    responses((status = 204), (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !principal.can_write() {
        return Err(ApiError::forbidden("viewers cannot delete files"));
    }
    let org_id = org_of(&principal)?;
    let row = visible_file(&state, &principal, &id).await?;
    let users = state.db().data_sources_using(org_id, &id).await?;
    if !users.is_empty() {
        // Name only the data sources the caller can see; count the others.
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let shares = state.db().shares_of(&ids).await?;
        let (seen, unseen): (Vec<_>, Vec<_>) = users.iter().partition(|user| {
            let shared: Vec<String> = shares.iter().filter(|(ds, _)| *ds == user.id).map(|(_, w)| w.clone()).collect();
            principal.sees(&user.workspace_id, &shared)
        });
        let mut named: Vec<String> = seen.iter().map(|u| format!("`{}`", u.name)).collect();
        if !unseen.is_empty() {
            named.push(format!("{} you cannot see", unseen.len()));
        }
        return Err(ApiError::conflict(
            "file_in_use",
            format!("data sources still read this file: {}; change or delete them first", named.join(", ")),
        ));
    }
    if state.db().delete_stored_file(org_id, &id).await? {
        state
            .files()
            .delete(org_id, &id, &row.name)
            .await
            .map_err(|e| ApiError::internal("cannot delete the file", e))?;
    }
    Ok(StatusCode::NO_CONTENT)
}
