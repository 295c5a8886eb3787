//! The streaming block writer: series go in one at a time, in label order,
//! and chunk segments are uploaded as they fill, so writing a block holds
//! one segment of chunk bytes plus the index entries in memory — never the
//! whole block. Ingesters (through [`super::write_block`]) and the
//! compactor both write blocks with it.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use ulid::Ulid;

use super::chunks::{self, SEGMENT_HEADER};
use super::index::{self, ChunkRef};
use super::meta::{self, BlockCompaction, BlockMeta, BlockStats, CairnMeta};
use super::{BlockError, ChunkData, block_dir, segment_path};
use crate::labels::Labels;
use crate::tenant::TenantId;

/// Writes one new block. Call [`BlockWriter::append`] once per series in
/// strictly increasing label order, then [`BlockWriter::finish`]: it
/// uploads the index and, last, `meta.json`. A writer dropped before
/// `finish` (or failing in it) leaves an invisible partial directory.
pub struct BlockWriter<'a> {
    store: &'a dyn ObjectStore,
    ulid: Ulid,
    dir: Path,
    max_segment_bytes: u64,
    segment_no: u32,
    segment: Vec<u8>,
    frame: Vec<u8>,
    index_series: Vec<(Labels, Vec<ChunkRef>)>,
    stats: BlockStats,
    min_time: i64,
    max_time: i64,
}

impl std::fmt::Debug for BlockWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("dir", &self.dir)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<'a> BlockWriter<'a> {
    /// A writer for a new block of `tenant` with segments of at most
    /// `max_segment_bytes` (a segment holds at least one chunk).
    pub fn new(store: &'a dyn ObjectStore, tenant: &TenantId, max_segment_bytes: u64) -> Self {
        let ulid = Ulid::new();
        Self {
            store,
            ulid,
            dir: block_dir(tenant, ulid),
            max_segment_bytes,
            segment_no: 1,
            segment: SEGMENT_HEADER.to_vec(),
            frame: Vec::new(),
            index_series: Vec::new(),
            stats: BlockStats::default(),
            min_time: i64::MAX,
            max_time: i64::MIN,
        }
    }

    /// The ULID the block will have.
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    /// Adds a series with its chunks, which must be sorted by time and not
    /// empty. Label sets must strictly increase from call to call.
    pub async fn append(
        &mut self,
        labels: Labels,
        chunks: Vec<ChunkData>,
    ) -> Result<(), BlockError> {
        if let Some((last, _)) = self.index_series.last()
            && *last >= labels
        {
            return Err(BlockError::InvalidInput(format!(
                "series {labels} appended after {last}: series must be in strictly increasing label order"
            )));
        }
        if chunks.is_empty() {
            return Err(BlockError::InvalidInput(format!(
                "series {labels} has no chunks"
            )));
        }
        if u32::try_from(self.index_series.len()).is_err() {
            return Err(BlockError::InvalidInput(
                "more series than the 2^32 a block can index".into(),
            ));
        }
        let mut refs = Vec::with_capacity(chunks.len());
        for c in chunks {
            if c.max_t < c.min_t {
                return Err(BlockError::InvalidInput(format!(
                    "series {labels}: chunk max_t {} is before min_t {}",
                    c.max_t, c.min_t
                )));
            }
            let samples = c.encoding.sample_count(&c.data).map_err(|e| {
                BlockError::InvalidInput(format!(
                    "series {labels}: chunk {}..{}: {e}",
                    c.min_t, c.max_t
                ))
            })?;
            self.frame.clear();
            let len =
                chunks::write_frame(&mut self.frame, &c.data).map_err(BlockError::InvalidInput)?;
            if self.segment.len() > SEGMENT_HEADER.len()
                && (self.segment.len() + self.frame.len()) as u64 > self.max_segment_bytes
            {
                self.upload_segment().await?;
            }
            refs.push(ChunkRef {
                min_t: c.min_t,
                max_t: c.max_t,
                segment: self.segment_no,
                offset: self.segment.len() as u64,
                len,
                encoding: c.encoding,
            });
            self.segment.extend_from_slice(&self.frame);
            self.stats.num_chunks += 1;
            self.stats.num_samples += samples;
            self.min_time = self.min_time.min(c.min_t);
            self.max_time = self.max_time.max(c.max_t);
        }
        self.stats.num_series += 1;
        self.index_series.push((labels, refs));
        Ok(())
    }

    /// Uploads the current segment and starts the next one.
    async fn upload_segment(&mut self) -> Result<(), BlockError> {
        let full = std::mem::replace(&mut self.segment, SEGMENT_HEADER.to_vec());
        self.store
            .put(
                &segment_path(&self.dir, self.segment_no),
                PutPayload::from(full),
            )
            .await?;
        self.segment_no += 1;
        Ok(())
    }

    /// Uploads the last segment, the index and then `meta.json`, which
    /// makes the block exist. `compaction` is its history (level 1 with
    /// itself as the only source for a fresh block: see
    /// [`BlockWriter::ulid`]); `source` names the writer.
    pub async fn finish(
        mut self,
        compaction: BlockCompaction,
        source: &str,
    ) -> Result<BlockMeta, BlockError> {
        if self.index_series.is_empty() {
            return Err(BlockError::Empty);
        }
        let last = std::mem::take(&mut self.segment);
        self.store
            .put(
                &segment_path(&self.dir, self.segment_no),
                PutPayload::from(last),
            )
            .await?;
        self.store
            .put(
                &self.dir.clone().join("index"),
                PutPayload::from(index::encode(&self.index_series)),
            )
            .await?;
        let meta = BlockMeta {
            ulid: self.ulid,
            min_time: self.min_time,
            max_time: self.max_time.saturating_add(1),
            stats: self.stats,
            compaction,
            version: meta::META_VERSION,
            cairn: CairnMeta {
                source: source.to_string(),
            },
        };
        meta.put(self.store, &self.dir).await?;
        Ok(meta)
    }
}
