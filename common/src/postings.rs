//! The in-memory inverted index from label pairs to series IDs.
//!
//! Both the ingester head and a block reader answer "which series match these
//! label matchers?" the same way, so the index and the PromQL matcher
//! semantics live here once. Series are identified by dense `u32` IDs chosen
//! by the owner (head series refs, or a block's series ordinals); each
//! `name="value"` pair maps to a [`RoaringBitmap`] of the IDs carrying it.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use roaring::RoaringBitmap;

use crate::labels::Labels;
use crate::series::{MatchOp, Matcher};

/// Label name → label value → IDs of the series with that pair, plus the set
/// of all IDs.
///
/// ```
/// use cairn_common::labels::Labels;
/// use cairn_common::postings::MemPostings;
/// use cairn_common::series::{MatchOp, Matcher};
///
/// let mut p = MemPostings::new();
/// p.add(1, &Labels::from_pairs([("job", "api"), ("env", "prod")]));
/// p.add(2, &Labels::from_pairs([("job", "db")]));
/// // `env=""` also selects series without an `env` label.
/// let ids = p.select(&[Matcher::new(MatchOp::Equal, "env", "")]);
/// assert_eq!(ids.iter().collect::<Vec<_>>(), vec![2]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemPostings {
    by_name: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl MemPostings {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Indexes series `id` under each of its labels. Adding an ID twice with
    /// the same labels is harmless.
    pub fn add(&mut self, id: u32, labels: &Labels) {
        for l in labels {
            if l.value.is_empty() {
                continue;
            }
            self.by_name
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .insert(id);
        }
        self.all.insert(id);
    }

    /// Removes series `id`, which was added with `labels`. Pairs left with no
    /// series disappear from [`label_names`](Self::label_names) and
    /// [`label_values`](Self::label_values).
    pub fn remove(&mut self, id: u32, labels: &Labels) {
        for l in labels {
            let Some(values) = self.by_name.get_mut(&l.name) else {
                continue;
            };
            if let Some(ids) = values.get_mut(&l.value) {
                ids.remove(id);
                if ids.is_empty() {
                    values.remove(&l.value);
                }
            }
            if values.is_empty() {
                self.by_name.remove(&l.name);
            }
        }
        self.all.remove(id);
    }

    /// IDs of the series matching every matcher, with PromQL semantics: a
    /// matcher that matches the empty string also matches series lacking the
    /// label. No matchers select every series.
    ///
    /// Matchers that need the label to be present are intersected first;
    /// the others are then applied by subtracting the series they exclude.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let (positive, negative): (Vec<&Matcher>, Vec<&Matcher>) =
            matchers.iter().partition(|m| !m.is_match(""));
        let mut result: Option<RoaringBitmap> = None;
        for m in positive {
            let ids = self.matching(m);
            let next = match result {
                None => ids,
                Some(acc) => acc & ids,
            };
            if next.is_empty() {
                return next;
            }
            result = Some(next);
        }
        let mut result = result.unwrap_or_else(|| self.all.clone());
        for m in negative {
            // `m` matches "", so the series it rejects are exactly those that
            // carry the label with a value `m` does not match.
            result -= self.excluded(m);
            if result.is_empty() {
                break;
            }
        }
        result
    }

    /// All label names in use, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// All values of label `name` in use, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.by_name
            .get(name)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of series indexed.
    pub fn len(&self) -> usize {
        self.all.len() as usize
    }

    /// True when no series is indexed.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Values of label `name` with their series IDs, sorted by value.
    pub(crate) fn values(&self, name: &str) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
        self.by_name
            .get(name)
            .into_iter()
            .flat_map(|values| values.iter().map(|(v, ids)| (v.as_str(), ids)))
    }

    /// Sets the series of one pair wholesale (a block index load); `ids` are
    /// also added to the set of all series.
    pub(crate) fn insert_postings(&mut self, name: String, value: String, ids: RoaringBitmap) {
        if value.is_empty() || ids.is_empty() {
            return;
        }
        self.all |= &ids;
        *self
            .by_name
            .entry(name)
            .or_default()
            .entry(value)
            .or_default() |= ids;
    }

    /// Registers a range of IDs as series even if they carry no label (a
    /// block index load, where every ordinal is a series).
    pub(crate) fn insert_id_range(&mut self, ids: RangeInclusive<u32>) {
        self.all.insert_range(ids);
    }

    /// Union of the series whose `m.name` value matches `m` (for matchers
    /// that do not match "", i.e. need the label present).
    fn matching(&self, m: &Matcher) -> RoaringBitmap {
        let Some(values) = self.by_name.get(&m.name) else {
            return RoaringBitmap::new();
        };
        if m.op == MatchOp::Equal {
            return values.get(&m.value).cloned().unwrap_or_default();
        }
        let mut out = RoaringBitmap::new();
        for (v, ids) in values {
            if m.is_match(v) {
                out |= ids;
            }
        }
        out
    }

    /// Union of the series that carry label `m.name` with a value `m`
    /// rejects (for matchers that match "").
    fn excluded(&self, m: &Matcher) -> RoaringBitmap {
        let Some(values) = self.by_name.get(&m.name) else {
            return RoaringBitmap::new();
        };
        if m.op == MatchOp::NotEqual {
            return values.get(&m.value).cloned().unwrap_or_default();
        }
        let mut out = RoaringBitmap::new();
        for (v, ids) in values {
            if !m.is_match(v) {
                out |= ids;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::matches_all;
    use regex::Regex;

    fn re(op: fn(Regex) -> MatchOp, name: &str, pattern: &str) -> Matcher {
        let regex = Regex::new(&format!("^(?:{pattern})$")).unwrap();
        Matcher::new(op(regex), name, pattern)
    }

    fn eq(name: &str, value: &str) -> Matcher {
        Matcher::new(MatchOp::Equal, name, value)
    }

    fn ne(name: &str, value: &str) -> Matcher {
        Matcher::new(MatchOp::NotEqual, name, value)
    }

    fn corpus() -> Vec<Labels> {
        vec![
            Labels::from_pairs([("__name__", "up"), ("job", "api"), ("env", "prod")]),
            Labels::from_pairs([("__name__", "up"), ("job", "api"), ("env", "dev")]),
            Labels::from_pairs([("__name__", "up"), ("job", "db")]),
            Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ]),
            Labels::from_pairs([
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "500"),
            ]),
            Labels::from_pairs([("__name__", "go_goroutines"), ("instance", "a:9090")]),
        ]
    }

    fn index() -> MemPostings {
        let mut p = MemPostings::new();
        for (i, l) in corpus().iter().enumerate() {
            p.add(i as u32, l);
        }
        p
    }

    fn ids(b: RoaringBitmap) -> Vec<u32> {
        b.iter().collect()
    }

    /// The brute-force answer: check each series against each matcher.
    fn expected(matchers: &[Matcher]) -> Vec<u32> {
        corpus()
            .iter()
            .enumerate()
            .filter(|(_, l)| matches_all(l, matchers))
            .map(|(i, _)| i as u32)
            .collect()
    }

    #[test]
    fn no_matchers_select_everything() {
        assert_eq!(ids(index().select(&[])), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn each_matcher_kind_agrees_with_brute_force() {
        let p = index();
        let cases: Vec<Vec<Matcher>> = vec![
            vec![eq("__name__", "up")],
            vec![eq("__name__", "up"), eq("job", "api")],
            vec![eq("__name__", "up"), ne("env", "prod")],
            vec![ne("job", "api")],
            vec![eq("env", "")],
            vec![ne("env", "")],
            vec![re(MatchOp::Re, "job", "a.*")],
            vec![re(MatchOp::Re, "env", ".+")],
            vec![re(MatchOp::Re, "env", ".*")],
            vec![re(MatchOp::Re, "env", "prod|")],
            vec![re(MatchOp::NotRe, "code", "5..")],
            vec![re(MatchOp::NotRe, "env", "")],
            vec![
                eq("__name__", "http_requests_total"),
                re(MatchOp::NotRe, "code", "2.."),
            ],
            vec![eq("nope", "x")],
            vec![eq("__name__", "up"), eq("job", "nope")],
            vec![ne("nope", "x")],
        ];
        for matchers in cases {
            assert_eq!(
                ids(p.select(&matchers)),
                expected(&matchers),
                "matchers {matchers:?}"
            );
        }
    }

    #[test]
    fn names_and_values_are_sorted() {
        let p = index();
        assert_eq!(
            p.label_names(),
            vec!["__name__", "code", "env", "instance", "job"]
        );
        assert_eq!(
            p.label_values("__name__"),
            vec!["go_goroutines", "http_requests_total", "up"]
        );
        assert_eq!(p.label_values("missing"), Vec::<String>::new());
        assert_eq!(p.len(), 6);
        assert!(!p.is_empty());
    }

    #[test]
    fn removed_series_and_empty_pairs_disappear() {
        let mut p = index();
        let c = corpus();
        p.remove(5, &c[5]);
        p.remove(0, &c[0]);
        assert_eq!(p.len(), 4);
        assert!(!p.label_names().contains(&"instance".to_string()));
        assert_eq!(p.label_values("env"), vec!["dev"]);
        assert_eq!(ids(p.select(&[eq("__name__", "up")])), vec![1, 2]);
        for (i, l) in c.iter().enumerate() {
            p.remove(i as u32, l);
        }
        assert!(p.is_empty());
        assert!(p.label_names().is_empty());
    }

    fn arb_labels() -> impl proptest::strategy::Strategy<Value = Labels> {
        use proptest::prelude::*;
        proptest::collection::vec(
            (
                prop::sample::select(vec!["a", "b", "c"]),
                prop::sample::select(vec!["x", "y", "z"]),
            ),
            0..4,
        )
        .prop_map(Labels::from_pairs)
    }

    fn arb_matcher() -> impl proptest::strategy::Strategy<Value = Matcher> {
        use proptest::prelude::*;
        let name = prop::sample::select(vec!["a", "b", "c", "d"]);
        let value = prop::sample::select(vec!["", "x", "y", "q"]);
        let pattern = prop::sample::select(vec!["", ".*", ".+", "x|y", "x|", "[xz]", "q"]);
        prop_oneof![
            (name.clone(), value.clone()).prop_map(|(n, v)| eq(n, v)),
            (name.clone(), value).prop_map(|(n, v)| ne(n, v)),
            (name.clone(), pattern.clone()).prop_map(|(n, p)| re(MatchOp::Re, n, p)),
            (name, pattern).prop_map(|(n, p)| re(MatchOp::NotRe, n, p)),
        ]
    }

    proptest::proptest! {
        #[test]
        fn select_agrees_with_matching_each_series(
            series in proptest::collection::vec(arb_labels(), 0..30),
            removed in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..5),
            matchers in proptest::collection::vec(arb_matcher(), 0..4),
        ) {
            let mut p = MemPostings::new();
            for (i, l) in series.iter().enumerate() {
                p.add(i as u32, l);
            }
            let mut live: Vec<bool> = vec![true; series.len()];
            if !series.is_empty() {
                for r in removed {
                    let i = r.index(series.len());
                    p.remove(i as u32, &series[i]);
                    live[i] = false;
                }
            }
            let want: Vec<u32> = series
                .iter()
                .enumerate()
                .filter(|(i, l)| live[*i] && matches_all(l, &matchers))
                .map(|(i, _)| i as u32)
                .collect();
            proptest::prop_assert_eq!(ids(p.select(&matchers)), want);
            proptest::prop_assert_eq!(p.len(), live.iter().filter(|l| **l).count());
        }
    }
}
