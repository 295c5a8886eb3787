//! The write path's front door: Prometheus remote write in, validated and
//! rate-limited series out to the ingesters; Loki push and OTLP logs
//! likewise through [`LogsDistributor`] ([`logs`]).
//!
//! A request flows through [`remote_write`] (snappy + protobuf decoding with
//! size limits; 2.0 requests through [`remote_write_v2`], which translates
//! them into 1.0's types), per-series validation against the tenant's limits, the
//! tenant's token bucket, and finally a [`common::push::MetricsPusher`].
//! Everything refused is counted in `cairn_discarded_samples_total` and
//! told to the client with its catalogued reason ([`DistributorError`]).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn run(pusher: Arc<dyn common::push::MetricsPusher>) {
//! use cairn_distributor::{Distributor, DistributorConfig};
//! use common::limits::{Limits, Overrides};
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let overrides = Arc::new(Overrides::new(Limits::default()));
//! let d = Distributor::new(DistributorConfig::default(), overrides, pusher, &mut registry, true);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9009").await.unwrap();
//! axum::serve(listener, Arc::new(d).router()).await.unwrap();
//! # }
//! ```

mod config;
pub mod decode_budget;
mod distributor;
mod error;
mod grpc_auth;
mod histogram;
mod http;
pub mod inflight;
pub mod logs;
mod metrics;
pub mod otlp;
pub mod otlp_grpc;
pub mod otlp_metrics;
mod rate_limit;
pub mod remote_write;
pub mod remote_write_v2;
mod replication;
pub mod traces;
mod validation;

pub use config::{ConfigError, DistributorConfig};
pub use decode_budget::{DecodeLimits, DecodedTooLarge};
pub use distributor::{Distributor, PushSummary};
pub use error::DistributorError;
pub use http::BodyError;
pub use inflight::{InflightBytes, InflightLimitExceeded};
pub use logs::{LogsDistributor, LogsError, LogsPushSummary};
pub use rate_limit::RateLimitExceeded;
pub use replication::Replicator;
