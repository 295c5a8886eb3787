//! The `histogram_*` functions over native histogram samples:
//! `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev`,
//! `histogram_stdvar`, `histogram_fraction`, and the native half of
//! `histogram_quantile`. Float samples are ignored, as in Prometheus.

use super::stats;
use crate::promql::value::Sample;

/// What a one-histogram statistic function computes.
pub(crate) fn statistic(name: &str) -> Option<fn(&common::histogram::FloatHistogram) -> f64> {
    Some(match name {
        "histogram_count" => |h| h.count,
        "histogram_sum" => |h| h.sum,
        "histogram_avg" => |h| h.sum / h.count,
        "histogram_stddev" => |h| stats::variance(h).sqrt(),
        "histogram_stdvar" => stats::variance,
        _ => return None,
    })
}

/// `f(histogram)` for every histogram sample; floats are dropped and the
/// metric name goes.
pub(crate) fn map_histograms(
    input: Vec<Sample>,
    f: impl Fn(&common::histogram::FloatHistogram) -> f64,
) -> Vec<Sample> {
    input
        .into_iter()
        .filter_map(|s| {
            let v = f(s.h.as_deref()?);
            Some(Sample {
                drop_name: true,
                ..Sample::new(s.labels, v)
            })
        })
        .collect()
}

/// `histogram_fraction(lower, upper, v)` over the histogram samples of `v`.
pub(crate) fn fraction(lower: f64, upper: f64, input: Vec<Sample>) -> Vec<Sample> {
    map_histograms(input, |h| stats::fraction(lower, upper, h))
}

/// `histogram_quantile(q, v)` over the histogram samples of `v`.
pub(crate) fn quantile(q: f64, input: Vec<Sample>) -> Vec<Sample> {
    map_histograms(input, |h| stats::quantile(q, h))
}
