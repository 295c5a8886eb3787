//! Exemplars of TraceQL metrics: a few spans behind each series, with their
//! trace and span IDs, so Grafana links a point to a trace. As in Tempo, a
//! query keeps at most `exemplars` of them (100 by default and at most),
//! spread over the range: at most two in each of `exemplars / 2` equal
//! slices of it; an instant query has none.

use common::traces::Span;

use super::ast::Value;
use super::eval::{TraceView, for_each_attribute, hex};
use super::metrics_eval::{Labels, Steps};

/// Most exemplars one query returns, and the default (Tempo's
/// `max_exemplars`).
pub const MAX_EXEMPLARS: usize = 100;
/// Exemplars per slice of the range.
const PER_SLICE: usize = 2;

/// A span shown as an example of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// `trace:id`, `span:id`, then the span's attributes.
    pub labels: Labels,
    /// The measured value (durations in seconds), NaN for counts.
    pub value: f64,
    /// The span's start (ms).
    pub timestamp_ms: i64,
}

impl Exemplar {
    /// An exemplar of `span` measuring `value`.
    pub(crate) fn of(span: &Span, view: &TraceView<'_>, value: f64) -> Self {
        let mut labels: Labels = vec![
            ("trace:id".into(), Value::Str(hex(&span.trace_id).into())),
            ("span:id".into(), Value::Str(hex(&span.span_id).into())),
        ];
        for_each_attribute(span, view, |name, v| labels.push((name, v)));
        Self {
            labels,
            value,
            timestamp_ms: i64::try_from(span.start_unix_nano / 1_000_000).unwrap_or(i64::MAX),
        }
    }
}

/// How many more exemplars a query may keep, per slice of its range.
#[derive(Debug)]
pub(crate) struct ExemplarBudget {
    start_ms: u64,
    end_ms: u64,
    width_ms: u64,
    slices: Vec<usize>,
    left: usize,
}

impl ExemplarBudget {
    /// A budget of `total` exemplars over `steps` (none when instant).
    pub(crate) fn new(total: usize, steps: Steps) -> Self {
        let (start_ns, end_ns) = steps.bounds();
        let (start_ms, end_ms) = (start_ns / 1_000_000, end_ns / 1_000_000);
        let slices = (total / PER_SLICE).max(1);
        Self {
            start_ms,
            end_ms,
            width_ms: ((end_ms - start_ms) / slices as u64).max(1),
            slices: vec![0; slices],
            left: if steps.is_instant() { 0 } else { total },
        }
    }

    /// Whether there is room for an exemplar at `ts_ms`; if so, takes it.
    pub(crate) fn take(&mut self, ts_ms: i64) -> bool {
        let Ok(ts) = u64::try_from(ts_ms) else {
            return false;
        };
        if self.left == 0 || ts < self.start_ms || ts > self.end_ms {
            return false;
        }
        let i = usize::try_from((ts - self.start_ms) / self.width_ms)
            .unwrap_or(usize::MAX)
            .min(self.slices.len() - 1);
        if self.slices[i] >= PER_SLICE {
            return false;
        }
        self.slices[i] += 1;
        self.left -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_spreads_exemplars_two_per_slice_up_to_the_total() {
        const S: u64 = 1_000_000_000;
        // (960s, 1110s] in 5 slices of 30s.
        let steps = Steps::new(1000 * S, 1100 * S, 30 * S, false).expect("steps");
        let mut b = ExemplarBudget::new(10, steps);
        assert!(b.take(970_000));
        assert!(b.take(980_000));
        assert!(!b.take(985_000), "third in the first slice");
        assert!(b.take(1_000_000));
        assert!(!b.take(2_000_000), "outside the range");
        for t in [
            1_030_000, 1_031_000, 1_060_000, 1_061_000, 1_090_000, 1_091_000,
        ] {
            assert!(b.take(t), "{t}");
        }
        assert!(b.take(1_001_000));
        assert!(!b.take(1_002_000), "ten taken");
        let instant = Steps::new(1000 * S, 1100 * S, 0, true).expect("steps");
        assert!(!ExemplarBudget::new(10, instant).take(1_050_000));
    }
}
