//! TraceQL metrics over a real socket and the in-memory trace store
//! (`/api/metrics/query_range`, `/api/metrics/query`), with answers
//! computed by hand from the spans below.
//!
//! Tenant `a` holds ten traces, trace `i` (0..10) starting at
//! `T0 + 5i s + 1ms`: a server span of `api` lasting `(i+1)·10ms`, an
//! error when `i` is odd, and for even `i` a client span of `db` (5ms).
//! With `step=30s` over `[T0, T0+60s]` the steps are `(T0-30s, T0]`,
//! `(T0, T0+30s]` (traces 0–5) and `(T0+30s, T0+60s]` (traces 6–9).

use std::sync::Arc;

use cairn_querier::{Querier, QuerierConfig};
use common::limits::{Limits, Overrides};
use common::traces::Scope;
use serde_json::{Value, json};

use crate::support::{MemStore, client, serve, urlencode};
use crate::trace_support::{MemTraceStore, SpanSpec, build, resource, trace_id};

/// A whole minute, in seconds, so 30s steps align on it.
const T0: u64 = 1_700_000_040;
const T0_MS: i64 = T0 as i64 * 1000;

fn traces() -> Arc<MemTraceStore> {
    let store = Arc::new(MemTraceStore::default());
    let (api, db) = (resource("api", "prod"), resource("db", "prod"));
    let scope = Arc::new(Scope::default());
    for i in 0..10u8 {
        let mut specs = vec![SpanSpec {
            label: "root",
            id: 2 * i + 1,
            parent: None,
            name: "GET /",
            kind: 2,
            status: if i % 2 == 1 { 2 } else { 0 },
            start_ms: 0,
            dur_ms: (u64::from(i) + 1) * 10,
            resource: Arc::clone(&api),
            attrs: Vec::new(),
        }];
        if i % 2 == 0 {
            specs.push(SpanSpec {
                label: "query",
                id: 2 * i + 2,
                parent: Some(2 * i + 1),
                name: "SELECT",
                kind: 3,
                status: 0,
                start_ms: 1,
                dur_ms: 5,
                resource: Arc::clone(&db),
                attrs: Vec::new(),
            });
        }
        let base = (T0 + 5 * u64::from(i)) * 1_000_000_000 + 1_000_000;
        store.add("a", build(trace_id(i + 1), base, Arc::clone(&scope), specs));
    }
    store
}

async fn start(limits: Limits) -> String {
    let querier = Querier::new(
        QuerierConfig::default(),
        Arc::new(MemStore::default()),
        Arc::new(Overrides::new(limits)),
        true,
    )
    .with_trace_store(traces());
    serve(Arc::new(querier)).await
}

/// GETs `path?q=…&rest` as tenant `a`: (status, body text).
async fn get(base: &str, path: &str, q: &str, rest: &str) -> (u16, String) {
    let resp = client()
        .get(format!("{base}{path}?q={}&{rest}", urlencode(q)))
        .header("X-Scope-OrgID", "a")
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn range(base: &str, q: &str) -> Value {
    let rest = format!("start={T0}&end={}&step=30s", T0 + 60);
    let (status, body) = get(base, "/api/metrics/query_range", q, &rest).await;
    assert_eq!(status, 200, "{q}: {body}");
    serde_json::from_str(&body).expect("json")
}

/// Each series as `(labels as k=v text, [(ms offset from T0, value)])`.
fn series(body: &Value) -> Vec<(String, Vec<(i64, f64)>)> {
    body["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            let labels: Vec<String> = s["labels"]
                .as_array()
                .expect("labels")
                .iter()
                .map(|l| {
                    let v = &l["value"];
                    let text = v["stringValue"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| v["doubleValue"].as_f64().map(|f| f.to_string()))
                        .unwrap_or_else(|| v.to_string());
                    format!("{}={text}", l["key"].as_str().expect("key"))
                })
                .collect();
            let samples = s["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|p| {
                    let ts: i64 = p["timestampMs"]
                        .as_str()
                        .expect("timestampMs is a string")
                        .parse()
                        .expect("ms");
                    (ts - T0_MS, p["value"].as_f64().expect("value"))
                })
                .collect();
            (labels.join(","), samples)
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

fn assert_series(got: &[(String, Vec<(i64, f64)>)], want: &[(&str, &[(i64, f64)])]) {
    assert_eq!(got.len(), want.len(), "series: {got:?}");
    for ((gl, gs), (wl, ws)) in got.iter().zip(want) {
        assert_eq!(gl, wl, "{got:?}");
        assert_eq!(gs.len(), ws.len(), "{gl}: {gs:?}");
        for ((gt, gv), (wt, wv)) in gs.iter().zip(ws.iter()) {
            assert_eq!(gt, wt, "{gl}: {gs:?}");
            assert!(close(*gv, *wv), "{gl} at {gt}: {gv} != {wv}");
        }
    }
}

#[tokio::test]
async fn rate_of_error_spans_is_errors_per_second_per_step() {
    let base = start(Limits::default()).await;
    let body = range(&base, "{ status = error } | rate()").await;
    // Errors: traces 1, 3, 5 in the second step, 7, 9 in the third.
    assert_series(
        &series(&body),
        &[(
            "__name__=rate",
            &[(0, 0.0), (30_000, 3.0 / 30.0), (60_000, 2.0 / 30.0)],
        )],
    );
    assert_eq!(body["metrics"]["inspectedTraces"], json!(5));
    assert_eq!(body["metrics"]["inspectedSpans"], json!("5"));
    assert!(body.get("status").is_none(), "complete answer: {body}");
}

#[tokio::test]
async fn counts_group_by_attributes_and_rank_with_topk_bottomk() {
    let base = start(Limits::default()).await;
    let q = "{ } | count_over_time() by(resource.service.name)";
    let by_service = [
        (
            "resource.service.name=api",
            &[(0, 0.0), (30_000, 6.0), (60_000, 4.0)][..],
        ),
        (
            "resource.service.name=db",
            &[(0, 0.0), (30_000, 3.0), (60_000, 2.0)][..],
        ),
    ];
    assert_series(&series(&range(&base, q).await), &by_service);
    // An attribute no span has: one series labelled nil.
    assert_series(
        &series(&range(&base, "{ kind = client } | count_over_time() by(span.none)").await),
        &[("span.none=nil", &[(0, 0.0), (30_000, 3.0), (60_000, 2.0)])],
    );
    // Grafana's Tempo data source sends nanoseconds and Go durations
    // (`30s`, `1.5s`).
    let ns = |s: u64| s * 1_000_000_000;
    let rest = format!("start={}&end={}&step=30s", ns(T0), ns(T0 + 60));
    let (status, body) = get(&base, "/api/metrics/query_range", q, &rest).await;
    assert_eq!(status, 200, "{body}");
    assert_series(
        &series(&serde_json::from_str(&body).expect("json")),
        &by_service,
    );
    let rest = format!("start={}&end={}&step=1.5s", ns(T0), ns(T0 + 3));
    let (status, body) = get(&base, "/api/metrics/query_range", q, &rest).await;
    assert_eq!(status, 200, "{body}");
    let steps: Vec<i64> = series(&serde_json::from_str(&body).expect("json"))[0]
        .1
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        steps,
        [0, 1500, 3000],
        "1.5s steps ending at T0, T0+1.5s, T0+3s"
    );
    assert_series(
        &series(&range(&base, &format!("{q} | topk(1)")).await),
        &[by_service[0]],
    );
    // bottomk(1): the tie at T0 goes to the series ordered first.
    assert_series(
        &series(&range(&base, &format!("{q} | bottomk(1)")).await),
        &[
            ("resource.service.name=api", &[(0, 0.0)]),
            ("resource.service.name=db", &[(30_000, 3.0), (60_000, 2.0)]),
        ],
    );
}

#[tokio::test]
async fn histogram_buckets_count_the_spans_by_power_of_two_duration() {
    let base = start(Limits::default()).await;
    let body = range(&base, "{ kind = server } | histogram_over_time(duration)").await;
    // 10ms → 2^24ns, 20–30ms → 2^25ns, 40–60ms → 2^26ns, 70–100ms → 2^27ns;
    // labelled in seconds.
    let b = |p: i32| format!("__bucket={}", 2f64.powi(p) / 1e9);
    let (b24, b25, b26, b27) = (b(24), b(25), b(26), b(27));
    assert_series(
        &series(&body),
        &[
            (&b24, &[(0, 0.0), (30_000, 1.0), (60_000, 0.0)]),
            (&b25, &[(0, 0.0), (30_000, 2.0), (60_000, 0.0)]),
            (&b26, &[(0, 0.0), (30_000, 3.0), (60_000, 0.0)]),
            (&b27, &[(0, 0.0), (30_000, 0.0), (60_000, 4.0)]),
        ],
    );
    let total: f64 = series(&body)
        .iter()
        .flat_map(|(_, s)| s.iter().map(|(_, v)| v))
        .sum();
    assert_eq!(total, 10.0, "every server span counted once");
}

#[tokio::test]
async fn quantiles_interpolate_in_log2_buckets_and_instant_is_one_value() {
    let base = start(Limits::default()).await;
    let q = "{ kind = server } | quantile_over_time(duration, 0.5, 0.9)";
    let rest = format!("start={T0}&end={}", T0 + 60);
    let (status, body) = get(&base, "/api/metrics/query", q, &rest).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("json");
    let got: Vec<(f64, f64)> = body["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            assert_eq!(s["labels"][0]["key"], "p");
            (
                s["labels"][0]["value"]["doubleValue"].as_f64().expect("p"),
                s["value"].as_f64().expect("value"),
            )
        })
        .collect();
    // Buckets (s): 2^24ns:1, 2^25ns:2, 2^26ns:3, 2^27ns:4 (10 spans).
    // p50: sample 5 is the 2nd of 3 in (2^25, 2^26]; p90: sample 9 is the
    // 3rd of 4 in (2^26, 2^27].
    let p50 = 2f64.powi(25) / 1e9 * 2f64.powf(2.0 / 3.0);
    let p90 = 2f64.powi(26) / 1e9 * 2f64.powf(3.0 / 4.0);
    assert_eq!(got.len(), 2, "{body}");
    assert!(
        got[0].0 == 0.5 && close(got[0].1, p50),
        "{got:?} want p50 {p50}"
    );
    assert!(
        got[1].0 == 0.9 && close(got[1].1, p90),
        "{got:?} want p90 {p90}"
    );

    // Per step, a step without spans answers 0 as Tempo does.
    let body = range(&base, "{ kind = server } | quantile_over_time(duration, 1)").await;
    assert_series(
        &series(&body),
        &[(
            "p=1",
            &[
                (0, 0.0),
                (30_000, 2f64.powi(26) / 1e9),
                (60_000, 2f64.powi(27) / 1e9),
            ],
        )],
    );
}

#[tokio::test]
async fn min_max_avg_sum_of_duration_are_in_seconds_and_skip_empty_steps() {
    let base = start(Limits::default()).await;
    for (func, second, third) in [
        ("max_over_time", 0.06, 0.1),
        ("min_over_time", 0.01, 0.07),
        ("avg_over_time", 0.035, 0.085),
        ("sum_over_time", 0.21, 0.34),
    ] {
        let q = format!("{{ kind = server }} | {func}(duration)");
        assert_series(
            &series(&range(&base, &q).await),
            &[(
                &format!("__name__={func}"),
                &[(30_000, second), (60_000, third)],
            )],
        );
    }
}

#[tokio::test]
async fn too_many_series_answers_partially_naming_the_limit() {
    let base = start(Limits {
        max_response_series: 1,
        ..Limits::default()
    })
    .await;
    let body = range(&base, "{ } | count_over_time() by(resource.service.name)").await;
    assert_eq!(series(&body).len(), 1, "{body}");
    assert_eq!(body["status"], "PARTIAL");
    let msg = body["message"].as_str().expect("message");
    assert!(msg.contains("maximum series limit of 1"), "{msg}");
    assert!(msg.contains("max_response_series"), "{msg}");
}

#[tokio::test]
async fn bad_metrics_requests_get_400_naming_the_fix() {
    let base = start(Limits {
        max_metrics_duration: std::time::Duration::from_secs(3600),
        ..Limits::default()
    })
    .await;
    let window = format!("start={T0}&end={}", T0 + 60);
    for (path, q, rest, want) in [
        (
            "/api/metrics/query_range",
            "{ } | rate()",
            format!("{window}&step=1ms"),
            "minimum step for given range is 6ms",
        ),
        (
            "/api/metrics/query_range",
            "{ }",
            window.clone(),
            "not a metrics query",
        ),
        (
            "/api/metrics/query_range",
            "{ } | compare({ status = error }, 2000)",
            window.clone(),
            "between 1 and 1000",
        ),
        (
            "/api/metrics/query",
            "{ } | rate()",
            format!("start={T0}&end={}", T0 + 7200),
            "maximum allowed duration of 1h",
        ),
        (
            "/api/metrics/query",
            "{ } | rate()",
            format!("start={T0}&end={T0}"),
            "end must be greater than start",
        ),
        (
            "/api/metrics/query",
            "{ } | rate()",
            format!("start={T0}"),
            "must provide both or neither",
        ),
        (
            "/api/search",
            "{ } | rate()",
            window.clone(),
            "err-cairn-traceql-metrics-in-search",
        ),
    ] {
        let (status, body) = get(&base, path, q, &rest).await;
        assert_eq!(status, 400, "{path} {q} {rest}: {body}");
        assert!(body.contains(want), "{path} {q} {rest}: {body}");
    }
    let resp = client()
        .get(format!("{base}/api/metrics/query_range?q=%7B%7D%7Crate()"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401, "no tenant");
}

#[tokio::test]
async fn another_tenant_sees_no_series() {
    let base = start(Limits::default()).await;
    let resp = client()
        .get(format!(
            "{base}/api/metrics/query_range?q={}&start={T0}&end={}&step=30",
            urlencode("{ } | rate()"),
            T0 + 60
        ))
        .header("X-Scope-OrgID", "b")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["series"], json!([]));
}

#[tokio::test]
async fn compare_counts_each_attribute_value_in_selection_and_baseline() {
    let base = start(Limits::default()).await;
    let find = |all: &[(String, Vec<(i64, f64)>)], labels: &str| {
        all.iter()
            .find(|(l, _)| l == labels)
            .map(|(_, s)| s.iter().map(|(_, v)| *v).collect::<Vec<f64>>())
            .unwrap_or_else(|| panic!("no series {labels} in {all:?}"))
    };
    // Selection: the error (odd) traces; baseline: the even ones.
    let all = series(&range(&base, "{ kind = server } | compare({ status = error })").await);
    assert_eq!(
        find(&all, "__meta_type=selection,status=error"),
        [0.0, 3.0, 2.0]
    );
    assert_eq!(
        find(&all, "__meta_type=selection,statusMessage=timeout"),
        [0.0, 3.0, 2.0]
    );
    assert_eq!(
        find(&all, "__meta_type=baseline,status=unset"),
        [0.0, 3.0, 2.0]
    );
    assert_eq!(
        find(&all, "__meta_type=baseline,resource.service.name=api"),
        [0.0, 3.0, 2.0]
    );
    assert_eq!(
        find(&all, "__meta_type=selection_total,name=nil"),
        [0.0, 3.0, 2.0]
    );
    assert_eq!(
        find(&all, "__meta_type=baseline_total,kind=nil"),
        [0.0, 3.0, 2.0]
    );
    assert!(
        !all.iter()
            .any(|(l, _)| l.contains("baseline,statusMessage")),
        "empty status messages are not a value: {all:?}"
    );
    // A window: only errors after T0+30s are selected, the earlier ones
    // join the baseline; top 1 keeps the baseline's most frequent status.
    let q = format!(
        "{{ kind = server }} | compare({{ status = error }}, 1, {}, {})",
        (T0 + 30) * 1_000_000_000,
        (T0 + 60) * 1_000_000_000
    );
    let all = series(&range(&base, &q).await);
    assert_eq!(
        find(&all, "__meta_type=selection,status=error"),
        [0.0, 0.0, 2.0]
    );
    assert_eq!(
        find(&all, "__meta_type=baseline,status=unset"),
        [0.0, 3.0, 2.0]
    );
    assert!(
        !all.iter()
            .any(|(l, _)| l == "__meta_type=baseline,status=error"),
        "top 1 leaves the baseline's 3 errors out: {all:?}"
    );
    assert_eq!(
        find(&all, "__meta_type=baseline_total,status=nil"),
        [0.0, 6.0, 2.0]
    );
}

/// The exemplars of every series: `(trace:id, value)`, NaN as `None`.
fn exemplars(body: &Value) -> Vec<Vec<(String, Option<f64>)>> {
    body["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            s["exemplars"]
                .as_array()
                .map(|es| {
                    es.iter()
                        .map(|e| {
                            let trace = e["labels"]
                                .as_array()
                                .expect("labels")
                                .iter()
                                .find(|l| l["key"] == "trace:id")
                                .and_then(|l| l["value"]["stringValue"].as_str())
                                .expect("exemplar has a trace:id")
                                .to_string();
                            assert!(e["timestampMs"].is_string(), "{e}");
                            (trace, e["value"].as_f64())
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn exemplars_link_series_to_traces_within_the_budget() {
    let base = start(Limits::default()).await;
    let rest = |extra: &str| format!("start={T0}&end={}&step=30s{extra}", T0 + 60);
    let fetch = |q: &'static str, extra: &'static str| {
        let base = base.clone();
        async move {
            let (status, body) = get(&base, "/api/metrics/query_range", q, &rest(extra)).await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<Value>(&body).expect("json")
        }
    };
    // Every error span, one per slice of the range; counts carry no value.
    let all = exemplars(&fetch("{ status = error } | rate()", "").await);
    let id = |i: u8| format!("{:032x}", i);
    assert_eq!(
        all,
        [[2, 4, 6, 8, 10].map(|i| (id(i), None)).to_vec()],
        "traces 1, 3, 5, 7, 9 (IDs i+1)"
    );
    // `exemplars=2` keeps two, both in the one slice it then has.
    let two = exemplars(&fetch("{ status = error } | rate()", "&exemplars=2").await);
    assert_eq!(two, [vec![(id(2), None), (id(4), None)]]);
    // The hint wins over the parameter.
    let none = exemplars(
        &fetch(
            "{ status = error } | rate() with(exemplars=false)",
            "&exemplars=5",
        )
        .await,
    );
    assert_eq!(none, [Vec::<(String, Option<f64>)>::new()]);
    // Quantile exemplars carry the duration and go to the nearest quantile.
    let q = exemplars(
        &fetch(
            "{ kind = server } | quantile_over_time(duration, 0.1, 0.99)",
            "",
        )
        .await,
    );
    let mut durations: Vec<f64> = q.iter().flatten().map(|(_, v)| v.expect("value")).collect();
    durations.sort_by(f64::total_cmp);
    let want: Vec<f64> = (1..=10).map(|i| f64::from(i) / 100.0).collect();
    assert!(
        durations.iter().zip(&want).all(|(a, b)| close(*a, *b)) && durations.len() == 10,
        "{durations:?}"
    );
    // Overall p10 is 2^24ns (0.017s), p99 2^27ns (0.134s): up to 70ms is
    // nearer p10.
    assert_eq!((q[0].len(), q[1].len()), (7, 3), "{q:?}");
}

/// Tempo's `tempopb` messages as a client decodes them (field numbers from
/// Tempo's `tempo.proto`).
mod tempopb {
    use opentelemetry_proto::tonic::common::v1::KeyValue;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp_ms: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<KeyValue>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub exemplars: Vec<Exemplar>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SearchMetrics {
        #[prost(uint32, tag = "1")]
        pub inspected_traces: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryRangeResponse {
        #[prost(message, repeated, tag = "1")]
        pub series: Vec<TimeSeries>,
        #[prost(message, optional, tag = "2")]
        pub metrics: Option<SearchMetrics>,
        #[prost(int32, tag = "3")]
        pub status: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstantSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<KeyValue>,
        #[prost(double, tag = "2")]
        pub value: f64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct QueryInstantResponse {
        #[prost(message, repeated, tag = "1")]
        pub series: Vec<InstantSeries>,
    }
}

#[tokio::test]
async fn protobuf_answers_when_asked_for() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use prost::Message;

    let base = start(Limits::default()).await;
    let fetch = |path: &str, q: &str, rest: String| {
        client()
            .get(format!("{base}{path}?q={}&{rest}", urlencode(q)))
            .header("X-Scope-OrgID", "a")
            .header("Accept", "application/protobuf")
            .send()
    };
    let resp = fetch(
        "/api/metrics/query_range",
        "{ status = error } | rate()",
        format!("start={T0}&end={}&step=30s", T0 + 60),
    )
    .await
    .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/protobuf");
    let body = tempopb::QueryRangeResponse::decode(resp.bytes().await.expect("body"))
        .expect("QueryRangeResponse");
    assert_eq!(body.series.len(), 1);
    let s = &body.series[0];
    assert_eq!(s.labels[0].key, "__name__");
    assert_eq!(
        s.labels[0].value.as_ref().and_then(|v| v.value.clone()),
        Some(Any::StringValue("rate".into()))
    );
    let samples: Vec<(i64, f64)> = s
        .samples
        .iter()
        .map(|p| (p.timestamp_ms - T0_MS, p.value))
        .collect();
    assert_eq!(samples, [(0, 0.0), (30_000, 0.1), (60_000, 2.0 / 30.0)]);
    assert_eq!(s.exemplars.len(), 5);
    assert_eq!(body.metrics.map(|m| m.inspected_traces), Some(5));
    assert_eq!(body.status, 0, "complete");

    let resp = fetch(
        "/api/metrics/query",
        "{ kind = server } | count_over_time() by(resource.service.name)",
        format!("start={T0}&end={}", T0 + 60),
    )
    .await
    .expect("request");
    let body = tempopb::QueryInstantResponse::decode(resp.bytes().await.expect("body"))
        .expect("QueryInstantResponse");
    assert_eq!(body.series.len(), 1);
    assert_eq!(body.series[0].value, 10.0);
    assert_eq!(body.series[0].labels[0].key, "resource.service.name");
}
