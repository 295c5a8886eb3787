//! Every way a Tempo API request fails, and the one place that maps each to
//! an HTTP status. Tempo answers errors as plain text.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::series::StoreError;
use common::tenant::TenantError;

use crate::traceql::ParseError;

/// Why a Tempo API request failed.
#[derive(Debug, thiserror::Error)]
pub enum TempoError {
    /// No usable tenant in the request.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// A request parameter is malformed.
    #[error("invalid parameter {name:?}: {reason}")]
    BadParam {
        /// The parameter, e.g. `limit`.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The trace ID is not hex of at most 32 digits.
    #[error("invalid trace id {0:?}: expected up to 32 hex digits")]
    BadTraceId(String),
    /// `q` (or `tags`) does not parse.
    #[error("invalid TraceQL query: {0}")]
    Query(#[from] ParseError),
    /// No span of the trace is stored for the request's tenants.
    #[error("trace not found")]
    NotFound,
    /// No trace store is configured (traces are disabled).
    #[error("traces are not enabled on this querier")]
    NoStore,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The query ran longer than the querier's `timeout`.
    #[error(
        "query timed out after {0:?} (err-cairn-traceql-timeout: narrow the spanset filter or the time range, or raise querier.timeout)"
    )]
    Timeout(std::time::Duration),
}

impl TempoError {
    fn status(&self) -> StatusCode {
        match self {
            TempoError::Tenant(TenantError::Missing) => StatusCode::UNAUTHORIZED,
            TempoError::Tenant(_)
            | TempoError::BadParam { .. }
            | TempoError::BadTraceId(_)
            | TempoError::Query(_) => StatusCode::BAD_REQUEST,
            TempoError::NotFound => StatusCode::NOT_FOUND,
            TempoError::NoStore => StatusCode::NOT_IMPLEMENTED,
            TempoError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            TempoError::Store(StoreError::Unavailable(_) | StoreError::StoreUnavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            TempoError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for TempoError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "tempo API request failed");
        }
        (status, self.to_string()).into_response()
    }
}
