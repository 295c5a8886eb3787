use std::sync::Arc;

use async_trait::async_trait;
use common::discard::DiscardReason;
use common::limits::{Limits, Overrides};
use common::push::PushError;
use common::tenant::TenantId;
use common::traces::otlp::spans_to_otlp;
use common::traces::{
    AttrValue, KeyValue, Resource, Scope, Span, SpanRejection, TracesPushOutcome, TracesPusher,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use prost::Message;

use super::TracesDistributor;
use crate::config::DistributorConfig;

/// Keeps every span; refuses traces whose first byte is 0xff as too large.
#[derive(Default)]
struct Ingester {
    spans: Mutex<Vec<(TenantId, Span)>>,
}

#[async_trait]
impl TracesPusher for Ingester {
    async fn push_spans(
        &self,
        tenant: &TenantId,
        spans: Vec<Span>,
    ) -> Result<TracesPushOutcome, PushError> {
        let mut out = TracesPushOutcome::default();
        for s in spans {
            if s.trace_id[0] == 0xff {
                out.rejected.push(SpanRejection {
                    reason: DiscardReason::TraceTooLarge,
                    trace_id: s.trace_id,
                    spans: 1,
                    detail: "max 1".into(),
                });
            } else {
                out.accepted += 1;
                self.spans.lock().push((tenant.clone(), s));
            }
        }
        Ok(out)
    }
}

fn span(trace: u8, id: u8) -> Span {
    // One time for every span of a test run, so expected and received match.
    static NOW: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let now = *NOW.get_or_init(|| u64::try_from(common::time::now_ns()).unwrap());
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        ..span_at(now - 1000, now)
    }
}

/// A valid span from `start` to `end` (ns).
pub(super) fn span_at(start: u64, end: u64) -> Span {
    Span {
        trace_id: [1; 16],
        span_id: [1; 8],
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "op".into(),
        kind: 1,
        start_unix_nano: start,
        end_unix_nano: end,
        attributes: vec![KeyValue {
            key: "k".into(),
            value: AttrValue::Int(1),
        }],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: 0,
        status_message: String::new(),
        resource: Arc::new(Resource::default()),
        scope: Arc::new(Scope::default()),
    }
}

struct Server {
    url: String,
    ingester: Arc<Ingester>,
    registry: Arc<Mutex<Registry>>,
}

async fn serve(limits: Limits) -> Server {
    let ingester = Arc::new(Ingester::default());
    let mut registry = Registry::default();
    let d = Arc::new(TracesDistributor::new(
        DistributorConfig::default(),
        Arc::new(Overrides::new(limits)),
        Arc::clone(&ingester) as _,
        &mut registry,
        true,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, d.router()).await });
    Server {
        url,
        ingester,
        registry: Arc::new(Mutex::new(registry)),
    }
}

fn request(spans: &[Span]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: spans_to_otlp(spans),
    }
}

async fn post(url: &str, tenant: &str, ct: &str, body: Vec<u8>) -> (reqwest::StatusCode, Vec<u8>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::Client::new()
        .post(url)
        .header("X-Scope-OrgID", tenant)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn protobuf_and_json_exports_reach_the_ingester() {
    let s = serve(Limits::default()).await;
    let req = request(&[span(1, 1), span(1, 2)]);
    let (status, body) = post(
        &format!("{}/v1/traces", s.url),
        "a",
        "application/x-protobuf",
        req.encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ExportTraceServiceResponse::decode(body.as_slice()).unwrap(),
        ExportTraceServiceResponse::default()
    );
    let json = serde_json::to_vec(&request(&[span(2, 3)])).unwrap();
    let (status, _) = post(
        &format!("{}/otlp/v1/traces", s.url),
        "b",
        "application/json",
        json,
    )
    .await;
    assert_eq!(status, 200);
    let got = s.ingester.spans.lock().clone();
    assert_eq!(
        got,
        vec![
            (TenantId::parse("a").unwrap(), span(1, 1)),
            (TenantId::parse("a").unwrap(), span(1, 2)),
            (TenantId::parse("b").unwrap(), span(2, 3)),
        ]
    );
}

#[tokio::test]
async fn refused_spans_come_back_as_partial_success_and_are_counted() {
    let s = serve(Limits::default()).await;
    let mut req = request(&[span(1, 1), span(0xff, 2), span(3, 3)]);
    req.resource_spans[0].scope_spans[0].spans[2].span_id = vec![0; 8];
    let (status, body) = post(
        &format!("{}/v1/traces", s.url),
        "a",
        "application/json",
        serde_json::to_vec(&req).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let resp: ExportTraceServiceResponse = serde_json::from_slice(&body).unwrap();
    let partial = resp.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("err-cairn-invalid-span-id"));
    assert!(
        partial
            .error_message
            .contains("err-cairn-trace-too-large: max 1")
    );
    assert!(partial.error_message.contains("raise max_bytes_per_trace"));
    let mut text = String::new();
    encode(&mut text, &s.registry.lock()).unwrap();
    for line in [
        r#"cairn_discarded_spans_total{tenant="a",reason="invalid-span-id"} 1"#,
        r#"cairn_discarded_spans_total{tenant="a",reason="trace-too-large"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test]
async fn whole_refusals_answer_400_429_401() {
    let s = serve(Limits {
        ingestion_burst_size_bytes: 200,
        ..Limits::default()
    })
    .await;
    let url = format!("{}/v1/traces", s.url);
    let mut bad = request(&[span(1, 1)]);
    bad.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![1, 2];
    let (status, body) = post(&url, "a", "application/x-protobuf", bad.encode_to_vec()).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _) = post(
        &url,
        "a",
        "application/x-protobuf",
        request(&[span(0xff, 1)]).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 429);
    let big: Vec<Span> = (1..20).map(|i| span(1, i)).collect();
    let (status, body) = post(
        &url,
        "a",
        "application/x-protobuf",
        request(&big).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 429);
    assert!(
        String::from_utf8_lossy(&body).contains("ingestion_rate_limit_bytes"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _) = post(&url, "", "application/x-protobuf", vec![]).await;
    assert_eq!(status, 400);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
