//! `GET|POST /loki/api/v1/patterns`: the log patterns of the streams a
//! selector picks, which Logs Drilldown's patterns tab shows (`getPatterns`
//! in grafana/logs-drilldown's `src/services/datasource.ts`). Parameters are
//! Loki's: `query` (a stream selector only), `start`, `end` (the range is
//! `[start, end)`) and `step` (Loki's default, at least 10s). The answer is
//! `{"status":"success","data":[{"pattern","level","samples":[[unix_seconds,
//! lines],…]}]}`, largest pattern first (see [`crate::log_patterns`]).
//!
//! Cost: the newest `max_pattern_lines_per_query` lines of the range (a
//! per-tenant limit) are read, in windows growing back from `end`, and
//! clustered, at a bounded cost per line, within the query timeout; older
//! lines are left out, so the oldest steps may then count fewer, and
//! `cairn_query_pattern_lines_left_out` counts those read but left out.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use common::labels::Labels;
use common::logs::{Direction, LogEntry, LogSelect, LogStore};
use common::series::{Matcher, StoreError};
use common::tenant::TenantId;
use serde_json::json;

use super::LokiState;
use super::error::LokiError;
use super::limits::{check_range, strictest};
use super::params::{self, DEFAULT_SINCE_NS};
use crate::api::handlers::{decode, ok_json};
use crate::api::params::Params;
use crate::frontend::count_pattern_lines_left_out;
use crate::log_patterns::find_patterns;
use crate::logql::{self, Expr, LogqlError};

/// The matchers of `query`, which must be a bare stream selector.
fn selector(p: &Params) -> Result<Vec<Matcher>, LokiError> {
    match logql::parse(p.require("query")?).map_err(LogqlError::from)? {
        Expr::Log(log) if log.stages.is_empty() => Ok(log.matchers),
        _ => Err(LokiError::BadRequest(
            "patterns are found for a stream selector only, not for filters, parsers or metric \
             queries (err-cairn-patterns-query: pass just the selector, e.g. \
             {service_name=\"api\"})"
                .into(),
        )),
    }
}

/// `GET|POST /loki/api/v1/patterns`.
pub(crate) async fn patterns(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let matchers = selector(&p)?;
    let (start, end) = params::range(&p, DEFAULT_SINCE_NS)?;
    let step = params::bounded_step(&p, start, end)?;
    check_range(&st.querier.overrides, &tenants, start, end)?;
    let budget = match strictest(&st.querier.overrides, &tenants, |l| {
        l.max_pattern_lines_per_query as u64
    }) {
        0 => usize::MAX,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let read = newest_windows(st.store.as_ref(), &tenants, &matchers, start, end, budget);
    let streams = tokio::time::timeout(st.querier.cfg.timeout, read)
        .await
        .map_err(|_| LogqlError::Timeout)??;
    let read: usize = streams.iter().map(Vec::len).sum();
    if read > budget {
        tracing::debug!(
            read,
            budget,
            "patterns: only the newest lines are clustered"
        );
        count_pattern_lines_left_out(u64::try_from(read - budget).unwrap_or(u64::MAX));
    }
    let kept = newest(streams.iter().map(Vec::as_slice), budget);
    let found = find_patterns(kept, step / 1_000_000);
    let data: Vec<serde_json::Value> = found
        .into_iter()
        .map(|s| {
            let samples: Vec<[i64; 2]> = s
                .samples
                .iter()
                .map(|(t, n)| [*t, i64::try_from(*n).unwrap_or(i64::MAX)])
                .collect();
            json!({"pattern": s.pattern, "level": s.level, "samples": samples})
        })
        .collect();
    Ok(ok_json(
        json!({"status": "success", "data": data}).to_string(),
    ))
}

/// The first window [`newest_windows`] reads back from `end`.
const FIRST_WINDOW_NS: i64 = 5 * 60 * 1_000_000_000;

/// The lines of the streams `matchers` select in `[start, end)` over all
/// `tenants`, per stream and oldest first, read back from `end` in windows
/// that double each time (from [`FIRST_WINDOW_NS`]) until `budget` lines
/// are read or `start` is reached: a long range whose newest part holds
/// the budget is not read whole (memory is that of the windows read, at
/// most `budget` lines per stream and window, not that of the range).
async fn newest_windows(
    store: &dyn LogStore,
    tenants: &[TenantId],
    matchers: &[Matcher],
    start: i64,
    end: i64,
    budget: usize,
) -> Result<Vec<Vec<LogEntry>>, StoreError> {
    // Per (tenant, stream): its lines of each window, newest window first.
    let mut streams: HashMap<(usize, Labels), Vec<Vec<LogEntry>>> = HashMap::new();
    let mut read = 0;
    let (mut hi, mut width) = (end, FIRST_WINDOW_NS);
    if budget == usize::MAX {
        width = end.saturating_sub(start);
    }
    while hi > start && read < budget {
        let lo = hi.saturating_sub(width).max(start);
        let sel = LogSelect {
            matchers: matchers.to_vec(),
            start_ns: lo,
            end_ns: hi,
            line_filter: None,
            limit: (budget < usize::MAX).then_some(budget - read),
            direction: Direction::Backward,
        };
        for (i, t) in tenants.iter().enumerate() {
            for s in store.select_logs(t, &sel).await? {
                read += s.entries.len();
                streams.entry((i, s.labels)).or_default().push(s.entries);
            }
        }
        hi = lo;
        width = width.saturating_mul(2);
    }
    Ok(streams
        .into_values()
        .map(|windows| windows.into_iter().rev().flatten().collect())
        .collect())
}

/// Of `streams` (lines oldest first), the newest `budget` lines in all,
/// kept per stream and oldest first.
fn newest<'a>(
    streams: impl Iterator<Item = &'a [LogEntry]>,
    budget: usize,
) -> Vec<Vec<&'a LogEntry>> {
    let streams: Vec<&[LogEntry]> = streams.collect();
    let total: usize = streams.iter().map(|s| s.len()).sum();
    if total <= budget {
        return streams.iter().map(|s| s.iter().collect()).collect();
    }
    let mut refs: Vec<(i64, usize, usize)> = streams
        .iter()
        .enumerate()
        .flat_map(|(si, s)| s.iter().enumerate().map(move |(ei, e)| (e.ts_ns, si, ei)))
        .collect();
    refs.select_nth_unstable_by_key(budget, |r| Reverse(*r));
    refs.truncate(budget);
    refs.sort_unstable();
    let mut kept = vec![Vec::new(); streams.len()];
    for (_, si, ei) in refs {
        kept[si].push(&streams[si][ei]);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use common::logs::StreamEntries;
    use common::series::MatchOp;
    use parking_lot::Mutex;

    const S: i64 = 1_000_000_000;

    /// A store holding fixed streams, recording the windows asked for.
    struct Fixed {
        streams: Vec<StreamEntries>,
        asked: Mutex<Vec<(i64, i64)>>,
    }

    #[async_trait]
    impl LogStore for Fixed {
        async fn select_logs(
            &self,
            _: &TenantId,
            sel: &LogSelect,
        ) -> Result<Vec<StreamEntries>, StoreError> {
            self.asked.lock().push((sel.start_ns / S, sel.end_ns / S));
            Ok(self
                .streams
                .iter()
                .map(|s| StreamEntries {
                    labels: s.labels.clone(),
                    entries: s
                        .entries
                        .iter()
                        .filter(|e| e.ts_ns >= sel.start_ns && e.ts_ns < sel.end_ns)
                        .cloned()
                        .collect(),
                })
                .filter(|s| !s.entries.is_empty())
                .collect())
        }

        async fn log_streams(
            &self,
            _: &TenantId,
            _: &[Matcher],
            _: i64,
            _: i64,
        ) -> Result<Vec<Labels>, StoreError> {
            Ok(self.streams.iter().map(|s| s.labels.clone()).collect())
        }
    }

    /// A store with one stream `app="a"`, a line every `every` seconds in
    /// `secs`.
    fn store(secs: std::ops::Range<i64>, every: usize) -> Fixed {
        Fixed {
            streams: vec![StreamEntries {
                labels: Labels::from_pairs([("app", "a")]),
                entries: lines(&secs.step_by(every).map(|s| s * S).collect::<Vec<_>>()),
            }],
            asked: Mutex::new(Vec::new()),
        }
    }

    async fn read(store: &Fixed, budget: usize) -> Vec<i64> {
        let tenants = [TenantId::parse("t").unwrap()];
        let m = [Matcher::new(MatchOp::Equal, "app", "a")];
        let got = newest_windows(store, &tenants, &m, 0, 3600 * S, budget)
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "one stream, windows merged");
        got[0].iter().map(|e| e.ts_ns / S).collect()
    }

    #[tokio::test]
    async fn a_busy_range_is_read_back_from_end_only_until_the_budget() {
        let dense = store(0..3600, 1);
        assert_eq!(read(&dense, 100).await, (3300..3600).collect::<Vec<_>>());
        assert_eq!(*dense.asked.lock(), [(3300, 3600)], "the rest is not read");

        let sparse = store(0..3600, 10);
        let got = read(&sparse, 200).await;
        assert_eq!(
            got,
            (1500..3600).step_by(10).collect::<Vec<_>>(),
            "oldest first"
        );
        assert_eq!(
            *sparse.asked.lock(),
            [(3300, 3600), (2700, 3300), (1500, 2700)],
            "windows double"
        );

        let all = store(0..60, 1);
        assert_eq!(read(&all, usize::MAX).await, (0..60).collect::<Vec<_>>());
        assert_eq!(*all.asked.lock(), [(0, 3600)], "no budget: one read");
    }

    fn lines(ts: &[i64]) -> Vec<LogEntry> {
        ts.iter()
            .map(|&ts_ns| LogEntry {
                ts_ns,
                line: ts_ns.to_string(),
                structured_metadata: Labels::default(),
            })
            .collect()
    }

    #[test]
    fn the_budget_keeps_the_newest_lines_across_streams() {
        let a = lines(&[1, 4, 6]);
        let b = lines(&[2, 3, 5, 7]);
        let ts = |kept: Vec<Vec<&LogEntry>>| -> Vec<Vec<i64>> {
            kept.iter()
                .map(|s| s.iter().map(|e| e.ts_ns).collect())
                .collect()
        };
        let both = || [a.as_slice(), b.as_slice()].into_iter();
        assert_eq!(ts(newest(both(), 3)), [vec![6], vec![5, 7]]);
        assert_eq!(ts(newest(both(), 100)), [vec![1, 4, 6], vec![2, 3, 5, 7]]);
        assert_eq!(ts(newest(both(), 0)), [vec![], vec![]] as [Vec<i64>; 2]);
    }
}
