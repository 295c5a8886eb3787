//! The querier's integration tests: Prometheus's own PromQL conformance
//! scripts run against the engine, the HTTP API over a real socket, and the
//! query frontend (splitting, caching, fairness, limits), TraceQL cases
//! and the Tempo API.

mod api;
mod api_parity;
mod conformance;
mod frontend;
mod hostile_queries;
mod logql;
mod loki_api;
mod support;
mod tempo_api;
mod trace_store;
mod trace_support;
mod traceql;
mod traceql_metrics;
