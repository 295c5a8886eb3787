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
//! `status/buildinfo` for the version.

use common::time::{now_ns, rfc3339_nanos};
use serde_json::Value;

use crate::support::Cairn;
use crate::support::loki::{drilldown_get as get, push, stream};

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
    assert!(config["pattern_ingester_enabled"].is_boolean(), "{config}");
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
