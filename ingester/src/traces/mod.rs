//! The traces signal in the ingester: each tenant's recent spans grouped
//! by trace ID ([`TraceMap`]). A trace is live while spans keep arriving;
//! once idle for `trace_idle_period` it moves into the tenant's head
//! ([`TraceHead`]), which is cut into a trace block by size or age and
//! uploaded ([`tenant`]). Live traces and heads answer lookups and
//! searches until queriers see the blocks.

mod record;
mod tenant;

pub(crate) use tenant::TracesDb;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::discard::DiscardReason;
use common::limits::Limits;
use common::traces::otlp::span_size;
use common::traces::tags::{TagSummary, summarize};
use common::traces::{Span, SpanRejection, Trace, TraceId, TraceScan, TracesPushOutcome};
use parking_lot::Mutex;

/// Traces by ID, each span once.
#[derive(Debug, Default)]
pub(crate) struct TraceMap {
    traces: HashMap<TraceId, LiveTrace>,
    bytes: usize,
}

/// One trace's spans and when it last grew.
#[derive(Debug)]
pub(crate) struct LiveTrace {
    spans: Vec<Span>,
    bytes: usize,
    last_append: Instant,
}

impl Default for LiveTrace {
    fn default() -> Self {
        Self {
            spans: Vec::new(),
            bytes: 0,
            last_append: Instant::now(),
        }
    }
}

impl LiveTrace {
    fn overlaps(&self, start_ns: u64, end_ns: u64) -> bool {
        self.spans.iter().any(|s| {
            s.start_unix_nano <= end_ns && s.end_unix_nano.max(s.start_unix_nano) >= start_ns
        })
    }
}

impl TraceMap {
    /// Appends `spans` received now, enforcing `max_traces_per_user` (on
    /// the traces in this map) and `max_bytes_per_trace`; a span already
    /// held (same trace and span ID) counts as accepted without being stored
    /// twice. Returns the outcome and the spans newly stored (what the WAL
    /// must log).
    pub(crate) fn push(
        &mut self,
        spans: Vec<Span>,
        limits: &Limits,
    ) -> (TracesPushOutcome, Vec<Span>) {
        self.push_at(spans, limits, Instant::now())
    }

    /// [`TraceMap::push`] of spans received at `now` (WAL replay passes
    /// when they were logged).
    pub(crate) fn push_at(
        &mut self,
        spans: Vec<Span>,
        limits: &Limits,
        now: Instant,
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
                trace.last_append = now;
                self.bytes += bytes;
                trace.spans.push(span.clone());
                stored.push(span);
            }
            out.accepted += 1;
        }
        (out, stored)
    }

    /// Removes spans [`TraceMap::push`] stored (their WAL write failed, so
    /// they were not acknowledged), and traces left empty.
    pub(crate) fn forget(&mut self, stored: &[Span]) {
        for span in stored {
            let Some(trace) = self.traces.get_mut(&span.trace_id) else {
                continue;
            };
            if let Some(i) = trace.spans.iter().position(|s| s.span_id == span.span_id) {
                let bytes = span_size(&trace.spans.remove(i));
                trace.bytes -= bytes;
                self.bytes -= bytes;
            }
            if trace.spans.is_empty() {
                self.traces.remove(&span.trace_id);
            }
        }
    }

    /// Removes and returns the traces that got no span for `idle` (all of
    /// them with `Duration::ZERO`).
    pub(crate) fn take_idle(&mut self, idle: Duration) -> Vec<(TraceId, LiveTrace)> {
        self.take_where(|_, t| t.last_append.elapsed() >= idle)
    }

    /// Removes and returns the traces `pick` selects.
    pub(crate) fn take_where(
        &mut self,
        pick: impl Fn(&TraceId, &LiveTrace) -> bool,
    ) -> Vec<(TraceId, LiveTrace)> {
        let ids: Vec<TraceId> = self
            .traces
            .iter()
            .filter(|(id, t)| pick(id, t))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| {
                let t = self.traces.remove(&id)?;
                self.bytes -= t.bytes;
                Some((id, t))
            })
            .collect()
    }

    /// Adds whole traces (spans already deduplicated per trace), merging
    /// with what is held under the same IDs.
    pub(crate) fn absorb(&mut self, traces: Vec<(TraceId, LiveTrace)>) {
        for (id, t) in traces {
            self.bytes += t.bytes;
            match self.traces.get_mut(&id) {
                Some(held) => {
                    held.bytes += t.bytes;
                    held.spans.extend(t.spans);
                }
                None => {
                    self.traces.insert(id, t);
                }
            }
        }
    }

    /// Every span held.
    pub(crate) fn spans(&self) -> impl Iterator<Item = &Span> {
        self.traces.values().flat_map(|t| t.spans.iter())
    }

    /// How many traces and span bytes it holds.
    pub(crate) fn size(&self) -> (usize, usize) {
        (self.traces.len(), self.bytes)
    }

    /// The spans of trace `id`, if it has one in `[start_ns, end_ns]`.
    pub(crate) fn trace_by_id(&self, id: TraceId, start_ns: u64, end_ns: u64) -> Option<Trace> {
        let t = self.traces.get(&id)?;
        t.overlaps(start_ns, end_ns)
            .then(|| Trace::from_spans(id, t.spans.clone()))
    }

    /// Traces with a span starting in the scan's range passing its filter.
    pub(crate) fn search(&self, scan: &TraceScan, out: &mut Vec<Trace>) {
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
                out.push(Trace::from_spans(*id, t.spans.clone()));
            }
        }
    }

    /// Attribute keys and values of spans overlapping `[start_ns, end_ns]`.
    pub(crate) fn tags(&self, start_ns: u64, end_ns: u64) -> TagSummary {
        summarize(
            self.spans()
                .filter(|s| s.start_unix_nano <= end_ns && s.end_unix_nano >= start_ns),
        )
    }
}

/// Idle traces waiting to be cut into a block: the head of the traces
/// signal, handled by [`crate::head_set::HeadSet`] like the other heads.
#[derive(Debug, Default)]
pub(crate) struct TraceHead {
    traces: Mutex<TraceMap>,
    /// When the first trace arrived (the block's age counts from it).
    first_added: Mutex<Option<Instant>>,
}

impl TraceHead {
    /// Adds traces that went idle.
    pub(crate) fn absorb(&self, traces: Vec<(TraceId, LiveTrace)>) {
        if traces.is_empty() {
            return;
        }
        self.first_added.lock().get_or_insert_with(Instant::now);
        self.traces.lock().absorb(traces);
    }

    /// True when it holds no trace.
    pub(crate) fn is_empty(&self) -> bool {
        self.traces.lock().traces.is_empty()
    }

    /// Span bytes held and the time since the first trace arrived.
    pub(crate) fn size_and_age(&self) -> (usize, Duration) {
        let age = self
            .first_added
            .lock()
            .map_or(Duration::ZERO, |t| t.elapsed());
        (self.traces.lock().bytes, age)
    }

    /// A copy of every span, for the block upload.
    pub(crate) fn to_spans(&self) -> Vec<Span> {
        self.traces.lock().spans().cloned().collect()
    }

    /// The held traces, for queries.
    pub(crate) fn map(&self) -> parking_lot::MutexGuard<'_, TraceMap> {
        self.traces.lock()
    }
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
