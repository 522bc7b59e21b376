//! Presigned URLs for file-based data sources, served by this host. A link
//! binds the organization, the data source, the file it resolved to (see
//! [`crate::file_links`]) and its expiry. The file is the data source's: a
//! stored file (`storage://…`) of its organization, or a path the files
//! policy allows. With a bucket as the file store, a stored file's link is
//! the bucket's own presigned URL (SigV4 query signing), and the bytes never
//! pass here.

use std::path::PathBuf;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::dto::{FileDownloadParams, FileUrl, FileUrlParams};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Auth};
use crate::db::{DataSourceRow, StoredFileRow};
use crate::file_links::{self, FileIdentity, LinkScope, ResolveError};
use crate::model::ErrorKind;

const DEFAULT_EXPIRY_S: u32 = 900;
const MAX_EXPIRY_S: u32 = 7 * 24 * 3600;

/// The file a data source names, resolved now.
struct ServedFile {
    identity: FileIdentity,
    /// Where to read it on this host.
    local: PathBuf,
    /// The name shown to the downloader.
    name: String,
    /// The stored file's row, for a bucket's own presigned URL.
    stored: Option<StoredFileRow>,
}

/// Why a data source's file cannot be linked or served.
enum Unavailable {
    /// Not found, or no longer readable: 404.
    NotFound,
    /// Refused by the files policy: 403.
    Refused(String),
    /// A directory: 409.
    Directory,
    /// The filesystem did not answer in time: 503.
    Busy(String),
    Internal(String),
}

impl AppState {
    /// Resolves the file a file-based data source names, under the same
    /// rules as connectors: a stored file of its own organization, or a path
    /// the files policy allows (symlinks and `..` followed first).
    async fn served_file(&self, row: &DataSourceRow) -> Result<ServedFile, Unavailable> {
        let config: serde_json::Value = serde_json::from_str(&row.config).map_err(|_| Unavailable::NotFound)?;
        let stored = self.stored_file_row_of(row, &config).await.map_err(|failure| match failure.error.kind {
            ErrorKind::NotFound | ErrorKind::Config => Unavailable::NotFound,
            _ => Unavailable::Internal(failure.error.message),
        })?;
        if let Some(file) = stored {
            let local = self.files().local_file(crate::core::file_ref(&file)).await.map_err(|error| match error {
                crate::storage::StorageError::Missing => Unavailable::NotFound,
                other => Unavailable::Internal(other.to_string()),
            })?;
            let identity = FileIdentity::Stored { id: file.id.clone(), sha256: file.sha256.clone() };
            return Ok(ServedFile { identity, local, name: file.name.clone(), stored: Some(file) });
        }
        let path_field = self
            .connectors()
            .source_type(&row.source_type)
            .and_then(|found| found.spec().file.as_ref().map(|file| file.path_field.clone()))
            .ok_or(Unavailable::NotFound)?;
        let configured = config.get(&path_field).and_then(|v| v.as_str()).ok_or(Unavailable::NotFound)?;
        let resolved = file_links::resolve_path(&self.connectors().sandbox().files, configured, FILE_OPEN_TIMEOUT)
            .await
            .map_err(|error| match error {
                ResolveError::NotFound => Unavailable::NotFound,
                ResolveError::Refused(reason) => Unavailable::Refused(reason),
                ResolveError::Directory => Unavailable::Directory,
                ResolveError::Unavailable(error) => Unavailable::Busy(error.to_string()),
            })?;
        Ok(ServedFile { identity: resolved.identity, local: resolved.local, name: resolved.name, stored: None })
    }
}

fn unavailable(error: Unavailable) -> ApiError {
    match error {
        Unavailable::NotFound => ApiError::not_found("file"),
        Unavailable::Refused(reason) => ApiError::new(StatusCode::FORBIDDEN, "file_not_allowed", reason),
        Unavailable::Directory => ApiError::conflict("not_a_file", "the data source names a directory, not a file"),
        Unavailable::Busy(reason) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "file_unavailable", reason),
        Unavailable::Internal(reason) => ApiError::internal("cannot resolve the data source's file", reason),
    }
}

#[utoipa::path(get, path = "/api/v1/data-sources/{data_source_id}/file-url", tag = "data-sources",
    params(("data_source_id" = String, Path), FileUrlParams),
    responses((status = 200, body = FileUrl), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn file_url(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<FileUrlParams>,
) -> ApiResult<Json<FileUrl>> {
    let row = super::data_sources::visible_row(&state, &principal, &id).await?;
    let file_based = state.connectors().source_type(&row.source_type).is_some_and(|found| found.spec().file.is_some());
    if !file_based {
        return Err(ApiError::conflict(
            "not_file_based",
            format!("`{}` data sources are not file-based", row.source_type),
        ));
    }
    let expires_in = params.expires_in.unwrap_or(DEFAULT_EXPIRY_S);
    if !(1..=MAX_EXPIRY_S).contains(&expires_in) {
        return Err(ApiError::bad_request(format!("expires_in must be between 1 and {MAX_EXPIRY_S} seconds"))
            .with_code("invalid_query"));
    }
    let expires_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(i64::from(expires_in));
    let served = state.served_file(&row).await.map_err(unavailable)?;
    // A stored file in a bucket is fetched from the bucket itself, by a URL
    // its credentials sign; anything else through this host.
    if let Some(file) = &served.stored {
        let signed = state
            .files()
            .presigned_url(crate::core::file_ref(file), std::time::Duration::from_secs(u64::from(expires_in)))
            .await
            .map_err(|error| ApiError::internal("cannot sign a link to the stored file", error))?;
        if let Some(url) = signed {
            return Ok(Json(FileUrl { url, expires_at: crate::db::format_time(expires_at) }));
        }
    }
    let expires = expires_at.unix_timestamp();
    let scope = LinkScope { org_id: &row.organization_id, data_source_id: &row.id, file: &served.identity, expires };
    let sig = hex::encode(file_links::sign(&state.file_url_key, scope));
    Ok(Json(FileUrl {
        url: format!("/api/v1/files/{}?expires={expires}&signature={sig}", row.id),
        expires_at: crate::db::format_time(expires_at),
    }))
}

#[utoipa::path(get, path = "/api/v1/files/{data_source_id}", tag = "data-sources", security(()),
    params(("data_source_id" = String, Path), FileDownloadParams),
    responses((status = 200, description = "the file's bytes", content_type = "application/octet-stream"),
              (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
              (status = 404, body = super::error::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<FileDownloadParams>,
) -> ApiResult<Response> {
    let denied = || ApiError::forbidden("the link is invalid or has expired");
    if params.expires <= time::OffsetDateTime::now_utc().unix_timestamp() {
        return Err(denied());
    }
    let given = hex::decode(&params.signature).map_err(|_| denied())?;
    let row = state.db().data_source_any_org(&id).await?.ok_or_else(denied)?;
    // What the data source names now must be what the link was issued for.
    let served = state.served_file(&row).await.map_err(|error| match error {
        Unavailable::Busy(_) => unavailable(error),
        _ => denied(),
    })?;
    let scope = LinkScope {
        org_id: &row.organization_id,
        data_source_id: &row.id,
        file: &served.identity,
        expires: params.expires,
    };
    if !file_links::verify(&state.file_url_key, scope, &given) {
        return Err(denied());
    }
    let (local, identity) = (served.local.clone(), served.identity.clone());
    // Opened on the bounded file pool (never blocking: O_NONBLOCK, a FIFO is
    // refused, not waited on), within FILE_OPEN_TIMEOUT.
    let file =
        crate::sandbox::file_pool::run(FILE_OPEN_TIMEOUT, move || file_links::open_for_download(&local, &identity))
            .await
            .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "file_unavailable", error.to_string()))?
            .map_err(|_| denied())?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file)));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, file_links::content_type(&served.name).to_owned()),
            (header::CONTENT_DISPOSITION, file_links::content_disposition(&served.name)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// How long granting and opening a file to serve may take.
const FILE_OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
