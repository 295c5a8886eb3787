//! Grafana and Prometheus tools treat `/prometheus` as a Prometheus:
//! metadata and exemplars sent by remote write come back through
//! `/api/v1/metadata` and `/api/v1/query_exemplars` of a real `cairn`
//! process, next to `/format_query`, `/status/buildinfo` and `stats`.

use distributor::remote_write::metric_metadata::MetricType;
use distributor::remote_write::{Exemplar, Label, MetricMetadata, WriteRequest, encode};
use serde_json::{Value, json};

use crate::support::remote_write::{now_ms, push_raw, series};
use crate::support::{Cairn, http};

async fn get(cairn: &Cairn, tenant: &str, path: &str, params: &[(&str, &str)]) -> Value {
    let r = http()
        .get(format!("{}/prometheus/api/v1/{path}", cairn.url()))
        .header("X-Scope-OrgID", tenant)
        .query(params)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

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

    let meta = get(&cairn, "team-a", "metadata", &[]).await;
    assert_eq!(
        meta,
        json!({"status": "success", "data": {"http_requests_total": [
            {"type": "counter", "help": "Requests served.", "unit": ""}
        ]}})
    );

    let (start, end) = (
        ((now - 60_000) as f64 / 1000.0).to_string(),
        ((now + 60_000) as f64 / 1000.0).to_string(),
    );
    let query = "sum(rate(http_requests_total[5m]))";
    let ex = get(
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
    let other = get(&cairn, "team-b", "metadata", &[]).await;
    assert_eq!(other["data"], json!({}));
    let other = get(&cairn, "team-b", "query_exemplars", &[("query", query)]).await;
    assert_eq!(other["data"], json!([]));

    let formatted = get(
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
    let build = get(&cairn, "team-a", "status/buildinfo", &[]).await;
    assert!(build["data"]["version"].is_string(), "{build}");

    let time = (now as f64 / 1000.0).to_string();
    let with_stats = get(
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
