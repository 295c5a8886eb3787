//! Parquet trace blocks: writing 20k spans (2,000 traces of 10 spans with
//! realistic attributes) as one block into an in-memory bucket, reading
//! every row back, and finding one trace by ID (row-group pruning and
//! bloom filters).
//!
//! Run: `cargo bench -p cairn-common --bench trace_block` (throughput in
//! spans/s). Prints the block's bytes per span.

use std::hint::black_box;
use std::sync::Arc;

use cairn_common::block::RetryPolicy;
use cairn_common::tenant::TenantId;
use cairn_common::traces::block::{TraceBlockReader, write_trace_block};
use cairn_common::traces::{AttrValue, KeyValue, Resource, Scope, Span};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use object_store::ObjectStore;
use object_store::memory::InMemory;

const TRACES: usize = 2_000;
const SPANS_PER_TRACE: usize = 10;

fn kv(key: &str, value: AttrValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

/// Deterministic traces: a server root span and nine children over five
/// services, with HTTP and database attributes.
fn spans() -> Vec<Span> {
    let resources: Vec<Arc<Resource>> = ["frontend", "checkout", "payment", "cart", "db"]
        .iter()
        .map(|s| {
            Arc::new(Resource {
                attributes: vec![
                    kv("service.name", AttrValue::Str((*s).into())),
                    kv("deployment.environment", AttrValue::Str("prod".into())),
                    kv("k8s.pod.name", AttrValue::Str(format!("{s}-7d9f8-abcde"))),
                ],
                ..Default::default()
            })
        })
        .collect();
    let scope = Arc::new(Scope {
        name: "io.opentelemetry.http".into(),
        ..Default::default()
    });
    let start = 1_700_000_000_000_000_000u64;
    let mut out = Vec::with_capacity(TRACES * SPANS_PER_TRACE);
    for t in 0..TRACES {
        let mut trace_id = [0u8; 16];
        trace_id[..8]
            .copy_from_slice(&(t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        trace_id[8..].copy_from_slice(&(t as u64).to_be_bytes());
        let t0 = start + t as u64 * 1_000_000;
        for s in 0..SPANS_PER_TRACE {
            let span_id = ((t * SPANS_PER_TRACE + s + 1) as u64).to_be_bytes();
            let parent = (s > 0).then(|| ((t * SPANS_PER_TRACE + 1) as u64).to_be_bytes());
            out.push(Span {
                trace_id,
                span_id,
                parent_span_id: parent,
                trace_state: String::new(),
                flags: 1,
                name: [
                    "GET /api/checkout",
                    "SELECT orders",
                    "redis GET",
                    "charge",
                    "publish",
                ][s % 5]
                    .into(),
                kind: if s == 0 { 2 } else { 3 },
                start_unix_nano: t0 + s as u64 * 10_000,
                end_unix_nano: t0 + s as u64 * 10_000 + 5_000 + (t % 97) as u64 * 1_000,
                attributes: vec![
                    kv("http.request.method", AttrValue::Str("GET".into())),
                    kv(
                        "http.response.status_code",
                        AttrValue::Int(if t % 50 == 0 { 500 } else { 200 }),
                    ),
                    kv("db.system", AttrValue::Str("postgresql".into())),
                    kv("user.id", AttrValue::Int((t % 10_000) as i64)),
                ],
                dropped_attributes_count: 0,
                events: Vec::new(),
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status_code: if t % 50 == 0 { 2 } else { 0 },
                status_message: String::new(),
                resource: Arc::clone(&resources[s % resources.len()]),
                scope: Arc::clone(&scope),
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let tenant = TenantId::parse("bench").expect("tenant");
    let spans = spans();
    let n = spans.len() as u64;
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let meta = rt
        .block_on(write_trace_block(
            store.as_ref(),
            &tenant,
            spans.clone(),
            "bench",
        ))
        .expect("writing a block");
    let reader = rt
        .block_on(TraceBlockReader::open(
            Arc::clone(&store),
            &tenant,
            meta,
            &RetryPolicy::default(),
        ))
        .expect("opening the block");
    let bytes: u64 = rt.block_on(async {
        use futures::TryStreamExt;
        store
            .list(None)
            .map_ok(|o| o.size)
            .try_collect::<Vec<_>>()
            .await
            .expect("listing")
            .iter()
            .sum()
    });
    println!(
        "trace block: {n} spans -> {bytes} bytes = {:.1} bytes/span",
        bytes as f64 / n as f64
    );

    let mut group = c.benchmark_group("trace_block");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("write", |b| {
        b.iter(|| {
            let fresh = InMemory::new();
            rt.block_on(write_trace_block(&fresh, &tenant, spans.clone(), "bench"))
                .expect("writing a block")
        })
    });
    group.bench_function("read_all_rows", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut rows = reader.all_rows().await.expect("rows");
                let mut count = 0;
                while rows.next().await.expect("row").is_some() {
                    count += 1;
                }
                count
            })
        })
    });
    group.throughput(Throughput::Elements(SPANS_PER_TRACE as u64));
    let id = spans[spans.len() / 2].trace_id;
    group.bench_function("trace_by_id", |b| {
        b.iter(|| {
            rt.block_on(reader.trace_by_id(black_box(&id)))
                .expect("trace")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
