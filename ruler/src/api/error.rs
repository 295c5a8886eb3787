//! Every way a ruler API request fails, and the one place that maps each to
//! an HTTP status and Prometheus's `errorType`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::tenant::TenantError;

use crate::rules::ValidationError;
use crate::store::RuleStoreError;

/// Why a ruler API request failed.
#[derive(Debug, thiserror::Error)]
pub enum RulerApiError {
    /// No usable tenant in the request.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// The uploaded group is not valid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Storing the group would exceed the tenant's group limit.
    #[error(
        "per-tenant rule groups limit ruler_max_rule_groups_per_tenant ({limit}) exceeded: the tenant has {current} groups"
    )]
    TooManyGroups {
        /// The limit.
        limit: usize,
        /// Groups the tenant has now.
        current: usize,
    },
    /// A request parameter or body is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The namespace or group does not exist.
    #[error("{0}")]
    NotFound(&'static str),
    /// The rule store failed.
    #[error(transparent)]
    Store(#[from] RuleStoreError),
    /// A response could not be encoded.
    #[error("encoding the response: {0}")]
    Encode(String),
}

impl RulerApiError {
    fn classify(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Tenant(TenantError::Missing) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Tenant(_)
            | Self::Invalid(_)
            | Self::TooManyGroups { .. }
            | Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Store(_) | Self::Encode(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for RulerApiError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.classify();
        if status.is_server_error() {
            tracing::error!(error = %self, "ruler API request failed");
        }
        let body = serde_json::json!({
            "status": "error",
            "errorType": error_type,
            "error": self.to_string(),
        });
        (status, axum::Json(body)).into_response()
    }
}
