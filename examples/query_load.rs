//! Query load tool: does one tenant's heavy query load hurt another tenant's
//! light queries? Starts nothing itself; point it at a running Cairn.
//!
//! 1. Loads `--days` of history by remote write: `--series` counters for
//!    tenant A, 10 for tenant B (one sample per `--scrape-secs`).
//! 2. Unloaded: tenant B runs a light range query (last hour) `--light-runs`
//!    times, 100 ms apart, from a thread of its own; p50/p90/p99 latency.
//! 3. Loaded: `--heavy` workers of tenant A run heavy range queries over all
//!    the history for `--seconds` (every 4th one returns raw series, which
//!    should hit `max_samples` and get 422), while B keeps running its light
//!    query at the same pace; B's latencies again, A's and B's answers by
//!    status, and Cairn's peak RSS when `--pid` is given.
//!
//! `bench/query_load.sh` starts a Cairn configured for it and runs this.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::time::now_ms;
use distributor::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};
use parking_lot::Mutex;

#[path = "support/load.rs"]
mod load;
use load::{status_kib, summary};

const LIGHT_QUERY: &str = "sum(rate(load_metric[5m]))";

/// The pause between two of tenant B's queries, the same in both phases so
/// that caches are as warm (or cold) unloaded as loaded.
const PACE: Duration = Duration::from_millis(100);

struct Args {
    cairn: String,
    pid: Option<u32>,
    series: usize,
    days: u64,
    scrape_secs: u64,
    heavy: usize,
    seconds: u64,
    light_runs: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        cairn: "http://127.0.0.1:9009".into(),
        pid: None,
        series: 2_000,
        days: 3,
        scrape_secs: 60,
        heavy: 20,
        seconds: 30,
        light_runs: 40,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().with_context(|| format!("{flag} needs a value"))?;
        let num = || -> anyhow::Result<u64> {
            val.parse()
                .with_context(|| format!("{flag} wants a number, got {val:?}"))
        };
        match flag.as_str() {
            "--cairn" => a.cairn = val.clone(),
            "--pid" => a.pid = Some(u32::try_from(num()?)?),
            "--series" => a.series = usize::try_from(num()?)?,
            "--days" => a.days = num()?,
            "--scrape-secs" => a.scrape_secs = num()?.max(1),
            "--heavy" => a.heavy = usize::try_from(num()?)?,
            "--seconds" => a.seconds = num()?,
            "--light-runs" => a.light_runs = usize::try_from(num()?)?.max(1),
            other => bail!("unknown flag {other}; see the module doc"),
        }
    }
    Ok(a)
}

/// Pushes `series` counters with one sample per `scrape_ms` over
/// `[end - days, end]`: 50 series × 6 hours per request, series groups in
/// parallel, each group's windows in time order.
async fn load(
    client: &reqwest::Client,
    a: &Args,
    tenant: &str,
    series: usize,
    end: i64,
) -> anyhow::Result<u64> {
    const GROUP: usize = 50;
    const WINDOW_MS: i64 = 6 * 3_600_000;
    let scrape_ms = i64::try_from(a.scrape_secs * 1000)?;
    let start = end - i64::try_from(a.days)? * 86_400_000;
    let groups: Vec<usize> = (0..series).step_by(GROUP).collect();
    let total = Arc::new(AtomicU64::new(0));
    let url = format!("{}/api/v1/push", a.cairn);
    let mut tasks = Vec::new();
    for chunk in groups.chunks(groups.len().div_ceil(4).max(1)) {
        let (chunk, client, url, tenant, total) = (
            chunk.to_vec(),
            client.clone(),
            url.clone(),
            tenant.to_string(),
            Arc::clone(&total),
        );
        tasks.push(tokio::spawn(async move {
            for first in chunk {
                let mut from = start;
                while from <= end {
                    let to = (from + WINDOW_MS).min(end + 1);
                    let timeseries: Vec<TimeSeries> = (first..(first + GROUP).min(series))
                        .map(|s| TimeSeries {
                            labels: vec![
                                Label::new("__name__", "load_metric"),
                                Label::new("instance", format!("host-{s}")),
                                Label::new("job", format!("job-{}", s % 10)),
                            ],
                            samples: (from..to)
                                .step_by(scrape_ms as usize)
                                .map(|t| Sample {
                                    timestamp: t,
                                    value: ((t - start) / scrape_ms * (s as i64 % 7 + 1)) as f64,
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    let n: usize = timeseries.iter().map(|t| t.samples.len()).sum();
                    let body = encode(&WriteRequest {
                        timeseries,
                        ..Default::default()
                    })?;
                    let r = client
                        .post(&url)
                        .header("X-Scope-OrgID", &tenant)
                        .header("Content-Encoding", "snappy")
                        .body(body)
                        .send()
                        .await?;
                    if !r.status().is_success() {
                        bail!("push for {tenant}: {} {}", r.status(), r.text().await?);
                    }
                    total.fetch_add(n as u64, Ordering::Relaxed);
                    from = to;
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(total.load(Ordering::Relaxed))
}

/// One range query; its status and latency.
async fn range_query(
    client: &reqwest::Client,
    base: &str,
    tenant: &str,
    query: &str,
    start: i64,
    end: i64,
    step_secs: u64,
) -> (u16, Duration) {
    let began = Instant::now();
    let resp = client
        .post(format!("{base}/prometheus/api/v1/query_range"))
        .header("X-Scope-OrgID", tenant)
        .form(&[
            ("query", query.to_string()),
            ("start", format!("{:.3}", start as f64 / 1000.0)),
            ("end", format!("{:.3}", end as f64 / 1000.0)),
            ("step", step_secs.to_string()),
        ])
        .send()
        .await;
    let status = match resp {
        // Read the body: the latency includes receiving the answer.
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(_) => status,
                Err(_) => 0,
            }
        }
        Err(_) => 0,
    };
    (status, began.elapsed())
}

/// What one phase of tenant B's light queries is.
enum Phase {
    /// This many queries; every one must succeed.
    Unloaded(usize),
    /// Queries for this long; statuses are counted.
    Loaded(Duration),
}

/// Tenant B's latencies and answers in one phase.
struct Measured {
    latencies: Vec<Duration>,
    statuses: Statuses,
}

/// Tenant B's light query (the last hour, one point a minute), run on a
/// thread of its own with a single-threaded runtime and its own client.
struct LightClient {
    phases: std::sync::mpsc::Sender<Phase>,
    results: std::sync::mpsc::Receiver<anyhow::Result<Measured>>,
}

impl LightClient {
    fn start(base: String, tenant: String) -> Self {
        let (phases, phase_rx) = std::sync::mpsc::channel::<Phase>();
        let (result_tx, results) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for tenant B's client");
            let client = reqwest::Client::new();
            for phase in phase_rx {
                let measured = rt.block_on(measure(&client, &base, &tenant, phase));
                if result_tx.send(measured).is_err() {
                    return;
                }
            }
        });
        Self { phases, results }
    }

    /// Runs one phase and waits for its figures.
    fn run(&self, phase: Phase) -> anyhow::Result<Measured> {
        self.phases
            .send(phase)
            .context("tenant B's client thread ended")?;
        self.results
            .recv()
            .context("tenant B's client thread ended")?
    }
}

async fn measure(
    client: &reqwest::Client,
    base: &str,
    tenant: &str,
    phase: Phase,
) -> anyhow::Result<Measured> {
    let light = || {
        let end = now_ms();
        range_query(client, base, tenant, LIGHT_QUERY, end - 3_600_000, end, 60)
    };
    let mut latencies = Vec::new();
    let statuses = Statuses::default();
    match phase {
        Phase::Unloaded(runs) => {
            for _ in 0..runs {
                let (status, took) = light().await;
                if status != 200 {
                    bail!("tenant B's light query failed unloaded: HTTP {status}");
                }
                latencies.push(took);
                tokio::time::sleep(PACE).await;
            }
        }
        Phase::Loaded(length) => {
            let deadline = Instant::now() + length;
            while Instant::now() < deadline {
                let (status, took) = light().await;
                count(&statuses, status);
                latencies.push(took);
                tokio::time::sleep(PACE).await;
            }
        }
    }
    Ok(Measured {
        latencies,
        statuses,
    })
}

type Statuses = Arc<Mutex<BTreeMap<u16, u64>>>;

fn count(statuses: &Statuses, status: u16) {
    *statuses.lock().entry(status).or_default() += 1;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    common::storage::install_tls_provider();
    let client = reqwest::Client::new();
    let run = std::process::id();
    let (tenant_a, tenant_b) = (format!("load-a-{run}"), format!("load-b-{run}"));
    let end = now_ms();

    let began = Instant::now();
    let pushed = load(&client, &a, &tenant_a, a.series, end).await?
        + load(&client, &a, &tenant_b, 10, end).await?;
    println!(
        "loaded {pushed} samples ({} + 10 series x {} days) in {:.1?}",
        a.series,
        a.days,
        began.elapsed()
    );
    if let Some(pid) = a.pid {
        println!(
            "cairn RSS after load: {} MiB",
            status_kib(pid, "VmRSS").unwrap_or(0) / 1024
        );
    }

    // Tenant B measures on its own thread, runtime and connection: reading A's
    // large answers on the same runtime would add the tool's own queueing to
    // B's latencies.
    let light_b = LightClient::start(a.cairn.clone(), tenant_b.clone());
    let unloaded = light_b.run(Phase::Unloaded(a.light_runs))?;
    summary("B light query, unloaded", unloaded.latencies);

    let stop = Arc::new(AtomicBool::new(false));
    let a_statuses: Statuses = Arc::default();
    let a_latencies = Arc::new(Mutex::new(Vec::new()));
    let history_start = end - i64::try_from(a.days)? * 86_400_000;
    let mut heavy = Vec::new();
    for w in 0..a.heavy {
        let (client, base, tenant, stop, statuses, latencies) = (
            client.clone(),
            a.cairn.clone(),
            tenant_a.clone(),
            Arc::clone(&stop),
            Arc::clone(&a_statuses),
            Arc::clone(&a_latencies),
        );
        heavy.push(tokio::spawn(async move {
            let mut i: i64 = 0;
            while !stop.load(Ordering::Relaxed) {
                // A distinct start per request keeps the results cache out of
                // the way: this measures evaluation under load.
                let start = history_start + (w as i64 * 1_000 + i) % 59_000;
                // A quarter of the requests (from the first on, on some
                // workers) return raw series: over `max_samples`, 422.
                let query = if (w as i64 + i) % 4 == 3 {
                    "load_metric"
                } else {
                    "sum by (job) (rate(load_metric[5m]))"
                };
                let (status, took) =
                    range_query(&client, &base, &tenant, query, start, now_ms(), 60).await;
                count(&statuses, status);
                latencies.lock().push(took);
                i += 1;
            }
        }));
    }
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = a.pid.map(|pid| {
        let (sampling, peak) = (Arc::clone(&sampling), Arc::clone(&peak_rss));
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(status_kib(pid, "VmRSS").unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let loaded = light_b.run(Phase::Loaded(Duration::from_secs(a.seconds)))?;
    stop.store(true, Ordering::Relaxed);
    for h in heavy {
        h.await?;
    }
    sampling.store(false, Ordering::Relaxed);
    if let Some(s) = sampler {
        s.await?;
    }
    summary("B light query, loaded  ", loaded.latencies);
    summary("A heavy queries        ", a_latencies.lock().clone());
    let statuses = |s: &Statuses| {
        s.lock()
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("A answers by HTTP status: {}", statuses(&a_statuses));
    println!("B answers by HTTP status: {}", statuses(&loaded.statuses));
    let refused = |s: &Statuses, code| s.lock().get(&code).copied().unwrap_or(0);
    println!(
        "422s: {} (A) + {} (B); 429s: {} (A) + {} (B)",
        refused(&a_statuses, 422),
        refused(&loaded.statuses, 422),
        refused(&a_statuses, 429),
        refused(&loaded.statuses, 429)
    );
    if let Some(pid) = a.pid {
        println!(
            "cairn peak RSS while A's queries ran: {} MiB (now {} MiB)",
            peak_rss.load(Ordering::Relaxed) / 1024,
            status_kib(pid, "VmRSS").unwrap_or(0) / 1024
        );
    }
    Ok(())
}
