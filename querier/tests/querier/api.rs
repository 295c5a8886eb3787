//! The Prometheus HTTP API over a real socket: response shapes byte for
//! byte, error types and statuses, tenancy.

use common::labels::Labels;
use common::limits::Limits;
use common::series::Sample;
use reqwest::StatusCode;

use crate::support::{Server, client, start_server};

const T: i64 = 1_700_000_000_000;

async fn server_with_data() -> Server {
    let server = start_server(Limits::default()).await;
    let s = &server.store;
    s.add(
        "team-a",
        Labels::from_pairs([("__name__", "up"), ("job", "a")]),
        vec![
            Sample {
                t: T - 60_000,
                v: 0.0,
            },
            Sample { t: T, v: 1.0 },
        ],
    );
    s.add(
        "team-a",
        Labels::from_pairs([("__name__", "up"), ("job", "b")]),
        vec![Sample { t: T, v: 0.5 }],
    );
    s.add(
        "team-b",
        Labels::from_pairs([("__name__", "up"), ("job", "a")]),
        vec![Sample { t: T, v: 7.0 }],
    );
    server
}

async fn get(server: &Server, tenant: Option<&str>, path_and_query: &str) -> (StatusCode, String) {
    let mut req = client().get(format!("{}{path_and_query}", server.base));
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req.send().await.expect("request");
    (resp.status(), resp.text().await.expect("body"))
}

#[tokio::test]
async fn instant_query_has_prometheus_vector_shape() {
    let server = server_with_data().await;
    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=up%7Bjob%3D%22a%22%7D&time=1700000000.123",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000.123,"1"]}]}}"#
    );
}

#[tokio::test]
async fn scalar_and_string_results_use_go_float_text() {
    let server = server_with_data().await;
    let (_, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=1%2F0&time=1700000000",
    )
    .await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"+Inf"]}}"#
    );
    let (_, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=0.0000001&time=2023-11-14T22:13:20Z",
    )
    .await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1e-07"]}}"#
    );
    let (_, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=%22hi%22&time=1700000000.5",
    )
    .await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"string","result":[1700000000.500,"hi"]}}"#
    );
}

#[tokio::test]
async fn range_query_by_post_form_returns_matrix() {
    let server = server_with_data().await;
    let resp = client()
        .post(format!("{}/prometheus/api/v1/query_range", server.base))
        .header("X-Scope-OrgID", "team-a")
        .form(&[
            ("query", "up{job=\"a\"}"),
            ("start", "1699999940"),
            ("end", "1700000000"),
            ("step", "1m"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.text().await.unwrap(),
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a"},"values":[[1699999940,"0"],[1700000000,"1"]]}]}}"#
    );
}

#[tokio::test]
async fn bad_requests_get_bad_data_and_eval_errors_get_execution() {
    let server = server_with_data().await;
    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=sum(",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with(
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": "#
        ),
        "{body}"
    );

    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query_range?query=up&start=0&end=100000&step=1",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("exceeded maximum resolution of 11,000 points"),
        "{body}"
    );

    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query_range?query=up&start=10&end=0&step=1",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Both `up` series match `vector(1)` on no labels: many-to-many.
    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=vector(1)%2Bon()%20up&time=1700000000",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#""errorType":"execution""#), "{body}");
}

#[tokio::test]
async fn missing_tenant_is_401_and_invalid_tenant_is_400() {
    let server = server_with_data().await;
    let (status, _) = get(&server, None, "/prometheus/api/v1/query?query=up").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&server, Some("../etc"), "/prometheus/api/v1/query?query=up").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn several_tenants_are_queried_and_labelled() {
    let server = server_with_data().await;
    let (status, body) = get(
        &server,
        Some("team-b|team-a"),
        "/prometheus/api/v1/query?query=sum%20by%20(__tenant_id__)%20(up)&time=1700000000",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut got: Vec<(String, String)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["__tenant_id__"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("team-a".into(), "1.5".into()),
            ("team-b".into(), "7".into())
        ]
    );
}

#[tokio::test]
async fn tenant_b_never_sees_tenant_a() {
    let server = server_with_data().await;
    let (_, body) = get(
        &server,
        Some("team-b"),
        "/prometheus/api/v1/query?query=up&time=1700000000",
    )
    .await;
    assert!(!body.contains(r#""job":"b""#), "{body}");
}

#[tokio::test]
async fn fetched_series_limit_is_named_in_the_error() {
    let server = start_server(Limits {
        max_fetched_series_per_query: 1,
        ..Limits::default()
    })
    .await;
    for job in ["a", "b"] {
        server.store.add(
            "team-a",
            Labels::from_pairs([("__name__", "up"), ("job", job)]),
            vec![Sample { t: T, v: 1.0 }],
        );
    }
    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=up&time=1700000000",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("max_fetched_series_per_query"), "{body}");
}

#[tokio::test]
async fn series_labels_and_label_values() {
    let server = server_with_data().await;
    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/series?match[]=up%7Bjob%3D%22b%22%7D",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"up","job":"b"}]}"#
    );

    let (status, _) = get(&server, Some("team-a"), "/prometheus/api/v1/series").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, body) = get(&server, Some("team-a"), "/prometheus/api/v1/labels").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","job"]}"#);

    let (_, body) = get(
        &server,
        Some("team-a|team-b"),
        "/prometheus/api/v1/label/job/values",
    )
    .await;
    assert_eq!(body, r#"{"status":"success","data":["a","b"]}"#);

    let (_, body) = get(
        &server,
        Some("team-a|team-b"),
        "/prometheus/api/v1/label/__tenant_id__/values",
    )
    .await;
    assert_eq!(body, r#"{"status":"success","data":["team-a","team-b"]}"#);
}

#[tokio::test]
async fn native_histograms_and_annotations_have_prometheus_json_shape() {
    use common::histogram::{FloatHistogram, HistogramSample, Span};
    let server = server_with_data().await;
    let h = FloatHistogram {
        count: 3.0,
        sum: 4.0,
        positive_spans: vec![Span {
            offset: 1,
            length: 1,
        }],
        positive_buckets: vec![3.0],
        ..FloatHistogram::default()
    };
    server.store.add_histograms(
        "team-a",
        Labels::from_pairs([("__name__", "latency")]),
        vec![HistogramSample {
            t: T,
            h: std::sync::Arc::new(h),
        }],
    );
    let (status, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=latency&time=1700000000",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"latency"},"histogram":[1700000000,{"count":"3","sum":"4","buckets":[[0,"1","2","3"]]}]}]}}"#
    );
    let (_, body) = get(
        &server,
        Some("team-a"),
        "/prometheus/api/v1/query?query=rate(up%5B5m%5D)&time=1700000000",
    )
    .await;
    assert!(
        body.ends_with(r#""infos":["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"up\""]}"#),
        "{body}"
    );
}
