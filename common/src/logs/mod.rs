//! Log lines and streams, and the two interfaces the logs path is built on:
//! [`LogsPusher`] (distributor → ingester, like [`crate::push::MetricsPusher`]
//! for samples) and [`LogStore`] (ingester head, blocks in object storage, or
//! a merge of both → the LogQL engine, like [`crate::series::SeriesStore`]).
//!
//! Timestamps are nanoseconds since the Unix epoch, as in Loki.
//!
//! [`block`] is the codec of flushed logs blocks (stream index plus lines in
//! Parquet), shared by the ingester that writes them and the querier that
//! reads them.

pub mod block;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use crate::discard::DiscardReason;
use crate::labels::Labels;
use crate::push::PushError;
use crate::series::{Matcher, StoreError};
use crate::tenant::TenantId;

/// One log line of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The line as sent (UTF-8, no trailing newline added or removed).
    pub line: String,
    /// Loki's structured metadata: per-line key/value pairs that are not
    /// stream labels (sorted by name; empty for most lines).
    pub structured_metadata: Labels,
}

/// A validated stream and the lines to append, in the order received.
#[derive(Debug, Clone, PartialEq)]
pub struct PushStream {
    /// The stream's labels (validated, sorted by name).
    pub labels: Labels,
    /// Lines to append; need not be sorted (out-of-order lines within the
    /// ingester's window are accepted).
    pub entries: Vec<LogEntry>,
}

/// Lines an ingester refused, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRejection {
    /// Catalogue reason (counter label).
    pub reason: DiscardReason,
    /// The stream concerned.
    pub labels: Labels,
    /// How many of its lines were refused.
    pub lines: usize,
    /// How many bytes of line text were refused.
    pub bytes: usize,
    /// Human detail, e.g. the offending timestamp or the limit value.
    pub detail: String,
}

/// What an ingester did with a logs push: accepted lines are durable (in the WAL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsPushOutcome {
    /// Lines appended and logged.
    pub accepted: usize,
    /// Lines refused, grouped by stream and reason.
    pub rejected: Vec<LogRejection>,
}

/// Appends validated streams to a tenant's logs head.
///
/// In single-process mode the distributor calls the ingester through this
/// trait directly; in distributed mode an RPC client implements it.
#[async_trait]
pub trait LogsPusher: Send + Sync {
    /// Appends `streams` for `tenant`; returns once accepted lines are in the WAL.
    async fn push_logs(
        &self,
        tenant: &TenantId,
        streams: Vec<PushStream>,
    ) -> Result<LogsPushOutcome, PushError>;
}

/// A line predicate the engine pushes down to the store, so lines that fail
/// a query's line filters are dropped while the store scans decoded bytes
/// and never copied into results.
pub type LineFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Which end of the time range a query wants first (Loki's `direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    #[default]
    Backward,
}

/// What a [`LogStore::select_logs`] call asks for.
#[derive(Clone)]
pub struct LogSelect {
    /// Stream selector; every matcher must hold (Prometheus semantics: a
    /// matcher that matches `""` also selects streams without the label).
    pub matchers: Vec<Matcher>,
    /// Inclusive start, nanoseconds.
    pub start_ns: i64,
    /// Exclusive end, nanoseconds (Loki's `end` is exclusive).
    pub end_ns: i64,
    /// Lines failing this are left out (`None`: keep all).
    pub line_filter: Option<LineFilter>,
    /// A hint: the caller needs at most this many lines in total, taken from
    /// the `direction` end. A store may then return, per stream, only the
    /// `limit` lines nearest that end (the global answer is always among
    /// them); it may also ignore the hint.
    pub limit: Option<usize>,
    /// Which end `limit` counts from.
    pub direction: Direction,
}

impl std::fmt::Debug for LogSelect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSelect")
            .field("matchers", &self.matchers)
            .field("start_ns", &self.start_ns)
            .field("end_ns", &self.end_ns)
            .field("line_filter", &self.line_filter.is_some())
            .field("limit", &self.limit)
            .field("direction", &self.direction)
            .finish()
    }
}

/// A stream and its selected lines, sorted by timestamp ascending (lines
/// with equal timestamps in the order they were pushed).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntries {
    /// The stream's labels.
    pub labels: Labels,
    /// Lines, oldest first.
    pub entries: Vec<LogEntry>,
}

/// Totals for Loki's `/index/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Distinct streams.
    pub streams: u64,
    /// Chunks (head chunks and stored row groups) holding them.
    pub chunks: u64,
    /// Lines.
    pub entries: u64,
    /// Bytes of line text.
    pub bytes: u64,
}

/// Read access to a tenant's logs.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Streams matching `sel.matchers` with their lines in
    /// `[sel.start_ns, sel.end_ns)` that pass `sel.line_filter`. Streams with
    /// no such line are omitted.
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError>;

    /// Label sets of streams matching `matchers` with lines in `[start_ns, end_ns)`.
    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StoreError>;

    /// Sorted distinct label names of matching streams (all streams if
    /// `matchers` is empty), derived from [`LogStore::log_streams`] by default.
    async fn log_label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        let streams = self.log_streams(tenant, matchers, start_ns, end_ns).await?;
        let names = streams
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()));
        Ok(names.collect::<BTreeSet<_>>().into_iter().collect())
    }

    /// Sorted distinct values of label `name` among matching streams.
    async fn log_label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>, StoreError> {
        let streams = self.log_streams(tenant, matchers, start_ns, end_ns).await?;
        let values = streams
            .iter()
            .filter_map(|l| l.iter().find(|l| l.name == name).map(|l| l.value.clone()));
        Ok(values.collect::<BTreeSet<_>>().into_iter().collect())
    }

    /// Stream, chunk, line and byte totals for matching streams, derived from
    /// [`LogStore::select_logs`] by default (one chunk per stream).
    async fn log_stats(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<LogStats, StoreError> {
        let sel = LogSelect {
            matchers: matchers.to_vec(),
            start_ns,
            end_ns,
            line_filter: None,
            limit: None,
            direction: Direction::Forward,
        };
        let streams = self.select_logs(tenant, &sel).await?;
        let mut stats = LogStats {
            streams: streams.len() as u64,
            chunks: streams.len() as u64,
            ..LogStats::default()
        };
        for s in &streams {
            stats.entries += s.entries.len() as u64;
            stats.bytes += s.entries.iter().map(|e| e.line.len() as u64).sum::<u64>();
        }
        Ok(stats)
    }
}

/// Merges stream lists from several sources (heads, blocks, replicas):
/// equal label sets become one stream, entries sorted by timestamp (stable,
/// so lines with equal timestamps keep their order) with identical entries
/// (same timestamp, line and structured metadata) kept once. The result is
/// sorted by labels.
pub fn merge_streams(lists: Vec<Vec<StreamEntries>>) -> Vec<StreamEntries> {
    let mut all: Vec<StreamEntries> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<StreamEntries> = Vec::with_capacity(all.len());
    let mut merged_any = Vec::new();
    for s in all {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => {
                last.entries.extend(s.entries);
                if merged_any.last() != Some(&(out.len() - 1)) {
                    merged_any.push(out.len() - 1);
                }
            }
            _ => out.push(s),
        }
    }
    for i in merged_any {
        if let Some(s) = out.get_mut(i) {
            sort_dedup_entries(&mut s.entries);
        }
    }
    out
}

/// Sorts `entries` by timestamp (stable) and drops exact repeats of an
/// entry with the same timestamp.
pub fn sort_dedup_entries(entries: &mut Vec<LogEntry>) {
    if !entries.is_sorted_by_key(|e| e.ts_ns) {
        entries.sort_by_key(|e| e.ts_ns);
    }
    let mut out: Vec<LogEntry> = Vec::with_capacity(entries.len());
    let mut run_start = 0;
    for e in entries.drain(..) {
        if out.last().is_none_or(|l| l.ts_ns != e.ts_ns) {
            run_start = out.len();
        }
        if !out[run_start..].contains(&e) {
            out.push(e);
        }
    }
    *entries = out;
}

/// Applies [`LogSelect::limit`] per stream: keeps the `limit` entries
/// nearest the `direction` end of each stream and drops streams left empty.
pub fn trim_to_limit(streams: &mut Vec<StreamEntries>, limit: Option<usize>, direction: Direction) {
    if let Some(limit) = limit {
        for s in streams.iter_mut() {
            let excess = s.entries.len().saturating_sub(limit);
            if excess > 0 {
                match direction {
                    Direction::Forward => s.entries.truncate(limit),
                    Direction::Backward => {
                        s.entries.drain(..excess);
                    }
                }
            }
        }
    }
    streams.retain(|s| !s.entries.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(ts_ns: i64, line: &str) -> LogEntry {
        LogEntry {
            ts_ns,
            line: line.into(),
            structured_metadata: Labels::default(),
        }
    }

    fn stream(app: &str, entries: Vec<LogEntry>) -> StreamEntries {
        StreamEntries {
            labels: Labels::from_pairs([("app", app)]),
            entries,
        }
    }

    #[test]
    fn merge_sorts_and_drops_identical_entries_only() {
        let out = merge_streams(vec![
            vec![
                stream("b", vec![e(1, "x")]),
                stream("a", vec![e(2, "p"), e(2, "q")]),
            ],
            vec![stream(
                "a",
                vec![e(1, "o"), e(2, "q"), e(2, "p"), e(2, "r")],
            )],
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels.get("app"), Some("a"));
        assert_eq!(
            out[0].entries,
            vec![e(1, "o"), e(2, "p"), e(2, "q"), e(2, "r")]
        );
        assert_eq!(out[1].entries, vec![e(1, "x")]);
    }

    #[test]
    fn limit_keeps_the_entries_nearest_the_direction_end() {
        let mut s = vec![stream("a", vec![e(1, "1"), e(2, "2"), e(3, "3")])];
        trim_to_limit(&mut s, Some(2), Direction::Backward);
        assert_eq!(s[0].entries, vec![e(2, "2"), e(3, "3")]);
        trim_to_limit(&mut s, Some(1), Direction::Forward);
        assert_eq!(s[0].entries, vec![e(2, "2")]);
    }
}
