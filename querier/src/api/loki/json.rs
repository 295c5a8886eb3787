//! Loki's JSON response shapes: `streams` results (timestamps as
//! nanosecond strings), the `stats` summary, tail frames and index stats.
//! Matrix, vector and scalar results share the Prometheus encoder.

use std::fmt::Write;
use std::time::Duration;

use common::logs::{LogStats, StreamEntries};

use crate::api::json::{labels_object, query_result, string};
use crate::logql::{ExecStats, LogqlResult, LogqlValue};
use crate::promql::{Annotations, QueryResult};

/// `[{"stream":{…},"values":[["<ns>","line"],…]},…]`.
pub(crate) fn streams(out: &mut String, streams: &[StreamEntries]) {
    out.push('[');
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"stream\":");
        labels_object(out, &s.labels);
        out.push_str(",\"values\":[");
        for (j, e) in s.entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "[\"{}\",{}]", e.ts_ns, string(&e.line));
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// Loki's `stats` object (the summary Grafana shows).
fn stats(s: &ExecStats, exec: Duration, returned: usize) -> String {
    let secs = exec.as_secs_f64().max(1e-9);
    format!(
        "{{\"summary\":{{\"bytesProcessedPerSecond\":{},\"linesProcessedPerSecond\":{},\"totalBytesProcessed\":{},\"totalLinesProcessed\":{},\"execTime\":{},\"queueTime\":0,\"subqueries\":0,\"totalEntriesReturned\":{returned},\"splits\":0,\"shards\":0,\"totalPostFilterLines\":{},\"totalStructuredMetadataBytesProcessed\":0}},\"querier\":{{\"store\":{{}}}},\"ingester\":{{\"store\":{{}}}},\"cache\":{{}}}}",
        (s.bytes as f64 / secs) as u64,
        (s.lines as f64 / secs) as u64,
        s.bytes,
        s.lines,
        exec.as_secs_f64(),
        s.lines,
    )
}

/// The `/query` and `/query_range` body.
pub(crate) fn query_response(result: &LogqlResult, exec: Duration) -> String {
    match &result.value {
        LogqlValue::Streams(s) => {
            let returned = s.iter().map(|s| s.entries.len()).sum();
            let mut out = String::from(
                "{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":",
            );
            streams(&mut out, s);
            let _ = write!(
                out,
                ",\"stats\":{}}}}}",
                stats(&result.stats, exec, returned)
            );
            out
        }
        LogqlValue::Metric(value) => {
            let returned = match value {
                crate::promql::QueryValue::Vector(v) => v.len(),
                crate::promql::QueryValue::Matrix(m) => m.len(),
                _ => 1,
            };
            let r = QueryResult {
                value: value.clone(),
                annotations: Annotations::default(),
            };
            query_result(&r, Some(&stats(&result.stats, exec, returned)))
        }
    }
}

/// One `/tail` WebSocket frame.
pub(crate) fn tail_frame(s: &[StreamEntries]) -> String {
    let mut out = String::from("{\"streams\":");
    streams(&mut out, s);
    out.push_str(",\"dropped_entries\":null}");
    out
}

/// The `/index/stats` body.
pub(crate) fn index_stats(s: &LogStats) -> String {
    format!(
        "{{\"streams\":{},\"chunks\":{},\"entries\":{},\"bytes\":{}}}",
        s.streams, s.chunks, s.entries, s.bytes
    )
}
