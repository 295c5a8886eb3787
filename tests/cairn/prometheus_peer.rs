//! A real Prometheus remote-writes into Cairn; PromQL answers through Cairn
//! match the same queries against that Prometheus at the same timestamps.

use std::time::Duration;

use serde_json::Value;

use crate::support::peers::Prometheus;
use crate::support::{Cairn, close, vector};

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Cairn and a Prometheus that scrapes itself every second and remote-writes
/// to Cairn as `team-a`, after at least `scrapes` scrapes have arrived.
/// Returns them and a whole-second timestamp whose data is fully shipped.
async fn scraping_pair(dir: &std::path::Path, scrapes: usize) -> (Cairn, Prometheus, f64) {
    let cairn = Cairn::start(dir, "").await;
    let prom = Prometheus::start(dir, &format!("{}/api/v1/push", cairn.url()), "team-a").await;
    let query = format!("count_over_time(up[{}s])", scrapes * 2);
    let mut ready = false;
    for _ in 0..(scrapes * 4).max(60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if vector(&cairn.query("team-a", &query, now_secs()).await)
            .first()
            .is_some_and(|(_, v)| v.parse::<f64>().unwrap_or(0.0) >= scrapes as f64)
        {
            ready = true;
            break;
        }
    }
    assert!(
        ready,
        "Cairn did not receive {scrapes} scrapes in time; log:\n{}",
        cairn.log()
    );
    // Compare at a timestamp a few seconds back, after waiting for it to be shipped.
    let at = (now_secs() - 3.0).floor();
    tokio::time::sleep(Duration::from_secs(4)).await;
    (cairn, prom, at)
}

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
    let (cairn, prom, at) = scraping_pair(dir.path(), 15).await;
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

/// Range queries of every kind users write, over Prometheus's own metrics
/// (counters, gauges, classic histograms with `_bucket` series).
///
/// Cairn follows Prometheus 3 semantics (the conformance suite's), the
/// reference here is Debian's Prometheus 2.42. Two documented 3.0 changes
/// would make honest answers differ, so the queries avoid them: range and
/// subquery windows are left-open in 3.x (a sample exactly on the window's
/// start counts only in 2.x — hence no `avg_over_time` over a subquery whose
/// points fall on the boundary), and rate extrapolation near a series' first
/// sample changed (so the compared range starts well after the first scrape).
const PARITY_QUERIES: &[&str] = &[
    "up",
    "sum(up)",
    "count by (job) (up)",
    "rate(prometheus_http_requests_total[10s])",
    "sum by (handler) (rate(prometheus_http_requests_total[10s]))",
    "sum without (instance) (rate(prometheus_http_requests_total[10s]))",
    "irate(prometheus_http_requests_total[10s])",
    "increase(prometheus_tsdb_head_samples_appended_total[10s])",
    "delta(prometheus_tsdb_head_series[10s])",
    "idelta(go_goroutines[10s])",
    "deriv(process_resident_memory_bytes[10s])",
    "predict_linear(process_resident_memory_bytes[10s], 60)",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))",
    "histogram_quantile(0.99, sum by (le, handler) (rate(prometheus_http_request_duration_seconds_bucket[10s])))",
    "histogram_quantile(0.5, rate(prometheus_http_response_size_bytes_bucket[10s]))",
    "avg_over_time(go_goroutines[10s])",
    "max_over_time(process_resident_memory_bytes[10s])",
    "min_over_time(go_memstats_alloc_bytes[10s])",
    "sum_over_time(go_goroutines[5s])",
    "quantile_over_time(0.5, go_goroutines[10s])",
    "stddev_over_time(go_goroutines[10s])",
    "stdvar_over_time(go_memstats_alloc_bytes[10s])",
    "count_over_time(up[10s])",
    "last_over_time(go_goroutines[10s])",
    "topk(3, rate(prometheus_http_requests_total[10s]))",
    "bottomk(2, go_memstats_alloc_bytes)",
    "quantile(0.5, rate(prometheus_http_requests_total[10s]))",
    "stddev(rate(prometheus_http_requests_total[10s]))",
    "count_values(\"value\", up)",
    "group by (code) (prometheus_http_requests_total)",
    "prometheus_http_requests_total / on (instance, job) group_left prometheus_tsdb_head_series",
    "go_memstats_alloc_bytes / go_memstats_sys_bytes",
    "process_resident_memory_bytes > bool 1e6",
    "prometheus_http_requests_total > 0",
    "up == 1",
    "up and on (job) prometheus_build_info",
    "go_goroutines or up",
    "prometheus_http_requests_total unless prometheus_http_requests_total{code=\"200\"}",
    // 9.5 s: no inner step (whole seconds) ever sits on the window's start.
    "max_over_time(rate(prometheus_http_requests_total[5s])[9500ms:2s])",
    "last_over_time(sum(go_goroutines)[10s:1s])",
    "changes(go_goroutines[10s])",
    "resets(prometheus_http_requests_total[10s])",
    "label_replace(up, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "label_join(up, \"joined\", \",\", \"job\", \"instance\")",
    "abs(delta(go_goroutines[10s]))",
    "clamp_max(go_goroutines, 20)",
    "round(rate(prometheus_http_requests_total[10s]), 0.01)",
    "timestamp(up)",
    "absent(nonexistent_metric)",
    "vector(1) + scalar(sum(up))",
    "time() - process_start_time_seconds",
    "avg by (job) (go_memstats_heap_alloc_bytes offset 5s)",
    "sum(rate(prometheus_http_requests_total{handler=~\"/api.*\"}[10s]))",
    "{__name__=~\"go_memstats_(alloc|sys)_bytes\", job!=\"nope\"}",
];

/// Series of a matrix result keyed by their label set, values parsed.
fn matrix(body: &Value, query: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    assert_eq!(body["status"], "success", "{query}: {body}");
    let result = &body["data"]["result"];
    let mut out: Vec<(String, Vec<(f64, f64)>)> = result
        .as_array()
        .unwrap_or_else(|| panic!("{query}: no result array: {body}"))
        .iter()
        .map(|s| {
            let values = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap(),
                        p[1].as_str().unwrap().parse::<f64>().unwrap(),
                    )
                })
                .collect();
            (s["metric"].to_string(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn forty_range_queries_match_prometheus() {
    assert!(PARITY_QUERIES.len() >= 40);
    let dir = tempfile::tempdir().unwrap();
    // 40 scrapes: every window of the compared 15 s (10 s ranges plus 10 s
    // subqueries) lies after the first sample.
    let (cairn, prom, at) = scraping_pair(dir.path(), 40).await;
    let (start, end) = (at - 15.0, at);
    let cairn_api = format!("{}/prometheus", cairn.url());
    let mut mismatches = Vec::new();
    for query in PARITY_QUERIES {
        let want = matrix(&range(&prom.url(), None, query, start, end).await, query);
        let got = matrix(
            &range(&cairn_api, Some("team-a"), query, start, end).await,
            query,
        );
        let same = want.len() == got.len()
            && want.iter().zip(&got).all(|((wm, wv), (gm, gv))| {
                wm == gm
                    && wv.len() == gv.len()
                    && wv
                        .iter()
                        .zip(gv)
                        .all(|(w, g)| w.0 == g.0 && close(w.1, g.1))
            });
        if !same {
            mismatches.push(format!(
                "{query}\n  prometheus: {want:?}\n  cairn:      {got:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} queries differ over [{start}, {end}]:\n{}",
        mismatches.len(),
        PARITY_QUERIES.len(),
        mismatches.join("\n")
    );
}

/// The `result` of an instant query with series sorted by labels, compared
/// whole: float values and native histograms (count, sum, every bucket's
/// boundaries and count) as Prometheus renders them.
fn sorted_result(body: &Value, query: &str) -> Vec<Value> {
    assert_eq!(body["status"], "success", "{query}: {body}");
    let mut out = body["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: no result array: {body}"))
        .clone();
    out.sort_by_key(|s| s["metric"].to_string());
    out
}

/// Prometheus scrapes native histograms (protobuf exposition, as Prometheus
/// 3 client libraries expose them) and remote-writes them (1.0's
/// `histograms` field) to Cairn. Cairn stores them and answers every
/// histogram query exactly as that Prometheus answers from its own TSDB —
/// from the head, and again after a `kill -9` replays them from the WAL.
#[tokio::test]
async fn native_histograms_remote_written_by_prometheus_answer_as_in_prometheus() {
    use crate::support::native_target::{METRIC, NativeTarget};
    let dir = tempfile::tempdir().unwrap();
    let target = NativeTarget::start().await;
    let cairn = Cairn::start(dir.path(), "").await;
    let prom = Prometheus::start_with_native_histograms(
        dir.path(),
        &format!("{}/api/v1/push", cairn.url()),
        "team-a",
        &target.addr,
    )
    .await;
    let ready_query = format!("histogram_count({METRIC}{{route=\"/a\"}})");
    let mut ready = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if vector(&cairn.query("team-a", &ready_query, now_secs()).await)
            .first()
            .is_some_and(|(_, v)| v.parse::<f64>().unwrap_or(0.0) >= 8.0 * 8.0)
        {
            ready = true;
            break;
        }
    }
    assert!(
        ready,
        "Cairn did not receive 8 scrapes of native histograms; log:\n{}\nprometheus log:\n{}",
        cairn.log(),
        std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
    );
    let at = (now_secs() - 3.0).floor();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let queries = [
        METRIC.to_string(),
        format!("histogram_count({METRIC})"),
        format!("histogram_sum({METRIC})"),
        // Quantiles that fall on bucket boundaries: Prometheus 3 (and Cairn)
        // interpolate exponentially inside a bucket, 2.42 linearly.
        format!("histogram_quantile(0.375, {METRIC}{{route=\"/a\"}})"),
        format!("histogram_quantile(1, {METRIC}{{route=\"/b\"}})"),
        format!("histogram_fraction(0, 1, {METRIC})"),
        format!("sum({METRIC})"),
        format!("histogram_count(increase({METRIC}[4s]))"),
        format!("count_over_time({METRIC}[5s])"),
    ];
    same_answers(&prom, &cairn, &queries, at).await;
    let cairn = cairn.restart().await;
    same_answers(&prom, &cairn, &queries, at).await;
}

/// True when `a` and `b` are equal, numbers in strings compared to 12
/// significant digits: Prometheus 2.42 computes exponential bucket bounds
/// with `exp2` (`1.414213562373095`), Prometheus 3 and Cairn exactly from a
/// table (`1.4142135623730951`).
fn same_json(a: &[Value], b: &[Value]) -> bool {
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::String(x), Value::String(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => close(x, y) || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => x == y,
            },
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// Asserts Cairn (tenant `team-a`) answers every instant query at `at`
/// as Prometheus does.
async fn same_answers(prom: &Prometheus, cairn: &Cairn, queries: &[String], at: f64) {
    let mut mismatches = Vec::new();
    for q in queries {
        let want = sorted_result(&prometheus_query(prom, q, at).await, q);
        let got = sorted_result(&cairn.query("team-a", q, at).await, q);
        assert!(!want.is_empty(), "{q}: Prometheus returned nothing");
        if !same_json(&got, &want) {
            mismatches.push(format!(
                "{q}\n  prometheus: {want:?}\n  cairn:      {got:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "at {at}:\n{}", mismatches.join("\n"));
}
