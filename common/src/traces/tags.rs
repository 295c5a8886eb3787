//! The attribute keys and values of a set of spans, as Tempo's tag APIs
//! list them: kept for each trace block (its `index.json`) so listing tags
//! never reads span data, and built on the fly over live traces.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{AttrScope, AttrValue, KeyValue, Span};

/// Distinct values kept per key; past it the key's values are incomplete
/// (its name is still listed).
pub const MAX_VALUES_PER_TAG: usize = 1000;
/// Longer values are not listed (they are IDs or payloads, not tags).
pub const MAX_TAG_VALUE_LEN: usize = 256;

/// A scalar attribute value as Tempo lists it; composite values are skipped.
pub fn value_text(v: &AttrValue) -> Option<String> {
    Some(match v {
        AttrValue::Str(s) => s.clone(),
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Double(d) => d.to_string(),
        _ => return None,
    })
}

/// Attribute keys by scope, each with its distinct scalar values (at most
/// [`MAX_VALUES_PER_TAG`], each at most [`MAX_TAG_VALUE_LEN`] bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagSummary {
    /// Span attributes.
    pub span: BTreeMap<String, BTreeSet<String>>,
    /// Resource attributes.
    pub resource: BTreeMap<String, BTreeSet<String>>,
}

fn add(map: &mut BTreeMap<String, BTreeSet<String>>, kvs: &[KeyValue]) {
    for kv in kvs {
        let values = match map.get_mut(&kv.key) {
            Some(v) => v,
            None => map.entry(kv.key.clone()).or_default(),
        };
        if values.len() >= MAX_VALUES_PER_TAG {
            continue;
        }
        if let Some(v) = value_text(&kv.value).filter(|v| v.len() <= MAX_TAG_VALUE_LEN) {
            values.insert(v);
        }
    }
}

impl TagSummary {
    /// Adds `span`'s span and resource attributes.
    pub fn add_span(&mut self, span: &Span) {
        add(&mut self.span, &span.attributes);
        add(&mut self.resource, &span.resource.attributes);
    }

    /// Every key with its scope.
    pub fn names(&self) -> BTreeSet<(AttrScope, String)> {
        let span = self.span.keys().map(|k| (AttrScope::Span, k.clone()));
        let resource = self
            .resource
            .keys()
            .map(|k| (AttrScope::Resource, k.clone()));
        span.chain(resource).collect()
    }

    /// The values of `key` in `scope` (both scopes when `None`).
    pub fn values(&self, scope: Option<AttrScope>, key: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (s, map) in [
            (AttrScope::Span, &self.span),
            (AttrScope::Resource, &self.resource),
        ] {
            if scope.is_none_or(|want| want == s)
                && let Some(v) = map.get(key)
            {
                out.extend(v.iter().cloned());
            }
        }
        out
    }

    /// Roughly the heap it holds.
    pub fn memory_bytes(&self) -> usize {
        [&self.span, &self.resource]
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| 64 + k.len() + v.iter().map(|s| 48 + s.len()).sum::<usize>())
            .sum()
    }
}

/// The summary of `spans`.
pub fn summarize<'a>(spans: impl IntoIterator<Item = &'a Span>) -> TagSummary {
    let mut out = TagSummary::default();
    for s in spans {
        out.add_span(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::otlp::tests::full_span;

    #[test]
    fn lists_scalar_values_by_scope_and_caps_them() {
        let mut spans = vec![full_span(1, 1)];
        for i in 0..MAX_VALUES_PER_TAG + 10 {
            let mut s = full_span(1, 2);
            s.attributes = vec![KeyValue {
                key: "user".into(),
                value: AttrValue::Int(i as i64),
            }];
            spans.push(s);
        }
        let sum = summarize(&spans);
        assert!(
            sum.names()
                .contains(&(AttrScope::Span, "http.request.method".into()))
        );
        assert!(
            sum.names()
                .contains(&(AttrScope::Resource, "service.name".into()))
        );
        assert_eq!(
            sum.values(Some(AttrScope::Span), "http.response.status_code"),
            BTreeSet::from(["200".to_string()])
        );
        // Composite values are not listed, but their key is.
        assert!(sum.values(None, "list").is_empty());
        assert!(sum.names().contains(&(AttrScope::Span, "list".into())));
        assert_eq!(sum.values(None, "user").len(), MAX_VALUES_PER_TAG);
        assert!(sum.values(Some(AttrScope::Resource), "user").is_empty());
    }
}
