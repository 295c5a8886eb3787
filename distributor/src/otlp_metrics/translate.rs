//! OTLP metrics → Prometheus series, the way Prometheus's `otlptranslator`
//! and Mimir do it: sanitised names with unit and type suffixes
//! (`_seconds`, `_bytes`, `_total`, `_ratio`), sanitised label names,
//! `service.namespace/service.name` → `job`, `service.instance.id` →
//! `instance`, the other resource attributes on one `target_info` series
//! per resource. Exponential histograms become native histograms
//! ([`super::exponential`]); delta sums and histograms are added into
//! cumulative series per stream ([`super::delta`]). Points that cannot be
//! translated are refused one by one, with the reason, never the request.
//! Exemplars go with their point's series (an explicit histogram's on the
//! bucket holding the exemplar's value).
//!
//! A data point becomes several series (one per histogram bucket), each
//! with a copy of the point's and the resource's labels, so the series can
//! be far larger than the request: translation stops with
//! [`DecodedTooLarge`] once they would pass `max_decoded_request_bytes`.

use common::traces::otlp::hex;
use opentelemetry_proto::tonic::common::v1::KeyValue as OtlpKeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::exemplar::Value as ExemplarValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar as OtlpExemplar, ExponentialHistogramDataPoint,
    HistogramDataPoint, Metric, ResourceMetrics,
};

use super::delta::TenantStreams;
use super::exponential;
use crate::decode_budget::{Budget, DecodedTooLarge};
use crate::remote_write::{
    BucketSpan, Exemplar, Histogram, Label, Sample, TimeSeries, WriteRequest,
};

/// OTLP's "no recorded value" data point flag.
pub(crate) const NO_RECORDED_VALUE: u32 = 1;

/// Discard-counter `reason` for exponential histograms of scale below -4.
pub(crate) const EXPONENTIAL_SCALE_INVALID: &str = "otlp-exponential-scale-invalid";
/// Discard-counter `reason` for exponential histograms whose counts or
/// indexes do not fit a native histogram.
pub(crate) const EXPONENTIAL_OVERFLOW: &str = "otlp-exponential-overflow";

/// The translated series, and what could not be translated.
#[derive(Debug, Default, PartialEq)]
pub struct Translated {
    /// A remote-write request with the series (labels sorted).
    pub request: WriteRequest,
    /// Data points refused.
    pub refused_points: usize,
    /// Why, one `err-cairn-<reason>: metric …` line per refused metric and reason.
    pub errors: Vec<String>,
    /// Refused data points by discard-counter `reason`.
    pub discarded: Vec<(&'static str, usize)>,
}

/// Translates every resource's metrics, adding delta points into the
/// tenant's running totals `deltas`, and refusing the request once its
/// series would take more than `max_decoded_request_bytes` of memory.
pub fn translate(
    resource_metrics: Vec<ResourceMetrics>,
    max_decoded_request_bytes: usize,
    deltas: &mut TenantStreams,
) -> Result<Translated, DecodedTooLarge> {
    let mut out = Translated::default();
    let mut ctx = Context {
        out: &mut out,
        budget: Budget::new(max_decoded_request_bytes),
        deltas,
        newest_ms: None,
    };
    for rm in resource_metrics {
        let attrs = rm.resource.map(|r| r.attributes).unwrap_or_default();
        let resource_labels = resource_labels(&attrs);
        ctx.newest_ms = None;
        for sm in rm.scope_metrics {
            for metric in sm.metrics {
                translate_metric(metric, &resource_labels, &mut ctx)?;
            }
        }
        if let Some(ts) = ctx.newest_ms {
            target_info(&attrs, &resource_labels, ts, &mut ctx)?;
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
    ctx: &mut Context<'_>,
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
    let series = ctx.series("target_info", labels, &[])?;
    push_sample(ctx.out, series, 1.0, ts);
    Ok(())
}

/// Refusals of one metric's points, one message line per reason.
struct Refusals<'a> {
    metric: &'a str,
    by_reason: Vec<(&'static str, usize, String)>,
}

impl<'a> Refusals<'a> {
    fn new(metric: &'a str) -> Self {
        Self {
            metric,
            by_reason: Vec::new(),
        }
    }

    /// Counts `points` refused for `reason`, keeping the first detail.
    fn add(&mut self, reason: &'static str, points: usize, detail: impl std::fmt::Display) {
        match self.by_reason.iter_mut().find(|(r, _, _)| *r == reason) {
            Some((_, n, _)) => *n += points,
            None => self.by_reason.push((reason, points, detail.to_string())),
        }
    }

    /// Moves the counts and messages into `out`.
    fn finish(self, out: &mut Translated) {
        for (reason, points, detail) in self.by_reason {
            out.refused_points += points;
            out.errors.push(format!(
                "err-cairn-{reason}: metric {:?}: {points} data point(s) refused: {detail}",
                self.metric
            ));
            match out.discarded.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += points,
                None => out.discarded.push((reason, points)),
            }
        }
    }
}

/// The stream identity of a delta point: its kind and the Prometheus
/// series (name and labels, as they will be stored) it feeds.
fn stream_key(kind: &str, name: &str, labels: &[Label]) -> String {
    let mut key = format!("{kind}\u{ff}{name}");
    for l in series_labels(name, labels.to_vec()) {
        key.push('\u{ff}');
        key.push_str(&l.name);
        key.push('\u{fe}');
        key.push_str(&l.value);
    }
    key
}

fn translate_metric(
    metric: Metric,
    resource: &[Label],
    ctx: &mut Context<'_>,
) -> Result<(), DecodedTooLarge> {
    let Some(data) = metric.data else {
        return Ok(());
    };
    let delta = AggregationTemporality::Delta as i32;
    let mut refused = Refusals::new(&metric.name);
    match data {
        Data::Gauge(g) => {
            let name = metric_name(&metric.name, &metric.unit, Kind::Gauge);
            for p in g.data_points {
                let (Some(v), false) = (number(&p.value), p.flags & NO_RECORDED_VALUE != 0) else {
                    continue;
                };
                let ts = ctx.track(p.time_unix_nano);
                let series = ctx.series(&name, labels(resource, &p.attributes), &p.exemplars)?;
                push_sample(ctx.out, series, v, ts);
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
                let (Some(mut v), false) = (number(&p.value), p.flags & NO_RECORDED_VALUE != 0)
                else {
                    continue;
                };
                let labels = labels(resource, &p.attributes);
                if s.aggregation_temporality == delta {
                    let key = stream_key("sum", &name, &labels);
                    match ctx
                        .deltas
                        .add_number(key, p.start_time_unix_nano, p.time_unix_nano, v)
                    {
                        Ok(total) => v = total,
                        Err(e) => {
                            refused.add(e.reason(), 1, e);
                            continue;
                        }
                    }
                }
                let ts = ctx.track(p.time_unix_nano);
                let series = ctx.series(&name, labels, &p.exemplars)?;
                push_sample(ctx.out, series, v, ts);
            }
        }
        Data::Histogram(h) => {
            let name = metric_name(&metric.name, &metric.unit, Kind::Histogram);
            for mut p in h.data_points {
                if p.flags & NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let base = labels(resource, &p.attributes);
                if h.aggregation_temporality == delta {
                    let key = stream_key("histogram", &name, &base);
                    if let Err(e) = ctx.deltas.add_histogram(key, &mut p) {
                        refused.add(e.reason(), 1, e);
                        continue;
                    }
                }
                let ts = ctx.track(p.time_unix_nano);
                explicit_histogram(ctx, &name, base, &p, ts)?;
            }
        }
        Data::ExponentialHistogram(h) => {
            let name = metric_name(&metric.name, &metric.unit, Kind::Histogram);
            let is_delta = h.aggregation_temporality == delta;
            for p in h.data_points {
                let base = labels(resource, &p.attributes);
                exponential_histogram(ctx, &name, base, p, is_delta, &mut refused)?;
            }
        }
        Data::Summary(s) => {
            let name = metric_name(&metric.name, &metric.unit, Kind::Summary);
            for p in s.data_points {
                if p.flags & NO_RECORDED_VALUE != 0 {
                    continue;
                }
                let ts = ctx.track(p.time_unix_nano);
                let base = labels(resource, &p.attributes);
                for q in &p.quantile_values {
                    let mut l = base.clone();
                    l.push(Label::new("quantile", format_float(q.quantile)));
                    let series = ctx.series(&name, l, &[])?;
                    push_sample(ctx.out, series, q.value, ts);
                }
                let series = ctx.series(&format!("{name}_sum"), base.clone(), &[])?;
                push_sample(ctx.out, series, p.sum, ts);
                let series = ctx.series(&format!("{name}_count"), base, &[])?;
                push_sample(ctx.out, series, p.count as f64, ts);
            }
        }
    }
    refused.finish(ctx.out);
    Ok(())
}

/// The native histogram series of an exponential histogram point, added
/// into its stream's total first when it is a delta.
fn exponential_histogram(
    ctx: &mut Context<'_>,
    name: &str,
    base: Vec<Label>,
    mut p: ExponentialHistogramDataPoint,
    is_delta: bool,
    refused: &mut Refusals<'_>,
) -> Result<(), DecodedTooLarge> {
    let refuse = |refused: &mut Refusals<'_>, e: exponential::NativeError| {
        let reason = match e {
            exponential::NativeError::ScaleTooSmall(_) => EXPONENTIAL_SCALE_INVALID,
            exponential::NativeError::Overflow => EXPONENTIAL_OVERFLOW,
        };
        refused.add(reason, 1, e);
    };
    if p.scale < exponential::MIN_SCHEMA {
        // Before the delta total: a refused point must not start a stream.
        refuse(refused, exponential::NativeError::ScaleTooSmall(p.scale));
        return Ok(());
    }
    if is_delta && p.flags & NO_RECORDED_VALUE == 0 {
        let key = stream_key("exponential", name, &base);
        if let Err(e) = ctx.deltas.add_exponential(key, &mut p) {
            refused.add(e.reason(), 1, e);
            return Ok(());
        }
    }
    let histogram = match exponential::to_native(&p, ms(p.time_unix_nano)) {
        Ok(h) => h,
        Err(e) => {
            refuse(refused, e);
            return Ok(());
        }
    };
    ctx.track(p.time_unix_nano);
    let buckets = histogram.positive_deltas.len() + histogram.negative_deltas.len();
    let spans = histogram.positive_spans.len() + histogram.negative_spans.len();
    ctx.budget.charge(
        std::mem::size_of::<Histogram>()
            + buckets * std::mem::size_of::<i64>()
            + spans * std::mem::size_of::<BucketSpan>(),
    )?;
    let mut series = ctx.series(name, base, &p.exemplars)?;
    series.histograms.push(histogram);
    ctx.out.request.timeseries.push(series);
    Ok(())
}

/// The `_bucket` (cumulative, one per bound and `+Inf`), `_sum` and
/// `_count` series of an explicit-bucket histogram point; each exemplar
/// goes on the first bucket whose bound holds its value, as Prometheus does.
fn explicit_histogram(
    ctx: &mut Context<'_>,
    name: &str,
    base: Vec<Label>,
    p: &HistogramDataPoint,
    ts: i64,
) -> Result<(), DecodedTooLarge> {
    let bucket_name = format!("{name}_bucket");
    let bucket_of = |e: &OtlpExemplar| {
        let v = exemplar_value(e);
        p.explicit_bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(p.explicit_bounds.len())
    };
    let mut cumulative = 0u64;
    let buckets = p.bucket_counts.len().max(1);
    for i in 0..buckets {
        let count = match p.bucket_counts.get(i) {
            Some(c) => {
                cumulative = cumulative.saturating_add(*c);
                cumulative
            }
            None => p.count,
        };
        let le = p
            .explicit_bounds
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| format_float(*b));
        let mut l = base.clone();
        l.push(Label::new("le", le));
        let exemplars: Vec<OtlpExemplar> = p
            .exemplars
            .iter()
            .filter(|e| bucket_of(e).min(buckets - 1) == i)
            .cloned()
            .collect();
        let series = ctx.series(&bucket_name, l, &exemplars)?;
        push_sample(ctx.out, series, count as f64, ts);
    }
    if let Some(sum) = p.sum {
        let series = ctx.series(&format!("{name}_sum"), base.clone(), &[])?;
        push_sample(ctx.out, series, sum, ts);
    }
    let series = ctx.series(&format!("{name}_count"), base, &[])?;
    push_sample(ctx.out, series, p.count as f64, ts);
    Ok(())
}

/// What translating one request works with.
struct Context<'a> {
    out: &'a mut Translated,
    budget: Budget,
    deltas: &'a mut TenantStreams,
    /// Newest point of the current resource, for its `target_info`.
    newest_ms: Option<i64>,
}

impl Context<'_> {
    /// `ns` in milliseconds, remembered as the resource's newest if it is.
    fn track(&mut self, ns: u64) -> i64 {
        let ts = ms(ns);
        self.newest_ms = Some(self.newest_ms.map_or(ts, |n| n.max(ts)));
        ts
    }

    /// An empty series `name{labels}` with `exemplars`, once the budget
    /// allows its size.
    fn series(
        &mut self,
        name: &str,
        labels: Vec<Label>,
        exemplars: &[OtlpExemplar],
    ) -> Result<TimeSeries, DecodedTooLarge> {
        let label_bytes = |l: &[Label]| {
            l.iter()
                .map(|l| std::mem::size_of::<Label>() + l.name.len() + l.value.len())
                .sum::<usize>()
        };
        let exemplars: Vec<Exemplar> = exemplars.iter().map(exemplar).collect();
        self.budget.charge(
            std::mem::size_of::<TimeSeries>()
                + std::mem::size_of::<Sample>()
                + name.len()
                + label_bytes(&labels)
                + exemplars
                    .iter()
                    .map(|e| std::mem::size_of::<Exemplar>() + label_bytes(&e.labels))
                    .sum::<usize>(),
        )?;
        Ok(TimeSeries {
            labels: series_labels(name, labels),
            exemplars,
            ..Default::default()
        })
    }
}

/// Appends `series` with its one float sample.
fn push_sample(out: &mut Translated, mut series: TimeSeries, value: f64, ts: i64) {
    series.samples.push(Sample {
        value,
        timestamp: ts,
    });
    out.request.timeseries.push(series);
}

/// `labels` plus `__name__`, sorted; attributes that sanitise to one name
/// get their values joined with `;` (as Prometheus).
fn series_labels(name: &str, mut labels: Vec<Label>) -> Vec<Label> {
    labels.push(Label::new("__name__", name));
    labels.sort_by(|a, b| a.name.cmp(&b.name));
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
    merged
}

/// An OTLP exemplar as Prometheus keeps it: its filtered attributes plus
/// `trace_id` / `span_id` (hex) as labels.
fn exemplar(e: &OtlpExemplar) -> Exemplar {
    let mut labels: Vec<Label> = e
        .filtered_attributes
        .iter()
        .map(|kv| Label::new(label_name(&kv.key), value_text(kv)))
        .collect();
    if !e.trace_id.is_empty() {
        labels.push(Label::new("trace_id", hex(&e.trace_id)));
    }
    if !e.span_id.is_empty() {
        labels.push(Label::new("span_id", hex(&e.span_id)));
    }
    Exemplar {
        labels,
        value: exemplar_value(e),
        timestamp: ms(e.time_unix_nano),
    }
}

fn exemplar_value(e: &OtlpExemplar) -> f64 {
    match e.value {
        Some(ExemplarValue::AsDouble(d)) => d,
        Some(ExemplarValue::AsInt(i)) => i as f64,
        None => 0.0,
    }
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
