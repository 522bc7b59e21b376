//! API errors: `{"error": {"code", "message", "details"}}` with the right
//! status. Internal causes are logged, never sent: a response never carries
//! a database message, a stack or a secret.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::db::DbError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `not_found`, `validation_failed`, `conflict`, …
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// A failure whose cause must not reach the client.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "{context}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{context}; see the server log"))
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Conflict(message) => Self::conflict("conflict", message),
            DbError::NotFound(message) => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            other => Self::internal("database error", other),
        }
    }
}

/// The one mapping of the core's errors to HTTP.
impl From<crate::core::Error> for ApiError {
    fn from(error: crate::core::Error) -> Self {
        use crate::core::Error as E;
        let code = error.code();
        let message = error.to_string();
        match error {
            E::NotFound(_) => Self::new(StatusCode::NOT_FOUND, code, message),
            E::Conflict { .. } => Self::new(StatusCode::CONFLICT, code, message),
            E::Invalid { field, message: reason } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
                .with_details(serde_json::json!({ "fields": [{ "field": field, "message": reason }] })),
            E::Rejected { details, .. } => {
                let error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
                Self { details, ..error }
            }
            E::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, code, message),
            E::Unavailable { details, .. } => {
                let error = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
                Self { details, ..error }
            }
            E::TooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message),
            E::Source(error) => {
                use crate::model::ErrorKind as K;
                let status = match error.kind {
                    K::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    K::Unreachable | K::Auth | K::Internal => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                Self::new(status, code, message)
                    .with_details(serde_json::json!({ "kind": error.kind.as_str(), "retryable": error.retryable }))
            }
            // The cause was logged where it happened.
            E::Internal { .. } => Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_owned(), message: self.message, details: self.details },
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
