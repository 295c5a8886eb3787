//! The native histogram trim operators: `h </ x` keeps the observations
//! below `x`, `h >/ x` those above it (Prometheus 3's `TRIM_UPPER` and
//! `TRIM_LOWER`).
//!
//! A bucket entirely on the kept side stays, one entirely on the other side
//! goes, and the bucket the cut falls in keeps the share of its count that
//! lies on the kept side: interpolated exponentially inside exponential
//! buckets, linearly inside custom buckets and the zero bucket. When
//! anything was cut, the sum is re-estimated from what is left: each kept
//! count times the middle of the interval it covers (geometric for
//! exponential buckets, arithmetic otherwise). Custom buckets reaching to
//! infinity cannot be split; they are kept or dropped whole, and a
//! `(-Inf, upper]` bucket with a positive `upper` is taken to start at 0.

use common::histogram::{FloatHistogram, compact};

/// Which side of the cut survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// `</`: observations below the cut.
    Below,
    /// `>/`: observations above the cut.
    Above,
}

/// How a bucket's observations are assumed to spread inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spread {
    /// Evenly on a log scale (exponential buckets).
    Exponential,
    /// Evenly (custom buckets, the zero bucket).
    Linear,
}

/// Upper bound of exponential bucket `index` at `schema`.
fn exp_bound(index: i32, schema: i32) -> f64 {
    (f64::from(index) * (-f64::from(schema)).exp2()).exp2()
}

/// The middle of `[lo, hi]` under `spread`.
fn middle(lo: f64, hi: f64, spread: Spread) -> f64 {
    match spread {
        Spread::Linear => (lo + hi) / 2.0,
        Spread::Exponential => (lo * hi).sqrt() * if hi <= 0.0 { -1.0 } else { 1.0 },
    }
}

/// Where `x` sits in `[lo, hi]`, 0 to 1, under `spread`.
fn position(lo: f64, hi: f64, x: f64, spread: Spread) -> f64 {
    match spread {
        Spread::Linear => (x - lo) / (hi - lo),
        Spread::Exponential => {
            let (l, h, v) = (lo.abs().log2(), hi.abs().log2(), x.abs().log2());
            if hi > 0.0 {
                (v - l) / (h - l)
            } else {
                1.0 - (v - h) / (l - h)
            }
        }
    }
}

/// What a finite bucket `(lo, hi]` holding `count` keeps, and the middle of
/// the kept part.
fn split_finite(lo: f64, hi: f64, count: f64, cut: f64, keep: Keep, spread: Spread) -> (f64, f64) {
    let (kept_lo, kept_hi) = match keep {
        Keep::Below => (lo, cut.min(hi)),
        Keep::Above => (cut.max(lo), hi),
    };
    if kept_lo >= kept_hi {
        return (0.0, 0.0);
    }
    let share = position(lo, hi, kept_hi, spread) - position(lo, hi, kept_lo, spread);
    (count * share, middle(kept_lo, kept_hi, spread))
}

/// What a custom bucket with an infinite bound keeps, and where the kept
/// observations are taken to sit.
fn split_infinite(lo: f64, hi: f64, count: f64, cut: f64, keep: Keep) -> (f64, f64) {
    let all = (count, 0.0);
    let none = (0.0, 0.0);
    if lo.is_infinite() && hi.is_infinite() {
        return match keep {
            Keep::Below if cut == f64::INFINITY => all,
            Keep::Above if cut == f64::NEG_INFINITY => all,
            _ => none,
        };
    }
    if hi.is_infinite() {
        // (lo, +Inf]: nothing is known above `lo`.
        return match keep {
            Keep::Below if cut == f64::INFINITY => (count, lo),
            Keep::Below => none,
            Keep::Above if cut == f64::INFINITY => none,
            Keep::Above => (count, cut.max(lo)),
        };
    }
    // (-Inf, hi]: with a positive `hi`, taken as [0, hi].
    if hi > 0.0 {
        return match keep {
            Keep::Below if cut == f64::NEG_INFINITY => none,
            Keep::Above if cut == f64::NEG_INFINITY => (count, hi / 2.0),
            Keep::Above if cut < 0.0 => none,
            _ => split_finite(0.0, hi, count, cut, keep, Spread::Linear),
        };
    }
    match keep {
        Keep::Below if cut == f64::NEG_INFINITY => none,
        Keep::Below => (count, cut.min(hi)),
        Keep::Above if cut == f64::NEG_INFINITY => (count, hi),
        Keep::Above => none,
    }
}

/// Trims one side's buckets; returns the new counts (by position, as in
/// `indexed`) and the kept count and estimated sum.
fn trim_buckets(
    h: &FloatHistogram,
    indexed: &[(i32, f64)],
    positive: bool,
    cut: f64,
    keep: Keep,
) -> (Vec<(i32, f64)>, f64, f64) {
    let custom = h.uses_custom_buckets();
    let (mut count, mut sum) = (0.0, 0.0);
    let mut out = Vec::with_capacity(indexed.len());
    for &(index, c) in indexed {
        if c == 0.0 {
            continue;
        }
        let (kept, at) = if custom {
            let bound = |i: i32| match usize::try_from(i) {
                Err(_) => f64::NEG_INFINITY,
                Ok(i) => h.custom_values.get(i).copied().unwrap_or(f64::INFINITY),
            };
            let (lo, hi) = (bound(index - 1), bound(index));
            if lo.is_infinite() || hi.is_infinite() {
                split_infinite(lo, hi, c, cut, keep)
            } else {
                split_finite(lo, hi, c, cut, keep, Spread::Linear)
            }
        } else {
            let (lo, hi) = (exp_bound(index - 1, h.schema), exp_bound(index, h.schema));
            let (lo, hi) = if positive { (lo, hi) } else { (-hi, -lo) };
            split_finite(lo, hi, c, cut, keep, Spread::Exponential)
        };
        if kept > 0.0 {
            count += kept;
            sum += kept * at;
            out.push((index, kept));
        }
    }
    (out, count, sum)
}

/// The zero bucket's bounds: leaning to the side that has buckets when
/// only one side does, as Prometheus's `ZeroBucket` does.
fn zero_bounds(h: &FloatHistogram) -> (f64, f64) {
    let has = |b: &[f64]| b.iter().any(|&c| c != 0.0);
    let (pos, neg) = (has(&h.positive_buckets), has(&h.negative_buckets));
    let zt = h.zero_threshold;
    (
        if pos && !neg { 0.0 } else { -zt },
        if neg && !pos { 0.0 } else { zt },
    )
}

/// `h` trimmed at `cut`, keeping the `keep` side.
pub(crate) fn trim(h: &FloatHistogram, cut: f64, keep: Keep) -> FloatHistogram {
    let (positive, pos_count, pos_sum) = trim_buckets(h, &h.positive(), true, cut, keep);
    let (negative, neg_count, neg_sum) = trim_buckets(h, &h.negative(), false, cut, keep);
    let (mut count, mut sum) = (pos_count + neg_count, pos_sum + neg_sum);
    let mut zero_count = 0.0;
    if h.zero_count > 0.0 {
        let (lo, hi) = zero_bounds(h);
        let (kept, at) = split_finite(lo, hi, h.zero_count, cut, keep, Spread::Linear);
        zero_count = kept;
        count += kept;
        sum += kept * at;
    }
    let total = |b: &[f64]| b.iter().sum::<f64>();
    let before = total(&h.positive_buckets) + total(&h.negative_buckets) + h.zero_count;
    if count == before {
        // Nothing was cut: the exact sum stays.
        return h.clone();
    }
    let mut out = h.clone();
    out.zero_count = zero_count;
    out.count = count;
    out.sum = if count == 0.0 { 0.0 } else { sum };
    (out.positive_spans, out.positive_buckets) = compact(&positive);
    (out.negative_spans, out.negative_buckets) = compact(&negative);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::histogram::Span;

    fn custom(values: &[f64], buckets: &[f64], sum: f64) -> FloatHistogram {
        FloatHistogram {
            schema: -53,
            custom_values: values.to_vec(),
            positive_spans: vec![Span {
                offset: 0,
                length: buckets.len() as u32,
            }],
            positive_buckets: buckets.to_vec(),
            count: buckets.iter().sum(),
            sum,
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn custom_buckets_split_linearly() {
        let h = custom(&[5.0, 10.0, 15.0, 20.0], &[1.0, 6.0, 4.0, 3.0, 1.0], 172.5);
        let below = trim(&h, 13.0, Keep::Below);
        assert!((below.count - 9.4).abs() < 1e-9);
        assert!((below.sum - 75.1).abs() < 1e-9);
        let above = trim(&h, 13.0, Keep::Above);
        assert!((above.count - 5.6).abs() < 1e-9);
        assert!((above.sum - 94.9).abs() < 1e-9);
    }

    #[test]
    fn nothing_cut_keeps_the_exact_sum() {
        let h = custom(&[5.0], &[1.0, 100.0], 33.0);
        assert_eq!(trim(&h, 0.0, Keep::Above), h);
        assert_eq!(trim(&h, f64::INFINITY, Keep::Below), h);
    }
}
