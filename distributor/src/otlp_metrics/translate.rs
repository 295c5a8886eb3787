//! OTLP metrics → Prometheus series, the way Prometheus's `otlptranslator`
//! and Mimir do it: sanitised names with unit and type suffixes
//! (`_seconds`, `_bytes`, `_total`, `_ratio`), sanitised label names,
//! `service.namespace/service.name` → `job`, `service.instance.id` →
//! `instance`, the other resource attributes on one `target_info` series
//! per resource. Delta temporality and exponential histograms are refused
//! per metric, with the reason.
//!
//! A data point becomes several series (one per histogram bucket), each
//! with a copy of the point's and the resource's labels, so the series can
//! be far larger than the request: translation stops with
//! [`DecodedTooLarge`] once they would pass `max_decoded_request_bytes`.

use opentelemetry_proto::tonic::common::v1::KeyValue as OtlpKeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, ResourceMetrics};

use crate::decode_budget::{Budget, DecodedTooLarge};
use crate::remote_write::{Label, Sample, TimeSeries, WriteRequest};

/// OTLP's "no recorded value" data point flag.
const NO_RECORDED_VALUE: u32 = 1;

/// The translated series, and what could not be translated.
#[derive(Debug, Default, PartialEq)]
pub struct Translated {
    /// A remote-write request with the series (labels sorted).
    pub request: WriteRequest,
    /// Data points refused, with a message per refused metric.
    pub refused_points: usize,
    /// Why, one line per refused metric.
    pub errors: Vec<String>,
}

/// Translates every resource's metrics, refusing the request once its
/// series would take more than `max_decoded_request_bytes` of memory.
pub fn translate(
    resource_metrics: Vec<ResourceMetrics>,
    max_decoded_request_bytes: usize,
) -> Result<Translated, DecodedTooLarge> {
    let mut out = Translated::default();
    let mut budget = Budget::new(max_decoded_request_bytes);
    for rm in resource_metrics {
        let attrs = rm.resource.map(|r| r.attributes).unwrap_or_default();
        let resource_labels = resource_labels(&attrs);
        let mut newest_ms = None;
        for sm in rm.scope_metrics {
            for metric in sm.metrics {
                translate_metric(
                    metric,
                    &resource_labels,
                    &mut out,
                    &mut newest_ms,
                    &mut budget,
                )?;
            }
        }
        if let Some(ts) = newest_ms {
            target_info(&attrs, &resource_labels, ts, &mut out, &mut budget)?;
        }
    }
    Ok(out)
}

/// `job` and `instance` from the resource.
fn resource_labels(attrs: &[OtlpKeyValue]) -> Vec<Label> {
    let get = |k: &str| {
        attrs
            .iter()
            .find(|kv| kv.key == k)
            .map(value_text)
            .filter(|v| !v.is_empty())
    };
    let mut labels = Vec::new();
    if let Some(name) = get("service.name") {
        let job = match get("service.namespace") {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        };
        labels.push(Label::new("job", job));
    }
    if let Some(instance) = get("service.instance.id") {
        labels.push(Label::new("instance", instance));
    }
    labels
}

fn target_info(
    attrs: &[OtlpKeyValue],
    base: &[Label],
    ts: i64,
    out: &mut Translated,
    budget: &mut Budget,
) -> Result<(), DecodedTooLarge> {
    let extra: Vec<Label> = attrs
        .iter()
        .filter(|kv| {
            !matches!(
                kv.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            )
        })
        .map(|kv| Label::new(label_name(&kv.key), value_text(kv)))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let mut labels = base.to_vec();
    labels.extend(extra);
    push(out, "target_info", labels, 1.0, ts, budget)
}

fn translate_metric(
    metric: Metric,
    resource: &[Label],
    out: &mut Translated,
    newest_ms: &mut Option<i64>,
    budget: &mut Budget,
) -> Result<(), DecodedTooLarge> {
    let Some(data) = metric.data else {
        return Ok(());
    };
    let mut refuse = |points: usize, why: &str| {
        out.refused_points += points;
        out.errors.push(format!("metric {:?}: {why}", metric.name));
    };
    let delta = AggregationTemporality::Delta as i32;
    match &data {
        Data::Sum(s) if s.aggregation_temporality == delta => {
            refuse(
                s.data_points.len(),
                "delta temporality is not supported; send cumulative sums",
            );
            return Ok(());
        }
        Data::Histogram(h) if h.aggregation_temporality == delta => {
            refuse(
                h.data_points.len(),
                "delta temporality is not supported; send cumulative histograms",
            );
            return Ok(());
        }
        Data::ExponentialHistogram(h) => {
            refuse(
                h.data_points.len(),
                "exponential histograms are not supported",
            );
            return Ok(());
        }
        _ => {}
    }
    let mut track = |ts: i64| *newest_ms = Some(newest_ms.map_or(ts, |n: i64| n.max(ts)));
    match data {
        Data::Gauge(g) => {
            let name = metric_name(&metric.name, &metric.unit, Kind::Gauge);
            for p in g.data_points {
                let (Some(v), false) = (number(&p.value), p.flags & NO_RECORDED_VALUE != 0) else {
                    continue;
                };
                let ts = ms(p.time_unix_nano);
                track(ts);
                push(out, &name, labels(resource, &p.attributes), v, ts, budget)?;
            }
        }
        Data::Sum(s) => {
            let kind = if s.is_monotonic {
                Kind::Counter
            } else {
                Kind::Gauge
            };
            let name = metric_name(&metric.name, &metric.unit, kind);
            for p in s.data_points {
                let (Some(v), false) = (number(&p.value), p.flags & NO_RECORDED_VALUE != 0) else {
                    continue;
                };
                let ts = ms(p.time_unix_nano);
                track(ts);
                push(out, &name, labels(resource, &p.attributes), v, ts, budget)?;
            }
        }
        Data::Histogram(h) => {
            let name = metric_name(&metric.name, &metric.unit, Kind::Histogram);
            for p in h.data_points {
                if p.flags & NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let ts = ms(p.time_unix_nano);
                track(ts);
                let base = labels(resource, &p.attributes);
                let mut cumulative = 0u64;
                for (i, count) in p.bucket_counts.iter().enumerate() {
                    cumulative = cumulative.saturating_add(*count);
                    let le = p
                        .explicit_bounds
                        .get(i)
                        .map_or_else(|| "+Inf".to_string(), |b| format_float(*b));
                    let mut l = base.clone();
                    l.push(Label::new("le", le));
                    push(
                        out,
                        &format!("{name}_bucket"),
                        l,
                        cumulative as f64,
                        ts,
                        budget,
                    )?;
                }
                if p.bucket_counts.is_empty() {
                    let mut l = base.clone();
                    l.push(Label::new("le", "+Inf"));
                    push(
                        out,
                        &format!("{name}_bucket"),
                        l,
                        p.count as f64,
                        ts,
                        budget,
                    )?;
                }
                if let Some(sum) = p.sum {
                    push(out, &format!("{name}_sum"), base.clone(), sum, ts, budget)?;
                }
                push(
                    out,
                    &format!("{name}_count"),
                    base,
                    p.count as f64,
                    ts,
                    budget,
                )?;
            }
        }
        Data::Summary(s) => {
            let name = metric_name(&metric.name, &metric.unit, Kind::Summary);
            for p in s.data_points {
                if p.flags & NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let ts = ms(p.time_unix_nano);
                track(ts);
                let base = labels(resource, &p.attributes);
                for q in &p.quantile_values {
                    let mut l = base.clone();
                    l.push(Label::new("quantile", format_float(q.quantile)));
                    push(out, &name, l, q.value, ts, budget)?;
                }
                push(out, &format!("{name}_sum"), base.clone(), p.sum, ts, budget)?;
                push(
                    out,
                    &format!("{name}_count"),
                    base,
                    p.count as f64,
                    ts,
                    budget,
                )?;
            }
        }
        Data::ExponentialHistogram(_) => {}
    }
    Ok(())
}

/// Appends one series of one sample, once `budget` allows its size.
fn push(
    out: &mut Translated,
    name: &str,
    mut labels: Vec<Label>,
    value: f64,
    ts: i64,
    budget: &mut Budget,
) -> Result<(), DecodedTooLarge> {
    budget.charge(
        std::mem::size_of::<TimeSeries>()
            + std::mem::size_of::<Sample>()
            + name.len()
            + labels
                .iter()
                .map(|l| std::mem::size_of::<Label>() + l.name.len() + l.value.len())
                .sum::<usize>(),
    )?;
    labels.push(Label::new("__name__", name));
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    // Attributes that sanitise to one name: values joined with ';' (as Prometheus).
    let mut merged: Vec<Label> = Vec::with_capacity(labels.len());
    for l in labels {
        match merged.last_mut() {
            Some(last) if last.name == l.name => {
                last.value.push(';');
                last.value.push_str(&l.value);
            }
            _ => merged.push(l),
        }
    }
    out.request.timeseries.push(TimeSeries {
        labels: merged,
        samples: vec![Sample {
            value,
            timestamp: ts,
        }],
        ..Default::default()
    });
    Ok(())
}

fn labels(resource: &[Label], attrs: &[OtlpKeyValue]) -> Vec<Label> {
    let mut l = resource.to_vec();
    l.extend(
        attrs
            .iter()
            .map(|kv| Label::new(label_name(&kv.key), value_text(kv))),
    );
    l
}

fn ms(ns: u64) -> i64 {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

fn number(v: &Option<NumberValue>) -> Option<f64> {
    match v {
        Some(NumberValue::AsDouble(d)) => Some(*d),
        Some(NumberValue::AsInt(i)) => Some(*i as f64),
        None => None,
    }
}

fn value_text(kv: &OtlpKeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_float(*d),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// A float as Prometheus prints `le` and `quantile` values.
fn format_float(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        f.to_string()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

/// Replaces every character outside `[a-zA-Z0-9_]` (plus `:` in metric
/// names) with `_`, collapses runs of `_`, and prefixes `_` to a leading digit.
fn sanitize(s: &str, allow_colon: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':');
        let c = if ok { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A Prometheus label name for an attribute key (a leading digit gets `key_`).
fn label_name(key: &str) -> String {
    let s = sanitize(key, false);
    match s.strip_prefix('_') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => format!("key_{rest}"),
        _ => s,
    }
}

/// The unit as a name suffix, as `otlptranslator` maps UCUM units.
fn unit_suffix(unit: &str, kind: Kind) -> Option<String> {
    let unit = unit.trim();
    if unit == "1" {
        return (kind == Kind::Gauge).then(|| "ratio".to_string());
    }
    if unit.is_empty() || unit.starts_with('{') {
        return None;
    }
    let word = |u: &str| -> String {
        match u {
            "d" => "days",
            "h" => "hours",
            "min" => "minutes",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "KBy" => "kilobytes",
            "MBy" => "megabytes",
            "GBy" => "gigabytes",
            "%" => "percent",
            "Hz" => "hertz",
            "V" => "volts",
            "A" => "amperes",
            "J" => "joules",
            "W" => "watts",
            "g" => "grams",
            "m" => "meters",
            "Cel" => "celsius",
            other => return sanitize(other, false).trim_matches('_').to_string(),
        }
        .to_string()
    };
    let suffix = match unit.split_once('/') {
        Some((a, b)) => {
            let per = match b {
                "s" => "second".to_string(),
                "m" => "minute".to_string(),
                "h" => "hour".to_string(),
                "d" => "day".to_string(),
                other => word(other),
            };
            if a.is_empty() || a.starts_with('{') {
                format!("per_{per}")
            } else {
                format!("{}_per_{per}", word(a))
            }
        }
        None => word(unit),
    };
    (!suffix.is_empty()).then_some(suffix)
}

/// The Prometheus metric name: sanitised, then the unit and `_total`
/// suffixes appended unless already there.
fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut out = sanitize(name, true);
    if let Some(suffix) = unit_suffix(unit, kind)
        && !out.ends_with(&format!("_{suffix}"))
    {
        if kind == Kind::Counter && out.ends_with("_total") {
            out.truncate(out.len() - "_total".len());
        }
        out = format!("{out}_{suffix}");
    }
    if kind == Kind::Counter && !out.ends_with("_total") {
        out.push_str("_total");
    }
    out
}

#[cfg(test)]
mod tests;
