//! A small Loki push client built on the distributor's own protobuf types,
//! plus the Python tools the logs tests drive (real PyPI clients, DuckDB).

use std::path::Path;
use std::process::Command;

use distributor::logs::wire::{EntryAdapter, PushRequest, StreamAdapter, encode};

/// A stream `labels` (Prometheus text, e.g. `{app="a"}`) with lines `(ts_ns, line)`.
pub fn stream(labels: &str, lines: &[(i64, String)]) -> StreamAdapter {
    StreamAdapter {
        labels: labels.to_string(),
        entries: lines
            .iter()
            .map(|(t, l)| EntryAdapter::new(*t, l.clone()))
            .collect(),
        hash: 0,
    }
}

/// POSTs `streams` as a snappy protobuf push to `/loki/api/v1/push`.
pub async fn push(base: &str, tenant: &str, streams: Vec<StreamAdapter>) -> (u16, String) {
    let body = encode(&PushRequest { streams }).unwrap();
    push_raw(base, tenant, "application/x-protobuf", body).await
}

/// POSTs raw bytes with `content_type` to `/loki/api/v1/push`.
pub async fn push_raw(
    base: &str,
    tenant: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let r = super::http()
        .post(format!("{base}/loki/api/v1/push"))
        .header("Content-Type", content_type)
        .header("X-Scope-OrgID", tenant)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Runs `python3 -c script args…`, first checking `modules` import; panics
/// with the pip command to run when one is missing (`.ci/run` installs them).
pub fn python(modules: &[(&str, &str)], script: &str, args: &[&str]) -> String {
    for (module, package) in modules {
        let ok = Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "python module {module} is missing: run `python3 -m pip install {package}` (.ci/run does)"
        );
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `SELECT {expr} FROM <every logs.parquet of tenant> {clauses}` with
/// DuckDB over the bucket directory `bucket`; returns the first column as
/// strings.
pub fn duckdb_column(bucket: &Path, tenant: &str, expr: &str, clauses: &str) -> Vec<String> {
    let glob = bucket.join(tenant).join("logs/blocks/*/logs.parquet");
    let script = "import duckdb, json, sys\n\
        rows = duckdb.sql(f\"SELECT {sys.argv[2]} FROM read_parquet('{sys.argv[1]}') {sys.argv[3]}\").fetchall()\n\
        print(json.dumps([str(r[0]) for r in rows]))";
    let out = python(
        &[("duckdb", "duckdb")],
        script,
        &[&glob.display().to_string(), expr, clauses],
    );
    serde_json::from_str(out.trim()).unwrap()
}

/// The `line` column of every `logs.parquet` of `tenant`, sorted.
pub fn duckdb_lines(bucket: &Path, tenant: &str) -> Vec<String> {
    duckdb_column(bucket, tenant, "line", "ORDER BY line")
}

/// A LogQL `query_range` of `query` as `tenant` over `[start_ns, end_ns]`
/// (at most 1,000 lines): the response's JSON.
pub async fn query_range(
    base: &str,
    tenant: &str,
    query: &str,
    start_ns: i64,
    end_ns: i64,
) -> serde_json::Value {
    super::http()
        .get(format!("{base}/loki/api/v1/query_range"))
        .header("X-Scope-OrgID", tenant)
        .query(&[
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
            ("limit", "1000".to_string()),
        ])
        .send()
        .await
        .expect("LogQL query")
        .json()
        .await
        .expect("LogQL JSON")
}

/// One Prometheus text exposition line of `/metrics` that starts with `prefix`.
pub async fn metric_line(base: &str, prefix: &str) -> Option<String> {
    let text = super::metrics_page(base).await;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_string)
}

/// GET `path` of `base` as `tenant`, as Logs Drilldown sends it (its query
/// tag): the status and the JSON body (the text as a JSON string when it
/// is not JSON).
pub async fn drilldown_get(
    base: &str,
    tenant: &str,
    path: &str,
    params: &[(&str, String)],
) -> (u16, serde_json::Value) {
    let r = super::http()
        .get(format!("{base}{path}"))
        .header("X-Scope-OrgID", tenant)
        .header("X-Query-Tags", "Source=grafana-lokiexplore-app")
        .query(params)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}
