//! Why an OTLP export was refused whole, and the one mapping from that to
//! HTTP status codes and gRPC codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::discard::DiscardReason;
use common::push::PushError;
use common::tenant::{TenantError, TenantId};

use crate::otlp::OtlpError;

/// A refused export: nothing of it was accepted.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No usable tenant: missing (401) or invalid (400).
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// The body could not be decoded (400, 413 or 415).
    #[error(transparent)]
    Decode(#[from] OtlpError),
    /// The tenant is over its byte rate (429).
    #[error(
        "{}: tenant {:?} exceeded its ingestion rate limit ({limit_names}) of {rate} bytes/s \
         with burst {burst} bytes while adding {bytes} bytes; raise {limit_names} in the runtime overrides",
        DiscardReason::RateLimited, tenant.as_str()
    )]
    RateLimited {
        /// The tenant.
        tenant: TenantId,
        /// The overrides keys to raise.
        limit_names: &'static str,
        /// Its rate, bytes/s.
        rate: u64,
        /// Its burst, bytes.
        burst: u64,
        /// The refused request's size.
        bytes: usize,
    },
    /// Every item was refused as invalid (400); the message lists why.
    #[error("{0}")]
    Invalid(String),
    /// Every item was refused by a limit (429); the message lists which.
    #[error("{0}")]
    Limited(String),
    /// The ingesters failed; nothing was acknowledged (503 or 500).
    #[error(transparent)]
    Push(#[from] PushError),
}

impl ExportError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Tenant(TenantError::Missing) => StatusCode::UNAUTHORIZED,
            Self::Tenant(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Decode(e) => e.status(),
            Self::RateLimited { .. } | Self::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Push(PushError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Push(PushError::Wal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status of the refusal (from the HTTP one, as OTLP maps them).
    pub fn grpc_status(&self) -> tonic::Status {
        grpc_status(self.status(), self.to_string())
    }
}

/// The OTLP mapping between HTTP statuses and gRPC codes, shared with the
/// gRPC authentication check.
pub(crate) fn grpc_status(status: StatusCode, message: String) -> tonic::Status {
    let code = match status {
        StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        StatusCode::TOO_MANY_REQUESTS => tonic::Code::ResourceExhausted,
        StatusCode::PAYLOAD_TOO_LARGE => tonic::Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        s if s.is_client_error() => tonic::Code::InvalidArgument,
        _ => tonic::Code::Internal,
    };
    tonic::Status::new(code, message)
}

impl IntoResponse for ExportError {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}
