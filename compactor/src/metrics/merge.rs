//! Streaming k-way merge of metrics blocks: walks the source blocks in
//! label order a batch of series at a time (series IDs are label-ordered in
//! every block), merges equal label sets, drops samples that replication
//! wrote more than once (same series and timestamp → one sample), re-encodes
//! XOR and native-histogram chunks ([`encode_chunks`]) and appends each
//! series to a [`BlockWriter`]. Memory holds the sources' indexes and one
//! batch of series per source (bounded by [`Batch`]), never a whole block.

use std::collections::VecDeque;
use std::sync::Arc;

use common::block::{BlockError, BlockReader, BlockWriter, FetchOptions, encode_chunks};
use common::series::{Series, merge_histograms, merge_samples};

/// What a merge read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Series written.
    pub series: u64,
    /// Samples (float and histogram) read from the sources.
    pub samples_in: u64,
    /// Samples (float and histogram) written (duplicates removed).
    pub samples_out: u64,
}

/// How much of each source a merge step reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// Series per source per step, at most.
    pub series: u32,
    /// Chunk bytes (compressed) per source per step, at most — unless a
    /// single series is larger, which is then read alone.
    pub chunk_bytes: u64,
}

/// One source block's position in the merge.
struct Cursor {
    reader: Arc<BlockReader>,
    next_id: u32,
    buffered: VecDeque<Series>,
}

impl Cursor {
    /// Fetches the next batch when nothing is buffered.
    async fn fill(&mut self, batch: Batch, opts: &FetchOptions) -> Result<(), BlockError> {
        let total = self.reader.series_count();
        while self.buffered.is_empty() && self.next_id < total {
            let mut end = self.next_id.saturating_add(batch.series.max(1)).min(total);
            let mut plan = self.reader.plan_series(self.next_id..end);
            while plan.chunk_bytes() > batch.chunk_bytes && end - self.next_id > 1 {
                end = self.next_id + (end - self.next_id) / 2;
                plan = self.reader.plan_series(self.next_id..end);
            }
            self.next_id = end;
            self.buffered
                .extend(self.reader.fetch_plan(plan, opts).await?);
        }
        Ok(())
    }
}

/// Merges `sources` into `writer`, reading each source a `batch` at a
/// time under `opts`' concurrency and retry policy.
pub async fn merge_into(
    sources: Vec<Arc<BlockReader>>,
    writer: &mut BlockWriter<'_>,
    batch: Batch,
    opts: &FetchOptions,
) -> Result<MergeStats, BlockError> {
    let mut cursors: Vec<Cursor> = sources
        .into_iter()
        .map(|reader| Cursor {
            reader,
            next_id: 0,
            buffered: VecDeque::new(),
        })
        .collect();
    let mut stats = MergeStats::default();
    loop {
        futures::future::try_join_all(cursors.iter_mut().map(|c| c.fill(batch, opts))).await?;
        let Some(labels) = cursors
            .iter()
            .filter_map(|c| c.buffered.front())
            .map(|s| &s.labels)
            .min()
            .cloned()
        else {
            return Ok(stats);
        };
        let mut merged: Option<Series> = None;
        for c in &mut cursors {
            if c.buffered.front().is_some_and(|s| s.labels == labels)
                && let Some(s) = c.buffered.pop_front()
            {
                stats.samples_in += (s.samples.len() + s.histograms.len()) as u64;
                merged = Some(match merged {
                    None => s,
                    Some(m) => Series {
                        samples: merge_samples(&m.samples, &s.samples),
                        histograms: merge_histograms(&m.histograms, &s.histograms),
                        labels: m.labels,
                    },
                });
            }
        }
        let Some(series) = merged.filter(|s| !s.is_empty()) else {
            continue;
        };
        stats.series += 1;
        stats.samples_out += (series.samples.len() + series.histograms.len()) as u64;
        writer
            .append(labels, encode_chunks(&series.samples, &series.histograms))
            .await?;
    }
}
