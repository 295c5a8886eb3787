//! Logs Drilldown's level and field views end to end: lines pushed through
//! the Loki API get `detected_level` (Loki's `discover_log_levels`), and
//! the `detected_labels`, `detected_fields` and
//! `detected_field/<name>/values` requests the app sends are answered with
//! the JSON it parses.
//!
//! The requests are the ones in grafana/logs-drilldown
//! `src/services/datasource.ts` (`getDetectedLabels`,
//! `getDetectedFields`: `start`/`end` as ISO-8601 and `query` the stream
//! selector; the app reads `detectedLabels[].label`/`cardinality` and
//! `fields[].label`/`cardinality`/`parsers`/`type`/`jsonPath`, with an
//! empty `parsers` meaning structured metadata).

use common::time::now_ns;
use serde_json::Value;

use crate::support::loki::{drilldown_get, push, query_range, stream};
use crate::support::{Cairn, http};

/// Unix nanoseconds as the ISO-8601 text the app sends.
fn iso(ns: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// GETs `path` with `params` for tenant `t`; asserts 200 and returns JSON.
async fn get(url: &str, path: &str, params: &[(&str, String)]) -> Value {
    let (status, body) = drilldown_get(url, "t", path, params).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn drilldown_levels_labels_and_fields_views() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let now = now_ns();
    let at = |i: i64| now - 60_000_000_000 + i * 1_000_000;
    let checkout: Vec<(i64, String)> = [
        r#"{"level":"info","msg":"order placed","order":{"id":17,"total":12.5},"took":"120ms"}"#,
        r#"{"level":"error","msg":"payment failed","order":{"id":18,"total":3.25},"took":"2s"}"#,
        r#"{"level":"warn","msg":"slow","order":{"id":19,"total":7.75},"took":"900ms"}"#,
    ]
    .iter()
    .enumerate()
    .map(|(i, l)| (at(i as i64), l.to_string()))
    .collect();
    let api: Vec<(i64, String)> = [
        r#"level=info method=GET status=200 bytes=10KB msg="served""#,
        r#"level=debug method=POST status=201 bytes=2MB msg="created""#,
        "ERROR: upstream timed out",
        "plain text without a level",
    ]
    .iter()
    .enumerate()
    .map(|(i, l)| (at(10 + i as i64), l.to_string()))
    .collect();
    let labelled = stream(
        r#"{service_name="api", level="WARN", pod="api-1"}"#,
        &[(at(20), "level=error but the label wins".into())],
    );
    let (status, body) = push(
        &url,
        "t",
        vec![
            stream(r#"{service_name="checkout", pod="checkout-1"}"#, &checkout),
            stream(r#"{service_name="api", pod="api-0"}"#, &api),
            labelled,
        ],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // Levels view: every line has the level Loki would detect.
    let (start, end) = (now - 3_600_000_000_000, now + 60_000_000_000);
    let body = query_range(&url, "t", r#"{service_name=~".+"}"#, start, end).await;
    let mut levels: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .flat_map(|s| {
            let level = s["stream"]["detected_level"]
                .as_str()
                .unwrap_or("none")
                .to_string();
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| (v[1].as_str().unwrap().to_string(), level.clone()))
        })
        .collect();
    levels.sort();
    let want = |line: &str| {
        levels
            .iter()
            .find(|(l, _)| l == line)
            .map(|(_, lv)| lv.as_str())
            .unwrap_or_else(|| panic!("{line} missing from {levels:?}"))
            .to_string()
    };
    assert_eq!(want(&checkout[1].1), "error");
    assert_eq!(want(&checkout[2].1), "warn");
    assert_eq!(want(&api[1].1), "debug");
    assert_eq!(want("ERROR: upstream timed out"), "error");
    assert_eq!(want("plain text without a level"), "unknown");
    assert_eq!(want("level=error but the label wins"), "warn");
    let errors = query_range(
        &url,
        "t",
        r#"{service_name=~".+"} | detected_level="error""#,
        start,
        end,
    )
    .await;
    let n: usize = errors["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{errors}"))
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 2, "{errors}");

    // Labels view: `detected_labels` with the app's parameters.
    let range = [("start", iso(start)), ("end", iso(end))];
    let mut p = range.to_vec();
    p.push(("query", r#"{service_name="api"}"#.into()));
    let labels = get(&url, "/loki/api/v1/detected_labels", &p).await;
    let labels: Vec<(String, u64)> = labels["detectedLabels"]
        .as_array()
        .unwrap_or_else(|| panic!("{labels}"))
        .iter()
        .map(|l| {
            (
                l["label"].as_str().unwrap().into(),
                l["cardinality"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(labels.contains(&("pod".into(), 2)), "{labels:?}");
    assert!(labels.contains(&("level".into(), 1)), "{labels:?}");
    let mut all = range.to_vec();
    all.push(("query", String::new()));
    let every = get(&url, "/loki/api/v1/detected_labels", &all).await;
    assert!(
        every["detectedLabels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["label"] == "service_name" && l["cardinality"] == 2),
        "{every}"
    );

    // Fields view: `detected_fields` for one service at a time.
    let fields = |body: &Value| -> Vec<Value> {
        body["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .clone()
    };
    let field = |fs: &[Value], name: &str| -> Value {
        fs.iter()
            .find(|f| f["label"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {fs:?}"))
            .clone()
    };
    let mut p = range.to_vec();
    p.push(("query", r#"{service_name="checkout"}"#.into()));
    let fs = fields(&get(&url, "/loki/api/v1/detected_fields", &p).await);
    let total = field(&fs, "order_total");
    assert_eq!(total["type"], "float");
    assert_eq!(total["cardinality"], 3);
    assert_eq!(total["parsers"], serde_json::json!(["json"]));
    assert_eq!(total["jsonPath"], serde_json::json!(["order", "total"]));
    assert_eq!(field(&fs, "order_id")["type"], "int");
    assert_eq!(field(&fs, "took")["type"], "duration");
    let level = field(&fs, "detected_level");
    assert_eq!(
        (level["parsers"].clone(), level["cardinality"].clone()),
        (Value::Null, 3.into())
    );

    let mut p = range.to_vec();
    p.push(("query", r#"{service_name="api", pod="api-0"}"#.into()));
    let fs = fields(&get(&url, "/loki/api/v1/detected_fields", &p).await);
    assert_eq!(field(&fs, "status")["type"], "int");
    assert_eq!(field(&fs, "bytes")["type"], "bytes");
    assert_eq!(
        field(&fs, "method")["parsers"],
        serde_json::json!(["logfmt"])
    );
    assert_eq!(field(&fs, "method")["cardinality"], 2);

    // A field's values, as the app's field breakdown asks for them.
    let values = get(&url, "/loki/api/v1/detected_field/method/values", &p).await;
    assert_eq!(values["values"], serde_json::json!(["GET", "POST"]));

    // Bad input: a metric query is refused with the fix named.
    let mut bad = range.to_vec();
    bad.push((
        "query",
        r#"count_over_time({service_name="api"}[1m])"#.into(),
    ));
    let r = http()
        .get(format!("{url}/loki/api/v1/detected_fields"))
        .header("X-Scope-OrgID", "t")
        .query(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("err-cairn-detected-query"));
}
