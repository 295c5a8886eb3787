//! Response bodies byte-for-byte in Prometheus's JSON shapes: values as
//! strings in Go float formatting, timestamps as seconds with millisecond
//! decimals, labels in name order.

use std::fmt::Write;

use common::exemplar::SeriesExemplars;
use common::labels::Labels;
use common::series::Sample as Point;

use super::metric_metadata::MetadataByFamily;
use crate::promql::format::{api_float, api_histogram, api_timestamp};
use crate::promql::{Annotations, QueryResult, QueryValue};

/// A JSON string literal.
pub(crate) fn string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Appends `labels` as a JSON object of name → value.
pub(crate) fn labels_object(out: &mut String, labels: &Labels) {
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

/// `{"status":"success","data":{"resultType":…,"result":…}}`, with
/// Prometheus's `"stats"` object (already JSON) in `data` when given, plus
/// `"warnings"` and `"infos"` when the query raised annotations.
pub(crate) fn query_result(result: &QueryResult, stats_json: Option<&str>) -> String {
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
    if let Some(stats) = stats_json {
        let _ = write!(out, ",\"stats\":{stats}");
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

/// `/status/buildinfo` in Prometheus's shape, with Mimir's `features`
/// object: Grafana reads `ruler_config_api` from it to offer rule editing.
pub(crate) fn build_info(build: &common::build_info::BuildInfo) -> String {
    let data = format!(
        "{{\"version\":{},\"revision\":{},\"branch\":{},\"buildUser\":\"unknown\",\
         \"buildDate\":\"unknown\",\"goVersion\":{},\"features\":{{\"ruler_config_api\":\"true\",\
         \"alertmanager_config_api\":\"false\",\"query_sharding\":\"false\",\"federated_rules\":\"false\"}}}}",
        string(build.version),
        string(build.revision),
        string(build.branch),
        string(build.rust_version),
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
