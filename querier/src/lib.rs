//! Cairn's querier: the PromQL engine ([`promql`]) and the Prometheus query
//! HTTP API ([`api`]) over any [`common::series::SeriesStore`], the query
//! frontend between them ([`frontend`]: splitting, results cache, fair
//! queue, query limits), plus the stores it reads from ([`store`]); and
//! TraceQL ([`traceql`]) behind Tempo's query API; log patterns (Drain)
//! behind Loki's.

pub mod api;
mod config;
pub mod frontend;
mod log_patterns;
pub mod logql;
pub mod promql;
pub mod store;
pub mod traceql;

pub use api::Querier;
pub use config::{QuerierConfig, ResultsCacheConfig};
