//! Reads a tenant's metrics blocks from object storage, efficiently.
//!
//! - Which blocks to read, and their open readers, come from the shared
//!   [`super::catalog`] (bucket index or listing, deletion marks, covered
//!   blocks, reader LRU, relisting when a block vanished).
//! - A select first plans every block from its index, enforces the tenant's
//!   `max_fetched_series_per_query` and `max_fetched_chunk_bytes_per_query`
//!   across blocks before any chunk is read, then fetches chunks with
//!   coalesced ranged GETs, at most [`BlockStoreConfig::fetch_concurrency`]
//!   in flight for the whole select, each retried on transient errors.
//!
//! Caveat of the list TTL: a block uploaded less than a TTL ago may not be
//! seen yet, so ingesters must keep serving uploaded data at least that long.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::block::{
    BlockMeta, BlockReader, DEFAULT_FETCH_CONCURRENCY, FetchOptions, RetryPolicy, SelectPlan,
    Signal,
};
use common::labels::Labels;
use common::limits::Overrides;
use common::series::{Matcher, Series, SeriesStore, StoreError, merge_series};
use common::tenant::TenantId;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
#[cfg(test)]
use ulid::Ulid;

use super::budget;
use super::catalog::BlockCatalog;
use super::merged::union;

/// How the querier reads blocks (`querier.blocks` in the main config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockStoreConfig {
    /// Bytes of decoded block indexes kept in memory (LRU).
    pub index_cache_bytes: usize,
    /// How long a tenant's block list is reused before listing the bucket
    /// again; zero lists on every query.
    #[serde(with = "humantime_serde")]
    pub block_list_ttl: Duration,
    /// Object-storage GETs one select may have in flight.
    pub fetch_concurrency: usize,
    /// Retries of a failed object-storage read after the first attempt.
    pub fetch_max_retries: u32,
    /// Wait before the first retry, doubled for each further one.
    #[serde(with = "humantime_serde")]
    pub fetch_retry_backoff: Duration,
    /// The bucket index is used while its `updated_at` is at most this
    /// old; older or missing, the bucket is listed. Zero never uses it.
    #[serde(with = "humantime_serde")]
    pub bucket_index_max_staleness: Duration,
    /// Blocks marked for deletion longer ago than this are not read
    /// (Mimir's `ignore_deletion_marks_delay`); it must stay below the
    /// compactor's `deletion_delay`.
    #[serde(with = "humantime_serde")]
    pub ignore_deletion_marks_delay: Duration,
    /// Queries whose range starts less than this long ago are answered by
    /// the ingesters alone: the bucket (and its bucket index) is not read,
    /// so they answer while object storage is down (Mimir's
    /// `query_store_after`). It must not exceed how long ingesters hold
    /// data they uploaded (`ingester.retain_uploaded_for`): older data may
    /// be only in the bucket. Unset, the `cairn` binary sets it to
    /// `ingester.retain_uploaded_for`; unset or zero here, every query
    /// reads the bucket. A recent range still reads the bucket while the
    /// tenant's last listing knows a block reaching into it (what an
    /// ingester uploaded on shutdown and no longer holds after a restart).
    /// Caveat: a querier that has not listed the tenant's blocks since such
    /// an upload does not know that block; set zero where that matters more
    /// than answering during an outage.
    #[serde(with = "humantime_serde")]
    pub query_store_after: Option<Duration>,
}

impl BlockStoreConfig {
    /// From when on (milliseconds, now) the ingesters alone hold every
    /// sample, line and span: `now - query_store_after`; `None` when every
    /// query reads the bucket.
    pub(crate) fn ingesters_hold_since_ms(&self) -> Option<i64> {
        let after = self.query_store_after.filter(|d| !d.is_zero())?;
        let after_ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        Some(common::time::now_ms().saturating_sub(after_ms))
    }

    /// True when a query reading from `mint` (milliseconds) on is served by
    /// the ingesters alone, so the bucket is not read.
    pub(crate) fn ingesters_only(&self, mint: i64) -> bool {
        self.ingesters_hold_since_ms()
            .is_some_and(|since| mint >= since)
    }
}

impl Default for BlockStoreConfig {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        Self {
            index_cache_bytes: 256 << 20,
            block_list_ttl: Duration::from_secs(30),
            fetch_concurrency: DEFAULT_FETCH_CONCURRENCY,
            fetch_max_retries: retry.max_retries,
            fetch_retry_backoff: retry.backoff,
            bucket_index_max_staleness: Duration::from_secs(3600),
            ignore_deletion_marks_delay: Duration::from_secs(3600),
            query_store_after: None,
        }
    }
}

/// A [`SeriesStore`] over the blocks in object storage.
pub struct BlockStore {
    overrides: Arc<Overrides>,
    catalog: BlockCatalog<BlockReader>,
}

impl std::fmt::Debug for BlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStore")
            .field("store", &self.catalog.store.to_string())
            .field("cfg", &self.catalog.cfg)
            .field("index_cache_bytes_used", &self.catalog.index_cache_bytes())
            .finish_non_exhaustive()
    }
}

fn open_block(
    store: Arc<dyn ObjectStore>,
    tenant: TenantId,
    meta: BlockMeta,
    retry: RetryPolicy,
) -> BoxFuture<'static, Result<BlockReader, StoreError>> {
    Box::pin(async move { Ok(BlockReader::open_with_retry(store, &tenant, meta, &retry).await?) })
}

impl BlockStore {
    /// Reads blocks from `store`, enforcing the per-tenant query limits
    /// of `overrides`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        overrides: Arc<Overrides>,
        cfg: BlockStoreConfig,
    ) -> Self {
        Self {
            overrides,
            catalog: BlockCatalog::new(store, cfg, Signal::Metrics, open_block),
        }
    }

    /// Index bytes the reader cache holds now.
    pub fn index_cache_bytes(&self) -> usize {
        self.catalog.index_cache_bytes()
    }

    /// True when block `ulid` of `tenant` is open in the reader cache.
    #[cfg(test)]
    pub(crate) fn is_block_cached(&self, tenant: &TenantId, ulid: Ulid) -> bool {
        self.catalog.is_block_cached(tenant, ulid)
    }

    /// Readers for the tenant's blocks overlapping `[mint, maxt]`.
    async fn readers(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Arc<BlockReader>>, StoreError> {
        self.catalog
            .with_relist(tenant, |relist| {
                self.catalog.readers(tenant, mint, maxt, relist)
            })
            .await
    }
}

/// Refuses plans that together exceed the tenant's fetch limits (zero =
/// unlimited). Series are counted once however many blocks hold them;
/// chunk bytes add up over the query's selects (see [`budget`]).
fn check_limits(
    tenant: &TenantId,
    plans: &[SelectPlan],
    max_series: usize,
    max_chunk_bytes: usize,
) -> Result<(), StoreError> {
    let bytes: u64 = plans.iter().map(SelectPlan::chunk_bytes).sum();
    let query_bytes = budget::charge(tenant, bytes);
    if max_chunk_bytes > 0 && query_bytes > max_chunk_bytes as u64 {
        return Err(StoreError::TooManyChunkBytes {
            limit: max_chunk_bytes,
        });
    }
    if max_series > 0 {
        let upper_bound: usize = plans.iter().map(SelectPlan::series_count).sum();
        if upper_bound > max_series {
            let unique: HashSet<&Labels> = plans.iter().flat_map(SelectPlan::labels).collect();
            if unique.len() > max_series {
                return Err(StoreError::TooManySeries { limit: max_series });
            }
        }
    }
    Ok(())
}

impl BlockStore {
    /// One attempt at [`SeriesStore::select`]; `relist` as in
    /// [`BlockCatalog::block_list`].
    async fn select_from(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        relist: bool,
    ) -> Result<Vec<Series>, StoreError> {
        let readers = self.catalog.readers(tenant, mint, maxt, relist).await?;
        let plans: Vec<SelectPlan> = readers
            .iter()
            .map(|r| r.plan_select(matchers, mint, maxt))
            .collect();
        let limits = self.overrides.get(tenant);
        check_limits(
            tenant,
            &plans,
            limits.max_fetched_series_per_query,
            limits.max_fetched_chunk_bytes_per_query,
        )?;
        // One budget for the whole select: its GETs across all blocks.
        let opts = FetchOptions::new(self.catalog.cfg.fetch_concurrency, self.catalog.retry());
        let fetches = readers
            .iter()
            .zip(plans)
            .filter(|(_, plan)| plan.series_count() > 0)
            .map(|(r, plan)| r.fetch_plan(plan, &opts));
        let lists = futures::future::try_join_all(fetches).await?;
        Ok(merge_series(lists))
    }
}

#[async_trait]
impl SeriesStore for BlockStore {
    /// Reads the matching series; a block deleted since listing (its
    /// compacted replacement is in the bucket) costs a relist and one
    /// retry, not a failed query.
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        self.catalog
            .with_relist(tenant, |relist| {
                self.select_from(tenant, matchers, mint, maxt, relist)
            })
            .await
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let readers = self.readers(tenant, mint, maxt).await?;
        Ok(union(
            readers
                .iter()
                .map(|r| r.series(matchers, mint, maxt))
                .collect(),
        ))
    }

    async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let readers = self.readers(tenant, mint, maxt).await?;
        Ok(union(
            readers.iter().map(|r| r.label_names(matchers)).collect(),
        ))
    }

    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let readers = self.readers(tenant, mint, maxt).await?;
        Ok(union(
            readers
                .iter()
                .map(|r| r.label_values(name, matchers))
                .collect(),
        ))
    }
}
