//! Live traces: each tenant's recent spans grouped by trace ID, answering
//! trace lookups and searches until the traces reach object storage, and
//! enforcing `max_traces_per_user` and `max_bytes_per_trace`; [`wal`]
//! makes them durable.

mod wal;

pub(crate) use wal::TracesDb;

use std::collections::{BTreeSet, HashMap};

use common::discard::DiscardReason;
use common::limits::Limits;
use common::traces::otlp::span_size;
use common::traces::{
    AttrScope, AttrValue, KeyValue, Span, SpanRejection, Trace, TraceId, TraceScan,
    TracesPushOutcome,
};

/// One tenant's live traces.
#[derive(Debug, Default)]
pub(crate) struct TenantTraces {
    traces: HashMap<TraceId, LiveTrace>,
}

#[derive(Debug, Default)]
struct LiveTrace {
    spans: Vec<Span>,
    bytes: usize,
}

impl LiveTrace {
    fn overlaps(&self, start_ns: u64, end_ns: u64) -> bool {
        self.spans.iter().any(|s| {
            s.start_unix_nano <= end_ns && s.end_unix_nano.max(s.start_unix_nano) >= start_ns
        })
    }

    fn to_trace(&self, id: TraceId) -> Trace {
        let mut spans = self.spans.clone();
        spans.sort_by_key(|s| (s.start_unix_nano, s.span_id));
        Trace {
            trace_id: id,
            spans,
        }
    }
}

impl TenantTraces {
    /// Appends `spans` under `limits`; a span already held (same trace and
    /// span ID) counts as accepted without being stored twice. Returns the
    /// outcome and the spans newly stored (what the WAL must log).
    pub(crate) fn push(
        &mut self,
        spans: Vec<Span>,
        limits: &Limits,
    ) -> (TracesPushOutcome, Vec<Span>) {
        let mut out = TracesPushOutcome::default();
        let mut stored = Vec::new();
        for span in spans {
            let bytes = span_size(&span);
            let is_new = !self.traces.contains_key(&span.trace_id);
            if is_new
                && limits.max_traces_per_user > 0
                && self.traces.len() >= limits.max_traces_per_user
            {
                reject(
                    &mut out,
                    DiscardReason::LiveTracesExceeded,
                    span.trace_id,
                    format!(
                        "the tenant already has {} live traces (max_traces_per_user)",
                        limits.max_traces_per_user
                    ),
                );
                continue;
            }
            let trace = self.traces.entry(span.trace_id).or_default();
            if limits.max_bytes_per_trace > 0 && trace.bytes + bytes > limits.max_bytes_per_trace {
                reject(
                    &mut out,
                    DiscardReason::TraceTooLarge,
                    span.trace_id,
                    format!(
                        "the trace would grow past {} bytes (max_bytes_per_trace)",
                        limits.max_bytes_per_trace
                    ),
                );
                if trace.spans.is_empty() {
                    self.traces.remove(&span.trace_id);
                }
                continue;
            }
            if !trace.spans.iter().any(|s| s.span_id == span.span_id) {
                trace.bytes += bytes;
                trace.spans.push(span.clone());
                stored.push(span);
            }
            out.accepted += 1;
        }
        (out, stored)
    }

    /// The live spans of trace `id` in `[start_ns, end_ns]`, if any.
    pub(crate) fn trace_by_id(&self, id: TraceId, start_ns: u64, end_ns: u64) -> Option<Trace> {
        let t = self.traces.get(&id)?;
        t.overlaps(start_ns, end_ns).then(|| t.to_trace(id))
    }

    /// Traces with a span in the scan's range passing its filter.
    pub(crate) fn search(&self, scan: &TraceScan) -> Vec<Trace> {
        let mut out = Vec::new();
        for (id, t) in &self.traces {
            if scan.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            let hit = t.spans.iter().any(|s| {
                s.start_unix_nano >= scan.start_ns
                    && s.start_unix_nano <= scan.end_ns
                    && scan.filter.as_ref().is_none_or(|f| f(s))
            });
            if hit {
                out.push(t.to_trace(*id));
            }
        }
        out
    }

    fn spans_in(&self, start_ns: u64, end_ns: u64) -> impl Iterator<Item = &Span> {
        self.traces
            .values()
            .flat_map(|t| t.spans.iter())
            .filter(move |s| s.start_unix_nano <= end_ns && s.end_unix_nano >= start_ns)
    }

    /// Distinct attribute keys of spans in the range.
    pub(crate) fn tag_names(&self, start_ns: u64, end_ns: u64) -> BTreeSet<(AttrScope, String)> {
        let mut out = BTreeSet::new();
        for s in self.spans_in(start_ns, end_ns) {
            for kv in &s.attributes {
                out.insert((AttrScope::Span, kv.key.clone()));
            }
            for kv in &s.resource.attributes {
                out.insert((AttrScope::Resource, kv.key.clone()));
            }
        }
        out
    }

    /// Distinct values (as text) of attribute `key`.
    pub(crate) fn tag_values(
        &self,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut add = |kvs: &[KeyValue]| {
            for kv in kvs.iter().filter(|kv| kv.key == key) {
                if let Some(v) = value_text(&kv.value) {
                    out.insert(v);
                }
            }
        };
        for s in self.spans_in(start_ns, end_ns) {
            if scope.is_none_or(|sc| sc == AttrScope::Span) {
                add(&s.attributes);
            }
            if scope.is_none_or(|sc| sc == AttrScope::Resource) {
                add(&s.resource.attributes);
            }
        }
        out
    }
}

/// A scalar attribute value as Tempo lists it; composite values are skipped.
fn value_text(v: &AttrValue) -> Option<String> {
    Some(match v {
        AttrValue::Str(s) => s.clone(),
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Double(d) => d.to_string(),
        _ => return None,
    })
}

fn reject(out: &mut TracesPushOutcome, reason: DiscardReason, trace_id: TraceId, detail: String) {
    match out
        .rejected
        .iter_mut()
        .find(|r| r.trace_id == trace_id && r.reason == reason)
    {
        Some(r) => r.spans += 1,
        None => out.rejected.push(SpanRejection {
            reason,
            trace_id,
            spans: 1,
            detail,
        }),
    }
}

#[cfg(test)]
mod tests;
