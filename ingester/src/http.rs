//! The ingester's operational HTTP endpoints.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::ring::MemberState;

use crate::{Ingester, IngesterError};

/// `POST /ingester/flush`: cut and upload every tenant's head now;
/// `GET /ingester/ring` (the member descriptor the ring probes) and
/// `POST /ingester/shutdown` (leave: flush everything, then stop).
pub(crate) fn router(ingester: Arc<Ingester>) -> axum::Router {
    axum::Router::new()
        .route("/ingester/flush", post(flush))
        .route("/ingester/ring", get(descriptor))
        .route("/ingester/shutdown", post(shutdown))
        .with_state(ingester)
}

const NOT_STARTED: (StatusCode, &str) = (
    StatusCode::SERVICE_UNAVAILABLE,
    "the ingester is still starting\n",
);

async fn descriptor(State(ingester): State<Arc<Ingester>>) -> axum::response::Response {
    match ingester.membership() {
        Some(m) => Json(m.descriptor()).into_response(),
        None => NOT_STARTED.into_response(),
    }
}

/// Leaves the ring: LEAVING (no new writes, still queried), every head
/// flushed to object storage, then the process stops. Answers once the
/// flush is done, so a Kubernetes preStop hook can wait on it.
async fn shutdown(
    State(ingester): State<Arc<Ingester>>,
) -> Result<axum::response::Response, IngesterError> {
    let Some(m) = ingester.membership().cloned() else {
        return Ok(NOT_STARTED.into_response());
    };
    m.set_state(MemberState::Leaving);
    let blocks = ingester.flush().await?;
    m.leave();
    let ulids: Vec<String> = blocks.iter().map(|m| m.ulid.to_string()).collect();
    Ok(Json(serde_json::json!({ "uploaded_blocks": ulids })).into_response())
}

async fn flush(State(ingester): State<Arc<Ingester>>) -> Result<impl IntoResponse, IngesterError> {
    let blocks = ingester.flush().await?;
    let ulids: Vec<String> = blocks.iter().map(|m| m.ulid.to_string()).collect();
    Ok(Json(serde_json::json!({ "uploaded_blocks": ulids })))
}
