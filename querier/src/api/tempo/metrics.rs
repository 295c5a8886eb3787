//! `GET /api/metrics/query_range` and `GET /api/metrics/query`: TraceQL
//! metrics (`{ … } | rate() by(…)`), which Grafana's Tempo data source and
//! the Traces Drilldown app build their panels on. Parameters as Tempo's
//! (`q` or `query`; `start`/`end` in Unix seconds, nanoseconds or RFC3339,
//! or `since`; `step`); the cost is bounded by the tenant's
//! `max_metrics_duration` and `max_response_series`, Tempo's 10 000 steps
//! and the querier's timeout.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::error::TempoError;
use super::handlers::{Context, context, json_response, protobuf, wants_protobuf};
use super::{metrics_json, metrics_proto};
use crate::api::Querier;
use crate::api::loki::limits::strictest;
use crate::api::loki::params::parse_loki_time;
use crate::api::params::parse_duration;
use crate::traceql::{
    self, MAX_EXEMPLARS, MetricsOutcome, MetricsRequest, Steps, Value, format_duration,
};

/// Most steps one range query may have (Tempo's `max_intervals`).
const MAX_STEPS: u64 = 10_000;
/// The range when neither `start`/`end` nor `since` is given.
const DEFAULT_SINCE_NS: u64 = 3_600_000_000_000;
const SECOND_NS: u64 = 1_000_000_000;

/// `GET /api/metrics/query_range`: `QueryRangeResponse` JSON (or
/// protobuf when asked for).
pub(super) async fn query_range(
    State(q): State<Arc<Querier>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let cx = context(&q, &headers, raw)?;
    let req = request(&q, &cx, false)?;
    let outcome = run(&q, &cx, &req).await?;
    if wants_protobuf(&headers) {
        let message = metrics_json::partial_message(req.max_series);
        return Ok(protobuf(metrics_proto::range(&outcome, &message)));
    }
    Ok(json_response(metrics_json::range(&outcome, req.max_series)))
}

/// `GET /api/metrics/query`: `QueryInstantResponse` JSON (or protobuf),
/// one value per series over the whole range.
pub(super) async fn query_instant(
    State(q): State<Arc<Querier>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let cx = context(&q, &headers, raw)?;
    let req = request(&q, &cx, true)?;
    let outcome = run(&q, &cx, &req).await?;
    if wants_protobuf(&headers) {
        let message = metrics_json::partial_message(req.max_series);
        return Ok(protobuf(metrics_proto::instant(&outcome, &message)));
    }
    Ok(json_response(metrics_json::instant(
        &outcome,
        req.max_series,
    )))
}

fn bad(name: &'static str, reason: impl Into<String>) -> TempoError {
    TempoError::BadParam {
        name,
        reason: reason.into(),
    }
}

/// A timestamp parameter in ns (Tempo's formats, as Loki's).
fn time(cx: &Context, name: &'static str) -> Result<Option<u64>, TempoError> {
    cx.params
        .get(name)
        .map(|s| {
            parse_loki_time(s)
                .and_then(|ns| u64::try_from(ns).ok())
                .ok_or_else(|| bad(name, format!("cannot parse {s:?} to a timestamp")))
        })
        .transpose()
}

/// The request's `[start, end]` in ns: `since` back from now, else `start`
/// and `end` (both or neither; neither is the last hour).
fn range(cx: &Context) -> Result<(u64, u64), TempoError> {
    let now = u64::try_from(common::time::now_ms())
        .unwrap_or(0)
        .saturating_mul(1_000_000);
    if let Some(since) = cx.params.get("since") {
        let d = parse_duration(since)
            .ok_or_else(|| bad("since", format!("could not parse {since:?} as a duration")))?;
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        return Ok((now.saturating_sub(d), now));
    }
    let (start, end) = match (time(cx, "start")?, time(cx, "end")?) {
        (Some(s), Some(e)) => (s, e),
        (None, None) => (now.saturating_sub(DEFAULT_SINCE_NS), now),
        _ => {
            return Err(bad(
                "start",
                "only one of start and end provided: must provide both or neither",
            ));
        }
    };
    if start >= end {
        return Err(bad("end", "end must be greater than start"));
    }
    Ok((start, end))
}

/// Tempo's default step: about 240 points, rounded down to a whole
/// granularity (at least a second; 50ms multiples under a minute).
fn default_step(start: u64, end: u64) -> u64 {
    let delta = end - start;
    let baseline = delta / 240;
    if delta < 60 * SECOND_NS {
        let g = 50_000_000;
        return if baseline > g { baseline / g * g } else { g };
    }
    for g in [3600, 300, 60, 15, 5, 1].map(|s| s * SECOND_NS) {
        if baseline > g {
            return baseline / g * g;
        }
    }
    SECOND_NS
}

/// Decodes and checks a metrics request against the tenants' limits.
fn request(q: &Querier, cx: &Context, instant: bool) -> Result<MetricsRequest, TempoError> {
    let text = cx
        .params
        .get("q")
        .or_else(|| cx.params.get("query"))
        .ok_or_else(|| {
            bad(
                "q",
                "missing TraceQL metrics query (err-cairn-traceql-metrics-query: pass q={ } | rate())",
            )
        })?;
    let query = traceql::parse_metrics(text)?;
    let (start_ns, end_ns) = range(cx)?;
    let len = end_ns - start_ns;
    let max_len = strictest(&q.overrides, &cx.tenants, |l| {
        u64::try_from(l.max_metrics_duration.as_nanos()).unwrap_or(u64::MAX)
    });
    if max_len > 0 && len > max_len {
        return Err(bad(
            "end",
            format!(
                "metrics query time range exceeds the maximum allowed duration of {} \
                 (err-cairn-traceql-metrics-range: shorten the range or raise max_metrics_duration)",
                format_duration(i64::try_from(max_len).unwrap_or(i64::MAX))
            ),
        ));
    }
    let step_ns = if instant {
        len
    } else {
        match cx.params.get("step") {
            None => default_step(start_ns, end_ns),
            // Float seconds or a Prometheus duration, else Go's form
            // (`1m0s`, `1.5s`), which Grafana's Tempo data source sends.
            Some(s) => parse_duration(s)
                .and_then(|d| u64::try_from(d.as_nanos()).ok())
                .or_else(|| traceql::parse_duration(s))
                .filter(|&d| d > 0)
                .ok_or_else(|| bad("step", format!("cannot parse {s:?}: step must be positive")))?,
        }
    };
    if !instant && len / step_ns > MAX_STEPS {
        let ns = |n: u64| format_duration(i64::try_from(n).unwrap_or(i64::MAX));
        return Err(bad(
            "step",
            format!(
                "step of {} is too small, minimum step for given range is {} \
                 (err-cairn-traceql-metrics-step: raise step or shorten the range)",
                ns(step_ns),
                ns(len / MAX_STEPS)
            ),
        ));
    }
    let exemplars = exemplars(cx, &query.hints)?;
    Ok(MetricsRequest {
        exemplars,
        query,
        start_ns,
        end_ns,
        step_ns,
        instant,
        max_series: usize::try_from(strictest(&q.overrides, &cx.tenants, |l| {
            l.max_response_series as u64
        }))
        .unwrap_or(usize::MAX),
    })
}

/// Exemplars wanted: the `exemplars` hint (a number, or `false` for
/// none), else the `exemplars` parameter, else the most; never more.
fn exemplars(cx: &Context, hints: &[(String, Value<'static>)]) -> Result<usize, TempoError> {
    let wanted = match hints.iter().find(|(k, _)| k == "exemplars") {
        Some((_, Value::Int(n))) => usize::try_from(*n).unwrap_or(0),
        Some((_, Value::Bool(false))) => 0,
        _ => match cx.params.get("exemplars") {
            Some(s) => s
                .parse::<usize>()
                .map_err(|_| bad("exemplars", format!("{s:?} is not a non-negative integer")))?,
            None => 0,
        },
    };
    // Zero asked through the parameter means the default, as in Tempo.
    let explicit_none = hints
        .iter()
        .any(|(k, v)| k == "exemplars" && matches!(v, Value::Int(0) | Value::Bool(false)));
    Ok(match wanted {
        0 if !explicit_none => MAX_EXEMPLARS,
        n => n.min(MAX_EXEMPLARS),
    })
}

/// Evaluates `req` within the querier's timeout.
async fn run(
    q: &Querier,
    cx: &Context,
    req: &MetricsRequest,
) -> Result<MetricsOutcome, TempoError> {
    let started = Instant::now();
    let steps = Steps::new(req.start_ns, req.end_ns, req.step_ns, req.instant)
        .ok_or_else(|| bad("step", "the range and step give no steps"))?;
    let timeout = q.cfg.timeout;
    let outcome = tokio::time::timeout(
        timeout,
        traceql::metrics(&*cx.store, &cx.tenants, req, steps),
    )
    .await
    .map_err(|_| {
        crate::frontend::count_cancelled_query();
        TempoError::Timeout(timeout)
    })??;
    tracing::debug!(
        query = %req.query,
        tenants = cx.tenants.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        traces = outcome.inspected_traces,
        series = outcome.series.len(),
        "traceql metrics query"
    );
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::{SECOND_NS, default_step};

    #[test]
    fn the_default_step_gives_about_240_points_in_whole_granularities() {
        let s = SECOND_NS;
        for (range, want) in [
            (3600 * s, 15 * s),
            (24 * 3600 * s, 300 * s),
            (7 * 24 * 3600 * s, 2400 * s),
            (30 * s, 100_000_000),
            (10 * s, 50_000_000),
            (120 * s, s),
        ] {
            assert_eq!(default_step(1_000 * s, 1_000 * s + range), want, "{range}");
        }
    }
}
