//! TSDB-style metrics blocks in object storage: how ingesters hand their
//! data to long-term storage and how queriers read it back.
//!
//! A block is an immutable set of series over a time range. Per tenant:
//!
//! ```text
//! <tenant>/metrics/blocks/<ULID>/index          symbols, series, postings (see `index`)
//! <tenant>/metrics/blocks/<ULID>/chunks/000001  XOR chunks, one snappy frame each (see `chunks`)
//! <tenant>/metrics/blocks/<ULID>/meta.json      Prometheus-shaped metadata, uploaded last
//! ```
//!
//! A block exists once its `meta.json` does: [`write_block`] uploads chunk
//! segments, then the index, then `meta.json`, so a crash mid-upload leaves
//! a directory [`list_blocks`] ignores. [`BlockReader`] loads a block's index
//! into memory and fetches only the chunks a query needs, with ranged GETs.
//!
//! Nothing read from storage is trusted: every section, frame and chunk is
//! length- and CRC-checked, and damage surfaces as [`BlockError::Corrupt`]
//! naming the object, never as a panic.

mod bucket_index;
mod chunks;
mod covered;
mod deletion_mark;
mod fetch;
mod index;
mod instrumented;
mod meta;
mod parquet_object;
mod scan;
mod signal;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use ulid::Ulid;

pub use self::bucket_index::{
    BUCKET_INDEX_VERSION, BucketIndex, read_bucket_index, read_bucket_index_with_retry,
    write_bucket_index,
};
use self::chunks::FRAME_HEADER_LEN;
pub use self::chunks::{MAX_SEGMENT_BYTES, read_frame, write_frame};
pub use self::covered::split_covered;
pub use self::deletion_mark::{
    DELETION_MARK_FILE, DeletionMark, deletion_mark_path, read_deletion_mark, write_deletion_mark,
};
pub use self::fetch::{DEFAULT_FETCH_CONCURRENCY, FetchOptions, RetryPolicy, is_transient};
use self::index::{ChunkRef, Index};
pub use self::instrumented::InstrumentedStore;
pub use self::meta::{BlockCompaction, BlockMeta, BlockStats, CairnMeta};
pub use self::parquet_object::{ParquetObject, read_error as parquet_read_error};
pub use self::scan::{BlockObjects, complete_blocks, deletion_marks, scan_blocks};
pub use self::signal::Signal;
pub use self::writer::BlockWriter;
pub use crate::chunk::ChunkEncoding;
use crate::chunk::histogram::HistogramChunk;
use crate::chunk::xor::XorChunk;
use crate::chunk::{ChunkError, histogram, xor};
use crate::histogram::HistogramSample;
use crate::labels::Labels;
use crate::series::{Matcher, Sample, Series, StoreError, merge_histograms, merge_samples};
use crate::tenant::TenantId;

/// Chunk ranges closer than this are fetched with one GET (reading the gap
/// is cheaper than another request).
const MAX_RANGE_GAP: u64 = 256 << 10;
/// Coalesced GETs stop growing at this size.
const MAX_RANGE_LEN: u64 = 16 << 20;
/// `meta.json` reads in flight while listing.
const LIST_CONCURRENCY: usize = 16;

/// Block-format facts about chunk encodings: float samples and native
/// histogram samples live in chunks of their own, as in Prometheus.
impl ChunkEncoding {
    /// The byte that names the encoding in a block index.
    pub(crate) fn id(self) -> u8 {
        match self {
            ChunkEncoding::Xor => 1,
            ChunkEncoding::Histogram => 2,
        }
    }

    /// The encoding named by `id` in a block index.
    pub(crate) fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(ChunkEncoding::Xor),
            2 => Some(ChunkEncoding::Histogram),
            _ => None,
        }
    }

    /// The number of samples in chunk `bytes` of this encoding, read from
    /// its header.
    pub(crate) fn sample_count(self, bytes: &[u8]) -> Result<u64, ChunkError> {
        match self {
            ChunkEncoding::Xor => xor::sample_count(bytes),
            ChunkEncoding::Histogram => histogram::sample_count(bytes),
        }
    }
}

/// One encoded chunk of a series, as handed to [`write_block`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkData {
    /// Timestamp of the chunk's first sample.
    pub min_t: i64,
    /// Timestamp of the chunk's last sample.
    pub max_t: i64,
    /// How `data` is encoded.
    pub encoding: ChunkEncoding,
    /// The chunk's bytes, as returned by [`xor::XorChunk::bytes`] or
    /// [`histogram::HistogramChunk::bytes`].
    pub data: Vec<u8>,
}

/// A series and its chunks, as handed to [`write_block`].
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSeries {
    /// The series' label set.
    pub labels: Labels,
    /// Its chunks, in any order (they are sorted by time when written).
    pub chunks: Vec<ChunkData>,
}

/// Adds the time-sorted `more` after `acc`; chunks that overlap (possible
/// after merging duplicate series) are merged, dropping duplicate
/// timestamps.
fn append_in_order<T: Clone>(
    acc: &mut Vec<T>,
    more: Vec<T>,
    t: fn(&T) -> i64,
    merge: fn(&[T], &[T]) -> Vec<T>,
) {
    match (acc.last(), more.first()) {
        (Some(last), Some(first)) if t(first) <= t(last) => *acc = merge(acc, &more),
        _ => acc.extend(more),
    }
}

/// Samples per chunk when samples are (re-)encoded (Prometheus's target).
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// XOR chunks of the float samples and histogram chunks of the histogram
/// samples, at most [`MAX_SAMPLES_PER_CHUNK`] samples each, sorted by time.
pub fn encode_chunks(samples: &[Sample], histograms: &[HistogramSample]) -> Vec<ChunkData> {
    let floats = samples.chunks(MAX_SAMPLES_PER_CHUNK).filter_map(|part| {
        let mut chunk = XorChunk::new();
        for s in part {
            chunk.append(s.t, s.v);
        }
        Some(ChunkData {
            min_t: part.first()?.t,
            max_t: part.last()?.t,
            encoding: ChunkEncoding::Xor,
            data: chunk.bytes().to_vec(),
        })
    });
    let hists = histograms.chunks(MAX_SAMPLES_PER_CHUNK).filter_map(|part| {
        let mut chunk = HistogramChunk::new();
        for s in part {
            chunk.append(s.t, &s.h);
        }
        Some(ChunkData {
            min_t: part.first()?.t,
            max_t: part.last()?.t,
            encoding: ChunkEncoding::Histogram,
            data: chunk.bytes().to_vec(),
        })
    });
    let mut out: Vec<ChunkData> = floats.chain(hists).collect();
    out.sort_by_key(|c| c.min_t);
    out
}

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A stored object is damaged or not in the expected format.
    #[error("corrupt block object {object}: {reason}")]
    Corrupt {
        /// The object's path.
        object: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Object storage failed.
    #[error("object storage: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// [`write_block`] was given data it cannot store.
    #[error("cannot write block: {0}")]
    InvalidInput(String),
    /// [`write_block`] was given no series with chunks.
    #[error("cannot write block: no series with chunks")]
    Empty,
}

impl From<BlockError> for StoreError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::Corrupt { object, reason } => StoreError::Corrupt {
                what: object,
                reason,
            },
            BlockError::ObjectStore(e) => StoreError::from(e),
            other => StoreError::Other(other.to_string()),
        }
    }
}

fn corrupt(object: &Path, reason: impl Into<String>) -> BlockError {
    BlockError::Corrupt {
        object: object.to_string(),
        reason: reason.into(),
    }
}

/// Where a tenant's metrics blocks live: `<tenant>/metrics/blocks`.
pub fn blocks_prefix(tenant: &TenantId) -> Path {
    Signal::Metrics.blocks_prefix(tenant)
}

/// The directory of `tenant`'s metrics block `ulid`.
pub fn block_dir(tenant: &TenantId, ulid: Ulid) -> Path {
    Signal::Metrics.block_dir(tenant, ulid)
}

fn segment_path(dir: &Path, n: u32) -> Path {
    dir.clone().join("chunks").join(chunks::segment_name(n))
}

/// Writes `series` as a new level-1 block for `tenant` and returns its
/// metadata. `source` names the writer (an ingester ID) in `meta.json`.
///
/// Series are sorted by label set; series with equal label sets are merged
/// and series without chunks dropped. The block's time range comes from the
/// chunks' `min_t`/`max_t`. `meta.json` is uploaded last, so a failed call
/// leaves only an invisible partial directory.
pub async fn write_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    series: Vec<BlockSeries>,
    source: &str,
) -> Result<BlockMeta, BlockError> {
    write_block_with_segment_size(store, tenant, series, source, MAX_SEGMENT_BYTES).await
}

/// [`write_block`] with a chosen segment size cap (tests use small ones).
async fn write_block_with_segment_size(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    series: Vec<BlockSeries>,
    source: &str,
    max_segment_bytes: u64,
) -> Result<BlockMeta, BlockError> {
    let series = normalize(series);
    let mut writer = BlockWriter::new(store, tenant, max_segment_bytes);
    for s in series {
        writer.append(s.labels, s.chunks).await?;
    }
    let ulid = writer.ulid();
    writer
        .finish(
            BlockCompaction {
                level: 1,
                sources: vec![ulid],
            },
            source,
        )
        .await
}

/// Sorts by label set, merges equal label sets, drops chunkless series,
/// and sorts chunks by time ([`BlockWriter`] rejects impossible ones).
fn normalize(mut series: Vec<BlockSeries>) -> Vec<BlockSeries> {
    series.retain(|s| !s.chunks.is_empty());
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<BlockSeries> = Vec::with_capacity(series.len());
    for s in series {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => last.chunks.extend(s.chunks),
            _ => out.push(s),
        }
    }
    for s in &mut out {
        s.chunks.sort_by_key(|c| (c.min_t, c.max_t));
    }
    out
}

/// Checks that `bytes` decode as a block index (what `fsck`-style tools
/// and the fuzz targets need), saying what is wrong when they do not.
pub fn check_index(bytes: &[u8]) -> Result<(), String> {
    index::decode(bytes).map(|_| ())
}

/// The complete blocks of `tenant` (those with a readable `meta.json`),
/// sorted by `min_time`.
///
/// Directories without `meta.json` are uploads in progress or abandoned and
/// are skipped; so, with a warning, are unparsable `meta.json` files.
pub async fn list_blocks(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> Result<Vec<BlockMeta>, BlockError> {
    refresh_block_list(store, tenant, &[], &RetryPolicy::default()).await
}

/// [`list_blocks`] for a reader that listed before: `known` blocks still
/// in the bucket keep their metadata (blocks are immutable), so only new
/// blocks cost a `meta.json` GET; blocks gone from the bucket drop out.
/// Reads are retried per `retry`.
pub async fn refresh_block_list(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    known: &[BlockMeta],
    retry: &RetryPolicy,
) -> Result<Vec<BlockMeta>, BlockError> {
    refresh_block_list_under(store, &blocks_prefix(tenant), known, retry).await
}

/// [`refresh_block_list`] for the blocks directly under `prefix` (each a
/// `<ULID>/` directory with a `meta.json`), whatever signal they hold: the
/// logs blocks share the listing and `meta.json` rules of metrics blocks.
pub async fn refresh_block_list_under(
    store: &dyn ObjectStore,
    prefix: &Path,
    known: &[BlockMeta],
    retry: &RetryPolicy,
) -> Result<Vec<BlockMeta>, BlockError> {
    let listing = retry
        .run(prefix, || store.list_with_delimiter(Some(prefix)))
        .await?;
    let listed = listing
        .common_prefixes
        .iter()
        .filter_map(|dir| dir.filename().and_then(|name| Ulid::from_string(name).ok()));
    metas_of(store, prefix, listed, known, retry).await
}

/// The metadata of blocks `ulids` under `prefix`, sorted by `min_time`: from `known`
/// where it is there (blocks are immutable), else from `meta.json`
/// (blocks without a usable one are left out).
async fn metas_of(
    store: &dyn ObjectStore,
    prefix: &Path,
    ulids: impl Iterator<Item = Ulid>,
    known: &[BlockMeta],
    retry: &RetryPolicy,
) -> Result<Vec<BlockMeta>, BlockError> {
    let known: BTreeMap<Ulid, &BlockMeta> = known.iter().map(|m| (m.ulid, m)).collect();
    let mut metas = Vec::new();
    let mut unknown = Vec::new();
    for ulid in ulids {
        match known.get(&ulid) {
            Some(meta) => metas.push((*meta).clone()),
            None => unknown.push(ulid),
        }
    }
    let new: Vec<Option<BlockMeta>> = futures::stream::iter(unknown)
        .map(|ulid| read_meta(store, prefix, ulid, retry))
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect()
        .await?;
    metas.extend(new.into_iter().flatten());
    metas.sort_by_key(|m| (m.min_time, m.ulid));
    Ok(metas)
}

/// The complete blocks of `tenant` whose ULID was created at or after
/// `since_ms`, sorted by `min_time`: what a reader holding a bucket index
/// written at about `since_ms` is missing. ULIDs sort by creation time, so
/// this is one listing starting after `since_ms` (S3's `start-after`), not
/// a listing of the whole tenant. `known` blocks keep their metadata; the
/// others cost a `meta.json` GET.
pub async fn blocks_created_since(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    since_ms: i64,
    known: &[BlockMeta],
    retry: &RetryPolicy,
) -> Result<Vec<BlockMeta>, BlockError> {
    let prefix = signal.blocks_prefix(tenant);
    let since = u64::try_from(since_ms).unwrap_or(0);
    let offset = prefix.clone().join(Ulid::from_parts(since, 0).to_string());
    let depth = prefix.parts().count();
    let objects: Vec<object_store::ObjectMeta> = retry
        .run(&prefix, || {
            store.list_with_offset(Some(&prefix), &offset).try_collect()
        })
        .await?;
    let complete: BTreeSet<Ulid> = objects
        .iter()
        .filter(|o| o.location.filename() == Some("meta.json"))
        .filter(|o| o.location.parts().count() == depth + 2)
        .filter_map(|o| {
            let dir = o.location.parts().nth(depth)?;
            Ulid::from_string(dir.as_ref()).ok()
        })
        .collect();
    metas_of(store, &prefix, complete.into_iter(), known, retry).await
}

/// A block's `meta.json`, `None` when the block is incomplete or the file
/// is unusable.
async fn read_meta(
    store: &dyn ObjectStore,
    prefix: &Path,
    ulid: Ulid,
    retry: &RetryPolicy,
) -> Result<Option<BlockMeta>, BlockError> {
    let path = prefix.clone().join(ulid.to_string()).join("meta.json");
    let bytes = match retry.run(&path, || get_all(store, &path)).await {
        Ok(bytes) => bytes,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match serde_json::from_slice::<BlockMeta>(&bytes) {
        Ok(meta) if meta.ulid == ulid => Ok(Some(meta)),
        Ok(meta) => {
            tracing::warn!(object = %path, ulid = %meta.ulid, "skipping block whose meta.json names another ULID");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(object = %path, error = %e, "skipping block with unparsable meta.json");
            Ok(None)
        }
    }
}

/// The whole object at `path`: one GET, body included (so a retry covers
/// a body cut short as well as a failed request).
pub(crate) async fn get_all(store: &dyn ObjectStore, path: &Path) -> object_store::Result<Bytes> {
    store.get(path).await?.bytes().await
}

/// Queries one block: its index held in memory, chunks fetched on demand.
pub struct BlockReader {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    meta: BlockMeta,
    index: Index,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .field("series", &self.index.postings().len())
            .finish_non_exhaustive()
    }
}

impl BlockReader {
    /// Loads the index of the block `meta` describes.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        meta: BlockMeta,
    ) -> Result<Self, BlockError> {
        Self::open_with_retry(store, tenant, meta, &RetryPolicy::default()).await
    }

    /// [`BlockReader::open`] retrying the index GET per `retry`.
    pub async fn open_with_retry(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        meta: BlockMeta,
        retry: &RetryPolicy,
    ) -> Result<Self, BlockError> {
        let dir = block_dir(tenant, meta.ulid);
        let path = dir.clone().join("index");
        let bytes = retry.run(&path, || get_all(store.as_ref(), &path)).await?;
        let index = index::decode(&bytes).map_err(|reason| corrupt(&path, reason))?;
        Ok(Self {
            store,
            dir,
            meta,
            index,
        })
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Roughly the heap this reader holds (its decoded index).
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_bytes() + size_of::<Self>()
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]`
    /// (inclusive), sorted by label set; series without samples in range
    /// are left out. Only chunks overlapping the range are fetched.
    pub async fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, BlockError> {
        let plan = self.plan_select(matchers, mint, maxt);
        self.fetch_plan(plan, &FetchOptions::default()).await
    }

    /// Decides from the index alone what [`BlockReader::select`] would
    /// read: the matching series with chunks overlapping `[mint, maxt]`
    /// and how many chunk bytes that is. Lets a caller enforce limits
    /// across blocks before any chunk is fetched.
    pub fn plan_select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> SelectPlan {
        let mut plan = SelectPlan {
            ulid: self.meta.ulid,
            mint,
            maxt,
            series: Vec::new(),
            chunk_bytes: 0,
        };
        for id in &self.index.postings().select(matchers) {
            let Some(entry) = self.index.series(id) else {
                continue;
            };
            let chunks: Vec<ChunkRef> = entry
                .chunks
                .iter()
                .filter(|c| c.overlaps(mint, maxt))
                .copied()
                .collect();
            if !chunks.is_empty() {
                plan.chunk_bytes += chunks.iter().map(|c| u64::from(c.len)).sum::<u64>();
                plan.series.push((self.index.labels(entry), chunks));
            }
        }
        plan
    }

    /// Series in the block. Series IDs `0..series_count()` are in label
    /// order, which is what lets a merge walk several blocks in step.
    pub fn series_count(&self) -> u32 {
        // The index holds at most 2^32 series (writers enforce it).
        u32::try_from(self.index.series_len()).unwrap_or(u32::MAX)
    }

    /// A plan reading every chunk of the series with IDs in `ids`: how a
    /// compaction streams a block a batch of series at a time.
    pub fn plan_series(&self, ids: Range<u32>) -> SelectPlan {
        let mut plan = SelectPlan {
            ulid: self.meta.ulid,
            mint: i64::MIN,
            maxt: i64::MAX,
            series: Vec::new(),
            chunk_bytes: 0,
        };
        for entry in ids.filter_map(|id| self.index.series(id)) {
            if entry.chunks.is_empty() {
                continue;
            }
            plan.chunk_bytes += entry.chunks.iter().map(|c| u64::from(c.len)).sum::<u64>();
            plan.series
                .push((self.index.labels(entry), entry.chunks.to_vec()));
        }
        plan
    }

    /// Fetches and decodes the chunks `plan` (from this reader's
    /// [`BlockReader::plan_select`]) names, under `opts`' concurrency cap
    /// and retry policy.
    pub async fn fetch_plan(
        &self,
        plan: SelectPlan,
        opts: &FetchOptions,
    ) -> Result<Vec<Series>, BlockError> {
        if plan.ulid != self.meta.ulid {
            return Err(BlockError::InvalidInput(format!(
                "plan for block {} fetched from block {}",
                plan.ulid, self.meta.ulid
            )));
        }
        let (mint, maxt) = (plan.mint, plan.maxt);
        let fetched = self
            .fetch(plan.series.iter().flat_map(|(_, cs)| cs), opts)
            .await?;

        let mut out = Vec::with_capacity(plan.series.len());
        for (labels, chunks) in plan.series {
            // A heavy query's decoding on a background query thread must
            // not hold the CPU from a light one for a whole timer tick.
            crate::cpu_work::yield_point();
            let mut samples: Vec<Sample> = Vec::new();
            let mut histograms: Vec<HistogramSample> = Vec::new();
            for c in &chunks {
                let path = segment_path(&self.dir, c.segment);
                let frame = fetched
                    .frame(c)
                    .ok_or_else(|| corrupt(&path, "chunk frame missing from read"))?;
                let raw = chunks::read_frame(frame)
                    .map_err(|r| corrupt(&path, format!("chunk at offset {}: {r}", c.offset)))?;
                let bad =
                    |e: ChunkError| corrupt(&path, format!("chunk at offset {}: {e}", c.offset));
                match c.encoding {
                    ChunkEncoding::Xor => {
                        let mut decoded = xor::decode(&raw).map_err(bad)?;
                        decoded.retain(|s| s.t >= mint && s.t <= maxt);
                        append_in_order(&mut samples, decoded, |s| s.t, merge_samples);
                    }
                    ChunkEncoding::Histogram => {
                        let mut decoded = histogram::decode(&raw).map_err(bad)?;
                        decoded.retain(|s| s.t >= mint && s.t <= maxt);
                        append_in_order(&mut histograms, decoded, |s| s.t, merge_histograms);
                    }
                }
            }
            if !samples.is_empty() || !histograms.is_empty() {
                out.push(Series {
                    labels,
                    samples,
                    histograms,
                });
            }
        }
        if !out.is_sorted_by(|a, b| a.labels <= b.labels) {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        Ok(out)
    }

    /// Label sets of the series matching `matchers` that have a chunk
    /// overlapping `[mint, maxt]`, sorted. Answered from the index alone.
    pub fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .index
            .postings()
            .select(matchers)
            .iter()
            .filter_map(|id| self.index.series(id))
            .filter(|e| e.chunks.iter().any(|c| c.overlaps(mint, maxt)))
            .map(|e| self.index.labels(e))
            .collect();
        if !out.is_sorted() {
            out.sort();
        }
        out
    }

    /// Sorted label names of the series matching `matchers` (all series
    /// when there are none).
    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        let postings = self.index.postings();
        if matchers.is_empty() {
            return postings.label_names();
        }
        let mut names = BTreeSet::new();
        for id in &postings.select(matchers) {
            if let Some(entry) = self.index.series(id) {
                names.extend(entry.labels.iter().map(|&(name, _)| name));
            }
        }
        // Symbols are sorted, so ascending refs are ascending names.
        names
            .into_iter()
            .map(|r| self.index.symbol(r).to_string())
            .collect()
    }

    /// Sorted values of label `name` among the series matching `matchers`.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let postings = self.index.postings();
        if matchers.is_empty() {
            return postings.label_values(name);
        }
        let ids = postings.select(matchers);
        postings
            .values(name)
            .filter(|(_, series)| !series.is_disjoint(&ids))
            .map(|(value, _)| value.to_string())
            .collect()
    }

    /// Fetches the frames of `refs` with as few ranged GETs as is sensible:
    /// ranges in the same segment closer than [`MAX_RANGE_GAP`] are merged.
    async fn fetch<'a>(
        &self,
        refs: impl Iterator<Item = &'a ChunkRef>,
        opts: &FetchOptions,
    ) -> Result<Fetched, BlockError> {
        let mut ranges: Vec<(u32, u64, u64)> = refs
            .map(|c| (c.segment, c.offset, c.offset + u64::from(c.len)))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u32, Range<u64>)> = Vec::new();
        for (segment, start, end) in ranges {
            if let Some((seg, r)) = merged.last_mut()
                && *seg == segment
                && start <= r.end.saturating_add(MAX_RANGE_GAP)
                && end.max(r.end) - r.start <= MAX_RANGE_LEN
            {
                r.end = r.end.max(end);
                continue;
            }
            merged.push((segment, start..end));
        }
        let parts: Vec<(u32, u64, Bytes)> = futures::stream::iter(merged)
            .map(|(segment, range)| async move {
                let path = segment_path(&self.dir, segment);
                let data = opts
                    .read(&path, || self.store.get_range(&path, range.clone()))
                    .await?;
                if data.len() as u64 != range.end - range.start {
                    return Err(corrupt(
                        &path,
                        format!("read of bytes {range:?} returned {} bytes: segment shorter than the index says", data.len()),
                    ));
                }
                Ok((segment, range.start, data))
            })
            // The real cap is `opts`' semaphore, shared by all the
            // blocks of a query; this only bounds futures created ahead.
            .buffer_unordered(DEFAULT_FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        let mut fetched = Fetched::default();
        for (segment, start, data) in parts {
            fetched
                .by_segment
                .entry(segment)
                .or_default()
                .push((start, data));
        }
        for parts in fetched.by_segment.values_mut() {
            parts.sort_unstable_by_key(|(start, _)| *start);
        }
        Ok(fetched)
    }
}

/// What [`BlockReader::select`] would read from one block, decided from its
/// index: see [`BlockReader::plan_select`].
#[derive(Debug, Clone)]
pub struct SelectPlan {
    ulid: Ulid,
    mint: i64,
    maxt: i64,
    series: Vec<(Labels, Vec<ChunkRef>)>,
    chunk_bytes: u64,
}

impl SelectPlan {
    /// The label sets of the series the plan reads, sorted.
    pub fn labels(&self) -> impl Iterator<Item = &Labels> {
        self.series.iter().map(|(l, _)| l)
    }

    /// How many series the plan reads.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Bytes of chunk frames the plan reads (not counting the gaps that
    /// coalesced GETs read between them).
    pub fn chunk_bytes(&self) -> u64 {
        self.chunk_bytes
    }
}

/// Byte ranges read from chunk segments, by segment, sorted by offset.
#[derive(Default)]
struct Fetched {
    by_segment: BTreeMap<u32, Vec<(u64, Bytes)>>,
}

impl Fetched {
    /// The bytes of chunk `c`'s frame, if they were fetched.
    fn frame(&self, c: &ChunkRef) -> Option<&[u8]> {
        let parts = self.by_segment.get(&c.segment)?;
        let i = parts
            .partition_point(|(start, _)| *start <= c.offset)
            .checked_sub(1)?;
        let (start, data) = &parts[i];
        let from = usize::try_from(c.offset - start).ok()?;
        let frame = data.get(from..from.checked_add(c.len as usize)?)?;
        (frame.len() >= FRAME_HEADER_LEN).then_some(frame)
    }
}

#[cfg(test)]
mod tests;
