//! Range functions over series that hold native histograms: `rate`,
//! `increase`, `delta`, `irate`, `idelta` on histograms, the `*_over_time`
//! functions that count or pick samples of either kind, and `sum`/`avg`
//! over time of histograms. Functions not listed here see only a series'
//! floats.

use std::sync::Arc;

use common::histogram::{CounterResetHint, FloatHistogram, HistogramSample};

use super::arith;
use crate::promql::annotations::Annotation;
use crate::promql::eval::Evaluator;
use crate::promql::range_functions::{SampledSpan, extrapolation_factor, instant_value};
use crate::promql::value::RangeSeries;

/// The result of a range function on one series.
pub(crate) enum Outcome {
    /// A float result.
    Float(f64),
    /// A histogram result.
    Histogram(Arc<FloatHistogram>),
    /// No result for this series.
    Nothing,
    /// The function only reads floats: evaluate it on them.
    FloatsOnly,
}

/// Evaluates `name` on series `s`, which holds at least one histogram,
/// over the window `(start, end]`.
pub(crate) fn eval(
    ev: &Evaluator<'_>,
    name: &str,
    s: &RangeSeries,
    start: i64,
    end: i64,
) -> Outcome {
    let metric = s.labels.metric_name().unwrap_or_default();
    let hs = &s.histograms;
    let mixed = !s.points.is_empty();
    // Timestamps of every sample, either kind, for the pickers.
    let first_t = hs[0].t.min(s.points.first().map_or(i64::MAX, |p| p.t));
    let last_t = hs[hs.len() - 1]
        .t
        .max(s.points.last().map_or(i64::MIN, |p| p.t));
    let pick = |t: i64| match hs.iter().find(|h| h.t == t) {
        Some(h) => Outcome::Histogram(h.h.clone()),
        None => s
            .points
            .iter()
            .find(|p| p.t == t)
            .map_or(Outcome::Nothing, |p| Outcome::Float(p.v)),
    };
    match name {
        "count_over_time" => Outcome::Float((hs.len() + s.points.len()) as f64),
        "present_over_time" => Outcome::Float(1.0),
        "last_over_time" => pick(last_t),
        "first_over_time" => pick(first_t),
        "ts_of_last_over_time" => Outcome::Float(last_t as f64 / 1000.0),
        "ts_of_first_over_time" => Outcome::Float(first_t as f64 / 1000.0),
        "changes" | "resets" => Outcome::Float(count_transitions(name == "resets", &merged(s))),
        "irate" | "idelta" => last_two(ev, name == "irate", s, metric),
        "sum_over_time" | "avg_over_time" | "rate" | "increase" | "delta" if mixed => {
            ev.annotate(Annotation::mixed_floats_histograms(metric));
            Outcome::Nothing
        }
        "sum_over_time" | "avg_over_time" => {
            if arith::any_mismatched_custom_buckets(hs.iter().map(|h| h.h.as_ref())) {
                ev.annotate(Annotation::custom_buckets_reconciled("aggregation"));
            }
            sum_or_avg(ev, name == "avg_over_time", hs, metric)
        }
        "rate" | "increase" | "delta" => {
            let is_counter = name != "delta";
            annotate_kind(ev, hs, is_counter, metric);
            if hs.len() < 2 {
                return Outcome::Nothing;
            }
            if !is_counter && arith::mismatched_custom_buckets(&hs[0].h, &hs[hs.len() - 1].h) {
                ev.annotate(Annotation::custom_buckets_reconciled("subtraction"));
            }
            match increase(hs, is_counter) {
                Ok(h) => {
                    let span = SampledSpan {
                        first: hs[0].t,
                        last: hs[hs.len() - 1].t,
                        count: hs.len(),
                    };
                    // Counters cannot be extrapolated below an empty histogram.
                    let first_count = hs[0].h.count;
                    let zero_clamp = (is_counter && h.count > 0.0 && first_count >= 0.0)
                        .then(|| first_count / h.count);
                    let f = extrapolation_factor(span, start, end, name == "rate", zero_clamp);
                    Outcome::Histogram(Arc::new(as_gauge(arith::scale(&h, f))))
                }
                Err(e) => {
                    ev.annotate(Annotation::incompatible_histograms(e, metric));
                    Outcome::Nothing
                }
            }
        }
        _ => Outcome::FloatsOnly,
    }
}

/// A sample of either kind.
enum Point<'s> {
    Float(f64),
    Histogram(&'s FloatHistogram),
}

/// Every sample of `s` in time order.
fn merged(s: &RangeSeries) -> Vec<(i64, Point<'_>)> {
    let mut out: Vec<(i64, Point<'_>)> = s
        .points
        .iter()
        .map(|p| (p.t, Point::Float(p.v)))
        .chain(s.histograms.iter().map(|h| (h.t, Point::Histogram(&h.h))))
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// `changes` (any difference, including a switch of kind) or `resets`
/// (a float going down, a histogram counter reset, or a switch of kind).
fn count_transitions(resets: bool, points: &[(i64, Point<'_>)]) -> f64 {
    points
        .windows(2)
        .filter(|w| match (&w[0].1, &w[1].1) {
            (Point::Float(a), Point::Float(b)) if resets => b < a,
            (Point::Float(a), Point::Float(b)) => a != b && !(a.is_nan() && b.is_nan()),
            (Point::Histogram(a), Point::Histogram(b)) if resets => is_reset(a, b),
            (Point::Histogram(a), Point::Histogram(b)) => !arith::same_values(a, b),
            _ => true,
        })
        .count() as f64
}

/// `irate` / `idelta` from the last two samples, which must be of one kind.
fn last_two(ev: &Evaluator<'_>, is_rate: bool, s: &RangeSeries, metric: &str) -> Outcome {
    let all = merged(s);
    let [(t0, prev), (t1, last)] = &all[all.len().saturating_sub(2)..] else {
        return Outcome::Nothing;
    };
    let dt = (t1 - t0) as f64 / 1000.0;
    match (prev, last) {
        (Point::Float(a), Point::Float(b)) => {
            let pair = [
                common::series::Sample { t: *t0, v: *a },
                common::series::Sample { t: *t1, v: *b },
            ];
            instant_value(&pair, is_rate).map_or(Outcome::Nothing, Outcome::Float)
        }
        (Point::Histogram(prev), Point::Histogram(last)) => {
            let pair = &s.histograms[s.histograms.len() - 2..];
            annotate_kind(ev, pair, is_rate, metric);
            let diff = if is_rate && is_reset(prev, last) {
                Ok((*last).clone())
            } else {
                if arith::mismatched_custom_buckets(prev, last) {
                    ev.annotate(Annotation::custom_buckets_reconciled("subtraction"));
                }
                arith::combine(last, prev, -1.0)
            };
            match diff {
                Ok(d) => {
                    let d = if is_rate {
                        arith::scale(&d, 1.0 / dt)
                    } else {
                        d
                    };
                    Outcome::Histogram(Arc::new(as_gauge(d)))
                }
                Err(e) => {
                    ev.annotate(Annotation::incompatible_histograms(e, metric));
                    Outcome::Nothing
                }
            }
        }
        _ => {
            ev.annotate(Annotation::mixed_floats_histograms(metric));
            Outcome::Nothing
        }
    }
}

/// `rate`-like functions on gauge histograms, or `delta` on counters, get a
/// warning.
fn annotate_kind(ev: &Evaluator<'_>, hs: &[HistogramSample], wants_counter: bool, metric: &str) {
    let is_gauge = |h: &HistogramSample| h.h.counter_reset_hint == CounterResetHint::Gauge;
    if wants_counter && hs.iter().any(is_gauge) {
        ev.annotate(Annotation::native_histogram_not_counter(metric));
    } else if !wants_counter && !hs.iter().all(is_gauge) {
        ev.annotate(Annotation::native_histogram_not_gauge(metric));
    }
}

/// Rates and deltas are gauges, whatever their input was.
fn as_gauge(mut h: FloatHistogram) -> FloatHistogram {
    h.counter_reset_hint = CounterResetHint::Gauge;
    h
}

/// `sum_over_time` / `avg_over_time` of histograms.
fn sum_or_avg(ev: &Evaluator<'_>, avg: bool, hs: &[HistogramSample], metric: &str) -> Outcome {
    let all: Vec<&FloatHistogram> = hs.iter().map(|h| h.h.as_ref()).collect();
    if arith::conflicting_resets(&all) {
        ev.annotate(Annotation::conflicting_counter_resets());
    }
    let combined = if avg {
        arith::kahan_mean(&all)
    } else {
        arith::kahan_sum(&all)
    };
    match combined {
        Ok(h) => Outcome::Histogram(Arc::new(h)),
        Err(e) => {
            ev.annotate(Annotation::incompatible_histograms(e, metric));
            Outcome::Nothing
        }
    }
}

/// Last minus first, plus every value lost to a counter reset.
///
/// For counters the samples are split at resets: the first segment adds
/// its last minus its first sample, every later one its last sample (the
/// counter started from zero). So no difference is ever taken across a
/// reset, where the layouts may not even be compatible.
fn increase(
    hs: &[HistogramSample],
    is_counter: bool,
) -> Result<FloatHistogram, arith::Incompatible> {
    let (first, last) = (&hs[0].h, &hs[hs.len() - 1].h);
    if !is_counter {
        return arith::combine(last, first, -1.0);
    }
    let mut starts = vec![0];
    starts.extend((1..hs.len()).filter(|&i| is_reset(&hs[i - 1].h, &hs[i].h)));
    let mut total: Option<FloatHistogram> = None;
    for (k, &s) in starts.iter().enumerate() {
        let e = starts.get(k + 1).map_or(hs.len() - 1, |next| next - 1);
        let part = if k == 0 {
            if e == s {
                continue;
            }
            arith::combine(&hs[e].h, &hs[s].h, -1.0)?
        } else {
            hs[e].h.as_ref().clone()
        };
        total = Some(match total {
            Some(t) => arith::combine(&t, &part, 1.0)?,
            None => part,
        });
    }
    Ok(total.unwrap_or_else(|| arith::scale(last, 0.0)))
}

/// Whether `cur` starts over relative to `prev`: its hint says so, or
/// (without a hint) its count or any bucket went down.
pub(crate) fn is_reset(prev: &FloatHistogram, cur: &FloatHistogram) -> bool {
    match cur.counter_reset_hint {
        CounterResetHint::CounterReset => return true,
        CounterResetHint::NotCounterReset => return false,
        CounterResetHint::Unknown | CounterResetHint::Gauge => {}
    }
    if cur.count < prev.count || cur.zero_count < prev.zero_count || cur.schema > prev.schema {
        return true;
    }
    let Ok(diff) = arith::combine(cur, prev, -1.0) else {
        return true;
    };
    diff.positive_buckets
        .iter()
        .chain(&diff.negative_buckets)
        .any(|c| *c < 0.0)
}
