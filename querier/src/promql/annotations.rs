//! Annotations: the warnings and infos Prometheus returns beside a query's
//! result (`"warnings"`, `"infos"` in the API) when the answer may not mean
//! what the user thinks — a `rate` over something that is not a counter, a
//! quantile outside [0, 1], a `sort` in a range query. Texts are
//! Prometheus's own, without the `(line:col)` position suffix.

use super::format::go_float;
use super::histogram::arith::Incompatible;

/// The annotations of one query, deduplicated, in the order first raised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `PromQL warning: …` texts: the result may be wrong.
    pub warnings: Vec<String>,
    /// `PromQL info: …` texts: the result may be surprising.
    pub infos: Vec<String>,
}

impl Annotations {
    /// Records `a` unless an equal text is already there.
    pub(crate) fn add(&mut self, a: Annotation) {
        let (list, text) = match a {
            Annotation::Warning(t) => (&mut self.warnings, format!("PromQL warning: {t}")),
            Annotation::Info(t) => (&mut self.infos, format!("PromQL info: {t}")),
        };
        if !list.contains(&text) {
            list.push(text);
        }
    }

    /// Adds `other`'s texts that are not already here (merging the parts of
    /// a split query).
    pub(crate) fn merge(&mut self, other: &Annotations) {
        for (mine, theirs) in [
            (&mut self.warnings, &other.warnings),
            (&mut self.infos, &other.infos),
        ] {
            for text in theirs {
                if !mine.contains(text) {
                    mine.push(text.clone());
                }
            }
        }
    }

    /// True when there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.infos.is_empty()
    }
}

/// One annotation being raised: its kind and its text without the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Annotation {
    Warning(String),
    Info(String),
}

impl Annotation {
    /// `rate`/`increase` over a metric whose name does not say "counter".
    pub(crate) fn possible_non_counter(metric: &str) -> Self {
        Self::Info(format!(
            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
        ))
    }

    /// `sum`/`avg` over a group holding both floats and histograms.
    pub(crate) fn mixed_floats_histograms_aggregation() -> Self {
        Self::Warning("encountered a mix of histograms and floats for aggregation".into())
    }

    /// An aggregation that only works on floats met a histogram.
    pub(crate) fn histogram_ignored_in_aggregation(op: &str) -> Self {
        Self::Info(format!("ignored histogram in {op} aggregation"))
    }

    /// Two histograms that cannot be combined.
    pub(crate) fn incompatible_histograms(e: Incompatible, metric: &str) -> Self {
        match e {
            Incompatible::MixedSchemas => Self::Warning(format!(
                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric:?}"
            )),
        }
    }

    /// Custom-bucket histograms with different bounds were combined by
    /// `during` (an operation) at their common bounds.
    pub(crate) fn custom_buckets_reconciled(during: &str) -> Self {
        Self::Info(format!(
            "mismatched custom buckets were reconciled during {during}"
        ))
    }

    /// A binary operator between sample types it does not combine.
    pub(crate) fn incompatible_sample_types(lhs: &str, op: &str, rhs: &str) -> Self {
        Self::Info(format!(
            "incompatible sample types encountered for binary operator {op:?}: {lhs} {op} {rhs}"
        ))
    }

    /// A range function met floats and histograms in one series.
    pub(crate) fn mixed_floats_histograms(metric: &str) -> Self {
        Self::Warning(format!(
            "encountered a mix of histograms and floats for metric name {metric:?}"
        ))
    }

    /// A float-only range function skipped the histograms of a mixed range.
    pub(crate) fn histograms_ignored_in_mixed_range(metric: &str) -> Self {
        Self::Info(format!(
            "ignored histograms in a range containing both floats and histograms for metric name {metric:?}"
        ))
    }

    /// A counter function over a gauge histogram.
    pub(crate) fn native_histogram_not_counter(metric: &str) -> Self {
        Self::Warning(format!(
            "this native histogram metric is not a counter: {metric:?}"
        ))
    }

    /// A gauge function over a counter histogram.
    pub(crate) fn native_histogram_not_gauge(metric: &str) -> Self {
        Self::Warning(format!(
            "this native histogram metric is not a gauge: {metric:?}"
        ))
    }

    /// A `limit_ratio` parameter outside [-1, 1], capped to `capped`.
    pub(crate) fn ratio_out_of_range(r: f64, capped: f64) -> Self {
        Self::Warning(format!(
            "ratio value should be between -1 and 1, got {}, capping to {}",
            go_float(r),
            go_float(capped)
        ))
    }

    /// `histogram_quantile`/`histogram_fraction` found a classic and a
    /// native histogram with the same labels.
    pub(crate) fn mixed_classic_native_histograms(metric: &str) -> Self {
        Self::Warning(format!(
            "vector contains a mix of classic and native histograms for metric name {metric:?}"
        ))
    }

    /// `histogram_quantile` over a histogram with NaN observations.
    pub(crate) fn nan_observations_in_quantile(metric: &str, result_is_nan: bool) -> Self {
        let effect = if result_is_nan {
            "result is NaN"
        } else {
            "result is skewed higher"
        };
        Self::Info(format!(
            "input to histogram_quantile has NaN observations, {effect} for metric name {metric:?}"
        ))
    }

    /// `histogram_fraction` over a histogram with NaN observations.
    pub(crate) fn nan_observations_excluded_from_fraction(metric: &str) -> Self {
        Self::Info(format!(
            "input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name {metric:?}"
        ))
    }

    /// Summed histograms disagree on whether a counter reset happened.
    pub(crate) fn conflicting_counter_resets() -> Self {
        Self::Warning("conflicting counter resets during histogram aggregation".into())
    }

    /// A quantile parameter outside [0, 1].
    pub(crate) fn quantile_out_of_range(q: f64) -> Self {
        Self::Warning(format!(
            "quantile value should be between 0 and 1, got {}",
            go_float(q)
        ))
    }

    /// `sort*` in a range query, whose result is always ordered by labels.
    pub(crate) fn sort_in_range_query() -> Self {
        Self::Warning(
            "sort is ineffective for range queries since results are always ordered by labels"
                .into(),
        )
    }

    /// A classic histogram bucket whose `le` label is missing or not a number.
    pub(crate) fn bad_bucket_label(value: &str, metric: &str) -> Self {
        Self::Warning(format!(
            "bucket label \"le\" is missing or has a malformed value of {value:?} for metric name {metric:?}"
        ))
    }

    /// Classic buckets whose counts were not monotonic and were fixed up.
    pub(crate) fn histogram_quantile_forced_monotonicity(metric: &str) -> Self {
        Self::Info(format!(
            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {metric:?}"
        ))
    }
}

/// True when a metric name says it is a counter (or a counter-like part of
/// a classic histogram or summary).
pub(crate) fn looks_like_counter(metric: &str) -> bool {
    ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|s| metric.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_reported_once() {
        let mut a = Annotations::default();
        a.add(Annotation::quantile_out_of_range(2.0));
        a.add(Annotation::quantile_out_of_range(2.0));
        a.add(Annotation::possible_non_counter("m"));
        assert_eq!(
            a.warnings,
            vec!["PromQL warning: quantile value should be between 0 and 1, got 2"]
        );
        assert_eq!(a.infos.len(), 1);
    }
}
