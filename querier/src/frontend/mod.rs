//! The query frontend: what stands between the HTTP API and the PromQL
//! engine so that many tenants' queries hold up under load.
//!
//! - **Limits first.** A range longer than the tenant's `max_query_length` is
//!   refused with 422 before anything runs.
//! - **Splitting.** Range queries are cut at `split_queries_by_interval`
//!   boundaries (UTC-aligned, on the query's own evaluation times, so the
//!   merged result equals the unsplit one); the parts run concurrently, at
//!   most the tenant's `max_query_parallelism` at a time. Instant queries run
//!   whole.
//! - **Results cache.** Parts that end before `now - max_freshness` are
//!   cached in memory (LRU, bounded by `results_cache.max_size_bytes`), keyed
//!   by tenant set, normalized query, part range and step.
//! - **Fair queue.** Every execution (a part, or an instant query) takes one of
//!   `max_concurrent` process-wide slots; waiting executions are served
//!   round-robin across tenant sets, `reserved_concurrent_for_idle_tenants`
//!   slots only go to tenant sets with nothing running, and a tenant set with
//!   `max_outstanding_requests_per_tenant` executions waiting gets 429.
//!   Executions run on their own threads (`pool.rs`), so heavy queries cannot
//!   keep the HTTP threads from reading new requests; so do merging and
//!   encoding a query's answer ([`Frontend::offload`]). A tenant set with
//!   more than one execution running or waiting gets the low CPU priority.

mod cache;
mod metrics;
mod pool;
mod queue;
mod split;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cpu_work::CancelFlag;
use common::limits::{Limits, Overrides};
use common::tenant::TenantId;
use common::time::now_ms;
use futures::{StreamExt, TryStreamExt};

pub use cache::CacheStats;
pub(crate) use metrics::{count_cancelled_query, count_pattern_lines_left_out};

use crate::config::QuerierConfig;
use crate::promql::{
    self, Annotations, Engine, QueryError, QueryRange, QueryResult, QueryValue, duration_ms,
};
use cache::{CachedMatrix, ResultsCache};
use pool::QueryPool;
use prometheus_client::registry::Registry;
use queue::FairQueue;
use split::{Part, Shape};

/// Why the frontend refused or failed a query.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The range query spans more than the tenant's `max_query_length`.
    #[error(
        "the query time range exceeds the limit (query length: {}, limit: {}); raise `max_query_length` for the tenant",
        prom_duration(*.length),
        prom_duration(*.limit)
    )]
    QueryTooLong {
        /// `end - start` of the request.
        length: Duration,
        /// The limit in force.
        limit: Duration,
    },
    /// The tenant already has the most queued executions allowed.
    #[error(
        "too many outstanding requests: the tenant already has {limit} queued (`max_outstanding_requests_per_tenant`); retry later"
    )]
    TooManyOutstanding {
        /// The bound in force.
        limit: usize,
    },
    /// The engine failed (parse error, `max_samples`, timeout, store, …).
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// A snapshot of the frontend's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontendStats {
    /// Results cache hits, misses and size.
    pub cache: CacheStats,
    /// Executions holding a slot now.
    pub running: usize,
    /// Executions waiting for a slot now.
    pub queued: usize,
}

/// Splits, caches, limits and fairly schedules queries for one [`Engine`].
pub struct Frontend {
    engine: Arc<Engine>,
    overrides: Arc<Overrides>,
    split_interval_ms: i64,
    max_freshness_ms: i64,
    cache: Arc<ResultsCache>,
    queue: Arc<FairQueue>,
    pool: QueryPool,
}

/// A query being answered: who asks, what, and by when. Shared by its
/// parts, which run on the query pool.
struct Job {
    tenants: Arc<[TenantId]>,
    /// The tenant set's queue and cache identity (`a|b`, as requested).
    tenants_key: String,
    query: Arc<str>,
    deadline: Instant,
}

/// The queue and cache identity of a tenant set: `a|b`, as requested.
fn tenants_key(tenants: &[TenantId]) -> String {
    tenants
        .iter()
        .map(TenantId::as_str)
        .collect::<Vec<_>>()
        .join("|")
}

impl Job {
    fn new(tenants: &[TenantId], query: &str, timeout: Duration) -> Self {
        let now = Instant::now();
        Self {
            tenants: tenants.into(),
            tenants_key: tenants_key(tenants),
            query: query.into(),
            // A timeout too large to add is as good as none.
            deadline: now
                .checked_add(timeout)
                .unwrap_or(now + Duration::from_secs(365 * 86_400)),
        }
    }
}

impl Frontend {
    /// A frontend in front of `engine`, configured by the querier's settings
    /// and the tenants' limits.
    pub fn new(engine: Arc<Engine>, overrides: Arc<Overrides>, cfg: &QuerierConfig) -> Self {
        Self {
            engine,
            overrides,
            split_interval_ms: duration_ms(cfg.split_queries_by_interval),
            max_freshness_ms: duration_ms(cfg.results_cache.max_freshness),
            cache: Arc::new(ResultsCache::new(cfg.results_cache.max_size_bytes)),
            queue: FairQueue::new(
                cfg.max_concurrent,
                cfg.reserved_concurrent_for_idle_tenants,
                cfg.max_outstanding_requests_per_tenant,
            ),
            pool: QueryPool::new(cfg.max_concurrent),
        }
    }

    /// The engine queries run on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Cache, queue and concurrency counters.
    pub fn stats(&self) -> FrontendStats {
        let (running, queued) = self.queue.load();
        FrontendStats {
            cache: self.cache.stats(),
            running,
            queued,
        }
    }

    /// Registers the queue and cache figures for `/metrics`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(metrics::FrontendCollector {
            queue: Arc::clone(&self.queue),
            cache: Arc::clone(&self.cache),
        }));
    }

    /// Runs a whole request's work for `tenants` (waiting for its
    /// executions, merging their parts, encoding the answer) on the query
    /// pool, at the priority the tenant set's next execution would get. A
    /// tenant flooding the querier then also merges and encodes its large
    /// answers at low CPU priority instead of on the threads serving HTTP.
    pub async fn offload<T>(
        &self,
        tenants: &[TenantId],
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, FrontendError>
    where
        T: Send + 'static,
    {
        let priority = self.queue.priority_now(&tenants_key(tenants));
        Ok(self.pool.spawn(priority, work).join().await?)
    }

    /// An instant query at `t` (ms): queued fairly, never split or cached.
    pub async fn instant(
        &self,
        tenants: &[TenantId],
        query: &str,
        t: i64,
        timeout: Duration,
    ) -> Result<QueryResult, FrontendError> {
        let job = Job::new(tenants, query, timeout);
        within(timeout, self.execute(&job, QueryRange::Instant(t))).await
    }

    /// A range query over `start..=end` every `step` ms (the caller has
    /// validated `start <= end` and `step > 0`): length-checked, split,
    /// answered from the cache where possible, and merged.
    pub async fn range(
        &self,
        tenants: &[TenantId],
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        timeout: Duration,
    ) -> Result<QueryResult, FrontendError> {
        let limits: Vec<Arc<Limits>> = tenants.iter().map(|t| self.overrides.get(t)).collect();
        check_length(&limits, start, end)?;
        let expr = promql::parse(query)?;
        let shape = Shape::of(&expr);
        let parts = if shape.splittable {
            split::split_range(start, end, step, self.split_interval_ms)
        } else {
            vec![Part { start, end }]
        };
        let normalized = expr.to_string();
        let job = Job::new(tenants, query, timeout);
        let fresh_after = now_ms().saturating_sub(self.max_freshness_ms);
        let parallelism = limits
            .iter()
            .map(|l| l.max_query_parallelism)
            .filter(|&p| p > 0)
            .min()
            .unwrap_or(1);
        let limit = self.engine.options().max_samples;
        let run = async {
            // Parts are counted as they arrive, so a result over `max_samples`
            // fails (and cancels the parts in flight) before it is all in memory.
            let results = futures::stream::iter(parts)
                .map(|part| {
                    let cache_key = (shape.cacheable
                        && self.cache.enabled()
                        && part.end < fresh_after)
                        .then(|| {
                            format!(
                                "{}\u{0}{normalized}\u{0}{}\u{0}{}\u{0}{step}",
                                job.tenants_key, part.start, part.end
                            )
                        });
                    self.part(&job, part, step, cache_key)
                })
                .buffered(parallelism)
                .try_fold(
                    (Vec::<CachedMatrix>::new(), Annotations::default(), 0usize),
                    |(mut results, mut annotations, samples), (m, a)| async move {
                        let samples = samples + m.iter().map(|s| s.sample_count()).sum::<usize>();
                        if samples > limit {
                            return Err(QueryError::TooManySamples { limit }.into());
                        }
                        results.push(m);
                        annotations.merge(&a);
                        Ok((results, annotations, samples))
                    },
                )
                .await?;
            let (results, annotations, _) = results;
            let merged = split::merge(results.iter().map(|m| m.as_slice()));
            Ok(QueryResult {
                value: QueryValue::Matrix(merged),
                annotations,
            })
        };
        within(timeout, run).await
    }

    /// One part of a range query and its annotations, from the cache if
    /// `cache_key` is given and present, else evaluated (and stored under
    /// `cache_key` when it raised no annotations, which the cache does not keep).
    async fn part(
        &self,
        job: &Job,
        part: Part,
        step: i64,
        cache_key: Option<String>,
    ) -> Result<(CachedMatrix, Annotations), FrontendError> {
        if let Some(hit) = cache_key.as_deref().and_then(|k| self.cache.get(k)) {
            return Ok((hit, Annotations::default()));
        }
        let range = QueryRange::Range {
            start: part.start,
            end: part.end,
            step,
        };
        let result = self.execute(job, range).await?;
        let matrix = match result.value {
            QueryValue::Matrix(m) => Arc::new(m),
            other => {
                return Err(QueryError::Execution(format!(
                    "range query returned a {} instead of a matrix",
                    other.result_type()
                ))
                .into());
            }
        };
        if let Some(key) = cache_key.filter(|_| result.annotations.is_empty()) {
            self.cache.put(key, Arc::clone(&matrix));
        }
        Ok((matrix, result.annotations))
    }

    /// Runs one evaluation once the fair queue grants a slot.
    async fn execute(&self, job: &Job, range: QueryRange) -> Result<QueryResult, FrontendError> {
        let slot = self
            .queue
            .acquire(&job.tenants_key)
            .await
            .map_err(|full| FrontendError::TooManyOutstanding { limit: full.limit })?;
        let remaining = job.deadline.saturating_duration_since(Instant::now());
        let (engine, tenants, query) = (
            Arc::clone(&self.engine),
            Arc::clone(&job.tenants),
            Arc::clone(&job.query),
        );
        // The evaluation runs inline on a pool thread, where aborting its
        // task cannot stop it: when this future is dropped (the client went
        // away, the request timed out, a sibling part failed) the flag does.
        let cancel = CancelFlag::new();
        let _cancel_when_dropped = cancel.cancel_on_drop();
        let run = self.pool.spawn(slot.priority(), async move {
            engine
                .query_cancellable(&tenants, &query, range, remaining, cancel)
                .await
        });
        Ok(run.join().await??)
    }
}

/// Refuses a range longer than the smallest positive `max_query_length` of
/// the tenants.
fn check_length(limits: &[Arc<Limits>], start: i64, end: i64) -> Result<(), FrontendError> {
    let Some(limit) = limits
        .iter()
        .map(|l| l.max_query_length)
        .filter(|d| !d.is_zero())
        .min()
    else {
        return Ok(());
    };
    let length = Duration::from_millis(u64::try_from(end.saturating_sub(start)).unwrap_or(0));
    if length > limit {
        return Err(FrontendError::QueryTooLong { length, limit });
    }
    Ok(())
}

/// Runs `fut`, failing with [`QueryError::Timeout`] after `timeout`.
async fn within<T>(
    timeout: Duration,
    fut: impl Future<Output = Result<T, FrontendError>>,
) -> Result<T, FrontendError> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or(Err(FrontendError::Query(QueryError::Timeout)))
}

/// A duration the way Prometheus prints one: `31d`, `1h30m`, `0s`.
fn prom_duration(d: Duration) -> String {
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let n = ms / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            ms -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_prometheus() {
        assert_eq!(prom_duration(Duration::from_secs(31 * 86_400)), "4w3d");
        assert_eq!(prom_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(prom_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(prom_duration(Duration::ZERO), "0s");
    }
}
