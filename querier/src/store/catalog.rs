//! A tenant's block list and open block readers, cached: what the metrics
//! [`super::BlockStore`], the logs [`super::LogBlockStore`] and the traces
//! [`super::TraceBlockStore`] share.
//!
//! - The block list comes from the compactor's bucket index of the signal
//!   while it is fresher than [`BlockStoreConfig::bucket_index_max_staleness`]
//!   (plus a listing of only the blocks uploaded since), else from one
//!   recursive listing of the tenant's blocks (deletion marks included).
//!   It is cached per tenant for [`BlockStoreConfig::block_list_ttl`].
//! - Blocks marked for deletion longer than
//!   [`BlockStoreConfig::ignore_deletion_marks_delay`] ago are skipped, and
//!   so is every block whose compaction sources another listed block holds
//!   (a compaction's sources and output are never both read).
//! - Blocks outside a query's time range are never opened. Open readers
//!   live in a byte-bounded LRU ([`BlockStoreConfig::index_cache_bytes`]);
//!   evicted ones re-open on demand, and concurrent queries needing the
//!   same block share one open.
//! - A block that vanishes between listing and reading (deleted after
//!   compaction) does not fail the query: the list is rebuilt from a fresh
//!   listing and the read retried once ([`BlockCatalog::with_relist`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use common::block::{
    BlockMeta, BucketIndex, DeletionMark, RetryPolicy, Signal, blocks_created_since,
    complete_blocks, deletion_marks, read_bucket_index_with_retry, scan_blocks, split_covered,
};
use common::series::StoreError;
use common::tenant::TenantId;
use dashmap::DashMap;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use ulid::Ulid;

use super::blocks::BlockStoreConfig;
use super::index_cache::{BlockKey, CachedReader, IndexCache};

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

/// A tenant's block list, and the last time listing found the bucket
/// unavailable (when, and why).
#[derive(Debug, Default)]
struct ListState {
    listed: Option<Listed>,
    unavailable: Option<(Instant, String)>,
}

/// One slot per tenant; the async mutex makes concurrent queries share one
/// refresh instead of each listing the bucket, and share its failure too:
/// queries that waited for a listing the bucket failed fail with it
/// instead of each waiting out the store's timeouts in turn.
type ListSlot = Arc<tokio::sync::Mutex<ListState>>;

/// A block being opened; queries needing it meanwhile wait for the same open.
type OpenSlot<R> = Arc<tokio::sync::OnceCell<Arc<R>>>;

/// Opens one block's reader: `(store, tenant, meta, retry)`.
pub(crate) type Opener<R> = fn(
    Arc<dyn ObjectStore>,
    TenantId,
    BlockMeta,
    RetryPolicy,
) -> BoxFuture<'static, Result<R, StoreError>>;

/// Cached block lists and readers of one signal's blocks.
pub(crate) struct BlockCatalog<R> {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) cfg: BlockStoreConfig,
    signal: Signal,
    open: Opener<R>,
    lists: DashMap<TenantId, ListSlot>,
    /// Per tenant, the newest `max_time` of any block its last successful
    /// listing found (`i64::MIN` for none): a recent range skips the bucket
    /// only when no block known reaches into it.
    newest_block_end: DashMap<TenantId, i64>,
    indexes: IndexCache<R>,
    opening: DashMap<BlockKey, OpenSlot<R>>,
}

/// True when `e` says an object is not there: a block deleted since it
/// was listed.
fn is_gone(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::ObjectStore(object_store::Error::NotFound { .. })
    )
}

impl<R: CachedReader> BlockCatalog<R> {
    /// A catalog of `signal`'s blocks, opened with `open`.
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        cfg: BlockStoreConfig,
        signal: Signal,
        open: Opener<R>,
    ) -> Self {
        Self {
            indexes: IndexCache::new(cfg.index_cache_bytes),
            store,
            cfg,
            signal,
            open,
            lists: DashMap::new(),
            newest_block_end: DashMap::new(),
            opening: DashMap::new(),
        }
    }

    /// How object-storage reads are retried.
    pub(crate) fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.cfg.fetch_max_retries,
            backoff: self.cfg.fetch_retry_backoff,
        }
    }

    /// Runs `read` with the cached block list (`relist = false`); when it
    /// finds a block gone from the bucket, runs it once more on a fresh
    /// listing (`relist = true`).
    pub(crate) async fn with_relist<T, F, Fut>(
        &self,
        tenant: &TenantId,
        read: F,
    ) -> Result<T, StoreError>
    where
        F: Fn(bool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        match read(false).await {
            Err(e) if is_gone(&e) => {
                tracing::info!(%tenant, signal = %self.signal, error = %e, "block gone since listing; relisting");
                read(true).await
            }
            other => other,
        }
    }

    /// The tenant's blocks to read, from the cached list while it is
    /// fresher than the TTL. `relist` skips the cache and the bucket index
    /// and lists the bucket (after a block turned out to be gone).
    pub(crate) async fn block_list(
        &self,
        tenant: &TenantId,
        relist: bool,
    ) -> Result<Arc<Vec<BlockMeta>>, StoreError> {
        let slot: ListSlot = Arc::clone(&self.lists.entry(tenant.clone()).or_default());
        let asked = Instant::now();
        let mut state = slot.lock().await;
        if let Some(l) = state.listed.as_ref()
            && !relist
            && l.at.elapsed() < self.cfg.block_list_ttl
        {
            return Ok(Arc::clone(&l.metas));
        }
        if let Some((at, why)) = &state.unavailable
            && *at >= asked
        {
            return Err(StoreError::StoreUnavailable(why.clone()));
        }
        let listed = self.list(tenant, relist, &mut state.listed).await;
        if let Err(StoreError::StoreUnavailable(why)) = &listed {
            state.unavailable = Some((Instant::now(), why.clone()));
        }
        listed
    }

    /// Lists the tenant's blocks afresh into `listed` (the previous list
    /// saves reads of what it already knows).
    async fn list(
        &self,
        tenant: &TenantId,
        relist: bool,
        listed: &mut Option<Listed>,
    ) -> Result<Arc<Vec<BlockMeta>>, StoreError> {
        let known = listed.as_ref().map(|l| Arc::clone(&l.all));
        let (all, marks) = match self.fresh_bucket_index(tenant, relist).await? {
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
                let retry = self.retry();
                let dirs = scan_blocks(store, tenant, self.signal, &retry).await?;
                let known_metas = known.as_deref().map_or(&[][..], Vec::as_slice);
                let all =
                    complete_blocks(store, tenant, self.signal, &dirs, known_metas, &retry).await?;
                let known_marks = listed.as_ref().map_or(&[][..], |l| l.marks.as_slice());
                let marks = deletion_marks(store, tenant, self.signal, &dirs, known_marks).await?;
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
        let newest = all.iter().map(|m| m.max_time).max().unwrap_or(i64::MIN);
        self.newest_block_end.insert(tenant.clone(), newest);
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
            self.signal,
            since,
            &cached,
            &self.retry(),
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

    /// The tenant's bucket index when it exists and is fresh enough; a
    /// damaged one means listing instead, an unavailable bucket fails (a
    /// listing would wait out the same outage again).
    async fn fresh_bucket_index(
        &self,
        tenant: &TenantId,
        relist: bool,
    ) -> Result<Option<BucketIndex>, StoreError> {
        if relist || self.cfg.bucket_index_max_staleness.is_zero() {
            return Ok(None);
        }
        let index = match read_bucket_index_with_retry(
            self.store.as_ref(),
            tenant,
            self.signal,
            &self.retry(),
        )
        .await
        {
            Ok(Some(index)) => index,
            Ok(None) => return Ok(None),
            Err(e) => match StoreError::from(e) {
                e @ StoreError::StoreUnavailable(_) => return Err(e),
                e => {
                    tracing::warn!(%tenant, signal = %self.signal, error = %e, "bucket index unreadable, listing the bucket");
                    return Ok(None);
                }
            },
        };
        let age_s = common::time::now_ms().div_euclid(1000) - index.updated_at;
        let max_s =
            i64::try_from(self.cfg.bucket_index_max_staleness.as_secs()).unwrap_or(i64::MAX);
        if age_s > max_s {
            tracing::debug!(%tenant, signal = %self.signal, age_s, "bucket index stale, listing the bucket");
            return Ok(None);
        }
        Ok(Some(index))
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

    /// Readers for the tenant's blocks overlapping `[mint, maxt]`
    /// (milliseconds, inclusive); blocks outside it are never opened.
    /// None when the range is recent enough for the ingesters alone
    /// ([`BlockStoreConfig::query_store_after`]) and no block the tenant's
    /// last listing found reaches into it: the bucket is not read. A block
    /// that does (uploaded by an ingester that has restarted since, so no
    /// longer holds it), or no listing yet, means reading the bucket.
    /// `relist` as in [`BlockCatalog::block_list`].
    pub(crate) async fn readers(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
        relist: bool,
    ) -> Result<Vec<Arc<R>>, StoreError> {
        if self.cfg.ingesters_only(mint)
            && self
                .newest_block_end
                .get(tenant)
                .is_some_and(|newest| *newest <= mint)
        {
            return Ok(Vec::new());
        }
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
    async fn reader(&self, tenant: &TenantId, meta: BlockMeta) -> Result<Arc<R>, StoreError> {
        let key = (tenant.clone(), meta.ulid);
        if let Some(r) = self.indexes.get(&key) {
            return Ok(r);
        }
        let slot: OpenSlot<R> = Arc::clone(&self.opening.entry(key.clone()).or_default());
        let opened = slot
            .get_or_try_init(|| async {
                let reader =
                    (self.open)(Arc::clone(&self.store), tenant.clone(), meta, self.retry())
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
    pub(crate) fn index_cache_bytes(&self) -> usize {
        self.indexes.bytes()
    }

    /// True when block `ulid` of `tenant` is open in the reader cache.
    #[cfg(test)]
    pub(crate) fn is_block_cached(&self, tenant: &TenantId, ulid: Ulid) -> bool {
        self.indexes.contains(&(tenant.clone(), ulid))
    }
}
