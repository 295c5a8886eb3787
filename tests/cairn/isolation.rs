//! Tenant isolation across every signal and endpoint: hostile tenant IDs
//! (path traversal, separators, unicode, empty, oversize) are refused on
//! every write and read endpoint and never reach the disk; a tenant's
//! metrics, lines, spans and rules never show in another tenant's answers,
//! single or multi-tenant.

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};

use crate::support::remote_write::{body, now_ms, series};
use crate::support::{Cairn, http};

/// A word only tenant A's data holds: no answer to another tenant may
/// contain it.
const MARKER: &str = "zq_secret_of_a";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// One endpoint: method, path (with query) and body.
struct Call {
    method: Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn get(path: String) -> Call {
    Call {
        method: Method::GET,
        path,
        content_type: "text/plain",
        body: Vec::new(),
    }
}

fn post(path: &str, content_type: &'static str, body: Vec<u8>) -> Call {
    Call {
        method: Method::POST,
        path: path.to_string(),
        content_type,
        body,
    }
}

fn json(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

/// Every write endpoint, each carrying the marker.
fn writes(now_ns: i64) -> Vec<Call> {
    let t = now_ns.to_string();
    let start = (now_ns - 1_000_000).to_string();
    let attr = |k: &str, v: &str| serde_json::json!({"key": k, "value": {"stringValue": v}});
    vec![
        Call {
            method: Method::POST,
            path: "/api/v1/push".into(),
            content_type: "application/x-protobuf",
            body: body(vec![series(
                MARKER,
                &[("job", MARKER)],
                &[(now_ns / 1_000_000, 1.0)],
            )]),
        },
        post(
            "/loki/api/v1/push",
            "application/json",
            json(serde_json::json!({"streams": [{"stream": {"app": MARKER},
                "values": [[t, format!("line {MARKER}")]]}]})),
        ),
        post(
            "/otlp/v1/logs",
            "application/json",
            json(
                serde_json::json!({"resourceLogs": [{"resource": {"attributes": [attr("service.name", MARKER)]},
                "scopeLogs": [{"logRecords": [{"timeUnixNano": t, "body": {"stringValue": format!("otlp {MARKER}")}}]}]}]}),
            ),
        ),
        post(
            "/v1/traces",
            "application/json",
            json(
                serde_json::json!({"resourceSpans": [{"resource": {"attributes": [attr("service.name", MARKER)]},
                "scopeSpans": [{"spans": [{"traceId": TRACE_ID, "spanId": "00f067aa0ba902b7", "name": MARKER,
                "kind": 2, "startTimeUnixNano": start, "endTimeUnixNano": t,
                "attributes": [attr("http.route", MARKER)]}]}]}]}),
            ),
        ),
        post(
            "/otlp/v1/metrics",
            "application/json",
            json(
                serde_json::json!({"resourceMetrics": [{"resource": {"attributes": [attr("service.name", MARKER)]},
                "scopeMetrics": [{"metrics": [{"name": format!("{MARKER}_gauge"), "gauge": {"dataPoints": [
                {"timeUnixNano": t, "asDouble": 1.0}]}}]}]}]}),
            ),
        ),
        post(
            "/prometheus/config/v1/rules/ns",
            "application/yaml",
            format!("name: {MARKER}\nrules:\n  - record: {MARKER}_rec\n    expr: vector(1)\n")
                .into_bytes(),
        ),
    ]
}

/// Every read endpoint, over the last hour.
fn reads(now_ms: i64) -> Vec<Call> {
    let (s, e) = ((now_ms - 3_600_000) / 1000, now_ms / 1000 + 60);
    let ns = |ms: i64| ms * 1_000_000;
    let (sn, en) = (ns(now_ms - 3_600_000), ns(now_ms + 60_000));
    [
        format!("/prometheus/api/v1/query?query={{__name__=~\".%2B\"}}&time={e}"),
        format!(
            "/prometheus/api/v1/query_range?query={{__name__=~\".%2B\"}}&start={s}&end={e}&step=60"
        ),
        format!("/prometheus/api/v1/series?match[]={{__name__=~\".%2B\"}}&start={s}&end={e}"),
        format!("/prometheus/api/v1/labels?start={s}&end={e}"),
        format!("/prometheus/api/v1/label/__name__/values?start={s}&end={e}"),
        format!("/prometheus/api/v1/label/job/values?start={s}&end={e}"),
        "/prometheus/api/v1/metadata".to_string(),
        format!(
            "/prometheus/api/v1/query_exemplars?query={{__name__=~\".%2B\"}}&start={s}&end={e}"
        ),
        "/prometheus/api/v1/rules".to_string(),
        "/prometheus/api/v1/alerts".to_string(),
        "/prometheus/config/v1/rules".to_string(),
        format!("/loki/api/v1/query_range?query={{app=~\".%2B\"}}&start={sn}&end={en}"),
        format!("/loki/api/v1/query_range?query={{service_name=~\".%2B\"}}&start={sn}&end={en}"),
        format!("/loki/api/v1/labels?start={sn}&end={en}"),
        format!("/loki/api/v1/label/app/values?start={sn}&end={en}"),
        format!("/loki/api/v1/series?match[]={{app=~\".%2B\"}}&start={sn}&end={en}"),
        format!("/loki/api/v1/index/stats?query={{app=~\".%2B\"}}&start={sn}&end={en}"),
        format!("/api/traces/{TRACE_ID}"),
        format!("/api/v2/traces/{TRACE_ID}"),
        format!("/api/search?start={s}&end={e}"),
        format!("/api/search?q=%7B%7D&start={s}&end={e}"),
        format!("/api/search/tags?start={s}&end={e}"),
        format!("/api/v2/search/tags?start={s}&end={e}"),
        format!("/api/search/tag/service.name/values?start={s}&end={e}"),
        format!("/api/v2/search/tag/resource.service.name/values?start={s}&end={e}"),
    ]
    .into_iter()
    .map(get)
    .collect()
}

async fn send(cairn: &Cairn, call: &Call, tenant: HeaderValue) -> (StatusCode, String) {
    let r = http()
        .request(call.method.clone(), format!("{}{}", cairn.url(), call.path))
        .header("X-Scope-OrgID", tenant)
        .header("Content-Type", call.content_type)
        .header(
            "Content-Encoding",
            if call.path == "/api/v1/push" {
                "snappy"
            } else {
                "identity"
            },
        )
        .body(call.body.clone())
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

fn header(tenant: &str) -> HeaderValue {
    HeaderValue::from_bytes(tenant.as_bytes()).unwrap()
}

#[tokio::test]
async fn no_answer_of_another_tenant_holds_tenant_a_data() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let now = now_ms();
    for call in writes(now * 1_000_000) {
        let (status, text) = send(&cairn, &call, header("team-a")).await;
        assert!(
            status.is_success(),
            "{} as team-a: {status} {text}",
            call.path
        );
    }
    // Tenant A sees its own data where it should (the matrix is live) ...
    for path in [
        format!("/api/traces/{TRACE_ID}"),
        "/prometheus/config/v1/rules".to_string(),
        format!(
            "/prometheus/api/v1/label/__name__/values?start={}&end={}",
            now / 1000 - 60,
            now / 1000 + 60
        ),
    ] {
        let (status, text) = send(&cairn, &get(path.clone()), header("team-a")).await;
        assert!(
            status.is_success() && text.contains(MARKER),
            "{path}: {status} {text}"
        );
    }
    // ... and no other tenant, alone or with others, ever does.
    for other in ["team-b", "team-b|team-c", "team-a-suffix", "TEAM-A"] {
        for call in reads(now) {
            let (status, text) = send(&cairn, &call, header(other)).await;
            assert!(
                !text.contains(MARKER),
                "{} as {other} leaked tenant A's data: {status} {text}",
                call.path
            );
            assert!(
                status.as_u16() < 500,
                "{} as {other}: {status} {text}",
                call.path
            );
        }
    }
}

#[tokio::test]
async fn hostile_tenant_ids_are_refused_everywhere_and_touch_no_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    std::fs::create_dir(&data).unwrap();
    let cairn = Cairn::start(&data, "").await;
    let now = now_ms();
    let long = "a".repeat(151);
    let hostile = [
        "../etc",
        "..",
        ".",
        "a/b",
        "a\\b",
        "x y",
        "tenañt",
        "%2e%2e",
        "",
        "a|../x",
        "a||b",
        long.as_str(),
    ];
    let calls: Vec<Call> = writes(now * 1_000_000)
        .into_iter()
        .chain(reads(now))
        .collect();
    for id in hostile {
        for call in &calls {
            let (status, text) = send(&cairn, call, header(id)).await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
                "{} as {id:?}: {status} {text}",
                call.path
            );
            assert!(!text.is_empty(), "{} as {id:?}: an empty error", call.path);
        }
    }
    cairn.flush().await;
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("d")]);
    for sub in ["wal", "bucket"] {
        // The WAL directory's lock file is the process's, not a tenant's.
        let names: Vec<String> = std::fs::read_dir(data.join(sub))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|name| name != "lock@cairn")
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            names.is_empty(),
            "{sub} holds {names:?} after only hostile requests"
        );
    }
}
