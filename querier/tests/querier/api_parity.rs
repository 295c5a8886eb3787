//! The endpoints Grafana and Prometheus tools expect beyond queries:
//! `/metadata`, `/query_exemplars`, `/format_query`, `/status/buildinfo`,
//! the `stats` and `limit` parameters, `match[]` on label lookups and POST
//! form bodies everywhere.

use common::exemplar::{Exemplar, SeriesExemplars};
use common::labels::Labels;
use common::limits::Limits;
use common::metadata::{MetricMetadata, MetricType};
use common::series::Sample;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Server, client, start_server};

const T: i64 = 1_700_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn meta(family: &str, t: MetricType, help: &str) -> MetricMetadata {
    MetricMetadata {
        family: family.into(),
        metric_type: t,
        help: help.into(),
        unit: String::new(),
    }
}

fn exemplar(trace: &str, value: f64, t: i64) -> Exemplar {
    Exemplar {
        labels: labels(&[("trace_id", trace)]),
        value,
        timestamp: t,
    }
}

async fn server() -> Server {
    let server = start_server(Limits::default()).await;
    let s = &server.store;
    for (job, v) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
        s.add(
            "team-a",
            labels(&[("__name__", "up"), ("job", job)]),
            vec![Sample { t: T, v }],
        );
    }
    s.add(
        "team-a",
        labels(&[("__name__", "http_requests_total"), ("job", "a")]),
        vec![Sample { t: T, v: 5.0 }],
    );
    s.add_metadata(
        "team-a",
        meta("http_requests_total", MetricType::Counter, "Requests."),
    );
    s.add_metadata("team-a", meta("up", MetricType::Gauge, "Up."));
    s.add_metadata("team-b", meta("secret", MetricType::Gauge, "B only."));
    s.add_exemplars(
        "team-a",
        SeriesExemplars {
            series: labels(&[("__name__", "http_requests_total"), ("job", "a")]),
            exemplars: vec![exemplar("abc", 6.0, T - 1000), exemplar("def", 7.5, T)],
        },
    );
    server
}

async fn get(server: &Server, tenant: &str, path_and_query: &str) -> (StatusCode, String) {
    let resp = client()
        .get(format!("{}{path_and_query}", server.base))
        .header("X-Scope-OrgID", tenant)
        .send()
        .await
        .expect("request");
    (resp.status(), resp.text().await.expect("body"))
}

async fn post_form(server: &Server, tenant: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let resp = client()
        .post(format!("{}{path}", server.base))
        .header("X-Scope-OrgID", tenant)
        .form(form)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK, "POST {path}");
    resp.json().await.expect("JSON body")
}

#[tokio::test]
async fn metadata_has_prometheus_shape_and_honours_metric_and_limit() {
    let server = server().await;
    let (status, body) = get(&server, "team-a", "/prometheus/api/v1/metadata").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"http_requests_total":[{"type":"counter","help":"Requests.","unit":""}],"up":[{"type":"gauge","help":"Up.","unit":""}]}}"#
    );
    let (_, body) = get(&server, "team-a", "/prometheus/api/v1/metadata?metric=up").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"up":[{"type":"gauge","help":"Up.","unit":""}]}}"#
    );
    let (_, body) = get(&server, "team-a", "/prometheus/api/v1/metadata?limit=1").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_object().unwrap().len(), 1);
    let (status, body) = get(&server, "team-a", "/prometheus/api/v1/metadata?limit=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("limit must be a number"), "{body}");
}

#[tokio::test]
async fn tenant_b_never_sees_tenant_a_metadata_or_exemplars() {
    let server = server().await;
    let (_, body) = get(&server, "team-b", "/prometheus/api/v1/metadata").await;
    assert!(!body.contains("http_requests_total") && body.contains("secret"));
    let (_, body) = get(
        &server,
        "team-b",
        "/prometheus/api/v1/query_exemplars?query=http_requests_total",
    )
    .await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
}

#[tokio::test]
async fn exemplars_are_selected_by_the_query_and_time_range() {
    let server = server().await;
    let (status, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/query_exemplars?query=sum(rate(http_requests_total%5B5m%5D))&start=1699999990&end=1700000001",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"http_requests_total","job":"a"},"exemplars":[{"labels":{"trace_id":"abc"},"value":"6","timestamp":1699999999},{"labels":{"trace_id":"def"},"value":"7.5","timestamp":1700000000}]}]}"#
    );
    let v = post_form(
        &server,
        "team-a",
        "/prometheus/api/v1/query_exemplars",
        &[
            ("query", "http_requests_total"),
            ("start", "1700000000"),
            ("end", "1700000001"),
        ],
    )
    .await;
    assert_eq!(v["data"][0]["exemplars"].as_array().unwrap().len(), 1);
    // Like Prometheus: a query without selectors gets 204 and no body.
    let (status, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/query_exemplars?query=1",
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (status, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/query_exemplars?query=up&start=2&end=1",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("bad_data"), "{body}");
}

#[tokio::test]
async fn several_tenants_label_exemplar_series() {
    let server = server().await;
    let (_, body) = get(
        &server,
        "team-a|team-b",
        "/prometheus/api/v1/query_exemplars?query=http_requests_total",
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"][0]["seriesLabels"]["__tenant_id__"], "team-a");
}

#[tokio::test]
async fn format_query_pretty_prints_and_rejects_bad_queries() {
    let server = server().await;
    let (status, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/format_query?query=sum%20by(job)(rate(up%5B5m%5D))",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":"sum by (job) (rate(up[5m]))"}"#
    );
    let (status, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/format_query?query=sum(",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#""errorType":"bad_data""#), "{body}");
}

#[tokio::test]
async fn buildinfo_names_the_version() {
    let server = server().await;
    let (status, body) = get(&server, "team-a", "/prometheus/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][k].is_string(), "{k} in {body}");
    }
    // Grafana offers rule editing when Mimir's feature flag says so.
    assert_eq!(v["data"]["features"]["ruler_config_api"], "true", "{body}");
}

#[tokio::test]
async fn stats_all_reports_timings_and_samples() {
    let server = server().await;
    let v = post_form(
        &server,
        "team-a",
        "/prometheus/api/v1/query",
        &[("query", "up"), ("time", "1700000000"), ("stats", "all")],
    )
    .await;
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 3);
    let stats = &v["data"]["stats"];
    assert!(stats["timings"]["evalTotalTime"].is_number(), "{v}");
    assert!(stats["timings"]["execTotalTime"].is_number(), "{v}");
    assert_eq!(stats["samples"]["totalQueryableSamples"], 3);
    assert_eq!(stats["samples"]["peakSamples"], 3);

    let v = post_form(
        &server,
        "team-a",
        "/prometheus/api/v1/query_range",
        &[
            ("query", "up"),
            ("start", "1700000000"),
            ("end", "1700000060"),
            ("step", "30"),
            ("stats", "all"),
        ],
    )
    .await;
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(v["data"]["stats"]["samples"]["peakSamples"], 9);

    let (_, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/query?query=up&time=1700000000",
    )
    .await;
    assert!(!body.contains("stats"), "{body}");
}

#[tokio::test]
async fn limit_truncates_with_prometheus_warning() {
    let server = server().await;
    let warning = json!(["results truncated due to limit"]);
    let (_, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/series?match[]=up&limit=2",
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["warnings"], warning);

    let (_, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/label/job/values?limit=1",
    )
    .await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["a"],"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = get(&server, "team-a", "/prometheus/api/v1/labels?limit=1").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["warnings"], warning);

    let (_, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/label/job/values?limit=3",
    )
    .await;
    assert_eq!(body, r#"{"status":"success","data":["a","b","c"]}"#);
    let (status, _) = get(&server, "team-a", "/prometheus/api/v1/labels?limit=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn match_selects_label_names_and_values_also_by_post() {
    let server = server().await;
    let (_, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/label/__name__/values?match[]=%7Bjob%3D%22b%22%7D",
    )
    .await;
    assert_eq!(body, r#"{"status":"success","data":["up"]}"#);
    let v = post_form(
        &server,
        "team-a",
        "/prometheus/api/v1/label/job/values",
        &[("match[]", "http_requests_total")],
    )
    .await;
    assert_eq!(v["data"], json!(["a"]));
    let v = post_form(
        &server,
        "team-a",
        "/prometheus/api/v1/labels",
        &[("match[]", "http_requests_total"), ("match[]", "up")],
    )
    .await;
    assert_eq!(v["data"], json!(["__name__", "job"]));
    let v = post_form(
        &server,
        "team-a",
        "/prometheus/api/v1/metadata",
        &[("metric", "up")],
    )
    .await;
    assert_eq!(v["data"]["up"][0]["type"], "gauge");
}

#[tokio::test]
async fn timeout_parameter_is_parsed() {
    let server = server().await;
    let (status, _) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/query?query=up&time=1700000000&timeout=5s",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(
        &server,
        "team-a",
        "/prometheus/api/v1/query?query=up&time=1700000000&timeout=soon",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("timeout"), "{body}");
}
