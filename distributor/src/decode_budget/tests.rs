//! Every push protocol refuses a body that decodes far larger than it is,
//! before decoding it, and still decodes ordinary bodies.

use axum::http::{HeaderMap, header};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, metric::Data,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::*;
use crate::logs::wire::{self, EntryAdapter, PushRequest, StreamAdapter};
use crate::otlp::{self, OtlpError};
use crate::remote_write::{self, DecodeError, Label, TimeSeries, WriteRequest};

/// 1 MiB of decoded memory; hostile bodies below are a few hundred KB.
const LIMITS: DecodeLimits = DecodeLimits {
    max_recv_msg_size: 100 << 20,
    max_decoded_request_bytes: 1 << 20,
};

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

fn headers(content_type: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    h
}

/// One series of `n` empty labels: two bytes each on the wire.
fn empty_labels(n: usize) -> WriteRequest {
    WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label::default(); n],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn remote_write_of_empty_labels_is_refused_before_decoding() {
    let raw = empty_labels(200_000).encode_to_vec();
    assert!(raw.len() < 500_000, "{} bytes", raw.len());
    let err = remote_write::decode(&snappy(&raw), LIMITS).unwrap_err();
    let DecodeError::DecodedTooLarge(e) = &err else {
        panic!("{err}");
    };
    assert_eq!(e.limit, 1 << 20);
    let msg = err.to_string();
    assert!(
        msg.starts_with("err-cairn-decoded-request-too-large:")
            && msg.contains("max_decoded_request_bytes"),
        "{msg}"
    );
    // A request of the same labels that fits is decoded as before.
    let small = empty_labels(1000);
    assert_eq!(
        remote_write::decode(&snappy(&small.encode_to_vec()), LIMITS).unwrap(),
        small
    );
}

#[test]
fn the_estimate_is_not_below_what_decoding_takes() {
    // 20,000 labels `a="b"`: what prost allocates is the Vec of labels plus
    // the strings; the estimate must not undercount it.
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label::new("a", "b"); 20_000],
            ..Default::default()
        }],
        ..Default::default()
    };
    let raw = req.encode_to_vec();
    let decoded = 20_000 * (std::mem::size_of::<Label>() + 2);
    assert!(check_protobuf(&raw, &shapes::REMOTE_WRITE, decoded - 1).is_err());
    assert!(check_protobuf(&raw, &shapes::REMOTE_WRITE, decoded + 4096).is_ok());
}

#[test]
fn loki_protobuf_and_json_of_empty_entries_are_refused() {
    let req = PushRequest {
        streams: vec![StreamAdapter {
            labels: "{a=\"b\"}".into(),
            entries: vec![EntryAdapter::default(); 200_000],
            hash: 0,
        }],
    };
    let err =
        wire::decode_push(false, false, &snappy(&req.encode_to_vec()), LIMITS, 0).unwrap_err();
    assert!(matches!(err, wire::WireError::DecodedTooLarge(_)), "{err}");

    let json = format!(
        r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[{}["1",""]]}}]}}"#,
        r#"["1",""],"#.repeat(100_000)
    );
    let err = wire::decode_push(false, true, json.as_bytes(), LIMITS, 0).unwrap_err();
    assert!(matches!(err, wire::WireError::DecodedTooLarge(_)), "{err}");
}

#[test]
fn otlp_traces_of_empty_spans_are_refused_in_both_encodings() {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span::default(); 100_000],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let err = otlp::decode::<ExportTraceServiceRequest>(
        &headers("application/x-protobuf"),
        &req.encode_to_vec(),
        LIMITS,
    )
    .unwrap_err();
    assert!(matches!(err, OtlpError::DecodedTooLarge(_)), "{err}");
    assert_eq!(err.status(), 400);

    let json = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}{{}}]}}]}}]}}"#,
        "{},".repeat(100_000)
    );
    let err = otlp::decode::<ExportTraceServiceRequest>(
        &headers("application/json"),
        json.as_bytes(),
        LIMITS,
    )
    .unwrap_err();
    assert!(matches!(err, OtlpError::DecodedTooLarge(_)), "{err}");
}

fn attributes(n: usize) -> Vec<KeyValue> {
    (0..n)
        .map(|i| KeyValue {
            key: format!("k{i}"),
            ..Default::default()
        })
        .collect()
}

#[test]
fn otlp_logs_copying_resource_attributes_onto_every_line_are_refused() {
    // 2,000 attributes × 2,000 empty records: ~30 KB on the wire, millions
    // of metadata labels once every record carries its resource's copy.
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: attributes(2000),
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 2000],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = req.encode_to_vec();
    assert!(check_protobuf(&body, &shapes::OTLP_LOGS, LIMITS.max_decoded_request_bytes).is_ok());
    let err = wire::decode_push(true, false, &body, LIMITS, 0).unwrap_err();
    assert!(matches!(err, wire::WireError::DecodedTooLarge(_)), "{err}");
}

#[test]
fn otlp_metrics_expanding_buckets_times_attributes_are_refused() {
    // One histogram point with 2,000 buckets and 500 attributes: ~40 KB on
    // the wire, 2,000 series of 500 labels once translated.
    let point = HistogramDataPoint {
        attributes: attributes(500),
        bucket_counts: vec![1; 2000],
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "h".into(),
                    data: Some(Data::Histogram(Histogram {
                        data_points: vec![point],
                        aggregation_temporality: 2,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (decoded, _) = otlp::decode::<ExportMetricsServiceRequest>(
        &headers("application/x-protobuf"),
        &req.encode_to_vec(),
        LIMITS,
    )
    .unwrap();
    let err = crate::otlp_metrics::translate::translate(
        decoded.resource_metrics,
        LIMITS.max_decoded_request_bytes,
        &mut crate::otlp_metrics::delta::TenantStreams::new(1, std::time::Duration::from_secs(60)),
    )
    .unwrap_err();
    assert_eq!(err.limit, 1 << 20);
}

#[test]
fn malformed_and_deep_input_is_left_to_the_decoder() {
    // Truncated length, a group, and 10,000 nested arrays: no error here,
    // no unbounded stack; prost then refuses them with its own message.
    for raw in [
        vec![0x0a, 0xff, 0xff, 0x01],
        vec![0x0b, 0x0c],
        [0x0a, 0x02].repeat(10_000),
    ] {
        assert!(check_protobuf(&raw, &shapes::REMOTE_WRITE, 1 << 20).is_ok());
    }
    // AnyValue → ArrayValue → AnyValue … nested deeper than prost allows.
    let mut deep: Vec<u8> = Vec::new();
    for _ in 0..2000 {
        let mut array = vec![0x0a];
        prost::encoding::encode_varint(deep.len() as u64, &mut array);
        array.extend(&deep);
        deep = vec![0x2a];
        prost::encoding::encode_varint(array.len() as u64, &mut deep);
        deep.extend(array);
    }
    assert!(check_protobuf(&deep, &shapes::ANY_VALUE, 1 << 30).is_ok());
}
