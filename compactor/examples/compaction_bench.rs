//! Compaction on realistic data: 10k series × 2h at a 15s scrape interval
//! (counters, gauges and near-constant series, with millisecond scrape
//! jitter), uploaded three times as RF 3 ingesters would, then compacted.
//! Prints bytes per sample in the bucket before and after and the merge
//! throughput.
//!
//! ```text
//! cargo run --release -p cairn-compactor --example compaction_bench [SERIES]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_compactor::{Compactor, CompactorConfig};
use common::block::{BlockSeries, encode_chunks, write_block};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::Sample;
use common::tenant::TenantId;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use prometheus_client::registry::Registry;

const H: i64 = 3_600_000;
const STEP: i64 = 15_000;

/// A small deterministic generator (no dependency needed for test data).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Series `i` over `[from, from + 2h)`: a counter, a gauge or a
/// near-constant, scraped every 15s with a millisecond of jitter.
fn series(i: usize, from: i64) -> BlockSeries {
    let mut rng = Lcg(i as u64 * 7919 + 1);
    let kind = i % 4;
    let mut value = (rng.next() % 1000) as f64;
    let samples: Vec<Sample> = (0..2 * H / STEP)
        .map(|k| {
            // Scrapes land on the 15s grid, one in ten a millisecond late.
            let t = from + k * STEP + i64::from(rng.next().is_multiple_of(10));
            value = match kind {
                0 | 1 => value + (rng.next() % 20) as f64,
                2 => value + ((rng.next() % 2001) as f64 - 1000.0) / 100.0,
                _ if rng.next().is_multiple_of(50) => value + 1.0,
                _ => value,
            };
            Sample { t, v: value }
        })
        .collect();
    let labels = Labels::from_pairs([
        ("__name__", format!("metric_{}", i % 200).as_str()),
        (
            "instance",
            &format!("10.0.{}.{}:9100", i / 250 % 256, i % 250),
        ),
        ("job", "node"),
        ("series", &i.to_string()),
    ]);
    BlockSeries {
        labels,
        chunks: encode_chunks(&samples, &[]),
    }
}

async fn bucket_bytes(store: &dyn ObjectStore) -> u64 {
    store
        .list(None)
        .map_ok(|m| m.size)
        .try_fold(0, |a, b| async move { Ok(a + b) })
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(
        LocalFileSystem::new_with_prefix(dir.path())
            .unwrap()
            .with_automatic_cleanup(true),
    );
    let tenant = TenantId::parse("bench").unwrap();
    let from = 0;
    let unique = (n as i64 * 2 * H / STEP) as u64;
    for replica in 0..3 {
        let all: Vec<BlockSeries> = (0..n).map(|i| series(i, from)).collect();
        write_block(store.as_ref(), &tenant, all, &format!("ingester-{replica}"))
            .await
            .unwrap();
    }
    let before = bucket_bytes(store.as_ref()).await;

    let compactor = Compactor::new(
        CompactorConfig {
            deletion_delay: Duration::ZERO,
            ..CompactorConfig::default()
        },
        Arc::clone(&store),
        Arc::new(Overrides::new(Limits::default())),
        &mut Registry::default(),
    );
    let start = Instant::now();
    let report = compactor.run_at(from + 3 * H).await.unwrap();
    let took = start.elapsed();
    let after = bucket_bytes(store.as_ref()).await;
    let t = &report.tenants[0];
    assert_eq!(t.merged_samples, unique, "every unique sample written once");

    println!("series: {n}, unique samples: {unique}, replicas: 3");
    println!(
        "before: {before} bytes in 3 blocks = {:.3} bytes/stored sample, {:.3} bytes/unique sample",
        before as f64 / (3 * unique) as f64,
        before as f64 / unique as f64
    );
    println!(
        "after:  {after} bytes in 1 block  = {:.3} bytes/sample",
        after as f64 / unique as f64
    );
    println!(
        "compaction pass (merge + upload + mark + delete + index): {:.2}s, {:.2} M samples/s read, {:.2} M samples/s written",
        took.as_secs_f64(),
        (3 * unique) as f64 / took.as_secs_f64() / 1e6,
        unique as f64 / took.as_secs_f64() / 1e6
    );
}
