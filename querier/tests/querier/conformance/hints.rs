//! What Prometheus's storage does to the counter-reset hints of appended
//! histograms, which results inherit: a sample that starts a chunk (the
//! first, one after a counter reset, one with a new bucket layout) reads
//! back with no hint (unknown — the `reset` hint is lost on reading,
//! prometheus/prometheus#15346); the others read back as `not_reset`.
//! Gauge histograms keep their hint.

use std::sync::Arc;

use common::histogram::{CounterResetHint, FloatHistogram, HistogramSample};

/// `samples` (one series, by time) with the hints storage would give them.
pub fn as_stored(samples: Vec<HistogramSample>) -> Vec<HistogramSample> {
    let mut prev: Option<Arc<FloatHistogram>> = None;
    samples
        .into_iter()
        .map(|s| {
            let hint = match (&prev, s.h.counter_reset_hint) {
                (_, CounterResetHint::Gauge) => CounterResetHint::Gauge,
                (_, CounterResetHint::CounterReset) => CounterResetHint::CounterReset,
                (None, _) => CounterResetHint::Unknown,
                (Some(p), _) if new_layout(p, &s.h) || went_down(p, &s.h) => {
                    CounterResetHint::Unknown
                }
                (Some(_), _) => CounterResetHint::NotCounterReset,
            };
            prev = Some(s.h.clone());
            if hint == s.h.counter_reset_hint {
                return s;
            }
            let mut h = s.h.as_ref().clone();
            h.counter_reset_hint = hint;
            HistogramSample {
                t: s.t,
                h: Arc::new(h),
            }
        })
        .collect()
}

/// A change of bucket layout starts a new chunk.
fn new_layout(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    cur.schema != prev.schema
        || cur.zero_threshold != prev.zero_threshold
        || cur.custom_values != prev.custom_values
}

/// Storage's reset detection: a smaller count or zero bucket, or any bucket
/// that went down.
fn went_down(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    let lower = |p: Vec<(i32, f64)>, c: Vec<(i32, f64)>| {
        p.iter()
            .any(|(i, pc)| c.iter().find(|(j, _)| j == i).map_or(0.0, |x| x.1) < *pc)
    };
    cur.count < prev.count
        || cur.zero_count < prev.zero_count
        || lower(prev.positive(), cur.positive())
        || lower(prev.negative(), cur.negative())
}
