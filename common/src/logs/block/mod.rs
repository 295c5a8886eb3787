//! Logs blocks in object storage: how ingesters hand flushed log lines to
//! long-term storage and how queriers read them back.
//!
//! ```text
//! <tenant>/logs/blocks/<ULID>/logs.parquet  one row per line, sorted by stream then time
//! <tenant>/logs/blocks/<ULID>/index         JSON: each stream's labels, rows and time range
//! <tenant>/logs/blocks/<ULID>/meta.json     the metrics blocks' meta.json shape, uploaded last
//! ```
//!
//! `logs.parquet` is open Parquet (snappy pages, row groups of at most
//! [`ROW_GROUP_ROWS`] rows with min/max statistics) so DuckDB, Athena or
//! Spark read a tenant's logs without Cairn. Its columns: `stream_id`
//! (u32, the stream's ordinal in `index`), `fingerprint` (u64, the label
//! set's stable hash), `labels` (string, `{a="b", c="d"}`), `timestamp`
//! (TIMESTAMP ns), `line` (string) and `structured_metadata` (map of
//! string to string).
//!
//! [`LogBlockReader`] selects streams with roaring postings built from the
//! index, then reads only the row groups whose timestamp statistics overlap
//! the query and, within them, only the rows of the selected streams,
//! applying the query's line filter to each decoded line before copying it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, MapArray, MapBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampNanosecondArray, TimestampNanosecondBuilder, UInt32Array, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::{ArrowWriter, ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{LogEntry, LogSelect, StreamEntries};
use crate::block::{
    BlockCompaction, BlockError, BlockMeta, BlockStats, ParquetObject, RetryPolicy, Signal, get_all,
};
use crate::labels::{Label, Labels};
use crate::postings::MemPostings;
use crate::series::Matcher;
use crate::tenant::TenantId;

/// Rows per Parquet row group: small enough that a row group's min/max
/// timestamps prune reads, large enough for good compression.
pub const ROW_GROUP_ROWS: usize = 10_000;
/// The Parquet file's name inside a block directory.
pub const PARQUET_FILE: &str = "logs.parquet";
/// Lines decoded per Arrow batch while reading.
const READ_BATCH_ROWS: usize = 8192;
/// Column positions in `logs.parquet`.
const COL_STREAM_ID: usize = 0;
const COL_TIMESTAMP: usize = 3;
const COL_LINE: usize = 4;
const COL_METADATA: usize = 5;
/// The index format version this code writes and reads.
const INDEX_VERSION: u32 = 1;

mod merge;
mod stream_writer;

pub use merge::{MergedLines, merge_log_blocks};
pub use stream_writer::LogBlockWriter;

/// Where a tenant's logs blocks live: `<tenant>/logs/blocks`.
pub fn log_blocks_prefix(tenant: &TenantId) -> Path {
    Signal::Logs.blocks_prefix(tenant)
}

fn block_dir(tenant: &TenantId, ulid: Ulid) -> Path {
    log_blocks_prefix(tenant).join(ulid.to_string())
}

/// A block's `index`: the streams it holds, in `stream_id` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogIndex {
    /// Format version ([`INDEX_VERSION`]).
    pub version: u32,
    /// Size of `logs.parquet`, so readers find its footer without a HEAD.
    pub parquet_bytes: u64,
    /// One entry per stream; a stream's `stream_id` is its position here.
    pub streams: Vec<IndexStream>,
}

/// One stream of a logs block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexStream {
    /// The stream's labels.
    pub labels: Labels,
    /// [`Labels::stable_hash`] of `labels` (the `fingerprint` column).
    pub fingerprint: u64,
    /// Its first row in `logs.parquet` (rows are sorted by stream).
    pub first_row: u64,
    /// How many rows (lines) it has.
    pub rows: u64,
    /// Oldest line, nanoseconds.
    pub min_ts: i64,
    /// Newest line, nanoseconds.
    pub max_ts: i64,
    /// Bytes of line text.
    pub bytes: u64,
}

impl IndexStream {
    fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.max_ts >= start_ns && self.min_ts < end_ns
    }

    fn row_range(&self) -> Range<u64> {
        self.first_row..self.first_row.saturating_add(self.rows)
    }
}

/// The Arrow schema of `logs.parquet`.
pub fn parquet_schema() -> SchemaRef {
    let map_type = metadata_builder().finish().data_type().clone();
    Arc::new(Schema::new(vec![
        Field::new("stream_id", DataType::UInt32, false),
        Field::new("fingerprint", DataType::UInt64, false),
        Field::new("labels", DataType::Utf8, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        ),
        Field::new("line", DataType::Utf8, false),
        Field::new("structured_metadata", map_type, false),
    ]))
}

fn metadata_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

/// Rows of one batch being built.
struct BatchBuilder {
    stream_id: UInt32Builder,
    fingerprint: UInt64Builder,
    labels: StringBuilder,
    timestamp: TimestampNanosecondBuilder,
    line: StringBuilder,
    metadata: MapBuilder<StringBuilder, StringBuilder>,
    rows: usize,
}

impl BatchBuilder {
    fn new() -> Self {
        Self {
            stream_id: UInt32Builder::new(),
            fingerprint: UInt64Builder::new(),
            labels: StringBuilder::new(),
            timestamp: TimestampNanosecondBuilder::new(),
            line: StringBuilder::new(),
            metadata: metadata_builder(),
            rows: 0,
        }
    }

    fn push(&mut self, id: u32, fingerprint: u64, labels: &str, e: &LogEntry) {
        self.stream_id.append_value(id);
        self.fingerprint.append_value(fingerprint);
        self.labels.append_value(labels);
        self.timestamp.append_value(e.ts_ns);
        self.line.append_value(&e.line);
        for l in &e.structured_metadata {
            self.metadata.keys().append_value(&l.name);
            self.metadata.values().append_value(&l.value);
        }
        // Appending a map entry only fails when keys and values disagree
        // in length, which the loop above rules out.
        let _ = self.metadata.append(true);
        self.rows += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, BlockError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.stream_id.finish()),
            Arc::new(self.fingerprint.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.metadata.finish()),
        ];
        RecordBatch::try_new(Arc::clone(schema), columns)
            .map_err(|e| BlockError::InvalidInput(format!("building a logs batch: {e}")))
    }
}

/// How `logs.parquet` is written.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

fn write_failed(e: parquet::errors::ParquetError) -> BlockError {
    BlockError::InvalidInput(format!("writing {PARQUET_FILE}: {e}"))
}

/// Turns streams (in label order) into row batches of `logs.parquet` and
/// the index entries describing them; the caller writes the batches.
struct Encoder {
    schema: SchemaRef,
    batch: BatchBuilder,
    index: Vec<IndexStream>,
    row: u64,
}

impl Encoder {
    fn new() -> Self {
        Self {
            schema: parquet_schema(),
            batch: BatchBuilder::new(),
            index: Vec::new(),
            row: 0,
        }
    }

    /// Adds one stream (entries sorted by time); returns the batches that
    /// filled up.
    fn add(&mut self, s: &StreamEntries) -> Result<Vec<RecordBatch>, BlockError> {
        let id = u32::try_from(self.index.len())
            .map_err(|_| BlockError::InvalidInput("more than 2^32 streams in one block".into()))?;
        let fingerprint = s.labels.stable_hash();
        let text = s.labels.to_string();
        let mut full = Vec::new();
        for e in &s.entries {
            self.batch.push(id, fingerprint, &text, e);
            if self.batch.rows == ROW_GROUP_ROWS {
                full.push(self.batch.finish(&self.schema)?);
            }
        }
        self.index.push(IndexStream {
            labels: s.labels.clone(),
            fingerprint,
            first_row: self.row,
            rows: s.entries.len() as u64,
            min_ts: s.entries.first().map_or(0, |e| e.ts_ns),
            max_ts: s.entries.last().map_or(0, |e| e.ts_ns),
            bytes: s.entries.iter().map(|e| e.line.len() as u64).sum(),
        });
        self.row += s.entries.len() as u64;
        Ok(full)
    }

    /// The last, partly filled batch, if any.
    fn rest(&mut self) -> Result<Option<RecordBatch>, BlockError> {
        if self.batch.rows == 0 {
            return Ok(None);
        }
        self.batch.finish(&self.schema).map(Some)
    }

    /// The index of a data file of `parquet_bytes`.
    fn index(self, parquet_bytes: u64) -> LogIndex {
        LogIndex {
            version: INDEX_VERSION,
            parquet_bytes,
            streams: self.index,
        }
    }
}

/// Encodes `streams` (sorted by labels, entries by time) as `logs.parquet`
/// and its index, in memory.
fn encode(streams: &[StreamEntries]) -> Result<(Vec<u8>, LogIndex), BlockError> {
    let mut enc = Encoder::new();
    let mut writer = ArrowWriter::try_new(
        Vec::new(),
        Arc::clone(&enc.schema),
        Some(writer_properties()),
    )
    .map_err(write_failed)?;
    for s in streams {
        for batch in enc.add(s)? {
            writer.write(&batch).map_err(write_failed)?;
        }
    }
    if let Some(batch) = enc.rest()? {
        writer.write(&batch).map_err(write_failed)?;
    }
    let parquet = writer.into_inner().map_err(write_failed)?;
    let index = enc.index(parquet.len() as u64);
    Ok((parquet, index))
}

/// Uploads a block's `index` then `meta.json` (with `compaction` as its
/// history), making the block `ulid` in `dir` exist.
async fn finish_block(
    store: &dyn ObjectStore,
    dir: &Path,
    index: &LogIndex,
    ulid: Ulid,
    compaction: BlockCompaction,
    source: &str,
) -> Result<BlockMeta, BlockError> {
    let index_json = serde_json::to_vec(index)
        .map_err(|e| BlockError::InvalidInput(format!("encoding index: {e}")))?;
    store
        .put(&dir.clone().join("index"), PutPayload::from(index_json))
        .await?;
    let lines: u64 = index.streams.iter().map(|s| s.rows).sum();
    let min_ts = index.streams.iter().map(|s| s.min_ts).min().unwrap_or(0);
    let max_ts = index.streams.iter().map(|s| s.max_ts).max().unwrap_or(0);
    let mut meta = BlockMeta::level1(
        ulid,
        min_ts.div_euclid(1_000_000),
        max_ts.div_euclid(1_000_000).saturating_add(1),
        BlockStats {
            num_samples: lines,
            num_series: index.streams.len() as u64,
            num_chunks: lines.div_ceil(ROW_GROUP_ROWS as u64),
        },
        source,
    );
    meta.compaction = compaction;
    meta.put(store, dir).await?;
    Ok(meta)
}

/// Writes `streams` as a new level-1 logs block for `tenant` and returns
/// its metadata (`minTime`/`maxTime` in milliseconds, `numSamples` = lines,
/// `numSeries` = streams, `numChunks` = row groups). `source` names the
/// writer. Streams are sorted by labels (equal label sets merged) and their
/// entries by time; `meta.json` goes last, so a failed call leaves only an
/// invisible partial directory.
pub async fn write_log_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    streams: Vec<StreamEntries>,
    source: &str,
) -> Result<BlockMeta, BlockError> {
    let mut streams = super::merge_streams(vec![streams]);
    for s in &mut streams {
        super::sort_dedup_entries(&mut s.entries);
    }
    streams.retain(|s| !s.entries.is_empty());
    if streams.is_empty() {
        return Err(BlockError::Empty);
    }
    let (parquet, index) = encode(&streams)?;
    let ulid = Ulid::new();
    let dir = block_dir(tenant, ulid);
    store
        .put(&dir.clone().join(PARQUET_FILE), PutPayload::from(parquet))
        .await?;
    let level1 = BlockCompaction {
        level: 1,
        sources: vec![ulid],
    };
    finish_block(store, &dir, &index, ulid, level1, source).await
}

/// Queries one logs block: its index held in memory, Parquet row groups
/// fetched on demand with ranged GETs.
pub struct LogBlockReader {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    meta: BlockMeta,
    index: LogIndex,
    postings: MemPostings,
}

impl std::fmt::Debug for LogBlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBlockReader")
            .field("dir", &self.dir)
            .field("streams", &self.index.streams.len())
            .finish_non_exhaustive()
    }
}

impl LogBlockReader {
    /// Loads the index of the block `meta` describes, retrying per `retry`.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        meta: BlockMeta,
        retry: &RetryPolicy,
    ) -> Result<Self, BlockError> {
        let dir = block_dir(tenant, meta.ulid);
        let path = dir.clone().join("index");
        let bytes = retry.run(&path, || get_all(store.as_ref(), &path)).await?;
        let index: LogIndex = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
        if index.version != INDEX_VERSION {
            return Err(corrupt(
                &path,
                format!(
                    "index version {} (this Cairn reads {INDEX_VERSION})",
                    index.version
                ),
            ));
        }
        let mut postings = MemPostings::new();
        for (id, s) in index.streams.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| corrupt(&path, "too many streams"))?;
            postings.add(id, &s.labels);
        }
        Ok(Self {
            store,
            dir,
            meta,
            index,
            postings,
        })
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Roughly the heap this reader holds (its index and postings).
    pub fn memory_bytes(&self) -> usize {
        let labels: usize = self
            .index
            .streams
            .iter()
            .map(|s| {
                size_of::<IndexStream>()
                    + s.labels
                        .iter()
                        .map(|l| 2 * (l.name.len() + l.value.len()) + 64)
                        .sum::<usize>()
            })
            .sum();
        size_of::<Self>() + 2 * labels
    }

    /// Streams matching `matchers` with lines in `[start_ns, end_ns)`, by
    /// stream ID, answered from the index alone.
    fn selected(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<(u32, &IndexStream)> {
        self.postings
            .select(matchers)
            .iter()
            .filter_map(|id| Some((id, self.index.streams.get(id as usize)?)))
            .filter(|(_, s)| s.overlaps(start_ns, end_ns))
            .collect()
    }

    /// Label sets of the streams matching `matchers` with lines in
    /// `[start_ns, end_ns)`, sorted.
    pub fn streams(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .selected(matchers, start_ns, end_ns)
            .into_iter()
            .map(|(_, s)| s.labels.clone())
            .collect();
        out.sort();
        out
    }

    /// The lines `sel` asks for, by stream (sorted by labels, entries by
    /// time). Reads only overlapping row groups and the selected streams' rows.
    pub async fn select(&self, sel: &LogSelect) -> Result<Vec<StreamEntries>, BlockError> {
        let streams = self.selected(&sel.matchers, sel.start_ns, sel.end_ns);
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.dir.clone().join(PARQUET_FILE);
        let mut ranges: Vec<Range<u64>> = streams.iter().map(|(_, s)| s.row_range()).collect();
        ranges.sort_by_key(|r| r.start);
        let reader = ParquetObject::new(
            Arc::clone(&self.store),
            path.clone(),
            self.index.parquet_bytes,
        );
        let fail = |e| crate::block::parquet_read_error(&path, e);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(fail)?;
        let (row_groups, selection) =
            plan_rows(builder.metadata(), &ranges, sel.start_ns, sel.end_ns);
        if row_groups.is_empty() {
            return Ok(Vec::new());
        }
        let mask = ProjectionMask::roots(
            builder.parquet_schema(),
            [COL_STREAM_ID, COL_TIMESTAMP, COL_LINE, COL_METADATA],
        );
        let mut batches = builder
            .with_projection(mask)
            .with_row_groups(row_groups)
            .with_row_selection(selection)
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(fail)?;
        let mut by_stream: BTreeMap<u32, Vec<LogEntry>> = BTreeMap::new();
        while let Some(batch) = batches.try_next().await.map_err(fail)? {
            decode_batch(&batch, sel, &mut by_stream).map_err(|r| corrupt(&path, r))?;
        }
        let mut out: Vec<StreamEntries> = by_stream
            .into_iter()
            .filter_map(|(id, entries)| {
                let labels = self.index.streams.get(id as usize)?.labels.clone();
                Some(StreamEntries { labels, entries })
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}

/// The row groups to read and which of their rows: those overlapping
/// `[start_ns, end_ns)` by their timestamp statistics and holding rows in
/// `ranges` (sorted, disjoint), selecting exactly those rows.
fn plan_rows(
    meta: &ParquetMetaData,
    ranges: &[Range<u64>],
    start_ns: i64,
    end_ns: i64,
) -> (Vec<usize>, RowSelection) {
    let mut groups = Vec::new();
    let mut selectors: Vec<RowSelector> = Vec::new();
    let mut group_start = 0u64;
    for (i, rg) in meta.row_groups().iter().enumerate() {
        let rows = u64::try_from(rg.num_rows()).unwrap_or(0);
        let group = group_start..group_start + rows;
        group_start += rows;
        let in_time = match rg.column(COL_TIMESTAMP).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&min), Some(&max)) => max >= start_ns && min < end_ns,
                _ => true,
            },
            _ => true,
        };
        let wanted: Vec<Range<u64>> = ranges
            .iter()
            .map(|r| r.start.max(group.start)..r.end.min(group.end))
            .filter(|r| r.start < r.end)
            .collect();
        if !in_time || wanted.is_empty() {
            continue;
        }
        groups.push(i);
        let mut at = group.start;
        for r in wanted {
            if r.start > at {
                selectors.push(RowSelector::skip((r.start - at) as usize));
            }
            selectors.push(RowSelector::select((r.end - r.start) as usize));
            at = r.end;
        }
        if group.end > at {
            selectors.push(RowSelector::skip((group.end - at) as usize));
        }
    }
    (groups, RowSelection::from(selectors))
}

/// Appends the rows of `batch` that pass `sel`'s time range and line filter.
fn decode_batch(
    batch: &RecordBatch,
    sel: &LogSelect,
    out: &mut BTreeMap<u32, Vec<LogEntry>>,
) -> Result<(), String> {
    fn column<'a, T: 'static>(
        batch: &'a RecordBatch,
        i: usize,
        name: &str,
    ) -> Result<&'a T, String> {
        batch
            .column(i)
            .as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| format!("column {name} has type {}", batch.column(i).data_type()))
    }
    let ids: &UInt32Array = column(batch, 0, "stream_id")?;
    let ts: &TimestampNanosecondArray = column(batch, 1, "timestamp")?;
    let lines: &StringArray = column(batch, 2, "line")?;
    let map: &MapArray = column(batch, 3, "structured_metadata")?;
    let keys = map
        .keys()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("structured_metadata keys are not strings")?;
    let values = map
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("structured_metadata values are not strings")?;
    let offsets = map.value_offsets();
    for row in 0..batch.num_rows() {
        let t = ts.value(row);
        if t < sel.start_ns || t >= sel.end_ns {
            continue;
        }
        let line = lines.value(row);
        if sel.line_filter.as_ref().is_some_and(|f| !f(line)) {
            continue;
        }
        let (from, to) = match (offsets.get(row), offsets.get(row + 1)) {
            (Some(&a), Some(&b)) => (a.max(0) as usize, b.max(0) as usize),
            _ => return Err(format!("structured_metadata offsets end before row {row}")),
        };
        let mut metadata = Vec::with_capacity(to.saturating_sub(from));
        for j in from..to.min(keys.len()).min(values.len()) {
            metadata.push(Label::new(keys.value(j), values.value(j)));
        }
        out.entry(ids.value(row)).or_default().push(LogEntry {
            ts_ns: t,
            line: line.to_string(),
            structured_metadata: Labels::new(metadata),
        });
    }
    Ok(())
}

fn corrupt(object: &Path, reason: impl ToString) -> BlockError {
    BlockError::Corrupt {
        object: object.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::MatchOp;
    use bytes::Bytes;
    use object_store::memory::InMemory;
    use parquet::file::metadata::ParquetMetaDataReader;

    fn entry(ts_ns: i64, line: &str, meta: &[(&str, &str)]) -> LogEntry {
        LogEntry {
            ts_ns,
            line: line.into(),
            structured_metadata: Labels::from_pairs(meta.iter().copied()),
        }
    }

    fn select(matchers: Vec<Matcher>, start_ns: i64, end_ns: i64) -> LogSelect {
        LogSelect {
            matchers,
            start_ns,
            end_ns,
            line_filter: None,
            limit: None,
            direction: super::super::Direction::Forward,
        }
    }

    #[tokio::test]
    async fn written_block_reads_back_by_stream_time_and_filter() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let tenant = TenantId::parse("t").unwrap();
        let a = Labels::from_pairs([("app", "a")]);
        let b = Labels::from_pairs([("app", "b"), ("env", "prod")]);
        // Enough rows for several row groups in stream b.
        let b_entries: Vec<LogEntry> = (0..25_000)
            .map(|i| entry(i, &format!("line {i}"), &[]))
            .collect();
        let streams = vec![
            StreamEntries {
                labels: b.clone(),
                entries: b_entries,
            },
            StreamEntries {
                labels: a.clone(),
                entries: vec![
                    entry(5, "hello", &[("trace_id", "abc")]),
                    entry(1, "first", &[]),
                ],
            },
        ];
        let meta = write_log_block(store.as_ref(), &tenant, streams, "ing-1")
            .await
            .unwrap();
        assert_eq!((meta.stats.num_samples, meta.stats.num_series), (25_002, 2));
        let r = LogBlockReader::open(Arc::clone(&store), &tenant, meta, &RetryPolicy::default())
            .await
            .unwrap();

        let got = r
            .select(&select(
                vec![Matcher::new(MatchOp::Equal, "app", "a")],
                0,
                100,
            ))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].entries,
            vec![
                entry(1, "first", &[]),
                entry(5, "hello", &[("trace_id", "abc")])
            ]
        );

        let mut sel = select(
            vec![Matcher::new(MatchOp::Equal, "env", "prod")],
            20_000,
            20_100,
        );
        sel.line_filter = Some(Arc::new(|l: &str| l.ends_with('7')));
        let got = r.select(&sel).await.unwrap();
        let lines: Vec<&str> = got[0].entries.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines.len(), 10);
        assert_eq!(lines[0], "line 20007");

        assert_eq!(r.streams(&[], 0, 2), vec![a.clone(), b.clone()]);
        assert_eq!(r.streams(&[], 10, 20), vec![b]);
        assert!(
            r.select(&select(vec![], 30_000, 40_000))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn row_plan_skips_rows_of_other_streams() {
        let schema = parquet_schema();
        let mut w = ArrowWriter::try_new(
            Vec::new(),
            Arc::clone(&schema),
            Some(
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(10))
                    .build(),
            ),
        )
        .unwrap();
        let mut b = BatchBuilder::new();
        for i in 0..30 {
            b.push(0, 0, "{}", &entry(i, "x", &[]));
        }
        w.write(&b.finish(&schema).unwrap()).unwrap();
        let bytes = Bytes::from(w.into_inner().unwrap());
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap();
        // Rows 5..12 span groups 0 and 1; times 0..30 overlap everything.
        let (groups, sel) = plan_rows(&meta, std::slice::from_ref(&(5..12)), 0, 100);
        assert_eq!(groups, vec![0, 1]);
        assert_eq!(sel.row_count(), 7);
        // Group 2 holds t 20..30: pruned by statistics.
        let (groups, _) = plan_rows(&meta, std::slice::from_ref(&(0..30)), 0, 20);
        assert_eq!(groups, vec![0, 1]);
    }
}
