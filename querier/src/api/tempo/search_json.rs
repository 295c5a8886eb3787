//! Tempo's search response: traces with their spansets, each span with
//! the attributes the query looked at or `select()`ed.

use common::traces::Span;
use serde_json::{Value as Json, json};

use crate::traceql::{
    FieldExpr, Query, SearchOutcome, Spanset, SpansetExpr, Stage, TraceHit, TraceView, Value, hex,
};

/// Shown when a trace's root span has not arrived (Tempo's wording).
const ROOT_NOT_RECEIVED: &str = "<root span not yet received>";

/// The fields reported with each span: attributes in filters, `select()`ed fields.
fn reported_fields(q: &Query) -> Vec<FieldExpr> {
    let mut out: Vec<FieldExpr> = Vec::new();
    fn walk(e: &FieldExpr, out: &mut Vec<FieldExpr>) {
        match e {
            FieldExpr::Attr(_) => {
                if !out.iter().any(|o| o.to_string() == e.to_string()) {
                    out.push(e.clone());
                }
            }
            FieldExpr::Binary(_, l, r) => {
                walk(l, out);
                walk(r, out);
            }
            FieldExpr::Regex { lhs, .. } => walk(lhs, out),
            FieldExpr::Not(x) | FieldExpr::Neg(x) => walk(x, out),
            FieldExpr::Static(_) | FieldExpr::Intrinsic(_) => {}
        }
    }
    fn walk_query(q: &Query, out: &mut Vec<FieldExpr>) {
        walk_spanset(&q.expr, out);
        for s in &q.stages {
            match s {
                Stage::Filter(f) | Stage::By(f) => walk(f, out),
                Stage::Select(fields) => {
                    for f in fields {
                        if !out.iter().any(|o| o.to_string() == f.to_string()) {
                            out.push(f.clone());
                        }
                    }
                }
                Stage::Scalar { .. } | Stage::Coalesce => {}
            }
        }
    }
    fn walk_spanset(e: &SpansetExpr, out: &mut Vec<FieldExpr>) {
        match e {
            SpansetExpr::Filter(f) => walk(f, out),
            SpansetExpr::Binary(_, l, r) => {
                walk_spanset(l, out);
                walk_spanset(r, out);
            }
            SpansetExpr::Pipeline(q) => walk_query(q, out),
        }
    }
    walk_query(q, &mut out);
    out
}

/// A TraceQL value as an OTLP/JSON `AnyValue`.
fn any_value(v: &Value<'_>) -> Json {
    match v {
        Value::Str(s) => json!({ "stringValue": s }),
        Value::Int(i) => json!({ "intValue": i.to_string() }),
        Value::Float(f) => json!({ "doubleValue": f }),
        Value::Bool(b) => json!({ "boolValue": b }),
        other => json!({ "stringValue": other.render() }),
    }
}

fn field_key(f: &FieldExpr) -> String {
    match f {
        FieldExpr::Attr(a) => a.name.clone(),
        other => other.to_string(),
    }
}

fn span_json(span: &Span, fields: &[FieldExpr], view: &TraceView<'_>) -> Json {
    let attributes: Vec<Json> = fields
        .iter()
        .filter_map(|f| {
            let v = crate::traceql::field_value(f, span, view);
            (v != Value::Nil).then(|| json!({ "key": field_key(f), "value": any_value(&v) }))
        })
        .collect();
    json!({
        "spanID": hex(&span.span_id),
        "name": span.name,
        "startTimeUnixNano": span.start_unix_nano.to_string(),
        "durationNanos": span.duration_nanos().to_string(),
        "attributes": attributes,
    })
}

fn spanset_json(set: &Spanset, fields: &[FieldExpr], view: &TraceView<'_>, spss: usize) -> Json {
    let spans: Vec<Json> = set
        .spans
        .iter()
        .take(spss)
        .filter_map(|&i| view.trace.spans.get(i))
        .map(|s| span_json(s, fields, view))
        .collect();
    let attributes: Vec<Json> = set
        .attributes
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
        .collect();
    json!({ "spans": spans, "matched": set.spans.len(), "attributes": attributes })
}

/// A trace ID as Tempo prints it in search results: hex, leading zeros trimmed.
fn trace_id(id: &[u8]) -> String {
    let h = hex(id);
    let trimmed = h.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

fn trace_json(hit: &TraceHit, fields: &[FieldExpr], spss: usize) -> Json {
    let view = TraceView::new(&hit.trace);
    let sets: Vec<Json> = hit
        .spansets
        .iter()
        .map(|s| spanset_json(s, fields, &view, spss))
        .collect();
    let mut t = json!({
        "traceID": trace_id(&hit.trace.trace_id),
        "rootServiceName": hit.root_service_name.as_deref().unwrap_or(ROOT_NOT_RECEIVED),
        "rootTraceName": hit.root_name.as_deref().unwrap_or(ROOT_NOT_RECEIVED),
        "startTimeUnixNano": hit.start_ns.to_string(),
        "durationMs": hit.duration_ns / 1_000_000,
    });
    if let Some(first) = sets.first() {
        t["spanSet"] = first.clone();
    }
    t["spanSets"] = Json::Array(sets);
    t
}

/// The `/api/search` body for `outcome`.
pub(super) fn response(q: &Query, outcome: &SearchOutcome, spss: usize) -> Json {
    let fields = reported_fields(q);
    let traces: Vec<Json> = outcome
        .hits
        .iter()
        .map(|h| trace_json(h, &fields, spss))
        .collect();
    json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": outcome.inspected_traces,
            "inspectedBytes": "0",
            "completedJobs": 1,
            "totalJobs": 1,
        },
    })
}
