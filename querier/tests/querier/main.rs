//! The querier's integration tests: Prometheus's own PromQL conformance
//! scripts run against the engine, and the HTTP API over a real socket.

mod api;
mod api_parity;
mod conformance;
mod support;
