//! `compare({ filter }, top, start, end)`: for every attribute of the
//! spans (span and resource attributes, `name`, `status`, `kind`,
//! `statusMessage`), span counts per value and step, split into the
//! selection (spans the filter matches, within the window when given) and
//! the baseline (all other spans), as Traces Drilldown's comparison tab
//! reads them: series labelled `__meta_type` = `baseline` / `selection`
//! with the attribute and its value (the `top` values with the most spans),
//! and `baseline_total` / `selection_total` with the attribute set to nil.

use std::collections::{BTreeMap, HashMap};

use common::traces::Span;

use super::ast::Value;
use super::eval::{TraceView, for_each_attribute, matches_span};
use super::metrics::Compare;
use super::metrics_eval::{Dense, Steps};

/// Distinct values tracked per attribute and side; spans with values past
/// it still count in the attribute's total. Bounds the memory of an
/// attribute holding IDs.
const MAX_TRACKED_VALUES: usize = 2 * super::metrics::MAX_COMPARE_TOP;
/// Distinct attributes tracked per side.
const MAX_TRACKED_ATTRIBUTES: usize = 1000;

/// Span counts per step, only the steps with spans.
type Counts = BTreeMap<usize, f64>;

/// One side's counts: per attribute, per value and in total.
#[derive(Default)]
struct Side {
    values: HashMap<String, HashMap<String, (Value<'static>, Counts)>>,
    totals: HashMap<String, Counts>,
}

impl Side {
    fn count(&mut self, attr: String, value: Value<'static>, step: usize) {
        if !self.totals.contains_key(&attr) && self.totals.len() >= MAX_TRACKED_ATTRIBUTES {
            return;
        }
        *self
            .totals
            .entry(attr.clone())
            .or_default()
            .entry(step)
            .or_default() += 1.0;
        let values = self.values.entry(attr).or_default();
        let key = value.to_string();
        if !values.contains_key(&key) && values.len() >= MAX_TRACKED_VALUES {
            return;
        }
        *values
            .entry(key)
            .or_insert_with(|| (value, Counts::new()))
            .1
            .entry(step)
            .or_default() += 1.0;
    }

    /// The side's series: the `top` values of each attribute, then totals.
    fn series(self, kind: &str, top: usize, steps: Steps, out: &mut Vec<Dense>) {
        let meta = |suffix: &str| {
            (
                "__meta_type".to_string(),
                Value::Str(format!("{kind}{suffix}").into()),
            )
        };
        let dense = |counts: &Counts| {
            let mut v = vec![0.0; steps.count()];
            for (&i, &c) in counts {
                if let Some(slot) = v.get_mut(i) {
                    *slot = c;
                }
            }
            v
        };
        for (attr, values) in self.values {
            let mut ranked: Vec<(String, (Value<'static>, Counts))> = values.into_iter().collect();
            let total = |c: &Counts| c.values().sum::<f64>();
            ranked.sort_by(|(ka, (_, a)), (kb, (_, b))| {
                total(b).total_cmp(&total(a)).then(ka.cmp(kb))
            });
            for (_, (value, counts)) in ranked.into_iter().take(top) {
                out.push(Dense::new(
                    vec![meta(""), (attr.clone(), value)],
                    dense(&counts),
                ));
            }
        }
        for (attr, counts) in self.totals {
            out.push(Dense::new(
                vec![meta("_total"), (attr, Value::Nil)],
                dense(&counts),
            ));
        }
    }
}

/// `compare()` counts being built for one request.
pub(crate) struct Comparison<'q> {
    spec: &'q Compare,
    steps: Steps,
    baseline: Side,
    selection: Side,
}

impl<'q> Comparison<'q> {
    /// Empty counts for `spec` over `steps`.
    pub(crate) fn new(spec: &'q Compare, steps: Steps) -> Self {
        Self {
            spec,
            steps,
            baseline: Side::default(),
            selection: Side::default(),
        }
    }

    /// Counts every attribute value of `span` (starting in `step`) on the
    /// side it belongs to.
    pub(crate) fn observe(&mut self, span: &Span, view: &TraceView<'_>, step: usize) {
        let in_window = self
            .spec
            .window
            .is_none_or(|(start, end)| span.start_unix_nano > start && span.start_unix_nano <= end);
        let side = if in_window && matches_span(&self.spec.filter, span, Some(view)) {
            &mut self.selection
        } else {
            &mut self.baseline
        };
        for_each_attribute(span, view, |attr, value| side.count(attr, value, step));
    }

    /// Baseline and selection series with their totals.
    pub(crate) fn finish(self) -> Vec<Dense> {
        let mut out = Vec::new();
        let top = self.spec.top;
        self.baseline.series("baseline", top, self.steps, &mut out);
        self.selection
            .series("selection", top, self.steps, &mut out);
        out
    }
}
