//! End-to-end traces benchmark: pre-encodes OTLP/HTTP protobuf exports of
//! realistic traces (a shop's services calling each other, databases and
//! caches, a few errors with exception events), sends them to Cairn with
//! `--concurrency` requests in flight and prints spans/s (and, with
//! `--cairn-pid`, spans per CPU-second of the server and its peak RSS).
//! With `--bucket-dir` it then flushes, reports stored bytes per span,
//! waits `--settle` seconds (set it past Cairn's `retain_uploaded_for`, so
//! reads come from object storage) and measures trace-by-ID and TraceQL
//! search latency through the Tempo API.
//!
//! Cairn's default trace limits would throttle the load, so start it with:
//!
//! ```sh
//! cat > /tmp/traces.yaml <<'YAML'
//! limits:
//!   ingestion_rate_limit_bytes: 4000000000
//!   ingestion_burst_size_bytes: 4000000000
//!   max_traces_per_user: 0
//! ingester:
//!   retain_uploaded_for: 5s
//! querier:
//!   blocks:
//!     block_list_ttl: 2s
//! YAML
//! cargo run --release -- --config.file /tmp/traces.yaml &      # Cairn on 127.0.0.1:9009
//! cargo run --release --example traces_push_bench -- --bucket-dir ./data/bucket \
//!     --cairn-pid $(pgrep -n cairn) --traces 100000 --settle 7
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::traces::otlp::spans_to_otlp;
use common::traces::{AttrValue, KeyValue, Resource, Scope, Span, SpanEvent};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;

#[path = "support/bucket.rs"]
mod bucket;
use bucket::block_bytes_and_samples;
#[path = "support/load.rs"]
mod load;
use load::{Rng, Target, cpu_seconds, flush, push_all, status_kib, summary};

struct Args {
    cairn: String,
    bucket_dir: Option<PathBuf>,
    cairn_pid: Option<u32>,
    tenant: String,
    traces: usize,
    batch_traces: usize,
    concurrency: usize,
    settle: u64,
    lookups: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        cairn: "http://127.0.0.1:9009".into(),
        bucket_dir: None,
        cairn_pid: None,
        tenant: "traces-bench".into(),
        traces: 20_000,
        batch_traces: 100,
        concurrency: 4,
        settle: 0,
        lookups: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--cairn" => a.cairn = val(),
            "--bucket-dir" => a.bucket_dir = Some(val().into()),
            "--cairn-pid" => a.cairn_pid = Some(val().parse().expect("--cairn-pid PID")),
            "--tenant" => a.tenant = val(),
            "--traces" => a.traces = val().parse().expect("--traces N"),
            "--batch-traces" => a.batch_traces = val().parse().expect("--batch-traces N"),
            "--concurrency" => a.concurrency = val().parse().expect("--concurrency N"),
            "--settle" => a.settle = val().parse().expect("--settle SECONDS"),
            "--lookups" => a.lookups = val().parse().expect("--lookups N"),
            other => panic!("unknown flag {other}; see the module doc"),
        }
    }
    a
}

fn kv(key: &str, value: AttrValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

fn s(v: impl Into<String>) -> AttrValue {
    AttrValue::Str(v.into())
}

const SERVICES: &[&str] = &["frontend", "checkout", "payment", "inventory", "shipping"];
const ROUTES: &[&str] = &[
    "/api/checkout",
    "/api/cart",
    "/api/products/{id}",
    "/api/orders/{id}",
];
const QUERIES: &[&str] = &[
    "SELECT id, total, status FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20",
    "UPDATE inventory SET reserved = reserved + $1 WHERE sku = $2",
    "INSERT INTO payments (order_id, amount, currency, provider) VALUES ($1, $2, $3, $4)",
];

/// Each service's resource: 3 instances per service.
fn resources() -> Vec<Vec<Arc<Resource>>> {
    SERVICES
        .iter()
        .map(|svc| {
            (0..3)
                .map(|i| {
                    Arc::new(Resource {
                        attributes: vec![
                            kv("service.name", s(*svc)),
                            kv("service.namespace", s("shop")),
                            kv("service.version", s("1.42.0")),
                            kv("service.instance.id", s(format!("{svc}-7d9f8b-{i}x2q"))),
                            kv("host.name", s(format!("node-{}", i + 1))),
                            kv("k8s.namespace.name", s("shop-prod")),
                            kv("k8s.pod.name", s(format!("{svc}-7d9f8b-{i}x2q"))),
                            kv("telemetry.sdk.language", s("go")),
                            kv("telemetry.sdk.name", s("opentelemetry")),
                            kv("telemetry.sdk.version", s("1.28.0")),
                        ],
                        ..Resource::default()
                    })
                })
                .collect()
        })
        .collect()
}

/// Generates traces of 4–16 spans: an HTTP server root, calls between
/// services (client and server spans), database and cache calls; 5 % fail
/// with an exception event.
struct Generator {
    rng: Rng,
    resources: Vec<Vec<Arc<Resource>>>,
    scope: Arc<Scope>,
}

impl Generator {
    fn span(&mut self, trace_id: [u8; 16], parent: Option<[u8; 8]>, start: u64, dur: u64) -> Span {
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&self.rng.next(u64::MAX).to_le_bytes());
        Span {
            trace_id,
            span_id,
            parent_span_id: parent,
            trace_state: String::new(),
            flags: 1,
            name: String::new(),
            kind: 1,
            start_unix_nano: start,
            end_unix_nano: start + dur,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status_code: 0,
            status_message: String::new(),
            resource: Arc::clone(&self.resources[0][0]),
            scope: Arc::clone(&self.scope),
        }
    }

    fn resource(&mut self, service: usize) -> Arc<Resource> {
        let i = self.rng.next(3) as usize;
        Arc::clone(&self.resources[service][i])
    }

    fn trace(&mut self, start: u64) -> Vec<Span> {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&self.rng.next(u64::MAX).to_le_bytes());
        trace_id[8..].copy_from_slice(&self.rng.next(u64::MAX).to_le_bytes());
        let failed = self.rng.next(20) == 0;
        let total = 5_000_000 + self.rng.next(400_000_000);
        let route = ROUTES[self.rng.next(ROUTES.len() as u64) as usize];
        let mut root = self.span(trace_id, None, start, total);
        root.name = format!("GET {route}");
        root.kind = 2;
        root.resource = self.resource(0);
        root.attributes = vec![
            kv("http.request.method", s("GET")),
            kv("http.route", s(route)),
            kv(
                "url.full",
                s(format!(
                    "https://shop.example.com{route}?session={}",
                    self.rng.next(1 << 40)
                )),
            ),
            kv(
                "http.response.status_code",
                AttrValue::Int(if failed { 500 } else { 200 }),
            ),
            kv(
                "user_agent.original",
                s("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
            ),
            kv(
                "client.address",
                s(format!(
                    "10.{}.{}.{}",
                    self.rng.next(256),
                    self.rng.next(256),
                    self.rng.next(256)
                )),
            ),
        ];
        let mut spans = vec![root.clone()];
        let calls = 1 + self.rng.next(5) as usize;
        for c in 0..calls {
            let service = 1 + self.rng.next(SERVICES.len() as u64 - 1) as usize;
            let at = start + total * c as u64 / calls as u64 / 2;
            let dur = total / (calls as u64 + 1);
            let mut client = self.span(trace_id, Some(root.span_id), at, dur);
            client.name = format!("POST /{}", SERVICES[service]);
            client.kind = 3;
            client.resource = Arc::clone(&root.resource);
            client.attributes = vec![
                kv("http.request.method", s("POST")),
                kv("server.address", s(SERVICES[service])),
                kv("http.response.status_code", AttrValue::Int(200)),
            ];
            let mut server = self.span(trace_id, Some(client.span_id), at + 200_000, dur - 400_000);
            server.name = format!("POST /{}", SERVICES[service]);
            server.kind = 2;
            server.resource = self.resource(service);
            server.attributes = vec![
                kv("http.request.method", s("POST")),
                kv("http.route", s(format!("/{}", SERVICES[service]))),
                kv("http.response.status_code", AttrValue::Int(200)),
            ];
            let mut db = self.span(trace_id, Some(server.span_id), at + 500_000, dur / 3);
            let query = QUERIES[self.rng.next(QUERIES.len() as u64) as usize];
            db.name = query.split(' ').take(2).collect::<Vec<_>>().join(" ");
            db.kind = 3;
            db.resource = Arc::clone(&server.resource);
            db.attributes = vec![
                kv("db.system", s("postgresql")),
                kv("db.name", s("shop")),
                kv("db.statement", s(query)),
                kv("server.address", s("postgres-primary")),
            ];
            spans.extend([client, server.clone(), db]);
            if self.rng.next(2) == 0 {
                let mut cache = self.span(trace_id, Some(server.span_id), at + 300_000, 150_000);
                cache.name = "GET".into();
                cache.kind = 3;
                cache.resource = Arc::clone(&server.resource);
                cache.attributes = vec![
                    kv("db.system", s("redis")),
                    kv("db.operation", s("GET")),
                    kv("cache.hit", AttrValue::Bool(self.rng.next(4) != 0)),
                ];
                spans.push(cache);
            }
        }
        if failed {
            let last = spans.len() - 1;
            let bad = &mut spans[last];
            bad.status_code = 2;
            bad.status_message = "upstream request timed out".into();
            bad.events.push(SpanEvent {
                time_unix_nano: bad.end_unix_nano,
                name: "exception".into(),
                attributes: vec![
                    kv("exception.type", s("TimeoutError")),
                    kv("exception.message", s("context deadline exceeded after 30s")),
                    kv("exception.stacktrace", s("goroutine 81 [running]:\nshop/internal/db.(*Pool).Query(...)\n\t/src/internal/db/pool.go:212 +0x1c5\nshop/internal/orders.(*Repo).List(...)\n\t/src/internal/orders/repo.go:88 +0x9a")),
                ],
                dropped_attributes_count: 0,
            });
            spans[0].status_code = 2;
        }
        spans
    }
}

/// The pre-encoded load: request bodies, each trace's ID and span count,
/// and the span total.
struct Load {
    bodies: Vec<Vec<u8>>,
    traces: Vec<([u8; 16], usize)>,
    spans: usize,
}

/// Export bodies of `batch_traces` traces each, starts spread over the
/// last 20 minutes.
fn bodies(a: &Args) -> Load {
    let mut g = Generator {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        resources: resources(),
        scope: Arc::new(Scope {
            name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp".into(),
            version: "0.57.0".into(),
            ..Scope::default()
        }),
    };
    let now = common::time::now_ns().max(0) as u64;
    let window = 20 * 60 * 1_000_000_000u64;
    let step = window / a.traces.max(1) as u64;
    let mut out = Vec::new();
    let mut ids = Vec::new();
    let mut total = 0;
    for first in (0..a.traces).step_by(a.batch_traces.max(1)) {
        let mut spans = Vec::new();
        for t in first..(first + a.batch_traces).min(a.traces) {
            let trace = g.trace(now - window + t as u64 * step);
            ids.push((trace[0].trace_id, trace.len()));
            spans.extend(trace);
        }
        total += spans.len();
        let req = ExportTraceServiceRequest {
            resource_spans: spans_to_otlp(&spans),
        };
        out.push(req.encode_to_vec());
    }
    Load {
        bodies: out,
        traces: ids,
        spans: total,
    }
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fetches `ids` one by one through `GET /api/traces/<id>` (protobuf),
/// checking each has all its spans; returns the latencies.
async fn lookups(a: &Args, ids: &[([u8; 16], usize)]) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for (id, spans) in ids {
        let start = Instant::now();
        let r = client
            .get(format!("{}/api/traces/{}", a.cairn, hex(id)))
            .header("X-Scope-OrgID", &a.tenant)
            .header("Accept", "application/protobuf")
            .send()
            .await
            .expect("trace by id");
        assert!(r.status().is_success(), "trace {}: {}", hex(id), r.status());
        let body = r.bytes().await.expect("body");
        out.push(start.elapsed());
        let data = TracesData::decode(body).expect("a TracesData answer");
        let got: usize = data
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum();
        assert_eq!(got, *spans, "trace {} lost spans", hex(id));
    }
    out
}

/// Runs each TraceQL query `runs` times over the whole window.
async fn searches(a: &Args, runs: usize) {
    let client = reqwest::Client::new();
    let end = common::time::now_ns() / 1_000_000_000 + 60;
    let start = end - 3600;
    for q in [
        r#"{ resource.service.name = "payment" && status = error }"#,
        r#"{ span.http.response.status_code >= 500 }"#,
        r#"{ span.db.system = "postgresql" && duration > 100ms }"#,
        r#"{ name = "GET /api/checkout" } >> { span.db.system = "redis" }"#,
        r#"{ kind = server } | count() > 6"#,
    ] {
        let mut latencies = Vec::new();
        let mut found = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let r = client
                .get(format!("{}/api/search", a.cairn))
                .header("X-Scope-OrgID", &a.tenant)
                .query(&[
                    ("q", q.to_string()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("limit", "20".to_string()),
                ])
                .send()
                .await
                .expect("search");
            assert!(r.status().is_success(), "{q}: {}", r.status());
            let body: serde_json::Value = r.json().await.expect("search JSON");
            latencies.push(t.elapsed());
            found = body["traces"].as_array().map_or(0, Vec::len);
        }
        summary(&format!("search {q} ({found} traces)"), latencies);
    }
}

#[tokio::main]
async fn main() {
    let mut a = parse_args();
    common::storage::install_tls_provider();
    a.tenant = format!("{}-{}", a.tenant, std::process::id());
    let Load {
        bodies,
        traces: ids,
        spans,
    } = bodies(&a);
    let wire: usize = bodies.iter().map(Vec::len).sum();
    println!(
        "load: {} traces, {spans} spans ({:.1} MB OTLP protobuf, {:.0} B/span) in {} requests, {} in flight",
        a.traces,
        wire as f64 / 1e6,
        wire as f64 / spans as f64,
        bodies.len(),
        a.concurrency
    );
    let cpu_before = a.cairn_pid.map(cpu_seconds);
    let url = format!("{}/v1/traces", a.cairn);
    let target = Target {
        url: &url,
        tenant: &a.tenant,
        headers: &[("Content-Type", "application/x-protobuf")],
    };
    let pushed = push_all(&target, Arc::new(bodies), a.concurrency, |i| i).await;
    let took = pushed.took.as_secs_f64();
    println!(
        "push: {:.0} spans/s, {:.1} MB/s ({took:.2} s), {} failed requests",
        spans as f64 / took,
        wire as f64 / 1e6 / took,
        pushed.errors
    );
    if let (Some(pid), Some(before)) = (a.cairn_pid, cpu_before) {
        let cpu = cpu_seconds(pid) - before;
        println!(
            "server: {cpu:.2} CPU-s = {:.0} spans per CPU-second; peak RSS {} MiB",
            spans as f64 / cpu,
            status_kib(pid, "VmHWM").unwrap_or(0) / 1024
        );
    }
    let Some(dir) = &a.bucket_dir else { return };
    flush(&a.cairn).await;
    let (bytes, stored) = block_bytes_and_samples(&dir.join(&a.tenant).join("traces/blocks"));
    println!(
        "blocks: {bytes} bytes for {stored} spans = {:.1} bytes/span ({:.2} of OTLP protobuf)",
        bytes as f64 / stored.max(1) as f64,
        bytes as f64 / wire as f64
    );
    tokio::time::sleep(Duration::from_secs(a.settle)).await;
    let mut rng = Rng(42);
    let sample: Vec<_> = (0..a.lookups)
        .map(|_| ids[rng.next(ids.len() as u64) as usize])
        .collect();
    let mut latencies = lookups(&a, &sample).await;
    let cold = latencies.remove(0);
    println!("trace by ID: first (opens every block) {cold:.1?}");
    summary("trace by ID", latencies);
    searches(&a, 5).await;
}
