//! Per-tenant limits: 429s naming the limit, no effect on other tenants,
//! runtime overrides applied without a restart.

use std::time::{Duration, Instant};

use crate::support::Cairn;
use crate::support::remote_write::{now_ms, push, series};

fn overrides(path: &std::path::Path, slow_rate: u32) {
    std::fs::write(
        path,
        format!(
            "overrides:\n  team-slow:\n    ingestion_rate: {slow_rate}\n    ingestion_burst_size: {slow_rate}\n\
             \x20 team-few:\n    max_global_series_per_user: 3\n"
        ),
    )
    .unwrap();
}

/// Starts Cairn with a runtime overrides file (team-slow at 10 samples/s,
/// team-few at 3 series); returns the server and the file's path.
async fn start_with_overrides(dir: &std::path::Path) -> (Cairn, std::path::PathBuf) {
    let file = dir.join("overrides.yaml");
    overrides(&file, 10);
    let cairn = Cairn::start(
        dir,
        &format!("runtime_config:\n  file: {}\n", file.display()),
    )
    .await;
    (cairn, file)
}

fn batch(name: &str, n: usize, t: i64) -> Vec<distributor::remote_write::TimeSeries> {
    (0..n)
        .map(|i| series(name, &[("i", &i.to_string())], &[(t, i as f64)]))
        .collect()
}

#[tokio::test]
async fn over_rate_gets_429_naming_the_limit_while_another_tenant_writes_at_full_speed() {
    let dir = tempfile::tempdir().unwrap();
    let (cairn, _) = start_with_overrides(dir.path()).await;
    let t = now_ms();
    let (status, body) = push(&cairn.url(), Some("team-slow"), batch("m", 100, t)).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("ingestion_rate"), "{body}");
    for i in 0..50 {
        let (status, body) = push(&cairn.url(), Some("team-fast"), batch("m", 1000, t + i)).await;
        assert_eq!(status, 200, "team-fast request {i}: {body}");
    }
    let metrics = crate::support::metrics_page(&cairn.url()).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cairn_discarded_samples_total")
                && l.contains("team-slow")
                && l.contains("rate-limited")),
        "{metrics}"
    );
}

#[tokio::test]
async fn over_series_gets_429_naming_the_limit_and_existing_series_still_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (cairn, _) = start_with_overrides(dir.path()).await;
    let t = now_ms();
    let (status, body) = push(&cairn.url(), Some("team-few"), batch("m", 5, t)).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("max_global_series_per_user"), "{body}");
    let (status, body) = push(&cairn.url(), Some("team-few"), batch("m", 3, t + 1000)).await;
    assert_eq!(
        status, 200,
        "existing series must still be accepted: {body}"
    );
}

#[tokio::test]
async fn runtime_overrides_take_effect_within_15s_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cairn, file) = start_with_overrides(dir.path()).await;
    let t = now_ms();
    let (status, _) = push(&cairn.url(), Some("team-slow"), batch("m", 100, t)).await;
    assert_eq!(status, 429);
    overrides(&file, 100_000);
    let changed = Instant::now();
    let mut i = 0;
    loop {
        i += 1;
        let (status, body) = push(&cairn.url(), Some("team-slow"), batch("m", 100, t + i)).await;
        if status == 200 {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(15),
            "override not applied after 15s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs `query` over the last 10 minutes as `tenant`; status and body.
async fn range_query(cairn: &Cairn, tenant: &str, query: &str) -> (u16, String) {
    let end = now_ms() / 1000;
    let r = crate::support::http()
        .get(format!("{}/prometheus/api/v1/query_range", cairn.url()))
        .header("X-Scope-OrgID", tenant)
        .query(&[
            ("query", query.to_string()),
            ("start", (end - 600).to_string()),
            ("end", end.to_string()),
            ("step", "1".to_string()),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn memory_limits_refuse_work_and_the_process_stays_alive() {
    let dir = tempfile::tempdir().unwrap();
    // Per query: at most 1000 samples in memory.
    let cairn = Cairn::start(dir.path(), "querier:\n  max_samples: 1000\n").await;
    let t = now_ms();
    let many: Vec<_> = (0..50)
        .map(|i| {
            let samples: Vec<(i64, f64)> =
                (0..60).map(|k| (t - k * 1000, k as f64)).rev().collect();
            series("wide", &[("i", &i.to_string())], &samples)
        })
        .collect();
    let (status, body) = push(&cairn.url(), Some("team-a"), many).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = range_query(&cairn, "team-a", "wide").await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("max_samples") || body.contains("samples"),
        "{body}"
    );
    let (status, body) = range_query(&cairn, "team-a", "sum(wide)").await;
    assert_eq!(status, 200, "a query within the limit still runs: {body}");
    drop(cairn);

    // Ingester: resident memory above 1 MiB (always) refuses every push.
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "  max_memory_bytes: 1048576\n").await;
    let (status, body) = push(
        &cairn.url(),
        Some("team-a"),
        vec![series("m", &[], &[(t, 1.0)])],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ingester.max_memory_bytes"), "{body}");
    let (status, body) = crate::support::loki::push(
        &cairn.url(),
        "team-a",
        vec![crate::support::loki::stream(
            r#"{app="a"}"#,
            &[(t * 1_000_000, "x".into())],
        )],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let r = crate::support::http()
        .post(format!("{}/v1/traces", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .json(&serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0000000000000001", "name": "s",
            "startTimeUnixNano": (t * 1_000_000).to_string(),
            "endTimeUnixNano": (t * 1_000_000 + 1000).to_string()}]}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503, "{}", r.text().await.unwrap());
    // Still serving: ready, queries answer, the refusals are counted.
    let (status, _) = range_query(&cairn, "team-a", "up").await;
    assert_eq!(status, 200);
    let metrics = crate::support::metrics_page(&cairn.url()).await;
    assert!(
        metrics.contains(r#"cairn_ingester_memory_limited_pushes_total{tenant="team-a"} 3"#),
        "{metrics}"
    );
}
