//! One tenant's exemplars, in memory: a bounded circular buffer per series,
//! with Prometheus's exemplar-storage semantics. An exemplar identical to
//! its series' newest is a duplicate and dropped; one not newer than the
//! newest is out of order and dropped; a full buffer overwrites its oldest.
//!
//! The number of series with exemplars is bounded too: a new series past the
//! bound evicts the series that got its first exemplar longest ago.

use std::collections::{HashMap, VecDeque};

use common::exemplar::{Exemplar, SeriesExemplars};
use common::labels::Labels;
use common::push::ExemplarOutcome;
use common::series::{Matcher, matches_all};

/// Bounds of an [`ExemplarStore`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExemplarBounds {
    /// Exemplars kept per series (the circular buffer's size).
    pub per_series: usize,
    /// Series with exemplars kept per tenant.
    pub series: usize,
}

/// A tenant's exemplars by series.
#[derive(Debug)]
pub(crate) struct ExemplarStore {
    bounds: ExemplarBounds,
    by_series: HashMap<Labels, VecDeque<Exemplar>>,
    /// Series in the order they were first stored, for eviction.
    order: VecDeque<Labels>,
}

impl ExemplarStore {
    pub(crate) fn new(bounds: ExemplarBounds) -> Self {
        Self {
            bounds,
            by_series: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Adds exemplars (oldest first per series), returning the tally and
    /// the exemplars stored (WAL replay: they are logged already).
    pub(crate) fn add(
        &mut self,
        batch: Vec<SeriesExemplars>,
    ) -> (ExemplarOutcome, Vec<SeriesExemplars>) {
        let (outcome, stored) = self.plan(batch);
        self.commit(&stored);
        (outcome, stored)
    }

    /// Which exemplars of `batch` (oldest first per series) the store would
    /// keep, and the tally, without changing it: the ingester logs them to
    /// the WAL first and [`commit`](Self::commit)s only what was logged, so a
    /// refused write leaves nothing behind that a retry would take for a
    /// duplicate.
    pub(crate) fn plan(
        &self,
        batch: Vec<SeriesExemplars>,
    ) -> (ExemplarOutcome, Vec<SeriesExemplars>) {
        let mut outcome = ExemplarOutcome::default();
        let mut stored: Vec<SeriesExemplars> = Vec::new();
        if self.bounds.per_series == 0 || self.bounds.series == 0 {
            return (outcome, stored);
        }
        // The newest exemplar per series, counting what this batch keeps.
        let mut newest: HashMap<Labels, Exemplar> = HashMap::new();
        for SeriesExemplars { series, exemplars } in batch {
            let mut kept = Vec::new();
            for e in exemplars {
                let back = newest
                    .get(&series)
                    .or_else(|| self.by_series.get(&series).and_then(VecDeque::back));
                match back {
                    Some(b) if b.same_as(&e) => outcome.duplicates += 1,
                    Some(b) if e.timestamp <= b.timestamp => outcome.out_of_order += 1,
                    _ => {
                        newest.insert(series.clone(), e.clone());
                        kept.push(e);
                    }
                }
            }
            outcome.accepted += kept.len();
            if !kept.is_empty() {
                stored.push(SeriesExemplars {
                    series,
                    exemplars: kept,
                });
            }
        }
        (outcome, stored)
    }

    /// Stores exemplars a [`plan`](Self::plan) kept: a full buffer drops
    /// its oldest, a new series past the bound evicts the oldest series.
    pub(crate) fn commit(&mut self, stored: &[SeriesExemplars]) {
        for SeriesExemplars { series, exemplars } in stored {
            if !self.by_series.contains_key(series) {
                while self.order.len() >= self.bounds.series {
                    if let Some(old) = self.order.pop_front() {
                        self.by_series.remove(&old);
                    }
                }
                self.order.push_back(series.clone());
            }
            let ring = self.by_series.entry(series.clone()).or_default();
            for e in exemplars {
                if ring.len() >= self.bounds.per_series {
                    ring.pop_front();
                }
                ring.push_back(e.clone());
            }
        }
    }

    /// Exemplars in `[start, end]` of the series matching any selector,
    /// sorted by series; series without exemplars in range are left out.
    pub(crate) fn query(
        &self,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Vec<SeriesExemplars> {
        let mut out: Vec<SeriesExemplars> = self
            .by_series
            .iter()
            .filter(|(labels, _)| selectors.iter().any(|s| matches_all(labels, s)))
            .filter_map(|(labels, ring)| {
                let exemplars: Vec<Exemplar> = ring
                    .iter()
                    .filter(|e| e.timestamp >= start && e.timestamp <= end)
                    .cloned()
                    .collect();
                (!exemplars.is_empty()).then(|| SeriesExemplars {
                    series: labels.clone(),
                    exemplars,
                })
            })
            .collect();
        out.sort_by(|a, b| a.series.cmp(&b.series));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::series::MatchOp;

    fn ex(trace: &str, v: f64, t: i64) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs([("trace_id", trace)]),
            value: v,
            timestamp: t,
        }
    }

    fn series(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)])
    }

    fn store(per_series: usize, series: usize) -> ExemplarStore {
        ExemplarStore::new(ExemplarBounds { per_series, series })
    }

    fn all() -> Vec<Vec<Matcher>> {
        vec![vec![Matcher::new(MatchOp::Equal, "__name__", "a")]]
    }

    #[test]
    fn duplicates_and_out_of_order_are_dropped() {
        let mut s = store(10, 10);
        let (o, stored) = s.add(vec![SeriesExemplars {
            series: series("a"),
            exemplars: vec![
                ex("1", 1.0, 10),
                ex("1", 1.0, 10),
                ex("2", 2.0, 5),
                ex("3", 3.0, 10),
            ],
        }]);
        assert_eq!(
            o,
            ExemplarOutcome {
                accepted: 1,
                duplicates: 1,
                out_of_order: 2,
            }
        );
        assert_eq!(stored[0].exemplars, vec![ex("1", 1.0, 10)]);
        assert_eq!(s.query(&all(), 0, 100)[0].exemplars, vec![ex("1", 1.0, 10)]);
    }

    #[test]
    fn a_plan_changes_nothing_until_committed() {
        let mut s = store(10, 10);
        let batch = || {
            vec![
                SeriesExemplars {
                    series: series("a"),
                    exemplars: vec![ex("1", 1.0, 10)],
                },
                // The same series again in one batch: judged against what
                // the batch already keeps.
                SeriesExemplars {
                    series: series("a"),
                    exemplars: vec![ex("1", 1.0, 10), ex("2", 2.0, 20)],
                },
            ]
        };
        let (o, planned) = s.plan(batch());
        assert_eq!((o.accepted, o.duplicates), (2, 1));
        assert!(s.query(&all(), 0, 100).is_empty(), "a plan stores nothing");
        // A WAL write that failed commits nothing: the retry is new again.
        let (retry, stored) = s.plan(batch());
        assert_eq!(retry, o);
        s.commit(&stored);
        assert_eq!(stored, planned);
        assert_eq!(
            s.query(&all(), 0, 100)[0].exemplars,
            vec![ex("1", 1.0, 10), ex("2", 2.0, 20)]
        );
        assert_eq!(s.plan(batch()).0.accepted, 0);
    }

    #[test]
    fn full_buffer_overwrites_its_oldest() {
        let mut s = store(2, 10);
        let exemplars = (1..=3).map(|t| ex("x", t as f64, t)).collect();
        s.add(vec![SeriesExemplars {
            series: series("a"),
            exemplars,
        }]);
        let got = s.query(&all(), 0, 100);
        assert_eq!(got[0].exemplars, vec![ex("x", 2.0, 2), ex("x", 3.0, 3)]);
        assert!(s.query(&all(), 0, 2)[0].exemplars.len() == 1);
    }

    #[test]
    fn series_bound_evicts_the_longest_held_series() {
        let mut s = store(2, 1);
        for name in ["a", "b"] {
            s.add(vec![SeriesExemplars {
                series: series(name),
                exemplars: vec![ex("x", 1.0, 1)],
            }]);
        }
        assert!(s.query(&all(), 0, 100).is_empty());
        let b = vec![vec![Matcher::new(MatchOp::Equal, "__name__", "b")]];
        assert_eq!(s.query(&b, 0, 100).len(), 1);
    }
}
