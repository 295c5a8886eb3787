//! Durability: acknowledged samples survive `kill -9` (WAL replay), and
//! flushed blocks serve queries with the WAL gone — on the filesystem and on
//! a real S3 server.

use std::path::Path;

use crate::support::peers::Seaweed;
use crate::support::remote_write::{now_ms, push, series};
use crate::support::{Cairn, vector};

const SERIES: usize = 20;
const SAMPLES: usize = 150;

/// Pushes SERIES × SAMPLES samples (1 per second, ending now) and returns
/// the last timestamp; every push must be acknowledged.
async fn write_history(cairn: &Cairn, tenant: &str) -> i64 {
    let end = now_ms();
    let start = end - (SAMPLES as i64 - 1) * 1000;
    for batch in 0..SAMPLES / 50 {
        let ts: Vec<(i64, f64)> = (batch * 50..(batch + 1) * 50)
            .map(|i| (start + i as i64 * 1000, i as f64))
            .collect();
        let all = (0..SERIES)
            .map(|s| series("durable", &[("series", &s.to_string())], &ts))
            .collect();
        let (status, body) = push(&cairn.url(), Some(tenant), all).await;
        assert_eq!(status, 200, "{body}");
    }
    end
}

/// Asserts every acknowledged sample is returned: count and sum per series.
async fn assert_history(cairn: &Cairn, tenant: &str, end: i64) {
    let at = end as f64 / 1000.0;
    let counts = vector(
        &cairn
            .query(tenant, "count_over_time(durable[10m])", at)
            .await,
    );
    assert_eq!(counts.len(), SERIES, "{}", cairn.log());
    assert!(
        counts.iter().all(|(_, v)| v == &SAMPLES.to_string()),
        "{counts:?}"
    );
    let sums = vector(&cairn.query(tenant, "sum_over_time(durable[10m])", at).await);
    let want = (0..SAMPLES).sum::<usize>().to_string();
    assert!(sums.iter().all(|(_, v)| v == &want), "{sums:?}");
}

#[tokio::test]
async fn acked_samples_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let end = write_history(&cairn, "team-a").await;
    let cairn = cairn.restart().await; // SIGKILL, then start on the same WAL
    assert_history(&cairn, "team-a", end).await;
    // Writing continues after replay without out-of-order errors for new samples.
    let (status, body) = push(
        &cairn.url(),
        Some("team-a"),
        vec![series("durable", &[("series", "0")], &[(end + 1000, 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn flushed_block_survives_losing_the_wal(dir: &Path, storage_yaml: &str) {
    let cairn = Cairn::start_with_storage(dir, storage_yaml, "").await;
    let end = write_history(&cairn, "team-a").await;
    cairn.flush().await;
    let mut cairn = cairn;
    cairn.kill9();
    std::fs::remove_dir_all(dir.join("wal")).unwrap();
    let cairn = Cairn::start_with_storage(dir, storage_yaml, "").await;
    assert_history(&cairn, "team-a", end).await;
    assert!(vector(&cairn.query("team-b", "durable", end as f64 / 1000.0).await).is_empty());
}

#[tokio::test]
async fn flushed_block_survives_losing_the_wal_on_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!(
        "storage:\n  backend: filesystem\n  filesystem:\n    dir: {}/bucket\n",
        dir.path().display()
    );
    flushed_block_survives_losing_the_wal(dir.path(), &storage).await;
    let blocks = dir.path().join("bucket/team-a/metrics/blocks");
    let uploaded: Vec<_> = std::fs::read_dir(&blocks).unwrap().collect();
    assert_eq!(uploaded.len(), 1, "one block under {}", blocks.display());
}

#[tokio::test]
async fn flushed_block_survives_losing_the_wal_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let weed = Seaweed::start(dir.path(), "cairn").await;
    let storage = format!(
        "storage:\n  backend: s3\n  s3:\n    endpoint: http://127.0.0.1:{}\n    bucket_name: cairn\n    insecure: true\n",
        weed.s3_port
    );
    flushed_block_survives_losing_the_wal(dir.path(), &storage).await;
}
