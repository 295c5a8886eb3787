//! What the `histogram_*` functions compute from one histogram: quantile
//! and fraction (Prometheus's `HistogramQuantile`/`HistogramFraction`, with
//! exponential interpolation inside exponential buckets), average,
//! standard deviation and variance (each bucket stands at its midpoint).

use common::histogram::FloatHistogram;

use super::buckets::{self, Bucket};

/// The `q`-quantile of the observations in `h`.
pub(crate) fn quantile(q: f64, h: &FloatHistogram) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let forward = h.sum.is_nan() || q < 0.5;
    let mut all = buckets::all(h);
    let mut rank = if forward {
        q * h.count
    } else {
        all.reverse();
        (1.0 - q) * h.count
    };
    let mut count = 0.0;
    let mut bucket = Bucket::default();
    for b in all.into_iter().filter(|b| b.count != 0.0) {
        bucket = b;
        count += b.count;
        if count >= rank {
            break;
        }
    }
    let (has_neg, has_pos) = (
        !h.negative_buckets.is_empty(),
        !h.positive_buckets.is_empty(),
    );
    if h.uses_custom_buckets() {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return bucket.upper;
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return bucket.lower;
        }
    } else if bucket.lower < 0.0 && bucket.upper > 0.0 {
        if !has_neg && has_pos {
            bucket.lower = 0.0;
        } else if !has_pos && has_neg {
            bucket.upper = 0.0;
        }
    }
    count = count.min(h.count);
    if count < rank {
        // Only NaN observations are left above the buckets.
        return if h.sum.is_nan() {
            f64::NAN
        } else {
            bucket.upper
        };
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    let fraction = rank / bucket.count;
    if h.uses_custom_buckets() || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return bucket.lower + (bucket.upper - bucket.lower) * fraction;
    }
    let (log_lower, log_upper) = (bucket.lower.abs().log2(), bucket.upper.abs().log2());
    if bucket.lower > 0.0 {
        (log_lower + (log_upper - log_lower) * fraction).exp2()
    } else {
        -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
    }
}

/// The fraction of observations in `h` between `lower` and `upper`.
pub(crate) fn fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (has_neg, has_pos) = (
        !h.negative_buckets.is_empty(),
        !h.positive_buckets.is_empty(),
    );
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, None, None);
    for mut b in buckets::all(h) {
        let zero_bucket = b.lower <= 0.0 && b.upper >= 0.0;
        if zero_bucket {
            if !has_neg && has_pos {
                b.lower = 0.0;
            } else if !has_pos && has_neg {
                b.upper = 0.0;
            }
        }
        let linear = h.uses_custom_buckets() || zero_bucket;
        let interpolate = |v: f64| {
            // Infinitely wide buckets are not interpolated: all their
            // observations count as below (lowest) or above (highest) `v`.
            if b.lower == f64::NEG_INFINITY {
                rank + b.count
            } else if b.upper == f64::INFINITY {
                rank
            } else if linear {
                rank + b.count * (v - b.lower) / (b.upper - b.lower)
            } else {
                let (ll, lu, lv) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
                let f = if v > 0.0 {
                    (lv - ll) / (lu - ll)
                } else {
                    1.0 - (lv - lu) / (ll - lu)
                };
                rank + b.count * f
            }
        };
        if lower_rank.is_none() && b.lower >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && b.lower >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && b.lower < lower && b.upper > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && b.lower < upper && b.upper > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += b.count;
    }
    // Unset ranks lie above every bucket: NaN observations are in no bucket
    // and so in no fraction.
    let clamp = |r: Option<f64>| r.unwrap_or(rank).min(h.count);
    (clamp(upper_rank) - clamp(lower_rank)) / h.count
}

/// The variance of the observations, each bucket's count standing at the
/// bucket's midpoint (the geometric mean for exponential buckets, 0 for
/// the zero bucket), around the histogram's mean `sum / count`.
pub(crate) fn variance(h: &FloatHistogram) -> f64 {
    if h.count == 0.0 {
        return f64::NAN;
    }
    let mean = h.sum / h.count;
    let mut acc = 0.0;
    for b in buckets::all(h).into_iter().filter(|b| b.count != 0.0) {
        let mid = if h.uses_custom_buckets() {
            custom_midpoint(&b)
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let m = (b.lower * b.upper).abs().sqrt();
            if b.upper < 0.0 { -m } else { m }
        };
        let d = mid - mean;
        acc += b.count * d * d;
    }
    acc / h.count
}

/// Midpoint of a custom bucket; the lowest bucket starts at 0 when its
/// bound is positive, and an infinite bucket stands at its finite bound.
fn custom_midpoint(b: &Bucket) -> f64 {
    match (b.lower.is_infinite(), b.upper.is_infinite()) {
        (true, _) if b.upper > 0.0 => b.upper / 2.0,
        (true, _) => b.upper,
        (_, true) => b.lower,
        _ => (b.lower + b.upper) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::histogram::Span;

    fn h() -> FloatHistogram {
        // Buckets (0.5, 1] and (1, 2] with 2 observations each.
        FloatHistogram {
            count: 4.0,
            sum: 5.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![2.0, 2.0],
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn median_sits_on_the_shared_bucket_boundary() {
        assert!((quantile(0.5, &h()) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fraction_is_the_inverse_of_quantile() {
        assert!((fraction(f64::NEG_INFINITY, 1.0, &h()) - 0.5).abs() < 1e-12);
        assert_eq!(fraction(2.0, 1.0, &h()), 0.0);
    }
}
