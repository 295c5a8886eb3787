//! The compactor's admin endpoint and its one error-to-status mapping.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::{Compactor, CompactorError};

/// `POST /compactor/run`: a full pass now; the answer is its report.
pub(crate) fn router(compactor: Arc<Compactor>) -> axum::Router {
    axum::Router::new()
        .route("/compactor/run", post(run))
        .with_state(compactor)
}

async fn run(State(compactor): State<Arc<Compactor>>) -> Result<impl IntoResponse, CompactorError> {
    Ok(Json(compactor.run_once().await?))
}

impl IntoResponse for CompactorError {
    fn into_response(self) -> Response {
        // Every failure is the server's (storage, damaged blocks): 500.
        (StatusCode::INTERNAL_SERVER_ERROR, format!("{self}\n")).into_response()
    }
}
