//! PromQL engine throughput over 10k in-memory series: the cost of
//! evaluation itself, with storage reduced to a copy out of memory.
//!
//! `cargo bench -p cairn-querier --bench promql`

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cairn_querier::promql::{Engine, EngineOptions, QueryRange};
use common::labels::{Label, Labels};
use common::limits::{Limits, Overrides};
use common::series::{Matcher, Sample, Series, SeriesStore, StoreError};
use common::tenant::TenantId;
use criterion::{Criterion, criterion_group, criterion_main};

const SERIES: usize = 10_000;
const SCRAPE_MS: i64 = 15_000;
const HOURS: i64 = 2;

/// Every series of one metric, `load_metric`, whatever the matchers say.
struct BenchStore(Vec<Series>);

#[async_trait]
impl SeriesStore for BenchStore {
    async fn select(
        &self,
        _: &TenantId,
        _: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(self
            .0
            .iter()
            .map(|s| {
                let samples = s
                    .samples
                    .iter()
                    .filter(|p| p.t >= mint && p.t <= maxt)
                    .copied()
                    .collect();
                Series::floats(s.labels.clone(), samples)
            })
            .collect())
    }

    async fn series(
        &self,
        _: &TenantId,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(self.0.iter().map(|s| s.labels.clone()).collect())
    }
}

fn store() -> BenchStore {
    let points = (HOURS * 3_600_000 / SCRAPE_MS) as usize;
    let series = (0..SERIES)
        .map(|i| {
            let labels = Labels::new(vec![
                Label::new("__name__", "load_metric"),
                Label::new("instance", format!("host-{i}")),
                Label::new("job", format!("job-{}", i % 10)),
            ]);
            let samples = (0..points)
                .map(|k| Sample {
                    t: k as i64 * SCRAPE_MS,
                    v: (k * (i % 7 + 1)) as f64,
                })
                .collect();
            Series::floats(labels, samples)
        })
        .collect();
    BenchStore(series)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = Engine::new(
        Arc::new(store()),
        Arc::new(Overrides::new(Limits::default())),
        EngineOptions::default(),
    );
    let tenant = [TenantId::parse("bench").expect("tenant")];
    let range = QueryRange::Range {
        start: 3_600_000,
        end: HOURS * 3_600_000,
        step: 60_000,
    };
    let mut group = c.benchmark_group("promql_10k_series_61_steps");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for query in [
        "sum(rate(load_metric[5m]))",
        "rate(load_metric[5m])",
        "sum by (job) (load_metric)",
        "load_metric * 2",
        "max_over_time(load_metric[10m])",
    ] {
        group.bench_function(query, |b| {
            b.iter(|| {
                rt.block_on(engine.query(&tenant, query, range))
                    .expect("query")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
