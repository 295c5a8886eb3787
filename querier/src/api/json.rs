//! Response bodies byte-for-byte in Prometheus's JSON shapes: values as
//! strings in Go float formatting, timestamps as seconds with millisecond
//! decimals, labels in name order.

use std::fmt::Write;

use common::exemplar::SeriesExemplars;
use common::labels::Labels;
use common::series::Sample as Point;

use super::metric_metadata::MetadataByFamily;
use crate::promql::QueryValue;
use crate::promql::format::{api_float, api_timestamp};

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

/// `{"status":"success","data":{"resultType":…,"result":…}}`.
pub(crate) fn query_result(value: &QueryValue) -> String {
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
                out.push_str(",\"value\":");
                point(&mut out, s.t, s.v);
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
                out.push_str(",\"values\":");
                points(&mut out, &s.samples);
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push_str("}}");
    out
}

/// `{"status":"success","data":…}` plus `"warnings"` when there are any.
fn success(data: &str, warnings: &[&str]) -> String {
    let mut out = format!("{{\"status\":\"success\",\"data\":{data}");
    if !warnings.is_empty() {
        let items: Vec<String> = warnings.iter().map(|w| string(w)).collect();
        let _ = write!(out, ",\"warnings\":[{}]", items.join(","));
    }
    out.push('}');
    out
}

/// A query result with Prometheus's `"stats"` object (already JSON) added
/// to `data`.
pub(crate) fn query_result_with_stats(value: &QueryValue, stats_json: &str) -> String {
    let mut out = query_result(value);
    // `query_result` ends with the closing braces of `data` and the response.
    if out.ends_with("}}") {
        out.truncate(out.len() - 2);
        let _ = write!(out, ",\"stats\":{stats_json}}}}}");
    }
    out
}

/// `{"status":"success","data":[{…labels…},…]}` for `/series`.
pub(crate) fn series_result(series: &[Labels], warnings: &[&str]) -> String {
    let mut data = String::from("[");
    for (i, l) in series.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        labels_object(&mut data, l);
    }
    data.push(']');
    success(&data, warnings)
}

/// `{"status":"success","data":["a","b"]}` for label names and values.
pub(crate) fn strings_result(values: &[String], warnings: &[&str]) -> String {
    let items: Vec<String> = values.iter().map(|v| string(v)).collect();
    success(&format!("[{}]", items.join(",")), warnings)
}

/// `{"status":"success","data":"…"}` for `/format_query`.
pub(crate) fn string_result(value: &str) -> String {
    success(&string(value), &[])
}

/// `{"status":"success","data":{"family":[{"type":…,"help":…,"unit":…}]}}`
/// for `/metadata`.
pub(crate) fn metadata_result(families: &MetadataByFamily) -> String {
    let mut data = String::from("{");
    for (i, (family, entries)) in families.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        let _ = write!(data, "{}:[", string(family));
        for (j, m) in entries.iter().enumerate() {
            if j > 0 {
                data.push(',');
            }
            let _ = write!(
                data,
                "{{\"type\":{},\"help\":{},\"unit\":{}}}",
                string(m.metric_type.as_str()),
                string(&m.help),
                string(&m.unit)
            );
        }
        data.push(']');
    }
    data.push('}');
    success(&data, &[])
}

/// `{"status":"success","data":[{"seriesLabels":…,"exemplars":[…]}]}` for
/// `/query_exemplars`.
pub(crate) fn exemplars_result(result: &[SeriesExemplars]) -> String {
    let mut data = String::from("[");
    for (i, s) in result.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        data.push_str("{\"seriesLabels\":");
        labels_object(&mut data, &s.series);
        data.push_str(",\"exemplars\":[");
        for (j, e) in s.exemplars.iter().enumerate() {
            if j > 0 {
                data.push(',');
            }
            data.push_str("{\"labels\":");
            labels_object(&mut data, &e.labels);
            let _ = write!(
                data,
                ",\"value\":\"{}\",\"timestamp\":{}}}",
                api_float(e.value),
                api_timestamp(e.timestamp)
            );
        }
        data.push_str("]}");
    }
    data.push(']');
    success(&data, &[])
}

/// `/status/buildinfo` in Prometheus's shape.
pub(crate) fn build_info(version: &str) -> String {
    let data = format!(
        "{{\"version\":{},\"revision\":\"unknown\",\"branch\":\"unknown\",\"buildUser\":\"unknown\",\
         \"buildDate\":\"unknown\",\"goVersion\":\"unknown\"}}",
        string(version)
    );
    success(&data, &[])
}

/// `{"status":"error","errorType":…,"error":…}`.
pub(crate) fn error(error_type: &str, message: &str) -> String {
    format!(
        "{{\"status\":\"error\",\"errorType\":{},\"error\":{}}}",
        string(error_type),
        string(message)
    )
}
