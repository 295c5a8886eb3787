//! Grafana and Prometheus tools treat `/prometheus` as a Prometheus:
//! metadata and exemplars sent by remote write come back through
//! `/api/v1/metadata` and `/api/v1/query_exemplars` of a real `cairn`
//! process, next to `/format_query`, `/status/buildinfo` and `stats`; a
//! real Prometheus is the reference for the shapes.

use std::time::Duration;

use distributor::remote_write::metric_metadata::MetricType;
use distributor::remote_write::{Exemplar, Label, MetricMetadata, WriteRequest, encode};
use serde_json::{Value, json};

use crate::support::peers::Prometheus;
use crate::support::remote_write::{now_ms, push_raw, series};
use crate::support::{Cairn, http, prometheus_api};

#[tokio::test]
async fn remote_written_metadata_and_exemplars_are_served_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let now = now_ms();
    let mut requests = series("http_requests_total", &[("job", "api")], &[(now, 3.0)]);
    requests.exemplars = vec![Exemplar {
        labels: vec![Label::new("trace_id", "4bf92f3577b34da6")],
        value: 3.0,
        timestamp: now,
    }];
    let req = WriteRequest {
        timeseries: vec![requests],
        metadata: vec![MetricMetadata {
            r#type: MetricType::Counter as i32,
            metric_family_name: "http_requests_total".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        }],
    };
    let (status, body) = push_raw(&cairn.url(), Some("team-a"), encode(&req).unwrap()).await;
    assert_eq!(status, 200, "{body}\n{}", cairn.log());

    let meta = prometheus_api(&cairn, "team-a", "metadata", &[]).await;
    assert_eq!(
        meta,
        json!({"status": "success", "data": {"http_requests_total": [
            {"type": "counter", "help": "Requests served.", "unit": ""}
        ]}})
    );

    // Acknowledged exemplars survive kill -9 (they are in the WAL).
    let cairn = cairn.restart().await;

    let (start, end) = (
        ((now - 60_000) as f64 / 1000.0).to_string(),
        ((now + 60_000) as f64 / 1000.0).to_string(),
    );
    let query = "sum(rate(http_requests_total[5m]))";
    let ex = prometheus_api(
        &cairn,
        "team-a",
        "query_exemplars",
        &[("query", query), ("start", &start), ("end", &end)],
    )
    .await;
    let series = &ex["data"][0];
    assert_eq!(
        series["seriesLabels"],
        json!({"__name__": "http_requests_total", "job": "api"}),
        "{ex}"
    );
    let exemplar = &series["exemplars"][0];
    assert_eq!(exemplar["labels"], json!({"trace_id": "4bf92f3577b34da6"}));
    assert_eq!(exemplar["value"], "3");
    // A JSON number of seconds, like Prometheus (integral when ms == 0).
    assert_eq!(exemplar["timestamp"].as_f64(), Some(now as f64 / 1000.0));

    // Nothing leaks to another tenant.
    let other = prometheus_api(&cairn, "team-b", "metadata", &[]).await;
    assert_eq!(other["data"], json!({}));
    let other = prometheus_api(&cairn, "team-b", "query_exemplars", &[("query", query)]).await;
    assert_eq!(other["data"], json!([]));

    let formatted = prometheus_api(
        &cairn,
        "team-a",
        "format_query",
        &[("query", "sum(rate(http_requests_total[5m]))by(job)")],
    )
    .await;
    assert_eq!(
        formatted["data"],
        "sum by (job) (rate(http_requests_total[5m]))"
    );
    let build = prometheus_api(&cairn, "team-a", "status/buildinfo", &[]).await;
    assert!(build["data"]["version"].is_string(), "{build}");

    let time = (now as f64 / 1000.0).to_string();
    let with_stats = prometheus_api(
        &cairn,
        "team-a",
        "query",
        &[
            ("query", "http_requests_total"),
            ("time", &time),
            ("stats", "all"),
        ],
    )
    .await;
    assert_eq!(
        with_stats["data"]["stats"]["samples"]["totalQueryableSamples"], 1,
        "{with_stats}"
    );
}

async fn prometheus_get(prom: &Prometheus, path: &str, params: &[(&str, &str)]) -> Value {
    http()
        .get(format!("{}/api/v1/{path}", prom.url()))
        .query(params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn metadata_and_format_query_match_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let prom = Prometheus::start(
        dir.path(),
        &format!("{}/api/v1/push", cairn.url()),
        "team-a",
    )
    .await;
    let metric = [("metric", "prometheus_http_requests_total")];

    // Prometheus ships metadata every second (peers.rs sets send_interval).
    let mut got = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        got = prometheus_api(&cairn, "team-a", "metadata", &metric).await;
        if got["data"].as_object().is_some_and(|d| !d.is_empty()) {
            break;
        }
    }
    let want = prometheus_get(&prom, "metadata", &metric).await;
    assert!(
        want["data"].as_object().is_some_and(|d| !d.is_empty()),
        "{want}"
    );
    assert_eq!(got, want, "log:\n{}", cairn.log());

    for query in [
        "sum(rate(prometheus_http_requests_total[5m]))by(handler)",
        "a + on(b) group_left(c) d",
        "rate(x[5m] offset 1h) > bool 0",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket{job=\"api\", code=~\"5..\"}[5m])))",
    ] {
        let q = [("query", query)];
        let want = prometheus_get(&prom, "format_query", &q).await;
        let got = prometheus_api(&cairn, "team-a", "format_query", &q).await;
        assert_eq!(got, want, "format_query {query}");
    }

    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v["data"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let want = prometheus_get(&prom, "status/buildinfo", &[]).await;
    let got = prometheus_api(&cairn, "team-a", "status/buildinfo", &[]).await;
    // Prometheus's keys, plus Mimir's `features` (Grafana's ruler check).
    let mut got_keys = keys(&got);
    got_keys.retain(|k| k != "features");
    assert_eq!(got_keys, keys(&want));
    assert_eq!(got["data"]["features"]["ruler_config_api"], "true");
}
