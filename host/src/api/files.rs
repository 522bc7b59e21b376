//! Presigned URLs for file-based data sources: an HMAC-SHA256 signature over
//! (organization, data source, expiry), checked in constant time, served by
//! this host. The file is the data source's: a stored file
//! (`storage://…`) of its organization, or a path inside the files root.
//! With a bucket as the file store, a stored file's link is the bucket's
//! own presigned URL (SigV4 query signing), and the bytes never pass here.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::AppState;
use super::dto::{FileDownloadParams, FileUrl, FileUrlParams};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiPath, ApiQuery, Auth};

const DEFAULT_EXPIRY_S: u32 = 900;
const MAX_EXPIRY_S: u32 = 7 * 24 * 3600;

fn signature(key: &[u8; 32], org_id: &str, data_source_id: &str, expires: i64) -> Vec<u8> {
    // Lengths keep the fields apart: no two triples sign the same message.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in [org_id.as_bytes(), data_source_id.as_bytes(), expires.to_string().as_bytes()] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

#[utoipa::path(get, path = "/api/v1/data-sources/{data_source_id}/file-url", tag = "data-sources",
    params(("data_source_id" = String, Path), FileUrlParams),
    responses((status = 200, body = FileUrl), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
              (status = 409, body = super::error::ErrorBody)))]
pub async fn file_url(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<FileUrlParams>,
) -> ApiResult<Json<FileUrl>> {
    let row = super::data_sources::visible_row(&state, &principal, &id).await?;
    let file_based = state.connectors.source_type(&row.source_type).is_some_and(|found| found.spec().file.is_some());
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
    // A stored file in a bucket is fetched from the bucket itself, by a URL
    // its credentials sign; anything else through this host.
    let config: serde_json::Value = serde_json::from_str(&row.config).unwrap_or_default();
    let stored = state.stored_file_row_of(&row, &config).await.map_err(|_| ApiError::not_found("file"))?;
    if let Some(file) = stored {
        let signed = state
            .files
            .presigned_url(super::connections::file_ref(&file), std::time::Duration::from_secs(u64::from(expires_in)))
            .await
            .map_err(|error| ApiError::internal("cannot sign a link to the stored file", error))?;
        if let Some(url) = signed {
            return Ok(Json(FileUrl { url, expires_at: crate::db::format_time(expires_at) }));
        }
    }
    let expires = expires_at.unix_timestamp();
    let sig = hex::encode(signature(&state.file_url_key, &row.organization_id, &row.id, expires));
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
    let row = state.db.data_source_any_org(&id).await?.ok_or_else(denied)?;
    let expected = signature(&state.file_url_key, &row.organization_id, &row.id, params.expires);
    if !bool::from(expected.ct_eq(&given)) {
        return Err(denied());
    }
    let path_field = state
        .connectors
        .source_type(&row.source_type)
        .and_then(|found| found.spec().file.as_ref().map(|file| file.path_field.clone()))
        .ok_or_else(|| ApiError::not_found("file"))?;
    let config: serde_json::Value = serde_json::from_str(&row.config).map_err(|_| ApiError::not_found("file"))?;
    let configured = config.get(&path_field).and_then(|v| v.as_str()).ok_or_else(|| ApiError::not_found("file"))?;
    // The same rules as for connectors: a stored file of the data source's
    // own organization, or a path inside the files root, never the data dir.
    let sandbox = state.connectors.sandbox();
    let stored = state.stored_file_of(&row, &config).await.map_err(|_| ApiError::not_found("file"))?;
    let (configured, root, denied_paths) =
        (configured.to_owned(), sandbox.files_root.clone(), sandbox.denied_paths.clone());
    // Granted and opened on the bounded file pool: the open never blocks
    // (a FIFO is refused, not waited on) and the whole takes at most 10 s.
    let opened = crate::sandbox::file_pool::run(FILE_OPEN_TIMEOUT, move || {
        let grant = match &stored {
            Some(stored) => crate::sandbox::files::grant_stored(stored),
            None => crate::sandbox::files::grant(&configured, root.as_deref(), &denied_paths),
        }
        .map_err(|_| Opened::Denied)?;
        let name = grant.guest_path.rsplit('/').next().unwrap_or_default().to_owned();
        if grant.guest_path == crate::sandbox::files::GUEST_DATA_DIR || name.is_empty() {
            return Err(Opened::Directory);
        }
        let file = crate::sandbox::file_kind::open_regular(&grant.host_dir.join(&name)).map_err(|_| Opened::Missing)?;
        Ok((name, file))
    })
    .await
    .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "file_unavailable", error.to_string()))?;
    let (name, file) = match opened {
        Ok(opened) => opened,
        Err(Opened::Denied) => return Err(denied()),
        Err(Opened::Directory) => {
            return Err(ApiError::conflict("not_a_file", "the data source names a directory, not a file"));
        }
        Err(Opened::Missing) => return Err(ApiError::not_found("file")),
    };
    let file = tokio::fs::File::from_std(file);
    let name = name.replace(['"', '\\', '\r', '\n'], "");
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}

/// How long granting and opening a file to serve may take.
const FILE_OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a file could not be opened to serve.
enum Opened {
    Denied,
    Directory,
    Missing,
}
