//! TraceQL search throughput over 100k in-memory spans (10k traces of 10
//! spans): pushed-down filter, exact evaluation, result assembly.
//!
//! `cargo bench -p cairn-querier --bench traceql` (throughput in spans/s).

use std::sync::Arc;

use cairn_querier::traceql::{SearchRequest, parse, search};
use common::tenant::TenantId;
use common::traces::AttrValue;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[allow(dead_code)]
#[path = "../tests/querier/trace_support.rs"]
mod trace_support;

use trace_support::{BASE_NS, MemTraceStore, SpanSpec, build, kv, resource, s};

const TRACES: usize = 10_000;
const SPANS_PER_TRACE: usize = 10;

/// A deterministic trace: a root span and a chain/fan of children across
/// five services, with status codes, kinds and durations varying by index.
fn store() -> MemTraceStore {
    let store = MemTraceStore::default();
    let services: Vec<_> = (0..5)
        .map(|i| resource(&format!("svc-{i}"), "prod"))
        .collect();
    let scope = Arc::new(common::traces::Scope::default());
    let names = ["GET /api", "auth", "db.query", "cache.get", "publish"];
    for t in 0..TRACES {
        let mut id = [0u8; 16];
        id[8..].copy_from_slice(&(t as u64 + 1).to_be_bytes());
        let specs = (0..SPANS_PER_TRACE)
            .map(|i| {
                let n = t * SPANS_PER_TRACE + i;
                SpanSpec {
                    label: "x",
                    id: i as u8 + 1,
                    parent: (i > 0).then_some((i / 2) as u8 + 1),
                    name: names[n % names.len()],
                    kind: (n % 5) as i32 + 1,
                    status: if n.is_multiple_of(17) { 2 } else { 0 },
                    start_ms: i as u64,
                    dur_ms: (n % 97) as u64 + 1,
                    resource: Arc::clone(&services[(t + i) % services.len()]),
                    attrs: vec![
                        kv("http.status_code", AttrValue::Int([200, 404, 500][n % 3])),
                        kv("user", s(&format!("u{}", n % 100))),
                    ],
                }
            })
            .collect();
        store.add(
            "bench",
            build(
                id,
                BASE_NS + t as u64 * 1_000_000_000,
                Arc::clone(&scope),
                specs,
            ),
        );
    }
    store
}

fn bench(c: &mut Criterion) {
    let store = store();
    let tenants = [TenantId::parse("bench").expect("tenant")];
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("traceql_search_100k_spans");
    group.throughput(Throughput::Elements((TRACES * SPANS_PER_TRACE) as u64));
    group.sample_size(10);
    for q in [
        r#"{ resource.service.name = "svc-3" && duration > 50ms }"#,
        r#"{ span.http.status_code >= 500 } >> { status = error }"#,
        r#"{ } | by(resource.service.name) | count() > 2"#,
    ] {
        let req = SearchRequest {
            query: parse(q).expect("query"),
            start_ns: 0,
            end_ns: u64::MAX,
            limit: usize::MAX,
            min_duration_ns: None,
            max_duration_ns: None,
        };
        group.bench_function(q, |b| {
            b.iter(|| rt.block_on(search(&store, &tenants, &req)).expect("search"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
