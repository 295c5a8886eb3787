//! Tempo's protobuf for TraceQL metrics answers (`Accept:
//! application/protobuf`): `tempopb.QueryRangeResponse` and
//! `QueryInstantResponse`, declared here with their field numbers from
//! Tempo's `tempo.proto`; labels are OTLP `KeyValue`s, wire-identical to
//! `tempopb.common.v1.KeyValue`.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

use crate::traceql::{MetricsOutcome, Value, format_duration};

/// `tempopb.SearchMetrics`, the fields Cairn fills.
#[derive(Clone, PartialEq, Message)]
struct SearchMetrics {
    #[prost(uint32, tag = "1")]
    inspected_traces: u32,
    #[prost(uint32, tag = "4")]
    completed_jobs: u32,
    #[prost(uint32, tag = "5")]
    total_jobs: u32,
    #[prost(uint64, tag = "7")]
    inspected_spans: u64,
}

/// `tempopb.Sample`.
#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp_ms: i64,
}

/// `tempopb.Exemplar`.
#[derive(Clone, PartialEq, Message)]
struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<KeyValue>,
    #[prost(double, tag = "2")]
    value: f64,
    #[prost(int64, tag = "3")]
    timestamp_ms: i64,
}

/// `tempopb.TimeSeries`.
#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<KeyValue>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    exemplars: Vec<Exemplar>,
}

/// `tempopb.QueryRangeResponse` (`status` 1 = `PARTIAL`).
#[derive(Clone, PartialEq, Message)]
struct QueryRangeResponse {
    #[prost(message, repeated, tag = "1")]
    series: Vec<TimeSeries>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<SearchMetrics>,
    #[prost(int32, tag = "3")]
    status: i32,
    #[prost(string, tag = "4")]
    message: String,
}

/// `tempopb.InstantSeries`.
#[derive(Clone, PartialEq, Message)]
struct InstantSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<KeyValue>,
    #[prost(double, tag = "2")]
    value: f64,
}

/// `tempopb.QueryInstantResponse`.
#[derive(Clone, PartialEq, Message)]
struct QueryInstantResponse {
    #[prost(message, repeated, tag = "1")]
    series: Vec<InstantSeries>,
    #[prost(message, optional, tag = "2")]
    metrics: Option<SearchMetrics>,
    #[prost(int32, tag = "3")]
    status: i32,
    #[prost(string, tag = "4")]
    message: String,
}

/// A label as Tempo types it (as the JSON answer does).
fn key_value((key, v): &(String, Value<'static>)) -> KeyValue {
    let value = match v {
        Value::Int(i) => any_value::Value::IntValue(*i),
        Value::Float(f) => any_value::Value::DoubleValue(*f),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Duration(d) => any_value::Value::StringValue(format_duration(*d)),
        other => any_value::Value::StringValue(other.render()),
    };
    KeyValue {
        key: key.clone(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn metrics(outcome: &MetricsOutcome) -> SearchMetrics {
    SearchMetrics {
        inspected_traces: u32::try_from(outcome.inspected_traces).unwrap_or(u32::MAX),
        completed_jobs: 1,
        total_jobs: 1,
        inspected_spans: outcome.inspected_spans as u64,
    }
}

/// `PARTIAL` and the message when the series limit cut the answer.
fn status(outcome: &MetricsOutcome, message: &str) -> (i32, String) {
    if outcome.truncated {
        (1, message.to_string())
    } else {
        (0, String::new())
    }
}

/// The encoded `QueryRangeResponse`; `message` says why it is partial.
pub(super) fn range(outcome: &MetricsOutcome, message: &str) -> Vec<u8> {
    let (status, message) = status(outcome, message);
    QueryRangeResponse {
        series: outcome
            .series
            .iter()
            .map(|s| TimeSeries {
                labels: s.labels.iter().map(key_value).collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|&(timestamp_ms, value)| Sample {
                        value,
                        timestamp_ms,
                    })
                    .collect(),
                exemplars: s
                    .exemplars
                    .iter()
                    .map(|e| Exemplar {
                        labels: e.labels.iter().map(key_value).collect(),
                        value: e.value,
                        timestamp_ms: e.timestamp_ms,
                    })
                    .collect(),
            })
            .collect(),
        metrics: Some(metrics(outcome)),
        status,
        message,
    }
    .encode_to_vec()
}

/// The encoded `QueryInstantResponse`.
pub(super) fn instant(outcome: &MetricsOutcome, message: &str) -> Vec<u8> {
    let (status, message) = status(outcome, message);
    QueryInstantResponse {
        series: outcome
            .series
            .iter()
            .filter_map(|s| {
                let &(_, value) = s.samples.first()?;
                Some(InstantSeries {
                    labels: s.labels.iter().map(key_value).collect(),
                    value,
                })
            })
            .collect(),
        metrics: Some(metrics(outcome)),
        status,
        message,
    }
    .encode_to_vec()
}
