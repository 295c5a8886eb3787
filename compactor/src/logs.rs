//! What is specific to logs blocks in a compaction: the sources' streams
//! are streamed in label order into one block, each line once
//! ([`merge_log_blocks`]).

use std::sync::Arc;

use async_trait::async_trait;
use common::block::{BlockCompaction, BlockMeta, RetryPolicy};
use common::logs::block::{LogBlockReader, LogBlockWriter, merge_log_blocks};
use common::tenant::TenantId;
use object_store::ObjectStore;

use crate::CompactorError;
use crate::pass::{Merged, Merger};

/// Merges logs blocks.
pub(crate) struct LogsMerger;

#[async_trait]
impl Merger for LogsMerger {
    async fn merge(
        &self,
        store: &Arc<dyn ObjectStore>,
        tenant: &TenantId,
        sources: &[BlockMeta],
        compaction: BlockCompaction,
        writer_id: &str,
    ) -> Result<Merged, CompactorError> {
        let retry = RetryPolicy::default();
        let readers = futures::future::try_join_all(
            sources
                .iter()
                .map(|meta| LogBlockReader::open(Arc::clone(store), tenant, meta.clone(), &retry)),
        )
        .await?;
        let mut writer = LogBlockWriter::new(Arc::clone(store), tenant)?;
        let counts = merge_log_blocks(&readers, &mut writer).await?;
        let meta = writer.finish(compaction, writer_id).await?;
        Ok(Merged {
            meta,
            items_in: counts.lines_in,
            items_out: counts.lines_out,
        })
    }
}
