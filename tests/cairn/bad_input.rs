//! Malformed write bodies get clear 4xx answers and the process keeps serving.

use crate::support::Cairn;
use crate::support::remote_write::{now_ms, push, push_raw, series};

#[tokio::test]
async fn malformed_bodies_get_400_or_413_and_the_process_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let not_protobuf = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty", vec![], 400),
        ("not snappy", b"definitely not snappy".to_vec(), 400),
        ("bad protobuf", not_protobuf, 400),
        ("100 MB", vec![0u8; 100_000_000], 413),
    ];
    for (what, body, want) in cases {
        let (status, text) = push_raw(&url, Some("team-a"), body).await;
        assert_eq!(status, want, "{what}: {text}");
        assert!(!text.is_empty(), "{what}: the error must say what is wrong");
    }
    let (status, body) = push(
        &url,
        Some("team-a"),
        vec![series("ok", &[], &[(now_ms(), 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        crate::support::http()
            .get(format!("{url}/ready"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

fn chain(term: &str, op: &str, n: usize) -> String {
    vec![term; n].join(op)
}

/// `POST <path>` with a form body as `tenant`; returns status and body.
async fn post_form(url: &str, path: &str, tenant: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = crate::support::http()
        .post(format!("{url}{path}"))
        .header("X-Scope-OrgID", tenant)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Every hostile query of the issue (and more of the kind) gets a 400 naming
/// the limit, nothing dies, and other tenants are served as before.
#[tokio::test]
async fn hostile_queries_get_400_and_the_process_keeps_serving_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let mut cairn = Cairn::start(
        dir.path(),
        "ruler:\n  evaluation_interval: 1s\n  poll_interval: 1s\n",
    )
    .await;
    let url = cairn.url();
    let (status, body) = push(
        &url,
        Some("team-b"),
        vec![series("up", &[("job", "b")], &[(now_ms(), 1.0)])],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let log = r#"count_over_time({app="api"}[1m])"#;
    let promql = [
        nested("sum(", "up", ")", 3_000),
        chain("1", "+", 3_000),
        chain("up", "+", 3_000),
        nested("(", "1", ")", 100_000),
        "(".repeat(100_000),
        format!("{}1", "-".repeat(100_000)),
        nested("(", "up", ")[5m:1m]", 3_000),
        nested("abs(", "up", ")", 3_000),
    ];
    let logql = [
        nested("sum(", log, ")", 1_000),
        chain(log, " + ", 3_000),
        format!(r#"{{app="api"}} | {}"#, chain(r#"x="1""#, " and ", 3_000)),
        format!(r#"{{app="api"}} | {}"#, nested("(", r#"x="1""#, ")", 1_000)),
    ];
    // (GET: the URL stays below the 64 KiB a URI may have.)
    let traceql = [
        nested("(", "{}", ")", 10_000),
        format!("{{ {} }}", chain(".a = 1", " && ", 1_000)),
        format!("{{ {}true }}", "!".repeat(10_000)),
    ];
    let mut tried = 0;
    for q in &promql {
        for path in [
            "/prometheus/api/v1/query",
            "/prometheus/api/v1/format_query",
        ] {
            let (status, body) = post_form(&url, path, "team-a", &[("query", q)]).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert!(body.contains("err-cairn-query-too-"), "{body}");
            assert!(body.contains("bad_data"), "{body}");
            tried += 1;
        }
        let (status, body) = post_form(
            &url,
            "/prometheus/api/v1/query_range",
            "team-a",
            &[
                ("query", q),
                ("start", "0"),
                ("end", "3600"),
                ("step", "60"),
            ],
        )
        .await;
        assert_eq!(status, 400, "{body}");
        tried += 1;
    }
    for q in &logql {
        for path in ["/loki/api/v1/query", "/loki/api/v1/format_query"] {
            let (status, body) = post_form(&url, path, "team-a", &[("query", q)]).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert!(body.contains("err-cairn-query-too-"), "{body}");
            tried += 1;
        }
    }
    for q in &traceql {
        let r = crate::support::http()
            .get(format!("{url}/api/search"))
            .header("X-Scope-OrgID", "team-a")
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
        tried += 1;
    }
    // Rule groups with such expressions are refused when loaded.
    for (path, expr) in [
        (
            "/prometheus/config/v1/rules/deep",
            nested("sum(", "up", ")", 3_000),
        ),
        ("/loki/api/v1/rules/deep", nested("sum(", log, ")", 1_000)),
    ] {
        let group = format!("name: deep\nrules:\n- record: deep:sum\n  expr: '{expr}'\n");
        let r = crate::support::http()
            .post(format!("{url}{path}"))
            .header("X-Scope-OrgID", "team-a")
            .header("Content-Type", "application/yaml")
            .body(group)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("err-cairn-query-too-"), "{path}: {body}");
        tried += 1;
    }
    // A rule right at the limits is loaded.
    // 256 brackets deep, 255 unary and 769 binary operators: 1,024.
    let sum = format!("vector(1)+{}", chain("1", "+", 769));
    let at_limit = nested("-(", &sum, ")", 255);
    let group =
        format!("name: wide\ninterval: 1s\nrules:\n- record: wide:sum\n  expr: '{at_limit}'\n");
    let r = crate::support::http()
        .post(format!("{url}/prometheus/config/v1/rules/wide"))
        .header("X-Scope-OrgID", "team-c")
        .header("Content-Type", "application/yaml")
        .body(group)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // A rule right at the limits is evaluated (and recorded) without harm.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert!(cairn.is_running(), "cairn died:\n{}", cairn.log());
        let recorded = cairn
            .query("team-c", "wide:sum", now_ms() as f64 / 1000.0)
            .await;
        if crate::support::vector(&recorded).len() == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rule at the limits was not recorded: {recorded}\n{}",
            cairn.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let answer = cairn.query("team-b", "up", now_ms() as f64 / 1000.0).await;
    assert_eq!(
        crate::support::vector(&answer).len(),
        1,
        "team-b is still served: {answer}"
    );
    assert!(cairn.is_running(), "cairn died:\n{}", cairn.log());
    eprintln!("hostile requests tried: {tried}, process deaths: 0");
}

/// utime + stime of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after_name` starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The value of `cairn_query_cancelled_total`.
async fn cancelled_queries(url: &str) -> u64 {
    crate::support::loki::metric_line(url, "cairn_query_cancelled_total")
        .await
        .and_then(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Sends a GET for `path_and_query` on a raw HTTP/1.1 connection and closes
/// the connection after `after` without reading the answer.
async fn abandon(port: u16, path_and_query: &str, after: std::time::Duration) {
    use tokio::io::AsyncWriteExt;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    conn.write_all(
        format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Scope-OrgID: team-a\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(after).await;
    drop(conn);
}

/// A query whose client went away stops using the CPU (and is counted),
/// instant and range (through the frontend and the query pool); a query
/// nobody abandons still ends at its timeout.
#[tokio::test]
async fn abandoned_queries_stop_using_the_cpu() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let mut cairn = Cairn::start(dir.path(), "").await;
    let url = cairn.url();
    let pid = cairn.pid();
    let heavy = "count_over_time(vector(1)[100y:1s])";
    let encoded: String = reqwest::Url::parse_with_params("http://x/", &[("query", heavy)])
        .unwrap()
        .query()
        .unwrap()
        .to_string();
    let now = now_ms() / 1000;
    for path in [
        format!("/prometheus/api/v1/query?{encoded}"),
        format!(
            "/prometheus/api/v1/query_range?{encoded}&start={}&end={now}&step=60",
            now - 600
        ),
    ] {
        let before = cancelled_queries(&url).await;
        let start_ticks = cpu_ticks(pid);
        abandon(cairn.port, &path, Duration::from_millis(500)).await;
        let busy = cpu_ticks(pid) - start_ticks;
        assert!(
            busy >= 5,
            "{path}: the query was not running ({busy} ticks)"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let settled = cpu_ticks(pid);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let later = cpu_ticks(pid) - settled;
        eprintln!(
            "{path}: {busy} ticks while running, {later} ticks in the 2 s after it was abandoned"
        );
        assert!(
            later < 30,
            "{path}: {later} ticks of CPU in the 2 s after the client went away"
        );
        assert!(
            cancelled_queries(&url).await > before,
            "{path}: cairn_query_cancelled_total did not grow"
        );
    }
    // A client that waits gets the timeout in time.
    let started = Instant::now();
    let r = crate::support::http()
        .get(format!(
            "{url}/prometheus/api/v1/query?{encoded}&timeout=1s"
        ))
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "{}", r.text().await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(cairn.is_running());
}
