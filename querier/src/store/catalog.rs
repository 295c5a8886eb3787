//! A tenant's block list and open block readers, cached: what the metrics
//! [`super::BlockStore`] and the logs [`super::LogBlockStore`] share.
//!
//! - The block list is cached per tenant for
//!   [`BlockStoreConfig::block_list_ttl`] and refreshed when stale (one LIST,
//!   plus a `meta.json` GET only for blocks not seen before).
//! - Blocks outside a query's time range are never opened.
//! - Open readers live in a byte-bounded LRU
//!   ([`BlockStoreConfig::index_cache_bytes`]); evicted ones re-open on
//!   demand, and concurrent queries needing the same block share one open.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use common::block::{BlockMeta, RetryPolicy, refresh_block_list_under};
use common::series::StoreError;
use common::tenant::TenantId;
use dashmap::DashMap;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use ulid::Ulid;

use super::blocks::BlockStoreConfig;
use super::index_cache::{BlockKey, CachedReader, IndexCache};

/// A tenant's block list and when it was read.
#[derive(Debug)]
struct Listed {
    at: Instant,
    metas: Arc<Vec<BlockMeta>>,
}

/// One slot per tenant; the async mutex makes concurrent queries share one
/// refresh instead of each listing the bucket.
type ListSlot = Arc<tokio::sync::Mutex<Option<Listed>>>;

/// A block being opened; queries needing it meanwhile wait for the same open.
type OpenSlot<R> = Arc<tokio::sync::OnceCell<Arc<R>>>;

/// Opens one block's reader: `(store, tenant, meta, retry)`.
pub(crate) type Opener<R> = fn(
    Arc<dyn ObjectStore>,
    TenantId,
    BlockMeta,
    RetryPolicy,
) -> BoxFuture<'static, Result<R, StoreError>>;

/// Cached block lists and readers of one kind of block.
pub(crate) struct BlockCatalog<R> {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) cfg: BlockStoreConfig,
    /// Where a tenant's blocks of this kind live.
    prefix: fn(&TenantId) -> Path,
    open: Opener<R>,
    lists: DashMap<TenantId, ListSlot>,
    indexes: IndexCache<R>,
    opening: DashMap<BlockKey, OpenSlot<R>>,
}

impl<R: CachedReader> BlockCatalog<R> {
    /// A catalog of the blocks under `prefix(tenant)`, opened with `open`.
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        cfg: BlockStoreConfig,
        prefix: fn(&TenantId) -> Path,
        open: Opener<R>,
    ) -> Self {
        Self {
            indexes: IndexCache::new(cfg.index_cache_bytes),
            store,
            cfg,
            prefix,
            open,
            lists: DashMap::new(),
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

    /// The tenant's complete blocks, from the cached list while it is
    /// fresher than the TTL.
    pub(crate) async fn block_list(
        &self,
        tenant: &TenantId,
    ) -> Result<Arc<Vec<BlockMeta>>, StoreError> {
        let slot: ListSlot = Arc::clone(&self.lists.entry(tenant.clone()).or_default());
        let mut listed = slot.lock().await;
        if let Some(l) = listed.as_ref()
            && l.at.elapsed() < self.cfg.block_list_ttl
        {
            return Ok(Arc::clone(&l.metas));
        }
        let known = listed.as_ref().map(|l| Arc::clone(&l.metas));
        let metas = refresh_block_list_under(
            self.store.as_ref(),
            &(self.prefix)(tenant),
            known.as_deref().map_or(&[], Vec::as_slice),
            &self.retry(),
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

    /// Readers for the tenant's blocks overlapping `[mint, maxt]`
    /// (milliseconds, inclusive); blocks outside it are never opened.
    pub(crate) async fn readers(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Arc<R>>, StoreError> {
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
}
