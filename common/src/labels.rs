//! Label sets: the identity of a series (and, later, of a log stream).
//!
//! A [`Labels`] is kept sorted by name with unique names, so two equal sets
//! compare, hash and serialise identically wherever they were built.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The label that carries a metric's name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    /// Label name, e.g. `job`.
    pub name: String,
    /// Label value, e.g. `node`.
    pub value: String,
}

impl Label {
    /// Builds a label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A set of labels sorted by name, names unique.
///
/// Shared behind an `Arc`: query evaluation hands the same label set to many
/// steps and results, so cloning must be a reference-count increment, not a
/// copy of every string. Mutation copies on write.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Labels(Arc<Vec<Label>>);

impl Labels {
    /// Sorts `labels` by name; of duplicate names the last one wins.
    /// Empty values are dropped: in Prometheus an empty value means "absent".
    pub fn new(mut labels: Vec<Label>) -> Self {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(labels.len());
        for l in labels {
            match out.last_mut() {
                Some(last) if last.name == l.name => *last = l,
                _ => out.push(l),
            }
        }
        Self(Arc::new(out))
    }

    /// Builds from `(name, value)` pairs; handy in tests and examples.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Self::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
    }

    /// Wraps labels the caller guarantees are already sorted and unique
    /// (e.g. decoded from a block index written by [`Labels`]).
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Self(Arc::new(labels))
    }

    /// An identity of this label set's shared storage: the same for all
    /// clones of one set, so a cache can recognise a set it has seen
    /// without comparing strings. Only meaningful while a clone is alive
    /// (a cache keyed by it must keep one).
    pub fn storage_id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The labels as a slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Consumes the set, returning its labels in name order.
    pub fn into_vec(self) -> Vec<Label> {
        Arc::unwrap_or_clone(self.0)
    }

    /// Sets `name` to `value` (removing it when `value` is empty).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                Arc::make_mut(&mut self.0).remove(i);
            }
            Ok(i) => Arc::make_mut(&mut self.0)[i].value = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.0).insert(i, Label::new(name, value)),
        }
    }

    /// Removes label `name` if present.
    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    /// A stable 64-bit hash of the set (xxh3 over names and values), used to
    /// shard series and to key maps without re-hashing strings.
    pub fn stable_hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for l in self.0.iter() {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prometheus text form: `name{a="1", b="2"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sorts_dedupes_and_drops_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l, Labels::from_pairs([("a", "1"), ("b", "3")]));
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn set_and_remove_keep_order() {
        let mut l = Labels::from_pairs([("a", "1"), ("c", "3")]);
        l.set("b", "2");
        l.remove("a");
        assert_eq!(l, Labels::from_pairs([("b", "2"), ("c", "3")]));
    }

    #[test]
    fn display_is_prometheus_text_form() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        assert_eq!(l.to_string(), "up{job=\"x\"}");
    }
}
