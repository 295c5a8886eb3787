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
//! - The block list comes from the compactor's bucket index
//!   (`<tenant>/bucket-index.json.gz`) while it is fresher than
//!   [`BlockStoreConfig::bucket_index_max_staleness`], else from one
//!   recursive listing of the tenant's blocks (deletion marks included). Blocks marked for deletion longer than
//!   [`BlockStoreConfig::ignore_deletion_marks_delay`] ago are skipped, and
//!   so is every block whose compaction sources another listed block holds
//!   (a compaction's sources and output are never both read).
//! - A block that vanishes between listing and reading (deleted after
//!   compaction) does not fail the query: the list is rebuilt from a fresh
//!   listing and the query retried once.
//!
//! Caveat of the list TTL: a block uploaded less than a TTL ago may not be
//! seen yet, so ingesters must keep serving uploaded data at least that long.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::block::{
    BlockMeta, BlockReader, BucketIndex, DEFAULT_FETCH_CONCURRENCY, DeletionMark, FetchOptions,
    RetryPolicy, SelectPlan, Signal, blocks_created_since, complete_blocks, deletion_marks,
    read_bucket_index, scan_blocks, split_covered,
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
    /// The bucket index is used while its `updated_at` is at most this
    /// old; older or missing, the bucket is listed. Zero never uses it.
    #[serde(with = "humantime_serde")]
    pub bucket_index_max_staleness: Duration,
    /// Blocks marked for deletion longer ago than this are not read
    /// (Mimir's `ignore_deletion_marks_delay`); it must stay below the
    /// compactor's `deletion_delay`.
    #[serde(with = "humantime_serde")]
    pub ignore_deletion_marks_delay: Duration,
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

/// How long a block upload may take: a block whose ULID (made when its
/// upload started) is this much older than the bucket index may still have
/// completed after the index was written.
const UPLOAD_MARGIN_MS: i64 = 3_600_000;

/// A tenant's block list and when it was read.
#[derive(Debug)]
struct Listed {
    at: Instant,
    /// Every complete block, as listed or indexed.
    all: Arc<Vec<BlockMeta>>,
    /// Their deletion marks.
    marks: Vec<DeletionMark>,
    /// The ones queries read.
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
    indexes: IndexCache<BlockReader>,
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

    /// The tenant's blocks to read, from the cached list while it is
    /// fresher than the TTL. `relist` skips the cache and the bucket index
    /// and lists the bucket (after a block turned out to be gone).
    async fn block_list(
        &self,
        tenant: &TenantId,
        relist: bool,
    ) -> Result<Arc<Vec<BlockMeta>>, StoreError> {
        let slot: ListSlot = Arc::clone(&self.lists.entry(tenant.clone()).or_default());
        let mut listed = slot.lock().await;
        if let Some(l) = listed.as_ref()
            && !relist
            && l.at.elapsed() < self.cfg.block_list_ttl
        {
            return Ok(Arc::clone(&l.metas));
        }
        let known = listed.as_ref().map(|l| Arc::clone(&l.all));
        let (all, marks) = match self.fresh_bucket_index(tenant, relist).await {
            Some(index) => {
                let marks = index.block_deletion_marks.clone();
                (
                    self.indexed_blocks(tenant, index, known.as_deref()).await?,
                    marks,
                )
            }
            None => {
                // One recursive listing shows which blocks are complete
                // and which marked; only new metas and marks are read.
                let store = self.store.as_ref();
                let retry = self.cfg.retry();
                let dirs = scan_blocks(store, tenant, Signal::Metrics, &retry).await?;
                let known_metas = known.as_deref().map_or(&[][..], Vec::as_slice);
                let all =
                    complete_blocks(store, tenant, Signal::Metrics, &dirs, known_metas, &retry)
                        .await?;
                let known_marks = listed.as_ref().map_or(&[][..], |l| l.marks.as_slice());
                let marks =
                    deletion_marks(store, tenant, Signal::Metrics, &dirs, known_marks).await?;
                (all, marks.into_values().collect())
            }
        };
        // Blocks gone from the bucket (compacted away, deleted by
        // retention) free their cached readers now, not when evicted.
        if let Some(known) = &known {
            let still: HashSet<Ulid> = all.iter().map(|m| m.ulid).collect();
            for gone in known.iter().filter(|m| !still.contains(&m.ulid)) {
                self.indexes.remove(&(tenant.clone(), gone.ulid));
            }
        }
        let metas = Arc::new(self.readable(all.clone(), &marks));
        *listed = Some(Listed {
            at: Instant::now(),
            marks,
            all: Arc::new(all),
            metas: Arc::clone(&metas),
        });
        Ok(metas)
    }

    /// The blocks of a fresh bucket index plus those uploaded since it was
    /// written, found by listing only ULIDs created after it (less the
    /// time an upload may take). `known` saves `meta.json` reads.
    async fn indexed_blocks(
        &self,
        tenant: &TenantId,
        index: BucketIndex,
        known: Option<&Vec<BlockMeta>>,
    ) -> Result<Vec<BlockMeta>, StoreError> {
        let since = index
            .updated_at
            .saturating_mul(1000)
            .saturating_sub(UPLOAD_MARGIN_MS);
        let mut cached: Vec<BlockMeta> = index.blocks.clone();
        cached.extend(known.into_iter().flatten().cloned());
        let recent = blocks_created_since(
            self.store.as_ref(),
            tenant,
            since,
            &cached,
            &self.cfg.retry(),
        )
        .await?;
        let mut seen = HashSet::new();
        let mut all: Vec<BlockMeta> = Vec::with_capacity(index.blocks.len() + recent.len());
        for m in recent.into_iter().chain(index.blocks) {
            if seen.insert(m.ulid) {
                all.push(m);
            }
        }
        all.sort_by_key(|m| (m.min_time, m.ulid));
        Ok(all)
    }

    /// The tenant's bucket index when it exists and is fresh enough; any
    /// problem reading it means listing instead.
    async fn fresh_bucket_index(&self, tenant: &TenantId, relist: bool) -> Option<BucketIndex> {
        if relist || self.cfg.bucket_index_max_staleness.is_zero() {
            return None;
        }
        let index = match read_bucket_index(self.store.as_ref(), tenant, Signal::Metrics).await {
            Ok(index) => index?,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "bucket index unreadable, listing the bucket");
                return None;
            }
        };
        let age_s = common::time::now_ms().div_euclid(1000) - index.updated_at;
        let max_s =
            i64::try_from(self.cfg.bucket_index_max_staleness.as_secs()).unwrap_or(i64::MAX);
        if age_s > max_s {
            tracing::debug!(%tenant, age_s, "bucket index stale, listing the bucket");
            return None;
        }
        Some(index)
    }

    /// The blocks a query reads: not marked for deletion longer than the
    /// grace, and not covered by another block's compaction sources.
    fn readable(&self, all: Vec<BlockMeta>, marks: &[DeletionMark]) -> Vec<BlockMeta> {
        let grace_s =
            i64::try_from(self.cfg.ignore_deletion_marks_delay.as_secs()).unwrap_or(i64::MAX);
        let now_s = common::time::now_ms().div_euclid(1000);
        let ignored: HashSet<Ulid> = marks
            .iter()
            .filter(|m| now_s.saturating_sub(m.deletion_time) > grace_s)
            .map(|m| m.id)
            .collect();
        let unmarked = all
            .into_iter()
            .filter(|m| !ignored.contains(&m.ulid))
            .collect();
        split_covered(unmarked).0
    }

    /// Readers for the tenant's blocks overlapping `[mint, maxt]`; blocks
    /// outside it are never opened. A block gone from the bucket means the
    /// list is outdated: it is rebuilt by listing, and the open retried.
    async fn readers(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Arc<BlockReader>>, StoreError> {
        match self.readers_from(tenant, mint, maxt, false).await {
            Err(e) if is_gone(&e) => {
                tracing::info!(%tenant, error = %e, "block gone since listing; relisting");
                self.readers_from(tenant, mint, maxt, true).await
            }
            other => other,
        }
    }

    /// [`BlockStore::readers`] without the retry; `relist` as in
    /// [`BlockStore::block_list`].
    async fn readers_from(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
        relist: bool,
    ) -> Result<Vec<Arc<BlockReader>>, StoreError> {
        let list = self.block_list(tenant, relist).await?;
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

/// True when `e` says an object is not there: a block deleted since it
/// was listed.
fn is_gone(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::ObjectStore(object_store::Error::NotFound { .. })
    )
}

impl BlockStore {
    /// One attempt at [`SeriesStore::select`]; `relist` as in
    /// [`BlockStore::block_list`].
    async fn select_from(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        relist: bool,
    ) -> Result<Vec<Series>, StoreError> {
        let readers = self.readers_from(tenant, mint, maxt, relist).await?;
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
        match self.select_from(tenant, matchers, mint, maxt, false).await {
            Err(e) if is_gone(&e) => {
                tracing::info!(%tenant, error = %e, "block gone since listing; relisting");
                self.select_from(tenant, matchers, mint, maxt, true).await
            }
            other => other,
        }
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
