//! A bucket outage: with the S3 server (SeaweedFS) stopped — connections
//! refused — or frozen (SIGSTOP: connections accepted, nothing answers),
//! queries of recent data answer from the ingesters at once, queries that
//! need the bucket get a 503 naming it within the store's bounded wait,
//! and once the bucket is back everything answers again. For the
//! Prometheus, Loki and Tempo APIs.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::peers::Seaweed;
use crate::support::remote_write::{now_ms, push, series};
use crate::support::{Cairn, http, loki};

const TENANT: &str = "outage";
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
/// The store's bounded wait in these tests: connect and read timeouts of
/// 1 s, retries until 2 s after the first attempt.
const STORE_YAML: &str =
    "    connect_timeout: 1s\n    read_timeout: 1s\n    max_retries: 2\n    retry_timeout: 2s\n";
/// What a query that needs the unavailable bucket may take at most: the
/// bounded wait above (about 3 s) with room for a slow machine.
const BOUND: Duration = Duration::from_secs(10);
/// What a query the ingesters answer alone may take at most.
const QUICK: Duration = Duration::from_secs(3);

/// How the bucket goes away.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// Killed: connections refused.
    Stopped,
    /// SIGSTOPped: connections accepted, never answered.
    Frozen,
}

/// Status, body and how long a GET as [`TENANT`] took.
async fn get(cairn: &Cairn, path_and_query: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let r = http()
        .get(format!("{}{path_and_query}", cairn.url()))
        .header("X-Scope-OrgID", TENANT)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (status, body, started.elapsed())
}

/// The data every check reads: a recent and an hour-old metrics sample,
/// recent log lines and a recent trace. Returns "now" in seconds.
async fn write_data(cairn: &Cairn) -> i64 {
    let now = now_ms();
    let recent: Vec<(i64, f64)> = (0..6).map(|i| (now - 50_000 + i * 10_000, 1.0)).collect();
    let (status, body) = push(
        &cairn.url(),
        Some(TENANT),
        vec![series("outage_probe", &[("age", "recent")], &recent)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A second before the old query's evaluation time (whole seconds).
    let old = vec![((now / 1000 - 3600) * 1000 - 1000, 7.0)];
    let (status, body) = push(
        &cairn.url(),
        Some(TENANT),
        vec![series("outage_probe", &[("age", "old")], &old)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let now_ns = now * 1_000_000;
    let lines: Vec<(i64, String)> = (0..3)
        .map(|i| (now_ns - i * 1_000_000_000, format!("recent line {i}")))
        .collect();
    let (status, body) = loki::push(
        &cairn.url(),
        TENANT,
        vec![loki::stream(r#"{app="outage"}"#, &lines)],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let span = serde_json::json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeSpans": [{"spans": [{"traceId": TRACE_ID,
        "spanId": "b7ad6b7169203331", "name": "GET /cart", "kind": 2,
        "startTimeUnixNano": (now_ns - 2_000_000_000).to_string(),
        "endTimeUnixNano": (now_ns - 1_000_000_000).to_string()}]}]}]});
    let r = http()
        .post(format!("{}/v1/traces", cairn.url()))
        .header("X-Scope-OrgID", TENANT)
        .json(&span)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    now / 1000
}

/// The queries of the scenario, each as a path and query string.
struct Queries {
    /// PromQL over the last minute: the ingesters hold all of it.
    recent_promql: String,
    /// PromQL an hour ago: only the bucket may hold it.
    old_promql: String,
    /// LogQL over the last minute.
    recent_logql: String,
    /// LogQL over an hour two hours ago.
    old_logql: String,
    /// The recent trace by ID.
    trace: String,
    /// Tempo search of the last minute.
    recent_search: String,
    /// Tempo search of all time (the bucket included).
    all_search: String,
}

impl Queries {
    fn at(now: i64) -> Self {
        let hour_ago = now - 3600;
        Self {
            recent_promql: format!(
                "/prometheus/api/v1/query_range?query=outage_probe&start={}&end={now}&step=10",
                now - 60
            ),
            old_promql: format!("/prometheus/api/v1/query?query=outage_probe&time={hour_ago}"),
            recent_logql: format!(
                "/loki/api/v1/query_range?query=%7Bapp%3D%22outage%22%7D&start={}&end={}",
                now - 60,
                now + 1
            ),
            old_logql: format!(
                "/loki/api/v1/query_range?query=%7Bapp%3D%22outage%22%7D&start={}&end={hour_ago}",
                now - 7200
            ),
            trace: format!("/api/traces/{TRACE_ID}"),
            recent_search: format!(
                "/api/search?tags=service.name%3Dcheckout&start={}&end={}",
                now - 60,
                now + 1
            ),
            all_search: "/api/search?tags=service.name%3Dcheckout".to_string(),
        }
    }
}

/// Asserts a 200 within `within` whose body holds `want`; returns the time.
async fn answers(cairn: &Cairn, what: &str, q: &str, want: &str, within: Duration) -> Duration {
    let (status, body, took) = get(cairn, q).await;
    assert_eq!(status, 200, "{what}: {body}\n{}", cairn.log());
    assert!(body.contains(want), "{what}: {want:?} missing from {body}");
    assert!(took < within, "{what} took {took:?}");
    took
}

/// Asserts a 503 naming the store within [`BOUND`]; returns the time.
async fn store_unavailable(cairn: &Cairn, what: &str, q: &str) -> Duration {
    let (status, body, took) = get(cairn, q).await;
    assert_eq!(status, 503, "{what}: {body}");
    assert!(
        body.contains("err-cairn-store-unavailable") && body.contains("storage.s3.endpoint"),
        "{what}: {body}"
    );
    assert!(took < BOUND, "{what} took {took:?}");
    took
}

/// The PromQL answer's series count.
fn series_count(body: &str) -> usize {
    let v: Value = serde_json::from_str(body).unwrap();
    v["data"]["result"].as_array().map_or(0, Vec::len)
}

async fn survives(outage: Outage) {
    let dir = tempfile::tempdir().unwrap();
    let mut weed = Seaweed::start(dir.path(), "cairn").await;
    let storage = format!(
        "storage:\n  backend: s3\n  s3:\n    endpoint: http://127.0.0.1:{}\n    bucket_name: cairn\n    insecure: true\n{STORE_YAML}",
        weed.s3_port
    );
    // The block list is not cached, as if the outage had outlasted it.
    let cairn = Cairn::start_with_storage(
        dir.path(),
        &storage,
        "  trace_idle_period: 1s\nquerier:\n  blocks:\n    block_list_ttl: 0s\n",
    )
    .await;
    let now = write_data(&cairn).await;
    let q = Queries::at(now);

    // With the bucket up, every query answers.
    answers(&cairn, "recent PromQL", &q.recent_promql, "recent", QUICK).await;
    answers(&cairn, "old PromQL", &q.old_promql, "\"7\"", BOUND).await;
    answers(
        &cairn,
        "recent LogQL",
        &q.recent_logql,
        "recent line 2",
        QUICK,
    )
    .await;
    answers(&cairn, "trace by ID", &q.trace, "GET /cart", QUICK).await;
    answers(&cairn, "all-time search", &q.all_search, TRACE_ID, BOUND).await;

    match outage {
        Outage::Stopped => weed.stop(),
        Outage::Frozen => weed.freeze(),
    }
    let mut took = Vec::new();
    took.push((
        "recent PromQL",
        answers(&cairn, "recent PromQL", &q.recent_promql, "recent", QUICK).await,
    ));
    let (_, body, _) = get(&cairn, &q.recent_promql).await;
    assert_eq!(series_count(&body), 1, "only the recent series: {body}");
    took.push((
        "old PromQL",
        store_unavailable(&cairn, "old PromQL", &q.old_promql).await,
    ));
    took.push((
        "recent LogQL",
        answers(
            &cairn,
            "recent LogQL",
            &q.recent_logql,
            "recent line 2",
            QUICK,
        )
        .await,
    ));
    took.push((
        "old LogQL",
        store_unavailable(&cairn, "old LogQL", &q.old_logql).await,
    ));
    took.push((
        "recent search",
        answers(&cairn, "recent search", &q.recent_search, TRACE_ID, QUICK).await,
    ));
    took.push((
        "all-time search",
        store_unavailable(&cairn, "all-time search", &q.all_search).await,
    ));
    // By ID, the bucket is asked too (within its bounded wait); the trace
    // began within query_store_after, so the ingesters hold all of it.
    took.push((
        "trace by ID",
        answers(&cairn, "trace by ID", &q.trace, "GET /cart", BOUND).await,
    ));
    eprintln!("{outage:?} bucket: {took:?}");

    match outage {
        Outage::Stopped => weed.restart().await,
        Outage::Frozen => weed.thaw(),
    }
    // Back: the bucket answers again without restarting Cairn.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body, _) = get(&cairn, &q.old_promql).await;
        if status == 200 {
            assert!(body.contains("\"7\""), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bucket back, still {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    answers(&cairn, "old LogQL", &q.old_logql, "\"result\"", BOUND).await;
    answers(&cairn, "all-time search", &q.all_search, TRACE_ID, BOUND).await;
    answers(&cairn, "recent PromQL", &q.recent_promql, "recent", QUICK).await;
}

#[tokio::test]
async fn a_stopped_bucket_leaves_recent_queries_answered_and_old_ones_503_naming_it() {
    survives(Outage::Stopped).await;
}

#[tokio::test]
async fn a_frozen_bucket_leaves_recent_queries_answered_and_old_ones_503_naming_it() {
    survives(Outage::Frozen).await;
}
