//! The ingester's errors and their HTTP mapping (one place).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What can go wrong in the ingester outside of per-sample rejections.
#[derive(Debug, thiserror::Error)]
pub enum IngesterError {
    /// The WAL could not be opened, replayed or written.
    #[error("write-ahead log: {0}")]
    Wal(String),
    /// A block could not be uploaded; its data stays in memory and the WAL.
    #[error("block upload: {0}")]
    Upload(String),
    /// The WAL directory could not be created or listed.
    #[error("reading WAL directory {0}")]
    Io(String),
}

impl IntoResponse for IngesterError {
    fn into_response(self) -> Response {
        let status = match self {
            IngesterError::Upload(_) => StatusCode::SERVICE_UNAVAILABLE,
            IngesterError::Wal(_) | IngesterError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("{self}\n")).into_response()
    }
}
