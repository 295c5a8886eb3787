//! Series lookup and creation in the ingester head, through the push path
//! the distributor calls (WAL record included, fsync off): a batch of
//! samples for series the head already has (hash lookup, append), and a
//! batch of series it has never seen (ID allocation, postings, WAL series
//! record).
//!
//! Run: `cargo bench -p cairn-ingester --bench series` (throughput in
//! series/s).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_ingester::{Ingester, IngesterConfig};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::push::{MetricsPusher, PushSeries};
use common::series::Sample;
use common::tenant::TenantId;
use common::wal::FsyncPolicy;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use object_store::memory::InMemory;

const EXISTING: usize = 100_000;
const BATCH: usize = 2_000;
const NEW_BATCH: usize = 500;
const START: i64 = 1_700_000_000_000;

fn open(wal: &std::path::Path) -> Arc<Ingester> {
    let cfg = IngesterConfig {
        wal_dir: wal.to_path_buf(),
        wal_fsync: FsyncPolicy::Never,
        ..Default::default()
    };
    let limits = Limits {
        max_global_series_per_user: 0,
        ..Limits::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    Ingester::new(
        cfg,
        Arc::new(InMemory::new()),
        Arc::new(Overrides::new(limits)),
        &mut registry,
    )
    .expect("opening the ingester")
}

/// Series `s`'s labels (8, like a scraped target's); `generation` makes
/// them distinct from every other generation's.
fn labels(s: usize, generation: usize) -> Labels {
    let i = s / 100;
    Labels::from_pairs([
        ("__name__", format!("metric_{}", s % 50)),
        ("cluster", format!("k8s-{}", i % 4)),
        ("env", "prod".into()),
        ("region", "eu-west-1".into()),
        ("namespace", format!("team-{}", i % 20)),
        ("job", format!("svc-{}", i % 50)),
        ("instance", format!("host-{i}-{generation}")),
        (
            "code",
            if s.is_multiple_of(2) { "200" } else { "500" }.into(),
        ),
    ])
}

fn batch(all: &[Labels], t: i64) -> Vec<PushSeries> {
    all.iter()
        .map(|l| PushSeries::floats(l.clone(), vec![Sample { t, v: t as f64 }]))
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let tenant = TenantId::parse("bench").expect("tenant");
    let mut group = c.benchmark_group("head_push");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));

    let wal = tempfile::tempdir().expect("tempdir");
    let ingester = open(wal.path());
    let existing: Vec<Labels> = (0..EXISTING).map(|s| labels(s, 0)).collect();
    for chunk in existing.chunks(BATCH) {
        rt.block_on(ingester.push(&tenant, batch(chunk, START)))
            .expect("creating series");
    }
    let hot = &existing[..BATCH];
    let mut t = START;
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("existing_series", |b| {
        b.iter(|| {
            t += 15_000;
            rt.block_on(ingester.push(&tenant, black_box(batch(hot, t))))
                .expect("push")
        })
    });

    // A fresh head per measurement, so memory stays bounded.
    group.throughput(Throughput::Elements(NEW_BATCH as u64));
    group.bench_function("new_series", |b| {
        b.iter_custom(|iters| {
            let wal = tempfile::tempdir().expect("tempdir");
            let ingester = open(wal.path());
            let batches: Vec<Vec<PushSeries>> = (0..iters as usize)
                .map(|g| {
                    let ls: Vec<Labels> = (0..NEW_BATCH).map(|s| labels(s, g + 1)).collect();
                    batch(&ls, START)
                })
                .collect();
            let start = Instant::now();
            for b in batches {
                rt.block_on(ingester.push(&tenant, b)).expect("push");
            }
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
