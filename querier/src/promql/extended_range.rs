//! Prometheus 3's extended range selectors: `x[5m] anchored` and
//! `x[5m] smoothed` (and `x smoothed` as an instant selector).
//!
//! A plain range `(t - range, t]` only sees the samples inside it, so
//! `rate` has to extrapolate towards the edges. `anchored` also reads the
//! last sample at or before the left edge (up to one lookback delta back)
//! and uses it as the value at the edge: no extrapolation, and an
//! `increase` that adds up exactly across adjacent windows. `smoothed` also
//! reads the first sample after the right edge and interpolates linearly to
//! both edges. Only the functions Prometheus allows take these modifiers.

use common::series::Sample as Point;
use promql_parser::parser::VectorSelector;

use super::QueryError;
use super::eval::RangeArg;
use super::value::RangeSeries;

/// How a range selector reads around its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RangeMode {
    /// Only the samples inside `(start, end]`.
    #[default]
    Plain,
    /// Plus the last sample at or before `start`.
    Anchored,
    /// Plus the samples around both edges, interpolated to them.
    Smoothed,
}

impl RangeMode {
    /// The mode a selector's modifiers ask for.
    pub(crate) fn of(vs: &VectorSelector) -> Self {
        if vs.smoothed {
            Self::Smoothed
        } else if vs.anchored {
            Self::Anchored
        } else {
            Self::Plain
        }
    }

    /// Refuses functions Prometheus does not define over this mode, with
    /// Prometheus's message.
    pub(crate) fn check_function(self, name: &str) -> Result<(), QueryError> {
        let (keyword, allowed): (&str, &[&str]) = match self {
            Self::Plain => return Ok(()),
            Self::Anchored => (
                "anchored",
                &["changes", "delta", "increase", "rate", "resets"],
            ),
            Self::Smoothed => ("smoothed", &["delta", "increase", "rate"]),
        };
        if allowed.contains(&name) {
            return Ok(());
        }
        Err(QueryError::exec(format!(
            "{keyword} modifier can only be used with: {} - not with {name}",
            allowed.join(", ")
        )))
    }
}

/// Index of the last point at or before `t` (0 when there is none): the
/// left anchor, as Prometheus finds it (the last point is never a candidate).
fn left_index(points: &[Point], t: i64) -> usize {
    let last = points.len() - 1;
    points[..last]
        .partition_point(|p| p.t <= t)
        .saturating_sub(1)
}

/// Linear interpolation between `a` and `b` at `t`; a counter that dropped
/// between them is taken to have restarted from zero.
fn interpolate(a: Point, b: Point, t: i64, is_counter: bool) -> f64 {
    let y1 = if is_counter && b.v < a.v { 0.0 } else { a.v };
    y1 + (b.v - y1) * (t - a.t) as f64 / (b.t - a.t) as f64
}

/// The value at the left edge: the anchor's, or interpolated past it.
fn left_value(points: &[Point], first: usize, start: i64, smoothed: bool, counter: bool) -> f64 {
    match points.get(first + 1) {
        Some(&next) if smoothed && points[first].t < start => {
            interpolate(points[first], next, start, counter)
        }
        _ => points[first].v,
    }
}

/// The value at the right edge: the last point's, or interpolated before it.
fn right_value(points: &[Point], last: usize, end: i64, smoothed: bool, counter: bool) -> f64 {
    if smoothed && last > 0 && points[last].t > end {
        return interpolate(points[last - 1], points[last], end, counter);
    }
    points[last].v
}

/// The indexes of the points that bound `(start, end]`, or `None` when the
/// points say nothing about the window.
fn bounds(points: &[Point], start: i64, end: i64, smoothed: bool) -> Option<(usize, usize)> {
    if points.is_empty() {
        return None;
    }
    let first = left_index(points, start);
    let mut last = points.len() - 1;
    if smoothed {
        last = points[..last].partition_point(|p| p.t < end);
    }
    if points[last].t <= start || (smoothed && points[first].t > end) {
        return None;
    }
    Some((first, last))
}

/// `rate`/`increase`/`delta` over an anchored or smoothed range: the change
/// between the edge values, plus the counter resets in between.
pub(crate) fn rate(
    points: &[Point],
    start: i64,
    end: i64,
    smoothed: bool,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (mut first, mut last) = bounds(points, start, end, smoothed)?;
    let left = left_value(points, first, start, smoothed, is_counter);
    let right = right_value(points, last, end, smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        if points[first].t <= start {
            first += 1;
        }
        if points[last].t >= end {
            last = last.saturating_sub(1);
        }
        let inner = points.get(first..=last).unwrap_or(&[]);
        let mut prev = left;
        for p in inner {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
        if right < prev {
            result += prev;
        }
    }
    if is_rate {
        result /= (end - start) as f64 / 1000.0;
    }
    Some(result)
}

/// The points of an anchored or smoothed range as the other functions see
/// them: one point exactly on each edge (the anchor's value or an
/// interpolation) around the points strictly inside.
pub(crate) fn extend(points: &[Point], start: i64, end: i64, smoothed: bool) -> Vec<Point> {
    let Some((mut first, mut last)) = bounds(points, start, end, smoothed) else {
        return Vec::new();
    };
    let left = left_value(points, first, start, smoothed, false);
    let right = right_value(points, last, end, smoothed, false);
    if points[first].t <= start {
        first += 1;
    }
    if points[last].t >= end {
        last = last.saturating_sub(1);
    }
    let mut out = Vec::with_capacity(last.saturating_sub(first) + 3);
    out.push(Point { t: start, v: left });
    out.extend(points.get(first..=last).unwrap_or(&[]).iter().copied());
    out.push(Point { t: end, v: right });
    out
}

/// A range selector's value as a query result: for `anchored`/`smoothed`,
/// each series [`extend`]ed to the window's edges (series left empty drop
/// out). Like Prometheus, native histograms are refused here.
pub(crate) fn trim(arg: RangeArg) -> Result<Vec<RangeSeries>, QueryError> {
    let smoothed = arg.mode == RangeMode::Smoothed;
    if arg.mode == RangeMode::Plain {
        return Ok(arg.series);
    }
    let mut out = Vec::with_capacity(arg.series.len());
    for mut s in refuse_histograms(arg.series, arg.mode)? {
        s.points = extend(&s.points, arg.start, arg.end, smoothed);
        if !s.points.is_empty() {
            out.push(s);
        }
    }
    Ok(out)
}

/// `series` unchanged, or the error Prometheus gives when an anchored or
/// smoothed range holds native histograms (not supported here yet).
pub(crate) fn refuse_histograms(
    series: Vec<RangeSeries>,
    mode: RangeMode,
) -> Result<Vec<RangeSeries>, QueryError> {
    if mode != RangeMode::Plain && series.iter().any(|s| !s.histograms.is_empty()) {
        let keyword = if mode == RangeMode::Smoothed {
            "smoothed"
        } else {
            "anchored"
        };
        return Err(QueryError::exec(format!(
            "{keyword} modifier is not supported with histograms"
        )));
    }
    Ok(series)
}

/// The value of a smoothed instant selector at `t`: the sample at `t`, or
/// the interpolation between the last sample before `t` and the first one
/// after it (both within `lookback`), or the last sample when nothing
/// follows. `points` are sorted and hold no stale markers.
pub(crate) fn smoothed_at(points: &[Point], t: i64, lookback: i64) -> Option<f64> {
    let i = points.partition_point(|p| p.t <= t);
    let before = points[..i].last().filter(|p| p.t > t - lookback)?;
    if before.t == t {
        return Some(before.v);
    }
    match points.get(i).filter(|p| p.t <= t + lookback) {
        Some(&after) => Some(interpolate(*before, after, t, false)),
        None => Some(before.v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<Point> {
        v.iter().map(|&(t, v)| Point { t, v }).collect()
    }

    #[test]
    fn anchored_increase_starts_at_the_sample_before_the_window() {
        // 1 at 0s, 2 at 15s, …, 5 at 60s; window (20s, 80s].
        let p = pts(&[
            (0, 1.0),
            (15_000, 2.0),
            (30_000, 3.0),
            (45_000, 4.0),
            (60_000, 5.0),
        ]);
        assert_eq!(rate(&p, 20_000, 80_000, false, true, false), Some(3.0));
    }

    #[test]
    fn smoothed_counter_interpolation_restarts_at_a_reset() {
        // 3 at 0s, 2 at 60s (a reset), 4 at 120s; window (30s, 90s].
        let p = pts(&[(0, 3.0), (60_000, 2.0), (120_000, 4.0)]);
        assert_eq!(rate(&p, 30_000, 90_000, true, true, false), Some(2.0));
    }

    #[test]
    fn smoothed_instant_value_interpolates_and_carries_forward() {
        let p = pts(&[(0, 1.0), (10_000, 2.0), (20_000, 3.0)]);
        assert_eq!(smoothed_at(&p, 15_000, 300_000), Some(2.5));
        assert_eq!(smoothed_at(&p, 10_000, 300_000), Some(2.0));
        assert_eq!(smoothed_at(&p, 25_000, 300_000), Some(3.0));
    }

    #[test]
    fn only_the_listed_functions_take_the_modifiers() {
        assert!(RangeMode::Anchored.check_function("resets").is_ok());
        let err = RangeMode::Smoothed.check_function("resets").unwrap_err();
        assert_eq!(
            err.to_string(),
            "smoothed modifier can only be used with: delta, increase, rate - not with resets"
        );
    }
}
