//! Kahan–Neumaier compensated summation, as Prometheus uses for `sum`,
//! `avg`, `*_over_time` and regressions, so results match bit for bit.

/// Adds `inc` to `sum` with compensation `c`; returns the new `(sum, c)`.
pub(crate) fn inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Mean of `values` the way Prometheus computes `avg` and `avg_over_time`:
/// a compensated direct sum, switching to an incremental mean if the sum
/// would overflow.
pub(crate) fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut it = values.into_iter();
    let first = it.next()?;
    let (mut sum, mut c, mut count) = (first, 0.0, 1.0);
    let (mut mean, mut incremental) = (0.0, false);
    for f in it {
        count += 1.0;
        if !incremental {
            let (ns, nc) = inc(f, sum, c);
            if !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = inc(f / count, q * mean, q * c);
    }
    Some(if incremental {
        mean + c
    } else {
        sum / count + c / count
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensates_cancellation() {
        let (s, c) = [1.0, 1e100, 1.0, -1e100]
            .iter()
            .fold((0.0, 0.0), |(s, c), &x| inc(x, s, c));
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn mean_survives_overflowing_sum() {
        assert_eq!(mean([f64::MAX, f64::MAX]), Some(f64::MAX));
        assert_eq!(mean(std::iter::empty()), None);
    }
}
