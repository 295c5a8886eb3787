//! Every way a query API request fails, and the one place that maps each to
//! Prometheus's `errorType` and HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::series::StoreError;
use common::tenant::TenantError;

use super::json;
use crate::frontend::FrontendError;
use crate::promql::QueryError;

/// The status Prometheus (and nginx) answer a request whose client went
/// away with; nobody normally reads it.
const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(s) => s,
    Err(_) => StatusCode::BAD_REQUEST,
};

/// Why a query API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable tenant in the request.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// A request parameter is missing or malformed.
    #[error("invalid parameter {name:?}: {reason}")]
    BadParam {
        /// The parameter, e.g. `start`.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The request as a whole is not acceptable (e.g. too many points).
    #[error("{0}")]
    BadData(String),
    /// The query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The store failed while answering a metadata request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The query frontend refused the query (a query limit, a full queue).
    #[error(transparent)]
    Frontend(FrontendError),
}

impl From<FrontendError> for ApiError {
    fn from(e: FrontendError) -> Self {
        match e {
            FrontendError::Query(q) => ApiError::Query(q),
            other => ApiError::Frontend(other),
        }
    }
}

impl ApiError {
    /// Prometheus's `errorType` and the HTTP status for this error.
    fn classify(&self) -> (StatusCode, &'static str) {
        const BAD_DATA: (StatusCode, &str) = (StatusCode::BAD_REQUEST, "bad_data");
        const EXECUTION: (StatusCode, &str) = (StatusCode::UNPROCESSABLE_ENTITY, "execution");
        const INTERNAL: (StatusCode, &str) = (StatusCode::INTERNAL_SERVER_ERROR, "internal");
        match self {
            ApiError::Tenant(TenantError::Missing) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Tenant(_) | ApiError::BadParam { .. } | ApiError::BadData(_) => BAD_DATA,
            ApiError::Query(QueryError::Parse(_) | QueryError::BadQuery(_)) => BAD_DATA,
            ApiError::Query(QueryError::Execution(_) | QueryError::TooManySamples { .. }) => {
                EXECUTION
            }
            ApiError::Query(QueryError::Timeout) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            // Prometheus's answer to a request its client gave up on.
            ApiError::Query(QueryError::Cancelled) => (CLIENT_CLOSED_REQUEST, "canceled"),
            ApiError::Frontend(FrontendError::QueryTooLong { .. }) => EXECUTION,
            ApiError::Frontend(FrontendError::TooManyOutstanding { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, "unavailable")
            }
            // `From` unwraps engine errors into `ApiError::Query`.
            ApiError::Frontend(FrontendError::Query(_)) => INTERNAL,
            ApiError::Query(QueryError::Store(e)) | ApiError::Store(e) => match e {
                StoreError::TooManySeries { .. } | StoreError::TooManyChunkBytes { .. } => {
                    EXECUTION
                }
                StoreError::Unavailable(_) | StoreError::StoreUnavailable(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
                _ => INTERNAL,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.classify();
        if let ApiError::Tenant(e) = &self {
            // Tenancy errors come from the gateway layer: plain text, like Mimir.
            return (status, e.to_string()).into_response();
        }
        let message = match &self {
            ApiError::Query(QueryError::Parse(msg)) => {
                format!("invalid parameter \"query\": {msg}")
            }
            other => other.to_string(),
        };
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json::error(error_type, &message),
        )
            .into_response()
    }
}
