//! One tenant's metric metadata, in memory: the latest type, help and unit
//! of each metric family (Mimir keeps it in ingesters the same way), bounded
//! in the number of families.

use std::collections::BTreeMap;

use common::metadata::MetricMetadata;

/// A tenant's metadata by family name.
#[derive(Debug)]
pub(crate) struct MetadataStore {
    max_families: usize,
    by_family: BTreeMap<String, MetricMetadata>,
}

/// What became of a batch of metadata.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct MetadataOutcome {
    /// Entries stored (new families or updates).
    pub kept: usize,
    /// Entries for new families refused because the tenant is at its bound.
    pub refused: usize,
}

impl MetadataStore {
    pub(crate) fn new(max_families: usize) -> Self {
        Self {
            max_families,
            by_family: BTreeMap::new(),
        }
    }

    /// Stores `batch`; a later entry for a family replaces the earlier one.
    pub(crate) fn add(&mut self, batch: Vec<MetricMetadata>) -> MetadataOutcome {
        let mut outcome = MetadataOutcome::default();
        for m in batch {
            if let Some(existing) = self.by_family.get_mut(&m.family) {
                *existing = m;
            } else if self.by_family.len() < self.max_families {
                self.by_family.insert(m.family.clone(), m);
            } else {
                outcome.refused += 1;
                continue;
            }
            outcome.kept += 1;
        }
        outcome
    }

    /// The metadata of `metric`, or of every family, sorted by family.
    pub(crate) fn get(&self, metric: Option<&str>) -> Vec<MetricMetadata> {
        match metric {
            Some(name) => self.by_family.get(name).cloned().into_iter().collect(),
            None => self.by_family.values().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::metadata::MetricType;

    fn meta(family: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            family: family.into(),
            metric_type: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn latest_per_family_wins() {
        let mut s = MetadataStore::new(10);
        s.add(vec![meta("a", "old"), meta("b", "b")]);
        s.add(vec![meta("a", "new")]);
        assert_eq!(s.get(None), vec![meta("a", "new"), meta("b", "b")]);
        assert_eq!(s.get(Some("a")), vec![meta("a", "new")]);
        assert!(s.get(Some("zzz")).is_empty());
    }

    #[test]
    fn new_families_past_the_bound_are_refused_but_updates_are_not() {
        let mut s = MetadataStore::new(1);
        assert_eq!(
            s.add(vec![meta("a", "1"), meta("b", "1"), meta("a", "2")]),
            MetadataOutcome {
                kept: 2,
                refused: 1
            }
        );
        assert_eq!(s.get(None), vec![meta("a", "2")]);
    }
}
