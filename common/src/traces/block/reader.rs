//! Reading one trace block from object storage. Opening loads the small
//! parts once (`index.json`, the Parquet footer and every trace-ID bloom
//! filter, two or three GETs); lookups and searches then fetch only the
//! column chunks of the row groups they need.

use std::sync::Arc;

use arrow::array::{Array, BinaryArray, UInt64Array};
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::bloom_filter::Sbbf;
use parquet::file::statistics::Statistics;

use super::write::{INDEX_FILE, INDEX_VERSION, TraceIndex, trace_blocks_prefix};
use super::{DATA_FILE, SPAN_COLUMN, START_COLUMN, TRACE_ID_COLUMN};
use crate::block::{
    BlockError, BlockMeta, ParquetObject, RetryPolicy, get_all, parquet_read_error,
};
use crate::tenant::TenantId;
use crate::traces::otlp::decode_spans;
use crate::traces::tags::TagSummary;
use crate::traces::{Span, SpanFilter, Trace, TraceId};

/// One open trace block.
pub struct TraceBlockReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    meta: BlockMeta,
    index: TraceIndex,
    parquet: ArrowReaderMetadata,
    /// The `trace_id` bloom filter of each row group (`None`: not written).
    blooms: Vec<Option<Sbbf>>,
}

impl std::fmt::Debug for TraceBlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceBlockReader")
            .field("path", &self.path)
            .field("row_groups", &self.row_groups())
            .finish_non_exhaustive()
    }
}

fn corrupt(object: &Path, reason: impl ToString) -> BlockError {
    BlockError::Corrupt {
        object: object.to_string(),
        reason: reason.to_string(),
    }
}

impl TraceBlockReader {
    /// Opens `tenant`'s block `meta` describes, retrying reads per `retry`.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        tenant: &TenantId,
        meta: BlockMeta,
        retry: &RetryPolicy,
    ) -> Result<Self, BlockError> {
        let dir = trace_blocks_prefix(tenant).join(meta.ulid.to_string());
        let index_path = dir.clone().join(INDEX_FILE);
        let bytes = retry
            .run(&index_path, || get_all(store.as_ref(), &index_path))
            .await?;
        let index: TraceIndex =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(&index_path, e))?;
        if index.version != INDEX_VERSION {
            return Err(corrupt(
                &index_path,
                format!(
                    "index version {} (this Cairn reads {INDEX_VERSION})",
                    index.version
                ),
            ));
        }
        let path = dir.join(DATA_FILE);
        let metadata = retry
            .run(&path, || async {
                ParquetObject::new(Arc::clone(&store), path.clone(), index.data_bytes)
                    .get_metadata(None)
                    .await
                    .map_err(|e| object_store::Error::Generic {
                        store: "parquet",
                        source: Box::new(e),
                    })
            })
            .await?;
        let parquet = ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new())
            .map_err(|e| corrupt(&path, e))?;
        let blooms = load_blooms(store.as_ref(), &path, &parquet, retry).await?;
        Ok(Self {
            store,
            path,
            meta,
            index,
            parquet,
            blooms,
        })
    }

    /// The block's metadata.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block's attribute keys and values.
    pub fn tags(&self) -> &TagSummary {
        &self.index.tags
    }

    /// Roughly the heap this reader holds (footer, bloom filters, tags).
    pub fn memory_bytes(&self) -> usize {
        let blooms: usize = self
            .blooms
            .iter()
            .flatten()
            .map(|b| b.num_blocks() * 32)
            .sum();
        size_of::<Self>()
            + self.parquet.metadata().memory_size()
            + blooms
            + self.index.tags.memory_bytes()
    }

    /// How many row groups the data file has.
    pub fn row_groups(&self) -> usize {
        self.parquet.metadata().num_row_groups()
    }

    /// The row groups that may hold spans of `id`: min/max statistics of
    /// `trace_id` first, then its bloom filter (both in memory).
    pub fn row_groups_for(&self, id: &TraceId) -> Vec<usize> {
        let meta = self.parquet.metadata();
        (0..meta.num_row_groups())
            .filter(|&i| {
                let rg = meta.row_group(i);
                if let Some(Statistics::ByteArray(stats)) = rg.column(TRACE_ID_COLUMN).statistics()
                    && let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt())
                    && (id.as_slice() < min.data() || id.as_slice() > max.data())
                {
                    return false;
                }
                self.blooms
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_none_or(|b| b.check(id.as_slice()))
            })
            .collect()
    }

    /// The `(trace_id, start, span)` rows of `row_groups`, in stored order
    /// (by trace ID).
    pub async fn rows(&self, row_groups: Vec<usize>) -> Result<SpanRows, BlockError> {
        let object = ParquetObject::new(
            Arc::clone(&self.store),
            self.path.clone(),
            self.index.data_bytes,
        );
        let builder =
            ParquetRecordBatchStreamBuilder::new_with_metadata(object, self.parquet.clone());
        let mask = ProjectionMask::roots(
            builder.parquet_schema(),
            [TRACE_ID_COLUMN, START_COLUMN, SPAN_COLUMN],
        );
        let stream = builder
            .with_projection(mask)
            .with_row_groups(row_groups)
            .build()
            .map_err(|e| parquet_read_error(&self.path, e))?;
        Ok(SpanRows {
            stream,
            batch: None,
            row: 0,
            path: self.path.clone(),
        })
    }

    /// Every row of the whole block, in stored order.
    pub async fn all_rows(&self) -> Result<SpanRows, BlockError> {
        self.rows((0..self.row_groups()).collect()).await
    }

    /// Feeds the rows of `row_groups` to `visit`, which returns `false` to stop.
    async fn scan(
        &self,
        row_groups: Vec<usize>,
        mut visit: impl FnMut(SpanRow) -> Result<bool, BlockError>,
    ) -> Result<(), BlockError> {
        if row_groups.is_empty() {
            return Ok(());
        }
        let mut rows = self.rows(row_groups).await?;
        while let Some(row) = rows.next().await? {
            if !visit(row)? {
                break;
            }
        }
        Ok(())
    }

    /// Every span of trace `id` the block holds, in stored order.
    pub async fn trace_by_id(&self, id: &TraceId) -> Result<Vec<Span>, BlockError> {
        let mut out = Vec::new();
        self.scan(self.row_groups_for(id), |row| {
            if &row.trace_id == id {
                out.extend(self.decode(&row.span)?);
            }
            // Rows are sorted by trace ID: past it, nothing more to find.
            Ok(row.trace_id <= *id)
        })
        .await?;
        Ok(out)
    }

    /// The block's traces (with every span the block holds of them) that
    /// have a span starting in `[start_ns, end_ns]` passing `filter`; at
    /// most `limit` of them. Spans of traces with no span in the range are
    /// never decoded.
    pub async fn search(
        &self,
        start_ns: u64,
        end_ns: u64,
        filter: Option<&SpanFilter>,
        limit: Option<usize>,
    ) -> Result<Vec<Trace>, BlockError> {
        let mut out = Vec::new();
        let mut group = Group::default();
        let in_range = |t: u64| t >= start_ns && t <= end_ns;
        let finish = |group: &mut Group, out: &mut Vec<Trace>| -> Result<(), BlockError> {
            let Some(id) = group.id.take() else {
                return Ok(());
            };
            let rows = std::mem::take(&mut group.rows);
            if !std::mem::take(&mut group.in_range) {
                return Ok(());
            }
            let mut spans = Vec::with_capacity(rows.len());
            for r in &rows {
                spans.extend(self.decode(r)?);
            }
            let hit = spans
                .iter()
                .any(|s| in_range(s.start_unix_nano) && filter.is_none_or(|f| f(s)));
            if hit {
                out.push(Trace::from_spans(id, spans));
            }
            Ok(())
        };
        self.scan((0..self.row_groups()).collect(), |row| {
            if group.id != Some(row.trace_id) {
                finish(&mut group, &mut out)?;
                if limit.is_some_and(|l| out.len() >= l) {
                    return Ok(false);
                }
                group.id = Some(row.trace_id);
            }
            group.in_range |= in_range(row.start_unix_nano);
            group.rows.push(row.span);
            Ok(true)
        })
        .await?;
        finish(&mut group, &mut out)?;
        if let Some(l) = limit {
            out.truncate(l);
        }
        Ok(out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<Span>, BlockError> {
        decode_spans(bytes).map_err(|e| corrupt(&self.path, format!("span: {e}")))
    }
}

/// One stored span: its trace, start and OTLP protobuf encoding.
#[derive(Debug, Clone)]
pub struct SpanRow {
    /// The span's trace.
    pub trace_id: TraceId,
    /// Its start (ns).
    pub start_unix_nano: u64,
    /// The span as OTLP protobuf (with its resource and scope).
    pub span: Vec<u8>,
}

/// A pull cursor over a block's rows in stored order, fetching row groups
/// as it goes: merges walk several blocks side by side with it.
pub struct SpanRows {
    stream: ParquetRecordBatchStream<ParquetObject>,
    batch: Option<RecordBatch>,
    row: usize,
    path: Path,
}

impl SpanRows {
    /// The data file being read (for errors).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes sure a batch with an unread row is loaded; false at the end.
    async fn fill(&mut self) -> Result<bool, BlockError> {
        loop {
            if self.batch.as_ref().is_some_and(|b| self.row < b.num_rows()) {
                return Ok(true);
            }
            match self
                .stream
                .try_next()
                .await
                .map_err(|e| parquet_read_error(&self.path, e))?
            {
                Some(b) => {
                    self.batch = Some(b);
                    self.row = 0;
                }
                None => return Ok(false),
            }
        }
    }

    /// The trace ID of the next row, without consuming it.
    pub async fn peek(&mut self) -> Result<Option<TraceId>, BlockError> {
        if !self.fill().await? {
            return Ok(None);
        }
        let Some(batch) = &self.batch else {
            return Ok(None);
        };
        let (ids, _, _) = columns(batch).map_err(|r| corrupt(&self.path, r))?;
        TraceId::try_from(ids.value(self.row))
            .map(Some)
            .map_err(|_| corrupt(&self.path, "trace_id is not 16 bytes"))
    }

    /// The next row.
    pub async fn next(&mut self) -> Result<Option<SpanRow>, BlockError> {
        if !self.fill().await? {
            return Ok(None);
        }
        let Some(batch) = &self.batch else {
            return Ok(None);
        };
        let (ids, starts, spans) = columns(batch).map_err(|r| corrupt(&self.path, r))?;
        let row = self.row;
        self.row += 1;
        Ok(Some(SpanRow {
            trace_id: TraceId::try_from(ids.value(row))
                .map_err(|_| corrupt(&self.path, "trace_id is not 16 bytes"))?,
            start_unix_nano: starts.value(row),
            span: spans.value(row).to_vec(),
        }))
    }
}

/// The rows of one trace while a search reads it.
#[derive(Default)]
struct Group {
    id: Option<TraceId>,
    in_range: bool,
    rows: Vec<Vec<u8>>,
}

fn columns(batch: &RecordBatch) -> Result<(&BinaryArray, &UInt64Array, &BinaryArray), String> {
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
    Ok((
        column(batch, 0, "trace_id")?,
        column(batch, 1, "start_unix_nano")?,
        column(batch, 2, "span")?,
    ))
}

/// Every row group's `trace_id` bloom filter, in one ranged GET: the writer
/// puts them together at the end of the file.
async fn load_blooms(
    store: &dyn ObjectStore,
    path: &Path,
    parquet: &ArrowReaderMetadata,
    retry: &RetryPolicy,
) -> Result<Vec<Option<Sbbf>>, BlockError> {
    let meta = parquet.metadata();
    let spans: Vec<Option<(u64, u64)>> = meta
        .row_groups()
        .iter()
        .map(|rg| {
            let c = rg.column(TRACE_ID_COLUMN);
            let offset = u64::try_from(c.bloom_filter_offset()?).ok()?;
            let len = u64::try_from(c.bloom_filter_length()?).ok()?;
            Some((offset, offset + len))
        })
        .collect();
    let (Some(start), Some(end)) = (
        spans.iter().flatten().map(|s| s.0).min(),
        spans.iter().flatten().map(|s| s.1).max(),
    ) else {
        return Ok(vec![None; spans.len()]);
    };
    let bytes = retry
        .run(path, || store.get_range(path, start..end))
        .await?;
    spans
        .into_iter()
        .map(|span| {
            let Some((from, to)) = span else {
                return Ok(None);
            };
            let slice = bytes
                .get((from - start) as usize..(to - start) as usize)
                .ok_or_else(|| corrupt(path, "bloom filter outside the file"))?;
            Sbbf::from_bytes(slice)
                .map(Some)
                .map_err(|e| corrupt(path, format!("bloom filter: {e}")))
        })
        .collect()
}
