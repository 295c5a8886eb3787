//! Range aggregations over log lines (`rate`, `count_over_time`, unwrapped
//! `*_over_time`, …): every line becomes a sample of its labels, and each
//! step `t` aggregates the samples in `(t - offset - range, t - offset]`,
//! exactly like Loki.

use std::collections::HashMap;

use common::cpu_work::CancelFlag;
use common::labels::Labels;
use common::logs::{Direction, LogSelect, StreamEntries};
use common::series::{MatchOp, Sample as Point};

use super::ast::{Conversion, Grouping, RangeAgg, RangeOp, Stage, ValueKind, VecOp};
use super::line_filter::push_down;
use super::metric::{StepSeries, Steps, group_labels};
use super::parallel::{lines, off_runtime, split_run};
use super::pipeline::{ERROR_LABEL, Pipeline, SAMPLE_ERR, convert, label_filter};
use super::select::Source;
use super::{ExecStats, LogqlError};
use crate::promql::range_functions::{Window, lookup};

/// One series' samples: timestamps in ns (for window bounds) and the same
/// samples with millisecond timestamps (for the shared range functions).
#[derive(Default)]
struct Samples {
    ts_ns: Vec<i64>,
    points: Vec<Point>,
}

/// Whether the vector aggregation `op` right over `r` lends `r` its
/// grouping (Loki does so for a `sum` over an ungrouped count, rate, bytes
/// or sum range aggregation).
pub(crate) fn takes_outer_grouping(op: VecOp, r: &RangeAgg) -> bool {
    op == VecOp::Sum
        && r.grouping.is_none()
        && matches!(
            r.op,
            RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::SumOverTime
                | RangeOp::Rate
                | RangeOp::CountOverTime
        )
}

/// Whether series marked with a pipeline error may be aggregated instead
/// of failing the query. As in Loki, only when the query asks for errors:
/// its grouping (its own, or the one a `sum` lends it) is a `by`, possibly
/// empty, and `__error__` is named by a label filter, the `unwrap` or that
/// grouping.
fn errors_requested(agg: &RangeAgg, outer: Option<&Grouping>) -> bool {
    let Some(Grouping::By(groups)) = agg.grouping.as_ref().or(outer) else {
        return false;
    };
    let r = &agg.range;
    let mut names: Vec<&str> = groups.iter().map(String::as_str).collect();
    for s in &r.log.stages {
        if let Stage::LabelFilter(f) = s {
            f.label_names(&mut names);
        }
    }
    if let Some(u) = &r.unwrap {
        names.push(&u.label);
        for f in &u.post_filters {
            f.label_names(&mut names);
        }
    }
    names.contains(&ERROR_LABEL)
}

/// Evaluates a range aggregation at every step; `outer` is the grouping
/// an enclosing `sum` lends it ([`takes_outer_grouping`]).
pub(crate) async fn eval(
    src: &Source<'_>,
    agg: &RangeAgg,
    outer: Option<&Grouping>,
    steps: &Steps,
) -> Result<(Vec<StepSeries>, ExecStats), LogqlError> {
    let errors_requested = errors_requested(agg, outer);
    let r = &agg.range;
    let pipeline = Pipeline::compile(&r.log).map_err(LogqlError::BadQuery)?;
    let first_end = steps.start - r.offset_ns;
    let last_end = steps.last() - r.offset_ns;
    let sel = LogSelect {
        matchers: r.log.matchers.clone(),
        start_ns: first_end - r.range_ns + 1,
        end_ns: last_end + 1,
        line_filter: push_down(pipeline.pushed_filters()),
        limit: None,
        direction: Direction::Forward,
    };
    let (streams, stats) = src.select(&sel).await?;
    let (agg, steps) = (agg.clone(), *steps);
    let series = off_runtime(move |cancel| {
        aggregate(&agg, &pipeline, &streams, &steps, errors_requested, cancel)
    })
    .await??;
    Ok((series, stats))
}

/// Extracts the samples of `streams` and aggregates them at every step
/// (CPU work, run off the async runtime).
fn aggregate(
    agg: &RangeAgg,
    pipeline: &Pipeline,
    streams: &[StreamEntries],
    steps: &Steps,
    errors_requested: bool,
    cancel: &CancelFlag,
) -> Result<Vec<StepSeries>, LogqlError> {
    let r = &agg.range;
    let series = split_run(
        streams,
        |part| extract(agg, pipeline, part, cancel),
        |mut a, b| {
            for (k, v) in b {
                a.entry(k).or_default().extend(v);
            }
            a
        },
    );
    let failed = series.keys().find(|l| l.get(ERROR_LABEL).is_some());
    if let Some(labels) = failed.filter(|_| !errors_requested) {
        return Err(LogqlError::Pipeline {
            error: labels.get(ERROR_LABEL).unwrap_or("").to_string(),
            series: labels.to_string(),
        });
    }
    let mut series: Vec<(Labels, Vec<(i64, f64)>)> = series.into_iter().collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let samples: Vec<(Labels, Samples)> = series
        .into_iter()
        .map(|(labels, mut pts)| {
            pts.sort_by_key(|p| p.0);
            let s = Samples {
                ts_ns: pts.iter().map(|p| p.0).collect(),
                points: pts
                    .iter()
                    .map(|&(t, v)| Point {
                        t: t.div_euclid(1_000_000),
                        v,
                    })
                    .collect(),
            };
            (labels, s)
        })
        .collect();
    if agg.op == RangeOp::AbsentOverTime {
        return Ok(absent(agg, steps, &samples));
    }
    let mut out = Vec::with_capacity(samples.len());
    for (labels, s) in &samples {
        if cancel.is_cancelled() {
            // Nobody waits for the answer any more.
            return Err(LogqlError::Timeout);
        }
        let mut values = Vec::with_capacity(steps.count);
        for i in 0..steps.count {
            let end = steps.at(i) - r.offset_ns;
            let start = end - r.range_ns;
            let lo = s.ts_ns.partition_point(|&t| t <= start);
            let hi = s.ts_ns.partition_point(|&t| t <= end);
            let window = s.points.get(lo..hi).unwrap_or(&[]);
            values.push(if window.is_empty() {
                None
            } else {
                apply(agg, window, start, end, steps.at(i))?
            });
        }
        if values.iter().any(Option::is_some) {
            out.push(StepSeries {
                labels: labels.clone(),
                values,
            });
        }
    }
    Ok(out)
}

/// Samples by series: `(timestamp ns, value)` in no particular order.
type SampleMap = HashMap<Labels, Vec<(i64, f64)>>;

/// Turns every line of `streams` that survives the pipeline into a sample
/// of its (grouped) labels: 1, its length, or its unwrapped value.
fn extract(
    agg: &RangeAgg,
    pipeline: &Pipeline,
    streams: &[StreamEntries],
    cancel: &CancelFlag,
) -> SampleMap {
    let r = &agg.range;
    let bytes = matches!(agg.op, RangeOp::BytesOverTime | RangeOp::BytesRate);
    let mut series: SampleMap = HashMap::new();
    let simple = pipeline.is_passthrough() && r.unwrap.is_none();
    for (s, e) in lines(streams, cancel) {
        if simple && e.structured_metadata.is_empty() {
            let v = if bytes { e.line.len() as f64 } else { 1.0 };
            let key = group_labels(&s.labels, agg.grouping.as_ref());
            series.entry(key).or_default().push((e.ts_ns, v));
            continue;
        }
        let Some(mut line) = pipeline.process(&s.labels, e) else {
            continue;
        };
        let v = match &r.unwrap {
            None if bytes => line.line.len() as f64,
            None => 1.0,
            Some(u) => {
                let kind = match u.conversion {
                    Conversion::Float => ValueKind::Number,
                    Conversion::Duration | Conversion::DurationSeconds => ValueKind::Duration,
                    Conversion::Bytes => ValueKind::Bytes,
                };
                // Lines without the label yield no sample (Loki #6713).
                let text = match line.get(&u.label) {
                    Some(t) if !t.is_empty() => t.to_string(),
                    _ => continue,
                };
                let v = match convert(kind, &text) {
                    Ok(v) => v,
                    Err(e) => {
                        line.set_error(SAMPLE_ERR, e);
                        0.0
                    }
                };
                if !u.post_filters.iter().all(|f| label_filter(f, &mut line)) {
                    continue;
                }
                // The unwrapped label is not part of the series.
                line.labels.remove(&u.label);
                v
            }
        };
        // Grouping would hide an error label: errors keep every label.
        let grouping = if line.has_error() {
            None
        } else {
            agg.grouping.as_ref()
        };
        let key = group_labels(&line.label_set(), grouping);
        series.entry(key).or_default().push((e.ts_ns, v));
    }
    series
}

/// The aggregation of one non-empty window.
fn apply(
    agg: &RangeAgg,
    window: &[Point],
    start_ns: i64,
    end_ns: i64,
    t_ns: i64,
) -> Result<Option<f64>, LogqlError> {
    let range_secs = agg.range.range_ns as f64 / 1e9;
    let sum = || {
        let (s, c) = window
            .iter()
            .fold((0.0, 0.0), |(s, c), p| crate::promql::kahan::inc(p.v, s, c));
        if s.is_infinite() { s } else { s + c }
    };
    let shared = |name: &str| -> Result<Option<f64>, LogqlError> {
        let f = lookup(name)
            .ok_or_else(|| LogqlError::BadQuery(format!("unsupported range function {name}")))?;
        let w = Window {
            start: start_ns.div_euclid(1_000_000),
            end: end_ns.div_euclid(1_000_000),
            t: t_ns.div_euclid(1_000_000),
            params: agg.param.into_iter().collect(),
        };
        f(window, &w).map_err(|e| LogqlError::BadQuery(e.to_string()))
    };
    Ok(match agg.op {
        RangeOp::CountOverTime => Some(window.len() as f64),
        RangeOp::Rate if agg.range.unwrap.is_none() => Some(window.len() as f64 / range_secs),
        RangeOp::Rate | RangeOp::BytesRate => Some(sum() / range_secs),
        RangeOp::BytesOverTime | RangeOp::SumOverTime => Some(sum()),
        RangeOp::RateCounter => shared("rate")?,
        RangeOp::AvgOverTime => shared("avg_over_time")?,
        RangeOp::MinOverTime => shared("min_over_time")?,
        RangeOp::MaxOverTime => shared("max_over_time")?,
        RangeOp::StddevOverTime => shared("stddev_over_time")?,
        RangeOp::StdvarOverTime => shared("stdvar_over_time")?,
        RangeOp::QuantileOverTime => shared("quantile_over_time")?,
        RangeOp::FirstOverTime => window.first().map(|p| p.v),
        RangeOp::LastOverTime => window.last().map(|p| p.v),
        RangeOp::AbsentOverTime => None,
    })
}

/// `absent_over_time`: 1 at each step with no sample in any series,
/// labelled with the selector's equality matchers.
fn absent(agg: &RangeAgg, steps: &Steps, samples: &[(Labels, Samples)]) -> Vec<StepSeries> {
    let r = &agg.range;
    let labels = Labels::from_pairs(
        r.log
            .matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal)
            .map(|m| (m.name.clone(), m.value.clone())),
    );
    let values: Vec<Option<f64>> = (0..steps.count)
        .map(|i| {
            let end = steps.at(i) - r.offset_ns;
            let start = end - r.range_ns;
            let any = samples.iter().any(|(_, s)| {
                let first_after_start = s.ts_ns.partition_point(|&t| t <= start);
                s.ts_ns.get(first_after_start).is_some_and(|&t| t <= end)
            });
            (!any).then_some(1.0)
        })
        .collect();
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    vec![StepSeries { labels, values }]
}
