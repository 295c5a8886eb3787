//! Writing a trace block to object storage: data file, index, then
//! `meta.json`, so a failed upload leaves only an invisible directory.
//! An ingester's head is encoded in memory ([`write_trace_block`]); a
//! compaction streams row groups out as it merges ([`TraceBlockWriter`]).

use std::sync::Arc;

use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{DATA_FILE, DEFAULT_ROW_GROUP_SPANS, batch, encode_block, invalid, properties, schema};
use crate::block::{BlockCompaction, BlockError, BlockMeta, BlockStats, Signal};
use crate::tenant::TenantId;
use crate::traces::tags::TagSummary;
use crate::traces::{Span, TraceId};

/// The index format version this code writes and reads.
pub(super) const INDEX_VERSION: u32 = 1;
/// The index's name inside a block directory.
pub(super) const INDEX_FILE: &str = "index.json";

/// Where a tenant's trace blocks live: `<tenant>/traces/blocks`.
pub fn trace_blocks_prefix(tenant: &TenantId) -> Path {
    Signal::Traces.blocks_prefix(tenant)
}

/// A trace block's `index.json`: what a reader needs before touching the
/// data file, and what tag listings are answered from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceIndex {
    /// Format version ([`INDEX_VERSION`]).
    pub version: u32,
    /// Size of `data.parquet`, so its footer is read without a HEAD.
    pub data_bytes: u64,
    /// The block's attribute keys and values.
    pub tags: TagSummary,
}

/// What a block's spans add up to, for its index and `meta.json`.
#[derive(Debug, Default)]
struct Totals {
    /// Spans per row group of the data file.
    row_group_spans: usize,
    spans: u64,
    traces: u64,
    last_trace: Option<TraceId>,
    min_ns: Option<u64>,
    max_ns: u64,
    tags: TagSummary,
}

impl Totals {
    /// Counts `spans`, which come in trace-ID order.
    fn add(&mut self, spans: &[Span]) {
        for s in spans {
            self.spans += 1;
            if self.last_trace != Some(s.trace_id) {
                self.traces += 1;
                self.last_trace = Some(s.trace_id);
            }
            self.min_ns = Some(
                self.min_ns
                    .map_or(s.start_unix_nano, |m| m.min(s.start_unix_nano)),
            );
            self.max_ns = self.max_ns.max(s.end_unix_nano.max(s.start_unix_nano));
            self.tags.add_span(s);
        }
    }

    /// Uploads `index.json` then `meta.json` for the data file of
    /// `data_bytes` in `dir`, and returns the metadata.
    async fn finish(
        self,
        store: &dyn ObjectStore,
        dir: &Path,
        data_bytes: u64,
        ulid: Ulid,
        compaction: BlockCompaction,
        source: &str,
    ) -> Result<BlockMeta, BlockError> {
        let index = TraceIndex {
            version: INDEX_VERSION,
            data_bytes,
            tags: self.tags,
        };
        let index_json = serde_json::to_vec(&index)
            .map_err(|e| BlockError::InvalidInput(format!("encoding trace index: {e}")))?;
        store
            .put(&dir.clone().join(INDEX_FILE), PutPayload::from(index_json))
            .await?;
        let mut meta = BlockMeta::level1(
            ulid,
            ns_to_ms(self.min_ns.unwrap_or(0)),
            ns_to_ms(self.max_ns).saturating_add(1),
            BlockStats {
                num_samples: self.spans,
                num_series: self.traces,
                num_chunks: self.spans.div_ceil(self.row_group_spans.max(1) as u64),
            },
            source,
        );
        meta.compaction = compaction;
        meta.put(store, dir).await?;
        Ok(meta)
    }
}

/// Writes `spans` as a new level-1 trace block for `tenant` and returns its
/// metadata: `minTime`/`maxTime` (ms) cover every span's start and end,
/// `numSamples` counts spans, `numSeries` traces and `numChunks` row groups.
/// Spans are encoded in memory on a blocking thread; `source` names the
/// writer.
pub async fn write_trace_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    spans: Vec<Span>,
    source: &str,
) -> Result<BlockMeta, BlockError> {
    write_with(store, tenant, spans, source, DEFAULT_ROW_GROUP_SPANS).await
}

/// [`write_trace_block`] with `row_group_spans` spans per row group.
pub(super) async fn write_with(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    mut spans: Vec<Span>,
    source: &str,
    row_group_spans: usize,
) -> Result<BlockMeta, BlockError> {
    if spans.is_empty() {
        return Err(BlockError::Empty);
    }
    let (data, totals) = tokio::task::spawn_blocking(move || {
        spans.sort_by_key(|s| s.trace_id);
        let mut totals = Totals {
            row_group_spans,
            ..Totals::default()
        };
        totals.add(&spans);
        encode_block(spans, row_group_spans).map(|d| (d, totals))
    })
    .await
    .map_err(|e| BlockError::InvalidInput(format!("trace block encoding aborted: {e}")))??;
    let ulid = Ulid::new();
    let dir = Signal::Traces.block_dir(tenant, ulid);
    let data_bytes = data.len() as u64;
    store
        .put(&dir.clone().join(DATA_FILE), PutPayload::from(data))
        .await?;
    let level1 = BlockCompaction {
        level: 1,
        sources: vec![ulid],
    };
    totals
        .finish(store, &dir, data_bytes, ulid, level1, source)
        .await
}

/// Streams a trace block into object storage (multipart upload of row
/// groups as they fill), for merges that must not hold a whole block in
/// memory: spans go in whole traces, in trace-ID order.
pub struct TraceBlockWriter {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    ulid: Ulid,
    writer: AsyncArrowWriter<BufWriter>,
    schema: Arc<arrow::datatypes::Schema>,
    pending: Vec<Span>,
    rows: usize,
    totals: Totals,
}

impl TraceBlockWriter {
    /// A new block of `tenant` (its ULID chosen now).
    pub fn new(store: Arc<dyn ObjectStore>, tenant: &TenantId) -> Result<Self, BlockError> {
        let ulid = Ulid::new();
        let dir = Signal::Traces.block_dir(tenant, ulid);
        let schema = schema();
        let rows = DEFAULT_ROW_GROUP_SPANS;
        let object = BufWriter::new(Arc::clone(&store), dir.clone().join(DATA_FILE));
        let writer = AsyncArrowWriter::try_new(object, Arc::clone(&schema), Some(properties(rows)))
            .map_err(|e| invalid(&e))?;
        Ok(Self {
            store,
            dir,
            ulid,
            writer,
            schema,
            pending: Vec::new(),
            rows,
            totals: Totals {
                row_group_spans: rows,
                ..Totals::default()
            },
        })
    }

    /// The block's ID (a fresh block lists itself as its only source).
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    /// Appends one trace's spans; traces must come in ascending ID order.
    pub async fn append(&mut self, spans: Vec<Span>) -> Result<(), BlockError> {
        self.totals.add(&spans);
        self.pending.extend(spans);
        while self.pending.len() >= self.rows {
            let rest = self.pending.split_off(self.rows);
            let full = std::mem::replace(&mut self.pending, rest);
            self.write(&full).await?;
        }
        Ok(())
    }

    async fn write(&mut self, spans: &[Span]) -> Result<(), BlockError> {
        let batch = batch(&self.schema, spans).map_err(|e| invalid(&e))?;
        self.writer.write(&batch).await.map_err(|e| invalid(&e))?;
        self.writer.flush().await.map_err(|e| invalid(&e))
    }

    /// Completes the data file, then uploads `index.json` and `meta.json`
    /// (with `compaction` as its history, written by `source`).
    pub async fn finish(
        mut self,
        compaction: BlockCompaction,
        source: &str,
    ) -> Result<BlockMeta, BlockError> {
        if self.totals.spans == 0 {
            return Err(BlockError::Empty);
        }
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.write(&rest).await?;
        }
        self.writer.finish().await.map_err(|e| invalid(&e))?;
        let data_bytes = self.writer.bytes_written() as u64;
        self.totals
            .finish(
                self.store.as_ref(),
                &self.dir,
                data_bytes,
                self.ulid,
                compaction,
                source,
            )
            .await
    }
}

/// Nanoseconds since the epoch as block-metadata milliseconds.
fn ns_to_ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}
