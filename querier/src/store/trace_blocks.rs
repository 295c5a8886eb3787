//! Reads a tenant's trace blocks from object storage: a [`TraceStore`]
//! over `<tenant>/traces/blocks/`.
//!
//! The block list and open readers are cached like the other signals'
//! ([`super::catalog`]). A lookup by ID checks every block's row-group
//! statistics and bloom filters in memory and reads only the row groups
//! that may hold the trace; a search reads the blocks overlapping its time
//! range, newest first, until it has enough traces; tag listings come from
//! each block's tag summary without reading span data.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use common::block::Signal;
use common::block::{BlockMeta, RetryPolicy};
use common::series::StoreError;
use common::tenant::TenantId;
use common::traces::block::TraceBlockReader;
use common::traces::{AttrScope, Trace, TraceId, TraceScan, TraceStore, union_traces};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;

use super::blocks::BlockStoreConfig;
use super::catalog::BlockCatalog;

/// A [`TraceStore`] over the trace blocks in object storage.
pub struct TraceBlockStore {
    catalog: BlockCatalog<TraceBlockReader>,
}

impl std::fmt::Debug for TraceBlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceBlockStore")
            .field("store", &self.catalog.store.to_string())
            .field("cfg", &self.catalog.cfg)
            .finish_non_exhaustive()
    }
}

fn open_block(
    store: Arc<dyn ObjectStore>,
    tenant: TenantId,
    meta: BlockMeta,
    retry: RetryPolicy,
) -> BoxFuture<'static, Result<TraceBlockReader, StoreError>> {
    Box::pin(async move { Ok(TraceBlockReader::open(store, &tenant, meta, &retry).await?) })
}

/// Nanoseconds as the inclusive milliseconds of block metadata.
fn millis(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

impl TraceBlockStore {
    /// Reads trace blocks from `store` (list cache, reader cache and fetch
    /// settings of `cfg`, shared with the other signals' block settings).
    pub fn new(store: Arc<dyn ObjectStore>, cfg: BlockStoreConfig) -> Self {
        Self {
            catalog: BlockCatalog::new(store, cfg, Signal::Traces, open_block),
        }
    }

    /// Readers of the blocks overlapping `[start_ns, end_ns]`, newest
    /// first; `relist` as in [`BlockCatalog::block_list`].
    async fn readers(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
        relist: bool,
    ) -> Result<Vec<Arc<TraceBlockReader>>, StoreError> {
        let mut readers = self
            .catalog
            .readers(tenant, millis(start_ns), millis(end_ns), relist)
            .await?;
        readers.sort_by_key(|r| std::cmp::Reverse((r.meta().max_time, r.meta().ulid)));
        Ok(readers)
    }
}

#[async_trait]
impl TraceStore for TraceBlockStore {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<Option<Trace>, StoreError> {
        let found = self
            .catalog
            .with_relist(tenant, |relist| async move {
                let readers = self.readers(tenant, start_ns, end_ns, relist).await?;
                let candidates = readers
                    .into_iter()
                    .filter(|r| !r.row_groups_for(&id).is_empty());
                futures::stream::iter(candidates)
                    .map(|r| async move {
                        let spans = r.trace_by_id(&id).await?;
                        Ok::<_, StoreError>(
                            (!spans.is_empty()).then(|| Trace::from_spans(id, spans)),
                        )
                    })
                    .buffered(self.catalog.cfg.fetch_concurrency.max(1))
                    .try_filter_map(|t| async move { Ok(t) })
                    .try_collect::<Vec<Trace>>()
                    .await
            })
            .await?;
        Ok(union_traces(vec![found]).pop())
    }

    async fn search(&self, tenant: &TenantId, scan: &TraceScan) -> Result<Vec<Trace>, StoreError> {
        self.catalog
            .with_relist(tenant, |relist| async move {
                let mut found = Vec::new();
                for reader in self
                    .readers(tenant, scan.start_ns, scan.end_ns, relist)
                    .await?
                {
                    let want = scan.limit.map(|l| l.saturating_sub(found.len()));
                    if want == Some(0) {
                        break;
                    }
                    found.push(
                        reader
                            .search(scan.start_ns, scan.end_ns, scan.filter.as_ref(), want)
                            .await?,
                    );
                }
                Ok(union_traces(found))
            })
            .await
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<(AttrScope, String)>, StoreError> {
        let readers = self.readers(tenant, start_ns, end_ns, false).await?;
        Ok(readers.iter().flat_map(|r| r.tags().names()).collect())
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<String>, StoreError> {
        let readers = self.readers(tenant, start_ns, end_ns, false).await?;
        Ok(readers
            .iter()
            .flat_map(|r| r.tags().values(scope, key))
            .collect())
    }
}
