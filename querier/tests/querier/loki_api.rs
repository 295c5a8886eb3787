//! The Loki query API over a real socket: response shapes, error statuses
//! and bodies, tenancy (isolation and `a|b` reads), limits, and `/tail`
//! over a WebSocket.

use std::time::Duration;

use common::labels::Labels;
use common::limits::Limits;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use cairn_querier::QuerierConfig;

use crate::support::{LokiServer, client, entry, start_loki_server, start_loki_server_with};

/// 2023-11-14T22:13:20Z in nanoseconds.
const T: i64 = 1_700_000_000_000_000_000;
const S: i64 = 1_000_000_000;

async fn server(limits: Limits) -> LokiServer {
    let server = start_loki_server(limits).await;
    let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
    server.logs.push(
        "team-a",
        l(&[("app", "api"), ("env", "prod")]),
        vec![
            entry(T + S, "level=info msg=started"),
            entry(T + 2 * S, "level=error msg=\"db down\""),
            entry(T + 3 * S, "level=info msg=recovered"),
        ],
    );
    server.logs.push(
        "team-a",
        l(&[("app", "web"), ("env", "dev")]),
        vec![entry(T + 2 * S, "GET /index.html 200")],
    );
    server.logs.push(
        "team-b",
        l(&[("app", "api"), ("env", "prod")]),
        vec![entry(T + 2 * S, "level=info msg=tenant-b-line")],
    );
    server
}

async fn get(
    server: &LokiServer,
    tenant: Option<&str>,
    path: &str,
    query: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut req = client().get(format!("{}{path}", server.base)).query(query);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req.send().await.expect("request");
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (resp.status(), ctype, resp.text().await.expect("body"))
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

const START: &str = "1700000000";
const END: &str = "1700000010";

#[tokio::test]
async fn query_range_returns_streams_in_loki_shape() {
    let server = server(Limits::default()).await;
    let (status, ctype, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            (
                "query",
                "{app=\"api\"} |= \"level\" | logfmt | level=\"info\"",
            ),
            ("start", START),
            ("end", END),
            ("limit", "10"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ctype, "application/json");
    let v = parse(&body);
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "streams");
    // Default direction is backward: newest first.
    assert_eq!(
        v["data"]["result"],
        json!([
            {"stream": {"app": "api", "env": "prod", "level": "info", "msg": "recovered"},
             "values": [["1700000003000000000", "level=info msg=recovered"]]},
            {"stream": {"app": "api", "env": "prod", "level": "info", "msg": "started"},
             "values": [["1700000001000000000", "level=info msg=started"]]}
        ])
    );
    let summary = &v["data"]["stats"]["summary"];
    assert_eq!(summary["totalEntriesReturned"], 2);
    assert_eq!(summary["totalLinesProcessed"], 3);
}

#[tokio::test]
async fn limit_and_forward_direction() {
    let server = server(Limits::default()).await;
    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "{env=~\".+\"}"),
            ("start", "2023-11-14T22:13:20Z"),
            ("end", "1700000010000000000"),
            ("limit", "2"),
            ("direction", "forward"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = parse(&body);
    assert_eq!(
        v["data"]["result"],
        json!([
            {"stream": {"app": "api", "env": "prod"},
             "values": [["1700000001000000000", "level=info msg=started"],
                        ["1700000002000000000", "level=error msg=\"db down\""]]}
        ])
    );
    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "{app=\"api\"}"),
            ("start", START),
            ("end", END),
            ("interval", "2s"),
            ("direction", "forward"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        parse(&body)["data"]["result"][0]["values"],
        json!([
            ["1700000001000000000", "level=info msg=started"],
            ["1700000003000000000", "level=info msg=recovered"]
        ])
    );
}

#[tokio::test]
async fn metric_query_range_returns_a_matrix() {
    let server = server(Limits::default()).await;
    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "sum by (app) (count_over_time({env=~\".+\"}[2s]))"),
            ("start", "1700000000"),
            ("end", "1700000004"),
            ("step", "2s"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = parse(&body);
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(
        v["data"]["result"],
        json!([
            {"metric": {"app": "api"}, "values": [[1700000002, "2"], [1700000004, "1"]]},
            {"metric": {"app": "web"}, "values": [[1700000002, "1"]]}
        ])
    );
    assert!(v["data"]["stats"]["summary"].is_object());
}

#[tokio::test]
async fn instant_query_returns_a_vector() {
    let server = server(Limits::default()).await;
    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query",
        &[
            ("query", "count_over_time({app=\"api\"} |= \"error\"[10s])"),
            ("time", "1700000010"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = parse(&body);
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(
        v["data"]["result"],
        json!([{"metric": {"app": "api", "env": "prod"}, "value": [1700000010, "1"]}])
    );
}

#[tokio::test]
async fn labels_values_series_and_index_stats() {
    let server = server(Limits::default()).await;
    let range = [("start", START), ("end", END)];
    let (status, _, body) = get(&server, Some("team-a"), "/loki/api/v1/labels", &range).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        parse(&body),
        json!({"status": "success", "data": ["app", "env"]})
    );

    let (_, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/label/app/values",
        &range,
    )
    .await;
    assert_eq!(
        parse(&body),
        json!({"status": "success", "data": ["api", "web"]})
    );

    let q = [("start", START), ("end", END), ("query", "{env=\"dev\"}")];
    let (_, _, body) = get(&server, Some("team-a"), "/loki/api/v1/label/app/values", &q).await;
    assert_eq!(parse(&body), json!({"status": "success", "data": ["web"]}));

    let q = [("start", START), ("end", END), ("match[]", "{app=\"api\"}")];
    let (status, _, body) = get(&server, Some("team-a"), "/loki/api/v1/series", &q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        parse(&body),
        json!({"status": "success", "data": [{"app": "api", "env": "prod"}]})
    );

    let q = [("start", START), ("end", END), ("query", "{env=~\".+\"}")];
    let (status, _, body) = get(&server, Some("team-a"), "/loki/api/v1/index/stats", &q).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bytes = "level=info msg=started".len()
        + "level=error msg=\"db down\"".len()
        + "level=info msg=recovered".len()
        + "GET /index.html 200".len();
    assert_eq!(
        parse(&body),
        json!({"streams": 2, "chunks": 2, "entries": 4, "bytes": bytes})
    );
}

#[tokio::test]
async fn format_query_prints_the_canonical_form() {
    let server = server(Limits::default()).await;
    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/format_query",
        &[("query", "sum(rate({app = \"api\"}[90s])) by (env)")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        parse(&body),
        json!({"status": "success", "data": "sum by (env) (rate({app=\"api\"}[1m30s]))"})
    );
}

#[tokio::test]
async fn errors_are_plain_text_with_loki_statuses() {
    let server = server(Limits::default()).await;
    let (status, ctype, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "{app=\"api\"} | nosuch"),
            ("start", START),
            ("end", END),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    assert!(
        body.starts_with(
            "parse error at line 1, col 15: syntax error: unexpected IDENTIFIER nosuch"
        ),
        "{body}"
    );

    let (status, _, body) = get(&server, None, "/loki/api/v1/labels", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("no org id"), "{body}");

    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query",
        &[("query", "{app=\"api\"}"), ("time", END)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not supported as an instant query"), "{body}");

    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "count_over_time({app=\"api\"} | json[5s])"),
            ("start", START),
            ("end", END),
            ("step", "5"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with("pipeline error: 'JSONParserErr'"),
        "{body}"
    );

    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "{app=\"api\"}"),
            ("start", START),
            ("end", END),
            ("direction", "sideways"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid direction"), "{body}");
}

#[tokio::test]
async fn query_limits_are_enforced() {
    let limits = Limits {
        max_entries_limit_per_query: 50,
        max_query_length: Duration::from_secs(5),
        max_query_series: 1,
        ..Limits::default()
    };
    let server = server(limits).await;
    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "{app=\"api\"}"),
            ("start", START),
            ("end", "1700000004"),
            ("limit", "51"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (51 > 50)"
        ),
        "{body}"
    );

    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query_range",
        &[
            ("query", "{app=\"api\"}"),
            ("start", START),
            ("end", END),
            ("limit", "10"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("the query time range exceeds the limit (query length: 10s, limit: 5s)"),
        "{body}"
    );

    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query",
        &[
            ("query", "count_over_time({env=~\".+\"}[10s])"),
            ("time", END),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with("maximum number of series (1) reached"),
        "{body}"
    );
}

#[tokio::test]
async fn tenants_are_isolated_and_multi_tenant_reads_merge() {
    let server = server(Limits::default()).await;
    let q = [
        ("query", "{app=\"api\"}"),
        ("start", START),
        ("end", END),
        ("direction", "forward"),
    ];
    let (_, _, body) = get(&server, Some("team-b"), "/loki/api/v1/query_range", &q).await;
    let v = parse(&body);
    assert_eq!(
        v["data"]["result"],
        json!([{"stream": {"app": "api", "env": "prod"},
                "values": [["1700000002000000000", "level=info msg=tenant-b-line"]]}])
    );
    let (_, _, body) = get(&server, Some("team-c"), "/loki/api/v1/query_range", &q).await;
    assert_eq!(parse(&body)["data"]["result"], json!([]));

    let (status, _, body) = get(
        &server,
        Some("team-a|team-b"),
        "/loki/api/v1/query_range",
        &q,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = parse(&body)["data"]["result"].clone();
    let tenants: Vec<&str> = result
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["stream"]["__tenant_id__"].as_str().expect("tenant label"))
        .collect();
    assert_eq!(tenants, vec!["team-a", "team-b"]);

    let q = [
        ("query", "{app=\"api\", __tenant_id__=\"team-b\"}"),
        ("start", START),
        ("end", END),
    ];
    let (_, _, body) = get(
        &server,
        Some("team-a|team-b"),
        "/loki/api/v1/query_range",
        &q,
    )
    .await;
    assert_eq!(
        parse(&body)["data"]["result"].as_array().map(Vec::len),
        Some(1)
    );

    let range = [("start", START), ("end", END), ("match[]", "{app=\"api\"}")];
    let (_, _, body) = get(
        &server,
        Some("team-a|team-b"),
        "/loki/api/v1/series",
        &range,
    )
    .await;
    assert_eq!(
        parse(&body)["data"],
        json!([
            {"__tenant_id__": "team-a", "app": "api", "env": "prod"},
            {"__tenant_id__": "team-b", "app": "api", "env": "prod"}
        ])
    );
}

/// The next tail frame, parsed; fails after 5 s.
async fn next_frame<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a tail frame within 5s")
        .expect("stream open")
        .expect("frame");
    parse(msg.to_text().expect("text frame"))
}

#[tokio::test]
async fn tail_streams_existing_then_new_lines_over_websocket() {
    let server = server(Limits::default()).await;
    let url = format!(
        "{}/loki/api/v1/tail?query=%7Bapp%3D%22api%22%7D&start={START}",
        server.base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().expect("ws request");
    req.headers_mut()
        .insert("X-Scope-OrgID", "team-a".parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket handshake");
    let first = next_frame(&mut ws).await;
    assert_eq!(first["dropped_entries"], Value::Null);
    assert_eq!(
        first["streams"],
        json!([{"stream": {"app": "api", "env": "prod"},
                "values": [["1700000001000000000", "level=info msg=started"],
                           ["1700000002000000000", "level=error msg=\"db down\""],
                           ["1700000003000000000", "level=info msg=recovered"]]}])
    );
    server.logs.push(
        "team-a",
        Labels::from_pairs([("app", "api"), ("env", "prod")]),
        vec![entry(T + 4 * S, "level=info msg=new")],
    );
    let second = next_frame(&mut ws).await;
    assert_eq!(
        second["streams"],
        json!([{"stream": {"app": "api", "env": "prod"},
                "values": [["1700000004000000000", "level=info msg=new"]]}])
    );
}

#[tokio::test]
async fn post_form_and_since_are_accepted() {
    let server = server(Limits::default()).await;
    let resp = client()
        .post(format!("{}/loki/api/v1/query_range", server.base))
        .header("X-Scope-OrgID", "team-a")
        .form(&[
            ("query", "sum(count_over_time({app=\"api\"}[10s]))"),
            ("end", "1700000010"),
            ("since", "10s"),
            ("step", "10"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let v = parse(&resp.text().await.expect("body"));
    assert_eq!(
        v["data"]["result"],
        json!([{"metric": {}, "values": [[1700000010, "3"]]}])
    );
}

#[tokio::test]
async fn a_query_over_its_timeout_answers_504() {
    let cfg = QuerierConfig {
        timeout: Duration::from_millis(1),
        ..QuerierConfig::default()
    };
    let server = start_loki_server_with(cfg, Limits::default()).await;
    let lines = (0..200_000)
        .map(|i| {
            entry(
                T + i * 1_000,
                &format!("level=info i={i} msg=\"some text\""),
            )
        })
        .collect();
    server
        .logs
        .push("team-a", Labels::from_pairs([("app", "big")]), lines);
    let (status, _, body) = get(
        &server,
        Some("team-a"),
        "/loki/api/v1/query",
        &[
            (
                "query",
                "sum(count_over_time({app=\"big\"} | logfmt | i=~\".*7\"[1h]))",
            ),
            ("time", "1700000001"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body, "query timed out\n");
}
