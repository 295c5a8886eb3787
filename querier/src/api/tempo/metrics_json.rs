//! Tempo's JSON for TraceQL metrics answers, as its frontend renders the
//! `tempopb` messages (protobuf JSON, camelCase, 64-bit integers as
//! strings): `QueryRangeResponse` for `/api/metrics/query_range` and
//! `QueryInstantResponse` for `/api/metrics/query`.

use serde_json::{Value as Json, json};

use crate::traceql::{MetricsOutcome, Value, format_duration};

/// A label value as an OTLP `AnyValue`, typed as Tempo types it.
fn any_value(v: &Value<'_>) -> Json {
    match v {
        Value::Int(i) => json!({ "intValue": i.to_string() }),
        Value::Float(f) => json!({ "doubleValue": number(*f) }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Duration(d) => json!({ "stringValue": format_duration(*d) }),
        other => json!({ "stringValue": other.render() }),
    }
}

/// A double as protobuf JSON writes it (non-finite values as strings).
fn number(f: f64) -> Json {
    if f.is_finite() {
        json!(f)
    } else if f.is_nan() {
        json!("NaN")
    } else if f > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

fn labels(labels: &[(String, Value<'static>)]) -> Json {
    labels
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
        .collect()
}

/// `SearchMetrics`: what the query looked at (one job: Cairn does not shard).
fn metrics(outcome: &MetricsOutcome) -> Json {
    json!({
        "inspectedTraces": outcome.inspected_traces,
        "inspectedSpans": outcome.inspected_spans.to_string(),
        "totalJobs": 1,
        "completedJobs": 1,
    })
}

/// Tempo's message for an answer cut at `max_series` series, with the fix.
pub(super) fn partial_message(max_series: usize) -> String {
    format!(
        "Response exceeds maximum series limit of {max_series}, a partial response is returned. \
         Warning: the accuracy of each individual value is not guaranteed. \
         (err-cairn-traceql-metrics-too-many-series: group by fewer or lower-cardinality \
         attributes, narrow the spanset filter, or raise max_response_series)"
    )
}

/// Adds Tempo's partial-answer status and message when the series limit
/// cut the answer short.
fn with_status(mut body: Json, outcome: &MetricsOutcome, max_series: usize) -> Json {
    if outcome.truncated {
        body["status"] = json!("PARTIAL");
        body["message"] = json!(partial_message(max_series));
    }
    body
}

/// `QueryRangeResponse`: every series with its samples.
pub(super) fn range(outcome: &MetricsOutcome, max_series: usize) -> Json {
    let series: Vec<Json> = outcome
        .series
        .iter()
        .map(|s| {
            let samples: Vec<Json> = s
                .samples
                .iter()
                .map(|(t, v)| json!({ "timestampMs": t.to_string(), "value": number(*v) }))
                .collect();
            let mut series = json!({ "labels": labels(&s.labels), "samples": samples });
            if !s.exemplars.is_empty() {
                series["exemplars"] = s
                    .exemplars
                    .iter()
                    .map(|e| {
                        json!({
                            "labels": labels(&e.labels),
                            "value": number(e.value),
                            "timestampMs": e.timestamp_ms.to_string(),
                        })
                    })
                    .collect();
            }
            series
        })
        .collect();
    with_status(
        json!({ "series": series, "metrics": metrics(outcome) }),
        outcome,
        max_series,
    )
}

/// `QueryInstantResponse`: one value per series.
pub(super) fn instant(outcome: &MetricsOutcome, max_series: usize) -> Json {
    let series: Vec<Json> = outcome
        .series
        .iter()
        .filter_map(|s| {
            let (_, v) = s.samples.first()?;
            Some(json!({ "labels": labels(&s.labels), "value": number(*v) }))
        })
        .collect();
    with_status(
        json!({ "series": series, "metrics": metrics(outcome) }),
        outcome,
        max_series,
    )
}
