//! A stream's lines in the head: an uncompressed head block that is cut
//! into a snappy-compressed block once it holds [`BLOCK_BYTES`] of lines
//! (Loki's chunk layout). Lines may arrive out of order within the
//! ingester's window; readers get them sorted by time.

use common::logs::{LineFilter, LogEntry, sort_dedup_entries};

use super::entry_codec::{entry_size, put_entry, read_entry};
use crate::codec::Reader;

/// Raw bytes of encoded lines after which the head block is compressed.
pub(crate) const BLOCK_BYTES: usize = 256 << 10;

/// One compressed block and the time range it covers.
struct CompressedBlock {
    min_ts: i64,
    max_ts: i64,
    /// Snappy-compressed concatenation of encoded entries.
    data: Vec<u8>,
}

/// The lines of one stream in one head.
#[derive(Default)]
pub(crate) struct StreamChunk {
    blocks: Vec<CompressedBlock>,
    head: Vec<LogEntry>,
    head_bytes: usize,
}

impl StreamChunk {
    /// Appends `e`, compressing the head block when it is full.
    pub(crate) fn append(&mut self, e: LogEntry) {
        self.head_bytes += entry_size(&e);
        self.head.push(e);
        if self.head_bytes >= BLOCK_BYTES {
            self.cut_block();
        }
    }

    fn cut_block(&mut self) {
        let mut raw = Vec::with_capacity(self.head_bytes);
        let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
        for e in self.head.drain(..) {
            min_ts = min_ts.min(e.ts_ns);
            max_ts = max_ts.max(e.ts_ns);
            put_entry(&mut raw, &e);
        }
        self.head_bytes = 0;
        // Compressing a buffer in memory cannot fail except on sizes beyond
        // what snappy frames; keep the lines uncompressed in that case.
        match snap::raw::Encoder::new().compress_vec(&raw) {
            Ok(data) => self.blocks.push(CompressedBlock {
                min_ts,
                max_ts,
                data,
            }),
            Err(e) => {
                tracing::error!(error = %e, "compressing a log block failed");
                let mut r = Reader::new(&raw);
                while !r.is_empty() {
                    match read_entry(&mut r) {
                        Ok(e) => self.head.push(e),
                        Err(_) => break,
                    }
                }
            }
        }
    }

    /// Lines in `[start_ns, end_ns)` passing `filter`, sorted by time.
    pub(crate) fn entries(
        &self,
        start_ns: i64,
        end_ns: i64,
        filter: Option<&LineFilter>,
    ) -> Vec<LogEntry> {
        let keep = |e: &LogEntry| {
            e.ts_ns >= start_ns && e.ts_ns < end_ns && filter.is_none_or(|f| f(&e.line))
        };
        let mut out = Vec::new();
        for b in &self.blocks {
            if b.max_ts < start_ns || b.min_ts >= end_ns {
                continue;
            }
            let Ok(raw) = snap::raw::Decoder::new().decompress_vec(&b.data) else {
                tracing::error!("a compressed log block in memory does not decompress");
                continue;
            };
            let mut r = Reader::new(&raw);
            while !r.is_empty() {
                match read_entry(&mut r) {
                    Ok(e) if keep(&e) => out.push(e),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        out.extend(self.head.iter().filter(|e| keep(e)).cloned());
        sort_dedup_entries(&mut out);
        out
    }

    /// Bytes held in memory (compressed blocks plus the head block).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.head_bytes + self.blocks.iter().map(|b| b.data.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::labels::Labels;

    #[test]
    fn full_head_blocks_are_compressed_and_read_back_sorted() {
        let mut c = StreamChunk::default();
        let line = "x".repeat(1000);
        for i in (0..600).rev() {
            c.append(LogEntry {
                ts_ns: i,
                line: format!("{i} {line}"),
                structured_metadata: Labels::from_pairs([("k", "v")]),
            });
        }
        assert!(!c.blocks.is_empty(), "a block was cut");
        assert!(c.memory_bytes() < 600 * 1000 / 4, "compressed");
        let got = c.entries(100, 200, None);
        assert_eq!(got.len(), 100);
        assert!(got.is_sorted_by_key(|e| e.ts_ns));
        let only_7: LineFilter = std::sync::Arc::new(|l: &str| l.starts_with('7'));
        assert_eq!(c.entries(0, 600, Some(&only_7)).len(), 1 + 10);
    }
}
