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
    /// The WAL directory could not be created, listed or locked.
    #[error("WAL directory: {0}")]
    Io(String),
    /// Another process holds the WAL directory's lock.
    #[error(
        "err-cairn-wal-dir-locked: the WAL directory {} is in use by another Cairn process \
         (PID {}, per {}); two ingesters must never share ingester.wal_dir: stop the other \
         process, or give this one its own ingester.wal_dir",
        dir.display(),
        if holder.is_empty() { "unknown" } else { holder.as_str() },
        lock_file.display()
    )]
    Locked {
        /// The WAL directory.
        dir: std::path::PathBuf,
        /// What the lock file says: the holder's PID.
        holder: String,
        /// The lock file.
        lock_file: std::path::PathBuf,
    },
}

impl IntoResponse for IngesterError {
    fn into_response(self) -> Response {
        let status = match self {
            IngesterError::Upload(_) => StatusCode::SERVICE_UNAVAILABLE,
            IngesterError::Wal(_) | IngesterError::Io(_) | IngesterError::Locked { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, format!("{self}\n")).into_response()
    }
}
