//! Request extractors that answer bad input with JSON errors: the caller's
//! principal from `Authorization: Bearer …`, JSON bodies and query strings.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth::Principal;

/// The authenticated caller.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        state.authenticate(token).await.map(Auth)
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let value = header.to_str().map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty() && token.len() <= 8192)
        .ok_or_else(|| ApiError::unauthorized("use Authorization: Bearer <token>"))
}

/// A JSON body; malformed JSON, unknown fields and wrong types are 400,
/// a body over the limit 413, a missing content type 415.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            ApiError::bad_request(format!("invalid request body: {}", error.body_text())).with_code("invalid_body")
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("the request body is not valid JSON").with_code("malformed_json")
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is over 1 MiB")
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// A path parameter; one that cannot be decoded is 400 in the JSON error shape.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => {
                Err(ApiError::bad_request(format!("invalid path: {}", rejection.body_text())).with_code("invalid_path"))
            }
        }
    }
}

/// Query parameters; a bad one is 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("invalid query parameters: {}", rejection.body_text())).with_code("invalid_query")
}

impl ApiError {
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

/// A `multipart/form-data` body; any other content type is 415.
pub struct ApiMultipart(pub axum::extract::Multipart);

impl FromRequest<AppState> for ApiMultipart {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_multipart = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !is_multipart {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the file as multipart/form-data",
            ));
        }
        axum::extract::Multipart::from_request(request, state).await.map(Self).map_err(|rejection| {
            ApiError::bad_request(format!("the multipart body is malformed: {}", rejection.body_text()))
                .with_code("invalid_body")
        })
    }
}
