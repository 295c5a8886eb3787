use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

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
            format!("{} {}", labels.join(","), ts.samples[0].value)
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
                Data::Histogram(Histogram {
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

#[test]
fn delta_sums_are_refused_with_a_reason() {
    let t = translate(
        resource(vec![metric(
            "requests",
            "",
            Data::Sum(Sum {
                data_points: vec![point(1.0), point(2.0)],
                aggregation_temporality: AggregationTemporality::Delta as i32,
                is_monotonic: true,
            }),
        )]),
        1 << 20,
    )
    .unwrap();
    assert!(
        t.request.timeseries.is_empty(),
        "no target_info without samples"
    );
    assert_eq!(t.refused_points, 2);
    assert!(t.errors[0].contains("delta temporality is not supported"));
}
