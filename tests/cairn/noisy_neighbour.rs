//! Noisy neighbour: tenant A floods writes at ten times its ingestion
//! limit and runs heavy range queries over everything it has, while
//! tenant B writes and queries at a normal pace. B's writes all succeed,
//! A is throttled with 429s, and B's latencies unloaded and loaded are
//! printed for the record (not asserted: the machine is shared).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::remote_write::{body, now_ms, request, series};
use crate::support::{Cairn, http};

/// Tenant A's limit (samples/s) and what it sends (10×).
const A_LIMIT: usize = 2_000;
const A_RATE: usize = 10 * A_LIMIT;

/// p50 and p99 of `xs`.
fn percentiles(mut xs: Vec<Duration>) -> (Duration, Duration) {
    xs.sort();
    let at = |q: f64| xs[((xs.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// Tenant B's normal life for `run`: a write of 100 samples and an
/// instant query every 50 ms. Returns write and query latencies; panics
/// on any failure.
async fn tenant_b(cairn: &Cairn, run: Duration) -> (Vec<Duration>, Vec<Duration>) {
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    let client = http();
    let end = Instant::now() + run;
    while Instant::now() < end {
        let t = now_ms();
        let all = (0..100)
            .map(|i| {
                series(
                    "b_requests_total",
                    &[("pod", &i.to_string())],
                    &[(t, t as f64)],
                )
            })
            .collect();
        let started = Instant::now();
        let r = request(&client, &format!("{}/api/v1/push", cairn.url()), body(all))
            .header("X-Scope-OrgID", "team-b")
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(
            status,
            200,
            "tenant B's write failed: {}",
            r.text().await.unwrap()
        );
        writes.push(started.elapsed());
        let started = Instant::now();
        let r = client
            .get(format!("{}/prometheus/api/v1/query", cairn.url()))
            .header("X-Scope-OrgID", "team-b")
            .query(&[("query", "sum(b_requests_total)")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "tenant B's query failed: {}",
            r.text().await.unwrap()
        );
        reads.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (writes, reads)
}

/// Tenant A until `stop`: writers at ten times its limit and heavy range
/// queries over everything it has.
async fn tenant_a(
    url: String,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    throttled: Arc<AtomicUsize>,
) {
    let mut load = Vec::new();
    // Writers: 4 × 20 requests/s of 250 samples = A_RATE samples/s.
    for w in 0..4 {
        let (url, stop, sent, throttled) = (
            url.clone(),
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&throttled),
        );
        load.push(tokio::spawn(async move {
            let client = http();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = now_ms();
                let all = (0..A_RATE / 80)
                    .map(|i| {
                        series(
                            "a_flood",
                            &[("w", &w.to_string()), ("i", &i.to_string())],
                            &[(t + n as i64, 1.0)],
                        )
                    })
                    .collect();
                let r = request(&client, &format!("{url}/api/v1/push"), body(all))
                    .header("X-Scope-OrgID", "team-a")
                    .send()
                    .await
                    .unwrap();
                sent.fetch_add(1, Ordering::Relaxed);
                if r.status() == 429 {
                    throttled.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // Heavy readers: range queries over all of A's series.
    for _ in 0..2 {
        let (url, stop) = (url.clone(), Arc::clone(&stop));
        load.push(tokio::spawn(async move {
            let client = http();
            while !stop.load(Ordering::Relaxed) {
                let end = now_ms() / 1000;
                let _ = client
                    .get(format!("{url}/prometheus/api/v1/query_range"))
                    .header("X-Scope-OrgID", "team-a")
                    .query(&[
                        (
                            "query",
                            "count_over_time({__name__=~\".+\"}[10m])".to_string(),
                        ),
                        ("start", (end - 3600).to_string()),
                        ("end", end.to_string()),
                        ("step", "5".to_string()),
                    ])
                    .send()
                    .await;
            }
        }));
    }
    for l in load {
        l.await.unwrap();
    }
}

#[tokio::test]
async fn a_flooding_tenant_is_throttled_and_the_other_keeps_writing() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("overrides.yaml");
    std::fs::write(
        &overrides,
        format!("overrides:\n  team-a:\n    ingestion_rate: {A_LIMIT}\n    ingestion_burst_size: {A_LIMIT}\n"),
    )
    .unwrap();
    let cairn = Arc::new(
        Cairn::start(
            dir.path(),
            &format!("runtime_config:\n  file: {}\n", overrides.display()),
        )
        .await,
    );
    let (w0, r0) = tenant_b(&cairn, Duration::from_secs(3)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, throttled) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // Tenant A's clients run on their own threads, so building and encoding
    // its flood never delays tenant B's requests inside this test process.
    let flood = {
        let (url, stop, sent, throttled) = (
            cairn.url(),
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&throttled),
        );
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(tenant_a(url, stop, sent, throttled))
        })
    };
    let (w1, r1) = tenant_b(&cairn, Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    flood.join().unwrap();
    let (sent, throttled) = (
        sent.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
    );
    assert!(
        throttled > sent / 2,
        "tenant A was not throttled: {throttled} of {sent} refused"
    );
    let report = |what: &str, before: Vec<Duration>, after: Vec<Duration>| {
        let (b50, b99) = percentiles(before);
        let (a50, a99) = percentiles(after);
        println!(
            "tenant B {what}: unloaded p50 {b50:.1?} p99 {b99:.1?}; loaded p50 {a50:.1?} p99 {a99:.1?} (p99 ratio {:.2})",
            a99.as_secs_f64() / b99.as_secs_f64()
        );
    };
    println!("tenant A: {throttled} of {sent} writes refused with 429");
    report("writes", w0, w1);
    report("queries", r0, r1);
}
