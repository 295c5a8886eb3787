//! The frontend's state on `/metrics`: queue length, running executions and
//! the results cache, read from the live structures at scrape time (no
//! second set of counters to keep in step).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::cache::ResultsCache;
use super::queue::FairQueue;

/// Queries (PromQL, LogQL, TraceQL) whose evaluation stopped early because
/// nobody waited for the answer any more: process-wide, since the engines
/// count it where they notice, far from any registry.
static CANCELLED_QUERIES: AtomicU64 = AtomicU64::new(0);

/// Counts one query abandoned by its client (or its timeout) whose
/// evaluation stopped early.
pub(crate) fn count_cancelled_query() {
    CANCELLED_QUERIES.fetch_add(1, Ordering::Relaxed);
}

/// Log lines a `/loki/api/v1/patterns` request read but did not cluster
/// because the tenant's `max_pattern_lines_per_query` was reached:
/// process-wide, like [`CANCELLED_QUERIES`].
static PATTERN_LINES_LEFT_OUT: AtomicU64 = AtomicU64::new(0);

/// Counts `n` lines left out of a patterns request by its line budget, so
/// an operator sees when to raise `max_pattern_lines_per_query`.
pub(crate) fn count_pattern_lines_left_out(n: u64) {
    PATTERN_LINES_LEFT_OUT.fetch_add(n, Ordering::Relaxed);
}

/// Encodes the frontend's queue and cache figures on each scrape.
pub(crate) struct FrontendCollector {
    pub(crate) queue: Arc<FairQueue>,
    pub(crate) cache: Arc<ResultsCache>,
}

impl std::fmt::Debug for FrontendCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrontendCollector")
    }
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let metric = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    metric.encode(enc.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let metric = ConstCounter::new(v);
    metric.encode(enc.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for FrontendCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let (running, queued) = self.queue.load();
        let cache = self.cache.stats();
        gauge(
            &mut enc,
            "cairn_query_frontend_queue_length",
            "Query executions waiting for a slot in the fair queue",
            queued as u64,
        )?;
        gauge(
            &mut enc,
            "cairn_query_frontend_executions_running",
            "Query executions holding a slot",
            running as u64,
        )?;
        counter(
            &mut enc,
            "cairn_query_frontend_results_cache_hits",
            "Query splits answered from the results cache",
            cache.hits,
        )?;
        counter(
            &mut enc,
            "cairn_query_frontend_results_cache_misses",
            "Cacheable query splits that had to be evaluated",
            cache.misses,
        )?;
        gauge(
            &mut enc,
            "cairn_query_frontend_results_cache_entries",
            "Query splits held in the results cache",
            cache.entries as u64,
        )?;
        counter(
            &mut enc,
            "cairn_query_cancelled",
            "Query evaluations stopped early because the client went away or the query timed out",
            CANCELLED_QUERIES.load(Ordering::Relaxed),
        )?;
        counter(
            &mut enc,
            "cairn_query_pattern_lines_left_out",
            "Log lines read for /loki/api/v1/patterns but not clustered because the tenant's max_pattern_lines_per_query was reached",
            PATTERN_LINES_LEFT_OUT.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut enc,
            "cairn_query_frontend_results_cache_bytes",
            "Estimated bytes held in the results cache",
            cache.bytes as u64,
        )
    }
}
