//! Reads a tenant's metrics blocks from object storage, efficiently.
//!
//! - The block list is cached per tenant and blocks outside a query's time
//!   range are never opened; open blocks (their decoded indexes) live in a
//!   byte-bounded LRU (see [`super::catalog`], shared with the logs store).
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
    blocks_prefix,
};
use common::labels::Labels;
use common::limits::Overrides;
use common::series::{Matcher, Series, SeriesStore, StoreError, merge_series};
use common::tenant::TenantId;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};

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
        }
    }
}

/// A [`SeriesStore`] over the blocks in object storage.
pub struct BlockStore {
    catalog: BlockCatalog<BlockReader>,
    overrides: Arc<Overrides>,
}

impl std::fmt::Debug for BlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStore")
            .field("store", &self.catalog.store.to_string())
            .field("cfg", &self.catalog.cfg)
            .field("index_cache_bytes_used", &self.catalog.cached_bytes())
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
            catalog: BlockCatalog::new(store, cfg, blocks_prefix, open_block),
            overrides,
        }
    }

    /// Readers for the tenant's blocks overlapping `[mint, maxt]`.
    async fn readers(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Arc<BlockReader>>, StoreError> {
        self.catalog.readers(tenant, mint, maxt).await
    }

    /// Index bytes the reader cache holds now.
    pub fn index_cache_bytes(&self) -> usize {
        self.catalog.cached_bytes()
    }

    /// True when block `ulid` of `tenant` is open in the reader cache.
    #[cfg(test)]
    pub(crate) fn is_block_cached(&self, tenant: &TenantId, ulid: ulid::Ulid) -> bool {
        self.catalog.is_cached(tenant, ulid)
    }
}

/// Refuses plans that together exceed the tenant's fetch limits (zero =
/// unlimited). Series are counted once however many blocks hold them.
fn check_limits(
    plans: &[SelectPlan],
    max_series: usize,
    max_chunk_bytes: usize,
) -> Result<(), StoreError> {
    if max_chunk_bytes > 0 {
        let bytes: u64 = plans.iter().map(SelectPlan::chunk_bytes).sum();
        if bytes > max_chunk_bytes as u64 {
            return Err(StoreError::TooManyChunkBytes {
                limit: max_chunk_bytes,
            });
        }
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

#[async_trait]
impl SeriesStore for BlockStore {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let readers = self.readers(tenant, mint, maxt).await?;
        let plans: Vec<SelectPlan> = readers
            .iter()
            .map(|r| r.plan_select(matchers, mint, maxt))
            .collect();
        let limits = self.overrides.get(tenant);
        check_limits(
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
