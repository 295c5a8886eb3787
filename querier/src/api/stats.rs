//! The `stats` parameter of `/query` and `/query_range`: Prometheus's
//! `timings` and `samples` blocks, measured around the engine through its
//! public API only.
//!
//! `totalQueryableSamples` counts the samples the engine fetched from the
//! store (a [`CountingStore`] wraps it for the one request); `peakSamples`
//! is the number of points in the result, the least the engine held at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::labels::Labels;
use common::series::{Matcher, Series, SeriesStore, StoreError};
use common::tenant::TenantId;

use crate::promql::QueryValue;

/// A store that counts the samples `select` returns.
pub(crate) struct CountingStore {
    inner: Arc<dyn SeriesStore>,
    samples: AtomicU64,
}

impl CountingStore {
    pub(crate) fn new(inner: Arc<dyn SeriesStore>) -> Self {
        Self {
            inner,
            samples: AtomicU64::new(0),
        }
    }

    /// Samples fetched so far.
    pub(crate) fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl SeriesStore for CountingStore {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let series = self.inner.select(tenant, matchers, mint, maxt).await?;
        let n: usize = series.iter().map(|s| s.sample_count()).sum();
        self.samples.fetch_add(n as u64, Ordering::Relaxed);
        Ok(series)
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        self.inner.series(tenant, matchers, mint, maxt).await
    }
}

/// What the `stats` block reports for one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueryStats {
    /// Time from receiving the request to having the result.
    pub exec_total: Duration,
    /// Time in the engine (fetch and evaluation).
    pub eval_total: Duration,
    /// Samples fetched from the store.
    pub total_queryable_samples: u64,
    /// Points in the result.
    pub peak_samples: u64,
}

/// Points (samples) in a query result.
pub(crate) fn result_points(value: &QueryValue) -> u64 {
    match value {
        QueryValue::Scalar { .. } | QueryValue::String { .. } => 1,
        QueryValue::Vector(v) => v.len() as u64,
        QueryValue::Matrix(m) => m.iter().map(|s| s.sample_count() as u64).sum(),
    }
}

impl QueryStats {
    /// The `"stats"` JSON object, in Prometheus's field order.
    pub(crate) fn to_json(self) -> String {
        let eval = self.eval_total.as_secs_f64();
        let exec = self.exec_total.as_secs_f64();
        let prep = (exec - eval).max(0.0);
        format!(
            "{{\"timings\":{{\"evalTotalTime\":{eval},\"resultSortTime\":0,\"queryPreparationTime\":{prep},\
             \"innerEvalTime\":{eval},\"execQueueTime\":0,\"execTotalTime\":{exec}}},\
             \"samples\":{{\"totalQueryableSamples\":{},\"peakSamples\":{}}}}}",
            self.total_queryable_samples, self.peak_samples
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_json_has_prometheus_fields() {
        let s = QueryStats {
            exec_total: Duration::from_millis(3),
            eval_total: Duration::from_millis(2),
            total_queryable_samples: 7,
            peak_samples: 2,
        };
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["samples"]["totalQueryableSamples"], 7);
        assert_eq!(v["samples"]["peakSamples"], 2);
        for k in [
            "evalTotalTime",
            "resultSortTime",
            "queryPreparationTime",
            "innerEvalTime",
            "execQueueTime",
            "execTotalTime",
        ] {
            assert!(v["timings"][k].is_number(), "{k}");
        }
    }
}
