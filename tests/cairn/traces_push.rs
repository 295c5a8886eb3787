//! Traces in from the OpenTelemetry Python SDK over OTLP/HTTP and
//! OTLP/gRPC, for two tenants, fetched back whole through the Tempo API
//! from live traces, the WAL and trace blocks; and OTLP metrics read back
//! with PromQL.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::loki::query_range;
use crate::support::{Cairn, http};

/// Fails clearly when the OpenTelemetry Python SDK is not installed.
fn require_sdk() {
    let check = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc",
        ])
        .status()
        .expect("python3 is needed for the OTLP end-to-end test");
    assert!(
        check.success(),
        "the OpenTelemetry Python SDK is missing: python3 -m pip install opentelemetry-sdk \
         opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc (see .ci/run)"
    );
}

/// Runs a script of `tests/cairn/traces/` with `args`; returns its stdout.
fn python(cairn: &Cairn, script: &str, args: &[String]) -> String {
    require_sdk();
    let script = format!("{}/tests/cairn/traces/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        cairn.log()
    );
    stdout
}

/// Sends one trace per tenant, over HTTP and over gRPC; with `expected`,
/// records what was sent there for [`check`].
fn export(cairn: &Cairn, tenant_http: &str, tenant_grpc: &str, expected: Option<&Path>) -> String {
    let mut args = vec![
        cairn.url(),
        format!("127.0.0.1:{}", cairn.grpc_port),
        tenant_http.into(),
        tenant_grpc.into(),
    ];
    args.extend(expected.map(|p| p.display().to_string()));
    python(cairn, "otel_export.py", &args)
}

/// Fetches every recorded trace through the Tempo API (as `as_tenant`
/// when given) and has the SDK's own protobuf compare it with what was
/// sent; returns the per-trace verdicts.
fn check(cairn: &Cairn, expected: &Path, as_tenant: Option<&str>) -> Vec<String> {
    let mut args = vec![cairn.url(), expected.display().to_string()];
    args.extend(as_tenant.map(str::to_string));
    python(cairn, "otel_check.py", &args)
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

async fn self_metrics(cairn: &Cairn) -> String {
    crate::support::metrics_page(&cairn.url()).await
}

#[tokio::test]
async fn sdk_exports_over_http_and_grpc_are_accepted_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let out = export(&cairn, "team-a", "team-b", None);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["http team-a SUCCESS 2", "grpc team-b SUCCESS 2"],
        "{}",
        cairn.log()
    );
    let metrics = self_metrics(&cairn).await;
    for line in [
        r#"cairn_distributor_spans_in_total{tenant="team-a"} 2"#,
        r#"cairn_distributor_spans_in_total{tenant="team-b"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(
        !metrics.contains("cairn_discarded_spans_total{"),
        "{metrics}"
    );
}

#[tokio::test]
async fn grpc_without_a_tenant_is_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    require_sdk();
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys\n\
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter\n\
from opentelemetry.sdk.trace import TracerProvider\n\
from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n\
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n\
m = InMemorySpanExporter(); p = TracerProvider(); p.add_span_processor(SimpleSpanProcessor(m))\n\
p.get_tracer('t').start_span('s').end()\n\
print(OTLPSpanExporter(endpoint=sys.argv[1], insecure=True, timeout=5).export(m.get_finished_spans()).name)",
        ])
        .arg(format!("127.0.0.1:{}", cairn.grpc_port))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "FAILURE", "{stdout}");
    let metrics = self_metrics(&cairn).await;
    assert!(
        !metrics.contains("cairn_distributor_spans_in_total{"),
        "{metrics}"
    );
}

/// The series a PromQL instant query returns, as `name{labels}` strings
/// with their value.
async fn promql(cairn: &Cairn, tenant: &str, query: &str) -> Vec<(Value, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    crate::support::vector(&cairn.query(tenant, query, now).await)
}

#[tokio::test]
async fn sdk_metrics_become_prometheus_series() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let http_out = python(
        &cairn,
        "otel_metrics.py",
        &["http".into(), cairn.url(), "m-a".into()],
    );
    assert_eq!(http_out.trim(), "SUCCESS");
    let grpc_out = python(
        &cairn,
        "otel_metrics.py",
        &[
            "grpc".into(),
            format!("127.0.0.1:{}", cairn.grpc_port),
            "m-b".into(),
        ],
    );
    assert_eq!(grpc_out.trim(), "SUCCESS");
    for tenant in ["m-a", "m-b"] {
        let orders = promql(
            &cairn,
            tenant,
            r#"orders_total{job="shop/checkout",instance="pod-1",region="eu"}"#,
        )
        .await;
        assert_eq!(orders.len(), 1, "{tenant}: {orders:?}\n{}", cairn.log());
        let buckets = promql(
            &cairn,
            tenant,
            r#"http_server_duration_seconds_bucket{http_route="/pay",le="+Inf"}"#,
        )
        .await;
        assert_eq!(buckets.len(), 1, "{tenant}: {buckets:?}");
        let count = promql(&cairn, tenant, "http_server_duration_seconds_count").await;
        assert_eq!(count.len(), 1, "{tenant}: {count:?}");
        let gauge = promql(&cairn, tenant, r#"queue_size{job="shop/checkout"}"#).await;
        assert_eq!(gauge.len(), 1, "{tenant}: {gauge:?}");
    }
}

#[tokio::test]
async fn the_sdk_given_only_otel_exporter_otlp_endpoint_delivers_metrics_logs_and_traces() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let grpc = format!("http://127.0.0.1:{}", cairn.grpc_port);
    for (transport, endpoint, tenant) in [
        ("http", cairn.url(), "std-http"),
        ("grpc", grpc, "std-grpc"),
    ] {
        let out = python(
            &cairn,
            "otel_standard_endpoint.py",
            &[transport.into(), endpoint, tenant.into()],
        );
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [
                "metrics SUCCESS",
                "delta SUCCESS",
                "delta SUCCESS",
                "logs SUCCESS",
                "traces SUCCESS"
            ],
            "{transport}\n{}",
            cairn.log()
        );
        // Every metric value the script sent, read back exactly.
        for (query, want) in [
            (r#"standard_requests_total{job="standard"}"#, "7"),
            ("standard_temperature", "21.5"),
            (r#"standard_size_bytes_bucket{le="1"}"#, "1"),
            (r#"standard_size_bytes_bucket{le="10"}"#, "2"),
            (r#"standard_size_bytes_bucket{le="+Inf"}"#, "3"),
            ("standard_size_bytes_sum", "55.5"),
            ("standard_size_bytes_count", "3"),
            // Delta points 3 then 4, stored as their running total.
            ("standard_delta_requests_total", "7"),
            ("histogram_count(standard_latency_seconds)", "4"),
            ("histogram_sum(standard_latency_seconds)", "7"),
        ] {
            let got = promql(&cairn, tenant, query).await;
            assert_eq!(
                got.len(),
                1,
                "{transport} {query}: {got:?}\n{}",
                cairn.log()
            );
            assert_eq!(got[0].1, want, "{transport} {query}");
        }
        assert_exponential_buckets(&cairn, tenant).await;

        let now_ns = common::time::now_ns();
        let body = query_range(
            &cairn.url(),
            tenant,
            r#"{service_name="standard"}"#,
            now_ns - 600_000_000_000,
            now_ns + 1,
        )
        .await;
        assert_eq!(
            body["data"]["result"][0]["values"][0][1], "standard endpoint line",
            "{transport}: {body}"
        );

        let body: Value = http()
            .get(format!("{}/api/search", cairn.url()))
            .header("X-Scope-OrgID", tenant)
            .query(&[("q", r#"{ name = "standard-span" }"#)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            body["traces"].as_array().map_or(0, Vec::len),
            1,
            "{transport}: {body}"
        );
    }
}

/// The exponential histogram of `otel_standard_endpoint.py` (observations
/// 0, 1, 2, 4; the SDK settles on scale 6 to hold 1..4 in 160 buckets) as
/// the query API lists its buckets: the zero bucket, then one bucket per
/// observation whose upper bound is the observation (OTLP's buckets are
/// upper-inclusive, as Prometheus's).
async fn assert_exponential_buckets(cairn: &Cairn, tenant: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let body = cairn.query(tenant, "standard_latency_seconds", now).await;
    let histogram = &body["data"]["result"][0]["histogram"][1];
    assert_eq!(histogram["count"], "4", "{body}");
    assert_eq!(histogram["sum"], "7", "{body}");
    let buckets: Vec<(u64, f64, f64, String)> = histogram["buckets"]
        .as_array()
        .unwrap_or_else(|| panic!("no buckets: {body}"))
        .iter()
        .map(|b| {
            let f = |i: usize| b[i].as_str().unwrap().parse::<f64>().unwrap();
            (
                b[0].as_u64().unwrap(),
                f(1),
                f(2),
                b[3].as_str().unwrap().into(),
            )
        })
        .collect();
    let width = 2f64.powf(-1.0 / 64.0);
    let expected = [
        (3, -1e-128, 1e-128, "1"),
        (0, width, 1.0, "1"),
        (0, 2.0 * width, 2.0, "1"),
        (0, 4.0 * width, 4.0, "1"),
    ];
    assert_eq!(buckets.len(), expected.len(), "{body}");
    for ((rule, lower, upper, count), (want_rule, want_lower, want_upper, want_count)) in
        buckets.iter().zip(expected)
    {
        assert_eq!(
            (*rule, *upper, count.as_str()),
            (want_rule, want_upper, want_count),
            "{body}"
        );
        assert!(
            (lower - want_lower).abs() <= 1e-12 * want_upper.abs(),
            "{body}"
        );
    }
}

/// Trace blocks in the bucket of `tenant`.
fn trace_blocks(cairn: &Cairn, tenant: &str) -> usize {
    let dir = cairn.dir.join("bucket").join(tenant).join("traces/blocks");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("meta.json").exists())
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn sdk_traces_are_fetched_whole_from_live_traces_wal_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("expected.json");
    // Traces go idle after 1 s and are cut 1 s later; uploaded heads are
    // dropped after 3 s, so later reads can only come from blocks.
    let yaml = "  trace_idle_period: 1s\n  traces_block_max_age: 1s\n  retain_uploaded_for: 3s\n\
                querier:\n  blocks:\n    block_list_ttl: 1s\n";
    let cairn = Cairn::start(dir.path(), yaml).await;
    export(&cairn, "team-a", "team-b", Some(&expected));
    let all_ok = ["ok team-a", "ok team-b"];
    assert_eq!(check(&cairn, &expected, None), all_ok, "live");
    assert_eq!(
        check(&cairn, &expected, Some("team-c")),
        ["notfound team-c", "notfound team-c"],
        "another tenant gets 404"
    );
    // kill -9 before any block: the WAL brings every span back.
    let cairn = cairn.restart().await;
    assert_eq!(check(&cairn, &expected, None), all_ok, "after kill -9");
    // The ingester cuts idle traces into blocks by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while trace_blocks(&cairn, "team-a") == 0 || trace_blocks(&cairn, "team-b") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no trace block cut\n{}",
            cairn.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Past retain_uploaded_for the ingester no longer holds them.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let metrics = self_metrics(&cairn).await;
    assert!(
        metrics.contains(r#"cairn_ingester_traces_bytes{tenant="team-a"} 0"#),
        "{metrics}"
    );
    assert_eq!(check(&cairn, &expected, None), all_ok, "from blocks");
    assert_eq!(
        check(&cairn, &expected, Some("team-b")),
        ["notfound team-b", "ok team-b"],
        "tenant B cannot fetch tenant A's trace from blocks"
    );
    // A second round flushed explicitly, then kill -9: blocks and the
    // truncated WAL together hold every span exactly once.
    export(&cairn, "team-a", "team-b", Some(&expected));
    cairn.flush().await;
    let cairn = cairn.restart().await;
    assert_eq!(check(&cairn, &expected, None), [all_ok, all_ok].concat());
    assert_eq!(trace_blocks(&cairn, "team-a"), 2, "{}", cairn.log());
}
