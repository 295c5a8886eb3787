//! What is specific to metrics blocks in a compaction: merging TSDB
//! blocks series by series ([`merge`]), one sample per series and
//! timestamp.

mod merge;

use std::sync::Arc;

use async_trait::async_trait;
use common::block::{
    BlockCompaction, BlockMeta, BlockReader, BlockWriter, FetchOptions, RetryPolicy,
};
use common::tenant::TenantId;
use object_store::ObjectStore;

pub use self::merge::{Batch, MergeStats, merge_into};
use crate::CompactorError;
use crate::pass::{Merged, Merger};

/// What a merge reads per source block per step.
const MERGE_BATCH: Batch = Batch {
    series: 256,
    chunk_bytes: 4 << 20,
};
/// Segment size of compacted blocks: what a merge buffers before uploading.
const COMPACTED_SEGMENT_BYTES: u64 = 64 << 20;

/// Merges metrics blocks.
pub(crate) struct MetricsMerger;

#[async_trait]
impl Merger for MetricsMerger {
    async fn merge(
        &self,
        store: &Arc<dyn ObjectStore>,
        tenant: &TenantId,
        sources: &[BlockMeta],
        compaction: BlockCompaction,
        writer_id: &str,
    ) -> Result<Merged, CompactorError> {
        let retry = RetryPolicy::default();
        let readers = futures::future::try_join_all(sources.iter().map(|meta| {
            BlockReader::open_with_retry(Arc::clone(store), tenant, meta.clone(), &retry)
        }))
        .await?;
        let mut writer = BlockWriter::new(store.as_ref(), tenant, COMPACTED_SEGMENT_BYTES);
        let stats = merge_into(
            readers.into_iter().map(Arc::new).collect(),
            &mut writer,
            MERGE_BATCH,
            &FetchOptions::default(),
        )
        .await?;
        let meta = writer.finish(compaction, writer_id).await?;
        Ok(Merged {
            meta,
            items_in: stats.samples_in,
            items_out: stats.samples_out,
        })
    }
}
