//! The Prometheus HTTP query API (`/prometheus/api/v1/…`) and Tempo's
//! (`/api/traces`, `/api/search`, in `tempo`): [`Querier`] wires the
//! engines and the stores to thin axum handlers.

mod error;
mod exemplars;
mod handlers;
mod json;
mod loki;
mod metadata;
mod metric_metadata;
pub(crate) mod params;
mod stats;
mod tempo;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use common::exemplar::ExemplarSource;
use common::limits::Overrides;
use common::logs::LogStore;
use common::metadata::MetadataSource;
use common::series::SeriesStore;
use common::traces::TraceStore;

pub use error::ApiError;

use crate::config::QuerierConfig;
use crate::frontend::Frontend;
use crate::promql::Engine;

/// Most points a range query may return per series (Prometheus's limit).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The query service: PromQL engine plus the metadata endpoints.
pub struct Querier {
    cfg: QuerierConfig,
    frontend: Frontend,
    store: Arc<dyn SeriesStore>,
    overrides: Arc<Overrides>,
    multitenancy: bool,
    /// Where `/metadata` reads from; none answers an empty result.
    metadata: Option<Arc<dyn MetadataSource>>,
    /// Where `/query_exemplars` reads from; none answers an empty result.
    exemplars: Option<Arc<dyn ExemplarSource>>,
    /// Where the Loki API (`/loki/api/v1/…`) reads logs from; none leaves
    /// those routes out.
    log_store: Option<Arc<dyn LogStore>>,
    /// Where the Tempo API reads traces from; none answers 501.
    trace_store: Option<Arc<dyn TraceStore>>,
}

impl Querier {
    /// A querier over `store`, enforcing `overrides`; with `multitenancy`
    /// off every request acts as the `anonymous` tenant.
    pub fn new(
        cfg: QuerierConfig,
        store: Arc<dyn SeriesStore>,
        overrides: Arc<Overrides>,
        multitenancy: bool,
    ) -> Self {
        let engine = Arc::new(Engine::new(
            store.clone(),
            Arc::clone(&overrides),
            cfg.engine_options(),
        ));
        let frontend = Frontend::new(engine, Arc::clone(&overrides), &cfg);
        Self {
            cfg,
            frontend,
            store,
            overrides,
            multitenancy,
            metadata: None,
            exemplars: None,
            log_store: None,
            trace_store: None,
        }
    }

    /// Answers `/api/v1/metadata` from `source` (e.g. the ingesters).
    pub fn with_metadata_source(mut self, source: Arc<dyn MetadataSource>) -> Self {
        self.metadata = Some(source);
        self
    }

    /// Answers `/api/v1/query_exemplars` from `source` (e.g. the ingesters).
    pub fn with_exemplar_source(mut self, source: Arc<dyn ExemplarSource>) -> Self {
        self.exemplars = Some(source);
        self
    }

    /// Serves LogQL and the Loki query API from `store` (e.g. ingesters
    /// merged with blocks).
    pub fn with_log_store(mut self, store: Arc<dyn LogStore>) -> Self {
        self.log_store = Some(store);
        self
    }

    /// Answers the Tempo API (`/api/traces`, `/api/search`, …) from `store`.
    pub fn with_trace_store(mut self, store: Arc<dyn TraceStore>) -> Self {
        self.trace_store = Some(store);
        self
    }

    /// The PromQL engine (e.g. for rule evaluation).
    pub fn engine(&self) -> &Engine {
        self.frontend.engine()
    }

    /// The query frontend (splitting, results cache, fair queue) that
    /// `query` and `query_range` go through.
    pub fn frontend(&self) -> &Frontend {
        &self.frontend
    }

    /// The query API routes, at absolute paths: Prometheus's
    /// (`/prometheus/api/v1/query`, …, each answering GET and POST with a
    /// form body), Tempo's (`/api/traces/{id}`, `/api/search`, …) and the
    /// Loki API (`/loki/api/v1/…`) when a log store is set.
    pub fn router(self: Arc<Self>) -> Router {
        let loki = loki::router(Arc::clone(&self));
        let tempo = tempo::router(Arc::clone(&self));
        Router::new()
            .route(
                "/prometheus/api/v1/query",
                get(handlers::query).post(handlers::query),
            )
            .route(
                "/prometheus/api/v1/query_range",
                get(handlers::query_range).post(handlers::query_range),
            )
            .route(
                "/prometheus/api/v1/series",
                get(handlers::series).post(handlers::series),
            )
            .route(
                "/prometheus/api/v1/labels",
                get(handlers::labels).post(handlers::labels),
            )
            .route(
                "/prometheus/api/v1/label/{name}/values",
                get(handlers::label_values).post(handlers::label_values),
            )
            .route(
                "/prometheus/api/v1/metadata",
                get(handlers::metadata).post(handlers::metadata),
            )
            .route(
                "/prometheus/api/v1/query_exemplars",
                get(handlers::query_exemplars).post(handlers::query_exemplars),
            )
            .route(
                "/prometheus/api/v1/format_query",
                get(handlers::format_query).post(handlers::format_query),
            )
            .route(
                "/prometheus/api/v1/status/buildinfo",
                get(handlers::build_info),
            )
            .with_state(self)
            .merge(loki)
            .merge(tempo)
    }
}
