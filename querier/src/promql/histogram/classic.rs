//! Classic histograms: series of cumulative `le` buckets, grouped by their
//! other labels, for `histogram_quantile` and `histogram_fraction`
//! (Prometheus's `BucketQuantile` and `BucketFraction`).

use std::collections::HashMap;

use common::labels::{Labels, METRIC_NAME};

use crate::promql::annotations::Annotation;
use crate::promql::eval::Evaluator;
use crate::promql::value::Sample;

/// The buckets of one classic histogram.
struct Group {
    /// Output labels: without `le` and `__name__`.
    labels: Labels,
    /// The metric name, for annotations.
    metric: String,
    /// `(upper bound, cumulative count)`.
    buckets: Vec<(f64, f64)>,
}

/// Float samples grouped into classic histograms; samples without a
/// parsable `le` are dropped with a warning.
fn groups(ev: &Evaluator<'_>, input: Vec<Sample>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input.into_iter().filter(Sample::is_float) {
        let metric = s.labels.metric_name().unwrap_or_default().to_string();
        let le_label = s.labels.get("le");
        let Some(le) = le_label.and_then(parse_le) else {
            ev.annotate(Annotation::bad_bucket_label(
                le_label.unwrap_or_default(),
                &metric,
            ));
            continue;
        };
        let mut key = s.labels.clone();
        key.remove("le");
        let i = *index.entry(key.clone()).or_insert_with(|| {
            let mut labels = key;
            labels.remove(METRIC_NAME);
            groups.push(Group {
                labels,
                metric,
                buckets: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].buckets.push((le, s.v));
    }
    groups
}

fn result(labels: Labels, v: f64) -> Sample {
    Sample {
        drop_name: true,
        ..Sample::new(labels, v)
    }
}

/// `histogram_quantile(q, v)` over the classic histograms in `input`.
pub(crate) fn quantile(ev: &Evaluator<'_>, q: f64, input: Vec<Sample>) -> Vec<Sample> {
    groups(ev, input)
        .into_iter()
        .map(|mut g| {
            let (v, forced_monotonic) = bucket_quantile(q, &mut g.buckets);
            if forced_monotonic {
                ev.annotate(Annotation::histogram_quantile_forced_monotonicity(
                    &g.metric,
                ));
            }
            result(g.labels, v)
        })
        .collect()
}

/// `histogram_fraction(lower, upper, v)` over the classic histograms in `input`.
pub(crate) fn fraction(
    ev: &Evaluator<'_>,
    lower: f64,
    upper: f64,
    input: Vec<Sample>,
) -> Vec<Sample> {
    groups(ev, input)
        .into_iter()
        .map(|mut g| {
            let v = bucket_fraction(lower, upper, &mut g.buckets);
            result(g.labels, v)
        })
        .collect()
}

/// Sorts buckets by bound and merges equal bounds; `None` unless the last
/// bound is `+Inf`.
fn sorted_and_coalesced(buckets: &mut [(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !buckets.last().is_some_and(|b| b.0 == f64::INFINITY) {
        return None;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    Some(merged)
}

/// Prometheus's `BucketFraction`: the share of observations between
/// `lower` and `upper`, interpolating linearly inside buckets (the lowest
/// bucket starts at 0 when its bound is positive).
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    let Some(merged) = sorted_and_coalesced(buckets) else {
        return f64::NAN;
    };
    let count = merged[merged.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, None, None);
    for (i, &(upper_bound, c)) in merged.iter().enumerate() {
        let lower_bound = match i {
            0 if upper_bound > 0.0 => 0.0,
            0 => f64::NEG_INFINITY,
            _ => merged[i - 1].0,
        };
        // Infinitely wide buckets are not interpolated (see `stats::fraction`).
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                c
            } else if upper_bound == f64::INFINITY {
                rank
            } else {
                rank + (c - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if lower_rank.is_none() && lower_bound >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lower_bound >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && lower_bound < lower && upper_bound > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && lower_bound < upper && upper_bound > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = c;
    }
    let clamp = |r: Option<f64>| r.filter(|r| *r <= count).unwrap_or(count);
    (clamp(upper_rank) - clamp(lower_rank)) / count
}

/// Parses a bucket bound the way Go's `strconv.ParseFloat` does for the
/// spellings exporters use (`+Inf`, `1e3`, `0.5`).
pub(crate) fn parse_le(s: &str) -> Option<f64> {
    s.trim_start_matches('+').parse::<f64>().ok().or_else(|| {
        match s.to_ascii_lowercase().as_str() {
            "+inf" | "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        }
    })
}

/// Prometheus's `bucketQuantile` over `(upper bound, cumulative count)`;
/// the flag says whether counts had to be forced monotonic.
fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let Some(mut merged) = sorted_and_coalesced(buckets) else {
        return (f64::NAN, false);
    };
    // Fix float precision errors, then force monotonicity.
    let mut prev = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        let delta = (b.1 - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / b.1 <= 1e-12 {
            b.1 = prev;
        } else {
            prev = b.1;
        }
    }
    let mut forced = false;
    let mut max = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
            forced = true;
        }
    }
    (quantile_of_monotonic(q, &merged), forced)
}

/// The quantile of sorted, coalesced, monotonic cumulative buckets ending
/// with `+Inf`, interpolating linearly inside the bucket holding the rank.
fn quantile_of_monotonic(q: f64, merged: &[(f64, f64)]) -> f64 {
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|b| b.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_quantile_interpolates_and_uses_second_highest_bound() {
        let mut b = vec![(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 20.0)];
        assert!((bucket_quantile(0.5, &mut b).0 - 0.1).abs() < 1e-12);
        let mut b = vec![(1.0, 0.0), (2.0, 0.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.9, &mut b).0, 2.0);
        let mut b = vec![(1.0, 5.0)];
        assert!(bucket_quantile(0.5, &mut b).0.is_nan());
    }

    #[test]
    fn bucket_fraction_interpolates_inside_buckets() {
        let mut b = vec![(1.0, 2.0), (2.0, 4.0), (f64::INFINITY, 4.0)];
        assert!((bucket_fraction(0.0, 1.5, &mut b) - 0.75).abs() < 1e-12);
        assert_eq!(bucket_fraction(2.0, 1.0, &mut b), 0.0);
    }
}
