//! Streaming k-way merge of metrics blocks: walks the source blocks in
//! label order a batch of series at a time (series IDs are label-ordered in
//! every block), merges equal label sets, drops samples that replication
//! wrote more than once (same series and timestamp → one sample), re-encodes
//! XOR chunks of at most [`MAX_SAMPLES_PER_CHUNK`] samples and appends each
//! series to a [`BlockWriter`]. Memory holds the sources' indexes and one
//! batch of series per source (bounded by [`Batch`]), never a whole block.

use std::collections::VecDeque;
use std::sync::Arc;

use common::block::{BlockError, BlockReader, BlockWriter, ChunkData, FetchOptions};
use common::chunk::xor::XorChunk;
use common::series::{Sample, Series, merge_samples};

/// Samples per re-encoded chunk (Prometheus's target).
pub const MAX_SAMPLES_PER_CHUNK: usize = 120;

/// What a merge read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Series written.
    pub series: u64,
    /// Samples read from the sources.
    pub samples_in: u64,
    /// Samples written (duplicates removed).
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
        let mut samples: Vec<Sample> = Vec::new();
        for c in &mut cursors {
            if c.buffered.front().is_some_and(|s| s.labels == labels)
                && let Some(s) = c.buffered.pop_front()
            {
                stats.samples_in += s.samples.len() as u64;
                samples = if samples.is_empty() {
                    s.samples
                } else {
                    merge_samples(&samples, &s.samples)
                };
            }
        }
        if samples.is_empty() {
            continue;
        }
        stats.series += 1;
        stats.samples_out += samples.len() as u64;
        writer.append(labels, encode_chunks(&samples)).await?;
    }
}

/// XOR chunks of at most [`MAX_SAMPLES_PER_CHUNK`] samples each.
pub fn encode_chunks(samples: &[Sample]) -> Vec<ChunkData> {
    samples
        .chunks(MAX_SAMPLES_PER_CHUNK)
        .filter_map(|part| {
            let (first, last) = (part.first()?, part.last()?);
            let mut chunk = XorChunk::new();
            for s in part {
                chunk.append(s.t, s.v);
            }
            Some(ChunkData {
                min_t: first.t,
                max_t: last.t,
                data: chunk.bytes().to_vec(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_at_most_120_samples_and_round_trip() {
        let samples: Vec<Sample> = (0..250)
            .map(|i| Sample {
                t: i * 15_000,
                v: i as f64,
            })
            .collect();
        let chunks = encode_chunks(&samples);
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            (chunks[2].min_t, chunks[2].max_t),
            (240 * 15_000, 249 * 15_000)
        );
        let back: Vec<Sample> = chunks
            .iter()
            .flat_map(|c| common::chunk::xor::decode(&c.data).unwrap())
            .collect();
        assert_eq!(back, samples);
    }
}
