//! Remote write 2.0 over real HTTP: what reaches the ingester, the status
//! codes and `X-Prometheus-Remote-Write-*-Written` headers a 2.0 client
//! reads, and content negotiation for both versions.

use cairn_distributor::remote_write::metric_metadata::MetricType;
use cairn_distributor::remote_write_v2::{
    self, Exemplar, Metadata, Request, Sample, SymbolTable, TimeSeries,
};
use common::labels::Labels;
use common::limits::Limits;

use crate::support::{Reply, Server, body, now_ms, series};

const V2: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// A 2.0 series `labels` with one sample `value` at `t`.
fn v2_series(symbols: &mut SymbolTable, labels: &[(&str, &str)], value: f64, t: i64) -> TimeSeries {
    TimeSeries {
        labels_refs: symbols.label_refs(labels.iter().copied()),
        samples: vec![Sample {
            value,
            timestamp: t,
            start_timestamp: 0,
        }],
        ..Default::default()
    }
}

async fn post_v2(server: &Server, req: &Request) -> Reply {
    let headers = [
        ("Content-Type", V2),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "2.0.0"),
    ];
    server
        .post(
            "/api/v1/push",
            Some("team-a"),
            &headers,
            remote_write_v2::encode(req).unwrap(),
        )
        .await
}

fn written(reply: &Reply) -> [Option<&str>; 3] {
    ["Samples", "Histograms", "Exemplars"]
        .map(|k| reply.header(&format!("X-Prometheus-Remote-Write-{k}-Written")))
}

#[tokio::test]
async fn v2_request_reaches_the_ingester_and_gets_204_with_written_counts() {
    let server = Server::start(Limits::default()).await;
    let now = now_ms();
    let mut symbols = SymbolTable::default();
    // Labels out of order: 2.0 senders need not sort them.
    let mut requests = v2_series(
        &mut symbols,
        &[("job", "api"), ("__name__", "http_requests_total")],
        7.0,
        now,
    );
    requests.exemplars = vec![Exemplar {
        labels_refs: symbols.label_refs([("trace_id", "abc")]),
        value: 1.0,
        timestamp: now,
    }];
    requests.metadata = Some(Metadata {
        r#type: MetricType::Counter as i32,
        help_ref: symbols.symbolize("Requests served."),
        unit_ref: symbols.symbolize("requests"),
    });
    let up = v2_series(&mut symbols, &[("__name__", "up")], 1.0, now);
    let req = Request {
        symbols: symbols.into_symbols(),
        timeseries: vec![requests, up],
    };

    let reply = post_v2(&server, &req).await;
    assert_eq!((reply.status, reply.body.as_str()), (204, ""));
    assert_eq!(written(&reply), [Some("2"), Some("0"), Some("1")]);

    let got = server.ingester.series_of("team-a");
    let labels: Vec<Labels> = got.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(
        labels,
        [
            Labels::from_pairs([("__name__", "http_requests_total"), ("job", "api")]),
            Labels::from_pairs([("__name__", "up")]),
        ]
    );
    assert_eq!(got[0].samples[0].v, 7.0);
    let exemplars = server.ingester.exemplars_of("team-a");
    assert_eq!(
        exemplars[0].exemplars[0].labels.to_string(),
        "{trace_id=\"abc\"}"
    );
    assert!(
        server.metrics().contains(
            "cairn_distributor_remote_write_requests_total{tenant=\"team-a\",version=\"2.0\"} 1"
        ),
        "{}",
        server.metrics()
    );
    let metadata = server.ingester.metadata_of("team-a");
    assert_eq!(metadata.len(), 1);
    assert_eq!(
        (
            metadata[0].family.as_str(),
            metadata[0].help.as_str(),
            metadata[0].unit.as_str()
        ),
        ("http_requests_total", "Requests served.", "requests")
    );
}

#[tokio::test]
async fn v2_partial_failure_is_400_counting_what_was_written() {
    let server = Server::start(Limits::default()).await;
    let now = now_ms();
    let mut symbols = SymbolTable::default();
    let nameless = v2_series(&mut symbols, &[("job", "x")], 1.0, now);
    let good = v2_series(&mut symbols, &[("__name__", "up"), ("job", "x")], 1.0, now);
    let req = Request {
        symbols: symbols.into_symbols(),
        timeseries: vec![nameless, good],
    };
    let reply = post_v2(&server, &req).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("err-cairn-missing-metric-name"),
        "{}",
        reply.body
    );
    assert_eq!(written(&reply), [Some("1"), Some("0"), Some("0")]);
    assert_eq!(server.ingester.series_of("team-a").len(), 1);
}

#[tokio::test]
async fn v2_corrupt_symbols_get_400_naming_the_problem_and_nothing_is_written() {
    let server = Server::start(Limits::default()).await;
    let req = Request {
        symbols: vec![String::new(), "__name__".into(), "up".into()],
        timeseries: vec![TimeSeries {
            labels_refs: vec![1, 2, 1, 40],
            samples: vec![Sample {
                value: 1.0,
                timestamp: now_ms(),
                start_timestamp: 0,
            }],
            ..Default::default()
        }],
    };
    let reply = post_v2(&server, &req).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("err-cairn-remote-write-corrupt-symbols")
            && reply
                .body
                .contains("refers to symbol 40, but the table has 3"),
        "{}",
        reply.body
    );
    assert_eq!(written(&reply), [Some("0"), Some("0"), Some("0")]);
    assert!(server.ingester.series_of("team-a").is_empty());
    assert!(
        server.metrics().contains(
            "cairn_distributor_bad_requests_total{reason=\"remote-write-corrupt-symbols\"} 1"
        ),
        "{}",
        server.metrics()
    );
}

/// One negotiation case: the request's headers, whether its body is a 2.0
/// request, and the answer expected.
struct Case {
    content_type: Option<&'static str>,
    encoding: Option<&'static str>,
    v2: bool,
    status: u16,
    text: &'static str,
}

fn case(
    content_type: Option<&'static str>,
    encoding: Option<&'static str>,
    v2: bool,
    status: u16,
    text: &'static str,
) -> Case {
    Case {
        content_type,
        encoding,
        v2,
        status,
        text,
    }
}

#[tokio::test]
async fn content_type_and_encoding_are_negotiated_as_the_spec_says() {
    let server = Server::start(Limits::default()).await;
    let v1_body = || body(vec![series(&[("__name__", "up")], &[1.0])]);
    let v2_body = || {
        let mut symbols = SymbolTable::default();
        let ts = v2_series(&mut symbols, &[("__name__", "up")], 1.0, now_ms());
        remote_write_v2::encode(&Request {
            symbols: symbols.into_symbols(),
            timeseries: vec![ts],
        })
        .unwrap()
    };
    // (Content-Type, Content-Encoding, 2.0 body?, status, text in the body)
    let cases = [
        case(
            Some("application/x-protobuf"),
            Some("snappy"),
            false,
            200,
            "",
        ),
        case(
            Some("application/x-protobuf;proto=prometheus.WriteRequest"),
            Some("snappy"),
            false,
            200,
            "",
        ),
        // No Content-Type, no Content-Encoding: 1.0 and snappy, as Prometheus.
        case(None, None, false, 200, ""),
        case(Some(V2), Some("snappy"), true, 204, ""),
        case(
            Some("Application/X-Protobuf; proto=\"io.prometheus.write.v2.Request\""),
            Some("SNAPPY"),
            true,
            204,
            "",
        ),
        case(Some(V2), None, true, 204, ""),
        case(
            Some("application/json"),
            Some("snappy"),
            false,
            415,
            "err-cairn-remote-write-unsupported-content-type",
        ),
        case(
            Some("image/png"),
            Some("snappy"),
            true,
            415,
            "proto=io.prometheus.write.v2.Request (remote write 2.0)",
        ),
        case(
            Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
            Some("snappy"),
            true,
            415,
            "application/x-protobuf;proto=prometheus.WriteRequest (remote write 1.0)",
        ),
        case(
            Some(V2),
            Some("gzip"),
            true,
            415,
            "err-cairn-remote-write-unsupported-content-encoding",
        ),
        // 1.0 too: an unknown encoding is no longer ignored.
        case(
            Some("application/x-protobuf"),
            Some("deflate"),
            false,
            415,
            "Content-Encoding \"deflate\" is not supported",
        ),
        // A 1.0 body sent as 2.0 carries no 2.0 fields: nothing to write.
        case(Some(V2), Some("snappy"), false, 204, ""),
    ];
    for Case {
        content_type,
        encoding,
        v2,
        status,
        text,
    } in cases
    {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        if let Some(enc) = encoding {
            headers.push(("Content-Encoding", enc));
        }
        let body = if v2 { v2_body() } else { v1_body() };
        let reply = server
            .post("/api/v1/push", Some("team-a"), &headers, body)
            .await;
        let case = format!("{content_type:?} {encoding:?} v2={v2}");
        assert_eq!(reply.status, status, "{case}: {}", reply.body);
        assert!(reply.body.contains(text), "{case}: {}", reply.body);
        // Only 2.0 answers carry the written counts.
        let is_v2 = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("v2"));
        assert_eq!(
            reply
                .header("X-Prometheus-Remote-Write-Samples-Written")
                .is_some(),
            is_v2 && status != 415,
            "{case}"
        );
    }
}
