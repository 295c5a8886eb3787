//! Grafana 12's Traces Drilldown app against Cairn: spans of two services
//! pushed over OTLP/HTTP, then the TraceQL metrics requests the app makes
//! replayed through `/api/metrics/query_range` and `/api/metrics/query`,
//! answered from the ingesters and again from trace blocks.
//!
//! The queries come from grafana/traces-drilldown:
//! `src/components/Explore/queries/generateMetricsQuery.ts`
//! (`generateMetricsQuery`: `{<filters>} | rate()` for the rate panel,
//! `{<filters> && status=error} | rate()` for errors,
//! `quantile_over_time(duration, <percentiles>)` for durations,
//! `by(<key>)` with a `<key> != nil` guard for breakdowns, and
//! ` with(sample=true)` where `sample` is set — `REDPanel.tsx` and
//! `MiniREDPanel.tsx` via `getMetricsTempoQuery({ metric, sample: true })`,
//! `layouts/attributeBreakdown.ts` without it),
//! `src/components/Explore/queries/histogram.ts` (`buildHistogramQuery`:
//! `{<filters>} | histogram_over_time(duration) with(sample=true)`, the
//! duration panel), `src/components/Explore/TracesByService/Tabs/Comparison/AttributesComparisonScene.tsx`
//! (`buildQuery`: `{<filters>} | compare(<comparisonQuery>)` with `step`
//! the whole range; `comparisonQuery` in `queries/comparisonQuery.ts`:
//! `{<selection>}, 10, <from ns>, <to ns>`) and
//! `src/components/Explore/TraceQLIssueDetector.tsx`
//! (`{} | rate()`, the instant probe), and the Structure tab's search from
//! `src/components/Explore/TracesByService/Tabs/Structure/StructureScene.tsx`
//! (`buildQuery` for the errors metric: `({<filters> && status = error}
//! &>> { status = error }) || ({<filters> && status = error}) |
//! select(status, resource.service.name, name, nestedSetParent,
//! nestedSetLeft, nestedSetRight)`, `limit` 200, `spss` 20, with the
//! root-spans primary signal `nestedSetParent<0`). `<filters>` is
//! `${primarySignal} && ${filters}` (`src/utils/shared.ts`): the primary
//! signal from `src/pages/Explore/primary-signals.ts` (`kind=server`,
//! `true` for all spans) and the ad-hoc filters, `true` when none
//! (`renderTraceQLAdHocFilters` in `src/utils/filters-renderer.ts`).
//! Grafana's Tempo data source sends `start`/`end` in Unix nanoseconds
//! and `step` as a Go duration.

use std::time::Duration;

use common::time::now_ms;
use serde_json::{Value, json};

use crate::support::{Cairn, close, http};

const SECOND: u64 = 1_000_000_000;

/// Ten traces, trace `i` starting at `t0 + 5i s + 1ms`: a server span of
/// `api` lasting `(i+1)·10ms` (an error when `i` is odd) and a client span
/// of `db` (5ms) under it.
fn traces(t0_ns: u64) -> Value {
    let resource = |service: &str| json!({"attributes": [{"key": "service.name", "value": {"stringValue": service}}]});
    let mut api = Vec::new();
    let mut db = Vec::new();
    for i in 0..10u64 {
        let start = t0_ns + i * 5 * SECOND + 1_000_000;
        let trace_id = format!("{:032x}", 0xd00d_0000 + i);
        let root = format!("{:016x}", 0x100 + i);
        let mut span = json!({
            "traceId": trace_id, "spanId": root, "name": "GET /", "kind": 2,
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + (i + 1) * 10_000_000).to_string(),
        });
        if i % 2 == 1 {
            span["status"] = json!({"code": 2, "message": "boom"});
        }
        api.push(span);
        db.push(json!({
            "traceId": trace_id, "spanId": format!("{:016x}", 0x200 + i),
            "parentSpanId": root, "name": "SELECT", "kind": 3,
            "startTimeUnixNano": (start + 1_000_000).to_string(),
            "endTimeUnixNano": (start + 6_000_000).to_string(),
        }));
    }
    json!({"resourceSpans": [
        {"resource": resource("api"), "scopeSpans": [{"spans": api}]},
        {"resource": resource("db"), "scopeSpans": [{"spans": db}]},
    ]})
}

/// A Drilldown request as Grafana's Tempo data source sends it.
async fn get(cairn: &Cairn, path: &str, q: &str, params: &[(&str, String)]) -> Value {
    let mut all = vec![("q", q.to_string())];
    all.extend(params.iter().cloned());
    let resp = http()
        .get(format!("{}{path}", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .query(&all)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "{path} {q}: {body}\n{}", cairn.log());
    serde_json::from_str(&body).expect("json")
}

/// `labels` rendered `k=v,…` (strings and doubles as the app reads them).
fn labels(series: &Value) -> String {
    series["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| {
            let v = &l["value"];
            let text = match (v["stringValue"].as_str(), v["doubleValue"].as_f64()) {
                (Some(s), _) => s.to_string(),
                (None, Some(f)) => f.to_string(),
                _ => panic!("unexpected label value {v}"),
            };
            format!("{}={text}", l["key"].as_str().expect("key"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Every series as `(labels, [(seconds after t0, value)])`, checking the
/// shape the data source parses (`timestampMs` a string, `value` a number).
fn range_series(body: &Value, t0_ns: u64) -> Vec<(String, Vec<(i64, f64)>)> {
    let t0_ms = (t0_ns / 1_000_000) as i64;
    body["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            let samples = s["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|p| {
                    let ms: i64 = p["timestampMs"]
                        .as_str()
                        .expect("timestampMs is a string")
                        .parse()
                        .expect("ms");
                    ((ms - t0_ms) / 1000, p["value"].as_f64().expect("value"))
                })
                .collect();
            (labels(s), samples)
        })
        .collect()
}

fn assert_close(got: &[(String, Vec<(i64, f64)>)], want: &[(String, Vec<(i64, f64)>)]) {
    let same = got.len() == want.len()
        && got.iter().zip(want).all(|((gl, gs), (wl, ws))| {
            gl == wl
                && gs.len() == ws.len()
                && gs
                    .iter()
                    .zip(ws)
                    .all(|((gt, gv), (wt, wv))| gt == wt && close(*gv, *wv))
        });
    assert!(same, "got {got:?}\nwant {want:?}");
}

/// Replays the app's metrics requests over `[t0, t0+60s]` and checks the
/// answers against the pushed spans.
async fn replay(cairn: &Cairn, t0_ns: u64, from: &str) {
    let range = [
        ("start", t0_ns.to_string()),
        ("end", (t0_ns + 60 * SECOND).to_string()),
        ("step", "30s".to_string()),
    ];
    let rate = |l: &str, a: f64, b: f64| {
        (
            l.to_string(),
            vec![(0, 0.0), (30, a / 30.0), (60, b / 30.0)],
        )
    };
    // RED panel, server spans, no filters: traces 0–5 then 6–9.
    let body = get(
        cairn,
        "/api/metrics/query_range",
        "{kind=server && true} | rate()  with(sample=true)",
        &range,
    )
    .await;
    assert_close(
        &range_series(&body, t0_ns),
        &[rate("__name__=rate", 6.0, 4.0)],
    );
    // Its exemplars link to the pushed traces (the data source reads
    // `trace:id` for the panel's "View trace" link).
    let traces: Vec<&str> = body["series"][0]["exemplars"]
        .as_array()
        .expect("exemplars")
        .iter()
        .filter_map(|e| {
            e["labels"]
                .as_array()?
                .iter()
                .find(|l| l["key"] == "trace:id")?["value"]["stringValue"]
                .as_str()
        })
        .collect();
    assert_eq!(traces.len(), 10, "{from}: one per server span: {body}");
    assert!(
        traces
            .iter()
            .all(|t| t.starts_with("000000000000000000000000d00d")),
        "{traces:?}"
    );
    // Errors: odd traces.
    let body = get(
        cairn,
        "/api/metrics/query_range",
        "{kind=server && true && status=error} | rate()  with(sample=true)",
        &range,
    )
    .await;
    assert_close(
        &range_series(&body, t0_ns),
        &[rate("__name__=rate", 3.0, 2.0)],
    );
    // Duration histogram: 10ms → 2^24ns, 20–30ms → 2^25, 40–60ms → 2^26,
    // 70–100ms → 2^27, labelled in seconds; every span in one bucket.
    let body = get(
        cairn,
        "/api/metrics/query_range",
        "{kind=server && true} | histogram_over_time(duration) with(sample=true)",
        &range,
    )
    .await;
    let bucket = |p: i32, a: f64, b: f64| {
        (
            format!("__bucket={}", 2f64.powi(p) / 1e9),
            vec![(0, 0.0), (30, a), (60, b)],
        )
    };
    assert_close(
        &range_series(&body, t0_ns),
        &[
            bucket(24, 1.0, 0.0),
            bucket(25, 2.0, 0.0),
            bucket(26, 3.0, 0.0),
            bucket(27, 0.0, 4.0),
        ],
    );
    // Breakdown by service over all spans (attributeBreakdown.ts).
    let body = get(
        cairn,
        "/api/metrics/query_range",
        "{true && true && resource.service.name != nil} | rate() by(resource.service.name)",
        &range,
    )
    .await;
    assert_close(
        &range_series(&body, t0_ns),
        &[
            rate("resource.service.name=api", 6.0, 4.0),
            rate("resource.service.name=db", 6.0, 4.0),
        ],
    );
    // Duration breakdown, p90 per service: api's 6 spans of step 2 fill
    // 2^24:1, 2^25:2, 2^26:3, so sample 6 of 6 tops 2^26; db's spans are
    // all 5ms, in 2^23.
    let body = get(
        cairn,
        "/api/metrics/query_range",
        "{true && true && resource.service.name != nil} | quantile_over_time(duration, 0.9) by(resource.service.name)",
        &range,
    )
    .await;
    assert_close(
        &range_series(&body, t0_ns),
        &[
            (
                "resource.service.name=api,p=0.9".into(),
                vec![
                    (0, 0.0),
                    (30, 2f64.powi(26) / 1e9),
                    (60, 2f64.powi(27) / 1e9),
                ],
            ),
            (
                "resource.service.name=db,p=0.9".into(),
                vec![
                    (0, 0.0),
                    (30, 2f64.powi(23) / 1e9),
                    (60, 2f64.powi(23) / 1e9),
                ],
            ),
        ],
    );
    // Comparison tab: errors against the rest over the window, one step
    // (`buildQuery` and `comparisonQuery`, step the whole range).
    let body = get(
        cairn,
        "/api/metrics/query_range",
        &format!(
            "{{kind=server && true}} | compare({{status = error}}, 10, {}, {})",
            t0_ns,
            t0_ns + 60 * SECOND
        ),
        &[
            ("start", t0_ns.to_string()),
            ("end", (t0_ns + 60 * SECOND).to_string()),
            ("step", "60s".to_string()),
        ],
    )
    .await;
    let all = range_series(&body, t0_ns);
    let count = |labels: &str| {
        all.iter()
            .find(|(l, _)| l == labels)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{from}: no {labels} in {all:?}"))
    };
    for (labels, n) in [
        ("__meta_type=selection,status=error", 5.0),
        ("__meta_type=selection_total,status=nil", 5.0),
        ("__meta_type=baseline,status=unset", 5.0),
        ("__meta_type=baseline_total,status=nil", 5.0),
        ("__meta_type=selection,resource.service.name=api", 5.0),
    ] {
        assert_eq!(count(labels), [(0, 0.0), (60, n)], "{from}: {labels}");
    }
    // Structure tab, errors, root spans: the erroring roots, each the
    // first of its trace's nested set (root 1..4 around its db child 2..3).
    let body = get(
        cairn,
        "/api/search",
        "({nestedSetParent<0 && true && status = error} &>> { status = error }) || ({nestedSetParent<0 && true && status = error}) | select(status, resource.service.name, name, nestedSetParent, nestedSetLeft, nestedSetRight)",
        &[
            ("limit", "200".to_string()),
            ("spss", "20".to_string()),
            ("start", (t0_ns / SECOND).to_string()),
            ("end", (t0_ns / SECOND + 60).to_string()),
        ],
    )
    .await;
    let traces = body["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 5, "{from}: the odd, erroring traces: {body}");
    for t in traces {
        let spans = t["spanSet"]["spans"].as_array().expect("spans");
        assert_eq!(spans.len(), 1, "{from}: {t}");
        let mut attrs: Vec<String> = spans[0]["attributes"]
            .as_array()
            .expect("attributes")
            .iter()
            .map(|a| {
                let v = &a["value"];
                let text = v["intValue"].as_str().or(v["stringValue"].as_str());
                format!(
                    "{}={}",
                    a["key"].as_str().unwrap_or("?"),
                    text.unwrap_or("?")
                )
            })
            .collect();
        attrs.sort();
        assert_eq!(
            attrs,
            [
                "name=GET /",
                "nestedSetLeft=1",
                "nestedSetParent=-1",
                "nestedSetRight=4",
                "service.name=api",
                "status=error",
            ],
            "{from}: {t}"
        );
    }
    // The issue detector's instant probe over the whole window.
    let body = get(
        cairn,
        "/api/metrics/query",
        "{} | rate()",
        &[
            ("start", t0_ns.to_string()),
            ("end", (t0_ns + 60 * SECOND).to_string()),
        ],
    )
    .await;
    let series = body["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "{from}: {body}");
    assert_eq!(labels(&series[0]), "__name__=rate");
    assert!(
        close(series[0]["value"].as_f64().expect("value"), 20.0 / 60.0),
        "{from}: 20 spans over 60s: {body}"
    );
}

#[tokio::test]
async fn drilldown_red_breakdown_histogram_and_comparison_requests_answer_from_ingesters_and_blocks()
 {
    let dir = tempfile::tempdir().unwrap();
    // Uploaded heads are dropped 2 s after a flush, so the second replay
    // can only read blocks.
    let yaml = "  retain_uploaded_for: 2s\nquerier:\n  blocks:\n    block_list_ttl: 1s\n";
    let cairn = Cairn::start(dir.path(), yaml).await;
    let now_s = u64::try_from(now_ms()).unwrap() / 1000;
    let t0_ns = (now_s / 60 * 60 - 120) * SECOND;
    let r = http()
        .post(format!("{}/v1/traces", cairn.url()))
        .header("X-Scope-OrgID", "team-a")
        .json(&traces(t0_ns))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    replay(&cairn, t0_ns, "ingesters").await;

    cairn.flush().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = crate::support::metrics_page(&cairn.url()).await;
        if metrics.contains(r#"cairn_ingester_traces_bytes{tenant="team-a"} 0"#) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "heads not dropped after flush\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    replay(&cairn, t0_ns, "blocks").await;

    // Another tenant sees none of it.
    let resp = http()
        .get(format!("{}/api/metrics/query_range", cairn.url()))
        .header("X-Scope-OrgID", "team-b")
        .query(&[
            ("q", "{} | rate()".to_string()),
            ("start", t0_ns.to_string()),
            ("end", (t0_ns + 60 * SECOND).to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["series"], json!([]), "{body}");
}
