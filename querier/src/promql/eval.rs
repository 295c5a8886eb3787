//! The evaluator: walks the AST at one evaluation time over the prefetched
//! data, and steps that over a range query's timestamps.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use common::cpu_work::CancelFlag;
use common::histogram::{CounterResetHint, FloatHistogram, HistogramSample};
use common::labels::Labels;
use common::series::{Sample as Point, Series, is_stale_nan};
use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};

use super::annotations::{Annotation, Annotations};
use super::cursor::{Cursors, seek};
use super::extended_range::{self, RangeMode};
use super::fetch::{Fetched, at_ms, offset_ms, selector_key};
use super::value::{
    QueryResult, QueryValue, RangeSeries, Sample, Value, VectorSample, drop_metadata,
};
use super::{
    EngineOptions, QueryError, QueryRange, aggregate, binary, duration_ms, functions, histogram,
};

/// A range vector argument with the window it was taken over, which the
/// extrapolating functions (`rate`, `delta`, …) need.
pub(crate) struct RangeArg {
    pub series: Vec<RangeSeries>,
    /// Left (exclusive) edge of the window, ms.
    pub start: i64,
    /// Right (inclusive) edge of the window, ms.
    pub end: i64,
    /// Whether the series also hold samples around the window
    /// (`anchored`/`smoothed`), which the functions must trim.
    pub mode: RangeMode,
}

/// A sample an instant selector picked, with its own timestamp.
pub(crate) struct Selected<'a> {
    pub labels: &'a Labels,
    pub t: i64,
    pub v: f64,
    pub h: Option<Arc<FloatHistogram>>,
}

impl<'a> Selected<'a> {
    fn float(labels: &'a Labels, p: Point) -> Self {
        Self {
            labels,
            t: p.t,
            v: p.v,
            h: None,
        }
    }

    fn histogram(labels: &'a Labels, p: &HistogramSample) -> Self {
        Self {
            labels,
            t: p.t,
            v: 0.0,
            h: Some(p.h.clone()),
        }
    }

    /// The evaluation sample (the sample's own timestamp is dropped).
    pub(crate) fn into_sample(self) -> Sample {
        Sample {
            labels: self.labels.clone(),
            v: self.v,
            h: self.h,
            drop_name: false,
        }
    }
}

/// Evaluates one query over prefetched data.
pub(crate) struct Evaluator<'a> {
    data: &'a Fetched,
    lookback: i64,
    subquery_step: i64,
    max_samples: usize,
    /// Query start, end and step (0 for instant queries), for `@ start()`,
    /// `start()`, `range()`, `step()`, ….
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    pub(crate) query_step: i64,
    deadline: Instant,
    /// Set once nobody waits for the answer; checked with the deadline.
    cancel: CancelFlag,
    /// Samples held in memory by the current step.
    step_samples: Cell<usize>,
    /// Warnings and infos raised so far.
    annotations: RefCell<Annotations>,
    /// Inside `histogram_count`/`histogram_sum`/…: like Prometheus's
    /// `HistogramStatsIterator`, selectors mark each histogram `reset` or
    /// `not_reset` against the sample before it.
    stats_decoding: Cell<bool>,
    /// Where each selector's series were read last.
    cursors: Cursors,
    /// Labels derived from input labels at earlier steps (group keys), by
    /// (what derives them, input storage id); each entry keeps its input
    /// alive so the id cannot be reused by another label set.
    derived: RefCell<HashMap<(usize, usize), (Labels, Labels)>>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(
        data: &'a Fetched,
        opts: &EngineOptions,
        range: QueryRange,
        deadline: Instant,
        cancel: CancelFlag,
    ) -> Self {
        let (query_start, query_end, query_step) = match range {
            QueryRange::Instant(t) => (t, t, 0),
            QueryRange::Range { start, end, step } => (start, end, step),
        };
        Self {
            data,
            lookback: duration_ms(opts.lookback_delta),
            subquery_step: duration_ms(opts.default_subquery_step).max(1),
            max_samples: opts.max_samples,
            query_start,
            query_end,
            query_step,
            deadline,
            cancel,
            step_samples: Cell::new(0),
            annotations: RefCell::new(Annotations::default()),
            stats_decoding: Cell::new(false),
            cursors: Cursors::default(),
            derived: RefCell::new(HashMap::new()),
        }
    }

    /// Evaluates `expr` over `range` and shapes the result.
    pub(crate) fn run(self, expr: &Expr, range: QueryRange) -> Result<QueryResult, QueryError> {
        let value = match range {
            QueryRange::Instant(t) => self.run_instant(expr, t),
            QueryRange::Range { start, end, step } => self.run_range(expr, start, end, step.max(1)),
        }?;
        Ok(QueryResult {
            value,
            annotations: self.annotations.into_inner(),
        })
    }

    /// `derive(labels)`, remembered across steps: `scope` names the
    /// derivation and must stay the same derivation for the whole query
    /// (e.g. the address of grouping labels in the query's AST).
    pub(crate) fn derived_labels(
        &self,
        scope: usize,
        labels: &Labels,
        derive: impl FnOnce(&Labels) -> Labels,
    ) -> Labels {
        let key = (scope, labels.storage_id());
        if let Some((_, derived)) = self.derived.borrow().get(&key) {
            return derived.clone();
        }
        let derived = derive(labels);
        self.derived
            .borrow_mut()
            .insert(key, (labels.clone(), derived.clone()));
        derived
    }

    /// Whether `labels` were already [`seen`](Self::seen) under `scope` in
    /// this query (recording them if not), for checks that need to run
    /// once per series rather than once per step.
    pub(crate) fn seen(&self, scope: usize, labels: &Labels) -> bool {
        let key = (scope, labels.storage_id());
        if self.derived.borrow().contains_key(&key) {
            return true;
        }
        self.derived
            .borrow_mut()
            .insert(key, (labels.clone(), Labels::default()));
        false
    }

    /// Raises an annotation for the query's result.
    pub(crate) fn annotate(&self, a: Annotation) {
        self.annotations.borrow_mut().add(a);
    }

    /// Runs `f` with stats decoding on (see the field).
    pub(crate) fn with_stats_decoding<R>(&self, f: impl FnOnce() -> R) -> R {
        let before = self.stats_decoding.replace(true);
        let out = f();
        self.stats_decoding.set(before);
        out
    }

    /// `histograms[i]` as the selector yields it: with its reset re-detected
    /// against `histograms[i - 1]` under stats decoding.
    fn histogram_at(&self, histograms: &[HistogramSample], i: usize) -> HistogramSample {
        let cur = &histograms[i];
        if !self.stats_decoding.get() || cur.h.counter_reset_hint == CounterResetHint::Gauge {
            return cur.clone();
        }
        let hint = match i.checked_sub(1).map(|p| &histograms[p]) {
            Some(prev) if histogram::range::is_reset(&prev.h, &cur.h) => {
                CounterResetHint::CounterReset
            }
            Some(_) => CounterResetHint::NotCounterReset,
            None => cur.h.counter_reset_hint,
        };
        let mut h = cur.h.as_ref().clone();
        h.counter_reset_hint = hint;
        HistogramSample {
            t: cur.t,
            h: Arc::new(h),
        }
    }

    /// True for range queries (where `sort` has no effect).
    pub(crate) fn is_range_query(&self) -> bool {
        self.query_step != 0
    }

    fn run_instant(&self, expr: &Expr, t: i64) -> Result<QueryValue, QueryError> {
        Ok(match self.eval(expr, t)? {
            Value::Scalar(v) => QueryValue::Scalar { t, v },
            Value::String(v) => QueryValue::String { t, v },
            Value::Vector(samples) => {
                let out: Vec<VectorSample> = samples
                    .iter()
                    .map(|s| VectorSample {
                        labels: s.final_labels(),
                        t,
                        v: s.v,
                        h: s.h.clone(),
                    })
                    .collect();
                let mut seen = std::collections::HashSet::with_capacity(out.len());
                if !out.iter().all(|s| seen.insert(&s.labels)) {
                    return Err(duplicate_labelset());
                }
                QueryValue::Vector(out)
            }
            Value::Matrix(series) => {
                let mut merged: BTreeMap<Labels, Series> = BTreeMap::new();
                for s in series {
                    let mut labels = s.labels;
                    if s.drop_name {
                        drop_metadata(&mut labels);
                    }
                    let out = merged
                        .entry(labels.clone())
                        .or_insert_with(|| Series::floats(labels, Vec::new()));
                    out.samples.extend(s.points);
                    out.samples.sort_by_key(|p| p.t);
                    out.histograms.extend(s.histograms);
                    out.histograms.sort_by_key(|p| p.t);
                    if out.samples.windows(2).any(|w| w[0].t == w[1].t)
                        || out.histograms.windows(2).any(|w| w[0].t == w[1].t)
                    {
                        return Err(duplicate_labelset());
                    }
                }
                QueryValue::Matrix(merged.into_values().collect())
            }
        })
    }

    fn run_range(
        &self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryValue, QueryError> {
        let mut out: Vec<Series> = Vec::new();
        // Output series by the labels of the samples feeding them and
        // whether their name goes (so a series seen at an earlier step
        // costs a lookup, not a new label set), and by their final labels.
        let mut by_source: HashMap<(Labels, bool), usize> = HashMap::new();
        let mut by_final: HashMap<Labels, usize> = HashMap::new();
        let mut total = 0usize;
        let mut t = start;
        while t <= end {
            self.check_deadline()?;
            self.step_samples.set(0);
            let samples = match self.eval(expr, t)? {
                Value::Scalar(v) => vec![Sample::new(Labels::default(), v)],
                Value::Vector(v) => v,
                other => {
                    return Err(QueryError::BadQuery(format!(
                        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                        other.type_name()
                    )));
                }
            };
            total += samples.len();
            if total > self.max_samples {
                return Err(QueryError::TooManySamples {
                    limit: self.max_samples,
                });
            }
            for s in samples {
                let source = (s.labels.clone(), s.drop_name);
                let idx = match by_source.get(&source) {
                    Some(&i) => i,
                    None => {
                        let labels = s.final_labels();
                        let i = *by_final.entry(labels.clone()).or_insert_with(|| {
                            out.push(Series::floats(labels, Vec::new()));
                            out.len() - 1
                        });
                        by_source.insert(source, i);
                        i
                    }
                };
                let series = &mut out[idx];
                if series.samples.last().is_some_and(|p| p.t == t)
                    || series.histograms.last().is_some_and(|p| p.t == t)
                {
                    return Err(duplicate_labelset());
                }
                match s.h {
                    Some(h) => series.histograms.push(HistogramSample { t, h }),
                    None => series.samples.push(Point { t, v: s.v }),
                }
            }
            t = match t.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(QueryValue::Matrix(out))
    }

    /// Fails once the deadline has passed or nobody waits for the answer any
    /// more. Called between steps, it is also
    /// where a background evaluation offers the CPU to other work.
    pub(crate) fn check_deadline(&self) -> Result<(), QueryError> {
        common::cpu_work::yield_point();
        if self.cancel.is_cancelled() {
            Err(QueryError::Cancelled)
        } else if Instant::now() > self.deadline {
            Err(QueryError::Timeout)
        } else {
            Ok(())
        }
    }

    /// Accounts `n` more samples held by the current step.
    fn hold(&self, n: usize) -> Result<(), QueryError> {
        let held = self.step_samples.get().saturating_add(n);
        self.step_samples.set(held);
        if held > self.max_samples {
            return Err(QueryError::TooManySamples {
                limit: self.max_samples,
            });
        }
        Ok(())
    }

    /// Evaluates `expr` at time `t` (ms).
    pub(crate) fn eval(&self, expr: &Expr, t: i64) -> Result<Value, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(mut samples) => {
                    for s in &mut samples {
                        s.v = -s.v;
                        s.h = s.h.take().map(|h| Arc::new(histogram::arith::negate(&h)));
                        s.drop_name = true;
                    }
                    Ok(Value::Vector(samples))
                }
                other => Err(QueryError::exec(format!(
                    "unary minus is not defined on a {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => {
                let samples: Vec<Sample> = self
                    .select_instant(vs, t)?
                    .into_iter()
                    .map(Selected::into_sample)
                    .collect();
                Ok(Value::Vector(samples))
            }
            Expr::MatrixSelector(ms) => {
                let arg = self.select_range(ms, t)?;
                Ok(Value::Matrix(extended_range::trim(arg)?))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, t)?.series)),
            Expr::Call(call) => functions::call(self, call, t),
            Expr::Aggregate(agg) => aggregate::eval(self, agg, t),
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Extension(_) => Err(QueryError::exec("extension expressions are not supported")),
        }
    }

    /// Evaluates an expression that must yield an instant vector.
    pub(crate) fn eval_vector(&self, expr: &Expr, t: i64) -> Result<Vec<Sample>, QueryError> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates an expression that must yield a scalar.
    pub(crate) fn eval_scalar(&self, expr: &Expr, t: i64) -> Result<f64, QueryError> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates a range-vector argument (matrix selector or subquery).
    pub(crate) fn eval_range(&self, expr: &Expr, t: i64) -> Result<RangeArg, QueryError> {
        match expr {
            Expr::Paren(p) => self.eval_range(&p.expr, t),
            Expr::MatrixSelector(ms) => self.select_range(ms, t),
            Expr::Subquery(sq) => self.subquery(sq, t),
            other => Err(QueryError::exec(format!(
                "expected range vector, got {other}"
            ))),
        }
    }

    /// The fetched series of the selector with [`selector_key`] `key`.
    fn series_of_key(&self, key: &str) -> &'a [Series] {
        self.data.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The time a selector or subquery reads at, after `@` and `offset`.
    fn reference_time(
        &self,
        at: &Option<promql_parser::parser::AtModifier>,
        offset: i64,
        t: i64,
    ) -> i64 {
        at_ms(at, self.query_start, self.query_end)
            .unwrap_or(t)
            .saturating_sub(offset)
    }

    /// The latest non-stale sample (float or histogram) of each series
    /// within the lookback window `(ref - lookback, ref]`.
    pub(crate) fn select_instant(
        &self,
        vs: &VectorSelector,
        t: i64,
    ) -> Result<Vec<Selected<'a>>, QueryError> {
        let reference = self.reference_time(&vs.at, offset_ms(&vs.offset), t);
        let floor = reference.saturating_sub(self.lookback);
        let key = selector_key(vs);
        let all = self.series_of_key(&key);
        let mut out = Vec::new();
        self.cursors.with(&key, 0, all.len(), |hints| {
            for (s, hint) in all.iter().zip(hints.iter_mut()) {
                if vs.smoothed && !s.histograms.is_empty() {
                    let hs = &s.histograms;
                    match histogram::extended::smoothed_at(hs, reference, self.lookback) {
                        Some(Ok(h)) => out.push(Selected::histogram(
                            &s.labels,
                            &HistogramSample {
                                t: reference,
                                h: Arc::new(h),
                            },
                        )),
                        Some(Err(e)) => {
                            let metric = s.labels.metric_name().unwrap_or_default();
                            self.annotate(Annotation::incompatible_histograms(e, metric));
                        }
                        None => {}
                    }
                    continue;
                }
                if vs.smoothed {
                    let lo = s.samples.partition_point(|p| p.t <= floor);
                    let hi = s
                        .samples
                        .partition_point(|p| p.t <= reference.saturating_add(self.lookback));
                    let points: Vec<Point> = s.samples[lo..hi]
                        .iter()
                        .copied()
                        .filter(|p| !is_stale_nan(p.v))
                        .collect();
                    if let Some(v) = extended_range::smoothed_at(&points, reference, self.lookback)
                    {
                        out.push(Selected::float(&s.labels, Point { t: reference, v }));
                    }
                    continue;
                }
                *hint = seek(&s.samples, reference, *hint);
                let float = s.samples[..*hint].last();
                let hist = s
                    .histograms
                    .partition_point(|p| p.t <= reference)
                    .checked_sub(1)
                    .map(|i| self.histogram_at(&s.histograms, i));
                let selected = match (float, hist) {
                    (Some(f), Some(h)) if h.t > f.t => Selected::histogram(&s.labels, &h),
                    (Some(f), _) if !is_stale_nan(f.v) => Selected::float(&s.labels, *f),
                    (Some(_), _) => continue,
                    (None, Some(h)) => Selected::histogram(&s.labels, &h),
                    (None, None) => continue,
                };
                if selected.t > floor {
                    out.push(selected);
                }
            }
        });
        self.hold(out.len())?;
        Ok(out)
    }

    /// Non-stale samples of each series in `(ref - range, ref]`, widened by
    /// a lookback delta on the left for `anchored` and on both sides for
    /// `smoothed`.
    fn select_range(&self, ms: &MatrixSelector, t: i64) -> Result<RangeArg, QueryError> {
        let end = self.reference_time(&ms.vs.at, offset_ms(&ms.vs.offset), t);
        let start = end.saturating_sub(duration_ms(ms.range));
        let mode = RangeMode::of(&ms.vs);
        let (read_from, read_to) = match mode {
            RangeMode::Plain => (start, end),
            RangeMode::Anchored => (start.saturating_sub(self.lookback), end),
            RangeMode::Smoothed => (
                start.saturating_sub(self.lookback),
                end.saturating_add(self.lookback),
            ),
        };
        let mut series = Vec::new();
        let mut held = 0;
        let key = selector_key(&ms.vs);
        let all = self.series_of_key(&key);
        // One hint per series for each end of the window.
        let bounds: Vec<(usize, usize)> = self.cursors.with(&key, 1, all.len() * 2, |hints| {
            all.iter()
                .zip(hints.chunks_exact_mut(2))
                .map(|(s, h)| {
                    h[0] = seek(&s.samples, read_from, h[0]);
                    h[1] = seek(&s.samples, read_to, h[1].max(h[0]));
                    (h[0], h[1])
                })
                .collect()
        });
        for (s, (lo, hi)) in all.iter().zip(bounds) {
            let mut points: Vec<Point> = Vec::with_capacity(hi - lo);
            points.extend(s.samples[lo..hi].iter().filter(|p| !is_stale_nan(p.v)));
            let hlo = s.histograms.partition_point(|p| p.t <= read_from);
            let hhi = s.histograms.partition_point(|p| p.t <= read_to);
            let histograms = (hlo..hhi)
                .map(|i| self.histogram_at(&s.histograms, i))
                .collect();
            let r = RangeSeries {
                labels: s.labels.clone(),
                points,
                histograms,
                drop_name: false,
            };
            if !r.is_empty() {
                held += r.points.len() + r.histograms.len();
                series.push(r);
            }
        }
        self.hold(held)?;
        Ok(RangeArg {
            series,
            start,
            end,
            mode,
        })
    }

    /// Evaluates a subquery's inner expression at every step aligned to its
    /// resolution inside `(ref - range, ref]`.
    fn subquery(&self, sq: &SubqueryExpr, t: i64) -> Result<RangeArg, QueryError> {
        let end = self.reference_time(&sq.at, offset_ms(&sq.offset), t);
        let start = end.saturating_sub(duration_ms(sq.range));
        let step = sq
            .step
            .map(duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(self.subquery_step);
        let mut ts = start.div_euclid(step).saturating_mul(step);
        if ts <= start {
            ts = ts.saturating_add(step);
        }
        let mut by_labels: Vec<RangeSeries> = Vec::new();
        let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
        while ts <= end {
            self.check_deadline()?;
            let samples = match self.eval(&sq.expr, ts)? {
                Value::Scalar(v) => vec![Sample::new(Labels::default(), v)],
                Value::Vector(v) => v,
                other => {
                    return Err(QueryError::exec(format!(
                        "subquery over {} is not allowed",
                        other.type_name()
                    )));
                }
            };
            self.hold(samples.len())?;
            for s in samples {
                let i = *index.entry(s.labels.clone()).or_insert_with(|| {
                    by_labels.push(RangeSeries {
                        labels: s.labels,
                        points: Vec::new(),
                        histograms: Vec::new(),
                        drop_name: s.drop_name,
                    });
                    by_labels.len() - 1
                });
                let series = &mut by_labels[i];
                if series.points.last().is_some_and(|p| p.t == ts)
                    || series.histograms.last().is_some_and(|p| p.t == ts)
                {
                    return Err(duplicate_labelset());
                }
                series.drop_name |= s.drop_name;
                match s.h {
                    Some(h) => series.histograms.push(HistogramSample {
                        t: ts,
                        h: without_reset_hint(h),
                    }),
                    None => series.points.push(Point { t: ts, v: s.v }),
                }
            }
            ts = match ts.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        Ok(RangeArg {
            series: by_labels,
            start,
            end,
            mode: RangeMode::Plain,
        })
    }
}

/// A subquery step's histogram with a stored reset hint made unknown: a
/// step may repeat a sample, so the hint says nothing about the step before.
fn without_reset_hint(h: Arc<FloatHistogram>) -> Arc<FloatHistogram> {
    use common::histogram::CounterResetHint::{Gauge, Unknown};
    if matches!(h.counter_reset_hint, Gauge | Unknown) {
        return h;
    }
    let mut out = h.as_ref().clone();
    out.counter_reset_hint = Unknown;
    Arc::new(out)
}

/// Prometheus's error for two result series with equal labels.
pub(crate) fn duplicate_labelset() -> QueryError {
    QueryError::exec("vector cannot contain metrics with the same labelset")
}

/// Runs `f` with an evaluator over no data (for unit tests of operators).
#[cfg(test)]
pub(crate) fn with_test_evaluator<R>(f: impl FnOnce(&Evaluator<'_>) -> R) -> R {
    let data = Fetched::default();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let ev = Evaluator::new(
        &data,
        &EngineOptions::default(),
        QueryRange::Instant(0),
        deadline,
        CancelFlag::new(),
    );
    f(&ev)
}
