//! Histogram arithmetic. Operands of different schemas meet at the coarser
//! one (Prometheus reduces the finer histogram's resolution); custom-bucket
//! histograms with different bounds meet at the bounds both have
//! ("reconciled", which callers report with [`mismatched_custom_buckets`]).

use std::collections::BTreeMap;

use common::histogram::{CounterResetHint, FloatHistogram, compact};

use crate::promql::kahan;

/// Why two histograms could not be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incompatible {
    /// One uses custom buckets and the other exponential ones.
    MixedSchemas,
}

/// True when both use custom buckets with different bounds.
pub(crate) fn mismatched_custom_buckets(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.uses_custom_buckets() && b.uses_custom_buckets() && a.custom_values != b.custom_values
}

/// True when any two of `hs` are custom-bucket histograms with different
/// bounds.
pub(crate) fn any_mismatched_custom_buckets<'h>(
    hs: impl IntoIterator<Item = &'h FloatHistogram>,
) -> bool {
    let mut custom = hs.into_iter().filter(|h| h.uses_custom_buckets());
    let Some(first) = custom.next() else {
        return false;
    };
    custom.any(|h| h.custom_values != first.custom_values)
}

/// True when some of `hs` say a counter reset happened and others that
/// none did: their sum cannot say either.
pub(crate) fn conflicting_resets(hs: &[&FloatHistogram]) -> bool {
    let has = |hint| hs.iter().any(|h| h.counter_reset_hint == hint);
    has(CounterResetHint::CounterReset) && has(CounterResetHint::NotCounterReset)
}

/// `h` with its custom buckets merged onto `bounds` (a subset of its own
/// bounds): each bucket moves to the first bound at or above its own.
fn rebucket_custom(h: &FloatHistogram, bounds: &[f64]) -> FloatHistogram {
    let mut merged: BTreeMap<i32, f64> = BTreeMap::new();
    for (i, c) in h.positive() {
        let upper = usize::try_from(i)
            .ok()
            .and_then(|i| h.custom_values.get(i))
            .copied()
            .unwrap_or(f64::INFINITY);
        let target = bounds.partition_point(|b| *b < upper);
        *merged.entry(target as i32).or_default() += c;
    }
    let mut out = h.clone();
    out.custom_values = bounds.to_vec();
    (out.positive_spans, out.positive_buckets) = compact(&merged.into_iter().collect::<Vec<_>>());
    out
}

/// `a + sign * b` (sign 1 adds, -1 subtracts).
pub(crate) fn combine(
    a: &FloatHistogram,
    b: &FloatHistogram,
    sign: f64,
) -> Result<FloatHistogram, Incompatible> {
    if a.uses_custom_buckets() != b.uses_custom_buckets() {
        return Err(Incompatible::MixedSchemas);
    }
    if mismatched_custom_buckets(a, b) {
        let common: Vec<f64> = a
            .custom_values
            .iter()
            .copied()
            .filter(|v| b.custom_values.contains(v))
            .collect();
        return combine(
            &rebucket_custom(a, &common),
            &rebucket_custom(b, &common),
            sign,
        );
    }
    let schema = a.schema.min(b.schema);
    let (a, b) = (a.with_schema(schema), b.with_schema(schema));
    let merge = |x: Vec<(i32, f64)>, y: Vec<(i32, f64)>| {
        let mut all: BTreeMap<i32, f64> = x.into_iter().collect();
        for (i, c) in y {
            *all.entry(i).or_default() += sign * c;
        }
        compact(&all.into_iter().collect::<Vec<_>>())
    };
    let mut out = a.clone();
    out.count += sign * b.count;
    out.sum += sign * b.sum;
    out.zero_count += sign * b.zero_count;
    out.zero_threshold = a.zero_threshold.max(b.zero_threshold);
    (out.positive_spans, out.positive_buckets) = merge(a.positive(), b.positive());
    (out.negative_spans, out.negative_buckets) = merge(a.negative(), b.negative());
    out.counter_reset_hint = combined_hint(a.counter_reset_hint, b.counter_reset_hint, sign);
    Ok(out)
}

/// The counter-reset hint of `a + sign * b`: differences are gauges, as is
/// anything involving a gauge; equal hints stay; others become unknown.
fn combined_hint(a: CounterResetHint, b: CounterResetHint, sign: f64) -> CounterResetHint {
    use CounterResetHint::{Gauge, Unknown};
    match (a, b) {
        _ if sign < 0.0 => Gauge,
        (Gauge, _) | (_, Gauge) => Gauge,
        (a, b) if a == b => a,
        _ => Unknown,
    }
}

/// Every count and the sum divided by `d`. Dividing by zero leaves no
/// buckets, only infinite (or NaN) count, sum and zero bucket, as in
/// Prometheus.
pub(crate) fn divide(h: &FloatHistogram, d: f64) -> FloatHistogram {
    let mut out = h.clone();
    out.count /= d;
    out.sum /= d;
    out.zero_count /= d;
    if d == 0.0 {
        out.positive_spans.clear();
        out.positive_buckets.clear();
        out.negative_spans.clear();
        out.negative_buckets.clear();
    } else {
        out.positive_buckets.iter_mut().for_each(|c| *c /= d);
        out.negative_buckets.iter_mut().for_each(|c| *c /= d);
    }
    out
}

/// True when `a` and `b` hold the same values (hints aside).
pub(crate) fn same_values(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let strip = |h: &FloatHistogram| FloatHistogram {
        counter_reset_hint: CounterResetHint::Unknown,
        ..h.clone()
    };
    strip(a) == strip(b)
}

/// `-h`: every count negated, and a gauge, since counters cannot go down.
pub(crate) fn negate(h: &FloatHistogram) -> FloatHistogram {
    let mut out = scale(h, -1.0);
    out.counter_reset_hint = CounterResetHint::Gauge;
    out
}

/// The sum of `hs` with Kahan compensation in every field and bucket (as
/// Prometheus sums histograms in `sum` and `sum_over_time`).
pub(crate) fn kahan_sum(hs: &[&FloatHistogram]) -> Result<FloatHistogram, Incompatible> {
    fieldwise(hs, |values| {
        let (s, c) = values
            .iter()
            .fold((0.0, 0.0), |(s, c), v| kahan::inc(*v, s, c));
        if s.is_infinite() { s } else { s + c }
    })
}

/// The mean of `hs`, field by field and bucket by bucket, computed like the
/// float `avg` (compensated sum, incremental once the sum would overflow).
pub(crate) fn kahan_mean(hs: &[&FloatHistogram]) -> Result<FloatHistogram, Incompatible> {
    fieldwise(hs, |values| {
        kahan::mean(values.iter().copied()).unwrap_or(f64::NAN)
    })
}

/// Brings `hs` to one layout, then combines each field and each bucket's
/// counts (0 where a histogram lacks the bucket) with `f`.
fn fieldwise(
    hs: &[&FloatHistogram],
    f: impl Fn(&[f64]) -> f64,
) -> Result<FloatHistogram, Incompatible> {
    let Some(first) = hs.first() else {
        return Ok(FloatHistogram::default());
    };
    if hs
        .iter()
        .any(|h| h.uses_custom_buckets() != first.uses_custom_buckets())
    {
        return Err(Incompatible::MixedSchemas);
    }
    let aligned: Vec<FloatHistogram> = if first.uses_custom_buckets() {
        let common: Vec<f64> = first
            .custom_values
            .iter()
            .copied()
            .filter(|v| hs.iter().all(|h| h.custom_values.contains(v)))
            .collect();
        hs.iter().map(|h| rebucket_custom(h, &common)).collect()
    } else {
        let schema = hs.iter().map(|h| h.schema).min().unwrap_or(first.schema);
        hs.iter().map(|h| h.with_schema(schema)).collect()
    };
    let field = |get: fn(&FloatHistogram) -> f64| f(&aligned.iter().map(get).collect::<Vec<_>>());
    let side = |get: fn(&FloatHistogram) -> Vec<(i32, f64)>| {
        let per: Vec<BTreeMap<i32, f64>> = aligned
            .iter()
            .map(|h| get(h).into_iter().collect())
            .collect();
        let indexes: std::collections::BTreeSet<i32> =
            per.iter().flat_map(|m| m.keys().copied()).collect();
        let buckets: Vec<(i32, f64)> = indexes
            .into_iter()
            .map(|i| {
                let values: Vec<f64> = per
                    .iter()
                    .map(|m| m.get(&i).copied().unwrap_or(0.0))
                    .collect();
                (i, f(&values))
            })
            .collect();
        compact(&buckets)
    };
    let mut out = aligned[0].clone();
    out.count = field(|h| h.count);
    out.sum = field(|h| h.sum);
    out.zero_count = field(|h| h.zero_count);
    out.zero_threshold = aligned.iter().map(|h| h.zero_threshold).fold(0.0, f64::max);
    (out.positive_spans, out.positive_buckets) = side(FloatHistogram::positive);
    (out.negative_spans, out.negative_buckets) = side(FloatHistogram::negative);
    out.counter_reset_hint = aligned
        .iter()
        .skip(1)
        .fold(aligned[0].counter_reset_hint, |acc, h| {
            combined_hint(acc, h.counter_reset_hint, 1.0)
        });
    Ok(out)
}

/// Every count and the sum multiplied by `f`.
pub(crate) fn scale(h: &FloatHistogram, f: f64) -> FloatHistogram {
    let mut out = h.clone();
    out.count *= f;
    out.sum *= f;
    out.zero_count *= f;
    out.positive_buckets.iter_mut().for_each(|c| *c *= f);
    out.negative_buckets.iter_mut().for_each(|c| *c *= f);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::histogram::Span;

    fn h(schema: i32, buckets: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema,
            count: buckets.iter().sum(),
            positive_spans: vec![Span {
                offset: 0,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn adding_meets_at_the_coarser_schema() {
        let sum = combine(&h(1, &[1.0, 1.0, 1.0]), &h(0, &[2.0]), 1.0).unwrap();
        assert_eq!(sum.schema, 0);
        assert_eq!(sum.count, 5.0);
        // Schema-1 buckets 0, 1, 2 land in schema-0 buckets 0, 1, 1.
        assert_eq!(sum.positive(), vec![(0, 3.0), (1, 2.0)]);
    }

    #[test]
    fn scaling_scales_every_count() {
        assert_eq!(
            scale(&h(0, &[1.0, 2.0]), 2.0).positive(),
            vec![(0, 2.0), (1, 4.0)]
        );
    }
}
