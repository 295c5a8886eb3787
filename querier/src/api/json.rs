//! Response bodies byte-for-byte in Prometheus's JSON shapes: values as
//! strings in Go float formatting, timestamps as seconds with millisecond
//! decimals, labels in name order.

use std::fmt::Write;

use common::labels::Labels;
use common::series::Sample as Point;

use crate::promql::format::{api_float, api_histogram, api_timestamp};
use crate::promql::{Annotations, QueryResult, QueryValue};

/// A JSON string literal.
fn string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn labels_object(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:{}", string(&l.name), string(&l.value));
    }
    out.push('}');
}

fn point(out: &mut String, t: i64, v: f64) {
    let _ = write!(out, "[{},\"{}\"]", api_timestamp(t), api_float(v));
}

fn points(out: &mut String, pts: &[Point]) {
    out.push('[');
    for (i, p) in pts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        point(out, p.t, p.v);
    }
    out.push(']');
}

/// `{"status":"success","data":{"resultType":…,"result":…}}`, plus
/// `"warnings"` and `"infos"` when the query raised annotations.
pub(crate) fn query_result(result: &QueryResult) -> String {
    let value = &result.value;
    let mut out = format!(
        "{{\"status\":\"success\",\"data\":{{\"resultType\":\"{}\",\"result\":",
        value.result_type()
    );
    match value {
        QueryValue::Scalar { t, v } => point(&mut out, *t, *v),
        QueryValue::String { t, v } => {
            let _ = write!(out, "[{},{}]", api_timestamp(*t), string(v));
        }
        QueryValue::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                labels_object(&mut out, &s.labels);
                match &s.h {
                    Some(h) => {
                        let _ = write!(
                            out,
                            ",\"histogram\":[{},{}]",
                            api_timestamp(s.t),
                            api_histogram(h)
                        );
                    }
                    None => {
                        out.push_str(",\"value\":");
                        point(&mut out, s.t, s.v);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                labels_object(&mut out, &s.labels);
                if !s.samples.is_empty() || s.histograms.is_empty() {
                    out.push_str(",\"values\":");
                    points(&mut out, &s.samples);
                }
                if !s.histograms.is_empty() {
                    let items: Vec<String> = s
                        .histograms
                        .iter()
                        .map(|p| format!("[{},{}]", api_timestamp(p.t), api_histogram(&p.h)))
                        .collect();
                    let _ = write!(out, ",\"histograms\":[{}]", items.join(","));
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
    annotations(&mut out, &result.annotations);
    out.push('}');
    out
}

fn annotations(out: &mut String, a: &Annotations) {
    for (key, list) in [("warnings", &a.warnings), ("infos", &a.infos)] {
        if !list.is_empty() {
            let items: Vec<String> = list.iter().map(|t| string(t)).collect();
            let _ = write!(out, ",\"{key}\":[{}]", items.join(","));
        }
    }
}

/// `{"status":"success","data":[{…labels…},…]}` for `/series`.
pub(crate) fn series_result(series: &[Labels]) -> String {
    let mut out = String::from("{\"status\":\"success\",\"data\":[");
    for (i, l) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        labels_object(&mut out, l);
    }
    out.push_str("]}");
    out
}

/// `{"status":"success","data":["a","b"]}` for label names and values.
pub(crate) fn strings_result(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| string(v)).collect();
    format!("{{\"status\":\"success\",\"data\":[{}]}}", items.join(","))
}

/// `{"status":"error","errorType":…,"error":…}`.
pub(crate) fn error(error_type: &str, message: &str) -> String {
    format!(
        "{{\"status\":\"error\",\"errorType\":{},\"error\":{}}}",
        string(error_type),
        string(message)
    )
}
