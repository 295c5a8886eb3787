//! End-to-end query benchmark: writes the same synthetic data to Cairn and
//! to Prometheus by remote write, then runs a fixed set of PromQL range
//! queries against both and prints the median latency of each and the
//! ratio Cairn/Prometheus, plus whether the two answers agree. With
//! `--flush` it then flushes Cairn's ingester (so queries read blocks from
//! object storage) and measures again. With `--victoria URL` the data also
//! goes to a VictoriaMetrics (start it with `-search.disableCache`) and its
//! latencies get their own columns (answers are not compared: its
//! extrapolation differs from Prometheus's by design).
//!
//! ```sh
//! cargo run --release &                       # Cairn on 127.0.0.1:9009, high ingestion limits
//! prometheus --web.enable-remote-write-receiver --web.listen-address=127.0.0.1:9090 \
//!     --storage.tsdb.path=/tmp/prom --config.file=minimal.yml &   # no scrape jobs
//! cargo run --release --example query_bench -- \
//!     --cairn http://127.0.0.1:9009 --prometheus http://127.0.0.1:9090 --flush
//! ```
//!
//! Data: `--instances` (default 100) instances, each with 50 request
//! counters (10 paths × 5 statuses), 50 latency histogram buckets (5 paths ×
//! 10 `le`), 4 CPU gauges and an `up` series: 10,500 series at 100
//! instances, one sample every 15 s for `--minutes` (default 60).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use distributor::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};

/// The queries, chosen to cover aggregation, rates, histograms, top-k,
/// `*_over_time` and vector matching.
const QUERIES: &[&str] = &[
    "sum by (job) (rate(bench_requests_total[5m]))",
    "sum by (path, status) (rate(bench_requests_total[5m]))",
    "histogram_quantile(0.99, sum by (le, path) (rate(bench_latency_seconds_bucket[5m])))",
    "topk(5, sum by (instance) (rate(bench_requests_total[5m])))",
    "avg_over_time(bench_cpu_usage[5m])",
    "sum by (instance) (rate(bench_requests_total{status=\"500\"}[5m])) / on(instance) sum by (instance) (rate(bench_requests_total[5m]))",
    "max by (instance) (bench_cpu_usage) * on(instance) bench_up",
    "count by (status) (bench_requests_total)",
    "sum(increase(bench_requests_total[10m]))",
    "quantile_over_time(0.9, bench_cpu_usage[10m])",
];

const STEP_MS: i64 = 15_000;
const PATHS: usize = 10;
const STATUSES: [&str; 5] = ["200", "201", "404", "500", "503"];
const LE: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

struct Args {
    cairn: String,
    prometheus: String,
    victoria: Option<String>,
    settle: u64,
    tenant: String,
    instances: usize,
    minutes: i64,
    runs: usize,
    flush: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        cairn: "http://127.0.0.1:9009".into(),
        prometheus: "http://127.0.0.1:9090".into(),
        victoria: None,
        settle: 31,
        tenant: "query-bench".into(),
        instances: 100,
        minutes: 60,
        runs: 5,
        flush: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--flush" {
            a.flush = true;
            continue;
        }
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--cairn" => a.cairn = val,
            "--prometheus" => a.prometheus = val,
            "--victoria" => a.victoria = Some(val),
            "--settle" => a.settle = num(&val)? as u64,
            "--tenant" => a.tenant = val,
            "--instances" => a.instances = num(&val)?,
            "--minutes" => a.minutes = num(&val)? as i64,
            "--runs" => a.runs = num(&val)?.max(1),
            other => return Err(format!("unknown flag {other}; see the module doc")),
        }
    }
    Ok(a)
}

/// Every series' labels, in a fixed order.
fn series_labels(instances: usize) -> Vec<Vec<Label>> {
    let mut out = Vec::new();
    for i in 0..instances {
        let instance = format!("host-{i:03}");
        let job = format!("job-{}", i % 4);
        let base = |name: &str| {
            vec![
                Label::new("__name__", name),
                Label::new("instance", instance.as_str()),
                Label::new("job", job.as_str()),
            ]
        };
        for p in 0..PATHS {
            for status in STATUSES {
                let mut l = base("bench_requests_total");
                l.push(Label::new("path", format!("/api/{p}")));
                l.push(Label::new("status", status));
                out.push(l);
            }
        }
        for p in 0..5 {
            for le in LE {
                let mut l = base("bench_latency_seconds_bucket");
                l.push(Label::new("le", le));
                l.push(Label::new("path", format!("/api/{p}")));
                out.push(l);
            }
        }
        for cpu in 0..4 {
            let mut l = base("bench_cpu_usage");
            l.push(Label::new("cpu", cpu.to_string()));
            out.push(l);
        }
        out.push(base("bench_up"));
    }
    for l in &mut out {
        l.sort_by(|a, b| a.name.cmp(&b.name));
    }
    out
}

/// Series `s`'s value at round `round`: counters grow (histogram buckets
/// cumulatively in `le`), gauges wander.
fn value(labels: &[Label], s: usize, round: usize) -> f64 {
    let get = |n: &str| {
        labels
            .iter()
            .find(|l| l.name == n)
            .map(|l| l.value.as_str())
    };
    let r = round as f64;
    match get("__name__") {
        Some("bench_requests_total") => r * ((s % 13) + 1) as f64,
        Some("bench_latency_seconds_bucket") => {
            // Cumulative: non-decreasing in `le` within each histogram.
            let rank = LE.iter().position(|le| Some(*le) == get("le")).unwrap_or(0);
            let path = get("path")
                .and_then(|p| p.rsplit('/').next()?.parse::<usize>().ok())
                .unwrap_or(0);
            r * (path + 1) as f64 * (rank + 1) as f64
        }
        Some("bench_cpu_usage") => ((s * 31 + round * 7) % 100) as f64 / 100.0,
        _ => 1.0,
    }
}

/// Pushes one sample per series per 15 s round, round by round (so every
/// series' samples arrive in order), the batches of a round in parallel.
async fn push(
    client: &reqwest::Client,
    url: &str,
    tenant: &str,
    labels: &[Vec<Label>],
    start: i64,
    rounds: usize,
) -> Result<Duration, String> {
    const BATCH: usize = 2_000;
    let began = Instant::now();
    for round in 0..rounds {
        let t = start + round as i64 * STEP_MS;
        let mut tasks = tokio::task::JoinSet::new();
        for first in (0..labels.len()).step_by(BATCH) {
            let timeseries = (first..(first + BATCH).min(labels.len()))
                .map(|s| TimeSeries {
                    labels: labels[s].clone(),
                    samples: vec![Sample {
                        timestamp: t,
                        value: value(&labels[s], s, round),
                    }],
                    ..Default::default()
                })
                .collect();
            let body = encode(&WriteRequest {
                timeseries,
                ..Default::default()
            })
            .map_err(|e| format!("encoding remote write: {e}"))?;
            let req = client
                .post(url)
                .header("X-Scope-OrgID", tenant)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(body);
            let url = url.to_string();
            tasks.spawn(async move {
                let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
                let status = r.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{url}: {status} {}",
                        r.text().await.unwrap_or_default()
                    ))
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| e.to_string())??;
        }
    }
    Ok(began.elapsed())
}

/// A range query's answer: series (labels as JSON text) → (t, value) points.
type Answer = BTreeMap<String, Vec<(f64, f64)>>;

/// Runs `query` once, returning its latency and answer.
async fn query_range(
    client: &reqwest::Client,
    url: &str,
    tenant: &str,
    query: &str,
    (start, end, step): (i64, i64, i64),
) -> Result<(Duration, Answer), String> {
    let began = Instant::now();
    let r = client
        .get(url)
        .header("X-Scope-OrgID", tenant)
        .query(&[
            ("query", query.to_string()),
            ("start", format!("{:.3}", start as f64 / 1000.0)),
            ("end", format!("{:.3}", end as f64 / 1000.0)),
            ("step", format!("{}", step / 1000)),
        ])
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let body = r.text().await.map_err(|e| format!("{url}: {e}"))?;
    let took = began.elapsed();
    if !status.is_success() {
        return Err(format!("{url} {query}: {status} {body}"));
    }
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{url}: bad JSON: {e}"))?;
    let mut answer = Answer::new();
    for s in json["data"]["result"].as_array().into_iter().flatten() {
        let points = s["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let t = p.get(0)?.as_f64()?;
                let v = p.get(1)?.as_str()?.parse::<f64>().ok()?;
                Some((t, v))
            })
            .collect();
        answer.insert(s["metric"].to_string(), points);
    }
    Ok((took, answer))
}

/// The first difference between Cairn's answer `a` and Prometheus's `b`
/// (same series, same timestamps, values equal to a relative 1e-6, NaN
/// equal to NaN), or `None` when they agree.
fn difference(a: &Answer, b: &Answer) -> Option<String> {
    let close = |x: f64, y: f64| {
        (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-6 * x.abs().max(y.abs())
    };
    if let Some(k) = a.keys().find(|k| !b.contains_key(*k)) {
        return Some(format!("only cairn has {k}"));
    }
    if let Some(k) = b.keys().find(|k| !a.contains_key(*k)) {
        return Some(format!("only prometheus has {k}"));
    }
    for (k, pa) in a {
        let pb = &b[k];
        if pa.len() != pb.len() {
            return Some(format!("{k}: {} points vs {}", pa.len(), pb.len()));
        }
        if let Some((x, y)) = pa
            .iter()
            .zip(pb)
            .find(|(x, y)| x.0 != y.0 || !close(x.1, y.1))
        {
            return Some(format!("{k}: {x:?} vs {y:?}"));
        }
    }
    None
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// The median latency of `runs` runs of `q` against `url`.
async fn timed(
    client: &reqwest::Client,
    url: &str,
    a: &Args,
    q: &str,
    range: (i64, i64, i64),
) -> Result<Duration, String> {
    let mut t = Vec::new();
    for _ in 0..a.runs {
        t.push(query_range(client, url, &a.tenant, q, range).await?.0);
    }
    Ok(median(t))
}

/// Runs every query `runs` times (after one warm-up) against each server
/// and prints the table: per query and the median over the set.
async fn measure(
    client: &reqwest::Client,
    a: &Args,
    range: (i64, i64, i64),
    title: &str,
) -> Result<(), String> {
    let cairn = format!("{}/prometheus/api/v1/query_range", a.cairn);
    let prom = format!("{}/api/v1/query_range", a.prometheus);
    let victoria = a
        .victoria
        .as_ref()
        .map(|v| format!("{v}/api/v1/query_range"));
    println!("\n{title}");
    println!(
        "{:<4} {:>11} {:>11} {:>7} {:>11} {:>7} {:>7} {:>6}  query",
        "#", "cairn", "prometheus", "ratio", "victoria", "ratio", "series", "agree"
    );
    let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1e3);
    let mut ratios = Vec::new();
    let (mut all_c, mut all_p, mut all_v) = (Vec::new(), Vec::new(), Vec::new());
    let mut differences = Vec::new();
    for (i, q) in QUERIES.iter().enumerate() {
        let (_, want) = query_range(client, &prom, &a.tenant, q, range).await?;
        let (_, got) = query_range(client, &cairn, &a.tenant, q, range).await?;
        let (mc, mp) = (
            timed(client, &cairn, a, q, range).await?,
            timed(client, &prom, a, q, range).await?,
        );
        let mv = match &victoria {
            Some(v) => {
                query_range(client, v, &a.tenant, q, range).await?;
                Some(timed(client, v, a, q, range).await?)
            }
            None => None,
        };
        let ratio = mc.as_secs_f64() / mp.as_secs_f64();
        ratios.push(ratio);
        let diff = difference(&got, &want);
        println!(
            "{:<4} {:>11} {:>11} {:>7.2} {:>11} {:>7} {:>7} {:>6}  {q}",
            i + 1,
            ms(mc),
            ms(mp),
            ratio,
            mv.map_or("-".into(), ms),
            mv.map_or("-".into(), |v| format!(
                "{:.2}",
                mc.as_secs_f64() / v.as_secs_f64()
            )),
            got.len(),
            if diff.is_none() { "yes" } else { "NO" },
        );
        if let Some(d) = diff {
            differences.push(format!("#{}: {d}", i + 1));
        }
        all_c.push(mc);
        all_p.push(mp);
        all_v.extend(mv);
    }
    let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
    let (mc, mp) = (median(all_c), median(all_p));
    print!(
        "median over the set: cairn {} prometheus {} ratio {:.2}",
        ms(mc),
        ms(mp),
        mc.as_secs_f64() / mp.as_secs_f64()
    );
    if !all_v.is_empty() {
        let mv = median(all_v);
        print!(
            "; victoria {} ratio {:.2}",
            ms(mv),
            mc.as_secs_f64() / mv.as_secs_f64()
        );
    }
    println!("; geometric mean of per-query ratios cairn/prometheus {geo:.2}");
    for d in differences {
        println!("first difference (cairn vs prometheus) in {d}");
    }
    Ok(())
}

async fn run(mut a: Args) -> Result<(), String> {
    common::storage::install_tls_provider();
    // A fresh Cairn tenant per run, so earlier runs' data does not mix in.
    a.tenant = format!("{}-{}", a.tenant, std::process::id());
    let client = reqwest::Client::new();
    let labels = series_labels(a.instances);
    let rounds = (a.minutes * 60_000 / STEP_MS) as usize;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as i64;
    let start = (now - rounds as i64 * STEP_MS) / STEP_MS * STEP_MS;
    println!(
        "data: {} series x {rounds} samples ({} min at 15 s) = {} samples",
        labels.len(),
        a.minutes,
        labels.len() * rounds
    );
    let cairn_push = format!("{}/api/v1/push", a.cairn);
    let prom_push = format!("{}/api/v1/write", a.prometheus);
    let took = push(&client, &cairn_push, &a.tenant, &labels, start, rounds).await?;
    println!("pushed to cairn in {took:.2?}");
    let took = push(&client, &prom_push, &a.tenant, &labels, start, rounds).await?;
    println!("pushed to prometheus in {took:.2?}");
    if let Some(v) = &a.victoria {
        let url = format!("{v}/api/v1/write");
        let took = push(&client, &url, &a.tenant, &labels, start, rounds).await?;
        let r = client
            .get(format!("{v}/internal/force_flush"))
            .send()
            .await
            .map_err(|e| format!("force_flush: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("force_flush: {}", r.status()));
        }
        println!("pushed to victoria in {took:.2?}");
    }

    // Ten minutes in, so every rate window is full; a 30 s step.
    let end = start + (rounds as i64 - 1) * STEP_MS;
    let range = ((start + 600_000).min(end), end, 30_000);
    println!(
        "{} queries, {} runs each (median, after one warm-up), range {} min, step 30 s",
        QUERIES.len(),
        a.runs,
        (range.1 - range.0) / 60_000
    );
    measure(&client, &a, range, "cairn from the ingester head").await?;
    if a.flush {
        let r = client
            .post(format!("{}/ingester/flush", a.cairn))
            .send()
            .await
            .map_err(|e| format!("flush: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("flush: {}", r.status()));
        }
        // The querier reuses a tenant's block list for `block_list_ttl`
        // (30 s by default); wait it out (`--settle`) so the new blocks are
        // seen, and past `retain_uploaded_for` so the head no longer answers.
        println!(
            "flushed; waiting {} s for the querier's block list to expire",
            a.settle
        );
        tokio::time::sleep(Duration::from_secs(a.settle)).await;
        measure(
            &client,
            &a,
            range,
            "cairn from blocks (after /ingester/flush)",
        )
        .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("query_bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("query_bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
