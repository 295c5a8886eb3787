//! End-to-end ingest benchmark: pushes a synthetic remote-write load to Cairn
//! (and, with `--compare`, to a Prometheus started with
//! `--web.enable-remote-write-receiver`) and prints samples/s for each and
//! their ratio. With `--bucket-dir` it then flushes Cairn and reports the
//! bytes per sample of the uploaded blocks.
//!
//! ```sh
//! cargo run --release &                       # Cairn on 127.0.0.1:9009
//! prometheus --web.enable-remote-write-receiver --web.listen-address=127.0.0.1:9090 &
//! cargo run --release --example ingest_bench -- \
//!     --cairn http://127.0.0.1:9009 --compare http://127.0.0.1:9090/api/v1/write --bucket-dir ./data/bucket
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use distributor::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};

#[path = "support/bucket.rs"]
mod bucket;
use bucket::block_bytes_and_samples;
#[path = "support/load.rs"]
mod load;
use load::{Target, flush, push_all};

struct Args {
    cairn: String,
    compare: Option<String>,
    bucket_dir: Option<PathBuf>,
    tenant: String,
    series: usize,
    samples: usize,
    batch: usize,
    concurrency: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        cairn: "http://127.0.0.1:9009".into(),
        compare: None,
        bucket_dir: None,
        tenant: "bench".into(),
        series: 10_000,
        samples: 120,
        batch: 2_000,
        concurrency: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--cairn" => a.cairn = val(),
            "--compare" => a.compare = Some(val()),
            "--bucket-dir" => a.bucket_dir = Some(val().into()),
            "--tenant" => a.tenant = val(),
            "--series" => a.series = val().parse().expect("--series N"),
            "--samples" => a.samples = val().parse().expect("--samples N"),
            "--batch" => a.batch = val().parse().expect("--batch N"),
            "--concurrency" => a.concurrency = val().parse().expect("--concurrency N"),
            other => panic!("unknown flag {other}; see the module doc"),
        }
    }
    a
}

/// Request bodies: `samples` rounds of one sample for every series, 15 s apart,
/// split into batches of `batch` series like Prometheus's shards send them.
fn bodies(a: &Args) -> Vec<Vec<u8>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - a.samples as i64 * 15_000;
    let mut out = Vec::new();
    for round in 0..a.samples {
        let t = start + round as i64 * 15_000;
        for first in (0..a.series).step_by(a.batch) {
            let timeseries = (first..(first + a.batch).min(a.series))
                .map(|s| TimeSeries {
                    labels: vec![
                        Label::new("__name__", format!("bench_metric_{}", s % 100)),
                        Label::new("instance", format!("host-{}", s / 100)),
                        Label::new("job", "bench"),
                        // Distinct per run: Prometheus has one tenant, so runs must not share series.
                        Label::new("run", &a.tenant),
                    ],
                    samples: vec![Sample {
                        timestamp: t,
                        // A counter-like value with some jitter: realistic for the XOR codec.
                        value: (round * (s % 7 + 1)) as f64 + if s % 3 == 0 { 0.5 } else { 0.0 },
                    }],
                    ..Default::default()
                })
                .collect();
            out.push(
                encode(&WriteRequest {
                    timeseries,
                    ..Default::default()
                })
                .unwrap(),
            );
        }
    }
    out
}

/// Sends `bodies` with `concurrency` shards in flight. Like Prometheus's
/// shards, each worker owns a fixed subset of the series (batch positions
/// within a round) and sends their rounds in order, so no series sees its
/// samples out of order. Returns the elapsed time.
async fn run(
    url: &str,
    tenant: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    per_round: usize,
    concurrency: usize,
) -> Duration {
    let target = Target {
        url,
        tenant,
        headers: &[("Content-Encoding", "snappy")],
    };
    push_all(&target, bodies, concurrency, move |i| i % per_round).await
}

#[tokio::main]
async fn main() {
    let mut a = parse_args();
    common::storage::install_tls_provider();
    // A fresh tenant per run: earlier runs' samples would be out of order.
    a.tenant = format!("{}-{}", a.tenant, std::process::id());
    let per_round = a.series.div_ceil(a.batch);
    let bodies = Arc::new(bodies(&a));
    let total = (a.series * a.samples) as f64;
    println!(
        "load: {} series x {} samples = {total} samples in {} requests",
        a.series,
        a.samples,
        bodies.len()
    );
    let took = run(
        &format!("{}/api/v1/push", a.cairn),
        &a.tenant,
        Arc::clone(&bodies),
        per_round,
        a.concurrency,
    )
    .await;
    let cairn_rate = total / took.as_secs_f64();
    println!("cairn:      {cairn_rate:>12.0} samples/s ({took:.2?})");
    if let Some(url) = &a.compare {
        let took = run(
            url,
            &a.tenant,
            Arc::clone(&bodies),
            per_round,
            a.concurrency,
        )
        .await;
        let rate = total / took.as_secs_f64();
        println!("prometheus: {rate:>12.0} samples/s ({took:.2?})");
        println!("ratio cairn/prometheus: {:.2}", cairn_rate / rate);
    }
    if let Some(dir) = &a.bucket_dir {
        flush(&a.cairn).await;
        let (bytes, samples) = block_bytes_and_samples(&dir.join(&a.tenant).join("metrics/blocks"));
        if samples > 0 {
            println!(
                "blocks: {bytes} bytes for {samples} samples = {:.2} bytes/sample",
                bytes as f64 / samples as f64
            );
        }
    }
}
