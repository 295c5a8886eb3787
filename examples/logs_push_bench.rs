//! End-to-end logs push benchmark: pre-encodes snappy protobuf Loki pushes
//! of realistic lines (access logs and JSON application logs over many
//! streams), sends them to Cairn with `--concurrency` requests in flight,
//! and prints MB/s and lines/s. With `--bucket-dir` it then flushes Cairn
//! and reports the bytes the tenant's logs blocks take per raw line byte;
//! with `--settle` past Cairn's `retain_uploaded_for` it then times a
//! `|= "literal"` scan of every line from the flushed blocks (a LogQL
//! `count_over_time`, checked against the count the generator knows). With
//! `--cairn-pid` push and scan are also reported per server CPU-second.
//!
//! Cairn's default `ingestion_rate_mb` (4 MB/s) would throttle the load, so
//! start it with higher limits:
//!
//! ```sh
//! printf 'limits:\n  ingestion_rate_mb: 4096\n  ingestion_burst_size_mb: 4096\n' > /tmp/bench.yaml
//! cargo run --release -- --config.file /tmp/bench.yaml &     # Cairn on 127.0.0.1:9009
//! cargo run --release --example logs_push_bench -- --bucket-dir ./data/bucket --concurrency 4
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use distributor::logs::wire::{EntryAdapter, PushRequest, StreamAdapter, encode};

#[path = "support/bucket.rs"]
mod bucket;
use bucket::block_bytes_and_samples;
#[path = "support/load.rs"]
mod load;
use load::{Rng, Target, cpu_seconds, flush, push_all};

struct Args {
    cairn: String,
    bucket_dir: Option<PathBuf>,
    cairn_pid: Option<u32>,
    settle: u64,
    scans: usize,
    tenant: String,
    streams: usize,
    lines: usize,
    batch: usize,
    concurrency: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        cairn: "http://127.0.0.1:9009".into(),
        bucket_dir: None,
        cairn_pid: None,
        settle: 0,
        scans: 3,
        tenant: "logs-bench".into(),
        streams: 200,
        lines: 1_000_000,
        batch: 5_000,
        concurrency: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--cairn" => a.cairn = val(),
            "--bucket-dir" => a.bucket_dir = Some(val().into()),
            "--cairn-pid" => a.cairn_pid = Some(val().parse().expect("--cairn-pid PID")),
            "--settle" => a.settle = val().parse().expect("--settle SECONDS"),
            "--scans" => a.scans = val().parse().expect("--scans N"),
            "--tenant" => a.tenant = val(),
            "--streams" => a.streams = val().parse().expect("--streams N"),
            "--lines" => a.lines = val().parse().expect("--lines N"),
            "--batch" => a.batch = val().parse().expect("--batch N"),
            "--concurrency" => a.concurrency = val().parse().expect("--concurrency N"),
            other => panic!("unknown flag {other}; see the module doc"),
        }
    }
    a
}

const PATHS: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/cart",
    "/healthz",
    "/static/app.js",
    "/login",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64)",
    "curl/8.5.0",
    "Go-http-client/2.0",
];
const LEVELS: &[&str] = &["debug", "info", "info", "info", "warn", "error"];
const MESSAGES: &[&str] = &[
    "request completed",
    "cache miss, loading from database",
    "payment authorised",
    "retrying upstream call",
    "user session refreshed",
];

/// One realistic line for stream `s`: nginx-style access logs on even
/// streams, JSON application logs on odd ones.
fn line(rng: &mut Rng, s: usize, ts_ns: i64) -> String {
    if s.is_multiple_of(2) {
        format!(
            "10.{}.{}.{} - - [{}] \"GET {}?id={} HTTP/1.1\" {} {} \"-\" \"{}\" {:.3}",
            rng.next(256),
            rng.next(256),
            rng.next(256),
            ts_ns / 1_000_000_000,
            PATHS[rng.next(PATHS.len() as u64) as usize],
            rng.next(100_000),
            [200, 200, 200, 201, 304, 404, 500][rng.next(7) as usize],
            rng.next(50_000),
            AGENTS[rng.next(AGENTS.len() as u64) as usize],
            rng.next(2_000) as f64 / 1000.0
        )
    } else {
        format!(
            r#"{{"ts":{ts_ns},"level":"{}","msg":"{}","trace_id":"{:016x}{:016x}","user_id":{},"duration_ms":{}}}"#,
            LEVELS[rng.next(LEVELS.len() as u64) as usize],
            MESSAGES[rng.next(MESSAGES.len() as u64) as usize],
            rng.next(u64::MAX),
            rng.next(u64::MAX),
            rng.next(1_000_000),
            rng.next(5_000)
        )
    }
}

/// The literal the scan looks for: in about one JSON line in ten.
const NEEDLE: &str = "payment authorised";

/// What the generator made: request bodies, raw line bytes and how many
/// lines hold `NEEDLE`.
struct Load {
    bodies: Vec<Vec<u8>>,
    raw: u64,
    matches: u64,
}

/// Request bodies of `batch` lines each, spread round-robin over the
/// streams, timestamps spanning the last 30 minutes.
fn bodies(a: &Args) -> Load {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = common::time::now_ns();
    let span = 30 * 60 * 1_000_000_000i64;
    let step = span / a.lines.max(1) as i64;
    let (mut raw, mut matches) = (0u64, 0u64);
    let mut out = Vec::new();
    for first in (0..a.lines).step_by(a.batch) {
        let mut streams: Vec<StreamAdapter> = (0..a.streams)
            .map(|s| StreamAdapter {
                labels: format!(
                    r#"{{app="app-{}", env="prod", namespace="ns-{}", pod="pod-{s}"}}"#,
                    s % 20,
                    s % 5
                ),
                entries: Vec::new(),
                hash: 0,
            })
            .collect();
        for i in first..(first + a.batch).min(a.lines) {
            let s = i % a.streams;
            let ts = now - span + i as i64 * step;
            let l = line(&mut rng, s, ts);
            raw += l.len() as u64;
            matches += u64::from(l.contains(NEEDLE));
            streams[s].entries.push(EntryAdapter::new(ts, l));
        }
        streams.retain(|s| !s.entries.is_empty());
        out.push(encode(&PushRequest { streams }).expect("encoding"));
    }
    Load {
        bodies: out,
        raw,
        matches,
    }
}

/// Runs `sum(count_over_time({env="prod"} |= NEEDLE [1h]))` `a.scans`
/// times over every pushed line, checks the count and prints the scan rate
/// of raw text, per wall second and per server CPU-second.
async fn scan(a: &Args, raw: u64, matches: u64) {
    let client = reqwest::Client::new();
    let query = format!(r#"sum(count_over_time({{env="prod"}} |= "{NEEDLE}" [1h]))"#);
    let cpu_before = a.cairn_pid.map(cpu_seconds);
    let mut latencies = Vec::new();
    for _ in 0..a.scans.max(1) {
        let start = Instant::now();
        let r = client
            .get(format!("{}/loki/api/v1/query", a.cairn))
            .header("X-Scope-OrgID", &a.tenant)
            .query(&[("query", query.as_str())])
            .send()
            .await
            .expect("scan query");
        assert!(r.status().is_success(), "scan: {}", r.status());
        let body: serde_json::Value = r.json().await.expect("scan JSON");
        latencies.push(start.elapsed());
        let got = body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok());
        if got != Some(matches) {
            println!("scan: counted {got:?} lines with {NEEDLE:?}, pushed {matches}");
        }
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    print!(
        "scan |= {NEEDLE:?}: median {median:.1?} = {:.2} GB/s of raw text",
        raw as f64 / 1e9 / median.as_secs_f64()
    );
    match (a.cairn_pid, cpu_before) {
        (Some(pid), Some(before)) => println!(
            ", {:.2} GB per CPU-second",
            raw as f64 * latencies.len() as f64 / 1e9 / (cpu_seconds(pid) - before)
        ),
        _ => println!(),
    }
}

#[tokio::main]
async fn main() {
    let mut a = parse_args();
    common::storage::install_tls_provider();
    a.tenant = format!("{}-{}", a.tenant, std::process::id());
    let Load {
        bodies,
        raw,
        matches,
    } = bodies(&a);
    let bodies = Arc::new(bodies);
    println!(
        "load: {} lines ({:.1} MB raw) over {} streams in {} requests, {} in flight",
        a.lines,
        raw as f64 / 1e6,
        a.streams,
        bodies.len(),
        a.concurrency
    );
    let url = format!("{}/loki/api/v1/push", a.cairn);
    let target = Target {
        url: &url,
        tenant: &a.tenant,
        headers: &[("Content-Type", "application/x-protobuf")],
    };
    let cpu_before = a.cairn_pid.map(cpu_seconds);
    let pushed = push_all(&target, bodies, a.concurrency, |i| i).await;
    let took = pushed.took.as_secs_f64();
    println!(
        "push: {:.1} MB/s, {:.0} lines/s ({took:.2} s), {} failed requests",
        raw as f64 / 1e6 / took,
        a.lines as f64 / took,
        pushed.errors
    );
    if let (Some(pid), Some(before)) = (a.cairn_pid, cpu_before) {
        let cpu = cpu_seconds(pid) - before;
        println!(
            "server: {cpu:.2} CPU-s = {:.1} MB of raw text per CPU-second",
            raw as f64 / 1e6 / cpu
        );
    }
    if let Some(dir) = &a.bucket_dir {
        flush(&a.cairn).await;
        let (bytes, lines) = block_bytes_and_samples(&dir.join(&a.tenant).join("logs/blocks"));
        println!(
            "blocks: {bytes} bytes for {lines} lines = {:.3} stored bytes per raw byte",
            bytes as f64 / raw.max(1) as f64
        );
        tokio::time::sleep(Duration::from_secs(a.settle)).await;
        scan(&a, raw, matches).await;
    }
}
