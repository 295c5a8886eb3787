//! Comparing results with expectations (README rule 3): floats with
//! Prometheus's `almost.Equal` tolerance, native histograms on schema,
//! custom bounds, zero bucket, non-empty bucket counts, count and sum, and
//! the counter-reset hint only when the expectation states one.

use std::sync::Arc;

use common::histogram::{CounterResetHint, FloatHistogram};
use common::labels::Labels;
use common::series::{Series, is_stale_nan};

use super::histogram_syntax::populated;
use super::script::{Eval, Item};

/// Prometheus's `almost.Equal` with the stale-marker rule.
pub fn float_eq(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if is_stale_nan(a) || is_stale_nan(b) {
        return a.to_bits() == b.to_bits();
    }
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

/// An engine value as an item.
pub fn item(v: f64, h: Option<&Arc<FloatHistogram>>) -> Item {
    match h {
        Some(h) => Item::Histogram(h.clone()),
        None => Item::Value(v),
    }
}

/// True when `got` matches the expected `want`.
fn item_eq(got: &Item, want: &Item) -> bool {
    match (got, want) {
        (Item::Value(a), Item::Value(b)) => float_eq(*a, *b),
        (Item::Histogram(a), Item::Histogram(b)) => histogram_eq(a, b),
        _ => false,
    }
}

fn histogram_eq(got: &FloatHistogram, want: &FloatHistogram) -> bool {
    let buckets_eq = |a: Vec<(i32, f64)>, b: Vec<(i32, f64)>| {
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(x, y)| x.0 == y.0 && float_eq(x.1, y.1))
    };
    got.schema == want.schema
        && got.custom_values == want.custom_values
        && float_eq(got.zero_threshold, want.zero_threshold)
        && float_eq(got.zero_count, want.zero_count)
        && float_eq(got.count, want.count)
        && float_eq(got.sum, want.sum)
        && buckets_eq(
            populated(&got.positive_spans, &got.positive_buckets),
            populated(&want.positive_spans, &want.positive_buckets),
        )
        && buckets_eq(
            populated(&got.negative_spans, &got.negative_buckets),
            populated(&want.negative_spans, &want.negative_buckets),
        )
        && (want.counter_reset_hint == CounterResetHint::Unknown
            || got.counter_reset_hint == want.counter_reset_hint)
}

fn show(i: &Item) -> String {
    match i {
        Item::Value(v) => v.to_string(),
        Item::Missing => "_".into(),
        Item::Histogram(h) => format!(
            "{{{{schema:{} count:{} sum:{} z:{} +{:?} -{:?}}}}}",
            h.schema,
            h.count,
            h.sum,
            h.zero_count,
            h.positive(),
            h.negative()
        ),
    }
}

/// The value of a one-item expectation.
pub fn single_value(items: &[Item]) -> Option<Item> {
    match items {
        [i @ (Item::Value(_) | Item::Histogram(_))] => Some(i.clone()),
        _ => None,
    }
}

/// Both sets hold the same label sets with equal values.
pub fn compare_sets(got: &[(Labels, Item)], want: &[(Labels, Item)]) -> Result<(), String> {
    for (labels, v) in want {
        match got.iter().find(|(l, _)| l == labels) {
            None => {
                let got: Vec<String> = got
                    .iter()
                    .map(|(l, v)| format!("{l} {}", show(v)))
                    .collect();
                return Err(format!("missing series {labels}; got [{}]", got.join(", ")));
            }
            Some((_, g)) if !item_eq(g, v) => {
                return Err(format!("{labels}: got {}, want {}", show(g), show(v)));
            }
            Some(_) => {}
        }
    }
    if let Some((l, _)) = got.iter().find(|(l, _)| !want.iter().any(|(w, _)| w == l)) {
        return Err(format!("unexpected series {l}"));
    }
    if got.len() != want.len() {
        return Err(format!("got {} series, want {}", got.len(), want.len()));
    }
    Ok(())
}

/// A result series' points of both kinds, by time.
pub fn points(s: &Series) -> Vec<(i64, Item)> {
    let mut out: Vec<(i64, Item)> = s
        .samples
        .iter()
        .map(|p| (p.t, Item::Value(p.v)))
        .chain(
            s.histograms
                .iter()
                .map(|p| (p.t, Item::Histogram(p.h.clone()))),
        )
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// Expected points of a series line for steps `start + k*step`.
fn expected_points(items: &[Item], start: i64, step: i64) -> Vec<(i64, Item)> {
    items
        .iter()
        .enumerate()
        .filter(|(_, it)| !matches!(it, Item::Missing))
        .map(|(k, it)| (start + k as i64 * step, it.clone()))
        .collect()
}

/// A matrix result against the expected series lines.
pub fn compare_matrix(got: &[Series], eval: &Eval, start: i64, step: i64) -> Result<(), String> {
    let want: Vec<(Labels, Vec<(i64, Item)>)> = eval
        .expect
        .series
        .iter()
        .map(|s| (s.labels.clone(), expected_points(&s.items, start, step)))
        .collect();
    for (labels, expected) in &want {
        let Some(g) = got.iter().find(|s| &s.labels == labels) else {
            return Err(format!("missing series {labels}"));
        };
        let actual = points(g);
        let same = actual.len() == expected.len()
            && actual
                .iter()
                .zip(expected)
                .all(|(a, b)| a.0 == b.0 && item_eq(&a.1, &b.1));
        if !same {
            let fmt = |p: &[(i64, Item)]| {
                p.iter()
                    .map(|p| format!("{}@{}", show(&p.1), p.0 / 1000))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(format!(
                "{labels}: got [{}], want [{}]",
                fmt(&actual),
                fmt(expected)
            ));
        }
    }
    if let Some(extra) = got
        .iter()
        .find(|s| !want.iter().any(|(l, _)| *l == s.labels))
    {
        return Err(format!("unexpected series {}", extra.labels));
    }
    if got.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("matrix is not sorted by labels".into());
    }
    Ok(())
}
