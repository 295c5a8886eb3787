//! Grafana 12's Logs Drilldown app against Cairn: logs of two services
//! pushed through the Loki push API, then the app's own requests replayed.
//! The requests and the fields read come from grafana/logs-drilldown:
//! `src/services/datasource.ts` (`getVolume`: `index/volume` with `query`,
//! `start`/`end` as ISO strings and `limit=5000`, reading
//! `data.result[].metric[<primary label>]` and `value[1]` as a number;
//! `getConfig`: `drilldown-limits`), `src/services/datasourceTypes.ts`
//! (`LokiConfig`: `limits.*`, `pattern_ingester_enabled`, `version`) and
//! `src/Components/ServiceScene/LineLimitScene.tsx`
//! (`limits.max_entries_limit_per_query`). Grafana's Loki data source asks
//! `status/buildinfo` for the version. The patterns tab: `getPatterns` in
//! `src/services/datasource.ts` asks `patterns` with `query` (the service's
//! stream selector, `ServiceScene.tsx`), `start`/`end` as ISO strings and
//! `step` = the panel interval, and reads `data[].pattern`, `level` and
//! `samples` (`[unix_seconds, count]`), summing samples per pattern.

use common::time::{now_ns, rfc3339_nanos};
use serde_json::Value;

use crate::support::Cairn;
use crate::support::loki::{drilldown_get as get, metric_line, push, stream};

const SECOND: i64 = 1_000_000_000;

/// `n` lines of `service`, one second apart from `t0`.
fn lines(service: &str, t0: i64, n: i64) -> Vec<(i64, String)> {
    (0..n)
        .map(|i| {
            (
                t0 + i * SECOND,
                format!("level=info service={service} msg=\"request {i}\""),
            )
        })
        .collect()
}

fn bytes(lines: &[(i64, String)]) -> u64 {
    lines.iter().map(|(_, l)| l.len() as u64).sum()
}

/// `metric[label] → value[1]` of a vector result.
fn volumes_by(body: &Value, label: &str) -> Vec<(String, u64)> {
    assert_eq!(body["status"], "success", "{body}");
    assert_eq!(body["data"]["resultType"], "vector", "{body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v = r["value"][1].as_str().expect("value is a string");
            (
                r["metric"][label].as_str().unwrap_or_default().to_string(),
                v.parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn drilldown_opens_with_build_info_limits_and_volumes_per_service() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let t0 = now_ns() - 120 * SECOND;
    let checkout_prod = lines("checkout", t0, 20);
    let checkout_dev = lines("checkout", t0 + 500_000_000, 5);
    let payments = lines("payments", t0, 7);
    let (status, body) = push(
        &url,
        "acme",
        vec![
            stream(r#"{service_name="checkout", env="prod"}"#, &checkout_prod),
            stream(r#"{service_name="checkout", env="dev"}"#, &checkout_dev),
            stream(r#"{service_name="payments", env="prod"}"#, &payments),
        ],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let (status, build) = get(&url, "acme", "/loki/api/v1/status/buildinfo", &[]).await;
    assert_eq!(status, 200, "{build}");
    for field in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        assert!(build[field].is_string(), "{field} in {build}");
    }

    let (status, config) = get(&url, "acme", "/loki/api/v1/drilldown-limits", &[]).await;
    assert_eq!(status, 200, "{config}");
    let limits = &config["limits"];
    assert_eq!(limits["max_entries_limit_per_query"], 5000, "{config}");
    assert_eq!(limits["max_query_series"], 500, "{config}");
    assert_eq!(limits["volume_enabled"], true, "{config}");
    assert!(limits["discover_log_levels"].is_boolean(), "{config}");
    assert!(
        limits["pattern_persistence_enabled"].is_boolean(),
        "{config}"
    );
    assert!(limits["retention_period"].is_string(), "{config}");
    assert_eq!(config["pattern_ingester_enabled"], true, "{config}");
    assert!(config["version"].is_string(), "{config}");

    // The service list: `getVolume` with `{service_name=~".+"}`.
    let range = [
        (
            "start",
            rfc3339_nanos((t0 - 3600 * SECOND) / 1_000_000 * 1_000_000),
        ),
        (
            "end",
            rfc3339_nanos((now_ns() + 60 * SECOND) / 1_000_000 * 1_000_000),
        ),
    ];
    let mut params = vec![
        ("end", range[1].1.clone()),
        ("limit", "5000".to_string()),
        ("query", r#"{service_name=~".+"}"#.to_string()),
        ("start", range[0].1.clone()),
    ];
    let (status, body) = get(&url, "acme", "/loki/api/v1/index/volume", &params).await;
    assert_eq!(status, 200, "{body}");
    let mut got = volumes_by(&body, "service_name");
    got.sort();
    let per_service = vec![
        (
            "checkout".to_string(),
            bytes(&checkout_prod) + bytes(&checkout_dev),
        ),
        ("payments".to_string(), bytes(&payments)),
    ];
    assert_eq!(got, per_service, "{body}");
    for r in body["data"]["result"].as_array().unwrap() {
        assert_eq!(
            r["metric"].as_object().unwrap().len(),
            1,
            "grouped by the selector's labels: {body}"
        );
    }

    // `limit` keeps the largest; `targetLabels` regroups.
    params[1].1 = "1".to_string();
    let (_, body) = get(&url, "acme", "/loki/api/v1/index/volume", &params).await;
    assert_eq!(
        volumes_by(&body, "service_name"),
        vec![(
            "checkout".to_string(),
            bytes(&checkout_prod) + bytes(&checkout_dev)
        )]
    );
    params[1].1 = "100".to_string();
    params.push(("targetLabels", "env".to_string()));
    let (_, body) = get(&url, "acme", "/loki/api/v1/index/volume", &params).await;
    let mut got = volumes_by(&body, "env");
    got.sort();
    assert_eq!(
        got,
        vec![
            ("dev".to_string(), bytes(&checkout_dev)),
            ("prod".to_string(), bytes(&checkout_prod) + bytes(&payments)),
        ]
    );

    // `volume_range`: a matrix whose points add up to the same bytes.
    params.pop();
    params.push(("step", "30s".to_string()));
    let (status, body) = get(&url, "acme", "/loki/api/v1/index/volume_range", &params).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix", "{body}");
    let mut got: Vec<(String, u64)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let sum = r["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[1].as_str().unwrap().parse::<u64>().unwrap())
                .sum();
            (
                r["metric"]["service_name"].as_str().unwrap().to_string(),
                sum,
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, per_service, "{body}");

    // Bad parameters are a clear 400, not a panic.
    params.push(("aggregateBy", "streams".to_string()));
    let (status, body) = get(&url, "acme", "/loki/api/v1/index/volume", &params).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("aggregateBy"), "{body}");
}

#[tokio::test]
async fn labels_and_label_values_include_a_line_exactly_at_end() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let at = now_ns() - 30 * SECOND;
    let (status, body) = push(
        &url,
        "acme",
        vec![stream(
            r#"{service_name="edge", edge_only="x"}"#,
            &[(at, "at end".to_string())],
        )],
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let range = [
        ("start", (at - 10 * SECOND).to_string()),
        ("end", at.to_string()),
    ];

    let (status, body) = get(&url, "acme", "/loki/api/v1/labels", &range).await;
    assert_eq!(status, 200, "{body}");
    let names = body["data"].as_array().unwrap();
    assert!(names.iter().any(|n| n == "edge_only"), "{body}");

    let (status, body) = get(&url, "acme", "/loki/api/v1/label/edge_only/values", &range).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], serde_json::json!(["x"]), "{body}");
}

/// `n` lines from `t0`, one second apart, `line(i)` each.
fn templated(t0: i64, n: i64, line: impl Fn(i64) -> String) -> Vec<(i64, String)> {
    (0..n).map(|i| (t0 + i * SECOND, line(i))).collect()
}

/// The app's patterns request (`getPatterns`) over `[start, end]`.
fn patterns_request(query: &str, start: i64, end: i64, step: &str) -> Vec<(&'static str, String)> {
    vec![
        ("end", rfc3339_nanos(end / 1_000_000 * 1_000_000)),
        ("query", query.to_string()),
        ("start", rfc3339_nanos(start / 1_000_000 * 1_000_000)),
        ("step", step.to_string()),
    ]
}

#[tokio::test]
async fn patterns_tab_shows_each_template_with_its_level_and_line_counts() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let t0 = now_ns() - 200 * SECOND;
    let info = |i: i64| format!("level=info GET /api/users/{i} 200 {}ms", 3 + i * 7 % 50);
    let prod_info = templated(t0, 30, info);
    let dev_info = templated(t0 + 40 * SECOND, 10, info);
    let errors = templated(t0 + SECOND / 2, 35, |i| {
        format!("level=error connection to db-{} refused", i % 4)
    });
    // Fewer than 30 lines: not a pattern (Loki prunes these too).
    let warns = templated(t0 + SECOND / 4, 12, |i| {
        format!("level=warn cache miss for key user-{i}")
    });
    let unique = vec![
        (
            t0 + 60 * SECOND,
            "worker pool resized to eight threads".to_string(),
        ),
        (
            t0 + 61 * SECOND,
            "shutting down the metrics exporter now".to_string(),
        ),
    ];
    // Before `start`: not counted.
    let before = templated(t0 - 100 * SECOND, 5, info);
    let (status, body) = push(
        &url,
        "acme",
        vec![
            stream(r#"{service_name="shop", env="prod"}"#, &before),
            stream(r#"{service_name="shop", env="prod"}"#, &prod_info),
            stream(r#"{service_name="shop", env="dev"}"#, &dev_info),
            stream(r#"{service_name="shop", env="prod"}"#, &errors),
            stream(r#"{service_name="shop", env="prod"}"#, &warns),
            stream(r#"{service_name="shop", env="prod"}"#, &unique),
            stream(r#"{service_name="other"}"#, &templated(t0, 40, info)),
        ],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let (start, end) = (t0 - SECOND, now_ns() + 60 * SECOND);
    let params = patterns_request(r#"{service_name="shop"}"#, start, end, "2s");
    let (status, body) = get(&url, "acme", "/loki/api/v1/patterns", &params).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success", "{body}");
    let data = body["data"].as_array().expect("data is an array");
    let got: Vec<(String, String, i64)> = data
        .iter()
        .map(|p| {
            let samples = p["samples"].as_array().expect("samples");
            let mut lines = 0;
            for s in samples {
                let (ts, n) = (s[0].as_i64().unwrap(), s[1].as_i64().unwrap());
                // `step=2s` is raised to Loki's 10s resolution.
                assert_eq!(ts % 10, 0, "step-aligned: {p}");
                assert!(ts >= start / SECOND - 10 && ts <= end / SECOND, "{p}");
                assert!(n > 0, "{p}");
                lines += n;
            }
            (
                p["pattern"].as_str().unwrap().to_string(),
                p["level"].as_str().unwrap().to_string(),
                lines,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "level=info GET <_> 200 <_>".to_string(),
                "info".to_string(),
                40
            ),
            (
                "level=error connection to <_> refused".to_string(),
                "error".to_string(),
                35
            ),
        ],
        "largest first; rare lines, other services and lines before start left out: {body}"
    );

    // A filter or metric query, a bad or zero step: a clear 400.
    for (name, value, says) in [
        (
            "query",
            r#"{service_name="shop"} |= "GET""#,
            "err-cairn-patterns-query",
        ),
        (
            "query",
            r#"count_over_time({service_name="shop"}[1m])"#,
            "err-cairn-patterns-query",
        ),
        ("query", "service_name=shop", "parse error"),
        ("step", "soon", "step"),
        ("step", "0", "step"),
    ] {
        let mut bad = params.clone();
        bad.retain(|(k, _)| *k != name);
        bad.push((name, value.to_string()));
        let (status, body) = get(&url, "acme", "/loki/api/v1/patterns", &bad).await;
        assert_eq!(status, 400, "{name}={value}: {body}");
        assert!(body.to_string().contains(says), "{name}={value}: {body}");
    }
}

#[tokio::test]
async fn patterns_cluster_only_the_newest_lines_within_the_tenant_budget() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "limits:\n  max_pattern_lines_per_query: 40\n").await;
    let url = cairn.url();
    // All within the first window read back from `end` (5 minutes), so
    // all 75 lines are read and the 35 older ones left out.
    let t0 = now_ns() - 200 * SECOND;
    let older = templated(t0, 35, |i| {
        format!("level=error disk {i} is full on node-{i}")
    });
    let newer = templated(t0 + 100 * SECOND, 40, |i| {
        format!("level=info GET /api/users/{i} 200 {i}ms")
    });
    let (status, body) = push(
        &url,
        "acme",
        vec![
            stream(r#"{service_name="shop", pod="a"}"#, &older),
            stream(r#"{service_name="shop", pod="b"}"#, &newer),
        ],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let params = patterns_request(r#"{service_name="shop"}"#, t0, now_ns(), "1m");
    let (status, body) = get(&url, "acme", "/loki/api/v1/patterns", &params).await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "only the newest 40 lines: {body}");
    assert_eq!(data[0]["pattern"], "level=info GET <_> 200 <_>", "{body}");
    let lines: i64 = data[0]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[1].as_i64().unwrap())
        .sum();
    assert_eq!(lines, 40, "{body}");
    let left_out = metric_line(&url, "cairn_query_pattern_lines_left_out_total ")
        .await
        .expect("the counter is on /metrics");
    assert!(left_out.ends_with(" 35"), "{left_out}");
}
