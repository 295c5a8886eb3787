//! Merging logs blocks: the sources' streams are walked side by side in
//! label order, one stream at a time, so memory holds one stream's lines
//! per source, not whole blocks; a line several sources hold (same stream,
//! timestamp, line and metadata, as replication writes it) is kept once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures::TryStreamExt;
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};

use super::{
    COL_LINE, COL_METADATA, COL_STREAM_ID, COL_TIMESTAMP, LogBlockReader, LogBlockWriter,
    PARQUET_FILE, READ_BATCH_ROWS, corrupt, decode_batch,
};
use crate::block::{BlockError, ParquetObject};
use crate::labels::Labels;
use crate::logs::{Direction, LogEntry, LogSelect, StreamEntries, sort_dedup_entries};

/// Lines read from the sources and written to the merged block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergedLines {
    /// Lines read (copies included).
    pub lines_in: u64,
    /// Lines written, each once.
    pub lines_out: u64,
}

/// A block's streams in stored (label) order, decoded batch by batch.
struct StreamCursor<'a> {
    reader: &'a LogBlockReader,
    batches: ParquetRecordBatchStream<ParquetObject>,
    /// Decoded rows not yet taken, by stream ID in stored order.
    queue: VecDeque<(u32, Vec<LogEntry>)>,
}

/// Every line: no time bound, no filter.
fn everything() -> LogSelect {
    LogSelect {
        matchers: Vec::new(),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        line_filter: None,
        limit: None,
        direction: Direction::Forward,
    }
}

impl<'a> StreamCursor<'a> {
    async fn open(reader: &'a LogBlockReader) -> Result<Self, BlockError> {
        let path = reader.dir.clone().join(PARQUET_FILE);
        let object = ParquetObject::new(
            Arc::clone(&reader.store),
            path.clone(),
            reader.index.parquet_bytes,
        );
        let fail = |e: parquet::errors::ParquetError| corrupt(&path, e);
        let builder = ParquetRecordBatchStreamBuilder::new(object)
            .await
            .map_err(fail)?;
        let mask = ProjectionMask::roots(
            builder.parquet_schema(),
            [COL_STREAM_ID, COL_TIMESTAMP, COL_LINE, COL_METADATA],
        );
        let batches = builder
            .with_projection(mask)
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(fail)?;
        Ok(Self {
            reader,
            batches,
            queue: VecDeque::new(),
        })
    }

    /// Decodes batches until a row is queued; false at the end.
    async fn fill(&mut self) -> Result<bool, BlockError> {
        let path = self.reader.dir.clone().join(PARQUET_FILE);
        while self.queue.is_empty() {
            let Some(batch) = self
                .batches
                .try_next()
                .await
                .map_err(|e| corrupt(&path, e))?
            else {
                return Ok(false);
            };
            let mut rows: BTreeMap<u32, Vec<LogEntry>> = BTreeMap::new();
            decode_batch(&batch, &everything(), &mut rows).map_err(|r| corrupt(&path, r))?;
            self.queue.extend(rows);
        }
        Ok(true)
    }

    /// The labels of the next stream, without consuming it.
    async fn peek(&mut self) -> Result<Option<&'a Labels>, BlockError> {
        if !self.fill().await? {
            return Ok(None);
        }
        let Some((id, _)) = self.queue.front() else {
            return Ok(None);
        };
        let reader: &'a LogBlockReader = self.reader;
        reader
            .index
            .streams
            .get(*id as usize)
            .map(|s| Some(&s.labels))
            .ok_or_else(|| corrupt(&reader.dir, format!("stream {id} is not in the index")))
    }

    /// Every line of the next stream (which may span batches).
    async fn take(&mut self) -> Result<Vec<LogEntry>, BlockError> {
        let mut out = Vec::new();
        let Some(&(id, _)) = self.queue.front() else {
            return Ok(out);
        };
        while self.fill().await? {
            match self.queue.front() {
                Some((next, _)) if *next == id => {
                    if let Some((_, lines)) = self.queue.pop_front() {
                        out.extend(lines);
                    }
                }
                _ => break,
            }
        }
        Ok(out)
    }
}

/// Streams every line of `sources` into `out`, one stream at a time in
/// label order, each (stream, timestamp, line, metadata) once.
pub async fn merge_log_blocks(
    sources: &[LogBlockReader],
    out: &mut LogBlockWriter,
) -> Result<MergedLines, BlockError> {
    let mut cursors = Vec::with_capacity(sources.len());
    for s in sources {
        cursors.push(StreamCursor::open(s).await?);
    }
    let mut counts = MergedLines::default();
    loop {
        let mut next: Option<&Labels> = None;
        for c in &mut cursors {
            if let Some(l) = c.peek().await?
                && next.is_none_or(|n| l < n)
            {
                next = Some(l);
            }
        }
        let Some(labels) = next.cloned() else {
            break;
        };
        let mut entries = Vec::new();
        for c in &mut cursors {
            if c.peek().await? == Some(&labels) {
                entries.extend(c.take().await?);
            }
        }
        counts.lines_in += entries.len() as u64;
        sort_dedup_entries(&mut entries);
        counts.lines_out += entries.len() as u64;
        out.append(&StreamEntries { labels, entries }).await?;
    }
    Ok(counts)
}
