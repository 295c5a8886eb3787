//! The Loki query API (`/loki/api/v1/…`) over the querier's log store, so
//! Grafana's Loki data source, `logcli` and Loki clients work unchanged.

mod detected;
mod drilldown;
mod error;
mod handlers;
mod json;
pub(in crate::api) mod limits;
pub(in crate::api) mod params;
mod patterns;
mod tail;
mod volume;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use common::logs::LogStore;

use super::Querier;
use crate::logql::LogqlEngine;

/// What the Loki handlers share: the querier (tenancy, limits, timeout),
/// its log store and a LogQL engine over it.
pub(crate) struct LokiState {
    querier: Arc<Querier>,
    store: Arc<dyn LogStore>,
    engine: LogqlEngine,
}

/// The Loki routes, or none when the querier has no log store.
pub(crate) fn router(querier: Arc<Querier>) -> Router {
    let Some(store) = querier.log_store.clone() else {
        return Router::new();
    };
    let state = Arc::new(LokiState {
        engine: LogqlEngine::new(Arc::clone(&store)),
        store,
        querier,
    });
    Router::new()
        .route(
            "/loki/api/v1/query",
            get(handlers::query).post(handlers::query),
        )
        .route(
            "/loki/api/v1/query_range",
            get(handlers::query_range).post(handlers::query_range),
        )
        .route(
            "/loki/api/v1/labels",
            get(handlers::labels).post(handlers::labels),
        )
        .route(
            "/loki/api/v1/label/{name}/values",
            get(handlers::label_values).post(handlers::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(handlers::series).post(handlers::series),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(handlers::index_stats).post(handlers::index_stats),
        )
        .route(
            "/loki/api/v1/format_query",
            get(handlers::format_query).post(handlers::format_query),
        )
        .route("/loki/api/v1/tail", get(tail::tail))
        // Logs Drilldown's detected labels and fields (issue 21).
        .route(
            "/loki/api/v1/detected_labels",
            get(detected::detected_labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(detected::detected_fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(detected::detected_field_values),
        )
        // Logs Drilldown: build info, the limits it adapts to, volumes, patterns.
        .route("/loki/api/v1/status/buildinfo", get(drilldown::build_info))
        .route(
            "/loki/api/v1/drilldown-limits",
            get(drilldown::drilldown_limits),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(volume::index_volume).post(volume::index_volume),
        )
        .route(
            "/loki/api/v1/patterns",
            get(patterns::patterns).post(patterns::patterns),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(volume::index_volume_range).post(volume::index_volume_range),
        )
        .with_state(state)
}
