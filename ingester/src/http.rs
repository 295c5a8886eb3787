//! The ingester's operational HTTP endpoints.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;

use crate::{Ingester, IngesterError};

/// `POST /ingester/flush`: cut and upload every tenant's head now.
pub(crate) fn router(ingester: Arc<Ingester>) -> axum::Router {
    axum::Router::new()
        .route("/ingester/flush", post(flush))
        .with_state(ingester)
}

async fn flush(State(ingester): State<Arc<Ingester>>) -> Result<impl IntoResponse, IngesterError> {
    let blocks = ingester.flush().await?;
    let ulids: Vec<String> = blocks.iter().map(|m| m.ulid.to_string()).collect();
    Ok(Json(serde_json::json!({ "uploaded_blocks": ulids })))
}
