//! Delta temporality → cumulative series, with the semantics of the
//! OpenTelemetry Collector's `deltatocumulative` processor.
//!
//! Prometheus series are cumulative, so each delta sum, histogram and
//! exponential histogram data point is added into a running total kept per
//! *stream*: tenant + kind + the Prometheus series it becomes (name and
//! labels after translation). The total is what gets stored; a point is
//! handled as the processor does:
//!
//! - the first point of a stream starts its total (its start time is the
//!   stream's start);
//! - a point whose start time is before the stream's start belongs to an
//!   older stream, and a point not newer than the stream's last point is out
//!   of order: both are dropped and counted (`sample-out-of-order`);
//! - otherwise it is added; a gap (start after the last point) is added too:
//!   the total stays right, only the missing interval is unknown;
//! - an explicit histogram whose bounds changed, or a point of another kind
//!   under the same series, restarts the total from that point (a counter
//!   reset to PromQL); exponential histograms of different scales are
//!   merged at the coarser scale, and downscaled further so a stream never
//!   holds more than [`MAX_BUCKETS`] buckets per sign (the processor's rule).
//!
//! State is bounded: at most `otlp_delta_max_streams_per_tenant` streams per
//! tenant (a new stream's points past it are refused, named in
//! `partial_success` and counted as `otlp-delta-streams-limit`), streams not
//! updated for `otlp_delta_max_stale` are forgotten (the next point restarts
//! the total, which PromQL reads as a counter reset), and an explicit delta
//! histogram may have at most [`MAX_BUCKETS`] buckets.
//!
//! The state lives in the distributor's memory, not in the ingesters: each
//! stream must reach the same distributor (one distributor, or a load
//! balancer with affinity per sender), or every distributor keeps its own
//! partial total and the stored series jumps between them. A distributor
//! restart forgets the totals, which reads as a counter reset. The total is
//! updated when the point is translated: if the push then fails and the
//! sender retries, the retried point is dropped as out of order and the
//! total stays right (only that one sample is missing).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::tenant::TenantId;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::{ExponentialHistogramDataPoint, HistogramDataPoint};

/// Most buckets (per sign for exponential histograms) one stream keeps.
pub(crate) const MAX_BUCKETS: usize = 160;

/// Discard-counter `reason` for points of new streams past the limit.
pub(crate) const STREAMS_LIMIT: &str = "otlp-delta-streams-limit";
/// Discard-counter `reason` for explicit delta histograms with too many buckets.
pub(crate) const BUCKETS_LIMIT: &str = "otlp-delta-buckets-limit";

/// Every tenant's running totals.
#[derive(Debug)]
pub(crate) struct DeltaStreams {
    max_streams: usize,
    max_stale: Duration,
    tenants: Mutex<HashMap<TenantId, Arc<Mutex<TenantStreams>>>>,
}

impl DeltaStreams {
    /// No totals yet; at most `max_streams` per tenant, each forgotten after
    /// `max_stale` without a point.
    pub(crate) fn new(max_streams: usize, max_stale: Duration) -> Self {
        Self {
            max_streams,
            max_stale,
            tenants: Mutex::default(),
        }
    }

    /// `tenant`'s totals (lock them for the whole request).
    pub(crate) fn tenant(&self, tenant: &TenantId) -> Arc<Mutex<TenantStreams>> {
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        tenants
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(TenantStreams::new(
                    self.max_streams,
                    self.max_stale,
                )))
            })
            .clone()
    }
}

/// Why a delta point was not added.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum DeltaRefusal {
    /// The point starts before its stream (another writer, or a restarted one
    /// whose old points arrive late).
    #[error(
        "delta point starting at {start_ns} ns is older than its stream, which starts at \
         {stream_start_ns} ns; each stream must have one writer"
    )]
    OlderStart {
        /// The point's start time.
        start_ns: u64,
        /// The stream's start time.
        stream_start_ns: u64,
    },
    /// The point is not newer than the stream's last point.
    #[error(
        "delta point at {time_ns} ns is not newer than its stream's last point at {last_ns} ns \
         (out of order, or sent twice)"
    )]
    OutOfOrder {
        /// The point's time.
        time_ns: u64,
        /// The stream's last point's time.
        last_ns: u64,
    },
    /// The tenant already tracks as many streams as allowed.
    #[error(
        "the tenant already tracks {limit} delta streams; raise \
         distributor.otlp_delta_max_streams_per_tenant, or send cumulative temporality"
    )]
    StreamsLimit {
        /// `otlp_delta_max_streams_per_tenant`.
        limit: usize,
    },
    /// An explicit histogram with more buckets than a stream may keep.
    #[error(
        "delta histogram with {buckets} buckets; at most {MAX_BUCKETS} are tracked per stream: \
         send fewer buckets, or cumulative temporality"
    )]
    TooManyBuckets {
        /// The point's bucket count.
        buckets: usize,
    },
}

impl DeltaRefusal {
    /// The discard-counter `reason` and `err-cairn-*` ID.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::OlderStart { .. } | Self::OutOfOrder { .. } => {
                common::discard::DiscardReason::SampleOutOfOrder.id()
            }
            Self::StreamsLimit { .. } => STREAMS_LIMIT,
            Self::TooManyBuckets { .. } => BUCKETS_LIMIT,
        }
    }
}

/// One tenant's running totals, by stream key: what [`translate`] adds
/// delta points into.
///
/// [`translate`]: super::translate::translate
#[derive(Debug)]
pub struct TenantStreams {
    max_streams: usize,
    max_stale: Duration,
    streams: HashMap<String, Stream>,
    now: Instant,
    last_sweep: Instant,
    swept_at_limit: bool,
}

#[derive(Debug)]
struct Stream {
    start_ns: u64,
    last_ns: u64,
    seen: Instant,
    total: Total,
}

#[derive(Debug)]
enum Total {
    /// Nothing added yet (a stream just admitted).
    Empty,
    Number(f64),
    Histogram(HistogramDataPoint),
    Exponential(ExponentialHistogramDataPoint),
}

impl TenantStreams {
    /// No streams; at most `max_streams`, each forgotten after `max_stale`.
    pub fn new(max_streams: usize, max_stale: Duration) -> Self {
        let now = Instant::now();
        Self {
            max_streams,
            max_stale,
            streams: HashMap::new(),
            now,
            last_sweep: now,
            swept_at_limit: false,
        }
    }

    /// Starts a request at `now`: streams idle past `max_stale` are
    /// forgotten (checked at most every `max_stale / 2`, so a request costs
    /// O(its points), not O(all streams)).
    pub(crate) fn begin(&mut self, now: Instant) {
        self.now = now;
        self.swept_at_limit = false;
        if now.saturating_duration_since(self.last_sweep) >= self.max_stale / 2 {
            self.sweep();
        }
    }

    /// How many streams are tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    fn sweep(&mut self) {
        let (now, max_stale) = (self.now, self.max_stale);
        self.streams
            .retain(|_, s| now.saturating_duration_since(s.seen) < max_stale);
        self.last_sweep = now;
    }

    /// The stream `key` ready to take a point from `start_ns` to `time_ns`,
    /// admitting it if new.
    fn admit(
        &mut self,
        key: String,
        start_ns: u64,
        time_ns: u64,
    ) -> Result<&mut Stream, DeltaRefusal> {
        if self.streams.len() >= self.max_streams && !self.streams.contains_key(&key) {
            if !self.swept_at_limit {
                self.swept_at_limit = true;
                self.sweep();
            }
            if self.streams.len() >= self.max_streams {
                return Err(DeltaRefusal::StreamsLimit {
                    limit: self.max_streams,
                });
            }
        }
        let (now, max_stale) = (self.now, self.max_stale);
        let fresh = Stream {
            start_ns,
            last_ns: time_ns,
            seen: now,
            total: Total::Empty,
        };
        let stream = match self.streams.entry(key) {
            Entry::Occupied(e) if now.saturating_duration_since(e.get().seen) >= max_stale => {
                // Idle past max_stale but not swept yet: forgotten all the same.
                let s = e.into_mut();
                *s = fresh;
                s
            }
            Entry::Occupied(e) => {
                let s = e.into_mut();
                if start_ns < s.start_ns {
                    return Err(DeltaRefusal::OlderStart {
                        start_ns,
                        stream_start_ns: s.start_ns,
                    });
                }
                if time_ns <= s.last_ns {
                    return Err(DeltaRefusal::OutOfOrder {
                        time_ns,
                        last_ns: s.last_ns,
                    });
                }
                s
            }
            Entry::Vacant(v) => v.insert(fresh),
        };
        stream.last_ns = time_ns;
        stream.seen = now;
        Ok(stream)
    }

    /// Adds a delta sum's `value` into stream `key`; returns the total.
    pub(crate) fn add_number(
        &mut self,
        key: String,
        start_ns: u64,
        time_ns: u64,
        value: f64,
    ) -> Result<f64, DeltaRefusal> {
        let stream = self.admit(key, start_ns, time_ns)?;
        let total = match stream.total {
            Total::Number(t) => t + value,
            _ => value,
        };
        stream.total = Total::Number(total);
        Ok(total)
    }

    /// Adds the delta histogram `p` into stream `key`, then makes `p` the
    /// total.
    pub(crate) fn add_histogram(
        &mut self,
        key: String,
        p: &mut HistogramDataPoint,
    ) -> Result<(), DeltaRefusal> {
        let buckets = p.bucket_counts.len().max(p.explicit_bounds.len() + 1);
        if buckets > MAX_BUCKETS {
            return Err(DeltaRefusal::TooManyBuckets { buckets });
        }
        let stream = self.admit(key, p.start_time_unix_nano, p.time_unix_nano)?;
        match &mut stream.total {
            Total::Histogram(t)
                if t.explicit_bounds == p.explicit_bounds
                    && t.bucket_counts.len() == p.bucket_counts.len() =>
            {
                for (total, delta) in t.bucket_counts.iter_mut().zip(&p.bucket_counts) {
                    *total = total.saturating_add(*delta);
                }
                t.count = t.count.saturating_add(p.count);
                t.sum = t.sum.zip(p.sum).map(|(a, b)| a + b);
                t.min = t.min.zip(p.min).map(|(a, b)| a.min(b));
                t.max = t.max.zip(p.max).map(|(a, b)| a.max(b));
            }
            _ => {
                stream.total = Total::Histogram(HistogramDataPoint {
                    attributes: Vec::new(),
                    exemplars: Vec::new(),
                    ..p.clone()
                });
            }
        }
        if let Total::Histogram(t) = &stream.total {
            p.bucket_counts.clone_from(&t.bucket_counts);
            p.count = t.count;
            p.sum = t.sum;
            p.min = t.min;
            p.max = t.max;
        }
        Ok(())
    }

    /// Adds the delta exponential histogram `p` into stream `key`, then
    /// makes `p` the total.
    pub(crate) fn add_exponential(
        &mut self,
        key: String,
        p: &mut ExponentialHistogramDataPoint,
    ) -> Result<(), DeltaRefusal> {
        let stream = self.admit(key, p.start_time_unix_nano, p.time_unix_nano)?;
        let mut incoming = ExponentialHistogramDataPoint {
            attributes: Vec::new(),
            exemplars: Vec::new(),
            ..p.clone()
        };
        let total = match std::mem::replace(&mut stream.total, Total::Empty) {
            Total::Exponential(mut t) => {
                merge_exponential(&mut t, incoming);
                t
            }
            _ => {
                fit_buckets(&mut incoming, None);
                incoming
            }
        };
        p.scale = total.scale;
        p.zero_threshold = total.zero_threshold;
        p.zero_count = total.zero_count;
        p.count = total.count;
        p.sum = total.sum;
        p.min = total.min;
        p.max = total.max;
        p.positive.clone_from(&total.positive);
        p.negative.clone_from(&total.negative);
        stream.total = Total::Exponential(total);
        Ok(())
    }
}

/// Adds `add` into `total` (the processor's exponential `Add`).
fn merge_exponential(
    total: &mut ExponentialHistogramDataPoint,
    mut add: ExponentialHistogramDataPoint,
) {
    let scale = total.scale.min(add.scale);
    downscale_point(total, scale);
    downscale_point(&mut add, scale);
    fit_buckets(total, Some(&mut add));
    let threshold = total.zero_threshold.max(add.zero_threshold);
    widen_zero(total, threshold);
    widen_zero(&mut add, threshold);
    add_buckets(&mut total.positive, add.positive.as_ref());
    add_buckets(&mut total.negative, add.negative.as_ref());
    total.count = total.count.saturating_add(add.count);
    total.zero_count = total.zero_count.saturating_add(add.zero_count);
    total.sum = total.sum.zip(add.sum).map(|(a, b)| a + b);
    total.min = total.min.zip(add.min).map(|(a, b)| a.min(b));
    total.max = total.max.zip(add.max).map(|(a, b)| a.max(b));
}

/// Index range `[lo, hi)` of the populated buckets of `b`.
fn populated_range(b: Option<&Buckets>) -> Option<(i64, i64)> {
    let b = b?;
    let first = b.bucket_counts.iter().position(|&c| c != 0)?;
    let last = b.bucket_counts.iter().rposition(|&c| c != 0)?;
    let offset = i64::from(b.offset);
    Some((offset + first as i64, offset + last as i64 + 1))
}

/// Downscales `a` (and `b`, kept at the same scale) until the populated
/// buckets of both together span at most [`MAX_BUCKETS`] indexes per sign.
fn fit_buckets(
    a: &mut ExponentialHistogramDataPoint,
    b: Option<&mut ExponentialHistogramDataPoint>,
) {
    let width = |x: Option<(i64, i64)>, y: Option<(i64, i64)>, shift: u32| -> i64 {
        let (lo, hi) = match (x, y) {
            (Some((l1, h1)), Some((l2, h2))) => (l1.min(l2), h1.max(h2)),
            (Some(r), None) | (None, Some(r)) => r,
            (None, None) => return 0,
        };
        ((hi - 1) >> shift) - (lo >> shift) + 1
    };
    let ranges = |p: &ExponentialHistogramDataPoint| {
        (
            populated_range(p.positive.as_ref()),
            populated_range(p.negative.as_ref()),
        )
    };
    let (ap, an) = ranges(a);
    let (bp, bn) = b.as_deref().map(ranges).unwrap_or((None, None));
    let mut shift = 0u32;
    while shift < 63
        && (width(ap, bp, shift) > MAX_BUCKETS as i64 || width(an, bn, shift) > MAX_BUCKETS as i64)
    {
        shift += 1;
    }
    if shift > 0 {
        let scale = a
            .scale
            .saturating_sub(i32::try_from(shift).unwrap_or(i32::MAX));
        downscale_point(a, scale);
        if let Some(b) = b {
            downscale_point(b, scale);
        }
    }
}

/// Lowers `p`'s scale to `scale`, merging neighbouring buckets (a shift
/// past 63 merges as much as 63: every index is then 0 or -1).
fn downscale_point(p: &mut ExponentialHistogramDataPoint, scale: i32) {
    let by = i64::from(p.scale) - i64::from(scale);
    if by <= 0 {
        return;
    }
    let shift = by.min(63) as u32;
    for b in [p.positive.as_mut(), p.negative.as_mut()]
        .into_iter()
        .flatten()
    {
        let Some((lo, hi)) = populated_range(Some(b)) else {
            b.bucket_counts.clear();
            continue;
        };
        let new_lo = lo >> shift;
        let mut counts = vec![0u64; usize::try_from(((hi - 1) >> shift) - new_lo + 1).unwrap_or(0)];
        let offset = i64::from(b.offset);
        for (i, &c) in b.bucket_counts.iter().enumerate() {
            if c != 0 {
                let slot = (((offset + i as i64) >> shift) - new_lo) as usize;
                counts[slot] = counts[slot].saturating_add(c);
            }
        }
        b.offset = i32::try_from(new_lo).unwrap_or(i32::MIN);
        b.bucket_counts = counts;
    }
    p.scale = scale;
}

/// Moves the buckets of `p` that lie wholly within `threshold` of zero
/// into its zero bucket, and makes `threshold` its zero threshold.
fn widen_zero(p: &mut ExponentialHistogramDataPoint, threshold: f64) {
    if threshold <= p.zero_threshold {
        return;
    }
    // Bucket `i` is `(base^i, base^(i+1)]` with `base = 2^(2^-scale)`.
    let width = (-f64::from(p.scale)).exp2();
    let upper = |i: i64| ((i + 1) as f64 * width).exp2();
    let mut moved = 0u64;
    for b in [p.positive.as_mut(), p.negative.as_mut()]
        .into_iter()
        .flatten()
    {
        let offset = i64::from(b.offset);
        for (i, c) in b.bucket_counts.iter_mut().enumerate() {
            if upper(offset + i as i64) > threshold {
                break;
            }
            moved = moved.saturating_add(std::mem::take(c));
        }
    }
    p.zero_count = p.zero_count.saturating_add(moved);
    p.zero_threshold = threshold;
}

/// Adds `add`'s counts into `total` (same scale).
fn add_buckets(total: &mut Option<Buckets>, add: Option<&Buckets>) {
    let Some((add_lo, add_hi)) = populated_range(add) else {
        return;
    };
    let (lo, hi) = match populated_range(total.as_ref()) {
        Some((l, h)) => (l.min(add_lo), h.max(add_hi)),
        None => (add_lo, add_hi),
    };
    let mut counts = vec![0u64; usize::try_from(hi - lo).unwrap_or(0)];
    for b in [total.as_ref(), add].into_iter().flatten() {
        let offset = i64::from(b.offset);
        for (i, &c) in b.bucket_counts.iter().enumerate() {
            if c != 0 {
                let slot = (offset + i as i64 - lo) as usize;
                counts[slot] = counts[slot].saturating_add(c);
            }
        }
    }
    *total = Some(Buckets {
        offset: i32::try_from(lo).unwrap_or(i32::MIN),
        bucket_counts: counts,
    });
}
