//! The ruler end to end: rule groups uploaded the way mimirtool and
//! lokitool do (YAML over HTTP), alerts from metrics and from logs reaching
//! a real Alertmanager with their labels and annotations and resolving
//! there, recording rules equal to the ad-hoc query at the same times, and
//! tenants that never see or touch each other's rules.

use std::time::{Duration, Instant};

use common::time::{now_ms, now_ns};
use serde_json::Value;

use crate::support::loki::{metric_line, push as push_logs, stream};
use crate::support::peers::Alertmanager;
use crate::support::remote_write::{push, series};
use crate::support::{Cairn, http};

/// Cairn with a 1s ruler sending to `am` (if any).
async fn start(dir: &std::path::Path, am: Option<&Alertmanager>) -> Cairn {
    start_with(dir, am, "").await
}

/// [`start`] with more `ruler:` keys (each line indented two spaces).
async fn start_with(dir: &std::path::Path, am: Option<&Alertmanager>, extra: &str) -> Cairn {
    let am_url = am.map(Alertmanager::url).unwrap_or_default();
    Cairn::start(
        dir,
        &format!(
            "ruler:\n  alertmanager_url: '{am_url}'\n  evaluation_interval: 1s\n  poll_interval: 1s\n  \
             external_url: http://cairn.example:9009\n  resend_delay: 1s\n{extra}"
        ),
    )
    .await
}

/// `POST <path>` with a YAML body as `tenant` (what `mimirtool rules load`
/// and `lokitool rules load` send); returns status and body.
async fn post_yaml(cairn: &Cairn, path: &str, tenant: &str, yaml: &str) -> (u16, String) {
    let r = http()
        .post(format!("{}{path}", cairn.url()))
        .header("X-Scope-OrgID", tenant)
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `<method> <path>` as `tenant`; returns status and body.
async fn call(cairn: &Cairn, method: &str, path: &str, tenant: &str) -> (u16, String) {
    let r = http()
        .request(method.parse().unwrap(), format!("{}{path}", cairn.url()))
        .header("X-Scope-OrgID", tenant)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Polls `check` every 200ms until it returns `Some`, failing after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn find_alert<'a>(alerts: &'a [Value], name: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| a["labels"]["alertname"] == name)
}

#[tokio::test]
async fn metrics_alert_fires_in_alertmanager_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(dir.path()).await;
    let cairn = start(dir.path(), Some(&am)).await;

    let group = "name: api-alerts\ninterval: 1s\nrules:\n\
        - alert: HighErrors\n  expr: errors_total > 5\n  for: 2s\n  \
          labels:\n    severity: page\n  \
          annotations:\n    summary: '{{ $labels.job }} has {{ $value }} errors'\n    \
          rate: '{{ $value | humanize }} per run'\n    \
          total: '{{ query \"sum(errors_total)\" | first | value }} in total'\n";
    let (status, body) = post_yaml(
        &cairn,
        "/prometheus/config/v1/rules/team-ns",
        "team-a",
        group,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = call(&cairn, "GET", "/prometheus/config/v1/rules", "team-a").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("team-ns:") && body.contains("alert: HighErrors"),
        "{body}"
    );
    assert!(body.contains("for: 2s"), "{body}");

    let (status, body) = push(
        &cairn.url(),
        Some("team-a"),
        vec![series(
            "errors_total",
            &[("job", "api")],
            &[(now_ms(), 10.0)],
        )],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Pending first (for: 2s), visible through the Prometheus read API.
    let pending = eventually(
        "the alert to be pending or firing",
        Duration::from_secs(15),
        || async {
            let (_, body) = call(&cairn, "GET", "/prometheus/api/v1/alerts", "team-a").await;
            let v: Value = serde_json::from_str(&body).ok()?;
            let alerts = v["data"]["alerts"].as_array()?.clone();
            find_alert(&alerts, "HighErrors").cloned()
        },
    )
    .await;
    assert_eq!(pending["labels"]["job"], "api", "{pending}");
    assert_eq!(pending["value"], "1e+01", "{pending}");

    let got = eventually(
        "Alertmanager to receive the alert",
        Duration::from_secs(20),
        || async { find_alert(&am.alerts().await, "HighErrors").cloned() },
    )
    .await;
    assert_eq!(got["labels"]["severity"], "page", "{got}");
    assert_eq!(got["labels"]["job"], "api", "{got}");
    assert_eq!(got["labels"]["tenant"], "team-a", "{got}");
    assert_eq!(got["annotations"]["summary"], "api has 10 errors", "{got}");
    assert_eq!(got["annotations"]["rate"], "10 per run", "{got}");
    assert_eq!(got["annotations"]["total"], "10 in total", "{got}");
    let generator = got["generatorURL"].as_str().unwrap();
    assert!(
        generator.starts_with("http://cairn.example:9009/graph?g0.expr=errors_total"),
        "{generator}"
    );

    // The rules API shows the group, the rule firing and the ALERTS series
    // is queryable.
    let (_, body) = call(
        &cairn,
        "GET",
        "/prometheus/api/v1/rules?type=alert",
        "team-a",
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "api-alerts", "{body}");
    assert_eq!(g["file"], "team-ns", "{body}");
    assert_eq!(g["interval"], 1.0, "{body}");
    let rule = &g["rules"][0];
    assert_eq!(rule["state"], "firing", "{body}");
    assert_eq!(rule["type"], "alerting", "{body}");
    assert_eq!(rule["health"], "ok", "{body}");
    assert_eq!(rule["duration"], 2.0, "{body}");
    assert_eq!(rule["alerts"][0]["state"], "firing", "{body}");
    let (_, body) = call(
        &cairn,
        "GET",
        "/prometheus/api/v1/rules?type=record",
        "team-a",
    )
    .await;
    assert!(body.contains("\"groups\":[]"), "{body}");
    let firing = cairn
        .query(
            "team-a",
            "ALERTS{alertname=\"HighErrors\",alertstate=\"firing\"}",
            now_ms() as f64 / 1000.0,
        )
        .await;
    assert_eq!(
        firing["data"]["result"][0]["metric"]["job"], "api",
        "{firing}"
    );

    // The condition clears: Alertmanager learns the alert resolved.
    push(
        &cairn.url(),
        Some("team-a"),
        vec![series(
            "errors_total",
            &[("job", "api")],
            &[(now_ms(), 0.0)],
        )],
    )
    .await;
    eventually(
        "the alert to resolve in Alertmanager",
        Duration::from_secs(20),
        || async {
            find_alert(&am.alerts().await, "HighErrors")
                .is_none()
                .then_some(())
        },
    )
    .await;
    let (_, body) = call(&cairn, "GET", "/prometheus/api/v1/alerts", "team-a").await;
    assert!(body.contains("\"alerts\":[]"), "{body}");
    for metric in [
        "cairn_ruler_notifications_sent_total{tenant=\"team-a\"}",
        "cairn_ruler_evaluations_total{tenant=\"team-a\"}",
        "cairn_ruler_groups 1",
    ] {
        assert!(
            metric_line(&cairn.url(), metric).await.is_some(),
            "{metric} missing from /metrics"
        );
    }
    // ALERTS ends with the alert (staleness marker).
    let gone = cairn
        .query(
            "team-a",
            "ALERTS{alertname=\"HighErrors\"}",
            now_ms() as f64 / 1000.0,
        )
        .await;
    assert_eq!(gone["data"]["result"], serde_json::json!([]), "{gone}");
}

#[tokio::test]
async fn logql_alert_fires_from_pushed_logs() {
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(dir.path()).await;
    let cairn = start(dir.path(), Some(&am)).await;

    let group = "name: api-logs\nrules:\n\
        - alert: ApiErrors\n  expr: sum(rate({app=\"api\"} |= \"error\" [1m])) > 1\n  \
          labels:\n    severity: ticket\n  \
          annotations:\n    summary: '{{ printf \"%.1f\" $value }} errors/s'\n";
    // A PromQL group may not hold LogQL, and the Loki API checks LogQL.
    let (status, body) =
        post_yaml(&cairn, "/prometheus/config/v1/rules/logs", "team-l", group).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_yaml(
        &cairn,
        "/loki/api/v1/rules/logs",
        "team-l",
        "name: g\nrules:\n- alert: A\n  expr: sum(rate(up[1m]))\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("could not parse expression"), "{body}");
    let (status, body) = post_yaml(&cairn, "/loki/api/v1/rules/logs", "team-l", group).await;
    assert_eq!(status, 202, "{body}");

    // 180 error lines (and some others) in the last seconds: 3 errors/s
    // over the minute.
    let now = now_ns();
    let lines: Vec<(i64, String)> = (0..200)
        .map(|i| {
            let text = if i % 10 == 0 { "ok" } else { "error: boom" };
            (now - 10_000_000_000 + i * 10_000_000, format!("{text} {i}"))
        })
        .collect();
    let (status, body) = push_logs(
        &cairn.url(),
        "team-l",
        vec![stream("{app=\"api\"}", &lines)],
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let got = eventually(
        "Alertmanager to receive the LogQL alert",
        Duration::from_secs(20),
        || async { find_alert(&am.alerts().await, "ApiErrors").cloned() },
    )
    .await;
    assert_eq!(got["labels"]["severity"], "ticket", "{got}");
    assert_eq!(got["labels"]["tenant"], "team-l", "{got}");
    assert_eq!(got["annotations"]["summary"], "3.0 errors/s", "{got}");
    let (_, body) = call(&cairn, "GET", "/loki/api/v1/alerts", "team-l").await;
    assert!(body.contains("\"alertname\":\"ApiErrors\""), "{body}");
    let (status, body) = call(&cairn, "GET", "/loki/api/v1/rules/logs/api-logs", "team-l").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("name: api-logs"), "{body}");
}

#[tokio::test]
async fn recording_rule_equals_the_ad_hoc_query() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = start(dir.path(), None).await;
    // query_offset: a sample pushed with a timestamp just before an
    // evaluation may still be in flight when it runs; looking 1s back
    // (Prometheus's remedy) makes the recorded values final.
    let group = "name: rec\ninterval: 1s\nquery_offset: 1s\nrules:\n\
        - record: job:requests:sum\n  expr: sum by (job) (requests_total)\n  labels:\n    source: rule\n";
    let (status, body) =
        post_yaml(&cairn, "/prometheus/config/v1/rules/rec", "team-r", group).await;
    assert_eq!(status, 202, "{body}");

    // Counters that move every 100ms for 5 seconds.
    let t0 = now_ms();
    let mut i = 0.0;
    while now_ms() < t0 + 5000 {
        i += 1.0;
        let t = now_ms();
        let (status, body) = push(
            &cairn.url(),
            Some("team-r"),
            vec![
                series(
                    "requests_total",
                    &[("job", "a"), ("instance", "1")],
                    &[(t, i)],
                ),
                series(
                    "requests_total",
                    &[("job", "a"), ("instance", "2")],
                    &[(t, 2.0 * i)],
                ),
                series(
                    "requests_total",
                    &[("job", "b"), ("instance", "1")],
                    &[(t, 10.0 * i)],
                ),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let end = now_ms() as f64 / 1000.0;
    let recorded = cairn.query("team-r", "job:requests:sum[10s]", end).await;
    let result = recorded["data"]["result"].as_array().unwrap().clone();
    assert_eq!(result.len(), 2, "{recorded}");
    let mut compared = 0;
    for s in &result {
        assert_eq!(s["metric"]["source"], "rule", "{s}");
        let job = s["metric"]["job"].as_str().unwrap();
        for point in s["values"].as_array().unwrap() {
            let t = point[0].as_f64().unwrap();
            let adhoc = cairn
                .query(
                    "team-r",
                    &format!("sum by (job) (requests_total{{job=\"{job}\"}})"),
                    t,
                )
                .await;
            assert_eq!(
                adhoc["data"]["result"][0]["value"][1], point[1],
                "job {job} at {t}: recorded {point} vs ad hoc {adhoc}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 6, "too few recorded points: {recorded}");
}

#[tokio::test]
async fn tenants_do_not_see_or_touch_each_others_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = start(dir.path(), None).await;
    let group = "name: mine\ninterval: 1s\nrules:\n- record: tenant:up:sum\n  expr: sum(up)\n";
    let (status, body) =
        post_yaml(&cairn, "/prometheus/config/v1/rules/ns", "tenant-a", group).await;
    assert_eq!(status, 202, "{body}");
    push(
        &cairn.url(),
        Some("tenant-a"),
        vec![series("up", &[("job", "a")], &[(now_ms(), 1.0)])],
    )
    .await;
    push(
        &cairn.url(),
        Some("tenant-b"),
        vec![series("up", &[("job", "b")], &[(now_ms(), 1.0)])],
    )
    .await;

    // B sees no groups, cannot read or delete A's.
    let (status, _) = call(&cairn, "GET", "/prometheus/config/v1/rules", "tenant-b").await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &cairn,
        "GET",
        "/prometheus/config/v1/rules/ns/mine",
        "tenant-b",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &cairn,
        "DELETE",
        "/prometheus/config/v1/rules/ns",
        "tenant-b",
    )
    .await;
    assert_eq!(status, 404);
    let (_, body) = call(&cairn, "GET", "/prometheus/api/v1/rules", "tenant-b").await;
    assert!(body.contains("\"groups\":[]"), "{body}");

    // A's rule runs for A only.
    eventually(
        "A's recording rule output",
        Duration::from_secs(15),
        || async {
            let v = cairn
                .query("tenant-a", "tenant:up:sum", now_ms() as f64 / 1000.0)
                .await;
            (v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty()))
            .then_some(())
        },
    )
    .await;
    let b = cairn
        .query("tenant-b", "tenant:up:sum", now_ms() as f64 / 1000.0)
        .await;
    assert_eq!(b["data"]["result"], serde_json::json!([]), "{b}");
    let (_, body) = call(&cairn, "GET", "/prometheus/api/v1/rules", "tenant-a").await;
    assert!(body.contains("\"health\":\"ok\""), "{body}");

    // Validation errors name the problem; A deletes its own group.
    let (status, body) = post_yaml(
        &cairn,
        "/prometheus/config/v1/rules/ns",
        "tenant-a",
        "name: bad\nrules:\n- record: x\n  expr: sum(up\n",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("rule 1 (\\\"x\\\"): could not parse expression"),
        "{body}"
    );
    let (status, _) = call(
        &cairn,
        "DELETE",
        "/prometheus/config/v1/rules/ns/mine",
        "tenant-a",
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = call(&cairn, "GET", "/prometheus/config/v1/rules", "tenant-a").await;
    assert_eq!(status, 404);
    let no_tenant = http()
        .get(format!("{}/prometheus/config/v1/rules", cairn.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(no_tenant.status(), 401);
}

/// Milliseconds since the epoch of an RFC 3339 UTC time as the API writes
/// it (`2026-11-21T12:34:56.789Z`).
fn rfc3339_ms(s: &str) -> i64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let t: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    days * 86_400_000 + ((t[0] * 3600.0 + t[1] * 60.0 + t[2]) * 1000.0).round() as i64
}

/// `activeAt` of the tenant's alert `name` (ms), if it is pending or firing.
async fn active_at(cairn: &Cairn, tenant: &str, name: &str) -> Option<i64> {
    let (_, body) = call(cairn, "GET", "/prometheus/api/v1/alerts", tenant).await;
    let v: Value = serde_json::from_str(&body).ok()?;
    let alerts = v["data"]["alerts"].as_array()?.clone();
    Some(rfc3339_ms(find_alert(&alerts, name)?["activeAt"].as_str()?))
}

#[tokio::test]
async fn pending_alert_keeps_its_for_state_across_a_restart() {
    assert_eq!(rfc3339_ms("2023-10-26T09:39:37.911Z"), 1_698_313_177_911);
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_with(dir.path(), None, "  for_grace_period: 1s\n").await;
    let group = "name: slow\ninterval: 1s\nrules:\n- alert: Slow\n  expr: latency > 1\n  for: 5m\n";
    let (status, body) = post_yaml(&cairn, "/prometheus/config/v1/rules/ns", "team-s", group).await;
    assert_eq!(status, 202, "{body}");
    push(
        &cairn.url(),
        Some("team-s"),
        vec![series("latency", &[], &[(now_ms(), 3.0)])],
    )
    .await;
    let before = eventually("the alert to be pending", Duration::from_secs(15), || {
        active_at(&cairn, "team-s", "Slow")
    })
    .await;
    // Pending for a while, with ALERTS_FOR_STATE written each second.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let state = cairn
        .query(
            "team-s",
            "ALERTS_FOR_STATE{alertname=\"Slow\"}",
            now_ms() as f64 / 1000.0,
        )
        .await;
    assert_eq!(
        state["data"]["result"][0]["value"][1],
        (before / 1000).to_string(),
        "{state}"
    );

    let cairn = cairn.restart().await;
    let ready = now_ms();
    // Without the restore the alert would start over at the first
    // evaluation after the restart; restored, it keeps the ~6s it had been
    // pending (shifted by the outage, as Prometheus does).
    let restored = eventually(
        "the pending time to be restored",
        Duration::from_secs(15),
        || async {
            active_at(&cairn, "team-s", "Slow")
                .await
                .filter(|&t| t < ready - 2000)
        },
    )
    .await;
    assert!(
        restored > before,
        "restored {restored} moves by the outage past {before}"
    );
}

#[tokio::test]
async fn replicas_split_the_groups_and_evaluate_each_once() {
    let (a, b, bucket) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let storage = format!(
        "storage:\n  filesystem:\n    dir: {}\n",
        bucket.path().display()
    );
    let replica = |me: &str| {
        format!(
            "ruler:\n  evaluation_interval: 1s\n  poll_interval: 1s\n  ring:\n    instance_id: {me}\n    \
             instances: [r-0, r-1]\n"
        )
    };
    let r0 = Cairn::start_with_storage(a.path(), &storage, &replica("r-0")).await;
    let r1 = Cairn::start_with_storage(b.path(), &storage, &replica("r-1")).await;
    let names: Vec<String> = (0..8).map(|i| format!("group-{i}")).collect();
    for name in &names {
        let group =
            format!("name: {name}\ninterval: 1s\nrules:\n- record: r:up:sum\n  expr: sum(up)\n");
        let (status, body) =
            post_yaml(&r0, "/prometheus/config/v1/rules/ns", "team-x", &group).await;
        assert_eq!(status, 202, "{body}");
    }
    // Each group ends up evaluated ("ok") on exactly one replica, never
    // ("unknown") on the other, and both replicas get some.
    let health = |cairn: &Cairn| {
        let url = cairn.url();
        async move {
            let body = http()
                .get(format!("{url}/prometheus/api/v1/rules"))
                .header("X-Scope-OrgID", "team-x")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            v["data"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    (
                        g["name"].as_str().unwrap().to_string(),
                        g["rules"][0]["health"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let (h0, h1) = eventually(
        "every group evaluated by one replica",
        Duration::from_secs(20),
        || async {
            let (h0, h1) = (health(&r0).await, health(&r1).await);
            let done = names.iter().all(|n| {
                let ok = |h: &std::collections::BTreeMap<String, String>| {
                    h.get(n).is_some_and(|s| s == "ok")
                };
                ok(&h0) != ok(&h1)
            });
            done.then_some((h0, h1))
        },
    )
    .await;
    for n in &names {
        let states = [h0[n].as_str(), h1[n].as_str()];
        assert!(
            states == ["ok", "unknown"] || states == ["unknown", "ok"],
            "{n}: {states:?}"
        );
    }
    let owned0 = h0.values().filter(|s| *s == "ok").count();
    assert!((1..8).contains(&owned0), "split {owned0}/8: {h0:?}");
    // Still split the same way a few evaluations later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(health(&r0).await, h0);
    assert_eq!(health(&r1).await, h1);
}

#[tokio::test]
async fn rule_limits_apply_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("overrides.yaml");
    std::fs::write(
        &overrides,
        "overrides:\n  small:\n    ruler_max_rule_groups_per_tenant: 1\n    ruler_max_rules_per_rule_group: 2\n",
    )
    .unwrap();
    let cairn = Cairn::start(
        dir.path(),
        &format!("runtime_config:\n  file: {}\n", overrides.display()),
    )
    .await;
    let group = |name: &str, rules: usize| {
        let mut g = format!("name: {name}\nrules:\n");
        for i in 0..rules {
            g.push_str(&format!("- record: r{i}\n  expr: up\n"));
        }
        g
    };
    let path = "/prometheus/config/v1/rules/ns";
    assert_eq!(
        post_yaml(&cairn, path, "small", &group("one", 2)).await.0,
        202
    );
    let (status, body) = post_yaml(&cairn, path, "small", &group("two", 1)).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("ruler_max_rule_groups_per_tenant (1)"),
        "{body}"
    );
    // Replacing the existing group is not a new group.
    assert_eq!(
        post_yaml(&cairn, path, "small", &group("one", 1)).await.0,
        202
    );
    let (status, body) = post_yaml(&cairn, path, "small", &group("one", 3)).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("ruler_max_rules_per_rule_group (2)"),
        "{body}"
    );
    // Other tenants have the defaults.
    for name in ["one", "two"] {
        assert_eq!(post_yaml(&cairn, path, "big", &group(name, 3)).await.0, 202);
    }
}
