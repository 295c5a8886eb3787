//! One tenant's traces in the ingester: live traces, the heads of idle
//! traces, and their write-ahead log in `<wal_dir>/<tenant>/traces/`.
//!
//! Every newly stored span is logged (one record per push, with the time)
//! before the push is acknowledged, and the log is replayed on start: traces
//! that got a span within `trace_idle_period` of the restart are live again,
//! the others complete (in the head, not counted against
//! `max_traces_per_user`). A cut starts a new WAL segment and logs a cut
//! record with the still-live traces into it, so the older segments hold
//! nothing but the cut head's spans (and copies); they are deleted once its
//! block is uploaded.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::block::BlockMeta;
use common::limits::Limits;
use common::push::PushError;
use common::tenant::TenantId;
use common::traces::block::write_trace_block;
use common::traces::tags::TagSummary;
use common::traces::{AttrScope, Span, Trace, TraceId, TraceScan, TracesPushOutcome, union_traces};
use common::wal::{ReplayStats, Wal, WalOptions};
use object_store::ObjectStore;
use parking_lot::Mutex;

use super::record::{self, Record};
use super::{TraceHead, TraceMap};
use crate::error::IngesterError;
use crate::head_set::{HeadSet, upload_with_retry};
use crate::wal_health;

/// Live traces and the heads of idle ones.
struct State {
    live: TraceMap,
    heads: HeadSet<TraceHead>,
}

/// One tenant's traces and their WAL.
pub(crate) struct TracesDb {
    tenant: TenantId,
    wal: Wal,
    /// Held across each WAL append, so the log order is the memory order.
    state: Mutex<State>,
    /// Serialises cuts and uploads so segments are removed in order.
    cut: tokio::sync::Mutex<()>,
}

impl TracesDb {
    /// Replays the WAL in `dir` (limits are not applied again: everything
    /// logged was acknowledged) and opens it for appending. Traces that got
    /// a span less than `idle` ago (by the records' times) are live again;
    /// the rest, and those a logged cut found complete, go to the head.
    pub(crate) fn open(
        tenant: TenantId,
        dir: &Path,
        opts: WalOptions,
        idle: Duration,
    ) -> Result<(Self, ReplayStats), IngesterError> {
        let mut live = TraceMap::default();
        let mut complete = Vec::new();
        let unlimited = Limits {
            max_traces_per_user: 0,
            max_bytes_per_trace: 0,
            ..Limits::default()
        };
        let (now, now_ms) = (Instant::now(), common::time::now_ms());
        // When a record was logged, as an instant (ages past `idle` only
        // need to be idle, so they are clamped to it).
        let logged_at = |at_ms: i64| {
            let age = Duration::from_millis(now_ms.saturating_sub(at_ms).max(0) as u64);
            now.checked_sub(age.min(idle)).unwrap_or(now)
        };
        let stats = Wal::replay(dir, |rec| {
            match record::decode(rec)? {
                Record::Spans { at_ms, spans } => {
                    live.push_at(spans, &unlimited, at_ms.map_or(now, logged_at));
                }
                Record::Cut { at_ms, live: still } => {
                    let ids: HashSet<_> = still.iter().map(|s| s.trace_id).collect();
                    complete.extend(live.take_where(|id, _| !ids.contains(id)));
                    live.push_at(still, &unlimited, logged_at(at_ms));
                }
            }
            Ok(())
        })
        .map_err(|e| IngesterError::Wal(format!("replaying {}: {e}", dir.display())))?;
        complete.extend(live.take_idle(idle));
        let wal = Wal::open(dir, opts)
            .map_err(|e| IngesterError::Wal(format!("opening {}: {e}", dir.display())))?;
        let state = State {
            live,
            heads: HeadSet::new(TraceHead::default()),
        };
        state.heads.current().absorb(complete);
        Ok((
            Self {
                tenant,
                wal,
                state: Mutex::new(state),
                cut: tokio::sync::Mutex::new(()),
            },
            stats,
        ))
    }

    /// Stores `spans` under `limits` and logs the new ones; returns once
    /// they are in the WAL.
    pub(crate) fn push(
        &self,
        spans: Vec<Span>,
        limits: &Limits,
    ) -> Result<TracesPushOutcome, PushError> {
        let mut state = self.state.lock();
        let (outcome, stored) = state.live.push(spans, limits);
        if !stored.is_empty() {
            let rec = record::encode_spans_at(common::time::now_ms(), &stored);
            if let Err(e) = self.wal.append(&[&rec]) {
                // Not acknowledged: a retry must store and log them again.
                state.live.forget(&stored);
                return Err(wal_health::refusal(e));
            }
        }
        Ok(outcome)
    }

    /// Moves traces idle for `idle` from live into the current head.
    pub(crate) fn sweep_idle(&self, idle: Duration) {
        let mut state = self.state.lock();
        let idle = state.live.take_idle(idle);
        state.heads.current().absorb(idle);
    }

    /// True when the current head holds at least `max_bytes` of spans or
    /// its first trace arrived `max_age` ago.
    pub(crate) fn should_cut(&self, max_age: Duration, max_bytes: usize) -> bool {
        let state = self.state.lock();
        let head = state.heads.current();
        let (bytes, age) = head.size_and_age();
        !head.is_empty() && (bytes >= max_bytes || age >= max_age)
    }

    /// Cuts the current head (first moving every live trace into it when
    /// `everything`) and uploads every head waiting for upload, oldest
    /// first. On an upload error the head stays queryable and in the WAL;
    /// the next cut retries it.
    pub(crate) async fn cut_and_upload(
        &self,
        store: &dyn ObjectStore,
        source: &str,
        attempts: u32,
        everything: bool,
    ) -> Result<Vec<BlockMeta>, IngesterError> {
        let _cut = self.cut.lock().await;
        self.cut_head(everything)?;
        let mut uploaded = Vec::new();
        loop {
            let Some((head, next_segment)) = self.state.lock().heads.first_pending() else {
                break;
            };
            let meta = upload_with_retry(&self.tenant, attempts, || {
                write_trace_block(store, &self.tenant, head.to_spans(), source)
            })
            .await?;
            self.state.lock().heads.uploaded_first();
            self.wal.remove_segments_before(next_segment).map_err(|e| {
                IngesterError::Wal(format!("removing uploaded traces WAL segments: {e}"))
            })?;
            uploaded.push(meta);
        }
        Ok(uploaded)
    }

    /// Swaps in an empty head, starting a new WAL segment that holds the
    /// still-live traces again.
    fn cut_head(&self, everything: bool) -> Result<(), IngesterError> {
        let mut state = self.state.lock();
        if everything {
            let all = state.live.take_idle(Duration::ZERO);
            state.heads.current().absorb(all);
        }
        if state.heads.current().is_empty() {
            return Ok(());
        }
        let wal_error = |e: common::wal::WalError| IngesterError::Wal(wal_health::describe(&e));
        let next_segment = self.wal.cut_segment().map_err(wal_error)?;
        let live: Vec<Span> = state.live.spans().cloned().collect();
        self.wal
            .append(&[&record::encode_cut(common::time::now_ms(), &live)])
            .map_err(wal_error)?;
        state.heads.cut(TraceHead::default(), next_segment);
        Ok(())
    }

    /// Forces the tenant's traces WAL to disk (graceful shutdown).
    pub(crate) fn sync_wal(&self) -> Result<(), IngesterError> {
        self.wal
            .sync()
            .map_err(|e| IngesterError::Wal(format!("syncing the traces WAL: {e}")))
    }

    /// Forgets uploaded heads older than `retain`.
    pub(crate) fn expire_uploaded(&self, retain: Duration) {
        self.state.lock().heads.expire(retain);
    }

    /// Live traces, and span bytes in live traces and heads.
    pub(crate) fn gauges(&self) -> (usize, usize) {
        let state = self.state.lock();
        let (live, live_bytes) = state.live.size();
        let head_bytes: usize = state.heads.all().iter().map(|h| h.size_and_age().0).sum();
        (live, live_bytes + head_bytes)
    }

    /// Runs `f` over the live traces and every head.
    fn each_map<T>(&self, mut f: impl FnMut(&TraceMap) -> T) -> Vec<T> {
        let state = self.state.lock();
        let mut out = vec![f(&state.live)];
        for head in state.heads.all() {
            out.push(f(&head.map()));
        }
        out
    }

    /// Trace `id`'s spans with any span in `[start_ns, end_ns]`.
    pub(crate) fn trace_by_id(&self, id: TraceId, start_ns: u64, end_ns: u64) -> Option<Trace> {
        let parts: Vec<Trace> = self
            .each_map(|m| m.trace_by_id(id, start_ns, end_ns))
            .into_iter()
            .flatten()
            .collect();
        union_traces(vec![parts]).pop()
    }

    /// Traces with a span in the scan's range passing its filter.
    pub(crate) fn search(&self, scan: &TraceScan) -> Vec<Trace> {
        let found = self.each_map(|m| {
            let mut out = Vec::new();
            m.search(scan, &mut out);
            out
        });
        union_traces(found)
    }

    /// Attribute keys and values of spans in `[start_ns, end_ns]`.
    fn tags(&self, start_ns: u64, end_ns: u64) -> Vec<TagSummary> {
        self.each_map(|m| m.tags(start_ns, end_ns))
    }

    /// Distinct attribute keys, by scope.
    pub(crate) fn tag_names(&self, start_ns: u64, end_ns: u64) -> BTreeSet<(AttrScope, String)> {
        self.tags(start_ns, end_ns)
            .iter()
            .flat_map(TagSummary::names)
            .collect()
    }

    /// Distinct values of `key`.
    pub(crate) fn tag_values(
        &self,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> BTreeSet<String> {
        self.tags(start_ns, end_ns)
            .iter()
            .flat_map(|t| t.values(scope, key))
            .collect()
    }
}
