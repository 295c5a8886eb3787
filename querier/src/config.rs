//! The querier's configuration block.

use std::time::Duration;

use serde::Deserialize;

use crate::promql::EngineOptions;

/// Querier settings (`querier:` in the main config).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuerierConfig {
    /// How far back an instant selector looks for the latest sample.
    #[serde(with = "humantime_serde")]
    pub lookback_delta: Duration,
    /// Most samples one query may hold in memory at once.
    pub max_samples: usize,
    /// Longest a query may run; a request's `timeout` may only lower it.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Subquery resolution when a subquery names none (`[1h:]`).
    #[serde(with = "humantime_serde")]
    pub default_evaluation_interval: Duration,
    /// How blocks are read from object storage (caches, fetch concurrency).
    pub blocks: crate::store::BlockStoreConfig,
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
