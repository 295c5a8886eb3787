//! Compaction end to end: the blocks three RF-3 ingesters would upload are
//! merged by `POST /compactor/run` into one block per range, and PromQL
//! returns each sample exactly once before, during and after.

use std::sync::Arc;

use common::block::{BlockSeries, encode_chunks, list_blocks, write_block};
use common::labels::Labels;
use common::series::Sample;
use common::tenant::TenantId;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::support::{Cairn, http, vector};

const H: i64 = 3_600_000;
const STEP: i64 = 15_000;
const SERIES: usize = 5;

/// SERIES series with a sample every STEP in `[from, to)`, value = t / STEP.
fn series(from: i64, to: i64) -> Vec<BlockSeries> {
    (0..SERIES)
        .map(|i| {
            let samples: Vec<Sample> = (from..to)
                .step_by(STEP as usize)
                .map(|t| Sample {
                    t,
                    v: (t / STEP) as f64,
                })
                .collect();
            BlockSeries {
                labels: Labels::from_pairs([("__name__", "replicated"), ("i", &i.to_string())]),
                chunks: encode_chunks(&samples, &[]),
            }
        })
        .collect()
}

async fn counts(cairn: &Cairn, at_ms: i64) -> Vec<(serde_json::Value, String)> {
    vector(
        &cairn
            .query(
                "team-a",
                "count_over_time(replicated[4h])",
                at_ms as f64 / 1000.0,
            )
            .await,
    )
}

#[tokio::test]
async fn rf3_blocks_compact_to_one_block_per_range_and_queries_count_each_sample_once() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(
        dir.path(),
        "compactor:\n  block_ranges: [2h]\n  deletion_delay: 0s\n  compaction_interval: 1h\n",
    )
    .await;
    let bucket: Arc<dyn ObjectStore> = Arc::new(
        LocalFileSystem::new_with_prefix(dir.path().join("bucket"))
            .unwrap()
            .with_automatic_cleanup(true),
    );
    let tenant = TenantId::parse("team-a").unwrap();
    // Two days ago, two 2h ranges, each uploaded by three ingesters.
    let day = (common::time::now_ms() / (24 * H) - 2) * 24 * H;
    for range in 0..2 {
        let from = day + range * 2 * H;
        for ingester in 0..3 {
            write_block(
                bucket.as_ref(),
                &tenant,
                series(from, from + 2 * H),
                &format!("ingester-{ingester}"),
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(
        list_blocks(bucket.as_ref(), &tenant).await.unwrap().len(),
        6
    );
    let last = day + 4 * H - STEP;
    let per_series = (4 * H / STEP).to_string();
    let before = counts(&cairn, last).await;
    assert_eq!(before.len(), SERIES, "{}", cairn.log());
    assert!(before.iter().all(|(_, v)| *v == per_series), "{before:?}");

    let r = http()
        .post(format!("{}/compactor/run", cairn.url()))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let report: serde_json::Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status} {report}");
    assert_eq!(report["tenants"][0]["tenant"], "team-a", "{report}");

    let blocks = list_blocks(bucket.as_ref(), &tenant).await.unwrap();
    assert_eq!(blocks.len(), 2, "one block per 2h range: {blocks:?}");
    assert!(blocks.iter().all(|b| b.compaction.sources.len() == 3));
    // The querier's cached block list still names the deleted sources:
    // it must relist rather than fail.
    let after = counts(&cairn, last).await;
    assert_eq!(after, before, "{}", cairn.log());
    let sums = vector(
        &cairn
            .query(
                "team-a",
                "sum_over_time(replicated[4h])",
                last as f64 / 1000.0,
            )
            .await,
    );
    let want: i64 = (day..day + 4 * H)
        .step_by(STEP as usize)
        .map(|t| t / STEP)
        .sum();
    assert!(sums.iter().all(|(_, v)| *v == want.to_string()), "{sums:?}");

    let metrics = crate::support::metrics_page(&cairn.url()).await;
    assert!(
        metrics.contains("cairn_compactor_blocks_marked_for_deletion_total{tenant=\"team-a\",reason=\"compaction\"} 6"),
        "{metrics}"
    );
    assert!(metrics.contains("cairn_compactor_last_successful_run_timestamp_seconds"));
}
