//! `rate`, `increase` and `delta` of native histograms over `anchored` and
//! `smoothed` ranges, and the `smoothed` instant value of a histogram: the
//! histogram counterparts of [`crate::promql::extended_range`].

use std::sync::Arc;

use common::histogram::{CounterResetHint, FloatHistogram, HistogramSample};

use super::arith::{self, Incompatible};
use super::range::is_reset;
use crate::promql::annotations::Annotation;
use crate::promql::eval::Evaluator;

/// `h1 + (h2 - h1) * fraction` at `t` between samples `a` and `b`; a counter
/// that restarted between them is taken to grow from zero.
fn interpolate(
    a: &HistogramSample,
    b: &HistogramSample,
    t: i64,
    is_counter: bool,
) -> Result<FloatHistogram, Incompatible> {
    if t == a.t {
        return Ok(a.h.as_ref().clone());
    }
    if t == b.t {
        return Ok(b.h.as_ref().clone());
    }
    let fraction = (t - a.t) as f64 / (b.t - a.t) as f64;
    if is_counter && is_reset(&a.h, &b.h) {
        return Ok(arith::scale(&b.h, fraction));
    }
    let step = arith::combine(&b.h, &a.h, -1.0)?;
    let mut out = arith::combine(&arith::scale(&step, fraction), &a.h, 1.0)?;
    out.counter_reset_hint = b.h.counter_reset_hint;
    Ok(out)
}

/// Index of the last sample at or before `t` (0 when there is none).
fn left_index(hs: &[HistogramSample], t: i64) -> usize {
    let last = hs.len() - 1;
    hs[..last].partition_point(|h| h.t <= t).saturating_sub(1)
}

/// The increase (or delta, or rate) of `hs` across `(start, end]`, `None`
/// (with an annotation where Prometheus gives one) when there is no answer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rate(
    ev: &Evaluator<'_>,
    hs: &[HistogramSample],
    start: i64,
    end: i64,
    smoothed: bool,
    is_counter: bool,
    is_rate: bool,
    metric: &str,
) -> Option<Arc<FloatHistogram>> {
    if hs.is_empty() {
        return None;
    }
    let first = left_index(hs, start);
    let mut last = hs.len() - 1;
    if smoothed {
        last = hs[..last].partition_point(|h| h.t < end);
    }
    if hs[last].t <= start || (smoothed && hs[first].t > end) {
        return None;
    }
    let window = &hs[first..=last];
    let custom = window[0].h.uses_custom_buckets();
    if window.iter().any(|h| h.h.uses_custom_buckets() != custom) {
        ev.annotate(Annotation::incompatible_histograms(
            Incompatible::MixedSchemas,
            metric,
        ));
        return None;
    }
    let is_gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
    if is_counter && window.iter().any(|h| is_gauge(&h.h)) {
        ev.annotate(Annotation::native_histogram_not_counter(metric));
    }
    let computed = (|| -> Result<FloatHistogram, Incompatible> {
        let left = match hs.get(first + 1) {
            Some(next) if smoothed && hs[first].t < start => {
                interpolate(&hs[first], next, start, is_counter)?
            }
            _ => hs[first].h.as_ref().clone(),
        };
        let right = if smoothed && last > 0 && hs[last].t > end {
            interpolate(&hs[last - 1], &hs[last], end, is_counter)?
        } else {
            hs[last].h.as_ref().clone()
        };
        if !is_counter && (!is_gauge(&left) || !is_gauge(&right)) {
            ev.annotate(Annotation::native_histogram_not_gauge(metric));
        }
        let mut result = arith::combine(&right, &left, -1.0)?;
        if is_counter {
            for c in resets(hs, first, last, &left, &right, start, smoothed) {
                result = arith::combine(&result, c, 1.0)?;
            }
        }
        Ok(result)
    })();
    let mut result = match computed {
        Ok(h) => h,
        Err(e) => {
            ev.annotate(Annotation::incompatible_histograms(e, metric));
            return None;
        }
    };
    if is_rate {
        result = arith::divide(&result, (end - start) as f64 / 1000.0);
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    Some(Arc::new(result))
}

/// The histograms to add back for the counter resets between the two
/// edge values (Prometheus's `correctForCounterResetsHistogram`).
fn resets<'h>(
    hs: &'h [HistogramSample],
    first: usize,
    last: usize,
    left: &'h FloatHistogram,
    right: &FloatHistogram,
    start: i64,
    smoothed: bool,
) -> Vec<&'h FloatHistogram> {
    let mut from = first + 1;
    let mut prev: &FloatHistogram = left;
    if smoothed
        && hs[first].t < start
        && hs
            .get(first + 1)
            .is_some_and(|next| is_reset(&hs[first].h, &next.h))
    {
        prev = &hs[first + 1].h;
        from += 1;
    }
    let mut out = Vec::new();
    if from > last {
        return out;
    }
    for h in &hs[from..last] {
        if is_reset(prev, &h.h) {
            out.push(prev);
        }
        prev = &h.h;
    }
    if is_reset(prev, right) {
        out.push(prev);
    }
    out
}

/// A histogram series' smoothed value at `t`: the sample at `t`, the
/// interpolation between its neighbours within `lookback`, or the last
/// sample when none follows.
pub(crate) fn smoothed_at(
    hs: &[HistogramSample],
    t: i64,
    lookback: i64,
) -> Option<Result<FloatHistogram, Incompatible>> {
    let i = hs.partition_point(|h| h.t <= t);
    let before = hs[..i].last().filter(|h| h.t > t - lookback)?;
    match hs.get(i).filter(|h| h.t <= t + lookback) {
        Some(after) if before.t != t => {
            let is_counter = after.h.counter_reset_hint != CounterResetHint::Gauge;
            Some(interpolate(before, after, t, is_counter))
        }
        _ => Some(Ok(before.h.as_ref().clone())),
    }
}
