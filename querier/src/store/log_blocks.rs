//! Reads a tenant's logs blocks from object storage: a
//! [`common::logs::LogStore`] over `<tenant>/logs/blocks/`.
//!
//! The block list and open readers are cached like the metrics blocks'
//! ([`super::catalog`]); blocks outside the query's time range are never
//! opened; within a block, streams are selected by postings and only the
//! Parquet row groups and rows that can hold matching lines are read, the
//! line filter applied while decoding ([`LogBlockReader::select`]).

use std::sync::Arc;

use async_trait::async_trait;
use common::block::Signal;
use common::block::{BlockMeta, RetryPolicy};
use common::labels::Labels;
use common::logs::block::LogBlockReader;
use common::logs::{LogSelect, LogStore, StreamEntries, merge_streams, trim_to_limit};
use common::series::{Matcher, StoreError};
use common::tenant::TenantId;
use futures::future::{BoxFuture, try_join_all};
use object_store::ObjectStore;

use super::blocks::BlockStoreConfig;
use super::catalog::BlockCatalog;
use super::merged::union;

/// A [`LogStore`] over the logs blocks in object storage.
pub struct LogBlockStore {
    catalog: BlockCatalog<LogBlockReader>,
}

impl std::fmt::Debug for LogBlockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBlockStore")
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
) -> BoxFuture<'static, Result<LogBlockReader, StoreError>> {
    Box::pin(async move { Ok(LogBlockReader::open(store, &tenant, meta, &retry).await?) })
}

/// `[start_ns, end_ns)` as the inclusive milliseconds of block metadata.
fn millis(start_ns: i64, end_ns: i64) -> (i64, i64) {
    (
        start_ns.div_euclid(1_000_000),
        end_ns.saturating_sub(1).div_euclid(1_000_000),
    )
}

impl LogBlockStore {
    /// Reads logs blocks from `store` (the list cache, reader cache and
    /// fetch settings of `cfg`, shared with the metrics blocks' settings).
    pub fn new(store: Arc<dyn ObjectStore>, cfg: BlockStoreConfig) -> Self {
        Self {
            catalog: BlockCatalog::new(store, cfg, Signal::Logs, open_block),
        }
    }

    /// Readers of the blocks overlapping `[start_ns, end_ns)`; `relist`
    /// as in [`BlockCatalog::block_list`].
    async fn readers(
        &self,
        tenant: &TenantId,
        start_ns: i64,
        end_ns: i64,
        relist: bool,
    ) -> Result<Vec<Arc<LogBlockReader>>, StoreError> {
        let (mint, maxt) = millis(start_ns, end_ns);
        self.catalog.readers(tenant, mint, maxt, relist).await
    }
}

#[async_trait]
impl LogStore for LogBlockStore {
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        let lists = self
            .catalog
            .with_relist(tenant, |relist| async move {
                let readers = self
                    .readers(tenant, sel.start_ns, sel.end_ns, relist)
                    .await?;
                Ok(try_join_all(readers.iter().map(|r| r.select(sel))).await?)
            })
            .await?;
        let mut out = merge_streams(lists);
        trim_to_limit(&mut out, sel.limit, sel.direction);
        Ok(out)
    }

    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let readers = self.readers(tenant, start_ns, end_ns, false).await?;
        Ok(union(
            readers
                .iter()
                .map(|r| r.streams(matchers, start_ns, end_ns))
                .collect(),
        ))
    }
}
