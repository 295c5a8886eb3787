//! Writing a trace block to object storage: data file, index, then
//! `meta.json`, so a failed upload leaves only an invisible directory.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{DATA_FILE, DEFAULT_ROW_GROUP_SPANS, encode_block};
use crate::block::{BlockError, BlockMeta, BlockStats, Signal};
use crate::tenant::TenantId;
use crate::traces::Span;
use crate::traces::tags::{TagSummary, summarize};

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

/// Writes `spans` as a new level-1 trace block for `tenant` and returns its
/// metadata: `minTime`/`maxTime` (ms) cover every span's start and end,
/// `numSamples` counts spans, `numSeries` traces and `numChunks` row groups.
/// Spans are encoded on a blocking thread; `source` names the writer.
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
    spans: Vec<Span>,
    source: &str,
    row_group_spans: usize,
) -> Result<BlockMeta, BlockError> {
    if spans.is_empty() {
        return Err(BlockError::Empty);
    }
    let min_ns = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
    let max_ns = spans
        .iter()
        .map(|s| s.end_unix_nano.max(s.start_unix_nano))
        .max()
        .unwrap_or(0);
    let num_spans = spans.len() as u64;
    let (data, tags, traces) = tokio::task::spawn_blocking(move || {
        let tags = summarize(&spans);
        let traces = spans
            .iter()
            .map(|s| s.trace_id)
            .collect::<std::collections::HashSet<_>>()
            .len() as u64;
        encode_block(spans, row_group_spans).map(|d| (d, tags, traces))
    })
    .await
    .map_err(|e| BlockError::InvalidInput(format!("trace block encoding aborted: {e}")))??;
    let index = TraceIndex {
        version: INDEX_VERSION,
        data_bytes: data.len() as u64,
        tags,
    };
    let ulid = Ulid::new();
    let dir = trace_blocks_prefix(tenant).join(ulid.to_string());
    let index_json = serde_json::to_vec(&index)
        .map_err(|e| BlockError::InvalidInput(format!("encoding trace index: {e}")))?;
    store
        .put(&dir.clone().join(DATA_FILE), PutPayload::from(data))
        .await?;
    store
        .put(&dir.clone().join(INDEX_FILE), PutPayload::from(index_json))
        .await?;
    let meta = BlockMeta::level1(
        ulid,
        ns_to_ms(min_ns),
        ns_to_ms(max_ns).saturating_add(1),
        BlockStats {
            num_samples: num_spans,
            num_series: traces,
            num_chunks: num_spans.div_ceil(row_group_spans.max(1) as u64),
        },
        source,
    );
    meta.put(store, &dir).await?;
    Ok(meta)
}

/// Nanoseconds since the epoch as block-metadata milliseconds.
pub(super) fn ns_to_ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}
