//! Durability: acknowledged samples survive `kill -9` (WAL replay),
//! flushed blocks serve queries with the WAL gone — on the filesystem and on
//! a real S3 server — and SIGTERM or `POST /ingester/shutdown` flushes
//! everything and exits 0.

use std::path::Path;
use std::time::Duration;

use crate::support::peers::Seaweed;
use crate::support::remote_write::{now_ms, push, series};
use crate::support::{Cairn, http, loki, vector};

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

/// Complete blocks of `signal` in the bucket of `tenant` (those with `meta.json`).
fn blocks(dir: &Path, tenant: &str, signal: &str) -> usize {
    std::fs::read_dir(dir.join("bucket").join(tenant).join(signal).join("blocks"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().join("meta.json").exists())
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn sigterm_flushes_every_signal_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut cairn = Cairn::start(dir.path(), "").await;
    let end = write_history(&cairn, "team-a").await;
    let now_ns = end * 1_000_000;
    let lines: Vec<(i64, String)> = (0..10).map(|i| (now_ns - i, format!("line {i}"))).collect();
    let (status, body) = loki::push(
        &cairn.url(),
        "team-a",
        vec![loki::stream(r#"{app="api"}"#, &lines)],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let span = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331", "name": "GET /", "kind": 2,
        "startTimeUnixNano": (now_ns - 1_000_000).to_string(), "endTimeUnixNano": now_ns.to_string()}]}]}]});
    let r = http()
        .post(format!("{}/v1/traces", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .json(&span)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let status = cairn.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status:?}\n{}", cairn.log());
    for signal in ["metrics", "logs", "traces"] {
        assert_eq!(
            blocks(dir.path(), "team-a", signal),
            1,
            "{signal}\n{}",
            cairn.log()
        );
    }
    // Everything is in the bucket: with the WAL gone, every item is read
    // back exactly once.
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let cairn = cairn.relaunch().await;
    assert_history(&cairn, "team-a", end).await;
    let r = http()
        .get(format!("{}/loki/api/v1/query_range", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .query(&[
            ("query", r#"{app="api"}"#.to_string()),
            ("start", (now_ns - 60_000_000_000).to_string()),
            ("end", (now_ns + 1).to_string()),
        ])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    let values = body["data"]["result"][0]["values"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(values, 10, "{body}");
    let r = http()
        .get(format!(
            "{}/api/traces/0af7651916cd43dd8448eb211c80319c",
            cairn.url()
        ))
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", cairn.log());
    let trace: serde_json::Value = r.json().await.unwrap();
    let spans: usize = trace["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["scopeSpans"].as_array().into_iter().flatten())
        .map(|s| s["spans"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(spans, 1, "{trace}");
}

#[tokio::test]
async fn ingester_shutdown_flushes_answers_then_stops_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut cairn = Cairn::start(dir.path(), "").await;
    let end = write_history(&cairn, "team-a").await;
    let r = http()
        .post(format!("{}/ingester/shutdown", cairn.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["uploaded_blocks"].as_array().map_or(0, Vec::len),
        1,
        "{body}"
    );
    assert_eq!(blocks(dir.path(), "team-a", "metrics"), 1);
    let status = cairn.wait_exit(Duration::from_secs(40));
    assert!(status.success(), "exit {status:?}\n{}", cairn.log());
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    let cairn = cairn.relaunch().await;
    assert_history(&cairn, "team-a", end).await;
}
