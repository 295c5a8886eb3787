//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, …) with
//! `by` / `without` grouping, following Prometheus's `aggregation` and
//! `aggregationK`.

use std::collections::HashMap;
use std::sync::Arc;

use common::histogram::FloatHistogram;

use common::labels::{Labels, METRIC_NAME};
use promql_parser::label::Labels as LabelNames;
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::annotations::Annotation;
use super::eval::Evaluator;
use super::functions::unwrap_parens;
use super::histogram::arith::{self, Incompatible};
use super::range_functions::quantile;
use super::value::{Sample, Value};
use super::{QueryError, format, kahan};

/// The largest float that converts to an `i64` without overflow.
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;

/// Evaluates an aggregation at time `t`.
pub(crate) fn eval(ev: &Evaluator<'_>, agg: &AggregateExpr, t: i64) -> Result<Value, QueryError> {
    let op = agg.op.id();
    let param = agg.param.as_deref().map(unwrap_parens);
    let grouping = Grouping::from(&agg.modifier);
    match op {
        T_TOPK | T_BOTTOMK | T_LIMITK => {
            let k = ev.eval_scalar(required(param)?, t)?;
            let input = ev.eval_vector(&agg.expr, t)?;
            Ok(Value::Vector(select_k(ev, op, k, input, &grouping)?))
        }
        T_LIMIT_RATIO => {
            let r = ev.eval_scalar(required(param)?, t)?;
            if r.is_nan() {
                return Err(QueryError::exec("Ratio value is NaN"));
            }
            let capped = r.clamp(-1.0, 1.0);
            if capped != r {
                ev.annotate(Annotation::ratio_out_of_range(r, capped));
            }
            let input = ev.eval_vector(&agg.expr, t)?;
            Ok(Value::Vector(limit_ratio(capped, input)))
        }
        T_COUNT_VALUES => {
            let Expr::StringLiteral(label) = required(param)? else {
                return Err(QueryError::exec("count_values needs a string parameter"));
            };
            if label.val.is_empty() {
                return Err(QueryError::exec(format!(
                    "invalid label name {:?}",
                    label.val
                )));
            }
            let input = ev.eval_vector(&agg.expr, t)?;
            Ok(Value::Vector(count_values(&label.val, input, &grouping)))
        }
        _ => {
            let q = match (op, param) {
                (T_QUANTILE, Some(p)) => ev.eval_scalar(p, t)?,
                _ => f64::NAN,
            };
            if op == T_QUANTILE && !(0.0..=1.0).contains(&q) {
                ev.annotate(Annotation::quantile_out_of_range(q));
            }
            let input = ev.eval_vector(&agg.expr, t)?;
            Ok(Value::Vector(aggregate(ev, op, q, input, &grouping)?))
        }
    }
}

fn required(param: Option<&Expr>) -> Result<&Expr, QueryError> {
    param.ok_or_else(|| QueryError::exec("aggregation is missing its parameter"))
}

/// `by (…)` / `without (…)` / neither.
enum Grouping<'a> {
    By(&'a [String]),
    Without(&'a [String]),
}

impl<'a> Grouping<'a> {
    fn from(modifier: &'a Option<LabelModifier>) -> Self {
        match modifier {
            None => Grouping::By(&[]),
            Some(LabelModifier::Include(LabelNames { labels })) => Grouping::By(labels),
            Some(LabelModifier::Exclude(LabelNames { labels })) => Grouping::Without(labels),
        }
    }

    /// Identifies this grouping for [`Evaluator::derived_labels`]: the
    /// address of its label names, and whether they are kept or dropped.
    fn id(&self) -> usize {
        match self {
            Grouping::By(names) => names.as_ptr() as usize,
            Grouping::Without(names) => names.as_ptr() as usize | 1,
        }
    }

    /// The labels of the output series `labels` falls into.
    fn group_labels(&self, labels: &Labels) -> Labels {
        match self {
            Grouping::By(names) => Labels::from_sorted(
                labels
                    .iter()
                    .filter(|l| names.contains(&l.name))
                    .cloned()
                    .collect(),
            ),
            Grouping::Without(names) => Labels::from_sorted(
                labels
                    .iter()
                    .filter(|l| l.name != METRIC_NAME && !names.contains(&l.name))
                    .cloned()
                    .collect(),
            ),
        }
    }
}

/// Splits `input` into groups in order of first appearance. With `ev`,
/// group keys are remembered across steps (`grouping` must then borrow
/// from the query's AST, which outlives the evaluation).
fn group<'s>(
    ev: Option<&Evaluator<'_>>,
    input: &'s [Sample],
    grouping: &Grouping<'_>,
) -> Vec<(Labels, Vec<&'s Sample>)> {
    if matches!(grouping, Grouping::By([])) {
        if input.is_empty() {
            return Vec::new();
        }
        return vec![(Labels::default(), input.iter().collect())];
    }
    let mut groups: Vec<(Labels, Vec<&Sample>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let key = match ev {
            Some(ev) => ev.derived_labels(grouping.id(), &s.labels, |l| grouping.group_labels(l)),
            None => grouping.group_labels(&s.labels),
        };
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(s);
    }
    groups
}

/// `topk`, `bottomk`, `limitk`: up to `k` input samples per group, labels kept.
fn select_k(
    ev: &Evaluator<'_>,
    op: u16,
    k: f64,
    input: Vec<Sample>,
    grouping: &Grouping<'_>,
) -> Result<Vec<Sample>, QueryError> {
    if k.is_nan() {
        return Err(QueryError::exec("Parameter value is NaN"));
    }
    if k <= i64::MIN as f64 {
        return Err(QueryError::exec(format!(
            "Scalar value {} underflows int64",
            format::go_float(k)
        )));
    }
    if k >= MAX_INT64 {
        return Err(QueryError::exec(format!(
            "Scalar value {} overflows int64",
            format::go_float(k)
        )));
    }
    if k < 1.0 {
        return Ok(vec![]);
    }
    let k = k as usize;
    let mut out = Vec::new();
    for (_, mut members) in group(Some(ev), &input, grouping) {
        if op != T_LIMITK && members.iter().any(|s| !s.is_float()) {
            ev.annotate(Annotation::histogram_ignored_in_aggregation(&op_name(op)));
            members.retain(|s| s.is_float());
        }
        match op {
            T_TOPK => members.sort_by(|a, b| nan_last(a.v, b.v, true)),
            T_BOTTOMK => members.sort_by(|a, b| nan_last(a.v, b.v, false)),
            _ => {}
        }
        out.extend(members.into_iter().take(k).cloned());
    }
    Ok(out)
}

/// `limit_ratio(r, v)`: a deterministic sample of about `r` of the series
/// (by a hash of their labels), or for negative `r` the complementary
/// `-r` share, so `limit_ratio(r, v)` and `limit_ratio(r - 1, v)` split `v`.
fn limit_ratio(r: f64, input: Vec<Sample>) -> Vec<Sample> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let offset = |labels: &Labels| {
        let mut h = DefaultHasher::new();
        labels.hash(&mut h);
        h.finish() as f64 / u64::MAX as f64
    };
    input
        .into_iter()
        .filter(|s| {
            let o = offset(&s.labels);
            (r >= 0.0 && o < r) || (r < 0.0 && o >= 1.0 + r)
        })
        .collect()
}

/// Orders values descending (or ascending) with NaN after everything else.
fn nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if desc => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

fn count_values(label: &str, input: Vec<Sample>, grouping: &Grouping<'_>) -> Vec<Sample> {
    let with_value: Vec<Sample> = input
        .into_iter()
        .map(|mut s| {
            let value = match &s.h {
                Some(h) => format::histogram_text(h),
                None => format::go_float(s.v),
            };
            s.labels.set(label, &value);
            s
        })
        .collect();
    let names: Vec<String>;
    let grouping = match grouping {
        Grouping::By(by) => {
            names = by
                .iter()
                .cloned()
                .chain(std::iter::once(label.to_string()))
                .collect();
            Grouping::By(&names)
        }
        Grouping::Without(w) => Grouping::Without(w),
    };
    group(None, &with_value, &grouping)
        .into_iter()
        .map(|(labels, members)| Sample::new(labels, members.len() as f64))
        .collect()
}

/// `sum`, `avg`, `count`, `group`, `min`, `max`, `stddev`, `stdvar`, `quantile`.
///
/// `count` and `group` take every sample; `sum` and `avg` add up either
/// floats or histograms (a group mixing both is dropped with a warning);
/// the rest ignore histograms, with an info.
fn aggregate(
    ev: &Evaluator<'_>,
    op: u16,
    q: f64,
    input: Vec<Sample>,
    grouping: &Grouping<'_>,
) -> Result<Vec<Sample>, QueryError> {
    let mut out = Vec::new();
    for (labels, members) in group(Some(ev), &input, grouping) {
        let drop_name = members.iter().any(|s| s.drop_name);
        let (floats, histograms): (Vec<&Sample>, Vec<&Sample>) =
            members.iter().partition(|s| s.is_float());
        let counted = matches!(op, T_COUNT | T_GROUP);
        if !counted && !histograms.is_empty() {
            if matches!(op, T_SUM | T_AVG) {
                if !floats.is_empty() {
                    ev.annotate(Annotation::mixed_floats_histograms_aggregation());
                    continue;
                }
                if arith::any_mismatched_custom_buckets(
                    histograms.iter().filter_map(|s| s.h.as_deref()),
                ) {
                    ev.annotate(Annotation::custom_buckets_reconciled("aggregation"));
                }
                match histogram_sum_or_avg(ev, op == T_AVG, &histograms) {
                    Ok(h) => out.push(Sample {
                        drop_name,
                        ..Sample::histogram(labels, Arc::new(h))
                    }),
                    Err(e) => {
                        let metric = histograms[0].labels.metric_name().unwrap_or_default();
                        ev.annotate(Annotation::incompatible_histograms(e, metric));
                    }
                }
                continue;
            }
            ev.annotate(Annotation::histogram_ignored_in_aggregation(&op_name(op)));
            if floats.is_empty() {
                continue;
            }
        }
        let values = floats.iter().map(|s| s.v);
        let v = match op {
            T_SUM => {
                let (s, c) = values.fold((0.0, 0.0), |(s, c), v| kahan::inc(v, s, c));
                s + c
            }
            T_AVG => kahan::mean(values).unwrap_or(f64::NAN),
            T_COUNT => members.len() as f64,
            T_GROUP => 1.0,
            T_MIN => fold_first(values, |best, v| best > v || best.is_nan()),
            T_MAX => fold_first(values, |best, v| best < v || best.is_nan()),
            T_STDDEV | T_STDVAR => {
                let var = welford_variance(values);
                if op == T_STDDEV { var.sqrt() } else { var }
            }
            T_QUANTILE => quantile(q, values.collect()),
            _ => {
                return Err(QueryError::exec(format!(
                    "unsupported aggregation operator {}",
                    op_name(op)
                )));
            }
        };
        out.push(Sample {
            drop_name,
            ..Sample::new(labels, v)
        });
    }
    Ok(out)
}

/// The sum (or mean) of histogram samples.
fn histogram_sum_or_avg(
    ev: &Evaluator<'_>,
    avg: bool,
    members: &[&Sample],
) -> Result<FloatHistogram, Incompatible> {
    let hs: Vec<&FloatHistogram> = members.iter().filter_map(|s| s.h.as_deref()).collect();
    if arith::conflicting_resets(&hs) {
        ev.annotate(Annotation::conflicting_counter_resets());
    }
    if avg {
        arith::kahan_mean(&hs)
    } else {
        arith::kahan_sum(&hs)
    }
}

fn op_name(op: u16) -> String {
    promql_parser::parser::token::TokenType::new(op).to_string()
}

/// Folds from the first value, replacing the running value when `replace(best, v)`.
fn fold_first(mut values: impl Iterator<Item = f64>, replace: fn(f64, f64) -> bool) -> f64 {
    let first = values.next().unwrap_or(f64::NAN);
    values.fold(first, |best, v| if replace(best, v) { v } else { best })
}

/// The aggregation operators' variance: Welford without compensation, NaN
/// when the first value is NaN or infinite.
pub(crate) fn welford_variance(mut values: impl Iterator<Item = f64>) -> f64 {
    let Some(first) = values.next() else {
        return f64::NAN;
    };
    let (mut mean, mut m2, mut count) =
        (first, if first.is_finite() { 0.0 } else { f64::NAN }, 1.0);
    for v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::eval::with_test_evaluator;

    fn s(pairs: &[(&str, &str)], v: f64) -> Sample {
        Sample::new(Labels::from_pairs(pairs.iter().copied()), v)
    }

    #[test]
    fn sum_by_groups_and_keeps_only_by_labels() {
        let input = vec![
            s(&[("__name__", "x"), ("job", "a"), ("i", "1")], 1.0),
            s(&[("job", "a"), ("i", "2")], 2.0),
            s(&[("job", "b")], 5.0),
        ];
        let names = vec!["job".to_string()];
        let out = with_test_evaluator(|ev| {
            aggregate(ev, T_SUM, f64::NAN, input, &Grouping::By(&names)).unwrap()
        });
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, Labels::from_pairs([("job", "a")]));
        assert_eq!(out[0].v, 3.0);
    }

    #[test]
    fn topk_nan_is_never_preferred() {
        let input = vec![
            s(&[("i", "1")], f64::NAN),
            s(&[("i", "2")], 1.0),
            s(&[("i", "3")], 2.0),
        ];
        with_test_evaluator(|ev| {
            let out = select_k(ev, T_TOPK, 2.0, input, &Grouping::By(&[])).unwrap();
            assert_eq!(out.iter().map(|s| s.v).collect::<Vec<_>>(), vec![2.0, 1.0]);
            assert!(select_k(ev, T_TOPK, f64::NAN, vec![], &Grouping::By(&[])).is_err());
        });
    }
}
