//! Prometheus's remote-write receiver compliance suite
//! (prometheus/compliance `remotewrite/receiver`, which is Go and cannot be
//! built here), case by case, against a real `cairn`. Each test is named
//! after the suite function it mirrors and sends what that function sends
//! (`generateRequest`: labels in map order, so unsorted; the pre-rc.4
//! per-series created timestamp); each success case is held to the suite's
//! strict SHOULD twin ("returns 204", exact written counts), each failure
//! to its MUST check (400 or the exact code, no more written than sent).
//! Beyond the suite, every accepted value is read back through the HTTP
//! API: PromQL values, `histogram_count`/`histogram_sum`/
//! `histogram_quantile` and the bucket list of native histograms,
//! `/api/v1/query_exemplars` and `/api/v1/metadata`.

use distributor::remote_write::metric_metadata::MetricType;
use serde_json::json;

use crate::support::Cairn;
use crate::support::remote_write::{body as v1_body, series as v1_series};
use crate::support::remote_write_v2::{
    Batch, Reply, Want, assert_refused, assert_written, exemplars, label_json, metadata, one_value,
    result, same_float, selector, send, suite_histogram, suite_histogram_json,
};

/// A label set as the suite's maps give them: `(name, value)` pairs.
type Ls<'a> = &'a [(&'a str, &'a str)];
/// An exemplar to send and read back: labels, value, offset from now (ms).
type ExemplarSpec<'a> = (Ls<'a>, f64, i64);

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

async fn start() -> (tempfile::TempDir, Cairn) {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    (dir, cairn)
}

/// Sends `batch` as `tenant` and checks the answer as the suite does.
async fn run(cairn: &Cairn, tenant: &str, batch: Batch, want: Want, success: bool) -> Reply {
    let reply = send(cairn, tenant, None, batch.body()).await;
    if success {
        assert_written(tenant, &reply, want, || cairn.log());
    } else {
        assert_refused(tenant, &reply, want, 400);
    }
    reply
}

/// The float `value` is what `labels` holds at `t`.
async fn assert_float(cairn: &Cairn, tenant: &str, labels: &[(&str, &str)], t: i64, value: f64) {
    let query = selector(labels);
    let r = result(cairn, tenant, &query, t).await;
    if value.to_bits() == common::series::STALE_NAN_BITS {
        // A stale marker ends the series: nothing to see at its time.
        assert!(r.is_empty(), "{tenant}: {query} at {t}: {r:?}");
        return;
    }
    assert_eq!(
        r.len(),
        1,
        "{tenant}: {query} at {t}: {r:?}\n{}",
        cairn.log()
    );
    assert_eq!(r[0]["metric"], label_json(labels), "{tenant}");
    let got = r[0]["value"][1].as_str().unwrap();
    assert!(
        same_float(got, value),
        "{tenant}: {query} = {got}, want {value}"
    );
}

/// Exactly `want` — `(labels, value, t)` — are the exemplars of `labels`.
async fn assert_exemplars(
    cairn: &Cairn,
    tenant: &str,
    labels: &[(&str, &str)],
    now: i64,
    want: &[ExemplarSpec<'_>],
) {
    let got = exemplars(cairn, tenant, labels, now - 2 * HOUR, now + MINUTE).await;
    assert_eq!(got.len(), want.len(), "{tenant}: {got:?}\n{}", cairn.log());
    for ((labels, value, t), (want_labels, want_value, want_t)) in got.iter().zip(want) {
        assert_eq!(labels, &label_json(want_labels), "{tenant}");
        assert!(
            same_float(value, *want_value),
            "{tenant}: {value} != {want_value}"
        );
        assert_eq!(t, want_t, "{tenant}");
    }
}

/// `/api/v1/metadata` lists `family` with exactly this type, help and unit.
async fn assert_metadata(
    cairn: &Cairn,
    tenant: &str,
    family: &str,
    kind: &str,
    help: &str,
    unit: &str,
) {
    assert_eq!(
        metadata(cairn, tenant, family).await,
        json!([{"type": kind, "help": help, "unit": unit}]),
        "{tenant}: metadata of {family}"
    );
}

/// The flags of a [`suite_histogram`], for its read-back.
#[derive(Clone, Copy)]
struct Shape {
    positive: bool,
    negative: bool,
    zero: bool,
    custom: bool,
}

const POS_NEG_ZERO: Shape = Shape {
    positive: true,
    negative: true,
    zero: true,
    custom: false,
};
const POS_ZERO: Shape = Shape {
    positive: true,
    negative: false,
    zero: true,
    custom: false,
};
const NEG: Shape = Shape {
    positive: false,
    negative: true,
    zero: false,
    custom: false,
};
const POS_NEG: Shape = Shape {
    positive: true,
    negative: true,
    zero: false,
    custom: false,
};
const NEG_ZERO: Shape = Shape {
    positive: false,
    negative: true,
    zero: true,
    custom: false,
};
const CUSTOM: Shape = Shape {
    positive: false,
    negative: false,
    zero: false,
    custom: true,
};

impl Shape {
    fn histogram(self, sum: f64) -> distributor::remote_write::Histogram {
        suite_histogram(
            sum,
            self.positive,
            self.negative,
            self.zero,
            self.custom,
            false,
        )
    }
}

/// The native histogram of `labels` at `t` is `shape` with `sum`: its
/// bucket list, `histogram_count` and `histogram_sum`.
async fn assert_histogram(
    cairn: &Cairn,
    tenant: &str,
    labels: &[(&str, &str)],
    t: i64,
    shape: Shape,
    sum: &str,
) {
    let query = selector(labels);
    let r = result(cairn, tenant, &query, t).await;
    assert_eq!(r.len(), 1, "{tenant}: {query}: {r:?}\n{}", cairn.log());
    assert_eq!(r[0]["metric"], label_json(labels), "{tenant}");
    let want = suite_histogram_json(
        sum,
        shape.positive,
        shape.negative,
        shape.zero,
        shape.custom,
    );
    assert_eq!(r[0]["histogram"][1], want, "{tenant}: {query}");
    let count = one_value(cairn, tenant, &format!("histogram_count({query})"), t).await;
    assert_eq!(count, want["count"], "{tenant}: histogram_count");
    let got_sum = one_value(cairn, tenant, &format!("histogram_sum({query})"), t).await;
    assert_eq!(got_sum, sum, "{tenant}: histogram_sum");
}

async fn quantile(cairn: &Cairn, tenant: &str, q: f64, labels: &[(&str, &str)], t: i64) -> f64 {
    let query = format!("histogram_quantile({q}, {})", selector(labels));
    one_value(cairn, tenant, &query, t).await.parse().unwrap()
}

// --- request_test.go ---

#[tokio::test]
async fn bad_content_types() {
    let (_dir, cairn) = start().await;
    for content_type in ["application/json", "image/png"] {
        let mut batch = Batch::default();
        batch.sample(&[("__name__", "up")], 1.0, 0);
        let mut body = batch.body();
        body[0] = b'0';
        let headers = [
            ("Content-Encoding", "snappy"),
            ("Content-Type", content_type),
        ];
        let reply = send(&cairn, "t", Some(&headers), body).await;
        assert_refused(content_type, &reply, Want::default(), 415);
        assert!(
            reply
                .body
                .contains("err-cairn-remote-write-unsupported-content-type")
                && reply.body.contains("proto=io.prometheus.write.v2.Request"),
            "{}",
            reply.body
        );
    }
}

#[tokio::test]
async fn bad_content_encodings() {
    let (_dir, cairn) = start().await;
    for encoding in ["gzip", "deflate"] {
        let mut batch = Batch::default();
        batch.sample(&[("__name__", "up")], 1.0, 0);
        let mut body = batch.body();
        body[0] = b'0';
        let headers = [
            ("Content-Encoding", encoding),
            (
                "Content-Type",
                crate::support::remote_write_v2::CONTENT_TYPE,
            ),
        ];
        let reply = send(&cairn, "t", Some(&headers), body).await;
        assert_refused(encoding, &reply, Want::default(), 415);
        assert!(
            reply
                .body
                .contains("err-cairn-remote-write-unsupported-content-encoding"),
            "{}",
            reply.body
        );
    }
}

#[tokio::test]
async fn corrupt_request_body() {
    let (_dir, cairn) = start().await;
    let mut batch = Batch::default();
    batch.sample(&[("__name__", "up")], 1.0, 0);
    let mut body = batch.body();
    body[0] = b'0';
    let reply = send(&cairn, "t", None, body).await;
    assert_refused("corrupt", &reply, Want::default(), 400);
    let r = result(&cairn, "t", "up", crate::support::remote_write::now_ms()).await;
    assert!(r.is_empty(), "{r:?}");
}

// --- rw1_compat_test.go (MAY) ---

#[tokio::test]
async fn rw1_basic_compatibility() {
    let (_dir, cairn) = start().await;
    let now = crate::support::remote_write::now_ms();
    let body = v1_body(vec![
        v1_series(
            "up",
            &[("instance", "localhost:9090"), ("job", "testjob")],
            &[(now, 1.0)],
        ),
        v1_series("http_requests_total", &[], &[(now, 100.0)]),
    ]);
    let headers = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
    ];
    let reply = send(&cairn, "t", Some(&headers), body).await;
    assert_eq!(reply.status / 100, 2, "{reply:?}");
    assert_float(
        &cairn,
        "t",
        &[("__name__", "http_requests_total")],
        now,
        100.0,
    )
    .await;
    let up = [
        ("__name__", "up"),
        ("instance", "localhost:9090"),
        ("job", "testjob"),
    ];
    assert_float(&cairn, "t", &up, now, 1.0).await;
}

#[tokio::test]
async fn rw1_error_handling() {
    let (_dir, cairn) = start().await;
    let now = crate::support::remote_write::now_ms();
    let mut body = v1_body(vec![v1_series("error_test", &[], &[(now, 1.0)])]);
    body[0] = 0xff;
    let headers = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
    ];
    let reply = send(&cairn, "t", Some(&headers), body).await;
    assert_refused("rw1 corrupt", &reply, Want::default(), 400);
}

// --- metric_test.go ---

/// The suite's `values`.
const VALUES: [(&str, f64); 5] = [
    ("1.0", 1.0),
    ("StaleNaN", f64::from_bits(common::series::STALE_NAN_BITS)),
    ("NaN", f64::from_bits(0x7ff8000000000001)),
    ("Inf", f64::INFINITY),
    ("-Inf", f64::NEG_INFINITY),
];

#[tokio::test]
async fn single_metric() {
    let (_dir, cairn) = start().await;
    let up: &[(&str, &str)] = &[("__name__", "up")];
    let job = &[
        ("__name__", "up"),
        ("job", "testjob"),
        ("instance", "localhost:9090"),
    ];
    let newlines = &[
        ("__name__", "up"),
        ("job", "test\njob\n"),
        ("instance", "localhost:9090"),
    ];
    let nameless = &[("job", "testjob"), ("instance", "localhost:9090")];
    let dots = &[
        ("__name__", "resource.cpu.usage"),
        ("job.name", "testjob"),
        ("instance.name", "localhost:9090"),
    ];
    let spaces = &[
        ("__name__", "resource cpu usage"),
        ("job name", "testjob"),
        ("instance name", "localhost:9090"),
    ];
    let cases: [(&str, Ls<'_>, bool); 7] = [
        ("simple metric", up, true),
        ("simple metric with multiple labels", job, true),
        ("simple metric with newlines", newlines, true),
        ("simple metric with dots", dots, true),
        ("simple metric with spaces", spaces, true),
        ("simple metric without name label", nameless, false),
        ("empty metric", &[], false),
    ];
    for (value_name, value) in VALUES {
        for (i, (name, labels, success)) in cases.iter().enumerate() {
            let tenant = format!("single-{}-{i}", value_name.replace('.', "_").to_lowercase());
            let mut batch = Batch::default();
            let now = batch.now;
            batch.sample(labels, value, 0);
            let want = Want {
                samples: 1,
                ..Default::default()
            };
            let reply = run(&cairn, &tenant, batch, want, *success).await;
            if *success {
                assert_float(&cairn, &tenant, labels, now, value).await;
            } else {
                assert!(
                    reply.body.contains("err-cairn-missing-metric-name"),
                    "{name}: {}",
                    reply.body
                );
            }
        }
    }
}

/// The suite's created-timestamp cases, sent both ways: the pre-rc.4
/// per-series field the suite sends, and rc.4's per-sample field. Either
/// is accepted and, as in Prometheus by default, no zero sample is added
/// at the start time.
#[tokio::test]
async fn counter_with_created_timestamp() {
    let (_dir, cairn) = start().await;
    let labels = &[("__name__", "http_requests_total"), ("job", "api")];
    for (tenant, rc4) in [("created-series", false), ("start-sample", true)] {
        let mut batch = Batch::default();
        let now = batch.now;
        let i = batch.sample(labels, 100.0, 0);
        if rc4 {
            batch.start_timestamp(i, now - HOUR);
        } else {
            batch.created_timestamp(i, now - HOUR);
        }
        let want = Want {
            samples: 1,
            ..Default::default()
        };
        run(&cairn, tenant, batch, want, true).await;
        assert_float(&cairn, tenant, labels, now, 100.0).await;
        let samples = one_value(
            &cairn,
            tenant,
            "count_over_time(http_requests_total[2h])",
            now,
        )
        .await;
        assert_eq!(samples, "1", "{tenant}");
    }
}

#[tokio::test]
async fn multiple_metrics() {
    let (_dir, cairn) = start().await;
    for (value_name, value) in VALUES {
        let series = |named: [bool; 4]| -> Vec<Vec<(&'static str, String)>> {
            (0..4)
                .map(|i| {
                    let mut l = vec![
                        ("job", "testjob".to_string()),
                        ("instance", format!("localhost:909{i}")),
                    ];
                    if named[i] {
                        l.insert(0, ("__name__", "up".to_string()));
                    }
                    l
                })
                .collect()
        };
        let cases = [
            ("multiple metrics", series([true; 4]), true, 4),
            (
                "multiple metrics, without name label",
                series([false; 4]),
                false,
                0,
            ),
            (
                "multiple metrics, 1 without name label",
                series([false, true, true, true]),
                false,
                3,
            ),
        ];
        for (i, (name, all, success, valid)) in cases.into_iter().enumerate() {
            let tenant = format!("multi-{}-{i}", value_name.replace('.', "_").to_lowercase());
            let mut batch = Batch::default();
            let now = batch.now;
            let labels: Vec<Vec<(&str, &str)>> = all
                .iter()
                .map(|l| l.iter().map(|(n, v)| (*n, v.as_str())).collect())
                .collect();
            for l in &labels {
                batch.sample(l, value, 0);
            }
            let want = Want {
                samples: valid,
                ..Default::default()
            };
            let reply = run(&cairn, &tenant, batch, want, success).await;
            // Partial success: the valid series are written and counted.
            assert_eq!(reply.written[0], valid, "{name}: {}", reply.body);
            for l in labels.iter().filter(|l| l[0].0 == "__name__") {
                assert_float(&cairn, &tenant, l, now, value).await;
            }
        }
    }
}

// --- histograms_test.go ---

#[tokio::test]
async fn histograms() {
    let (_dir, cairn) = start().await;
    let one: Want = Want {
        histograms: 1,
        ..Default::default()
    };
    let basic = &[("__name__", "test_histogram")];
    let cases: [(&str, Ls<'_>, Shape, Option<f64>); 5] = [
        // rank 13.5 of 27 falls 1.5/7 into (16, 32]: exponential interpolation.
        (
            "basic_histogram",
            basic,
            POS_NEG_ZERO,
            Some(16.0 * 2f64.powf(1.5 / 7.0)),
        ),
        // rank 15 of 30 falls 5/8 into the custom bucket (1, 2.5]: linear.
        (
            "custom_buckets_histogram",
            basic,
            CUSTOM,
            Some(1.0 + 1.5 * 5.0 / 8.0),
        ),
        // rank 12 of 24 falls 3/7 into (16, 32].
        (
            "positive_only_histogram",
            &[("__name__", "test_histogram"), ("job", "test")],
            POS_ZERO,
            Some(16.0 * 2f64.powf(3.0 / 7.0)),
        ),
        (
            "negative_only_histogram",
            &[("__name__", "test_histogram"), ("instance", "localhost")],
            NEG,
            None,
        ),
        (
            "minimal_histogram",
            &[("__name__", "minimal_hist")],
            Shape {
                positive: false,
                negative: false,
                zero: true,
                custom: false,
            },
            None,
        ),
    ];
    for (tenant, labels, shape, q50) in cases {
        let mut batch = Batch::default();
        let now = batch.now;
        batch.histogram(labels, shape.histogram(1.0), 0);
        run(&cairn, tenant, batch, one, true).await;
        assert_histogram(&cairn, tenant, labels, now, shape, "1").await;
        let got = quantile(&cairn, tenant, 0.5, labels, now).await;
        match q50 {
            Some(want) => assert!((got - want).abs() < 1e-9, "{tenant}: q50 {got} want {want}"),
            // The median of 3 negative observations lies in [-2, -1).
            None if shape.negative => assert!((-2.0..-1.0).contains(&got), "{tenant}: q50 {got}"),
            None => assert_eq!(got, 0.0, "{tenant}: q50 of the zero bucket"),
        }
    }
}

/// `TestHistograms`' `bad_count_histogram`: an integer histogram whose
/// count (99) is not the total of its buckets (23) is refused, as
/// Prometheus's `Histogram.Validate` refuses it (ErrHistogramCountMismatch).
#[tokio::test]
async fn histograms_bad_count_histogram() {
    let (_dir, cairn) = start().await;
    let labels = &[("__name__", "minimal_hist")];
    let mut batch = Batch::default();
    let now = batch.now;
    batch.histogram(
        labels,
        suite_histogram(1.0, true, false, false, false, true),
        0,
    );
    let want = Want {
        histograms: 1,
        ..Default::default()
    };
    let reply = run(&cairn, "t", batch, want, false).await;
    assert!(reply.body.contains("err-cairn-"), "{}", reply.body);
    let r = result(&cairn, "t", &selector(labels), now).await;
    assert!(r.is_empty(), "{r:?}");
}

#[tokio::test]
async fn histogram_with_created_timestamp() {
    let (_dir, cairn) = start().await;
    let labels = &[("__name__", "request_duration_seconds"), ("job", "api")];
    let mut batch = Batch::default();
    let now = batch.now;
    let i = batch.histogram(labels, POS_NEG_ZERO.histogram(1.5), 0);
    batch.created_timestamp(i, now - 30 * MINUTE);
    let want = Want {
        histograms: 1,
        ..Default::default()
    };
    run(&cairn, "t", batch, want, true).await;
    assert_histogram(&cairn, "t", labels, now, POS_NEG_ZERO, "1.5").await;
}

#[tokio::test]
async fn multiple_histograms() {
    let (_dir, cairn) = start().await;
    let hist1 = &[("__name__", "hist1"), ("job", "test")];
    let hist2 = &[("__name__", "hist2"), ("job", "test")];
    let mut batch = Batch::default();
    let now = batch.now;
    batch.histogram(hist1, POS_ZERO.histogram(10.5), 0);
    batch.histogram(hist2, NEG.histogram(5.2), 0);
    let want = Want {
        histograms: 2,
        ..Default::default()
    };
    run(&cairn, "t", batch, want, true).await;
    assert_histogram(&cairn, "t", hist1, now, POS_ZERO, "10.5").await;
    assert_histogram(&cairn, "t", hist2, now, NEG, "5.2").await;
}

#[tokio::test]
async fn empty_histogram() {
    let (_dir, cairn) = start().await;
    let labels = &[("__name__", "empty_hist")];
    let mut batch = Batch::default();
    let now = batch.now;
    let empty = Shape {
        positive: false,
        negative: false,
        zero: false,
        custom: false,
    };
    batch.histogram(labels, empty.histogram(0.0), 0);
    let want = Want {
        histograms: 1,
        ..Default::default()
    };
    run(&cairn, "t", batch, want, true).await;
    assert_histogram(&cairn, "t", labels, now, empty, "0").await;
}

/// One histogram series with metadata and/or an exemplar, as the suite's
/// `TestHistogramWith{Metadata,Exemplar,MetadataAndExemplar}` and the
/// combined tests send; checks all of it is written and read back.
struct HistogramCase<'a> {
    labels: &'a [(&'a str, &'a str)],
    shape: Shape,
    sum: f64,
    sum_text: &'a str,
    metadata: Option<(&'a str, &'a str)>,
    exemplar: Option<&'a [(&'a str, &'a str)]>,
}

async fn histogram_cases(cairn: &Cairn, tenant: &str, cases: &[HistogramCase<'_>]) {
    let mut batch = Batch::default();
    let now = batch.now;
    let mut want = Want::default();
    for c in cases {
        let i = batch.histogram(c.labels, c.shape.histogram(c.sum), 0);
        want.histograms += 1;
        if let Some((help, unit)) = c.metadata {
            batch.metadata(i, MetricType::Histogram, help, unit);
        }
        if let Some(ex) = c.exemplar {
            batch.exemplar(i, ex, c.sum, 0);
            want.exemplars += 1;
        }
    }
    run(cairn, tenant, batch, want, true).await;
    for c in cases {
        assert_histogram(cairn, tenant, c.labels, now, c.shape, c.sum_text).await;
        if let Some((help, unit)) = c.metadata {
            assert_metadata(cairn, tenant, c.labels[0].1, "histogram", help, unit).await;
        }
        let want: Vec<_> = c.exemplar.iter().map(|ex| (*ex, c.sum, now)).collect();
        assert_exemplars(cairn, tenant, c.labels, now, &want).await;
    }
}

#[tokio::test]
async fn histogram_with_metadata() {
    let (_dir, cairn) = start().await;
    let case = HistogramCase {
        labels: &[("__name__", "request_duration_seconds"), ("job", "api")],
        shape: POS_NEG_ZERO,
        sum: 2.5,
        sum_text: "2.5",
        metadata: Some(("HTTP request duration in seconds", "seconds")),
        exemplar: None,
    };
    histogram_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn histogram_with_exemplar() {
    let (_dir, cairn) = start().await;
    let case = HistogramCase {
        labels: &[
            ("__name__", "http_request_duration_seconds"),
            ("method", "GET"),
        ],
        shape: POS_ZERO,
        sum: 1.23,
        sum_text: "1.23",
        metadata: None,
        exemplar: Some(&[("trace_id", "abc123def456"), ("span_id", "span789")]),
    };
    histogram_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn histogram_with_metadata_and_exemplar() {
    let (_dir, cairn) = start().await;
    let case = HistogramCase {
        labels: &[("__name__", "response_size_bytes"), ("service", "upload")],
        shape: POS_NEG_ZERO,
        sum: 10485760.0,
        sum_text: "10485760",
        metadata: Some(("HTTP response size in bytes", "bytes")),
        exemplar: Some(&[("trace_id", "large_upload_trace"), ("user_id", "user456")]),
    };
    histogram_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn multiple_histograms_with_metadata() {
    let (_dir, cairn) = start().await;
    let cases = [
        HistogramCase {
            labels: &[("__name__", "cpu_usage_histogram"), ("instance", "server1")],
            shape: POS_ZERO,
            sum: 0.75,
            sum_text: "0.75",
            metadata: Some(("CPU usage distribution", "ratio")),
            exemplar: None,
        },
        HistogramCase {
            labels: &[
                ("__name__", "memory_usage_histogram"),
                ("instance", "server1"),
            ],
            shape: POS_NEG,
            sum: 8589934592.0,
            sum_text: "8589934592",
            metadata: Some(("Memory usage distribution", "bytes")),
            exemplar: None,
        },
    ];
    histogram_cases(&cairn, "t", &cases).await;
}

// --- exemplar_test.go ---

/// A series with one sample and the exemplars `(labels, value, offset)`,
/// plus optional metadata; checks all of it is written and read back.
struct SampleCase<'a> {
    labels: &'a [(&'a str, &'a str)],
    value: f64,
    offset: i64,
    exemplars: &'a [ExemplarSpec<'a>],
    metadata: Option<(MetricType, &'a str, &'a str, &'a str)>,
}

impl<'a> SampleCase<'a> {
    fn new(labels: &'a [(&'a str, &'a str)], value: f64) -> Self {
        Self {
            labels,
            value,
            offset: 0,
            exemplars: &[],
            metadata: None,
        }
    }
}

async fn sample_cases(cairn: &Cairn, tenant: &str, cases: &[SampleCase<'_>]) {
    let mut batch = Batch::default();
    let now = batch.now;
    let mut want = Want::default();
    for c in cases {
        let i = batch.sample(c.labels, c.value, c.offset);
        want.samples += 1;
        for (labels, value, offset) in c.exemplars {
            batch.exemplar(i, labels, *value, *offset);
            want.exemplars += 1;
        }
        if let Some((kind, _, help, unit)) = c.metadata {
            batch.metadata(i, kind, help, unit);
        }
    }
    run(cairn, tenant, batch, want, true).await;
    for c in cases {
        assert_float(cairn, tenant, c.labels, now + c.offset, c.value).await;
        if let Some((_, kind, help, unit)) = c.metadata {
            assert_metadata(cairn, tenant, c.labels[0].1, kind, help, unit).await;
        }
    }
    // Exemplars per series, over every case that shares its labels.
    for c in cases {
        let want: Vec<_> = cases
            .iter()
            .filter(|o| o.labels == c.labels)
            .flat_map(|o| o.exemplars.iter().map(|(l, v, off)| (*l, *v, now + off)))
            .collect();
        assert_exemplars(cairn, tenant, c.labels, now, &want).await;
    }
}

#[tokio::test]
async fn exemplars_test_cases() {
    let (_dir, cairn) = start().await;
    let cases: [(&str, Ls<'_>, Ls<'_>, f64); 7] = [
        (
            "basic_exemplar",
            &[("__name__", "http_requests_total"), ("job", "api")],
            &[("trace_id", "abc123def456")],
            1.0,
        ),
        (
            "exemplar_with_span_id",
            &[("__name__", "request_duration_seconds"), ("method", "GET")],
            &[("trace_id", "xyz789"), ("span_id", "span123")],
            0.125,
        ),
        (
            "exemplar_without_trace_id",
            &[("__name__", "cpu_usage"), ("instance", "host1")],
            &[("user_id", "user123")],
            0.85,
        ),
        (
            "exemplar_with_multiple_labels",
            &[("__name__", "request_latency"), ("service", "auth")],
            &[
                ("trace_id", "trace456"),
                ("user", "admin"),
                ("endpoint", "/login"),
            ],
            0.05,
        ),
        (
            "exemplar_no_labels",
            &[("__name__", "simple_counter")],
            &[],
            1.0,
        ),
        (
            "exemplar_with_special_chars",
            &[("__name__", "test_metric")],
            &[("trace_id", "trace-with-dashes_and_underscores.123")],
            42.0,
        ),
        (
            "exemplar_with_unicode",
            &[("__name__", "unicode_test"), ("region", "🌍")],
            &[("trace_id", "unicode_trace_测试")],
            100.0,
        ),
    ];
    for (tenant, labels, exemplar, value) in cases {
        let exemplars = [(exemplar, value, 0)];
        let case = SampleCase {
            exemplars: &exemplars,
            ..SampleCase::new(labels, value)
        };
        sample_cases(&cairn, tenant, &[case]).await;
    }
}

#[tokio::test]
async fn exemplar_with_created_timestamp() {
    let (_dir, cairn) = start().await;
    let labels = &[("__name__", "http_requests_total"), ("job", "api")];
    let ex: &[(&str, &str)] = &[("trace_id", "abc123"), ("span_id", "span456")];
    let mut batch = Batch::default();
    let now = batch.now;
    let i = batch.sample(labels, 250.0, 0);
    batch.exemplar(i, ex, 250.0, 0);
    batch.created_timestamp(i, now - 2 * HOUR);
    let want = Want {
        samples: 1,
        exemplars: 1,
        ..Default::default()
    };
    run(&cairn, "t", batch, want, true).await;
    assert_float(&cairn, "t", labels, now, 250.0).await;
    assert_exemplars(&cairn, "t", labels, now, &[(ex, 250.0, now)]).await;
}

#[tokio::test]
async fn multiple_exemplars() {
    let (_dir, cairn) = start().await;
    let cases = [
        SampleCase {
            exemplars: &[(&[("trace_id", "trace1"), ("span_id", "span1")], 0.1, 0)],
            ..SampleCase::new(&[("__name__", "request_duration"), ("method", "GET")], 0.1)
        },
        SampleCase {
            exemplars: &[(&[("trace_id", "trace2"), ("span_id", "span2")], 0.25, 0)],
            ..SampleCase::new(
                &[("__name__", "request_duration"), ("method", "POST")],
                0.25,
            )
        },
        SampleCase {
            exemplars: &[(&[("trace_id", "trace3"), ("user", "test_user")], 1.0, 0)],
            ..SampleCase::new(&[("__name__", "error_count"), ("service", "payment")], 1.0)
        },
    ];
    sample_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn exemplar_timestamps() {
    let (_dir, cairn) = start().await;
    let labels: &[(&str, &str)] = &[("__name__", "latency_hist")];
    let cases = [
        SampleCase {
            offset: -HOUR,
            exemplars: &[(&[("trace_id", "old_trace")], 0.05, -HOUR)],
            ..SampleCase::new(labels, 0.05)
        },
        SampleCase {
            offset: -MINUTE,
            exemplars: &[(&[("trace_id", "recent_trace")], 0.15, -MINUTE)],
            ..SampleCase::new(labels, 0.15)
        },
        SampleCase {
            exemplars: &[(&[("trace_id", "current_trace")], 0.08, 0)],
            ..SampleCase::new(labels, 0.08)
        },
    ];
    // One series, three samples and exemplars: each readable at its time.
    sample_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn exemplar_validation() {
    let (_dir, cairn) = start().await;
    let cases: [(&str, Ls<'_>, bool); 3] = [
        ("exemplar_without_name_label", &[("job", "test")], false),
        ("exemplar_with_empty_name", &[("__name__", "")], false),
        (
            "exemplar_with_valid_name",
            &[("__name__", "valid_metric")],
            true,
        ),
    ];
    for (tenant, labels, success) in cases {
        let mut batch = Batch::default();
        let now = batch.now;
        let i = batch.sample(labels, 1.0, 0);
        batch.exemplar(i, &[("trace_id", "test_trace")], 1.0, 0);
        let want = Want {
            samples: 1,
            exemplars: 1,
            ..Default::default()
        };
        let reply = run(&cairn, tenant, batch, want, success).await;
        if success {
            assert_float(&cairn, tenant, labels, now, 1.0).await;
            let ex: &[(&str, &str)] = &[("trace_id", "test_trace")];
            assert_exemplars(&cairn, tenant, labels, now, &[(ex, 1.0, now)]).await;
        } else {
            assert_eq!(reply.written, [0, 0, 0], "{tenant}");
            assert!(
                reply.body.contains("err-cairn-missing-metric-name"),
                "{}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn exemplar_special_values() {
    let (_dir, cairn) = start().await;
    let cases = [
        ("zero_value", 0.0),
        ("negative_value", -123.456),
        ("large_value", 1e10),
        ("small_value", 1e-10),
        ("nan_value", f64::from_bits(0x7ff8000000000001)),
        ("inf_value", f64::INFINITY),
        ("-inf_value", f64::NEG_INFINITY),
    ];
    let labels = &[("__name__", "test_metric")];
    for (tenant, value) in cases {
        let exemplars = [(&[("trace_id", "special_value_trace")][..], value, 0)];
        let case = SampleCase {
            exemplars: &exemplars,
            ..SampleCase::new(labels, value)
        };
        sample_cases(&cairn, tenant, &[case]).await;
    }
}

// --- metadata_test.go ---

#[tokio::test]
async fn metadata_test_cases() {
    let (_dir, cairn) = start().await;
    use MetricType::*;
    let cases: [(&str, Ls<'_>, MetricType, &str, &str, &str); 10] = [
        (
            "counter_metadata",
            &[("__name__", "http_requests_total")],
            Counter,
            "counter",
            "Total number of HTTP requests",
            "requests",
        ),
        (
            "gauge_metadata",
            &[("__name__", "cpu_usage_percent")],
            Gauge,
            "gauge",
            "Current CPU usage percentage",
            "percent",
        ),
        (
            "histogram_metadata",
            &[("__name__", "request_duration_seconds")],
            Histogram,
            "histogram",
            "Request duration in seconds",
            "seconds",
        ),
        (
            "metadata_no_help_no_unit",
            &[("__name__", "simple_counter")],
            Counter,
            "counter",
            "",
            "",
        ),
        (
            "metadata_with_special_chars",
            &[("__name__", "test_metric"), ("job", "test")],
            Gauge,
            "gauge",
            "Test metric with\nnewlines and \"quotes\"",
            "bytes/sec",
        ),
        (
            "unspecified_metadata_type",
            &[("__name__", "unknown_metric")],
            Unknown,
            "unknown",
            "Unknown metric type",
            "",
        ),
        (
            "info_metadata_type",
            &[("__name__", "build_info")],
            Info,
            "info",
            "Build information",
            "",
        ),
        (
            "stateset_metadata_type",
            &[("__name__", "node_state")],
            Stateset,
            "stateset",
            "Node state information",
            "",
        ),
        (
            "summary_metadata_type",
            &[("__name__", "request_latency_summary")],
            Summary,
            "summary",
            "Request latency summary",
            "seconds",
        ),
        (
            "gauge_histogram_metadata_type",
            &[("__name__", "temperature_histogram")],
            Gaugehistogram,
            "gaugehistogram",
            "Temperature distribution gauge histogram",
            "celsius",
        ),
    ];
    for (tenant, labels, kind, kind_text, help, unit) in cases {
        if kind == Histogram {
            let case = HistogramCase {
                labels,
                shape: POS_NEG_ZERO,
                sum: 1.0,
                sum_text: "1",
                metadata: Some((help, unit)),
                exemplar: None,
            };
            histogram_cases(&cairn, tenant, &[case]).await;
            continue;
        }
        let case = SampleCase {
            metadata: Some((kind, kind_text, help, unit)),
            ..SampleCase::new(labels, 1.0)
        };
        sample_cases(&cairn, tenant, &[case]).await;
    }
}

#[tokio::test]
async fn counter_metadata_with_created_timestamp() {
    let (_dir, cairn) = start().await;
    let labels = &[("__name__", "http_requests_total"), ("job", "api")];
    let mut batch = Batch::default();
    let now = batch.now;
    let i = batch.sample(labels, 150.0, 0);
    batch.metadata(i, MetricType::Counter, "Total HTTP requests", "requests");
    batch.created_timestamp(i, now - HOUR);
    let want = Want {
        samples: 1,
        ..Default::default()
    };
    run(&cairn, "t", batch, want, true).await;
    assert_float(&cairn, "t", labels, now, 150.0).await;
    assert_metadata(
        &cairn,
        "t",
        "http_requests_total",
        "counter",
        "Total HTTP requests",
        "requests",
    )
    .await;
}

#[tokio::test]
async fn metadata_with_samples() {
    let (_dir, cairn) = start().await;
    let case = SampleCase {
        metadata: Some((
            MetricType::Counter,
            "counter",
            "Total HTTP requests",
            "requests",
        )),
        ..SampleCase::new(
            &[("__name__", "http_requests_total"), ("job", "test")],
            42.0,
        )
    };
    sample_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn multiple_metadata() {
    let (_dir, cairn) = start().await;
    let cases = [
        SampleCase {
            metadata: Some((
                MetricType::Gauge,
                "gauge",
                "CPU usage percentage",
                "percent",
            )),
            ..SampleCase::new(&[("__name__", "cpu_usage")], 85.5)
        },
        SampleCase {
            metadata: Some((MetricType::Gauge, "gauge", "Memory usage in bytes", "bytes")),
            ..SampleCase::new(&[("__name__", "memory_usage")], 4096000000.0)
        },
        SampleCase {
            metadata: Some((
                MetricType::Gauge,
                "gauge",
                "Disk usage percentage",
                "percent",
            )),
            ..SampleCase::new(&[("__name__", "disk_usage"), ("device", "sda1")], 75.2)
        },
    ];
    sample_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn metadata_with_complex_labels() {
    let (_dir, cairn) = start().await;
    let case = HistogramCase {
        labels: &[
            ("__name__", "http_request_duration_seconds"),
            ("job", "api-server"),
            ("instance", "localhost:8080"),
            ("method", "GET"),
            ("status", "200"),
            ("endpoint", "/api/v1/users"),
        ],
        shape: POS_NEG_ZERO,
        sum: 0.25,
        sum_text: "0.25",
        metadata: Some(("HTTP request duration in seconds", "seconds")),
        exemplar: None,
    };
    histogram_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn metadata_validation() {
    let (_dir, cairn) = start().await;
    let cases: [(&str, Ls<'_>, MetricType, bool); 3] = [
        (
            "metadata_without_name_label",
            &[("job", "test")],
            MetricType::Counter,
            false,
        ),
        (
            "metadata_with_empty_name",
            &[("__name__", "")],
            MetricType::Gauge,
            false,
        ),
        (
            "metadata_with_valid_name",
            &[("__name__", "valid_metric_name")],
            MetricType::Counter,
            true,
        ),
    ];
    for (tenant, labels, kind, success) in cases {
        let mut batch = Batch::default();
        let now = batch.now;
        let i = batch.sample(labels, 1.0, 0);
        batch.metadata(i, kind, "Test help", "unit");
        let want = Want {
            samples: 1,
            ..Default::default()
        };
        run(&cairn, tenant, batch, want, success).await;
        if success {
            assert_float(&cairn, tenant, labels, now, 1.0).await;
            assert_metadata(
                &cairn,
                tenant,
                "valid_metric_name",
                "counter",
                "Test help",
                "unit",
            )
            .await;
        } else {
            let all = crate::support::remote_write_v2::api(&cairn, tenant, "metadata", &[]).await;
            assert_eq!(all, json!({}), "{tenant}");
        }
    }
}

// --- combined_test.go ---

#[tokio::test]
async fn samples_with_metadata_and_exemplars() {
    let (_dir, cairn) = start().await;
    let case = SampleCase {
        exemplars: &[(
            &[("trace_id", "request_trace_123"), ("user_id", "user789")],
            1.0,
            0,
        )],
        metadata: Some((
            MetricType::Counter,
            "counter",
            "Total number of HTTP requests",
            "requests",
        )),
        ..SampleCase::new(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("method", "POST"),
            ],
            1.0,
        )
    };
    sample_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn histograms_with_metadata_and_exemplars() {
    let (_dir, cairn) = start().await;
    let case = HistogramCase {
        labels: &[
            ("__name__", "request_duration_seconds"),
            ("service", "auth"),
        ],
        shape: POS_NEG_ZERO,
        sum: 0.456,
        sum_text: "0.456",
        metadata: Some(("HTTP request duration distribution", "seconds")),
        exemplar: Some(&[("trace_id", "slow_request_trace"), ("endpoint", "/login")]),
    };
    histogram_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn complex_samples_request() {
    let (_dir, cairn) = start().await;
    let cases = [
        SampleCase {
            exemplars: &[(
                &[("trace_id", "high_cpu_trace"), ("process", "worker")],
                0.85,
                0,
            )],
            metadata: Some((MetricType::Gauge, "gauge", "CPU usage ratio", "ratio")),
            ..SampleCase::new(&[("__name__", "cpu_usage"), ("instance", "server1")], 0.85)
        },
        SampleCase {
            metadata: Some((MetricType::Gauge, "gauge", "Memory usage in bytes", "bytes")),
            ..SampleCase::new(
                &[("__name__", "memory_usage"), ("instance", "server1")],
                8589934592.0,
            )
        },
    ];
    sample_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn complex_histograms_request() {
    let (_dir, cairn) = start().await;
    let cases = [
        HistogramCase {
            labels: &[
                ("__name__", "response_time_hist"),
                ("endpoint", "/api/v1/users"),
            ],
            shape: POS_ZERO,
            sum: 0.125,
            sum_text: "0.125",
            metadata: Some(("Response time distribution", "seconds")),
            exemplar: Some(&[("trace_id", "fast_response"), ("user", "premium")]),
        },
        HistogramCase {
            labels: &[("__name__", "request_size_hist"), ("method", "POST")],
            shape: NEG_ZERO,
            sum: 1024.0,
            sum_text: "1024",
            metadata: Some(("Request size distribution", "bytes")),
            exemplar: None,
        },
    ];
    histogram_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn multiple_metric_families_samples() {
    let (_dir, cairn) = start().await;
    let cases = [
        SampleCase {
            exemplars: &[(&[("trace_id", "successful_request")], 1000.0, 0)],
            metadata: Some((
                MetricType::Counter,
                "counter",
                "Total HTTP requests",
                "requests",
            )),
            ..SampleCase::new(
                &[("__name__", "http_requests_total"), ("status", "200")],
                1000.0,
            )
        },
        SampleCase {
            metadata: Some((
                MetricType::Gauge,
                "gauge",
                "Temperature in Celsius",
                "celsius",
            )),
            ..SampleCase::new(
                &[
                    ("__name__", "temperature_celsius"),
                    ("location", "datacenter1"),
                ],
                23.5,
            )
        },
    ];
    sample_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn multiple_metric_families_histograms() {
    let (_dir, cairn) = start().await;
    let case = HistogramCase {
        labels: &[
            ("__name__", "request_duration_seconds"),
            ("handler", "/metrics"),
        ],
        shape: POS_ZERO,
        sum: 0.003,
        sum_text: "0.003",
        metadata: Some(("Request duration in seconds", "seconds")),
        exemplar: Some(&[("trace_id", "metrics_scrape"), ("scraper", "prometheus")]),
    };
    histogram_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn edge_case_combinations() {
    let (_dir, cairn) = start().await;
    let orphan: &[(&str, &str)] = &[("__name__", "orphan_metric")];

    // metadata_without_data: a series with metadata and nothing else.
    let mut batch = Batch::default();
    let i = batch.series(orphan);
    batch.metadata(i, MetricType::Counter, "Orphaned metric metadata", "count");
    run(
        &cairn,
        "metadata_without_data",
        batch,
        Want::default(),
        true,
    )
    .await;
    assert_metadata(
        &cairn,
        "metadata_without_data",
        "orphan_metric",
        "counter",
        "Orphaned metric metadata",
        "count",
    )
    .await;

    // exemplars_without_data: a series with an exemplar and nothing else.
    let mut batch = Batch::default();
    let now = batch.now;
    let i = batch.series(orphan);
    let ex: &[(&str, &str)] = &[("trace_id", "orphan_trace")];
    batch.exemplar(i, ex, 42.0, 0);
    let want = Want {
        exemplars: 1,
        ..Default::default()
    };
    run(&cairn, "exemplars_without_data", batch, want, true).await;
    assert_exemplars(
        &cairn,
        "exemplars_without_data",
        orphan,
        now,
        &[(ex, 42.0, now)],
    )
    .await;

    // mixed_timestamp_data.
    let cases = [
        SampleCase {
            offset: -HOUR,
            exemplars: &[(&[("trace_id", "old_trace")], 1.0, -30 * MINUTE)],
            ..SampleCase::new(&[("__name__", "old_metric")], 1.0)
        },
        SampleCase::new(&[("__name__", "new_metric")], 2.0),
    ];
    sample_cases(&cairn, "mixed_timestamp_data", &cases).await;
}

#[tokio::test]
async fn many_samples() {
    let (_dir, cairn) = start().await;
    let names: Vec<(String, String, String, String)> = (0..50)
        .map(|i| {
            (
                format!("counter_metric_{i}"),
                format!("series_{i}"),
                format!("trace_{i}"),
                format!("Counter metric number {i}"),
            )
        })
        .collect();
    let labels: Vec<[(&str, &str); 2]> = names
        .iter()
        .map(|(n, s, _, _)| [("__name__", n.as_str()), ("series", s.as_str())])
        .collect();
    let exemplars: Vec<[(&str, &str); 1]> = names
        .iter()
        .map(|(_, _, t, _)| [("trace_id", t.as_str())])
        .collect();
    let exemplar_sets: Vec<[ExemplarSpec<'_>; 1]> = exemplars
        .iter()
        .enumerate()
        .map(|(i, e)| [(&e[..], (i * 100) as f64, 0)])
        .collect();
    let cases: Vec<SampleCase> = (0..50)
        .map(|i| SampleCase {
            exemplars: &exemplar_sets[i],
            metadata: Some((MetricType::Counter, "counter", names[i].3.as_str(), "count")),
            ..SampleCase::new(&labels[i], (i * 100) as f64)
        })
        .collect();
    sample_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn many_histograms() {
    let (_dir, cairn) = start().await;
    let names: Vec<(String, String, String, String, String)> = (0..50)
        .map(|i| {
            (
                format!("histogram_metric_{i}"),
                format!("bucket_{i}"),
                format!("trace_{i}"),
                format!("Histogram metric number {i}"),
                format!("{}", i as f64 / 10.0),
            )
        })
        .collect();
    let labels: Vec<[(&str, &str); 2]> = names
        .iter()
        .map(|(n, b, ..)| [("__name__", n.as_str()), ("bucket", b.as_str())])
        .collect();
    let exemplars: Vec<[(&str, &str); 1]> = names
        .iter()
        .map(|(_, _, t, ..)| [("trace_id", t.as_str())])
        .collect();
    let cases: Vec<HistogramCase> = (0..50)
        .map(|i| HistogramCase {
            labels: &labels[i],
            shape: if i % 2 == 0 { POS_NEG_ZERO } else { POS_ZERO },
            sum: i as f64 / 10.0,
            sum_text: &names[i].4,
            metadata: Some((names[i].3.as_str(), "seconds")),
            exemplar: Some(&exemplars[i]),
        })
        .collect();
    histogram_cases(&cairn, "t", &cases).await;
}

#[tokio::test]
async fn special_characters_combined() {
    let (_dir, cairn) = start().await;
    let case = SampleCase {
        exemplars: &[(
            &[
                ("trace_id", "special_trace_äöü-123"),
                ("span_id", "span_with.dots-and_underscores"),
            ],
            42.0,
            0,
        )],
        metadata: Some((
            MetricType::Gauge,
            "gauge",
            "Test metric with special characters: äöü, newlines\nand \"quotes\"",
            "special/units",
        )),
        ..SampleCase::new(
            &[
                ("__name__", "test_metric"),
                ("job", "test-job_with.special@chars"),
                ("instance", "localhost:9090"),
                ("environment", "test🚀"),
            ],
            42.0,
        )
    };
    sample_cases(&cairn, "t", &[case]).await;
}

#[tokio::test]
async fn custom_buckets_histogram_with_exemplar() {
    let (_dir, cairn) = start().await;
    let case = HistogramCase {
        labels: &[("__name__", "custom_latency_hist"), ("version", "v2")],
        shape: CUSTOM,
        sum: 0.05,
        sum_text: "0.05",
        metadata: None,
        exemplar: Some(&[("trace_id", "custom_bucket_trace"), ("bucket", "0.1")]),
    };
    histogram_cases(&cairn, "t", &[case]).await;
}

/// Not a suite case: the response is the suite's `validateResponse` input
/// for every case above, so check the one thing it cannot — that the
/// written counts of a partial failure are what is readable afterwards.
#[tokio::test]
async fn partial_failure_counts_match_what_is_readable() {
    let (_dir, cairn) = start().await;
    let mut batch = Batch::default();
    let now = batch.now;
    let good = &[("__name__", "good"), ("job", "x")];
    batch.sample(&[("job", "x")], 1.0, 0);
    let i = batch.sample(good, 2.0, 0);
    batch.exemplar(i, &[("trace_id", "t1")], 2.0, 0);
    let reply = send(&cairn, "t", None, batch.body()).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.written, [1, 0, 1], "{}", reply.body);
    assert_float(&cairn, "t", good, now, 2.0).await;
    let ex: &[(&str, &str)] = &[("trace_id", "t1")];
    assert_exemplars(&cairn, "t", good, now, &[(ex, 2.0, now)]).await;
}
