//! Functions over range vectors: `rate`/`increase`/`delta` with
//! Prometheus's extrapolation, `irate`/`idelta`, the `*_over_time` family,
//! `changes`, `resets`, `deriv`, `predict_linear`, `absent_over_time`.

use common::series::Sample as Point;
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

use super::annotations::{Annotation, looks_like_counter};
use super::eval::{Evaluator, RangeArg};
use super::extended_range::{self, RangeMode};
use super::functions::absent_labels;
use super::histogram;
use super::histogram::range::Outcome;
use super::value::{RangeSeries, Sample, Value};
use super::{QueryError, kahan};

/// What a range function sees besides the points of one series.
pub(crate) struct Window {
    /// Left (exclusive) edge of the range, ms.
    pub(crate) start: i64,
    /// Right (inclusive) edge of the range, ms.
    pub(crate) end: i64,
    /// Evaluation time, ms.
    pub(crate) t: i64,
    /// Scalar arguments, in call order.
    pub(crate) params: Vec<f64>,
}

/// A range function over one series' points in a window (shared with the
/// LogQL engine's unwrapped range aggregations).
pub(crate) type RangeFn = fn(&[Point], &Window) -> Result<Option<f64>, QueryError>;

/// The range function named `name`, if there is one.
pub(crate) fn lookup(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |p, w| Ok(extrapolated_rate(p, w, true, true)),
        "increase" => |p, w| Ok(extrapolated_rate(p, w, true, false)),
        "delta" => |p, w| Ok(extrapolated_rate(p, w, false, false)),
        "irate" => |p, _| Ok(instant_value(p, true)),
        "idelta" => |p, _| Ok(instant_value(p, false)),
        "avg_over_time" => |p, _| Ok(kahan::mean(p.iter().map(|p| p.v))),
        "sum_over_time" => |p, _| {
            let (s, c) = p.iter().fold((0.0, 0.0), |(s, c), p| kahan::inc(p.v, s, c));
            Ok(Some(if s.is_infinite() { s } else { s + c }))
        },
        "count_over_time" => |p, _| Ok(Some(p.len() as f64)),
        "min_over_time" => |p, _| Ok(compare(p, |cur, best| cur < best).map(|p| p.v)),
        "max_over_time" => |p, _| Ok(compare(p, |cur, best| cur > best).map(|p| p.v)),
        "ts_of_min_over_time" => {
            |p, _| Ok(compare(p, |cur, best| cur <= best).map(|p| p.t as f64 / 1000.0))
        }
        "ts_of_max_over_time" => {
            |p, _| Ok(compare(p, |cur, best| cur >= best).map(|p| p.t as f64 / 1000.0))
        }
        "last_over_time" => |p, _| Ok(p.last().map(|p| p.v)),
        "first_over_time" => |p, _| Ok(p.first().map(|p| p.v)),
        "ts_of_last_over_time" => |p, _| Ok(p.last().map(|p| p.t as f64 / 1000.0)),
        "ts_of_first_over_time" => |p, _| Ok(p.first().map(|p| p.t as f64 / 1000.0)),
        "present_over_time" => |_, _| Ok(Some(1.0)),
        "quantile_over_time" => {
            |p, w| Ok(Some(quantile(w.params[0], p.iter().map(|p| p.v).collect())))
        }
        "stdvar_over_time" => |p, _| Ok(Some(variance(p))),
        "stddev_over_time" => |p, _| Ok(Some(variance(p).sqrt())),
        "mad_over_time" => |p, _| {
            if p.iter().any(|p| p.v.is_nan()) {
                return Ok(Some(f64::NAN));
            }
            let median = quantile(0.5, p.iter().map(|p| p.v).collect());
            Ok(Some(quantile(
                0.5,
                p.iter().map(|p| (p.v - median).abs()).collect(),
            )))
        },
        "changes" => |p, _| {
            Ok(Some(
                p.windows(2)
                    .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
                    .count() as f64,
            ))
        },
        "resets" => |p, _| Ok(Some(p.windows(2).filter(|w| w[1].v < w[0].v).count() as f64)),
        "deriv" => |p, _| Ok((p.len() >= 2).then(|| linear_regression(p, p[0].t).0)),
        "predict_linear" => |p, w| {
            Ok((p.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(p, w.t);
                slope * w.params[0] + intercept
            }))
        },
        "double_exponential_smoothing" => {
            |p, w| double_exponential_smoothing(p, w.params[0], w.params[1])
        }
        _ => return None,
    })
}

/// True when `name` is evaluated by this module.
pub(crate) fn is_range_function(name: &str) -> bool {
    name == "absent_over_time" || lookup(name).is_some()
}

/// Evaluates range function `name` with (paren-free) `args` at `t`.
pub(crate) fn call(
    ev: &Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    t: i64,
) -> Result<Value, QueryError> {
    let matrix_idx = args
        .iter()
        .position(|a| a.value_type() == ValueType::Matrix)
        .unwrap_or(0);
    let arg = ev.eval_range(args[matrix_idx], t)?;
    if arg.mode != RangeMode::Plain {
        return extended_call(ev, name, arg);
    }
    let RangeArg {
        series, start, end, ..
    } = arg;
    if name == "absent_over_time" {
        let present = series.iter().any(|s| !s.is_empty());
        return Ok(Value::Vector(if present {
            vec![]
        } else {
            vec![Sample::new(absent_labels(args[matrix_idx]), 1.0)]
        }));
    }
    let Some(f) = lookup(name) else {
        return Err(QueryError::exec(format!(
            "function \"{name}\" is not supported by this engine"
        )));
    };
    let mut params = Vec::with_capacity(args.len().saturating_sub(1));
    for (i, a) in args.iter().enumerate() {
        if i != matrix_idx {
            params.push(ev.eval_scalar(a, t)?);
        }
    }
    annotate_inputs(ev, name, &series, &params);
    let window = Window {
        start,
        end,
        t,
        params,
    };
    let drop_name = name != "last_over_time" && name != "first_over_time";
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let drop_name = drop_name || s.drop_name;
        if !s.histograms.is_empty() {
            match histogram::range::eval(ev, name, &s, start, end) {
                Outcome::Float(v) => out.push(Sample {
                    drop_name,
                    ..Sample::new(s.labels, v)
                }),
                Outcome::Histogram(h) => out.push(Sample {
                    drop_name,
                    ..Sample::histogram(s.labels, h)
                }),
                Outcome::Nothing => {}
                Outcome::FloatsOnly if s.points.is_empty() => {}
                Outcome::FloatsOnly => {
                    let metric = s.labels.metric_name().unwrap_or_default();
                    ev.annotate(Annotation::histograms_ignored_in_mixed_range(metric));
                    if let Some(v) = f(&s.points, &window)? {
                        out.push(Sample {
                            drop_name,
                            ..Sample::new(s.labels, v)
                        });
                    }
                }
            }
            continue;
        }
        if s.points.is_empty() {
            continue;
        }
        if let Some(v) = f(&s.points, &window)? {
            out.push(Sample {
                drop_name,
                ..Sample::new(s.labels, v)
            });
        }
    }
    Ok(Value::Vector(out))
}

/// A range function over an `anchored` or `smoothed` range: `rate`,
/// `increase` and `delta` take the edge values; `changes` and `resets` see
/// the range extended to its edges.
fn extended_call(ev: &Evaluator<'_>, name: &str, arg: RangeArg) -> Result<Value, QueryError> {
    arg.mode.check_function(name)?;
    let smoothed = arg.mode == RangeMode::Smoothed;
    let (start, end) = (arg.start, arg.end);
    let mut out = Vec::new();
    let rates = matches!(name, "rate" | "increase" | "delta");
    let (histograms, floats): (Vec<_>, Vec<_>) = arg
        .series
        .into_iter()
        .partition(|s| rates && !s.histograms.is_empty());
    for s in histograms {
        let metric = s.labels.metric_name().unwrap_or_default();
        if !s.points.is_empty() {
            ev.annotate(Annotation::mixed_floats_histograms(metric));
            continue;
        }
        let (is_counter, is_rate) = (name != "delta", name == "rate");
        let hs = &s.histograms;
        if let Some(h) =
            histogram::extended::rate(ev, hs, start, end, smoothed, is_counter, is_rate, metric)
        {
            out.push(Sample {
                drop_name: true,
                ..Sample::histogram(s.labels, h)
            });
        }
    }
    for s in extended_range::refuse_histograms(floats, arg.mode)? {
        let v = match name {
            "rate" => extended_range::rate(&s.points, start, end, smoothed, true, true),
            "increase" => extended_range::rate(&s.points, start, end, smoothed, true, false),
            "delta" => extended_range::rate(&s.points, start, end, smoothed, false, false),
            _ => {
                let points = extended_range::extend(&s.points, start, end, smoothed);
                let window = Window {
                    start,
                    end,
                    t: end,
                    params: Vec::new(),
                };
                match lookup(name) {
                    Some(f) if !points.is_empty() => f(&points, &window)?,
                    _ => None,
                }
            }
        };
        if let Some(v) = v {
            out.push(Sample {
                drop_name: true,
                ..Sample::new(s.labels, v)
            });
        }
    }
    Ok(Value::Vector(out))
}

/// [`Evaluator::seen`] scope of series whose name was checked for looking
/// like a counter (not an address, so no grouping scope can equal it).
const COUNTER_CHECKED: usize = 2;

/// Raises the annotations Prometheus attaches to range function inputs:
/// counters that may not be counters, quantiles outside [0, 1].
fn annotate_inputs(ev: &Evaluator<'_>, name: &str, series: &[RangeSeries], params: &[f64]) {
    let series = series.iter().filter(|s| !s.points.is_empty());
    match name {
        "rate" | "increase" => {
            for s in series.filter(|s| !ev.seen(COUNTER_CHECKED, &s.labels)) {
                if let Some(m) = s.labels.metric_name().filter(|m| !looks_like_counter(m)) {
                    ev.annotate(Annotation::possible_non_counter(m));
                }
            }
        }
        "quantile_over_time" => {
            let q = params.first().copied().unwrap_or(f64::NAN);
            if series.count() > 0 && !(0.0..=1.0).contains(&q) {
                ev.annotate(Annotation::quantile_out_of_range(q));
            }
        }
        _ => {}
    }
}

/// Prometheus's `extrapolatedRate`: the increase between the first and last
/// sample (corrected for counter resets), extrapolated towards the range
/// edges when the samples come close enough to them.
fn extrapolated_rate(points: &[Point], w: &Window, is_counter: bool, is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first, last) = (points[0], points[points.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        for pair in points.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }
    let zero_clamp = (is_counter && result > 0.0 && first.v >= 0.0).then_some(first.v / result);
    let span = SampledSpan {
        first: first.t,
        last: last.t,
        count: points.len(),
    };
    Some(result * extrapolation_factor(span, w.start, w.end, is_rate, zero_clamp))
}

/// Where the samples of a range sit: first and last timestamp and count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampledSpan {
    pub first: i64,
    pub last: i64,
    pub count: usize,
}

/// The factor Prometheus multiplies the raw increase by to extrapolate it
/// to the window `(start, end]` (and, for rates, per second).
/// `zero_clamp` is `first / increase` for counters, where the extrapolation
/// must not reach below zero.
pub(crate) fn extrapolation_factor(
    span: SampledSpan,
    start: i64,
    end: i64,
    is_rate: bool,
    zero_clamp: Option<f64>,
) -> f64 {
    let mut to_start = (span.first - start) as f64 / 1000.0;
    let mut to_end = (end - span.last) as f64 / 1000.0;
    let sampled = (span.last - span.first) as f64 / 1000.0;
    let avg_step = sampled / (span.count - 1) as f64;
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if let Some(ratio) = zero_clamp {
        to_start = to_start.min(sampled * ratio);
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= (end - start) as f64 / 1000.0;
    }
    factor
}

/// `irate` / `idelta` from the last two samples.
pub(crate) fn instant_value(points: &[Point], is_rate: bool) -> Option<f64> {
    let [prev, last] = points.get(points.len().checked_sub(2)?..)? else {
        return None;
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    let mut v = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// The sample `better(candidate, best)` prefers; a NaN best is always replaced.
fn compare(points: &[Point], better: fn(f64, f64) -> bool) -> Option<Point> {
    let mut best = *points.first()?;
    for p in points {
        if better(p.v, best.v) || best.v.is_nan() {
            best = *p;
        }
    }
    Some(best)
}

/// Population variance with Welford's algorithm and Kahan compensation.
fn variance(points: &[Point]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan::inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan::inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Prometheus's `quantile`: linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Least-squares slope and the intercept at `intercept_time`.
fn linear_regression(points: &[Point], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = points[0].v;
    let mut const_y = true;
    for (i, p) in points.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan::inc(x, sx, cx);
        (sy, cy) = kahan::inc(p.v, sy, cy);
        (sxy, cxy) = kahan::inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan::inc(x * x, sx2, cx2);
    }
    if const_y {
        return if init_y.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, init_y)
        };
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov_xy = sxy - sx * sy / n;
    let var_x = sx2 - sx * sx / n;
    let slope = cov_xy / var_x;
    (slope, sy / n - slope * sx / n)
}

fn double_exponential_smoothing(
    points: &[Point],
    sf: f64,
    tf: f64,
) -> Result<Option<f64>, QueryError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if points.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1, mut b) = (0.0, points[0].v, points[1].v - points[0].v);
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Ok(Some(s1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(vals: &[(i64, f64)]) -> Vec<Point> {
        vals.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn rate_extrapolates_to_the_window_edges() {
        // 0,10,…,50 every 10s in (0, 60]: 6 samples spanning 50s, 10s to each edge.
        let p = pts(&[
            (10_000, 10.0),
            (20_000, 20.0),
            (30_000, 30.0),
            (40_000, 40.0),
            (50_000, 50.0),
            (60_000, 60.0),
        ]);
        let w = Window {
            start: 0,
            end: 60_000,
            t: 60_000,
            params: vec![],
        };
        let inc = extrapolated_rate(&p, &w, true, false).unwrap();
        // Counter zero point is 10s before the first sample: extrapolate fully.
        assert!((inc - 60.0).abs() < 1e-9, "{inc}");
        assert!((extrapolated_rate(&p, &w, true, true).unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn irate_handles_counter_reset() {
        assert_eq!(
            instant_value(&pts(&[(0, 10.0), (10_000, 5.0)]), true),
            Some(0.5)
        );
        assert_eq!(
            instant_value(&pts(&[(0, 10.0), (10_000, 5.0)]), false),
            Some(-5.0)
        );
        assert_eq!(instant_value(&pts(&[(0, 10.0)]), true), None);
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(0.5, vec![1.0, 3.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(-1.0, vec![1.0]), f64::NEG_INFINITY);
    }
}
