//! Metric queries, evaluated over all steps at once: each node yields a
//! scalar or, per series, one optional value per step; the finished value
//! becomes a Prometheus-shaped vector (instant) or matrix (range).

use std::future::Future;
use std::pin::Pin;

use common::labels::{Label, Labels};
use common::series::{Sample as Point, Series};

use super::ast::{Grouping, MetricExpr};
use super::select::Source;
use super::{ExecStats, LogqlError, LogqlResult, LogqlValue, QueryParams, binary, range, vector};
use crate::promql::{QueryValue, VectorSample};

/// Most steps a range query may evaluate (Loki's 11,000 points limit).
pub(crate) const MAX_STEPS: i64 = 11_000;

/// The evaluation times, nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    /// The first evaluation time.
    pub start: i64,
    /// Time between evaluations.
    pub step: i64,
    /// How many evaluations.
    pub count: usize,
}

impl Steps {
    /// The `i`-th evaluation time.
    pub(crate) fn at(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }

    /// The last evaluation time.
    pub(crate) fn last(&self) -> i64 {
        self.at(self.count.saturating_sub(1))
    }
}

/// One series' value at each step (`None`: no sample then).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepSeries {
    /// The series' labels.
    pub labels: Labels,
    /// One entry per step.
    pub values: Vec<Option<f64>>,
}

/// A node's value over all steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Scalar(f64),
    Vector(Vec<StepSeries>),
}

/// Evaluates a metric query.
pub(crate) async fn eval(
    src: &Source<'_>,
    m: &MetricExpr,
    params: &QueryParams,
) -> Result<LogqlResult, LogqlError> {
    let steps = if params.instant {
        Steps {
            start: params.start_ns,
            step: 1,
            count: 1,
        }
    } else {
        if params.step_ns <= 0 {
            return Err(LogqlError::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        let n = (params.end_ns - params.start_ns) / params.step_ns + 1;
        if n > MAX_STEPS {
            return Err(LogqlError::Limit(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        Steps {
            start: params.start_ns,
            step: params.step_ns,
            count: n.max(0) as usize,
        }
    };
    let mut stats = ExecStats::default();
    let v = eval_node(src, m, steps, &mut stats).await?;
    Ok(LogqlResult {
        value: LogqlValue::Metric(finish(v, &steps, params.instant)),
        stats,
    })
}

type NodeFuture<'a> = Pin<Box<dyn Future<Output = Result<Val, LogqlError>> + Send + 'a>>;

fn eval_node<'a>(
    src: &'a Source<'a>,
    m: &'a MetricExpr,
    steps: Steps,
    stats: &'a mut ExecStats,
) -> NodeFuture<'a> {
    Box::pin(async move {
        Ok(match m {
            MetricExpr::Literal(v) => Val::Scalar(*v),
            MetricExpr::VectorLit(v) => Val::Vector(vec![StepSeries {
                labels: Labels::default(),
                values: vec![Some(*v); steps.count],
            }]),
            MetricExpr::Paren(inner) => eval_node(src, inner, steps, stats).await?,
            MetricExpr::Range(agg) => {
                let (series, read) = range::eval(src, agg, None, &steps).await?;
                stats.lines += read.lines;
                stats.bytes += read.bytes;
                Val::Vector(series)
            }
            MetricExpr::Vector(agg) => {
                let input = match &*agg.expr {
                    // As in Loki, a `sum` lends its grouping to the range
                    // aggregation right under it (which decides whether
                    // pipeline errors may reach the series).
                    MetricExpr::Range(r) if range::takes_outer_grouping(agg.op, r) => {
                        let outer = agg.grouping.clone().unwrap_or(Grouping::By(Vec::new()));
                        let (series, read) = range::eval(src, r, Some(&outer), &steps).await?;
                        stats.lines += read.lines;
                        stats.bytes += read.bytes;
                        Val::Vector(series)
                    }
                    _ => eval_node(src, &agg.expr, steps, stats).await?,
                };
                let input = match input {
                    Val::Vector(v) => v,
                    Val::Scalar(_) => {
                        return Err(LogqlError::BadQuery(format!(
                            "{} expects a vector, got a scalar",
                            agg.op.name()
                        )));
                    }
                };
                Val::Vector(vector::aggregate(agg, input, steps.count))
            }
            MetricExpr::Binary(b) => {
                let lhs = eval_node(src, &b.lhs, steps, stats).await?;
                let rhs = eval_node(src, &b.rhs, steps, stats).await?;
                binary::eval(b, lhs, rhs, steps.count)?
            }
            MetricExpr::LabelReplace {
                expr,
                dst,
                replacement,
                src: source,
                regex,
            } => match eval_node(src, expr, steps, stats).await? {
                Val::Vector(v) => {
                    Val::Vector(vector::label_replace(v, dst, replacement, source, regex)?)
                }
                Val::Scalar(_) => {
                    return Err(LogqlError::BadQuery(
                        "label_replace expects a vector, got a scalar".into(),
                    ));
                }
            },
        })
    })
}

/// The API value: a vector or scalar for instant queries, a matrix sorted
/// by labels for range queries.
fn finish(v: Val, steps: &Steps, instant: bool) -> QueryValue {
    let ms = |ns: i64| ns.div_euclid(1_000_000);
    match (v, instant) {
        (Val::Scalar(v), true) => QueryValue::Scalar {
            t: ms(steps.start),
            v,
        },
        (Val::Vector(series), true) => QueryValue::Vector(
            series
                .into_iter()
                .filter_map(|s| {
                    let v = s.values.first().copied().flatten()?;
                    Some(VectorSample {
                        labels: s.labels,
                        t: ms(steps.start),
                        v,
                        h: None,
                    })
                })
                .collect(),
        ),
        (Val::Scalar(v), false) => QueryValue::Matrix(vec![Series::floats(
            Labels::default(),
            (0..steps.count)
                .map(|i| Point {
                    t: ms(steps.at(i)),
                    v,
                })
                .collect(),
        )]),
        (Val::Vector(series), false) => {
            let mut out: Vec<Series> = series
                .into_iter()
                .filter_map(|s| {
                    let points: Vec<Point> = s
                        .values
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| {
                            v.map(|v| Point {
                                t: ms(steps.at(i)),
                                v,
                            })
                        })
                        .collect();
                    (!points.is_empty()).then(|| Series::floats(s.labels, points))
                })
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            QueryValue::Matrix(out)
        }
    }
}

/// `labels` reduced by a grouping clause (`None`: unchanged).
pub(crate) fn group_labels(labels: &Labels, grouping: Option<&super::ast::Grouping>) -> Labels {
    use super::ast::Grouping;
    match grouping {
        None => labels.clone(),
        Some(Grouping::By(names)) => Labels::from_sorted(
            labels
                .iter()
                .filter(|l| names.contains(&l.name))
                .cloned()
                .collect::<Vec<Label>>(),
        ),
        Some(Grouping::Without(names)) => Labels::from_sorted(
            labels
                .iter()
                .filter(|l| !names.contains(&l.name))
                .cloned()
                .collect(),
        ),
    }
}
