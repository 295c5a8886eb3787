//! Vector aggregations (`sum`, `avg`, `topk`, `sort`, …) and
//! `label_replace`, step by step over [`StepSeries`].

use std::collections::BTreeMap;

use common::labels::Labels;
use regex::Regex;

use super::LogqlError;
use super::ast::{VecAgg, VecOp};
use super::metric::{StepSeries, group_labels};
use crate::promql::aggregate::welford_variance;
use crate::promql::kahan;

/// Evaluates a vector aggregation over `input`.
pub(crate) fn aggregate(agg: &VecAgg, input: Vec<StepSeries>, steps: usize) -> Vec<StepSeries> {
    match agg.op {
        VecOp::Sort | VecOp::SortDesc => sort(input, agg.op == VecOp::SortDesc),
        VecOp::Topk | VecOp::Bottomk => select_k(agg, input, steps),
        _ => {
            let mut groups: BTreeMap<Labels, Vec<&StepSeries>> = BTreeMap::new();
            for s in &input {
                let key = match &agg.grouping {
                    Some(g) => group_labels(&s.labels, Some(g)),
                    None => Labels::default(),
                };
                groups.entry(key).or_default().push(s);
            }
            groups
                .into_iter()
                .map(|(labels, members)| StepSeries {
                    labels,
                    values: (0..steps)
                        .map(|i| {
                            let vals: Vec<f64> = members
                                .iter()
                                .filter_map(|s| s.values.get(i).copied().flatten())
                                .collect();
                            (!vals.is_empty()).then(|| reduce(agg.op, &vals))
                        })
                        .collect(),
                })
                .collect()
        }
    }
}

fn reduce(op: VecOp, vals: &[f64]) -> f64 {
    match op {
        VecOp::Sum => {
            let (s, c) = vals
                .iter()
                .fold((0.0, 0.0), |(s, c), &v| kahan::inc(v, s, c));
            if s.is_infinite() { s } else { s + c }
        }
        VecOp::Avg => kahan::mean(vals.iter().copied()).unwrap_or(f64::NAN),
        VecOp::Min => fold_non_nan(vals, |v, best| v < best),
        VecOp::Max => fold_non_nan(vals, |v, best| v > best),
        VecOp::Count => vals.len() as f64,
        VecOp::Stdvar => welford_variance(vals.iter().copied()),
        VecOp::Stddev => welford_variance(vals.iter().copied()).sqrt(),
        VecOp::Topk | VecOp::Bottomk | VecOp::Sort | VecOp::SortDesc => f64::NAN,
    }
}

/// Min or max where NaN only wins when every value is NaN.
fn fold_non_nan(vals: &[f64], better: fn(f64, f64) -> bool) -> f64 {
    vals.iter().copied().fold(f64::NAN, |best, v| {
        if best.is_nan() || better(v, best) {
            v
        } else {
            best
        }
    })
}

/// Orders series by their first value (the instant value), NaN last.
fn sort(mut input: Vec<StepSeries>, desc: bool) -> Vec<StepSeries> {
    let key = |s: &StepSeries| s.values.first().copied().flatten().unwrap_or(f64::NAN);
    input.sort_by(|a, b| {
        let (x, y) = (key(a), key(b));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if desc => y.total_cmp(&x),
            _ => x.total_cmp(&y),
        }
    });
    input
}

/// `topk`/`bottomk`: per step and group, the k largest (smallest) series
/// keep their value there; instant results come out in rank order.
fn select_k(agg: &VecAgg, input: Vec<StepSeries>, steps: usize) -> Vec<StepSeries> {
    let k = agg.param.unwrap_or(1.0).max(0.0) as usize;
    let top = agg.op == VecOp::Topk;
    let mut groups: BTreeMap<Labels, Vec<usize>> = BTreeMap::new();
    for (i, s) in input.iter().enumerate() {
        let key = match &agg.grouping {
            Some(g) => group_labels(&s.labels, Some(g)),
            None => Labels::default(),
        };
        groups.entry(key).or_default().push(i);
    }
    // keep[step][series]: whether the series is selected at that step.
    let mut keep = vec![vec![false; input.len()]; steps];
    let mut rank = vec![usize::MAX; input.len()];
    for members in groups.values() {
        for (step, selected) in keep.iter_mut().enumerate() {
            let mut present: Vec<(usize, f64)> = members
                .iter()
                .filter_map(|&i| input[i].values.get(step).copied().flatten().map(|v| (i, v)))
                .collect();
            present.sort_by(|a, b| {
                let ord = if top {
                    b.1.total_cmp(&a.1)
                } else {
                    a.1.total_cmp(&b.1)
                };
                match (a.1.is_nan(), b.1.is_nan()) {
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ => ord,
                }
            });
            for (r, (i, _)) in present.into_iter().take(k).enumerate() {
                selected[i] = true;
                if step == 0 {
                    rank[i] = r;
                }
            }
        }
    }
    let mut out: Vec<(usize, StepSeries)> = input
        .into_iter()
        .enumerate()
        .filter_map(|(i, mut s)| {
            for (step, v) in s.values.iter_mut().enumerate() {
                if !keep.get(step).is_some_and(|k| k[i]) {
                    *v = None;
                }
            }
            s.values.iter().any(Option::is_some).then_some((rank[i], s))
        })
        .collect();
    out.sort_by_key(|(r, _)| *r);
    out.into_iter().map(|(_, s)| s).collect()
}

/// `label_replace`: where `src` matches the anchored `regex`, sets `dst` to
/// the expanded `replacement` (an empty result removes `dst`).
pub(crate) fn label_replace(
    input: Vec<StepSeries>,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
) -> Result<Vec<StepSeries>, LogqlError> {
    let re = Regex::new(&format!("^(?s:{regex})$")).map_err(|e| {
        LogqlError::BadQuery(format!(
            "invalid regular expression in label_replace(): {e}"
        ))
    })?;
    Ok(input
        .into_iter()
        .map(|mut s| {
            let value = s.labels.get(src).unwrap_or("").to_string();
            if let Some(caps) = re.captures(&value) {
                let mut out = String::new();
                caps.expand(replacement, &mut out);
                if out.is_empty() {
                    s.labels.remove(dst);
                } else {
                    s.labels.set(dst, &out);
                }
            }
            s
        })
        .collect())
}
