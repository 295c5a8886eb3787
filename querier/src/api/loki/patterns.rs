//! `GET /loki/api/v1/patterns`: the log patterns of the streams a selector
//! picks, which Logs Drilldown's patterns tab shows (`getPatterns` in
//! grafana/logs-drilldown's `src/services/datasource.ts`). Parameters are
//! Loki's: `query` (a stream selector only), `start`, `end` (the range is
//! `[start, end)`) and `step` (Loki's default, at least 10s). The answer is
//! `{"status":"success","data":[{"pattern","level","samples":[[unix_seconds,
//! lines],…]}]}`, largest pattern first (see [`crate::log_patterns`]).
//!
//! Cost: the newest `max_pattern_lines_per_query` lines of the range (a
//! per-tenant limit) are read and clustered, a bounded cost per line;
//! older lines are left out, so the oldest steps may then count fewer, and
//! `cairn_query_pattern_lines_left_out` counts them.

use std::cmp::Reverse;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use common::logs::{Direction, LogEntry, LogSelect};
use common::series::Matcher;
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

/// `GET /loki/api/v1/patterns`.
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
    let sel = LogSelect {
        matchers,
        start_ns: start,
        end_ns: end,
        line_filter: None,
        limit: (budget < usize::MAX).then_some(budget),
        direction: Direction::Backward,
    };
    let mut streams = Vec::new();
    for t in &tenants {
        streams.extend(st.store.select_logs(t, &sel).await?);
    }
    let read: usize = streams.iter().map(|s| s.entries.len()).sum();
    if read > budget {
        tracing::debug!(
            read,
            budget,
            "patterns: only the newest lines are clustered"
        );
        count_pattern_lines_left_out(u64::try_from(read - budget).unwrap_or(u64::MAX));
    }
    let kept = newest(streams.iter().map(|s| s.entries.as_slice()), budget);
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
    use common::labels::Labels;

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
