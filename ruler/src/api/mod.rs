//! The ruler's HTTP APIs: the Mimir/Cortex rule configuration API
//! (`/prometheus/config/v1/rules…`) and Loki's (`/loki/api/v1/rules…`) in
//! [`config`], YAML in and out; and Prometheus's read API
//! (`/prometheus/api/v1/rules`, `/prometheus/api/v1/alerts`,
//! `/loki/api/v1/alerts`) in [`read`], JSON.

mod config;
mod error;
mod read;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use error::RulerApiError;

use crate::Ruler;
use crate::rules::Language;

/// A handler's view: the ruler and which language the route serves.
#[derive(Clone)]
struct Api {
    ruler: Arc<Ruler>,
    lang: Language,
}

/// Every ruler route, at absolute paths.
pub(crate) fn router(ruler: Arc<Ruler>) -> Router {
    let config_routes = |prefix: &str, lang: Language| {
        Router::new()
            .route(prefix, get(config::list_all))
            .route(
                &format!("{prefix}/{{namespace}}"),
                get(config::list_namespace)
                    .post(config::set_group)
                    .delete(config::delete_namespace),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{group}}"),
                get(config::get_group).delete(config::delete_group),
            )
            .with_state(Api {
                ruler: Arc::clone(&ruler),
                lang,
            })
    };
    let read_routes = Router::new()
        .route("/prometheus/api/v1/rules", get(read::rules))
        .route("/prometheus/api/v1/alerts", get(read::alerts))
        .with_state(Arc::clone(&ruler));
    let loki_alerts = Router::new()
        .route("/loki/api/v1/alerts", get(read::loki_alerts))
        .with_state(Arc::clone(&ruler));
    Router::new()
        .merge(config_routes(
            "/prometheus/config/v1/rules",
            Language::Promql,
        ))
        .merge(config_routes("/loki/api/v1/rules", Language::Logql))
        .merge(read_routes)
        .merge(loki_alerts)
}
