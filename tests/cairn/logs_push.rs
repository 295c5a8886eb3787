//! Logs push end to end: real clients (python-logging-loki over JSON, the
//! OpenTelemetry Python SDK over OTLP/HTTP, hand-built snappy protobuf) for
//! two tenants, flushed to Parquet that DuckDB reads; acknowledged lines
//! surviving `kill -9`; and every kind of bad input answered with a status,
//! a message naming the problem, and a counter.

use std::sync::Arc;
use std::time::Duration;

use common::time::now_ns;
use parking_lot::Mutex;

use crate::support::loki::{
    duckdb_column, duckdb_lines, metric_line, push, push_raw, python, query_range, stream,
};
use crate::support::{Cairn, http};

const PYLOKI: &str = r#"
import logging, sys, logging_loki
url, tenant, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
handler = logging_loki.LokiHandler(url=url + "/loki/api/v1/push", tags={"app": "pyloki"},
                                   auth=(tenant, "token"), version="1")
def fail(record):
    raise sys.exc_info()[1]
handler.handleError = fail
log = logging.getLogger("pyloki-test")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(handler)
for i in range(n):
    log.info("pyloki line %d", i)
"#;

const OTEL: &str = r#"
import logging, sys
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk.resources import Resource
url, tenant, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
provider = LoggerProvider(resource=Resource.create({"service.name": "otel-svc", "deployment.environment": "test"}))
exporter = OTLPLogExporter(endpoint=url + "/otlp/v1/logs", headers={"X-Scope-OrgID": tenant})
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
log = logging.getLogger("otel-test")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(LoggingHandler(logger_provider=provider))
for i in range(n):
    log.warning("otel line %d", i)
provider.shutdown()
"#;

const OTEL_MODULES: &[(&str, &str)] = &[
    ("opentelemetry.sdk._logs", "opentelemetry-sdk"),
    (
        "opentelemetry.exporter.otlp.proto.http",
        "opentelemetry-exporter-otlp-proto-http",
    ),
];

/// `n` lines `"{prefix} {i}"`, one millisecond apart, ending now.
fn lines(prefix: &str, n: i64) -> Vec<(i64, String)> {
    let now = now_ns();
    (0..n)
        .map(|i| (now - (n - i) * 1_000_000, format!("{prefix} {i}")))
        .collect()
}

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} {i}")).collect()
}

#[tokio::test]
async fn real_clients_push_two_tenants_and_duckdb_reads_the_flushed_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();

    python(
        &[("logging_loki", "python-logging-loki")],
        PYLOKI,
        &[&url, "team-a", "20"],
    );
    let (status, body) = push(
        &url,
        "team-a",
        vec![stream(r#"{app="proto", env="dev"}"#, &lines("a proto", 30))],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    python(OTEL_MODULES, OTEL, &[&url, "team-b", "15"]);
    let (status, body) = push(
        &url,
        "team-b",
        vec![stream(r#"{app="proto"}"#, &lines("b proto", 10))],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    cairn.flush().await;
    let bucket = dir.path().join("bucket");
    let mut want_a = [texts("pyloki line", 20), texts("a proto", 30)].concat();
    want_a.sort();
    assert_eq!(duckdb_lines(&bucket, "team-a"), want_a, "{}", cairn.log());
    let mut want_b = [texts("otel line", 15), texts("b proto", 10)].concat();
    want_b.sort();
    assert_eq!(duckdb_lines(&bucket, "team-b"), want_b, "{}", cairn.log());

    // OTLP resource attributes became index labels, the Loki way.
    let b_streams = duckdb_column(&bucket, "team-b", "DISTINCT labels", "ORDER BY 1");
    assert!(
        b_streams
            .iter()
            .any(|l| l.starts_with(r#"{deployment_environment="test", "#)
                && l.ends_with(r#"service_name="otel-svc"}"#)),
        "{b_streams:?}"
    );
    let severities = duckdb_column(
        &bucket,
        "team-b",
        "DISTINCT structured_metadata['severity_text']",
        "WHERE line LIKE 'otel%'",
    );
    assert_eq!(severities, ["WARN"]);

    // LogQL over the same data, now in blocks (and still in the ingesters
    // for `retain_uploaded_for`): each line once, and only the tenant's own.
    let selector = r#"{app=~"pyloki|proto"}"#;
    assert_eq!(logql_lines(&url, "team-a", selector).await, want_a);
    let b_lines = logql_lines(&url, "team-b", r#"{app="proto"} |= "proto""#).await;
    assert_eq!(b_lines, texts("b proto", 10));
    assert!(
        logql_lines(&url, "team-b", selector)
            .await
            .iter()
            .all(|l| !l.starts_with("a proto"))
    );
    let count = logql_instant(&url, "team-a", r#"sum(count_over_time({app="proto"}[1h]))"#).await;
    assert_eq!(count, 30.0);
}

/// The lines a LogQL log query returns for `tenant` over the last hour,
/// sorted.
async fn logql_lines(url: &str, tenant: &str, query: &str) -> Vec<String> {
    let now = now_ns();
    let body = query_range(
        url,
        tenant,
        query,
        now - 3_600_000_000_000,
        now + 60_000_000_000,
    )
    .await;
    let mut lines: Vec<String> = body["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result in {body}"))
        .iter()
        .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v[1].as_str().map(str::to_string))
        .collect();
    lines.sort();
    lines
}

/// The single value of a LogQL metric query evaluated now for `tenant`.
async fn logql_instant(url: &str, tenant: &str, query: &str) -> f64 {
    let body: serde_json::Value = http()
        .get(format!("{url}/loki/api/v1/query"))
        .header("X-Scope-OrgID", tenant)
        .query(&[("query", query), ("time", &now_ns().to_string())])
        .send()
        .await
        .expect("LogQL query")
        .json()
        .await
        .expect("LogQL JSON");
    body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {body}"))
}

/// POSTs one protobuf batch; `None` when the server did not answer.
async fn try_push(url: &str, batch: usize) -> Option<(u16, Vec<String>)> {
    let body: Vec<(i64, String)> = lines(&format!("batch {batch:05} line"), 20);
    let req = distributor::logs::wire::PushRequest {
        streams: vec![stream(r#"{app="durable"}"#, &body)],
    };
    let r = http()
        .post(format!("{url}/loki/api/v1/push"))
        .header("X-Scope-OrgID", "team-a")
        .header("Content-Type", "application/x-protobuf")
        .body(distributor::logs::wire::encode(&req).unwrap())
        .send()
        .await
        .ok()?;
    Some((
        r.status().as_u16(),
        body.into_iter().map(|(_, l)| l).collect(),
    ))
}

#[tokio::test]
async fn acknowledged_lines_survive_kill_9_during_pushing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let pusher = {
        let acked = Arc::clone(&acked);
        tokio::spawn(async move {
            for batch in 0.. {
                match try_push(&url, batch).await {
                    Some((204, lines)) => acked.lock().extend(lines),
                    _ => break,
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    cairn.kill9();
    pusher.await.unwrap();
    let acked = std::mem::take(&mut *acked.lock());
    assert!(
        acked.len() >= 100,
        "only {} lines acknowledged",
        acked.len()
    );

    let cairn = cairn.restart().await;
    cairn.flush().await;
    let stored = duckdb_lines(&dir.path().join("bucket"), "team-a");
    let missing: Vec<&String> = acked
        .iter()
        .filter(|l| stored.binary_search(l).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged lines lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let mut deduped = stored.clone();
    deduped.dedup();
    assert_eq!(deduped.len(), stored.len(), "lines stored twice");
}

/// One bad-input case: what to send, as which tenant, and what must come back.
struct Case {
    what: &'static str,
    tenant: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
    counter: String,
}

fn proto(streams: Vec<distributor::logs::wire::StreamAdapter>) -> Vec<u8> {
    distributor::logs::wire::encode(&distributor::logs::wire::PushRequest { streams }).unwrap()
}

fn discarded(tenant: &str, reason: &str) -> String {
    format!(r#"cairn_discarded_lines_total{{tenant="{tenant}",reason="{reason}"}} "#)
}

#[tokio::test]
async fn bad_input_gets_a_status_a_message_and_a_counter() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("overrides.yaml");
    std::fs::write(
        &overrides,
        "overrides:\n  team-tight:\n    max_line_size: 100\n    max_label_names_per_series: 3\n    \
         max_global_streams_per_user: 2\n  team-trunc:\n    max_line_size: 10\n    max_line_size_truncate: true\n  \
         team-slow:\n    ingestion_rate_mb: 0.001\n    ingestion_burst_size_mb: 0.001\n",
    )
    .unwrap();
    let cairn = Cairn::start(
        dir.path(),
        &format!("runtime_config:\n  file: {}\n", overrides.display()),
    )
    .await;
    let url = cairn.url();
    let now = now_ns();
    let one = |line: &str| vec![(now, line.to_string())];
    let pb = "application/x-protobuf";
    let week = 7 * 24 * 3600 * 1_000_000_000i64;
    let cases = vec![
        Case {
            what: "malformed JSON",
            tenant: "team-a",
            content_type: "application/json",
            body: br#"{"streams":[{"stream":{"app":"a"},"values":[["not a time","x"]]}]}"#.to_vec(),
            status: 400,
            message: "not a valid Loki JSON push request",
            counter: r#"cairn_distributor_logs_bad_requests_total{reason="bad-json"} "#.into(),
        },
        Case {
            what: "bad snappy",
            tenant: "team-a",
            content_type: pb,
            body: b"definitely not snappy".to_vec(),
            status: 400,
            message: "not snappy",
            counter: r#"cairn_distributor_logs_bad_requests_total{reason="not-snappy"} "#.into(),
        },
        Case {
            what: "bad protobuf",
            tenant: "team-a",
            content_type: pb,
            body: snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap(),
            status: 400,
            message: "not a valid logproto.PushRequest",
            counter: r#"cairn_distributor_logs_bad_requests_total{reason="bad-protobuf"} "#.into(),
        },
        Case {
            what: "line too long",
            tenant: "team-tight",
            content_type: pb,
            body: proto(vec![stream(
                r#"{app="long"}"#,
                &[(now, "x".repeat(200)), (now, "ok".into())],
            )]),
            status: 400,
            message: "err-cairn-line_too_long",
            counter: discarded("team-tight", "line_too_long"),
        },
        Case {
            what: "too many labels",
            tenant: "team-tight",
            content_type: pb,
            body: proto(vec![stream(
                r#"{app="many", a="1", b="2", c="3"}"#,
                &one("x"),
            )]),
            status: 400,
            message: "err-cairn-max_label_names_per_series",
            counter: discarded("team-tight", "max_label_names_per_series"),
        },
        Case {
            what: "invalid labels",
            tenant: "team-a",
            content_type: pb,
            body: proto(vec![stream(r#"{app="x""#, &one("x"))]),
            status: 400,
            message: "err-cairn-invalid_labels",
            counter: discarded("team-a", "invalid_labels"),
        },
        Case {
            what: "old line",
            tenant: "team-a",
            content_type: pb,
            body: proto(vec![stream(
                r#"{app="old"}"#,
                &[(now - week - 1_000_000_000, "old".into())],
            )]),
            status: 400,
            message: "err-cairn-greater_than_max_sample_age",
            counter: discarded("team-a", "greater_than_max_sample_age"),
        },
        Case {
            what: "rate limit",
            tenant: "team-slow",
            content_type: pb,
            body: proto(vec![stream(r#"{app="slow"}"#, &one(&"y".repeat(5000)))]),
            status: 429,
            message: "ingestion_rate_mb",
            counter: discarded("team-slow", "rate_limited"),
        },
        Case {
            what: "stream limit",
            tenant: "team-tight",
            content_type: pb,
            body: proto(
                ["s1", "s2", "s3"]
                    .iter()
                    .map(|s| stream(&format!(r#"{{app="{s}"}}"#), &one("x")))
                    .collect(),
            ),
            status: 429,
            message: "err-cairn-stream_limit",
            counter: discarded("team-tight", "stream_limit"),
        },
    ];
    for c in cases {
        let (status, body) = push_raw(&url, c.tenant, c.content_type, c.body).await;
        assert_eq!(status, c.status, "{}: {body}", c.what);
        assert!(body.contains(c.message), "{}: {body}", c.what);
        assert!(
            metric_line(&url, &c.counter).await.is_some(),
            "{}: no {} in /metrics",
            c.what,
            c.counter
        );
    }
    // The refused stream is named, and the valid rest of its push kept.
    let (_, body) = push_raw(
        &url,
        "team-tight",
        pb,
        proto(vec![stream(r#"{app="named"}"#, &[(now, "z".repeat(300))])]),
    )
    .await;
    assert!(body.contains(r#"{app="named"}"#), "{body}");

    // With max_line_size_truncate the line is kept, cut to max_line_size.
    let (status, body) = push(
        &url,
        "team-trunc",
        vec![stream(r#"{app="trunc"}"#, &one("0123456789abcdef"))],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    cairn.flush().await;
    let bucket = dir.path().join("bucket");
    assert_eq!(duckdb_lines(&bucket, "team-trunc"), ["0123456789"]);
    assert_eq!(duckdb_lines(&bucket, "team-tight"), ["ok", "x"]);
}
