//! The in-memory head of one tenant's metrics: series, their XOR chunks and
//! the postings index that answers matchers.
//!
//! A head knows nothing of the WAL or of uploads (see `tenant_db`); it only
//! stores samples and answers queries. Heads are swapped out whole when a
//! block is cut, so a head's time range is the block's.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::block::{BlockSeries, ChunkData, ChunkEncoding};
use common::chunk::histogram::HistogramChunk;
use common::chunk::xor::XorChunk;
use common::histogram::{FloatHistogram, HistogramSample};
use common::labels::Labels;
use common::postings::MemPostings;
use common::series::{Matcher, Sample, Series};
use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};

/// Samples per chunk before a new chunk is started (Prometheus's choice).
const SAMPLES_PER_CHUNK: usize = 120;

/// A sample's value: a float or a native histogram.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A float sample's value (NaN payloads kept).
    Float(f64),
    /// A native histogram.
    Histogram(Arc<FloatHistogram>),
}

impl Value {
    /// True when both are the same value to the bit: an idempotent resend.
    fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Histogram(a), Value::Histogram(b)) => a.bit_eq(b),
            _ => false,
        }
    }
}

/// The newest sample of a series.
#[derive(Debug, Clone)]
pub(crate) struct Last {
    /// Its timestamp.
    pub(crate) t: i64,
    /// Its value.
    pub(crate) v: Value,
}

/// A head chunk: float samples and histogram samples are kept apart, and a
/// series that changes kind starts a new chunk. The histogram appender's
/// state is large, so it is boxed: float chunks, by far the most, stay small.
#[derive(Debug, Clone)]
enum HeadChunk {
    Xor(XorChunk),
    Histogram(Box<HistogramChunk>),
}

impl HeadChunk {
    fn min_time(&self) -> Option<i64> {
        match self {
            HeadChunk::Xor(c) => c.min_time(),
            HeadChunk::Histogram(c) => c.min_time(),
        }
    }

    fn max_time(&self) -> Option<i64> {
        match self {
            HeadChunk::Xor(c) => c.max_time(),
            HeadChunk::Histogram(c) => c.max_time(),
        }
    }

    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time().is_some_and(|t| t <= maxt) && self.max_time().is_some_and(|t| t >= mint)
    }

    fn to_data(&self) -> Option<ChunkData> {
        let (encoding, data) = match self {
            HeadChunk::Xor(c) => (ChunkEncoding::Xor, c.bytes()),
            HeadChunk::Histogram(c) => (ChunkEncoding::Histogram, c.bytes()),
        };
        Some(ChunkData {
            min_t: self.min_time()?,
            max_t: self.max_time()?,
            encoding,
            data: data.to_vec(),
        })
    }
}

/// One series in the head.
#[derive(Debug)]
pub(crate) struct MemSeries {
    pub(crate) labels: Labels,
    chunks: Vec<HeadChunk>,
    /// The newest sample, carried across heads so out-of-order checks
    /// survive a block cut.
    last: Option<Last>,
}

/// What appending one sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendCheck {
    /// Newer than the last sample: append it.
    Ok,
    /// Same timestamp and same value bits: an idempotent resend, skip quietly.
    Duplicate,
    /// Older than the newest sample.
    OutOfOrder,
    /// Same timestamp, different value.
    DuplicateTimestamp,
}

impl MemSeries {
    fn new(labels: Labels, last: Option<Last>) -> Self {
        Self {
            labels,
            chunks: Vec::new(),
            last,
        }
    }

    /// Whether a sample at `t` with value `v` may follow what this series
    /// already has (and the samples accepted earlier in the same request,
    /// passed as `pending_last`). Floats and histograms share one timeline.
    pub(crate) fn check(&self, t: i64, v: &Value, pending_last: Option<&Last>) -> AppendCheck {
        match pending_last.or(self.last.as_ref()) {
            None => AppendCheck::Ok,
            Some(last) if t > last.t => AppendCheck::Ok,
            Some(last) if t == last.t && v.same_as(&last.v) => AppendCheck::Duplicate,
            Some(last) if t == last.t => AppendCheck::DuplicateTimestamp,
            Some(_) => AppendCheck::OutOfOrder,
        }
    }

    /// The newest sample appended (or carried over from the previous head).
    pub(crate) fn last(&self) -> Option<&Last> {
        self.last.as_ref()
    }

    /// Appends a float sample that passed [`MemSeries::check`].
    pub(crate) fn append(&mut self, s: Sample) {
        match self.chunks.last_mut() {
            Some(HeadChunk::Xor(c)) if c.num_samples() < SAMPLES_PER_CHUNK => c.append(s.t, s.v),
            _ => {
                let mut c = XorChunk::new();
                c.append(s.t, s.v);
                self.chunks.push(HeadChunk::Xor(c));
            }
        }
        self.last = Some(Last {
            t: s.t,
            v: Value::Float(s.v),
        });
    }

    /// Appends `item` if it may follow what the series has (WAL replay,
    /// where refusals are expected and silent); returns whether it did.
    pub(crate) fn append_if_in_order(&mut self, item: Item) -> bool {
        let (t, v) = item.time_and_value();
        if self.check(t, &v, None) != AppendCheck::Ok {
            return false;
        }
        match item {
            Item::Float(s) => self.append(s),
            Item::Histogram(h) => self.append_histogram(&h),
        }
        true
    }

    /// Appends a histogram sample that passed [`MemSeries::check`].
    pub(crate) fn append_histogram(&mut self, s: &HistogramSample) {
        match self.chunks.last_mut() {
            Some(HeadChunk::Histogram(c)) if c.num_samples() < SAMPLES_PER_CHUNK => {
                c.append(s.t, &s.h)
            }
            _ => {
                let mut c = Box::new(HistogramChunk::new());
                c.append(s.t, &s.h);
                self.chunks.push(HeadChunk::Histogram(c));
            }
        }
        self.last = Some(Last {
            t: s.t,
            v: Value::Histogram(Arc::clone(&s.h)),
        });
    }

    /// Float and histogram samples in `[mint, maxt]`.
    fn samples_in(&self, mint: i64, maxt: i64) -> (Vec<Sample>, Vec<HistogramSample>) {
        let (mut floats, mut histograms) = (Vec::new(), Vec::new());
        for c in self.chunks.iter().filter(|c| c.overlaps(mint, maxt)) {
            match c {
                HeadChunk::Xor(c) => floats.extend(c.iter().filter(|s| s.t >= mint && s.t <= maxt)),
                HeadChunk::Histogram(c) => {
                    histograms.extend(c.iter().filter(|s| s.t >= mint && s.t <= maxt))
                }
            }
        }
        (floats, histograms)
    }

    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        let first = self.chunks.first().and_then(|c| c.min_time());
        let last = self.last.as_ref().map(|s| s.t);
        matches!((first, last), (Some(a), Some(b)) if a <= maxt && b >= mint)
    }

    fn has_samples(&self) -> bool {
        !self.chunks.is_empty()
    }
}

/// One sample of a push, float or histogram.
pub(crate) enum Item {
    /// A float sample.
    Float(Sample),
    /// A histogram sample.
    Histogram(HistogramSample),
}

impl Item {
    /// The sample's timestamp and value, for [`MemSeries::check`].
    pub(crate) fn time_and_value(&self) -> (i64, Value) {
        match self {
            Item::Float(s) => (s.t, Value::Float(s.v)),
            Item::Histogram(h) => (h.t, Value::Histogram(Arc::clone(&h.h))),
        }
    }
}

/// A series' float and histogram samples (each sorted by time) as one
/// timeline, oldest first; at equal timestamps the float comes first.
/// Allocates nothing: most pushes carry floats only.
pub(crate) fn in_time_order(
    floats: Vec<Sample>,
    histograms: Vec<HistogramSample>,
) -> impl Iterator<Item = Item> {
    let mut floats = floats.into_iter().peekable();
    let mut histograms = histograms.into_iter().peekable();
    std::iter::from_fn(move || match (floats.peek(), histograms.peek()) {
        (Some(f), Some(h)) if h.t < f.t => histograms.next().map(Item::Histogram),
        (Some(_), _) => floats.next().map(Item::Float),
        (None, _) => histograms.next().map(Item::Histogram),
    })
}

/// A tenant's mutable in-memory series store.
#[derive(Debug)]
pub(crate) struct Head {
    series: DashMap<u32, Arc<Mutex<MemSeries>>>,
    by_labels: DashMap<Labels, u32>,
    postings: RwLock<MemPostings>,
    /// Oldest sample timestamp (`i64::MAX` while empty).
    min_t: AtomicI64,
    /// Newest sample timestamp (`i64::MIN` while empty).
    max_t: AtomicI64,
}

impl Head {
    /// An empty head.
    pub(crate) fn new() -> Self {
        Self {
            series: DashMap::new(),
            by_labels: DashMap::new(),
            postings: RwLock::new(MemPostings::new()),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
        }
    }

    /// A new head holding the series of `old` that had samples, with no
    /// samples but their last timestamps (for out-of-order checks) and the
    /// same refs. Idle series are not carried: they stop being active.
    pub(crate) fn successor(old: &Head) -> Self {
        let new = Head::new();
        for entry in old.series.iter() {
            let s = entry.value().lock();
            if s.has_samples() {
                new.insert(
                    *entry.key(),
                    MemSeries::new(s.labels.clone(), s.last.clone()),
                );
            }
        }
        new
    }

    fn insert(&self, id: u32, series: MemSeries) {
        self.postings.write().add(id, &series.labels);
        self.by_labels.insert(series.labels.clone(), id);
        self.series.insert(id, Arc::new(Mutex::new(series)));
    }

    /// The ref of the series with `labels`, if the head has it.
    pub(crate) fn lookup(&self, labels: &Labels) -> Option<u32> {
        self.by_labels.get(labels).map(|r| *r)
    }

    /// Adds a new, empty series under `id` (the caller allocates ids).
    pub(crate) fn create(&self, id: u32, labels: Labels) {
        self.insert(id, MemSeries::new(labels, None));
    }

    /// Forgets series `id`, created for a push whose WAL write then failed
    /// (its series record is not in the WAL, so it must not stay).
    pub(crate) fn remove(&self, id: u32) {
        if let Some((_, series)) = self.series.remove(&id) {
            let labels = series.lock().labels.clone();
            self.postings.write().remove(id, &labels);
            self.by_labels.remove(&labels);
        }
    }

    /// The series with ref `id`.
    pub(crate) fn get(&self, id: u32) -> Option<Arc<Mutex<MemSeries>>> {
        self.series.get(&id).map(|s| Arc::clone(&s))
    }

    /// Notes that a sample at `t` was appended (for time-range pruning).
    pub(crate) fn observe(&self, t: i64) {
        self.min_t.fetch_min(t, Ordering::Relaxed);
        self.max_t.fetch_max(t, Ordering::Relaxed);
    }

    /// Number of series (active series of the tenant in this head).
    pub(crate) fn num_series(&self) -> usize {
        self.series.len()
    }

    /// All `(ref, labels)` pairs, for writing series records to a new WAL segment.
    pub(crate) fn refs(&self) -> Vec<(u32, Labels)> {
        self.series
            .iter()
            .map(|e| (*e.key(), e.value().lock().labels.clone()))
            .collect()
    }

    /// Whether any sample could fall in `[mint, maxt]`.
    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_t.load(Ordering::Relaxed) <= maxt && self.max_t.load(Ordering::Relaxed) >= mint
    }

    /// Applies `f` to every series matching `matchers` when the head overlaps
    /// `[mint, maxt]`, keeping the `Some` answers.
    fn map_matching<T>(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: impl Fn(&MemSeries) -> Option<T>,
    ) -> Vec<T> {
        if !self.overlaps(mint, maxt) {
            return Vec::new();
        }
        let ids = self.postings.read().select(matchers);
        ids.iter()
            .filter_map(|id| {
                common::cpu_work::yield_point();
                f(&self.get(id)?.lock())
            })
            .collect()
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]`.
    pub(crate) fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        self.map_matching(matchers, mint, maxt, |s| {
            let (samples, histograms) = s.samples_in(mint, maxt);
            let series = Series {
                labels: s.labels.clone(),
                samples,
                histograms,
            };
            (!series.is_empty()).then_some(series)
        })
    }

    /// Label sets of matching series with samples overlapping `[mint, maxt]`.
    pub(crate) fn series_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        self.map_matching(matchers, mint, maxt, |s| {
            s.overlaps(mint, maxt).then(|| s.labels.clone())
        })
    }

    /// Everything in the head as block input: labels and encoded chunks.
    pub(crate) fn to_block_series(&self) -> Vec<BlockSeries> {
        self.series
            .iter()
            .filter_map(|e| {
                let s = e.value().lock();
                let chunks: Vec<ChunkData> =
                    s.chunks.iter().filter_map(HeadChunk::to_data).collect();
                (!chunks.is_empty()).then(|| BlockSeries {
                    labels: s.labels.clone(),
                    chunks,
                })
            })
            .collect()
    }

    /// True when no sample was appended to this head.
    pub(crate) fn is_empty(&self) -> bool {
        self.max_t.load(Ordering::Relaxed) == i64::MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::series::MatchOp;

    fn labels(job: &str) -> Labels {
        Labels::from_pairs([("__name__", "up"), ("job", job)])
    }

    fn append(h: &Head, id: u32, t: i64, v: f64) -> AppendCheck {
        let s = h.get(id).unwrap();
        let mut s = s.lock();
        let check = s.check(t, &Value::Float(v), None);
        if check == AppendCheck::Ok {
            s.append(Sample { t, v });
            h.observe(t);
        }
        check
    }

    #[test]
    fn appends_across_chunks_and_selects_by_matcher_and_time() {
        let h = Head::new();
        h.create(1, labels("a"));
        h.create(2, labels("b"));
        for t in 0..300 {
            assert_eq!(append(&h, 1, t, t as f64), AppendCheck::Ok);
        }
        append(&h, 2, 5, 1.0);
        let m = [Matcher::new(MatchOp::Equal, "job", "a")];
        let got = h.select(&m, 100, 199);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.len(), 100);
        assert_eq!(got[0].samples[0], Sample { t: 100, v: 100.0 });
        assert_eq!(h.select(&[], 0, 10).len(), 2);
        assert!(h.select(&[], 1000, 2000).is_empty());
        let block = h.to_block_series();
        let chunks: usize = block.iter().map(|b| b.chunks.len()).sum();
        assert_eq!(chunks, 3 + 1);
    }

    #[test]
    fn out_of_order_and_duplicates_are_classified() {
        let h = Head::new();
        h.create(1, labels("a"));
        assert_eq!(append(&h, 1, 10, 1.0), AppendCheck::Ok);
        assert_eq!(append(&h, 1, 9, 1.0), AppendCheck::OutOfOrder);
        assert_eq!(append(&h, 1, 10, 1.0), AppendCheck::Duplicate);
        assert_eq!(append(&h, 1, 10, 2.0), AppendCheck::DuplicateTimestamp);
    }

    #[test]
    fn successor_keeps_active_series_and_their_last_timestamp() {
        let h = Head::new();
        h.create(1, labels("a"));
        h.create(2, labels("idle"));
        append(&h, 1, 10, 1.0);
        let next = Head::successor(&h);
        assert_eq!(next.num_series(), 1);
        assert!(next.is_empty());
        assert_eq!(next.lookup(&labels("a")), Some(1));
        assert_eq!(append(&next, 1, 5, 1.0), AppendCheck::OutOfOrder);
    }
}
