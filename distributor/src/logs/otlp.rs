//! OTLP logs (`POST /otlp/v1/logs`, protobuf or JSON) mapped to streams
//! the way Loki maps them:
//!
//! - the resource attributes Loki promotes by default (`service.name`,
//!   `service.namespace`, `deployment.environment`, `k8s.*`, …) become index
//!   labels with `.` and other invalid characters turned into `_`; a
//!   `service_name` label is always present (`unknown_service` when the
//!   resource names no service);
//! - every other resource attribute, the scope's name, version and
//!   attributes, and the record's attributes become structured metadata,
//!   as do `severity_text`, `severity_number`, `trace_id` and `span_id`
//!   (the distributor derives `detected_level` from the severity);
//! - the body becomes the line (strings as is, other values as JSON).

use std::collections::BTreeMap;

use common::labels::{Label, Labels};
use common::logs::LogEntry;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;

use super::wire::{RawLabels, RawStream, WireError};
use crate::decode_budget::{self, Budget, DecodedTooLarge, shapes};

/// Resource attributes Loki stores as index labels by default.
const INDEX_LABEL_ATTRIBUTES: &[&str] = &[
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "deployment.environment.name",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];

/// The structured metadata key a record's severity number is kept under
/// (when it has one); `detected_level` reads it.
pub(crate) const SEVERITY_NUMBER: &str = "severity_number";

/// The label every OTLP stream carries.
const SERVICE_NAME: &str = "service_name";
/// Its value when the resource has no `service.name`.
const UNKNOWN_SERVICE: &str = "unknown_service";

/// Decodes an OTLP/HTTP logs body: JSON when `json`, else protobuf;
/// refused first if decoding it would take more than `budget` bytes.
pub(crate) fn decode(
    body: &[u8],
    json: bool,
    budget: usize,
) -> Result<ExportLogsServiceRequest, WireError> {
    if json {
        decode_budget::check_json(body, shapes::JSON_CONTAINER, budget)?;
    } else {
        decode_budget::check_protobuf(body, &shapes::OTLP_LOGS, budget)?;
    }
    if json {
        serde_json::from_slice(body).map_err(|e| WireError::Otlp(e.to_string()))
    } else {
        ExportLogsServiceRequest::decode(body).map_err(|e| WireError::Otlp(e.to_string()))
    }
}

/// `name` as a Prometheus label name: invalid characters become `_`, and a
/// leading digit gets a `_` prefix.
fn label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// An attribute value as text: strings as is, the rest as JSON.
fn value_text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => hex(b),
        Some(other) => json_value(other).to_string(),
    }
}

fn json_value(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::StringValue(s) => J::from(s.as_str()),
        Value::BoolValue(b) => J::from(*b),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(d) => J::from(*d),
        Value::BytesValue(b) => J::from(hex(b)),
        // An index into a profiles string table; logs never use it.
        Value::StringValueStrindex(i) => J::from(*i),
        Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map_or(J::Null, json_value))
                .collect(),
        ),
        Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                    (kv.key.clone(), v.map_or(J::Null, json_value))
                })
                .collect(),
        ),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn push_attributes(out: &mut Vec<Label>, attrs: &[KeyValue]) {
    for kv in attrs {
        out.push(Label::new(
            label_name(&kv.key),
            value_text(kv.value.as_ref()),
        ));
    }
}

/// What `labels` take in memory, for the [`Budget`].
fn labels_size(labels: &[Label]) -> usize {
    labels
        .iter()
        .map(|l| std::mem::size_of::<Label>() + l.name.len() + l.value.len())
        .sum()
}

/// Maps `req` to streams, timing lines without a timestamp at `now_ns`.
/// Every line carries a copy of its resource's and scope's attributes, so
/// the streams can be far larger than the request: they are refused once
/// they would pass `budget` bytes.
pub(crate) fn to_streams(
    req: ExportLogsServiceRequest,
    now_ns: i64,
    budget: usize,
) -> Result<Vec<RawStream>, DecodedTooLarge> {
    let mut budget = Budget::new(budget);
    let mut streams: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
    for rl in req.resource_logs {
        let attrs = rl.resource.map(|r| r.attributes).unwrap_or_default();
        let mut labels = Vec::new();
        let mut resource_metadata = Vec::new();
        for kv in &attrs {
            let value = value_text(kv.value.as_ref());
            if INDEX_LABEL_ATTRIBUTES.contains(&kv.key.as_str()) {
                labels.push(Label::new(label_name(&kv.key), value));
            } else {
                resource_metadata.push(Label::new(label_name(&kv.key), value));
            }
        }
        if !labels
            .iter()
            .any(|l| l.name == SERVICE_NAME && !l.value.is_empty())
        {
            labels.push(Label::new(SERVICE_NAME, UNKNOWN_SERVICE));
        }
        let labels = Labels::new(labels);
        for sl in rl.scope_logs {
            let mut scope_metadata = resource_metadata.clone();
            if let Some(scope) = &sl.scope {
                scope_metadata.push(Label::new("scope_name", scope.name.clone()));
                scope_metadata.push(Label::new("scope_version", scope.version.clone()));
                push_attributes(&mut scope_metadata, &scope.attributes);
            }
            let shared = labels_size(labels.as_slice()) + labels_size(&scope_metadata);
            for r in sl.log_records {
                budget.charge(shared)?;
                let mut metadata = scope_metadata.clone();
                push_attributes(&mut metadata, &r.attributes);
                budget.charge(labels_size(&metadata[scope_metadata.len()..]))?;
                metadata.push(Label::new("severity_text", r.severity_text.clone()));
                if r.severity_number != 0 {
                    metadata.push(Label::new(SEVERITY_NUMBER, r.severity_number.to_string()));
                }
                metadata.push(Label::new("trace_id", hex(&r.trace_id)));
                metadata.push(Label::new("span_id", hex(&r.span_id)));
                let ts = match (r.time_unix_nano, r.observed_time_unix_nano) {
                    (0, 0) => now_ns,
                    (0, observed) => i64::try_from(observed).unwrap_or(i64::MAX),
                    (t, _) => i64::try_from(t).unwrap_or(i64::MAX),
                };
                streams.entry(labels.clone()).or_default().push(LogEntry {
                    ts_ns: ts,
                    line: value_text(r.body.as_ref()),
                    structured_metadata: Labels::new(metadata),
                });
            }
        }
    }
    Ok(streams
        .into_iter()
        .map(|(labels, entries)| RawStream {
            labels: RawLabels::Pairs(labels.into_vec()),
            entries,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attributes_split_into_labels_and_metadata() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"checkout"}},
            {"key":"k8s.namespace.name","value":{"stringValue":"shop"}},
            {"key":"host.name","value":{"stringValue":"node-1"}}]},
          "scopeLogs":[{"scope":{"name":"app.logger"},"logRecords":[
            {"timeUnixNano":"1700000000000000001","severityText":"WARN","severityNumber":13,
             "body":{"stringValue":"low stock"},
             "attributes":[{"key":"order.id","value":{"intValue":"42"}}],
             "traceId":"0102030405060708090a0b0c0d0e0f10"}]}]},
          {"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":true}}]}}}]}]}]}"#;
        let streams = to_streams(decode(body, true, 1 << 20).unwrap(), 7, 1 << 20).unwrap();
        assert_eq!(streams.len(), 2);
        let checkout = streams
            .iter()
            .find(|s| {
                s.labels
                    == RawLabels::Pairs(vec![
                        Label::new("k8s_namespace_name", "shop"),
                        Label::new("service_name", "checkout"),
                    ])
            })
            .expect("checkout stream");
        let e = &checkout.entries[0];
        assert_eq!(
            (e.ts_ns, e.line.as_str()),
            (1_700_000_000_000_000_001, "low stock")
        );
        for (k, v) in [
            ("host_name", "node-1"),
            ("order_id", "42"),
            ("severity_text", "WARN"),
            ("scope_name", "app.logger"),
            ("trace_id", "0102030405060708090a0b0c0d0e0f10"),
        ] {
            assert_eq!(e.structured_metadata.get(k), Some(v), "{k}");
        }
        let unknown = streams
            .iter()
            .find(|s| {
                s.labels == RawLabels::Pairs(vec![Label::new("service_name", "unknown_service")])
            })
            .expect("unknown_service stream");
        assert_eq!(unknown.entries[0].line, r#"{"a":true}"#);
        assert_eq!(unknown.entries[0].ts_ns, 7);
    }
}
