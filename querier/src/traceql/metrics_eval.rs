//! Evaluates a TraceQL metrics query over a [`TraceStore`]: every span the
//! query's spanset filter selects, in the range, is put in its step by its
//! start time and in its series by its `by(…)` values, then each series is
//! reduced per step (count, rate, sum, avg, min, max, power-of-two
//! histogram and quantiles from it). Cairn answers exactly: no sampling.
//!
//! Steps follow Tempo: a range `[start, end]` is widened to whole steps
//! plus one leading step, each step is right-closed `(t - step, t]` and its
//! sample is stamped `t`; an instant query is one sample over
//! `[start, end]` stamped `end`.

use std::collections::{BTreeMap, HashMap};

use common::series::StoreError;
use common::tenant::TenantId;
use common::traces::{Span, TraceScan, TraceStore};

use super::ast::Value;
use super::eval::{TraceView, field_value};
use super::metrics::{MetricsFn, MetricsQuery, Ranking};
use super::metrics_compare::Comparison;
use super::metrics_exemplars::{Exemplar, ExemplarBudget};
use super::pushdown::span_filter;
use super::search::{each_trace, for_each_selected};

/// What to compute.
#[derive(Debug, Clone)]
pub struct MetricsRequest {
    /// The metrics query.
    pub query: MetricsQuery,
    /// Range start (ns).
    pub start_ns: u64,
    /// Range end (ns).
    pub end_ns: u64,
    /// Step (ns); ignored for an instant query.
    pub step_ns: u64,
    /// One sample per series over `[start_ns, end_ns]`.
    pub instant: bool,
    /// Most series built; spans of further series are left out and the
    /// outcome says so. Zero: no limit.
    pub max_series: usize,
    /// Most exemplars returned, over all series.
    pub exemplars: usize,
}

/// One result series.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSeries {
    /// `(name, value)` labels: the `by` fields (nil ones left out), then
    /// `__bucket` or `p`; `__name__` for an ungrouped series.
    pub labels: Vec<(String, Value<'static>)>,
    /// `(timestamp ms, value)`, oldest first, empty steps left out.
    pub samples: Vec<(i64, f64)>,
    /// Spans behind the series, oldest first.
    pub exemplars: Vec<Exemplar>,
}

/// A metrics query's answer and how much it looked at.
#[derive(Debug, Clone, Default)]
pub struct MetricsOutcome {
    /// Series, ordered by their labels.
    pub series: Vec<MetricsSeries>,
    /// Traces the stores returned and the engine evaluated.
    pub inspected_traces: usize,
    /// Spans in those traces.
    pub inspected_spans: usize,
    /// Set when `max_series` cut the answer short.
    pub truncated: bool,
}

/// The steps of a request, as Tempo aligns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// Exclusive start of the first step (inclusive for an instant query).
    start: u64,
    /// Inclusive end of the last step.
    end: u64,
    step: u64,
    count: usize,
    instant: bool,
}

impl Steps {
    /// Steps of `step_ns` covering `[start_ns, end_ns]` (one step when
    /// `instant`); `None` when the step is zero or the range empty.
    pub fn new(start_ns: u64, end_ns: u64, step_ns: u64, instant: bool) -> Option<Self> {
        if end_ns <= start_ns {
            return None;
        }
        if instant {
            return Some(Self {
                start: start_ns,
                end: end_ns,
                step: end_ns - start_ns,
                count: 1,
                instant,
            });
        }
        if step_ns == 0 {
            return None;
        }
        let mut start = start_ns - start_ns % step_ns;
        if start > step_ns {
            // One leading step, as Tempo adds.
            start -= step_ns;
        }
        let end = end_ns.checked_next_multiple_of(step_ns)?;
        let count = usize::try_from((end - start) / step_ns).ok()?;
        Some(Self {
            start,
            end,
            step: step_ns,
            count,
            instant,
        })
    }

    /// How many samples a series has at most.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The step a span starting at `ts` falls in.
    fn index(&self, ts: u64) -> Option<usize> {
        if self.instant {
            return (self.start..=self.end).contains(&ts).then_some(0);
        }
        if ts <= self.start || ts > self.end {
            return None;
        }
        usize::try_from((ts - self.start - 1) / self.step).ok()
    }

    /// The timestamp (ms) of step `i`'s sample.
    fn timestamp_ms(&self, i: usize) -> i64 {
        let ns = if self.instant {
            self.end
        } else {
            self.start + (i as u64 + 1) * self.step
        };
        i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
    }

    /// The covered range `(start, end)` in ns.
    pub(crate) fn bounds(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// Whether this is an instant query's single step.
    pub(crate) fn is_instant(&self) -> bool {
        self.instant
    }

    /// The step's length in seconds, what `rate()` divides by.
    fn seconds(&self) -> f64 {
        self.step as f64 / 1e9
    }
}

/// Count, sum, min and max of the values seen in one step.
#[derive(Debug, Clone, Copy)]
struct Cell {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Cell {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Cell {
    fn observe(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

/// One series under construction: its labels before the bucket, the
/// bucket (for histograms and quantiles) and its non-empty steps.
struct Building {
    labels: Labels,
    bucket: Option<f64>,
    cells: BTreeMap<usize, Cell>,
    exemplars: Vec<Exemplar>,
}

/// `v` rounded up to the next power of two, as Tempo buckets values (none
/// below 2).
pub fn log2_bucket(v: u64) -> Option<f64> {
    if v < 2 {
        return None;
    }
    let bits = 64 - (v - 1).leading_zeros();
    1u64.checked_shl(bits).map(|b| b as f64)
}

/// The `p` quantile of a histogram given as `(bucket upper bound, count)`
/// sorted by bound, interpolating exponentially within the bucket it falls
/// in (Tempo's `quantile_over_time` method).
pub fn log2_quantile(p: f64, buckets: &[(f64, u64)]) -> f64 {
    let total: u64 = buckets.iter().map(|(_, c)| c).sum();
    if !(0.0..=1.0).contains(&p) || total == 0 {
        return 0.0;
    }
    let wanted = ((p * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    let mut at = 0;
    for (i, &(max, count)) in buckets.iter().enumerate() {
        at = i;
        if seen + count > wanted {
            break;
        }
        seen += count;
        if seen == wanted {
            return max;
        }
    }
    let (max, count) = buckets[at];
    let frac = (wanted - seen) as f64 / count as f64;
    let hi = max.log2();
    let lo = if at > 0 {
        buckets[at - 1].0.log2()
    } else {
        hi - 1.0
    };
    2f64.powf(lo + (hi - lo) * frac)
}

/// A field's value as a number: durations in seconds, as Tempo reports them.
fn number(v: &Value<'_>) -> Option<f64> {
    match v {
        Value::Duration(d) => Some(*d as f64 / 1e9),
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) if !f.is_nan() => Some(*f),
        _ => None,
    }
}

/// The power-of-two bucket of a field's value: durations bucketed in
/// nanoseconds and labelled in seconds, integers as they are; other values
/// (and values below 2) have no bucket and the span is left out.
fn bucket(v: &Value<'_>) -> Option<f64> {
    match v {
        Value::Duration(d) => log2_bucket(u64::try_from(*d).ok()?).map(|b| b / 1e9),
        Value::Int(i) => log2_bucket(u64::try_from(*i).ok()?),
        _ => None,
    }
}

/// Runs `req` over each tenant's traces in `store`, merged.
pub async fn metrics(
    store: &dyn TraceStore,
    tenants: &[TenantId],
    req: &MetricsRequest,
    steps: Steps,
) -> Result<MetricsOutcome, StoreError> {
    let scan = TraceScan {
        start_ns: if steps.instant {
            steps.start
        } else {
            steps.start + 1
        },
        end_ns: steps.end,
        filter: span_filter(&req.query.query),
        limit: None,
    };
    let mut acc = Accumulator {
        req,
        steps,
        series: HashMap::new(),
        compare: match &req.query.func {
            MetricsFn::Compare(spec) => Some(Comparison::new(spec, steps)),
            _ => None,
        },
        exemplars: ExemplarBudget::new(req.exemplars, steps),
        truncated: false,
    };
    let mut out = MetricsOutcome::default();
    let mut inspected_spans = 0;
    out.inspected_traces = each_trace(store, tenants, &scan, |trace| {
        inspected_spans += trace.spans.len();
        for_each_selected(&trace, Some(&req.query.query), |span, view| {
            acc.observe(span, view);
        });
    })
    .await?;
    out.inspected_spans = inspected_spans;
    (out.series, out.truncated) = acc.finish();
    Ok(out)
}

/// A series' labels, in order.
pub(crate) type Labels = Vec<(String, Value<'static>)>;
/// A finished series: one value per step (NaN: none).
pub(crate) struct Dense {
    pub(crate) labels: Labels,
    pub(crate) values: Vec<f64>,
    pub(crate) exemplars: Vec<Exemplar>,
}

impl Dense {
    /// A series without exemplars.
    pub(crate) fn new(labels: Labels, values: Vec<f64>) -> Self {
        Self {
            labels,
            values,
            exemplars: Vec::new(),
        }
    }
}

/// Series being built for one request.
struct Accumulator<'r> {
    req: &'r MetricsRequest,
    steps: Steps,
    series: HashMap<String, Building>,
    /// Set for `compare()`, which counts every attribute instead.
    compare: Option<Comparison<'r>>,
    exemplars: ExemplarBudget,
    truncated: bool,
}

impl<'r> Accumulator<'r> {
    fn observe(&mut self, span: &Span, view: &TraceView<'_>) {
        let Some(step) = self.steps.index(span.start_unix_nano) else {
            return;
        };
        if let Some(c) = &mut self.compare {
            c.observe(span, view, step);
            return;
        }
        let func = &self.req.query.func;
        let value = func.field().map(|f| field_value(f, span, view));
        let (bucket, measured) = match (&value, func.is_bucketed()) {
            (Some(v), true) => match bucket(v) {
                Some(b) => (Some(b), number(v).unwrap_or(f64::NAN)),
                None => return,
            },
            (Some(v), false) => match number(v) {
                Some(x) => (None, x),
                None => return,
            },
            (None, _) => (None, f64::NAN),
        };
        let by: Vec<Value<'static>> = self
            .req
            .query
            .by
            .iter()
            .map(|f| field_value(f, span, view).into_owned())
            .collect();
        let mut key: String = by.iter().map(|v| format!("{v}\u{1}")).collect();
        if let Some(b) = bucket {
            key.push_str(&b.to_string());
        }
        let max = self.req.max_series;
        let len = self.series.len();
        let building = match self.series.get_mut(&key) {
            Some(b) => b,
            None if max > 0 && len >= max => {
                self.truncated = true;
                return;
            }
            None => self.series.entry(key).or_insert_with(|| Building {
                labels: group_labels(&self.req.query, by),
                bucket,
                cells: BTreeMap::new(),
                exemplars: Vec::new(),
            }),
        };
        building.cells.entry(step).or_default().observe(measured);
        let ts_ms = i64::try_from(span.start_unix_nano / 1_000_000).unwrap_or(i64::MAX);
        if self.exemplars.take(ts_ms) {
            // Histograms count: their exemplars carry no value, as in Tempo.
            let value = if matches!(func, MetricsFn::HistogramOverTime(_)) {
                f64::NAN
            } else {
                measured
            };
            building.exemplars.push(Exemplar::of(span, view, value));
        }
    }

    /// The finished series, ranked, sorted by labels and cut to
    /// `max_series`, and whether the limit left any out.
    fn finish(self) -> (Vec<MetricsSeries>, bool) {
        let steps = self.steps;
        let func = &self.req.query.func;
        let mut dense: Vec<Dense> = match (self.compare, func) {
            (Some(c), _) => c.finish(),
            (None, MetricsFn::QuantileOverTime(_, qs)) => {
                quantiles(self.series.into_values(), qs, steps)
            }
            (None, _) => self
                .series
                .into_values()
                .map(|b| {
                    let mut labels = b.labels;
                    if let Some(bucket) = b.bucket {
                        labels.push(("__bucket".into(), Value::Float(bucket)));
                    }
                    let values = values(func, &b.cells, steps);
                    Dense {
                        labels,
                        values,
                        exemplars: b.exemplars,
                    }
                })
                .collect(),
        };
        dense.sort_by_cached_key(|d| label_key(&d.labels));
        for r in &self.req.query.ranking {
            dense = rank(dense, *r, steps.count);
        }
        let mut truncated = self.truncated;
        if self.req.max_series > 0 && dense.len() > self.req.max_series {
            dense.truncate(self.req.max_series);
            truncated = true;
        }
        let series = dense
            .into_iter()
            .filter_map(|d| {
                let samples: Vec<(i64, f64)> = d
                    .values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_nan())
                    .map(|(i, v)| (steps.timestamp_ms(i), *v))
                    .collect();
                let mut exemplars = d.exemplars;
                exemplars.sort_by_key(|e| e.timestamp_ms);
                (!samples.is_empty()).then_some(MetricsSeries {
                    labels: d.labels,
                    samples,
                    exemplars,
                })
            })
            .collect();
        (series, truncated)
    }
}

/// A series' labels from its `by` values: nil values left out, but never
/// all of them (the first then reads `nil`); `__name__` when ungrouped.
fn group_labels(query: &MetricsQuery, by: Vec<Value<'static>>) -> Labels {
    if query.by.is_empty() {
        if query.func.is_bucketed() {
            return Vec::new();
        }
        return vec![(
            "__name__".into(),
            Value::Str(query.func.name().to_string().into()),
        )];
    }
    let mut labels: Labels = query
        .by
        .iter()
        .zip(by)
        .filter(|(_, v)| *v != Value::Nil)
        .map(|(f, v)| (f.to_string(), v))
        .collect();
    if labels.is_empty() && !query.func.is_bucketed() {
        labels.push((query.by[0].to_string(), Value::Nil));
    }
    labels
}

/// A stable ordering key for a label set.
fn label_key(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}\u{1}"))
        .collect()
}

/// One value per step (NaN where the step has none).
fn values(func: &MetricsFn, cells: &BTreeMap<usize, Cell>, steps: Steps) -> Vec<f64> {
    let counted = matches!(
        func,
        MetricsFn::Rate | MetricsFn::CountOverTime | MetricsFn::HistogramOverTime(_)
    );
    let mut out = vec![if counted { 0.0 } else { f64::NAN }; steps.count];
    for (&i, c) in cells {
        let Some(slot) = out.get_mut(i) else { continue };
        *slot = match func {
            MetricsFn::Rate => c.count as f64 / steps.seconds(),
            MetricsFn::CountOverTime | MetricsFn::HistogramOverTime(_) => c.count as f64,
            MetricsFn::SumOverTime(_) => c.sum,
            MetricsFn::AvgOverTime(_) => c.sum / c.count as f64,
            MetricsFn::MinOverTime(_) => c.min,
            MetricsFn::MaxOverTime(_) => c.max,
            // Built elsewhere (`quantiles`, `Comparison`).
            MetricsFn::QuantileOverTime(..) | MetricsFn::Compare(_) => f64::NAN,
        };
    }
    out
}

/// Quantile series from bucket series: per group (labels without the
/// bucket) and step, each quantile of that step's histogram (0 for a step
/// without spans, as Tempo answers), labelled `p`. Each exemplar goes to
/// the quantile nearest its value over the whole answer, as in Tempo.
fn quantiles(series: impl Iterator<Item = Building>, qs: &[f64], steps: Steps) -> Vec<Dense> {
    struct Group {
        labels: Labels,
        hist: Vec<Vec<(f64, u64)>>,
        exemplars: Vec<Exemplar>,
    }
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut overall: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
    for b in series {
        let Some(bucket) = b.bucket else { continue };
        let g = groups.entry(label_key(&b.labels)).or_insert_with(|| Group {
            labels: b.labels.clone(),
            hist: vec![Vec::new(); steps.count],
            exemplars: Vec::new(),
        });
        for (i, c) in &b.cells {
            if let Some(h) = g.hist.get_mut(*i) {
                h.push((bucket, c.count));
            }
            overall.entry(bucket.to_bits()).or_insert((bucket, 0)).1 += c.count;
        }
        g.exemplars.extend(b.exemplars);
    }
    let mut overall: Vec<(f64, u64)> = overall.into_values().collect();
    overall.sort_by(|a, b| a.0.total_cmp(&b.0));
    let overall_q: Vec<f64> = qs.iter().map(|&q| log2_quantile(q, &overall)).collect();
    let nearest = |v: f64| {
        (0..qs.len())
            .min_by(|&a, &b| {
                (overall_q[a] - v)
                    .abs()
                    .total_cmp(&(overall_q[b] - v).abs())
            })
            .unwrap_or(0)
    };
    let mut out = Vec::new();
    for (_, mut g) in groups {
        for h in &mut g.hist {
            h.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let mut exemplars: Vec<Vec<Exemplar>> = vec![Vec::new(); qs.len()];
        for e in g.exemplars {
            exemplars[nearest(e.value)].push(e);
        }
        for (&q, exemplars) in qs.iter().zip(exemplars) {
            let mut labels = g.labels.clone();
            labels.push(("p".into(), Value::Float(q)));
            let values = g
                .hist
                .iter()
                .map(|h| {
                    if h.is_empty() {
                        0.0
                    } else {
                        log2_quantile(q, h)
                    }
                })
                .collect();
            out.push(Dense {
                labels,
                values,
                exemplars,
            });
        }
    }
    out
}

/// `topk`/`bottomk`: at each step keep the `n` highest (lowest) values,
/// ties going to the series ordered first; a series keeps only the steps
/// it was ranked in, and series never ranked are dropped.
fn rank(series: Vec<Dense>, r: Ranking, count: usize) -> Vec<Dense> {
    let (n, top) = match r {
        Ranking::TopK(n) => (n, true),
        Ranking::BottomK(n) => (n, false),
    };
    if series.len() <= n {
        return series;
    }
    let ranked: Vec<Vec<usize>> = (0..count)
        .map(|step| {
            let value = |s: usize| series[s].values.get(step).copied().unwrap_or(f64::NAN);
            let mut at: Vec<usize> = (0..series.len()).filter(|&s| !value(s).is_nan()).collect();
            at.sort_by(|&a, &b| {
                let ord = if top {
                    value(b).total_cmp(&value(a))
                } else {
                    value(a).total_cmp(&value(b))
                };
                ord.then(a.cmp(&b))
            });
            at.truncate(n);
            at
        })
        .collect();
    let mut kept = vec![vec![f64::NAN; count]; series.len()];
    for (step, at) in ranked.iter().enumerate() {
        for &s in at {
            kept[s][step] = series[s].values[step];
        }
    }
    series
        .into_iter()
        .zip(kept)
        .filter(|(_, k)| k.iter().any(|v| !v.is_nan()))
        .map(|(d, values)| Dense { values, ..d })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn range_steps_align_to_the_step_with_one_leading_step() {
        // [1000s, 1100s] by 30s: 960s..1110s, steps (960,990] … (1080,1110].
        let steps = Steps::new(1000 * S, 1100 * S, 30 * S, false).expect("steps");
        assert_eq!(steps.count(), 5);
        assert_eq!(steps.index(960 * S), None, "left edge is open");
        assert_eq!(steps.index(960 * S + 1), Some(0));
        assert_eq!(steps.index(990 * S), Some(0), "right edge is closed");
        assert_eq!(steps.index(990 * S + 1), Some(1));
        assert_eq!(steps.index(1110 * S), Some(4));
        assert_eq!(steps.index(1110 * S + 1), None);
        assert_eq!(steps.timestamp_ms(0), 990_000);
        assert_eq!(steps.timestamp_ms(4), 1_110_000);
        assert!(Steps::new(10 * S, 10 * S, S, false).is_none());
        assert!(Steps::new(10 * S, 20 * S, 0, false).is_none());
    }

    #[test]
    fn an_instant_step_is_the_closed_range_stamped_at_its_end() {
        let steps = Steps::new(1000 * S, 1060 * S, 0, true).expect("steps");
        assert_eq!(steps.count(), 1);
        assert_eq!(steps.index(1000 * S), Some(0));
        assert_eq!(steps.index(1060 * S), Some(0));
        assert_eq!(steps.index(1060 * S + 1), None);
        assert_eq!(steps.timestamp_ms(0), 1_060_000);
        assert_eq!(steps.seconds(), 60.0);
    }

    #[test]
    fn values_bucket_to_the_next_power_of_two() {
        assert_eq!(log2_bucket(0), None);
        assert_eq!(log2_bucket(1), None);
        assert_eq!(log2_bucket(2), Some(2.0));
        assert_eq!(log2_bucket(3), Some(4.0));
        assert_eq!(log2_bucket(4), Some(4.0));
        assert_eq!(log2_bucket(5), Some(8.0));
        assert_eq!(log2_bucket(100_000_000), Some(134_217_728.0));
        assert_eq!(log2_bucket(u64::MAX), None);
    }

    #[test]
    fn quantiles_interpolate_exponentially_within_the_bucket() {
        // 4 spans in (1,2], 4 in (2,4]: p50 is the top of the first bucket.
        let h = [(2.0, 4), (4.0, 4)];
        assert_eq!(log2_quantile(0.5, &h), 2.0);
        assert_eq!(log2_quantile(1.0, &h), 4.0);
        // p75: 6 of 8 samples, 2 of the 4 in (2,4]: 2^(1 + 0.5).
        assert!((log2_quantile(0.75, &h) - 2f64.powf(1.5)).abs() < 1e-12);
        // First bucket: interpolated from half its bound. p10 of 10 spans in
        // (0.5, 1]: 1 of 10 → 2^(-1 + 0.1).
        assert!((log2_quantile(0.1, &[(1.0, 10)]) - 2f64.powf(-0.9)).abs() < 1e-12);
        assert_eq!(log2_quantile(0.0, &[(8.0, 3)]), 2f64.powf(2.0 + 1.0 / 3.0));
        assert_eq!(log2_quantile(0.5, &[]), 0.0);
    }
}
