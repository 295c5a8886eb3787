//! The `histogram_*` functions over native histogram samples:
//! `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev`,
//! `histogram_stdvar` over native histogram samples (floats are ignored, as
//! in Prometheus), and `histogram_fraction`, `histogram_quantile` and
//! `histogram_quantiles` over native and classic histograms alike.

use common::histogram::FloatHistogram;
use promql_parser::parser::Expr;

use super::{classic, stats};
use crate::promql::QueryError;
use crate::promql::annotations::Annotation;
use crate::promql::eval::Evaluator;
use crate::promql::format::go_float;
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

/// `histogram_fraction(lower, upper, v)`: native histograms each, classic
/// ones per `le` group.
pub(crate) fn fraction(
    ev: &Evaluator<'_>,
    lower: f64,
    upper: f64,
    input: Vec<Sample>,
) -> Vec<Sample> {
    let (native, classic): (Vec<Sample>, Vec<Sample>) =
        input.into_iter().partition(|s| !s.is_float());
    annotate_nan_observations(ev, &native, |metric, _| {
        Annotation::nan_observations_excluded_from_fraction(metric)
    });
    let native = map_histograms(native, |h| stats::fraction(lower, upper, h));
    without_collisions(ev, native, classic::fraction(ev, lower, upper, classic))
}

/// Raises `annotation(metric, h)` for every histogram that holds NaN
/// observations (its sum is NaN).
fn annotate_nan_observations(
    ev: &Evaluator<'_>,
    native: &[Sample],
    annotation: impl Fn(&str, &FloatHistogram) -> Annotation,
) {
    for s in native {
        if let Some(h) = s.h.as_deref().filter(|h| h.sum.is_nan()) {
            ev.annotate(annotation(s.labels.metric_name().unwrap_or_default(), h));
        }
    }
}

/// Native and classic results together, except that a native and a
/// classic histogram with the same labels both go, with a warning.
fn without_collisions(
    ev: &Evaluator<'_>,
    mut native: Vec<Sample>,
    mut classic: Vec<Sample>,
) -> Vec<Sample> {
    let clashing: Vec<_> = native
        .iter()
        .map(Sample::final_labels)
        .filter(|l| classic.iter().any(|c| c.final_labels() == *l))
        .collect();
    if !clashing.is_empty() {
        for s in native
            .iter()
            .filter(|s| clashing.contains(&s.final_labels()))
        {
            let metric = s.labels.metric_name().unwrap_or_default();
            ev.annotate(Annotation::mixed_classic_native_histograms(metric));
        }
        native.retain(|s| !clashing.contains(&s.final_labels()));
        classic.retain(|s| !clashing.contains(&s.final_labels()));
    }
    native.extend(classic);
    native
}

/// `histogram_quantile(q, v)`: native histograms each, classic ones per
/// `le` group.
pub(crate) fn quantile(ev: &Evaluator<'_>, q: f64, input: Vec<Sample>) -> Vec<Sample> {
    let (native, classic): (Vec<Sample>, Vec<Sample>) =
        input.into_iter().partition(|s| !s.is_float());
    annotate_nan_observations(ev, &native, |metric, h| {
        Annotation::nan_observations_in_quantile(metric, stats::quantile(q, h).is_nan())
    });
    let native = map_histograms(native, |h| stats::quantile(q, h));
    without_collisions(ev, native, classic::quantile(ev, q, classic))
}

/// `histogram_quantiles(v, "label", q1, q2, …)`: `histogram_quantile` for
/// every `q`, each result labelled `label="q"`.
pub(crate) fn quantiles(
    ev: &Evaluator<'_>,
    args: &[&Expr],
    t: i64,
) -> Result<Vec<Sample>, QueryError> {
    let (Some(vector), Some(Expr::StringLiteral(label))) = (args.first(), args.get(1)) else {
        return Err(QueryError::exec(
            "histogram_quantiles needs a vector, a label name and quantiles",
        ));
    };
    let label = &label.val;
    let input = ev.eval_vector(vector, t)?;
    if let Some(s) = input.iter().find(|s| s.labels.get(label).is_some()) {
        return Err(QueryError::exec(format!(
            "label {label:?} already exists on input series {}",
            s.labels
        )));
    }
    let mut out = Vec::new();
    for q in &args[2..] {
        let q = ev.eval_scalar(q, t)?;
        if !(0.0..=1.0).contains(&q) {
            ev.annotate(Annotation::quantile_out_of_range(q));
        }
        for mut s in quantile(ev, q, input.clone()) {
            s.labels.set(label, &quantile_label(q));
            out.push(s);
        }
    }
    Ok(out)
}

/// A quantile as a label value: Go's shortest float, with `.0` on integers.
fn quantile_label(q: f64) -> String {
    let s = go_float(q);
    if q.is_finite() && !s.contains(['.', 'e']) {
        format!("{s}.0")
    } else {
        s
    }
}
