//! Every way a Loki API request fails, and the one place that maps each to
//! an HTTP status. Bodies are plain text, as Loki writes them
//! (`parse error at line 1, col 12: …`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::series::StoreError;
use common::tenant::TenantError;

use crate::api::ApiError;
use crate::logql::LogqlError;

/// Why a Loki API request failed.
#[derive(Debug, thiserror::Error)]
pub enum LokiError {
    /// No usable tenant in the request.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// A parameter is missing or malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The query failed.
    #[error(transparent)]
    Query(#[from] LogqlError),
    /// The store failed on a label or series lookup.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ApiError> for LokiError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Tenant(t) => LokiError::Tenant(t),
            other => LokiError::BadRequest(other.to_string()),
        }
    }
}

impl LokiError {
    fn status(&self) -> StatusCode {
        match self {
            LokiError::Tenant(TenantError::Missing) => StatusCode::UNAUTHORIZED,
            LokiError::Tenant(_) | LokiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            LokiError::Query(
                LogqlError::Parse(_)
                | LogqlError::BadQuery(_)
                | LogqlError::Pipeline { .. }
                | LogqlError::Limit(_),
            ) => StatusCode::BAD_REQUEST,
            LokiError::Query(LogqlError::Timeout) => StatusCode::GATEWAY_TIMEOUT,
            LokiError::Query(LogqlError::Store(e)) | LokiError::Store(e) => match e {
                StoreError::TooManySeries { .. } | StoreError::TooManyChunkBytes { .. } => {
                    StatusCode::BAD_REQUEST
                }
                StoreError::Unavailable(_) | StoreError::StoreUnavailable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "loki api request failed");
        }
        (
            status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            format!("{self}\n"),
        )
            .into_response()
    }
}
