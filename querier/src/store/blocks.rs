//! Reads a tenant's metrics blocks from object storage, efficiently.
//!
//! - The block list is cached per tenant for [`BlockStoreConfig::block_list_ttl`]
//!   and refreshed when stale (one LIST, plus a `meta.json` GET only for
//!   blocks not seen before), instead of a LIST per query.
//! - Blocks outside a query's time range are never opened.
//! - Open blocks (their decoded indexes) live in a byte-bounded LRU
//!   ([`BlockStoreConfig::index_cache_bytes`]); evicted ones re-open on demand.
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
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::block::{
    BlockMeta, BlockReader, DEFAULT_FETCH_CONCURRENCY, FetchOptions, RetryPolicy, SelectPlan,
    refresh_block_list,
};
use common::labels::Labels;
use common::limits::Overrides;
use common::series::{Matcher, Series, SeriesStore, StoreError, merge_series};
use common::tenant::TenantId;
use dashmap::DashMap;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::budget;
use super::index_cache::{BlockKey, IndexCache};
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

impl BlockStoreConfig {
    fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.fetch_max_retries,
            backoff: self.fetch_retry_backoff,
        }
    }
}

/// A tenant's block list and when it was read.
#[derive(Debug)]
struct Listed {
    at: Instant,
    metas: Arc<Vec<BlockMeta>>,
}

/// One slot per tenant; the async mutex makes concurrent queries share one
/// refresh instead of each listing the bucket.
type ListSlot = Arc<tokio::sync::Mutex<Option<Listed>>>;

/// A block being opened; queries needing it meanwhile wait for the same
/// open instead of each fetching the index.
type OpenSlot = Arc<tokio::sync::OnceCell<Arc<BlockReader>>>;

/// A [`SeriesStore`] over the blocks in object storage.
pub struct BlockStore {
    store: Arc<dyn ObjectStore>,
    overrides: Arc<Overrides>,
    cfg: BlockStoreConfig,
    lists: DashMap<TenantId, ListSlot>,
    indexes: IndexCache,
    opening: DashMap<BlockKey, OpenSlot>,
}

impl std::fmt::Debug for BlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStore")
            .field("store", &self.store.to_string())
            .field("cfg", &self.cfg)
            .field("index_cache_bytes_used", &self.indexes.bytes())
            .finish_non_exhaustive()
    }
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
            indexes: IndexCache::new(cfg.index_cache_bytes),
            store,
            overrides,
            cfg,
            lists: DashMap::new(),
            opening: DashMap::new(),
        }
    }

    /// The tenant's complete blocks, from the cached list while it is
    /// fresher than the TTL.
    async fn block_list(&self, tenant: &TenantId) -> Result<Arc<Vec<BlockMeta>>, StoreError> {
        let slot: ListSlot = Arc::clone(&self.lists.entry(tenant.clone()).or_default());
        let mut listed = slot.lock().await;
        if let Some(l) = listed.as_ref()
            && l.at.elapsed() < self.cfg.block_list_ttl
        {
            return Ok(Arc::clone(&l.metas));
        }
        let known = listed.as_ref().map(|l| Arc::clone(&l.metas));
        let metas = refresh_block_list(
            self.store.as_ref(),
            tenant,
            known.as_deref().map_or(&[], Vec::as_slice),
            &self.cfg.retry(),
        )
        .await?;
        // Blocks gone from the bucket (compacted away, deleted by
        // retention) free their cached readers now, not when evicted.
        if let Some(known) = &known {
            let still: HashSet<Ulid> = metas.iter().map(|m| m.ulid).collect();
            for gone in known.iter().filter(|m| !still.contains(&m.ulid)) {
                self.indexes.remove(&(tenant.clone(), gone.ulid));
            }
        }
        let metas = Arc::new(metas);
        *listed = Some(Listed {
            at: Instant::now(),
            metas: Arc::clone(&metas),
        });
        Ok(metas)
    }

    /// Readers for the tenant's blocks overlapping `[mint, maxt]`; blocks
    /// outside it are never opened.
    async fn readers(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Arc<BlockReader>>, StoreError> {
        let list = self.block_list(tenant).await?;
        // `max_time` is exclusive: a block ending at `mint` holds nothing
        // at or after it.
        let opens: Vec<_> = list
            .iter()
            .filter(|m| m.min_time <= maxt && m.max_time > mint)
            .map(|meta| self.reader(tenant, meta.clone()))
            .collect();
        futures::stream::iter(opens)
            .buffered(self.cfg.fetch_concurrency.max(1))
            .try_collect()
            .await
    }

    /// The reader for one block: cached, or opened (once, however many
    /// queries ask at the same time) and cached.
    async fn reader(
        &self,
        tenant: &TenantId,
        meta: BlockMeta,
    ) -> Result<Arc<BlockReader>, StoreError> {
        let key = (tenant.clone(), meta.ulid);
        if let Some(r) = self.indexes.get(&key) {
            return Ok(r);
        }
        let slot: OpenSlot = Arc::clone(&self.opening.entry(key.clone()).or_default());
        let opened = slot
            .get_or_try_init(|| async {
                let reader = BlockReader::open_with_retry(
                    Arc::clone(&self.store),
                    tenant,
                    meta,
                    &self.cfg.retry(),
                )
                .await?;
                let reader = Arc::new(reader);
                self.indexes.insert(key.clone(), Arc::clone(&reader));
                Ok::<_, StoreError>(reader)
            })
            .await
            .map(Arc::clone);
        // Done (or failed, so the next query tries afresh): later queries
        // find the reader in the cache.
        self.opening
            .remove_if(&key, |_, current| Arc::ptr_eq(current, &slot));
        opened
    }

    /// Index bytes the reader cache holds now.
    pub fn index_cache_bytes(&self) -> usize {
        self.indexes.bytes()
    }

    /// True when block `ulid` of `tenant` is open in the reader cache.
    #[cfg(test)]
    pub(crate) fn is_block_cached(&self, tenant: &TenantId, ulid: Ulid) -> bool {
        self.indexes.contains(&(tenant.clone(), ulid))
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
            tenant,
            &plans,
            limits.max_fetched_series_per_query,
            limits.max_fetched_chunk_bytes_per_query,
        )?;
        // One budget for the whole select: its GETs across all blocks.
        let opts = FetchOptions::new(self.cfg.fetch_concurrency, self.cfg.retry());
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
