//! A real Prometheus remote-writes into Cairn; PromQL answers through Cairn
//! match the same queries against that Prometheus at the same timestamps.

use std::time::Duration;

use serde_json::Value;

use crate::support::peers::Prometheus;
use crate::support::{Cairn, vector};

async fn prometheus_query(prom: &Prometheus, query: &str, time: f64) -> Value {
    let r = crate::support::http()
        .get(format!("{}/api/v1/query", prom.url()))
        .query(&[("query", query), ("time", &time.to_string())])
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn range(base: &str, tenant: Option<&str>, query: &str, start: f64, end: f64) -> Value {
    let mut req = crate::support::http()
        .get(format!("{base}/api/v1/query_range"))
        .query(&[
            ("query", query),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("step", "1"),
        ]);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn remote_written_data_matches_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let prom = Prometheus::start(
        dir.path(),
        &format!("{}/api/v1/push", cairn.url()),
        "team-a",
    )
    .await;

    // Let Prometheus scrape itself for a while and ship it.
    let mut ready = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        if vector(&cairn.query("team-a", "count_over_time(up[1m])", now).await)
            .first()
            .is_some_and(|(_, v)| v.parse::<f64>().unwrap_or(0.0) >= 15.0)
        {
            ready = true;
            break;
        }
    }
    assert!(
        ready,
        "Cairn did not receive 15 scrapes within 60s; log:\n{}",
        cairn.log()
    );

    // Compare at a timestamp a few seconds back, after waiting for it to be shipped.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let at = (now - 3.0).floor();
    tokio::time::sleep(Duration::from_secs(4)).await;
    for query in [
        "up",
        "prometheus_tsdb_head_series",
        "rate(prometheus_http_requests_total[10s])",
    ] {
        let want = vector(&prometheus_query(&prom, query, at).await);
        let got = vector(&cairn.query("team-a", query, at).await);
        assert!(!want.is_empty(), "{query}: Prometheus returned nothing");
        assert_eq!(got, want, "{query} at {at}");
    }
    let want = range(
        &prom.url(),
        None,
        "prometheus_tsdb_head_series",
        at - 10.0,
        at,
    )
    .await;
    let got = range(
        &format!("{}/prometheus", cairn.url()),
        Some("team-a"),
        "prometheus_tsdb_head_series",
        at - 10.0,
        at,
    )
    .await;
    assert_eq!(got["data"], want["data"], "query_range over the last 10s");
    // Nobody else sees it.
    assert!(vector(&cairn.query("team-b", "up", at).await).is_empty());
}
