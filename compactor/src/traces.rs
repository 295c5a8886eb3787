//! What is specific to trace blocks in a compaction: the sources' spans
//! are streamed in trace-ID order into one block, each (trace, span ID)
//! once ([`merge_trace_blocks`]).

use std::sync::Arc;

use async_trait::async_trait;
use common::block::{BlockCompaction, BlockMeta, RetryPolicy};
use common::tenant::TenantId;
use common::traces::block::{TraceBlockReader, TraceBlockWriter, merge_trace_blocks};
use object_store::ObjectStore;

use crate::CompactorError;
use crate::pass::{Merged, Merger};

/// Merges trace blocks.
pub(crate) struct TracesMerger;

#[async_trait]
impl Merger for TracesMerger {
    async fn merge(
        &self,
        store: &Arc<dyn ObjectStore>,
        tenant: &TenantId,
        sources: &[BlockMeta],
        compaction: BlockCompaction,
        writer_id: &str,
    ) -> Result<Merged, CompactorError> {
        let retry = RetryPolicy::default();
        let readers =
            futures::future::try_join_all(sources.iter().map(|meta| {
                TraceBlockReader::open(Arc::clone(store), tenant, meta.clone(), &retry)
            }))
            .await?;
        let mut writer = TraceBlockWriter::new(Arc::clone(store), tenant)?;
        let counts = merge_trace_blocks(&readers, &mut writer).await?;
        let meta = writer.finish(compaction, writer_id).await?;
        Ok(Merged {
            meta,
            items_in: counts.spans_in,
            items_out: counts.spans_out,
        })
    }
}
