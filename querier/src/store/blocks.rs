//! Reads a tenant's metrics blocks from object storage.
//!
//! Block indexes are loaded once and kept (a block is immutable); the block
//! list is read from the bucket per query. A per-tenant bucket index kept by
//! the compactor will replace the listing.

use std::sync::Arc;

use async_trait::async_trait;
use common::block::{BlockError, BlockMeta, BlockReader, list_blocks};
use common::labels::Labels;
use common::series::{Matcher, Series, SeriesStore, StoreError, merge_series};
use common::tenant::TenantId;
use dashmap::DashMap;
use object_store::ObjectStore;
use ulid::Ulid;

use super::merged::union;

/// A [`SeriesStore`] over the blocks in object storage.
pub struct BlockStore {
    store: Arc<dyn ObjectStore>,
    readers: DashMap<(TenantId, Ulid), Arc<BlockReader>>,
}

fn store_err(e: BlockError) -> StoreError {
    StoreError::Other(e.to_string())
}

impl BlockStore {
    /// Reads blocks from `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            readers: DashMap::new(),
        }
    }

    /// Readers for the tenant's complete blocks overlapping `[mint, maxt]`.
    async fn readers(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Arc<BlockReader>>, StoreError> {
        let metas: Vec<BlockMeta> = list_blocks(self.store.as_ref(), tenant)
            .await
            .map_err(store_err)?
            .into_iter()
            .filter(|m| m.min_time <= maxt && m.max_time > mint) // max_time is exclusive
            .collect();
        let mut out = Vec::with_capacity(metas.len());
        for meta in metas {
            let key = (tenant.clone(), meta.ulid);
            if let Some(r) = self.readers.get(&key) {
                out.push(Arc::clone(&r));
                continue;
            }
            let reader = Arc::new(
                BlockReader::open(Arc::clone(&self.store), tenant, meta)
                    .await
                    .map_err(store_err)?,
            );
            self.readers.insert(key, Arc::clone(&reader));
            out.push(reader);
        }
        Ok(out)
    }
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
        let selects = readers.iter().map(|r| r.select(matchers, mint, maxt));
        let lists = futures::future::try_join_all(selects)
            .await
            .map_err(store_err)?;
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
