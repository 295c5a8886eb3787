//! Tempo's query API over a real socket and the in-memory trace store:
//! trace by ID (JSON v1/v2, protobuf), search by TraceQL, tags and
//! durations, tag listings, echo, error shapes and tenant isolation.

use std::sync::Arc;

use cairn_querier::{Querier, QuerierConfig};
use common::limits::{Limits, Overrides};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use serde_json::Value;

use crate::support::{MemStore, client, serve, urlencode};
use crate::trace_support::{BASE_NS, MemTraceStore, fixtures};

/// Tenant `a` holds T1 and T2, tenant `b` holds T3.
async fn start() -> String {
    let traces = Arc::new(MemTraceStore::default());
    for (name, t) in fixtures().0 {
        traces.add(if name == "T3" { "b" } else { "a" }, t);
    }
    let querier = Querier::new(
        QuerierConfig::default(),
        Arc::new(MemStore::default()),
        Arc::new(Overrides::new(Limits::default())),
        true,
    )
    .with_trace_store(traces);
    serve(Arc::new(querier)).await
}

async fn get(base: &str, tenant: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = client().get(format!("{base}{path}"));
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    req.send().await.expect("request")
}

async fn get_json(base: &str, tenant: &str, path: &str) -> Value {
    let resp = get(base, Some(tenant), path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json body")
}

fn span_count(resource_spans: &Value) -> usize {
    resource_spans
        .as_array()
        .expect("resource spans")
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().expect("scope spans"))
        .map(|ss| ss["spans"].as_array().expect("spans").len())
        .sum()
}

#[tokio::test]
async fn trace_by_id_answers_otlp_json_and_protobuf() {
    let base = start().await;
    let v1 = get_json(&base, "a", "/api/traces/a1").await;
    let batches = &v1["batches"];
    assert_eq!(
        batches.as_array().map(Vec::len),
        Some(3),
        "one per resource"
    );
    assert_eq!(span_count(batches), 5);
    let first = &batches[0]["scopeSpans"][0]["spans"][0];
    assert_eq!(first["traceId"], "000000000000000000000000000000a1");
    assert_eq!(first["name"], "GET /api");
    assert_eq!(
        batches[0]["resource"]["attributes"][0]["key"],
        "service.name"
    );

    let v2 = get_json(
        &base,
        "a",
        "/api/v2/traces/000000000000000000000000000000a1",
    )
    .await;
    assert_eq!(span_count(&v2["trace"]["resourceSpans"]), 5);

    let resp = client()
        .get(format!("{base}/api/traces/a1"))
        .header("X-Scope-OrgID", "a")
        .header("Accept", "application/protobuf")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let data = TracesData::decode(resp.bytes().await.expect("body")).expect("protobuf");
    let spans: usize = data
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    assert_eq!(spans, 5);

    #[derive(Clone, PartialEq, prost::Message)]
    struct TraceByIdResponse {
        #[prost(message, optional, tag = "1")]
        trace: Option<TracesData>,
    }
    let resp = client()
        .get(format!("{base}/api/v2/traces/a2"))
        .header("X-Scope-OrgID", "a")
        .header("Accept", "application/protobuf")
        .send()
        .await
        .expect("request");
    let v2 = TraceByIdResponse::decode(resp.bytes().await.expect("body")).expect("protobuf");
    let trace = v2.trace.expect("trace");
    assert_eq!(trace.resource_spans[0].scope_spans[0].spans.len(), 3);
}

#[tokio::test]
async fn trace_by_id_errors_and_tenant_isolation() {
    let base = start().await;
    let resp = get(&base, Some("a"), "/api/traces/ff").await;
    assert_eq!(resp.status(), 404);
    // Tenant b cannot read tenant a's trace.
    assert_eq!(get(&base, Some("b"), "/api/traces/a1").await.status(), 404);
    assert_eq!(get(&base, Some("b"), "/api/traces/a3").await.status(), 200);
    let resp = get(&base, Some("a"), "/api/traces/xyz").await;
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("invalid trace id")
    );
    let too_long = "1".repeat(33);
    assert_eq!(
        get(&base, Some("a"), &format!("/api/traces/{too_long}"))
            .await
            .status(),
        400
    );
    assert_eq!(get(&base, None, "/api/traces/a1").await.status(), 401);
    // `a|b` reads both tenants.
    assert_eq!(
        get(&base, Some("a|b"), "/api/traces/a3").await.status(),
        200
    );
    assert_eq!(
        get(&base, Some("a|b"), "/api/traces/a1").await.status(),
        200
    );
    // start/end (seconds) narrow where to look.
    let t1_s = BASE_NS / 1_000_000_000;
    let path = format!("/api/traces/a1?start={}&end={}", t1_s + 5, t1_s + 100);
    assert_eq!(get(&base, Some("a"), &path).await.status(), 404);
    let path = format!("/api/traces/a1?start={t1_s}&end={}", t1_s + 1);
    assert_eq!(get(&base, Some("a"), &path).await.status(), 200);
}

fn trace_ids(body: &Value) -> Vec<String> {
    body["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| t["traceID"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn search_by_traceql() {
    let base = start().await;
    let body = get_json(&base, "a", "/api/search?q=%7B%20status%20%3D%20error%20%7D").await;
    assert_eq!(trace_ids(&body), ["a2", "a1"], "most recent first");
    let t2 = &body["traces"][0];
    assert_eq!(t2["rootServiceName"], "worker");
    assert_eq!(t2["rootTraceName"], "process");
    assert_eq!(t2["durationMs"], 2000);
    assert_eq!(
        t2["startTimeUnixNano"],
        (BASE_NS + 10_000_000_000).to_string()
    );
    let set = &t2["spanSets"][0];
    assert_eq!(set["matched"], 1);
    assert_eq!(set["spans"][0]["spanID"], "0000000000000007");
    assert_eq!(set["spans"][0]["durationNanos"], "500000000");
    assert_eq!(body["metrics"]["inspectedTraces"], 2);

    // The first spanset filter is pushed down: the store returns only
    // traces with a span passing it.
    for q in [r#"{ name = "auth" }"#, r#"{ name = "auth" } > { }"#] {
        let body = get_json(&base, "a", &format!("/api/search?q={}", urlencode(q))).await;
        assert_eq!(trace_ids(&body), ["a1"], "{q}");
        assert_eq!(body["metrics"]["inspectedTraces"], 1, "{q}");
    }

    // Attributes the query uses come back with the spans; spss caps spans.
    let q = "{ .queue != nil } | select(resource.service.name)";
    let url = format!("/api/search?q={}&spss=2", urlencode(q));
    let body = get_json(&base, "a", &url).await;
    let set = &body["traces"][0]["spanSets"][0];
    assert_eq!(set["matched"], 3);
    assert_eq!(set["spans"].as_array().map(Vec::len), Some(2));
    let attrs = set["spans"][0]["attributes"]
        .as_array()
        .expect("attributes");
    assert!(
        attrs
            .iter()
            .any(|a| a["key"] == "queue" && a["value"]["stringValue"] == "jobs")
    );
    assert!(attrs.iter().any(|a| a["key"] == "service.name"));

    // by() groups become spansets with the group as an attribute.
    let url = format!(
        "/api/search?q={}",
        urlencode("{ } | by(resource.service.name)")
    );
    let body = get_json(&base, "a", &url).await;
    let t1 = &body["traces"][1];
    assert_eq!(t1["spanSets"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        t1["spanSets"][0]["attributes"][0]["key"],
        "by(resource.service.name)"
    );

    // With a limit the store may stop early: any one match is right.
    let body = get_json(&base, "a", "/api/search?q=%7B%7D&limit=1").await;
    assert_eq!(trace_ids(&body).len(), 1);
    let body = get_json(&base, "a|b", "/api/search?q=%7B%7D").await;
    assert_eq!(trace_ids(&body), ["a3", "a2", "a1"]);
    let body = get_json(&base, "b", "/api/search?q=%7B%7D").await;
    assert_eq!(trace_ids(&body), ["a3"], "tenant b sees only its own");

    let resp = get(&base, Some("a"), "/api/search?q=%7B%20.a%20%3D%20%7D").await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.expect("body");
    assert!(
        text.starts_with("invalid TraceQL query: parse error at line 1, col 8"),
        "{text}"
    );
    assert_eq!(
        get(&base, Some("a"), "/api/search?limit=x").await.status(),
        400
    );
}

#[tokio::test]
async fn search_by_tags_durations_and_time_range() {
    let base = start().await;
    let body = get_json(&base, "a", "/api/search?tags=http.status_code%3D500").await;
    assert_eq!(trace_ids(&body), ["a2"]);
    let body = get_json(
        &base,
        "a",
        "/api/search?tags=service.name%3Dauth%20name%3Dauth",
    )
    .await;
    assert_eq!(trace_ids(&body), ["a1"]);
    let body = get_json(
        &base,
        "a",
        "/api/search?tags=service.name%3Dauth%20queue%3Djobs",
    )
    .await;
    assert_eq!(trace_ids(&body), Vec::<String>::new());
    let body = get_json(&base, "a|b", "/api/search?minDuration=1s").await;
    assert_eq!(trace_ids(&body), ["a2"]);
    let body = get_json(&base, "a|b", "/api/search?maxDuration=50ms").await;
    assert_eq!(trace_ids(&body), ["a3"]);
    let body = get_json(
        &base,
        "a|b",
        "/api/search?minDuration=50ms&maxDuration=1.5s",
    )
    .await;
    assert_eq!(trace_ids(&body), ["a1"]);
    let s = BASE_NS / 1_000_000_000;
    let url = format!("/api/search?start={}&end={}", s + 15, s + 25);
    assert_eq!(trace_ids(&get_json(&base, "a|b", &url).await), ["a3"]);
    assert_eq!(
        get(&base, Some("a"), "/api/search?minDuration=soon")
            .await
            .status(),
        400
    );
    let resp = get(&base, Some("a"), "/api/search?tags=novalue").await;
    assert_eq!(resp.status(), 400);
    let body = get_json(
        &base,
        "a",
        "/api/search?tags=status.code%3Derror%20queue%3Dout",
    )
    .await;
    assert_eq!(trace_ids(&body), ["a2"]);
    let resp = get(&base, Some("a"), "/api/search?tags=status.code%3Dbroken").await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn tags_tag_values_and_echo() {
    let base = start().await;
    let body = get_json(&base, "a", "/api/search/tags").await;
    let names: Vec<&str> = body["tagNames"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "http.method",
        "queue",
        "service.name",
        "deployment.environment",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let body = get_json(&base, "b", "/api/search/tags").await;
    assert!(
        !body["tagNames"].to_string().contains("queue"),
        "tenant b sees a's tags"
    );

    let body = get_json(&base, "a", "/api/v2/search/tags").await;
    let scopes = body["scopes"].as_array().expect("scopes");
    let names: Vec<&str> = scopes.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["span", "resource", "intrinsic"]);
    assert!(scopes[0]["tags"].to_string().contains("db.system"));
    assert!(!scopes[0]["tags"].to_string().contains("service.name"));
    assert!(scopes[1]["tags"].to_string().contains("service.name"));
    assert!(scopes[2]["tags"].to_string().contains("rootServiceName"));
    let body = get_json(&base, "a", "/api/v2/search/tags?scope=intrinsic").await;
    assert_eq!(body["scopes"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        get(&base, Some("a"), "/api/v2/search/tags?scope=event")
            .await
            .status(),
        400
    );

    let body = get_json(&base, "a", "/api/search/tag/service.name/values").await;
    assert_eq!(
        body["tagValues"],
        serde_json::json!(["auth", "db", "frontend", "worker"])
    );
    let body = get_json(
        &base,
        "a|b",
        "/api/search/tag/deployment.environment/values",
    )
    .await;
    assert_eq!(body["tagValues"], serde_json::json!(["dev", "prod"]));
    let body = get_json(
        &base,
        "a",
        "/api/v2/search/tag/span.http.status_code/values",
    )
    .await;
    assert_eq!(
        body["tagValues"],
        serde_json::json!([{"type": "string", "value": "200"}, {"type": "string", "value": "500"}])
    );
    let body = get_json(
        &base,
        "a",
        "/api/v2/search/tag/resource.http.status_code/values",
    )
    .await;
    assert_eq!(body["tagValues"], serde_json::json!([]));
    let body = get_json(&base, "a", "/api/v2/search/tag/status/values").await;
    assert!(
        body["tagValues"]
            .to_string()
            .contains(r#"{"type":"keyword","value":"error"}"#)
    );

    let body = get_json(&base, "a", "/api/v2/search/tag/name/values").await;
    let names = body["tagValues"].to_string();
    assert!(
        names.contains(r#"{"type":"string","value":"pg.exec"}"#),
        "{names}"
    );
    assert!(
        !names.contains("GET /health"),
        "tenant b's span name leaked"
    );
    let body = get_json(&base, "a|b", "/api/v2/search/tag/rootServiceName/values").await;
    assert_eq!(
        body["tagValues"].as_array().map(Vec::len),
        Some(2),
        "frontend, worker"
    );

    let resp = get(&base, None, "/api/echo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "echo");
    let info = get_json(&base, "a", "/api/status/buildinfo").await;
    assert!(
        info["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.")),
        "{info}"
    );
    assert_eq!(get(&base, None, "/api/search/tags").await.status(), 401);
}

/// The values listed for `path` (v1 strings or v2 `{type, value}` objects).
async fn values(base: &str, tenant: &str, path: &str) -> Vec<String> {
    get_json(base, tenant, path).await["tagValues"]
        .as_array()
        .expect("tagValues")
        .iter()
        .map(|v| {
            let text = v["value"].as_str().or(v.as_str()).expect("value");
            match v["type"].as_str() {
                Some(kind) => format!("{kind}:{text}"),
                None => text.to_string(),
            }
        })
        .collect()
}

#[tokio::test]
async fn tag_listings_filtered_by_q() {
    let base = start().await;
    let path = |tag: &str, q: &str| format!("/api/v2/search/tag/{tag}/values?q={}", urlencode(q));
    let cases: [(&str, &str, &[&str]); 8] = [
        (
            "resource.service.name",
            "{ kind = server }",
            &["string:auth", "string:frontend"],
        ),
        (
            "name",
            r#"{ resource.service.name = "worker" }"#,
            &["string:process", "string:publish"],
        ),
        (
            "status",
            r#"{ resource.service.name = "worker" }"#,
            &["keyword:error", "keyword:unset"],
        ),
        ("span.queue", "{ kind = consumer } > { }", &["string:out"]),
        ("span.queue", r#"{ name = "nothing" }"#, &[]),
        // `{}` and a q that does not parse (still being typed) list all.
        (
            "resource.service.name",
            "{}",
            &[
                "string:auth",
                "string:db",
                "string:frontend",
                "string:worker",
            ],
        ),
        (
            "resource.service.name",
            "{ name = ",
            &[
                "string:auth",
                "string:db",
                "string:frontend",
                "string:worker",
            ],
        ),
        ("span.queue", "", &["string:jobs", "string:out"]),
    ];
    for (tag, q, want) in cases {
        assert_eq!(values(&base, "a", &path(tag, q)).await, want, "{tag} q={q}");
    }
    let url = format!(
        "/api/search/tag/queue/values?q={}",
        urlencode("{ status = error }")
    );
    assert_eq!(values(&base, "a", &url).await, ["out"]);

    let url = format!(
        "/api/v2/search/tags?q={}",
        urlencode(r#"{ resource.service.name = "db" }"#)
    );
    let body = get_json(&base, "a", &url).await;
    assert_eq!(
        body["scopes"][0]["tags"],
        serde_json::json!(["cached", "ratio", "rows"])
    );
    assert_eq!(
        body["scopes"][1]["tags"],
        serde_json::json!(["deployment.environment", "service.name"])
    );
    let url = format!("/api/search/tags?q={}", urlencode("{ .queue = \"jobs\" }"));
    let body = get_json(&base, "a", &url).await;
    assert_eq!(
        body["tagNames"],
        serde_json::json!([
            "deployment.environment",
            "http.status_code",
            "queue",
            "service.name"
        ])
    );
}

/// The query the Traces Drilldown app's Structure tab sends
/// (grafana/traces-drilldown `src/components/Explore/TracesByService/Tabs/
/// Structure/StructureScene.tsx`, `buildQuery`): root spans and the trees
/// under them down to error spans, with their nested-set numbers selected.
#[tokio::test]
async fn structure_tab_query_returns_nested_sets() {
    let base = start().await;
    let q = "({nestedSetParent<0} &>> { status = error }) || ({nestedSetParent<0}) \
             | select(status, resource.service.name, name, nestedSetParent, nestedSetLeft, nestedSetRight)";
    let body = get_json(
        &base,
        "a",
        &format!("/api/search?q={}&spss=10", urlencode(q)),
    )
    .await;
    assert_eq!(trace_ids(&body), ["a2", "a1"]);
    let spans = |t: usize| -> Vec<String> {
        body["traces"][t]["spanSet"]["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|s| {
                let attr = |k: &str| {
                    let a = s["attributes"]
                        .as_array()
                        .expect("attributes")
                        .iter()
                        .find(|a| a["key"] == k)
                        .unwrap_or_else(|| panic!("{k} missing in {s}"));
                    a["value"]["intValue"].as_str().expect("int").to_string()
                };
                format!(
                    "{} {}/{}/{}",
                    s["name"].as_str().expect("name"),
                    attr("nestedSetParent"),
                    attr("nestedSetLeft"),
                    attr("nestedSetRight")
                )
            })
            .collect()
    };
    assert_eq!(spans(0), ["process -1/1/6", "publish 1/2/3"]);
    assert_eq!(spans(1), ["GET /api -1/1/10", "db.query 1/6/9"]);
    let first = &body["traces"][0]["spanSet"]["spans"][1]["attributes"];
    assert!(
        first
            .to_string()
            .contains(r#""key":"status","value":{"stringValue":"error"}"#),
        "{first}"
    );
}

#[tokio::test]
async fn without_a_trace_store_the_api_says_not_implemented() {
    let server = crate::support::start_server(Limits::default()).await;
    let resp = get(&server.base, Some("a"), "/api/search?q=%7B%7D").await;
    assert_eq!(resp.status(), 501);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("traces are not enabled")
    );
}
