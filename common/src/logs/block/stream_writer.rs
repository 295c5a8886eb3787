//! Writing a logs block as a stream: row groups are uploaded (multipart)
//! as they fill, so a merge holds one stream's lines, not the block.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use ulid::Ulid;

use super::{Encoder, PARQUET_FILE, block_dir, finish_block, write_failed, writer_properties};
use crate::block::{BlockCompaction, BlockError, BlockMeta};
use crate::logs::StreamEntries;
use crate::tenant::TenantId;

/// A logs block being written; streams go in label order.
pub struct LogBlockWriter {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    ulid: Ulid,
    writer: AsyncArrowWriter<BufWriter>,
    encoder: Encoder,
}

impl LogBlockWriter {
    /// A new block of `tenant` (its ULID chosen now).
    pub fn new(store: Arc<dyn ObjectStore>, tenant: &TenantId) -> Result<Self, BlockError> {
        let ulid = Ulid::new();
        let dir = block_dir(tenant, ulid);
        let encoder = Encoder::new();
        let object = BufWriter::new(Arc::clone(&store), dir.clone().join(PARQUET_FILE));
        let writer = AsyncArrowWriter::try_new(
            object,
            Arc::clone(&encoder.schema),
            Some(writer_properties()),
        )
        .map_err(write_failed)?;
        Ok(Self {
            store,
            dir,
            ulid,
            writer,
            encoder,
        })
    }

    /// Appends one stream: labels after the previous stream's, entries
    /// sorted by time.
    pub async fn append(&mut self, stream: &StreamEntries) -> Result<(), BlockError> {
        for batch in self.encoder.add(stream)? {
            self.writer.write(&batch).await.map_err(write_failed)?;
            self.writer.flush().await.map_err(write_failed)?;
        }
        Ok(())
    }

    /// Completes `logs.parquet`, then uploads the index and `meta.json`
    /// (with `compaction` as its history, written by `source`).
    pub async fn finish(
        mut self,
        compaction: BlockCompaction,
        source: &str,
    ) -> Result<BlockMeta, BlockError> {
        if self.encoder.index.iter().all(|s| s.rows == 0) {
            return Err(BlockError::Empty);
        }
        if let Some(batch) = self.encoder.rest()? {
            self.writer.write(&batch).await.map_err(write_failed)?;
        }
        self.writer.finish().await.map_err(write_failed)?;
        let index = self.encoder.index(self.writer.bytes_written() as u64);
        finish_block(
            self.store.as_ref(),
            &self.dir,
            &index,
            self.ulid,
            compaction,
            source,
        )
        .await
    }
}
