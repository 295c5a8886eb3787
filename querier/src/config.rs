//! The querier's configuration block.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::promql::EngineOptions;

/// Querier settings (`querier:` in the main config).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// How far back an instant selector looks for the latest sample.
    #[serde(with = "humantime_serde")]
    pub lookback_delta: Duration,
    /// Most samples one query may hold in memory at once.
    pub max_samples: usize,
    /// Longest a query may run, queueing included; a request's `timeout` may
    /// only lower it.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Subquery resolution when a subquery names none (`[1h:]`).
    #[serde(with = "humantime_serde")]
    pub default_evaluation_interval: Duration,
    /// How blocks are read from object storage (caches, fetch concurrency).
    pub blocks: crate::store::BlockStoreConfig,
    /// Most query executions (instant queries, or parts of split range
    /// queries) running at once in this process; the rest wait in the
    /// per-tenant fair queue. Zero is treated as one.
    /// Defaults to the CPU count plus one: more executions than cores only
    /// time-slice the same CPUs, and every extra runnable thread adds to
    /// the scheduling delay of another tenant's light query.
    pub max_concurrent: usize,
    /// Of the `max_concurrent` slots, this many only go to tenant sets with
    /// nothing running, so a tenant arriving while another keeps the querier
    /// busy starts at once instead of waiting for a heavy execution to end.
    /// At most `max_concurrent - 1` take effect.
    pub reserved_concurrent_for_idle_tenants: usize,
    /// Most executions one tenant (set) may have waiting; beyond it, 429.
    pub max_outstanding_requests_per_tenant: usize,
    /// Range queries are split into parts at multiples of this interval
    /// (UTC-aligned); zero disables splitting.
    #[serde(with = "humantime_serde")]
    pub split_queries_by_interval: Duration,
    /// The in-memory cache of finished range-query parts.
    pub results_cache: ResultsCacheConfig,
}

/// `querier.results_cache:` — finished split results kept in memory.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResultsCacheConfig {
    /// Most (estimated) bytes of results held; least recently used go first.
    /// Zero disables the cache.
    pub max_size_bytes: usize,
    /// Parts ending less than this long ago are never cached: their data may
    /// still be arriving.
    #[serde(with = "humantime_serde")]
    pub max_freshness: Duration,
}

impl Default for ResultsCacheConfig {
    fn default() -> Self {
        Self {
            max_size_bytes: 100 << 20,
            max_freshness: Duration::from_secs(600),
        }
    }
}

impl Default for QuerierConfig {
    fn default() -> Self {
        let e = EngineOptions::default();
        Self {
            lookback_delta: e.lookback_delta,
            max_samples: e.max_samples,
            timeout: e.timeout,
            default_evaluation_interval: e.default_subquery_step,
            blocks: Default::default(),
            max_concurrent: default_max_concurrent(),
            reserved_concurrent_for_idle_tenants: 1,
            max_outstanding_requests_per_tenant: 100,
            split_queries_by_interval: Duration::from_secs(24 * 3600),
            results_cache: ResultsCacheConfig::default(),
        }
    }
}

impl QuerierConfig {
    /// The engine options this config describes.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            lookback_delta: self.lookback_delta,
            max_samples: self.max_samples,
            default_subquery_step: self.default_evaluation_interval,
            timeout: self.timeout,
        }
    }
}

/// Query executions the machine runs without time-slicing: one per CPU,
/// plus one so a query waiting on storage does not idle a core.
fn default_max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
}
