//! TraceQL metrics queries (`{ … } | rate() by(x) | topk(5)`): the syntax
//! tree and its canonical printing. Parsing is in `parser`, evaluation in
//! `metrics_eval`.

use std::fmt;

use super::ast::{FieldExpr, Query, SpansetExpr, Value};

/// A metrics query: spans selected by a TraceQL query, turned into time
/// series by one function, grouped by fields, then optionally ranked.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    /// Selects the spans that are counted or measured.
    pub query: Query,
    /// What each series measures.
    pub func: MetricsFn,
    /// `by(…)`: one series per distinct combination of these fields.
    pub by: Vec<FieldExpr>,
    /// `| topk(n)` / `| bottomk(n)` stages applied to the series.
    pub ranking: Vec<Ranking>,
    /// `with(name=value, …)` query hints (`sample`, `most_recent`, …).
    /// Cairn answers exactly, so sampling hints change nothing.
    pub hints: Vec<(String, Value<'static>)>,
}

/// Most `by(…)` fields (Tempo's limit; `quantile_over_time` and
/// `histogram_over_time` keep one of them for the bucket).
pub const MAX_GROUP_BYS: usize = 5;

/// The function a metrics query applies to the spans of each step.
#[derive(Debug, Clone)]
pub enum MetricsFn {
    /// `rate()`: spans per second.
    Rate,
    /// `count_over_time()`: spans per step.
    CountOverTime,
    /// `sum_over_time(field)`.
    SumOverTime(FieldExpr),
    /// `avg_over_time(field)`.
    AvgOverTime(FieldExpr),
    /// `min_over_time(field)`.
    MinOverTime(FieldExpr),
    /// `max_over_time(field)`.
    MaxOverTime(FieldExpr),
    /// `quantile_over_time(field, q…)`: one series per quantile, labelled `p`.
    QuantileOverTime(FieldExpr, Vec<f64>),
    /// `histogram_over_time(field)`: span counts per power-of-two bucket,
    /// labelled `__bucket`.
    HistogramOverTime(FieldExpr),
    /// `compare({ filter }, top, start, end)`: per attribute value, span
    /// counts of the selection (spans matching the filter, within the
    /// window when given) against the baseline (the other spans).
    Compare(Compare),
}

/// Most values per attribute `compare()` may return (Tempo's limit).
pub const MAX_COMPARE_TOP: usize = 1000;

/// The arguments of `compare()`.
#[derive(Debug, Clone)]
pub struct Compare {
    /// Which spans form the selection.
    pub filter: FieldExpr,
    /// Values kept per attribute, those with the most spans (default 10).
    pub top: usize,
    /// Only spans starting in `(start, end]` (ns) can be selected.
    pub window: Option<(u64, u64)>,
}

impl MetricsFn {
    /// The function's name, also the `__name__` of an ungrouped series.
    pub fn name(&self) -> &'static str {
        match self {
            MetricsFn::Rate => "rate",
            MetricsFn::CountOverTime => "count_over_time",
            MetricsFn::SumOverTime(_) => "sum_over_time",
            MetricsFn::AvgOverTime(_) => "avg_over_time",
            MetricsFn::MinOverTime(_) => "min_over_time",
            MetricsFn::MaxOverTime(_) => "max_over_time",
            MetricsFn::QuantileOverTime(..) => "quantile_over_time",
            MetricsFn::HistogramOverTime(_) => "histogram_over_time",
            MetricsFn::Compare(_) => "compare",
        }
    }

    /// The measured field, if the function takes one.
    pub fn field(&self) -> Option<&FieldExpr> {
        match self {
            MetricsFn::Rate | MetricsFn::CountOverTime | MetricsFn::Compare(_) => None,
            MetricsFn::SumOverTime(f)
            | MetricsFn::AvgOverTime(f)
            | MetricsFn::MinOverTime(f)
            | MetricsFn::MaxOverTime(f)
            | MetricsFn::QuantileOverTime(f, _)
            | MetricsFn::HistogramOverTime(f) => Some(f),
        }
    }

    /// Whether the series are split by a `__bucket` of the field's value.
    pub fn is_bucketed(&self) -> bool {
        matches!(
            self,
            MetricsFn::QuantileOverTime(..) | MetricsFn::HistogramOverTime(_)
        )
    }
}

/// A ranking stage over the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// `topk(n)`: at each step, the `n` series with the highest values.
    TopK(usize),
    /// `bottomk(n)`: at each step, the `n` series with the lowest values.
    BottomK(usize),
}

impl fmt::Display for MetricsFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsFn::QuantileOverTime(field, qs) => {
                write!(f, "{}({field}", self.name())?;
                for q in qs {
                    write!(f, ", {}", Value::Float(*q))?;
                }
                f.write_str(")")
            }
            MetricsFn::Compare(c) => {
                write!(
                    f,
                    "compare({}, {}",
                    SpansetExpr::Filter(c.filter.clone()),
                    c.top
                )?;
                if let Some((start, end)) = c.window {
                    write!(f, ", {start}, {end}")?;
                }
                f.write_str(")")
            }
            other => match other.field() {
                Some(field) => write!(f, "{}({field})", other.name()),
                None => write!(f, "{}()", other.name()),
            },
        }
    }
}

impl fmt::Display for Ranking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ranking::TopK(n) => write!(f, "topk({n})"),
            Ranking::BottomK(n) => write!(f, "bottomk({n})"),
        }
    }
}

/// Writes `items` separated by `", "`.
fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for MetricsQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} | {}", self.query, self.func)?;
        if !self.by.is_empty() {
            f.write_str(" by(")?;
            write_list(f, &self.by)?;
            f.write_str(")")?;
        }
        for r in &self.ranking {
            write!(f, " | {r}")?;
        }
        if !self.hints.is_empty() {
            f.write_str(" with(")?;
            let hints: Vec<String> = self.hints.iter().map(|(k, v)| format!("{k}={v}")).collect();
            write_list(f, &hints)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::traceql::{parse, parse_metrics};

    /// Parses `src` and prints it canonically; the print parses to itself.
    fn canonical(src: &str) -> String {
        let q = parse_metrics(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let printed = q.to_string();
        let again = parse_metrics(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(again.to_string(), printed, "round trip of {src}");
        printed
    }

    fn error(src: &str) -> String {
        parse_metrics(src)
            .err()
            .unwrap_or_else(|| panic!("{src} parsed"))
            .to_string()
    }

    #[test]
    fn every_metrics_function_parses_and_prints_back() {
        for (src, want) in [
            ("{} | rate()", "{ } | rate()"),
            (
                "{ status = error } | count_over_time() by (resource.service.name)",
                "{ status = error } | count_over_time() by(resource.service.name)",
            ),
            (
                "{} | sum_over_time(duration)",
                "{ } | sum_over_time(duration)",
            ),
            (
                "{} | avg_over_time(span.size)",
                "{ } | avg_over_time(span.size)",
            ),
            ("{} | min_over_time(.size)", "{ } | min_over_time(.size)"),
            (
                "{} | max_over_time(duration) by(name, kind)",
                "{ } | max_over_time(duration) by(name, kind)",
            ),
            (
                "{ kind = server } | quantile_over_time(duration, 0.5, 0.9,0.99) by(resource.service.name)",
                "{ kind = server } | quantile_over_time(duration, 0.5, 0.9, 0.99) by(resource.service.name)",
            ),
            (
                "{} | quantile_over_time(duration, 1)",
                "{ } | quantile_over_time(duration, 1.0)",
            ),
            (
                "{} | histogram_over_time(duration) with(sample=true)",
                "{ } | histogram_over_time(duration) with(sample=true)",
            ),
            (
                "{ .a = 1 } | rate() by (span.http.route) | topk(5)",
                "{ .a = 1 } | rate() by(span.http.route) | topk(5)",
            ),
            (
                "{} | rate() | bottomk(2) | topk(1)",
                "{ } | rate() | bottomk(2) | topk(1)",
            ),
            (
                "{ } >> { kind = client } | rate() with (sample=0.1, most_recent=true)",
                "{ } >> { kind = client } | rate() with(sample=0.1, most_recent=true)",
            ),
            (
                "{ kind=server } | compare({status = error})",
                "{ kind = server } | compare({ status = error }, 10)",
            ),
            (
                "{ } | compare({ duration >= 1s }, 5, 1700000000000000000, 1700000060000000000)",
                "{ } | compare({ duration >= 1s }, 5, 1700000000000000000, 1700000060000000000)",
            ),
            (
                "{ } | select(name) | count_over_time()",
                "{ } | select(name) | count_over_time()",
            ),
        ] {
            assert_eq!(canonical(src), want, "{src}");
        }
    }

    #[test]
    fn malformed_metrics_queries_are_refused_naming_the_problem() {
        assert!(error("{ }").contains("not a metrics query"));
        assert!(error("{ } | count() > 1").contains("not a metrics query"));
        assert!(error("{ } | rate(duration)").contains("expecting \")\""));
        assert!(error("{ } | sum_over_time()").contains("expected"));
        assert!(error("{ } | sum_over_time(1)").contains("attribute or intrinsic"));
        assert!(error("{ } | quantile_over_time(duration)").contains("at least one quantile"));
        assert!(error("{ } | quantile_over_time(duration, 1.5)").contains("between 0 and 1"));
        assert!(error("{ } | rate() | topk(0)").contains("positive integer"));
        assert!(error("{ } | rate() | count()").contains("topk(n) or bottomk(n)"));
        assert!(error("{ } | rate() by(.a, .b, .c, .d, .e, .f)").contains("group by 6 values"));
        assert!(
            error("{ } | histogram_over_time(duration) by(.a, .b, .c, .d, .e)")
                .contains("group by 5 values")
        );
        assert!(error("{ } | compare({ status = error }, 0)").contains("between 1 and 1000"));
        assert!(
            error("{ } | compare({ status = error }, 10, 5)").contains("optionally start and end")
        );
        assert!(
            error("{ } | compare({ status = error }, 10, 5, 4)").contains("greater than start")
        );
        assert!(error("{ } | compare({ status = error }) by(name)").contains("takes no by()"));
        assert!(error("{ } | rate() extra").contains("end of query"));
        assert!(error("{ } | rate() with(sample)").contains("\"=\""));
    }

    #[test]
    fn search_refuses_a_metrics_query_with_a_pointer_to_the_metrics_api() {
        let e = parse("{ } | rate()")
            .expect_err("metrics in search")
            .to_string();
        assert!(e.contains("/api/metrics/query_range"), "{e}");
        assert!(e.contains("err-cairn-traceql-metrics-in-search"), "{e}");
    }
}
