//! Cairn's querier: the PromQL engine ([`promql`]) and the Prometheus query
//! HTTP API ([`api`]) over any [`common::series::SeriesStore`], plus the
//! stores it reads from ([`store`]).

pub mod api;
mod config;
pub mod promql;
pub mod store;

pub use api::Querier;
pub use config::QuerierConfig;
