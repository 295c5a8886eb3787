//! One head of a tenant's logs: its streams keyed by label set, an inverted
//! index over them, and totals used to decide when to cut it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::labels::Labels;
use common::logs::{LogEntry, LogSelect, StreamEntries};
use common::postings::MemPostings;
use common::series::Matcher;
use parking_lot::{Mutex, RwLock};

use super::chunk::StreamChunk;

/// One stream in a head.
pub(crate) struct MemStream {
    pub(crate) labels: Labels,
    chunk: StreamChunk,
    /// Newest line's timestamp (the out-of-order window is measured from it).
    pub(crate) max_ts: i64,
    min_ts: i64,
}

impl MemStream {
    /// Appends a line accepted by the caller's window check.
    pub(crate) fn append(&mut self, e: LogEntry) {
        self.max_ts = self.max_ts.max(e.ts_ns);
        self.min_ts = self.min_ts.min(e.ts_ns);
        self.chunk.append(e);
    }

    fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.max_ts >= start_ns && self.min_ts < end_ns
    }
}

#[derive(Default)]
struct Streams {
    by_labels: HashMap<Labels, u32>,
    by_id: HashMap<u32, Arc<Mutex<MemStream>>>,
    postings: MemPostings,
}

/// A tenant's logs head.
pub(crate) struct LogsHead {
    streams: RwLock<Streams>,
    created: Instant,
    /// Lines appended.
    lines: AtomicUsize,
    /// Bytes of line text appended.
    bytes: AtomicUsize,
}

impl LogsHead {
    pub(crate) fn new() -> Self {
        Self {
            streams: RwLock::new(Streams::default()),
            created: Instant::now(),
            lines: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    /// The ID of the stream with `labels`, if it exists.
    pub(crate) fn lookup(&self, labels: &Labels) -> Option<u32> {
        self.streams.read().by_labels.get(labels).copied()
    }

    /// Creates stream `id`.
    pub(crate) fn create(&self, id: u32, labels: Labels) {
        let mut s = self.streams.write();
        s.postings.add(id, &labels);
        s.by_labels.insert(labels.clone(), id);
        s.by_id.insert(
            id,
            Arc::new(Mutex::new(MemStream {
                labels,
                chunk: StreamChunk::default(),
                max_ts: i64::MIN,
                min_ts: i64::MAX,
            })),
        );
    }

    /// Forgets stream `id`, created for a push whose WAL write then failed
    /// (its stream record is not in the WAL, so it must not stay).
    pub(crate) fn remove(&self, id: u32) {
        let mut s = self.streams.write();
        if let Some(stream) = s.by_id.remove(&id) {
            let labels = stream.lock().labels.clone();
            s.postings.remove(id, &labels);
            s.by_labels.remove(&labels);
        }
    }

    /// Stream `id`.
    pub(crate) fn get(&self, id: u32) -> Option<Arc<Mutex<MemStream>>> {
        self.streams.read().by_id.get(&id).cloned()
    }

    /// Counts one line of `bytes` bytes appended.
    pub(crate) fn add_line(&self, bytes: usize) {
        self.lines.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Streams in this head.
    pub(crate) fn num_streams(&self) -> usize {
        self.streams.read().by_id.len()
    }

    /// True when no line was appended (streams without lines do not count:
    /// a head is cut, and a block written, only for lines).
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.load(Ordering::Relaxed) == 0
    }

    /// Line bytes appended and how long ago the head was started.
    pub(crate) fn size_and_age(&self) -> (usize, std::time::Duration) {
        (self.bytes.load(Ordering::Relaxed), self.created.elapsed())
    }

    /// Bytes held in memory by the streams' chunks.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.matching(&[])
            .iter()
            .map(|s| s.lock().chunk.memory_bytes())
            .sum()
    }

    fn matching(&self, matchers: &[Matcher]) -> Vec<Arc<Mutex<MemStream>>> {
        let s = self.streams.read();
        s.postings
            .select(matchers)
            .iter()
            .filter_map(|id| s.by_id.get(&id).cloned())
            .collect()
    }

    /// Matching streams with their selected lines.
    pub(crate) fn select(&self, sel: &LogSelect) -> Vec<StreamEntries> {
        self.matching(&sel.matchers)
            .iter()
            .filter_map(|s| {
                let s = s.lock();
                if !s.overlaps(sel.start_ns, sel.end_ns) {
                    return None;
                }
                let entries = s
                    .chunk
                    .entries(sel.start_ns, sel.end_ns, sel.line_filter.as_ref());
                (!entries.is_empty()).then(|| StreamEntries {
                    labels: s.labels.clone(),
                    entries,
                })
            })
            .collect()
    }

    /// Label sets of matching streams with lines in `[start_ns, end_ns)`.
    pub(crate) fn stream_labels(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<Labels> {
        self.matching(matchers)
            .iter()
            .filter_map(|s| {
                let s = s.lock();
                s.overlaps(start_ns, end_ns).then(|| s.labels.clone())
            })
            .collect()
    }

    /// Every stream with all its lines, for the block upload.
    pub(crate) fn to_block_streams(&self) -> Vec<StreamEntries> {
        self.matching(&[])
            .iter()
            .map(|s| {
                let s = s.lock();
                StreamEntries {
                    labels: s.labels.clone(),
                    entries: s.chunk.entries(i64::MIN, i64::MAX, None),
                }
            })
            .filter(|s| !s.entries.is_empty())
            .collect()
    }
}
