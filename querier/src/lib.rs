//! Cairn's querier: the PromQL engine ([`promql`]) and the Prometheus query
//! HTTP API ([`api`]) over any [`common::series::SeriesStore`].

pub mod api;
mod config;
pub mod promql;

pub use api::Querier;
pub use config::QuerierConfig;
