use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram as OtlpHistogram,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::time::{Duration, Instant};

use crate::remote_write::histogram;

use super::*;
use crate::otlp_metrics::delta;

fn streams() -> TenantStreams {
    TenantStreams::new(1000, Duration::from_secs(300))
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn point(v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![kv("http.method", "GET")],
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn series(t: &Translated) -> Vec<String> {
    t.request
        .timeseries
        .iter()
        .map(|ts| {
            let labels: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            let value = ts
                .samples
                .first()
                .map_or_else(|| "histogram".to_string(), |s| s.value.to_string());
            format!("{} {value}", labels.join(","))
        })
        .collect()
}

fn resource(metrics: Vec<Metric>) -> Vec<ResourceMetrics> {
    vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", "api"),
                kv("service.namespace", "shop"),
                kv("service.instance.id", "pod-1"),
                kv("host.name", "h1"),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

#[test]
fn names_get_unit_and_type_suffixes() {
    assert_eq!(
        metric_name("http.server.duration", "s", Kind::Histogram),
        "http_server_duration_seconds"
    );
    assert_eq!(
        metric_name("requests", "{request}", Kind::Counter),
        "requests_total"
    );
    assert_eq!(metric_name("io", "By", Kind::Counter), "io_bytes_total");
    assert_eq!(
        metric_name("cpu.utilization", "1", Kind::Gauge),
        "cpu_utilization_ratio"
    );
    assert_eq!(
        metric_name("speed", "m/s", Kind::Gauge),
        "speed_meters_per_second"
    );
    assert_eq!(metric_name("done_total", "", Kind::Counter), "done_total");
    assert_eq!(label_name("2xx.count"), "key_2xx_count");
    assert_eq!(label_name("http.method"), "http_method");
}

#[test]
fn gauges_sums_and_target_info() {
    let t = translate(
        resource(vec![
            metric(
                "temp",
                "Cel",
                Data::Gauge(Gauge {
                    data_points: vec![point(21.5)],
                }),
            ),
            metric(
                "requests",
                "",
                Data::Sum(Sum {
                    data_points: vec![point(3.0)],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
            ),
        ]),
        1 << 20,
        &mut streams(),
    )
    .unwrap();
    assert_eq!(
        series(&t),
        [
            "__name__=temp_celsius,http_method=GET,instance=pod-1,job=shop/api 21.5",
            "__name__=requests_total,http_method=GET,instance=pod-1,job=shop/api 3",
            "__name__=target_info,host_name=h1,instance=pod-1,job=shop/api 1",
        ]
    );
    assert_eq!(t.refused_points, 0);
}

#[test]
fn histograms_and_summaries_expand() {
    let t = translate(
        resource(vec![
            metric(
                "latency",
                "ms",
                Data::Histogram(OtlpHistogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        count: 3,
                        sum: Some(7.5),
                        bucket_counts: vec![1, 2],
                        explicit_bounds: vec![0.5],
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            metric(
                "rpc",
                "s",
                Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        count: 4,
                        sum: 2.0,
                        quantile_values: vec![ValueAtQuantile {
                            quantile: 0.99,
                            value: 1.5,
                        }],
                        ..Default::default()
                    }],
                }),
            ),
        ]),
        1 << 20,
        &mut streams(),
    )
    .unwrap();
    let s = series(&t);
    assert_eq!(
        &s[..7],
        [
            "__name__=latency_milliseconds_bucket,instance=pod-1,job=shop/api,le=0.5 1",
            "__name__=latency_milliseconds_bucket,instance=pod-1,job=shop/api,le=+Inf 3",
            "__name__=latency_milliseconds_sum,instance=pod-1,job=shop/api 7.5",
            "__name__=latency_milliseconds_count,instance=pod-1,job=shop/api 3",
            "__name__=rpc_seconds,instance=pod-1,job=shop/api,quantile=0.99 1.5",
            "__name__=rpc_seconds_sum,instance=pod-1,job=shop/api 2",
            "__name__=rpc_seconds_count,instance=pod-1,job=shop/api 4",
        ]
    );
}

const T0: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;

fn buckets(offset: i32, counts: &[u64]) -> Option<Buckets> {
    Some(Buckets {
        offset,
        bucket_counts: counts.to_vec(),
    })
}

fn exp_point(scale: i32, positive: Option<Buckets>) -> ExponentialHistogramDataPoint {
    let count = positive
        .as_ref()
        .map_or(0, |b| b.bucket_counts.iter().sum());
    ExponentialHistogramDataPoint {
        time_unix_nano: T0,
        scale,
        count,
        sum: Some(10.0),
        positive,
        ..Default::default()
    }
}

fn exp_metric(
    temporality: AggregationTemporality,
    points: Vec<ExponentialHistogramDataPoint>,
) -> Metric {
    metric(
        "latency",
        "s",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: points,
            aggregation_temporality: temporality as i32,
        }),
    )
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan { offset, length }
}

/// The native histograms of the translated series, by series text.
fn histograms(t: &Translated) -> Vec<(String, Histogram)> {
    t.request
        .timeseries
        .iter()
        .filter(|ts| !ts.histograms.is_empty())
        .map(|ts| {
            let labels: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            (labels.join(","), ts.histograms[0].clone())
        })
        .collect()
}

fn one_histogram(metrics: Vec<Metric>, deltas: &mut TenantStreams) -> Histogram {
    let t = translate(resource(metrics), 1 << 20, deltas).unwrap();
    assert_eq!(t.errors, Vec::<String>::new());
    let h = histograms(&t);
    assert_eq!(h.len(), 1, "{h:?}");
    h[0].1.clone()
}

#[test]
fn exponential_histogram_becomes_a_native_histogram() {
    let mut p = exp_point(0, buckets(0, &[4, 3, 2, 1]));
    p.negative = buckets(-2, &[3, 1, 0, 0, 0, 1]);
    p.zero_count = 5;
    p.count = 20;
    let t = translate(
        resource(vec![exp_metric(
            AggregationTemporality::Cumulative,
            vec![p],
        )]),
        1 << 20,
        &mut streams(),
    )
    .unwrap();
    let h = histograms(&t);
    assert_eq!(
        h[0].0,
        "__name__=latency_seconds,instance=pod-1,job=shop/api"
    );
    assert_eq!(
        h[0].1,
        Histogram {
            count: Some(histogram::Count::CountInt(20)),
            sum: 10.0,
            schema: 0,
            // The sender left zero_threshold 0: Prometheus's default width.
            zero_threshold: 1e-128,
            zero_count: Some(histogram::ZeroCount::ZeroCountInt(5)),
            // OTLP index i is Prometheus index i+1 (Prometheus's
            // TestConvertBucketsLayout "zero offset" and "negative offset").
            positive_spans: vec![span(1, 4)],
            positive_deltas: vec![4, -1, -1, -1],
            negative_spans: vec![span(-1, 2), span(3, 1)],
            negative_deltas: vec![3, -2, 0],
            reset_hint: histogram::ResetHint::Unknown as i32,
            timestamp: 1_700_000_000_000,
            ..Default::default()
        }
    );
    assert_eq!(
        series(&t).last().unwrap(),
        "__name__=target_info,host_name=h1,instance=pod-1,job=shop/api 1"
    );
}

#[test]
fn scales_above_8_are_downscaled_by_merging_buckets() {
    // Prometheus's TestConvertBucketsLayout "offset 1" at scale-down 1.
    let h = one_histogram(
        vec![exp_metric(
            AggregationTemporality::Cumulative,
            vec![exp_point(9, buckets(1, &[4, 3, 2, 1]))],
        )],
        &mut streams(),
    );
    assert_eq!(h.schema, 8);
    assert_eq!(h.positive_spans, [span(1, 3)]);
    assert_eq!(h.positive_deltas, [4, 1, -4]);
    // "positive offset" at scale-down 2: 8, 0, 0, 0, 1 → two spans.
    let mut counts = vec![4, 2, 0, 2];
    counts.extend([0; 12]);
    counts.push(1);
    let h = one_histogram(
        vec![exp_metric(
            AggregationTemporality::Cumulative,
            vec![exp_point(10, buckets(4, &counts))],
        )],
        &mut streams(),
    );
    assert_eq!(h.schema, 8);
    assert_eq!(h.positive_spans, [span(2, 1), span(3, 1)]);
    assert_eq!(h.positive_deltas, [8, -7]);
    // "scaledown merges spans" at scale-down 2: a gap of two stays in the span.
    let mut counts = vec![4, 2, 0, 2];
    counts.extend([0; 8]);
    counts.push(1);
    let h = one_histogram(
        vec![exp_metric(
            AggregationTemporality::Cumulative,
            vec![exp_point(10, buckets(4, &counts))],
        )],
        &mut streams(),
    );
    assert_eq!(h.positive_spans, [span(2, 4)]);
    assert_eq!(h.positive_deltas, [8, -8, 0, 1]);
}

#[test]
fn scales_below_minus_4_are_refused_and_the_rest_kept() {
    let t = translate(
        resource(vec![
            exp_metric(
                AggregationTemporality::Cumulative,
                vec![exp_point(-5, buckets(0, &[1]))],
            ),
            metric(
                "temp",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![point(1.0)],
                }),
            ),
        ]),
        1 << 20,
        &mut streams(),
    )
    .unwrap();
    assert_eq!(t.refused_points, 1);
    assert_eq!(t.discarded, [(EXPONENTIAL_SCALE_INVALID, 1)]);
    assert!(
        t.errors[0].starts_with(
            "err-cairn-otlp-exponential-scale-invalid: metric \"latency\": 1 data point(s) refused: \
             scale -5 is below -4"
        ),
        "{:?}",
        t.errors
    );
    assert!(histograms(&t).is_empty());
    assert_eq!(
        series(&t)[0],
        "__name__=temp,http_method=GET,instance=pod-1,job=shop/api 1"
    );
}

#[test]
fn exponential_zero_threshold_absent_sum_and_no_recorded_value() {
    let mut p = exp_point(2, buckets(0, &[1]));
    p.sum = None;
    p.zero_threshold = 0.001;
    let h = one_histogram(
        vec![exp_metric(AggregationTemporality::Cumulative, vec![p])],
        &mut streams(),
    );
    assert_eq!(h.sum, 0.0);
    assert_eq!(h.zero_threshold, 0.001);

    let mut p = exp_point(2, buckets(0, &[1]));
    p.flags = NO_RECORDED_VALUE;
    let h = one_histogram(
        vec![exp_metric(AggregationTemporality::Cumulative, vec![p])],
        &mut streams(),
    );
    assert_eq!(h.sum.to_bits(), common::series::STALE_NAN_BITS);
    assert!(h.positive_spans.is_empty());
}

#[test]
fn exemplars_go_with_their_series() {
    let exemplar = OtlpExemplar {
        time_unix_nano: T0,
        value: Some(ExemplarValue::AsDouble(0.7)),
        trace_id: vec![0xab; 16],
        span_id: vec![0x01; 8],
        ..Default::default()
    };
    let mut p = exp_point(0, buckets(0, &[1]));
    p.exemplars = vec![exemplar.clone()];
    let explicit = HistogramDataPoint {
        time_unix_nano: T0,
        count: 3,
        bucket_counts: vec![1, 2],
        explicit_bounds: vec![0.5],
        exemplars: vec![exemplar],
        ..Default::default()
    };
    let t = translate(
        resource(vec![
            exp_metric(AggregationTemporality::Cumulative, vec![p]),
            metric(
                "size",
                "",
                Data::Histogram(OtlpHistogram {
                    data_points: vec![explicit],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
        ]),
        1 << 20,
        &mut streams(),
    )
    .unwrap();
    let with_exemplars: Vec<(String, Vec<Exemplar>)> = t
        .request
        .timeseries
        .iter()
        .filter(|ts| !ts.exemplars.is_empty())
        .map(|ts| {
            (
                ts.labels.last().unwrap().value.clone(),
                ts.exemplars.clone(),
            )
        })
        .collect();
    let expected = vec![Exemplar {
        labels: vec![
            Label::new("trace_id", "ab".repeat(16)),
            Label::new("span_id", "01".repeat(8)),
        ],
        value: 0.7,
        timestamp: 1_700_000_000_000,
    }];
    // The exponential histogram's series, and the explicit one's `le="+Inf"`
    // bucket (0.7 > 0.5).
    assert_eq!(
        with_exemplars,
        [
            ("shop/api".to_string(), expected.clone()),
            ("+Inf".to_string(), expected)
        ]
    );
}

fn delta_sum(monotonic: bool, points: &[(u64, u64, f64)]) -> Metric {
    metric(
        "requests",
        "",
        Data::Sum(Sum {
            data_points: points
                .iter()
                .map(|&(start, time, v)| NumberDataPoint {
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    ..point(v)
                })
                .collect(),
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: monotonic,
        }),
    )
}

#[test]
fn delta_sums_are_added_into_a_running_total_per_stream() {
    let mut deltas = streams();
    let (t1, t2, t3) = (T0 + SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND);
    let t = translate(
        resource(vec![delta_sum(true, &[(T0, t1, 1.0), (t1, t2, 2.0)])]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    assert_eq!(
        series(&t)[..2],
        [
            "__name__=requests_total,http_method=GET,instance=pod-1,job=shop/api 1",
            "__name__=requests_total,http_method=GET,instance=pod-1,job=shop/api 3",
        ]
    );
    // The next export goes on from the total; a non-monotonic delta sum is
    // a gauge of its running total, tracked as its own stream.
    let t = translate(
        resource(vec![
            delta_sum(true, &[(t2, t3, 4.0)]),
            delta_sum(false, &[(T0, t1, 5.0), (t1, t2, -2.0)]),
        ]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    assert_eq!(
        series(&t)[..3],
        [
            "__name__=requests_total,http_method=GET,instance=pod-1,job=shop/api 7",
            "__name__=requests,http_method=GET,instance=pod-1,job=shop/api 5",
            "__name__=requests,http_method=GET,instance=pod-1,job=shop/api 3",
        ]
    );
    assert_eq!(t.refused_points, 0);
    assert_eq!(deltas.len(), 2);
}

#[test]
fn old_and_repeated_delta_points_are_dropped_and_counted() {
    let mut deltas = streams();
    let (t1, t2) = (T0 + SECOND, T0 + 2 * SECOND);
    translate(
        resource(vec![delta_sum(true, &[(T0, t2, 1.0)])]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    // Sent again (a retry), out of order, and from before the stream started.
    let t = translate(
        resource(vec![delta_sum(
            true,
            &[
                (T0, t2, 1.0),
                (T0, t1, 1.0),
                (T0 - SECOND, t2 + SECOND, 1.0),
                (t2, t2 + SECOND, 5.0),
            ],
        )]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    assert_eq!(
        series(&t)[0],
        "__name__=requests_total,http_method=GET,instance=pod-1,job=shop/api 6"
    );
    assert_eq!(t.refused_points, 3);
    assert_eq!(t.discarded, [("sample-out-of-order", 3)]);
    assert_eq!(t.errors.len(), 1);
    assert!(
        t.errors[0].starts_with(
            "err-cairn-sample-out-of-order: metric \"requests\": 3 data point(s) refused: \
             delta point at"
        ),
        "{}",
        t.errors[0]
    );
}

fn delta_histogram(points: Vec<HistogramDataPoint>) -> Metric {
    metric(
        "size",
        "By",
        Data::Histogram(OtlpHistogram {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
        }),
    )
}

fn explicit_point(
    start: u64,
    time: u64,
    bounds: &[f64],
    counts: &[u64],
    sum: f64,
) -> HistogramDataPoint {
    HistogramDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: counts.iter().sum(),
        sum: Some(sum),
        bucket_counts: counts.to_vec(),
        explicit_bounds: bounds.to_vec(),
        ..Default::default()
    }
}

#[test]
fn delta_histograms_accumulate_and_restart_when_bounds_change() {
    let mut deltas = streams();
    let (t1, t2, t3) = (T0 + SECOND, T0 + 2 * SECOND, T0 + 3 * SECOND);
    let t = translate(
        resource(vec![delta_histogram(vec![
            explicit_point(T0, t1, &[1.0], &[1, 2], 4.0),
            explicit_point(t1, t2, &[1.0], &[0, 1], 2.5),
            // New bounds: the total restarts (a counter reset).
            explicit_point(t2, t3, &[2.0], &[1, 0], 1.5),
        ])]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    let s = series(&t);
    assert_eq!(
        s[4..8],
        [
            "__name__=size_bytes_bucket,instance=pod-1,job=shop/api,le=1 1",
            "__name__=size_bytes_bucket,instance=pod-1,job=shop/api,le=+Inf 4",
            "__name__=size_bytes_sum,instance=pod-1,job=shop/api 6.5",
            "__name__=size_bytes_count,instance=pod-1,job=shop/api 4",
        ]
    );
    assert_eq!(
        s[8..12],
        [
            "__name__=size_bytes_bucket,instance=pod-1,job=shop/api,le=2 1",
            "__name__=size_bytes_bucket,instance=pod-1,job=shop/api,le=+Inf 1",
            "__name__=size_bytes_sum,instance=pod-1,job=shop/api 1.5",
            "__name__=size_bytes_count,instance=pod-1,job=shop/api 1",
        ]
    );
    // More buckets than a stream keeps: refused, named.
    let bounds: Vec<f64> = (0..200).map(f64::from).collect();
    let t = translate(
        resource(vec![delta_histogram(vec![explicit_point(
            t3,
            t3 + SECOND,
            &bounds,
            &[1; 201],
            1.0,
        )])]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    assert_eq!(t.discarded, [(delta::BUCKETS_LIMIT, 1)]);
    assert!(t.errors[0].contains("delta histogram with 201 buckets; at most 160"));
}

#[test]
fn delta_exponential_histograms_merge_at_the_coarser_scale() {
    let mut deltas = streams();
    let (t1, t2) = (T0 + SECOND, T0 + 2 * SECOND);
    let mut first = exp_point(1, buckets(0, &[1, 1]));
    (first.start_time_unix_nano, first.time_unix_nano) = (T0, t1);
    first.zero_count = 1;
    first.count = 3;
    let h = one_histogram(
        vec![exp_metric(AggregationTemporality::Delta, vec![first])],
        &mut deltas,
    );
    assert_eq!((h.schema, h.positive_spans.clone()), (1, vec![span(1, 2)]));
    assert_eq!(h.positive_deltas, [1, 0]);
    // Scale 0: buckets 0 and 1 of scale 1 are bucket 0 of scale 0.
    let mut second = exp_point(0, buckets(0, &[2, 0, 1]));
    (second.start_time_unix_nano, second.time_unix_nano) = (t1, t2);
    second.count = 3;
    let h = one_histogram(
        vec![exp_metric(AggregationTemporality::Delta, vec![second])],
        &mut deltas,
    );
    assert_eq!(
        h,
        Histogram {
            count: Some(histogram::Count::CountInt(6)),
            sum: 20.0,
            schema: 0,
            zero_threshold: 1e-128,
            zero_count: Some(histogram::ZeroCount::ZeroCountInt(1)),
            positive_spans: vec![span(1, 3)],
            positive_deltas: vec![4, -4, 1],
            reset_hint: histogram::ResetHint::Unknown as i32,
            timestamp: 1_700_000_002_000,
            ..Default::default()
        }
    );
}

#[test]
fn delta_exponential_streams_keep_at_most_160_buckets() {
    let mut deltas = streams();
    let mut first = exp_point(3, buckets(0, &[1]));
    first.time_unix_nano = T0 + SECOND;
    one_histogram(
        vec![exp_metric(AggregationTemporality::Delta, vec![first])],
        &mut deltas,
    );
    // Index 300 is 301 buckets away from index 0: one downscale (to scale
    // 2) brings them within 160 (indexes 0 and 150).
    let mut second = exp_point(3, buckets(300, &[1]));
    (second.start_time_unix_nano, second.time_unix_nano) = (T0 + SECOND, T0 + 2 * SECOND);
    let h = one_histogram(
        vec![exp_metric(AggregationTemporality::Delta, vec![second])],
        &mut deltas,
    );
    assert_eq!(h.schema, 2);
    assert_eq!(h.positive_spans, [span(1, 1), span(149, 1)]);
    assert_eq!(h.positive_deltas, [1, 0]);
}

#[test]
fn new_delta_streams_past_the_limit_are_refused_with_the_limit_named() {
    let mut deltas = TenantStreams::new(1, Duration::from_secs(300));
    deltas.begin(Instant::now());
    let other = |v: f64| {
        let mut m = delta_sum(true, &[(T0, T0 + SECOND, v)]);
        if let Some(Data::Sum(s)) = &mut m.data {
            s.data_points[0].attributes = vec![kv("http.method", "POST")];
        }
        m
    };
    let t = translate(
        resource(vec![delta_sum(true, &[(T0, T0 + SECOND, 1.0)]), other(2.0)]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    assert_eq!(
        series(&t)[0],
        "__name__=requests_total,http_method=GET,instance=pod-1,job=shop/api 1"
    );
    assert_eq!(t.refused_points, 1);
    assert_eq!(t.discarded, [(delta::STREAMS_LIMIT, 1)]);
    assert!(
        t.errors[0].starts_with(
            "err-cairn-otlp-delta-streams-limit: metric \"requests\": 1 data point(s) refused: \
             the tenant already tracks 1 delta streams; raise \
             distributor.otlp_delta_max_streams_per_tenant"
        ),
        "{}",
        t.errors[0]
    );
}

#[test]
fn idle_delta_streams_are_forgotten_after_max_stale() {
    let mut deltas = TenantStreams::new(1, Duration::from_secs(300));
    let start = Instant::now();
    deltas.begin(start);
    translate(
        resource(vec![delta_sum(true, &[(T0, T0 + SECOND, 5.0)])]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    deltas.begin(start + Duration::from_secs(299));
    assert_eq!(deltas.len(), 1);
    // Idle past max_stale: the next point starts the total again (a counter
    // reset to PromQL).
    deltas.begin(start + Duration::from_secs(301));
    let t = translate(
        resource(vec![delta_sum(
            true,
            &[(T0 + SECOND, T0 + 2 * SECOND, 2.0)],
        )]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    assert_eq!(
        series(&t)[0],
        "__name__=requests_total,http_method=GET,instance=pod-1,job=shop/api 2"
    );
    // Swept from memory once idle past max_stale (checked every max_stale / 2).
    deltas.begin(start + Duration::from_secs(301 + 300));
    assert_eq!(deltas.len(), 0);
}

#[test]
fn hostile_exponential_points_are_refused_or_merged_never_panic() {
    let mut deltas = streams();
    let mut overflow = exp_point(i32::MAX, None);
    overflow.positive = buckets(i32::MAX, &[u64::MAX, u64::MAX]);
    let mut fine = exp_point(i32::MAX, buckets(i32::MIN, &[1]));
    fine.time_unix_nano = T0 + SECOND;
    let mut coarse = exp_point(-4, buckets(i32::MAX - 1, &[1]));
    coarse.time_unix_nano = T0 + 2 * SECOND;
    let t = translate(
        resource(vec![
            exp_metric(AggregationTemporality::Cumulative, vec![overflow]),
            exp_metric(
                AggregationTemporality::Cumulative,
                vec![exp_point(i32::MIN, None)],
            ),
            exp_metric(AggregationTemporality::Delta, vec![fine, coarse]),
        ]),
        1 << 20,
        &mut deltas,
    )
    .unwrap();
    // Counts past u64 once merged; a scale of i32::MIN; and a delta total
    // that must be downscaled to scale -28 to hold indexes 2^31 apart in
    // 160 buckets: refused, named. The first delta point is stored.
    assert_eq!(
        t.discarded,
        [(EXPONENTIAL_OVERFLOW, 1), (EXPONENTIAL_SCALE_INVALID, 2)],
        "{:?}",
        t.errors
    );
    assert!(t.errors[2].ends_with(
        "scale -28 is below -4, the coarsest native histogram schema; use a scale of -4 or more"
    ));
    let h = histograms(&t);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].1.schema, 8);
}
