//! Tempo's query HTTP API (`/api/traces/<id>`, `/api/search`, tag listings,
//! `/api/metrics/query_range`, `/api/metrics/query`, `/api/echo`,
//! `/api/status/buildinfo`) so Grafana's Tempo data source works against Cairn.

mod error;
mod handlers;
mod metrics;
mod metrics_json;
mod metrics_proto;
mod search_json;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::Querier;

/// The Tempo API routes at absolute paths.
pub(super) fn router(querier: Arc<Querier>) -> Router {
    Router::new()
        .route("/api/traces/{id}", get(handlers::trace_v1))
        .route("/api/v2/traces/{id}", get(handlers::trace_v2))
        .route("/api/search", get(handlers::search))
        .route("/api/search/tags", get(handlers::tags_v1))
        .route("/api/v2/search/tags", get(handlers::tags_v2))
        .route("/api/search/tag/{tag}/values", get(handlers::tag_values_v1))
        .route(
            "/api/v2/search/tag/{tag}/values",
            get(handlers::tag_values_v2),
        )
        .route("/api/metrics/query_range", get(metrics::query_range))
        .route("/api/metrics/query", get(metrics::query_instant))
        .route("/api/echo", get(handlers::echo))
        .route("/api/status/buildinfo", get(handlers::build_info))
        .with_state(querier)
}
