//! Traces in from the OpenTelemetry Python SDK over OTLP/HTTP and
//! OTLP/gRPC, for two tenants.

use std::process::Command;

use crate::support::{Cairn, http};

/// Runs the SDK script; fails clearly when the SDK is not installed.
fn export(cairn: &Cairn, tenant_http: &str, tenant_grpc: &str) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cairn/traces/otel_export.py"
    );
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
    let out = Command::new("python3")
        .arg(script)
        .arg(cairn.url())
        .arg(format!("127.0.0.1:{}", cairn.grpc_port))
        .args([tenant_http, tenant_grpc])
        .output()
        .expect("running the OTLP exporter script");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "exporter failed: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        cairn.log()
    );
    stdout
}

async fn self_metrics(cairn: &Cairn) -> String {
    http()
        .get(format!("{}/metrics", cairn.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn sdk_exports_over_http_and_grpc_are_accepted_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let out = export(&cairn, "team-a", "team-b");
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
