//! The push loop, latency summaries and process accounting shared by the
//! end-to-end benchmarks (metrics, logs, traces ingest; query load).

// Each example compiles its own copy of this module and uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a push carries besides the body.
pub struct Target<'a> {
    /// The write endpoint.
    pub url: &'a str,
    /// `X-Scope-OrgID`.
    pub tenant: &'a str,
    /// Extra headers, e.g. the content type or encoding.
    pub headers: &'a [(&'static str, &'static str)],
}

/// What a push run did: its elapsed time and how many requests failed.
pub struct Pushed {
    /// Wall time from the first request to the last answer.
    pub took: Duration,
    /// Requests answered with a non-2xx status or not answered at all.
    pub errors: usize,
}

/// POSTs every body with `concurrency` workers; body `i` goes to worker
/// `shard(i) % concurrency`, which sends its bodies in order (so a client
/// that must keep a series' samples ordered assigns them to one worker).
/// Failed requests are counted (the first of each worker is printed), not
/// retried.
pub async fn push_all(
    target: &Target<'_>,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    shard: impl Fn(usize) -> usize + Clone + Send + Sync + 'static,
) -> Pushed {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let (client, bodies, shard) = (client.clone(), Arc::clone(&bodies), shard.clone());
            let url = target.url.to_string();
            let tenant = target.tenant.to_string();
            let headers = target.headers.to_vec();
            tokio::spawn(async move {
                let mut errors = 0;
                for i in (0..bodies.len()).filter(|&i| shard(i) % concurrency.max(1) == w) {
                    let mut req = client
                        .post(&url)
                        .header("X-Scope-OrgID", &tenant)
                        .body(bodies[i].clone());
                    for (k, v) in &headers {
                        req = req.header(*k, *v);
                    }
                    let failure = match req.send().await {
                        Ok(r) if r.status().is_success() => continue,
                        Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
                        Err(e) => e.to_string(),
                    };
                    if errors == 0 {
                        eprintln!("{url}: {}", failure.trim());
                    }
                    errors += 1;
                }
                errors
            })
        })
        .collect();
    let mut errors = 0;
    for w in workers {
        errors += w.await.unwrap();
    }
    Pushed {
        took: start.elapsed(),
        errors,
    }
}

/// `POST /ingester/flush` on `cairn`, panicking on failure.
pub async fn flush(cairn: &str) {
    let r = reqwest::Client::new()
        .post(format!("{cairn}/ingester/flush"))
        .send()
        .await
        .expect("flush");
    assert!(r.status().is_success(), "flush: {}", r.status());
}

/// CPU seconds (user + system) process `pid` has used, from `/proc`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc stat");
    // Fields after the command name (which may hold spaces) start past ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .map(|&i| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        })
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * p / 100]
}

/// Prints `name: n=… p50=… p99=… max=…` for `latencies`.
pub fn summary(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{name}: n={} p50={:.1?} p90={:.1?} p99={:.1?} max={:.1?}",
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 90),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default()
    );
}

/// A small deterministic generator (xorshift), so load tools generate the
/// same data on every run and runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    /// The next value in `0..n`.
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
