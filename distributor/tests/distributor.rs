//! The distributor over real HTTP: snappy protobuf in, series out to a
//! recording ingester, and the answers a remote-write client gets.

mod support;

/// Remote write 2.0: decoding, content negotiation and the written-count headers.
#[path = "distributor/remote_write_v2.rs"]
mod remote_write_v2;

use std::time::Duration;

use cairn_distributor::DistributorConfig;
use cairn_distributor::remote_write::metric_metadata::MetricType;
use cairn_distributor::remote_write::{Exemplar, Label, MetricMetadata, Sample, WriteRequest};
use common::labels::Labels;
use common::limits::Limits;
use common::series::STALE_NAN_BITS;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1 as otlp;
use support::{Server, body, now_ms, request_body, series};

const UP: &[(&str, &str)] = &[("__name__", "up"), ("job", "node")];

/// Default limits with Prometheus 2's metric and label name rules, which
/// the tests of invalid names need (the default accepts any UTF-8 name).
fn legacy_names() -> Limits {
    Limits {
        name_validation_scheme: common::limits::NameValidationScheme::Legacy,
        ..Limits::default()
    }
}

#[tokio::test]
async fn valid_push_reaches_the_ingester_bit_exact() {
    let server = Server::start(Limits::default()).await;
    let stale = f64::from_bits(STALE_NAN_BITS);
    let reply = server
        .push("team-a", vec![series(UP, &[1.0, f64::NAN, stale])])
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));

    let got = server.ingester.series_of("team-a");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, Labels::from_pairs(UP.iter().copied()));
    let bits: Vec<u64> = got[0].samples.iter().map(|s| s.v.to_bits()).collect();
    assert_eq!(bits, [1f64.to_bits(), f64::NAN.to_bits(), STALE_NAN_BITS]);
}

#[tokio::test]
async fn write_path_alias_accepts_remote_write_too() {
    let server = Server::start(Limits::default()).await;
    let reply = server
        .post_raw(
            "/api/v1/write",
            Some("team-a"),
            body(vec![series(UP, &[1.0])]),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.ingester.series_of("team-a").len(), 1);
}

#[tokio::test]
async fn each_invalid_series_gets_400_naming_it_while_valid_series_are_forwarded() {
    let limits = Limits {
        max_label_names_per_series: 3,
        max_label_name_length: 10,
        max_label_value_length: 10,
        past_grace_period: Duration::from_secs(3600),
        creation_grace_period: Duration::from_secs(600),
        ..legacy_names()
    };
    let server = Server::start(limits).await;
    let too_old = {
        let mut s = series(&[("__name__", "old")], &[1.0]);
        s.samples = vec![Sample {
            value: 1.0,
            timestamp: now_ms() - 7_200_000,
        }];
        s
    };
    let too_new = {
        let mut s = series(&[("__name__", "new")], &[1.0]);
        s.samples = vec![Sample {
            value: 1.0,
            timestamp: now_ms() + 7_200_000,
        }];
        s
    };
    let cases = [
        (
            "missing-metric-name",
            series(&[("job", "x")], &[1.0]),
            "{job=\"x\"}",
            None,
        ),
        (
            "metric-name-invalid",
            series(&[("__name__", "1up")], &[1.0]),
            "1up{}",
            None,
        ),
        (
            "label-invalid",
            series(&[("__name__", "up"), ("a-b", "x")], &[1.0]),
            "up{a-b=\"x\"}",
            None,
        ),
        (
            "duplicate-label-names",
            series(&[("__name__", "up"), ("a", "x"), ("a", "y")], &[1.0]),
            "up{a=\"y\"}",
            None,
        ),
        (
            "labels-not-sorted",
            series(&[("__name__", "up"), ("z", "1"), ("a", "2")], &[1.0]),
            "up{a=\"2\", z=\"1\"}",
            None,
        ),
        (
            "max-label-names-per-series",
            series(
                &[("__name__", "up"), ("a", "1"), ("b", "2"), ("c", "3")],
                &[1.0],
            ),
            "up{a=\"1\", b=\"2\", c=\"3\"}",
            Some("max_label_names_per_series"),
        ),
        (
            "label-name-too-long",
            series(&[("__name__", "up"), ("a_very_long_name", "1")], &[1.0]),
            "up{a_very_long_name=\"1\"}",
            Some("max_label_name_length"),
        ),
        (
            "label-value-too-long",
            series(&[("__name__", "up"), ("a", "a very long value")], &[1.0]),
            "up{a=\"a very long value\"}",
            Some("max_label_value_length"),
        ),
        (
            "sample-too-old",
            too_old,
            "old{}",
            Some("past_grace_period"),
        ),
        (
            "sample-too-far-in-future",
            too_new,
            "new{}",
            Some("creation_grace_period"),
        ),
    ];
    for (i, (reason, bad, shown, limit)) in cases.into_iter().enumerate() {
        let tenant = format!("tenant-{i}");
        let reply = server.push(&tenant, vec![bad, series(UP, &[1.0])]).await;
        assert_eq!(reply.status, 400, "{reason}: {}", reply.body);
        assert!(
            reply.body.starts_with(&format!("err-cairn-{reason}: ")),
            "{reason}: {}",
            reply.body
        );
        assert!(
            reply.body.contains(&format!("series: '{shown}'")),
            "{reason}: {}",
            reply.body
        );
        if let Some(limit) = limit {
            assert!(
                reply.body.contains(&format!("raise {limit}")),
                "{reason}: {}",
                reply.body
            );
        }
        let forwarded = server.ingester.series_of(&tenant);
        assert_eq!(forwarded.len(), 1, "{reason}: valid series not forwarded");
        assert_eq!(forwarded[0].labels, Labels::from_pairs(UP.iter().copied()));
    }
}

#[tokio::test]
async fn discarded_counter_counts_each_reason() {
    let server = Server::start(legacy_names()).await;
    let reply = server
        .push(
            "team-a",
            vec![
                series(&[("__name__", "up"), ("b-c", "x")], &[1.0, 2.0]),
                series(UP, &[1.0]),
            ],
        )
        .await;
    assert_eq!(reply.status, 400);
    let metrics = server.metrics();
    for line in [
        r#"cairn_discarded_samples_total{tenant="team-a",reason="label-invalid"} 2"#,
        r#"cairn_distributor_received_samples_total{tenant="team-a"} 1"#,
        r#"cairn_distributor_samples_in_total{tenant="team-a"} 3"#,
        r#"cairn_distributor_requests_total{tenant="team-a",status="400"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn native_histograms_are_stored_beside_floats_and_an_invalid_one_is_named() {
    use cairn_distributor::remote_write::{BucketSpan, Histogram, histogram::Count};
    let server = Server::start(Limits::default()).await;
    let histogram = |t, deltas: Vec<i64>| Histogram {
        count: Some(Count::CountInt(3)),
        sum: 4.5,
        schema: 0,
        positive_spans: vec![BucketSpan {
            offset: 1,
            length: 2,
        }],
        positive_deltas: deltas,
        timestamp: t,
        ..Default::default()
    };
    let mut s = series(UP, &[1.0]);
    let t = s.samples[0].timestamp;
    s.histograms = vec![histogram(t - 1, vec![1, 1]), histogram(t - 2, vec![1, -2])];
    let reply = server.push("team-a", vec![s]).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("err-cairn-invalid-native-histogram")
            && reply.body.contains("a positive bucket count is negative"),
        "{}",
        reply.body
    );
    let stored = server.ingester.series_of("team-a");
    assert_eq!(
        (stored[0].samples.len(), stored[0].histograms.len()),
        (1, 1)
    );
    let h = &stored[0].histograms[0];
    assert_eq!(
        (h.t, h.h.count, h.h.positive()),
        (t - 1, 3.0, vec![(1, 1.0), (2, 2.0)])
    );
    let metrics = server.metrics();
    for line in [
        r#"cairn_discarded_samples_total{tenant="team-a",reason="invalid-native-histogram"} 1"#,
        r#"cairn_distributor_received_samples_total{tenant="team-a"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn undecodable_bodies_get_400_saying_why() {
    let server = Server::start(Limits::default()).await;
    let garbage_protobuf = snap::raw::Encoder::new()
        .compress_vec(b"\xff\xff\xff\xff garbage")
        .unwrap();
    let cases = [
        ("empty-body", Vec::new(), "empty request body"),
        (
            "not-snappy",
            b"hello, not snappy at all".to_vec(),
            "not snappy",
        ),
        (
            "bad-protobuf",
            garbage_protobuf,
            "not a valid prometheus.WriteRequest",
        ),
    ];
    for (reason, raw, says) in cases {
        let reply = server.post_raw("/api/v1/push", Some("team-a"), raw).await;
        assert_eq!(reply.status, 400, "{reason}: {}", reply.body);
        assert!(reply.body.contains(says), "{reason}: {}", reply.body);
        let line = format!(r#"cairn_distributor_bad_requests_total{{reason="{reason}"}} 1"#);
        assert!(server.metrics().contains(&line), "{line} missing");
    }
    assert!(server.ingester.series_of("team-a").is_empty());
}

#[tokio::test]
async fn hundred_megabyte_body_gets_413_naming_the_limit() {
    let server = Server::start(Limits::default()).await;
    let reply = server
        .post_raw("/api/v1/push", Some("team-a"), vec![0; 100 << 20])
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(
        reply.body.contains("max_request_body_size"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn message_decompressing_past_the_limit_gets_413_naming_the_limit() {
    let cfg = DistributorConfig {
        max_recv_msg_size: 1024,
        ..Default::default()
    };
    let server = Server::start_with(cfg, Limits::default(), true).await;
    let big = series(&[("__name__", "up"), ("pad", &"x".repeat(2000))], &[1.0]);
    let reply = server.push("team-a", vec![big]).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.body.contains("max_recv_msg_size"), "{}", reply.body);
}

#[tokio::test]
async fn missing_tenant_gets_401() {
    let server = Server::start(Limits::default()).await;
    let reply = server
        .post_raw("/api/v1/push", None, body(vec![series(UP, &[1.0])]))
        .await;
    assert_eq!(reply.status, 401);
    assert!(reply.body.contains("X-Scope-OrgID"), "{}", reply.body);
    assert!(
        server
            .metrics()
            .contains(r#"cairn_distributor_bad_requests_total{reason="missing-tenant"} 1"#)
    );
}

#[tokio::test]
async fn path_like_tenant_gets_400_and_reaches_nothing() {
    let server = Server::start(Limits::default()).await;
    let reply = server.push("../etc", vec![series(UP, &[1.0])]).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("invalid tenant ID"), "{}", reply.body);
    assert!(server.ingester.series_of("../etc").is_empty());
    assert!(
        !server.metrics().contains("../etc"),
        "a hostile tenant ID became a metric label"
    );
}

#[tokio::test]
async fn single_tenant_mode_writes_as_anonymous() {
    let server = Server::start_with(DistributorConfig::default(), Limits::default(), false).await;
    let reply = server
        .post_raw("/api/v1/push", None, body(vec![series(UP, &[1.0])]))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.ingester.series_of("anonymous").len(), 1);
}

#[tokio::test]
async fn over_rate_gets_429_naming_the_limit_while_another_tenant_keeps_succeeding() {
    let server = Server::start(Limits {
        ingestion_rate: 1.0,
        ingestion_burst_size: 5,
        ..Limits::default()
    })
    .await;
    let five = series(UP, &[1.0; 5]);
    assert_eq!(server.push("busy", vec![five.clone()]).await.status, 200);

    let reply = server.push("busy", vec![five.clone()]).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply.body.starts_with("err-cairn-rate-limited: "),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("ingestion_rate"), "{}", reply.body);
    assert!(
        reply.body.contains("while adding 5 samples"),
        "{}",
        reply.body
    );

    assert_eq!(server.push("quiet", vec![five]).await.status, 200);
    assert_eq!(server.ingester.series_of("busy").len(), 1);
    assert!(
        server
            .metrics()
            .contains(r#"cairn_discarded_samples_total{tenant="busy",reason="rate-limited"} 5"#)
    );
}

#[tokio::test]
async fn runtime_override_changes_the_rate_limit_without_restart() {
    let server = Server::start(Limits::default()).await;
    let ten = || vec![series(UP, &[1.0; 10])];
    assert_eq!(server.push("team-a", ten()).await.status, 200);

    server.apply_overrides(
        "overrides:\n  team-a:\n    ingestion_rate: 1\n    ingestion_burst_size: 5\n",
    );
    let reply = server.push("team-a", ten()).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply.body.contains("of 1 samples/s")
            && reply.body.contains("burst size (ingestion_burst_size) 5")
    );

    server.apply_overrides(
        "overrides:\n  team-a:\n    ingestion_rate: 1000000\n    ingestion_burst_size: 1000000\n",
    );
    tokio::time::sleep(Duration::from_millis(20)).await; // refills ~20k tokens at the new rate
    assert_eq!(server.push("team-a", ten()).await.status, 200);
}

#[tokio::test]
async fn unavailable_ingester_gets_503() {
    let server = Server::start(Limits::default()).await;
    server.ingester.go_unavailable();
    let reply = server.push("team-a", vec![series(UP, &[1.0])]).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body.contains("ingester unavailable"),
        "{}",
        reply.body
    );
}

fn exemplar(labels: &[(&str, &str)], value: f64, timestamp: i64) -> Exemplar {
    Exemplar {
        labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
        value,
        timestamp,
    }
}

#[tokio::test]
async fn exemplars_and_metadata_reach_the_ingester() {
    let server = Server::start(Limits::default()).await;
    let now = now_ms();
    let mut s = series(UP, &[1.0]);
    s.exemplars = vec![
        exemplar(&[("trace_id", "b")], 2.0, now),
        exemplar(&[("trace_id", "a")], 1.0, now - 5),
    ];
    let req = WriteRequest {
        timeseries: vec![s],
        metadata: vec![MetricMetadata {
            r#type: MetricType::Counter as i32,
            metric_family_name: "http_requests_total".into(),
            help: "Requests.".into(),
            unit: String::new(),
        }],
    };
    let reply = server
        .post_raw("/api/v1/push", Some("team-a"), request_body(req))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let got = server.ingester.exemplars_of("team-a");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].series, Labels::from_pairs(UP.iter().copied()));
    let times: Vec<i64> = got[0].exemplars.iter().map(|e| e.timestamp).collect();
    assert_eq!(times, [now - 5, now], "exemplars are sorted by time");
    let meta = server.ingester.metadata_of("team-a");
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].family, "http_requests_total");
    assert_eq!(meta[0].metric_type.as_str(), "counter");
}

#[tokio::test]
async fn metadata_only_request_is_forwarded() {
    // Prometheus sends metadata in requests of their own, without series.
    let server = Server::start(Limits::default()).await;
    let req = WriteRequest {
        metadata: vec![MetricMetadata {
            r#type: MetricType::Gauge as i32,
            metric_family_name: "up".into(),
            help: "Up.".into(),
            unit: String::new(),
        }],
        ..Default::default()
    };
    let reply = server
        .post_raw("/api/v1/push", Some("team-a"), request_body(req))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.ingester.metadata_of("team-a").len(), 1);
}

#[tokio::test]
async fn invalid_exemplars_and_metadata_are_dropped_and_counted_without_failing_the_push() {
    let server = Server::start(legacy_names()).await;
    let now = now_ms();
    let mut s = series(UP, &[1.0]);
    // 8 + 120 runes is the most Prometheus accepts; one more is too long.
    let at_limit = "é".repeat(120);
    let too_long = "é".repeat(121);
    s.exemplars = vec![
        exemplar(&[("trace_id", &at_limit)], 1.0, now - 3),
        exemplar(&[("trace_id", &too_long)], 1.0, now - 2),
        exemplar(&[], 1.0, now - 1),
        exemplar(&[("trace_id", "x")], 1.0, 0),
        exemplar(&[("bad-name", "x")], 1.0, now),
    ];
    let req = WriteRequest {
        timeseries: vec![s],
        metadata: vec![MetricMetadata {
            metric_family_name: String::new(),
            ..Default::default()
        }],
    };
    let reply = server
        .post_raw("/api/v1/push", Some("team-a"), request_body(req))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(server.ingester.series_of("team-a").len(), 1);
    // An exemplar without labels is kept, as in Prometheus.
    let got = server.ingester.exemplars_of("team-a");
    assert_eq!(got[0].exemplars.len(), 2);
    assert_eq!(got[0].exemplars[0].labels.get("trace_id"), Some(&*at_limit));
    assert!(got[0].exemplars[1].labels.is_empty());
    assert!(server.ingester.metadata_of("team-a").is_empty());
    let metrics = server.metrics();
    for line in [
        r#"cairn_discarded_exemplars_total{tenant="team-a",reason="exemplar-labels-too-long"} 1"#,
        r#"cairn_discarded_exemplars_total{tenant="team-a",reason="exemplar-timestamp-invalid"} 1"#,
        r#"cairn_discarded_exemplars_total{tenant="team-a",reason="exemplar-label-invalid"} 1"#,
        r#"cairn_discarded_metadata_total{tenant="team-a",reason="metadata-missing-metric-name"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn extreme_timestamps_are_refused_by_default_and_counted() {
    let server = Server::start(Limits::default()).await;
    let at = |name: &str, timestamp: i64| {
        let mut s = series(&[("__name__", name)], &[1.0]);
        s.samples = vec![Sample {
            value: 1.0,
            timestamp,
        }];
        s
    };
    let reply = server
        .push(
            "team-a",
            vec![
                at("min", i64::MIN),
                at("epoch", 0),
                at("fortnight_ago", now_ms() - 15 * 24 * 3_600_000),
                at("max", i64::MAX),
                at("now", now_ms()),
            ],
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    for (reason, name) in [
        ("sample-too-old", "min"),
        ("sample-too-old", "epoch"),
        ("sample-too-old", "fortnight_ago"),
        ("sample-too-far-in-future", "max"),
    ] {
        assert!(
            reply
                .body
                .lines()
                .any(|l| l.starts_with(&format!("err-cairn-{reason}:"))
                    && l.contains(&format!("series: '{name}{{}}'"))
                    && l.contains("raise")),
            "{reason} {name}: {}",
            reply.body
        );
    }
    let kept = server.ingester.series_of("team-a");
    assert_eq!(kept.len(), 1, "only the sample at now is kept");
    let metrics = server.metrics();
    assert!(
        metrics.contains(
            r#"cairn_discarded_samples_total{tenant="team-a",reason="sample-too-old"} 3"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_body_decoding_past_max_decoded_request_bytes_gets_400_naming_it() {
    let cfg = DistributorConfig {
        max_decoded_request_bytes: 1 << 20,
        ..DistributorConfig::default()
    };
    let server = Server::start_with(cfg, Limits::default(), true).await;
    let hostile = series(UP, &[1.0]);
    let hostile = cairn_distributor::remote_write::TimeSeries {
        labels: vec![Label::default(); 100_000],
        ..hostile
    };
    let reply = server.push("team-a", vec![hostile]).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply
            .body
            .starts_with("err-cairn-decoded-request-too-large:")
            && reply.body.contains("max_decoded_request_bytes"),
        "{}",
        reply.body
    );
    let reply = server.push("team-a", vec![series(UP, &[1.0])]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Posts an OTLP/HTTP protobuf metrics export as `tenant`; returns the
/// status and the decoded answer.
async fn export_metrics(
    server: &Server,
    tenant: &str,
    metrics: Vec<otlp::Metric>,
) -> (u16, ExportMetricsServiceResponse) {
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![otlp::ResourceMetrics {
            scope_metrics: vec![otlp::ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let resp = reqwest::Client::new()
        .post(format!("{}/otlp/v1/metrics", server.url))
        .header("Content-Type", "application/x-protobuf")
        .header("X-Scope-OrgID", tenant)
        .body(prost::Message::encode_to_vec(&req))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    (
        status,
        prost::Message::decode(body).expect("an ExportMetricsServiceResponse"),
    )
}

/// A delta sum `requests` of one point `value` over `(start, time]` (ns),
/// with `http.method` = `method`.
fn delta_requests(method: &str, start: u64, time: u64, value: f64) -> otlp::Metric {
    otlp::Metric {
        name: "requests".into(),
        data: Some(otlp::metric::Data::Sum(otlp::Sum {
            data_points: vec![otlp::NumberDataPoint {
                attributes: vec![KeyValue {
                    key: "http.method".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(method.into())),
                    }),
                    ..Default::default()
                }],
                start_time_unix_nano: start,
                time_unix_nano: time,
                value: Some(otlp::number_data_point::Value::AsDouble(value)),
                ..Default::default()
            }],
            aggregation_temporality: otlp::AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn otlp_delta_totals_are_stored_and_refused_points_named_and_counted() {
    let cfg = DistributorConfig {
        otlp_delta_max_streams_per_tenant: 1,
        ..Default::default()
    };
    let server = Server::start_with(cfg, Limits::default(), true).await;
    let t0 = u64::try_from(now_ms() - 10_000).unwrap() * 1_000_000;
    let (t1, t2) = (t0 + 1_000_000_000, t0 + 2_000_000_000);
    let exponential = otlp::Metric {
        name: "latency".into(),
        data: Some(otlp::metric::Data::ExponentialHistogram(
            otlp::ExponentialHistogram {
                data_points: vec![otlp::ExponentialHistogramDataPoint {
                    time_unix_nano: t1,
                    scale: -5,
                    count: 1,
                    ..Default::default()
                }],
                aggregation_temporality: otlp::AggregationTemporality::Cumulative as i32,
            },
        )),
        ..Default::default()
    };
    let (status, answer) = export_metrics(
        &server,
        "t",
        vec![
            delta_requests("GET", t0, t1, 2.0),
            delta_requests("GET", t1, t2, 3.0),
            // A second stream: past otlp_delta_max_streams_per_tenant.
            delta_requests("POST", t0, t1, 1.0),
            exponential,
        ],
    )
    .await;
    assert_eq!(status, 200);
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 2);
    for id in [
        "err-cairn-otlp-delta-streams-limit:",
        "err-cairn-otlp-exponential-scale-invalid:",
    ] {
        assert!(
            partial.error_message.contains(id),
            "{id} missing from {}",
            partial.error_message
        );
    }
    // A retry of the last point: dropped, the total stays right.
    let (status, answer) =
        export_metrics(&server, "t", vec![delta_requests("GET", t1, t2, 3.0)]).await;
    assert_eq!(status, 200);
    assert!(
        answer
            .partial_success
            .expect("partial success")
            .error_message
            .starts_with("err-cairn-sample-out-of-order: metric \"requests\"")
    );
    let stored: Vec<f64> = server
        .ingester
        .series_of("t")
        .iter()
        .flat_map(|s| s.samples.iter().map(|x| x.v))
        .collect();
    assert_eq!(stored, [2.0, 5.0], "the running total of 2, then 3");
    let metrics = server.metrics();
    for line in [
        r#"cairn_discarded_samples_total{tenant="t",reason="otlp-delta-streams-limit"} 1"#,
        r#"cairn_discarded_samples_total{tenant="t",reason="otlp-exponential-scale-invalid"} 1"#,
        r#"cairn_discarded_samples_total{tenant="t",reason="sample-out-of-order"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn otlp_exponential_points_reach_the_ingester_as_native_histograms_and_no_value_as_stale() {
    let server = Server::start(Limits::default()).await;
    let t0 = u64::try_from(now_ms() - 10_000).unwrap() * 1_000_000;
    let point = |time: u64, flags: u32| otlp::ExponentialHistogramDataPoint {
        time_unix_nano: time,
        scale: 0,
        count: 3,
        sum: Some(6.0),
        zero_count: 1,
        positive: Some(otlp::exponential_histogram_data_point::Buckets {
            offset: 0,
            bucket_counts: vec![2],
        }),
        flags,
        ..Default::default()
    };
    let (status, answer) = export_metrics(
        &server,
        "t",
        vec![otlp::Metric {
            name: "latency".into(),
            data: Some(otlp::metric::Data::ExponentialHistogram(
                otlp::ExponentialHistogram {
                    data_points: vec![point(t0, 0), point(t0 + 1_000_000_000, 1)],
                    aggregation_temporality: otlp::AggregationTemporality::Cumulative as i32,
                },
            )),
            ..Default::default()
        }],
    )
    .await;
    assert_eq!((status, answer.partial_success), (200, None));
    let series = server.ingester.series_of("t");
    let histograms: Vec<_> = series.iter().flat_map(|s| s.histograms.clone()).collect();
    assert_eq!(histograms.len(), 2, "{series:?}");
    let h = &histograms[0].h;
    // OTLP bucket 0 at scale 0 is (1, 2]: native bucket 1.
    assert_eq!(
        (h.count, h.sum, h.zero_count, h.positive()),
        (3.0, 6.0, 1.0, vec![(1, 2.0)])
    );
    assert_eq!(histograms[1].h.sum.to_bits(), STALE_NAN_BITS);
}
