//! End-to-end metrics ingest benchmark: pre-encodes a realistic Prometheus
//! remote-write 1.0 load (snappy protobuf; ~8 labels per series, 38 metric
//! names: counters, gauges and histograms, one sample per series every
//! 15 s) and pushes the same load to every `--target` in turn, alternating
//! in `--phases` slices so machine noise hits every target alike. Prints
//! one table: samples/s, samples per server CPU-second, peak RSS per active
//! series, bytes on disk per sample, request errors, and Cairn/peer ratios.
//!
//! A target is `KIND=URL[,pid=PID[+PID…]][,dir=PATH]`, KIND one of `cairn`,
//! `prometheus`, `victoria`; URL is the server's base URL. With `pid` the
//! server's CPU seconds and peak RSS come from `/proc/PID` (summed over
//! every process of a distributed Cairn, e.g. `pid=D+I1+I2+I3`); with `dir` the
//! disk bytes after a flush: Cairn's filesystem bucket (after
//! `POST /ingester/flush`, the tenant's metrics blocks), VictoriaMetrics's
//! `-storageDataPath` (after `/internal/force_flush`), Prometheus's TSDB
//! directory (WAL and memory-mapped head chunks: no block is cut in a short
//! run). `bench/compare.sh` starts all three and runs this.
//!
//! ```sh
//! cargo run --release --example ingest_bench -- \
//!     --target cairn=http://127.0.0.1:9009,pid=$(pgrep -n cairn),dir=./data/bucket \
//!     --target prometheus=http://127.0.0.1:9090 --series 100000 --samples 120
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use distributor::remote_write::{Label, Sample, TimeSeries, WriteRequest, encode};

#[path = "support/bucket.rs"]
mod bucket;
use bucket::{block_bytes_and_samples, dir_bytes};
#[path = "support/load.rs"]
mod load;
use load::{Target, cpu_seconds, flush, push_all, status_kib};

/// Which server a target is: decides the write path, the flush call and
/// what its data directory holds.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Cairn,
    Prometheus,
    Victoria,
}

struct Peer {
    kind: Kind,
    name: String,
    url: String,
    pids: Vec<u32>,
    dir: Option<PathBuf>,
}

impl Peer {
    fn parse(spec: &str) -> Result<Peer, String> {
        let (name, rest) = spec
            .split_once('=')
            .ok_or_else(|| format!("--target {spec}: want KIND=URL[,pid=N[+N…]][,dir=PATH]"))?;
        let kind = match name {
            "cairn" => Kind::Cairn,
            "prometheus" => Kind::Prometheus,
            "victoria" => Kind::Victoria,
            other => return Err(format!("unknown target kind {other}")),
        };
        let mut parts = rest.split(',');
        let url = parts
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .into();
        let mut peer = Peer {
            kind,
            name: name.into(),
            url,
            pids: Vec::new(),
            dir: None,
        };
        for p in parts {
            match p.split_once('=') {
                Some(("pid", v)) => {
                    for pid in v.split('+') {
                        peer.pids
                            .push(pid.parse().map_err(|e| format!("pid {pid}: {e}"))?);
                    }
                }
                Some(("dir", v)) => peer.dir = Some(v.into()),
                _ => return Err(format!("--target {spec}: unknown part {p}")),
            }
        }
        Ok(peer)
    }

    fn write_url(&self) -> String {
        match self.kind {
            Kind::Cairn => format!("{}/api/v1/push", self.url),
            Kind::Prometheus | Kind::Victoria => format!("{}/api/v1/write", self.url),
        }
    }

    /// Makes the server persist what it holds, then returns its bytes on
    /// disk (`None` without `dir`).
    async fn flushed_bytes(&self, tenant: &str) -> Option<u64> {
        let dir = self.dir.as_ref()?;
        match self.kind {
            Kind::Cairn => {
                flush(&self.url).await;
                let blocks = dir.join(tenant).join("metrics/blocks");
                let chunks: u64 = std::fs::read_dir(&blocks)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|b| dir_bytes(&b.path().join("chunks")))
                    .sum();
                let (bytes, samples) = block_bytes_and_samples(&blocks);
                println!(
                    "{}: {samples} samples in blocks; chunk segments {chunks} bytes = {:.2} B/sample, \
                     index and meta the other {} bytes",
                    self.name,
                    chunks as f64 / samples.max(1) as f64,
                    bytes - chunks
                );
                Some(bytes)
            }
            Kind::Victoria => {
                let r = reqwest::get(format!("{}/internal/force_flush", self.url)).await;
                if !r.is_ok_and(|r| r.status().is_success()) {
                    eprintln!("{}: /internal/force_flush failed", self.name);
                }
                Some(dir_bytes(dir))
            }
            Kind::Prometheus => Some(dir_bytes(dir)),
        }
    }
}

struct Args {
    targets: Vec<Peer>,
    tenant: String,
    series: usize,
    samples: usize,
    batch: usize,
    concurrency: usize,
    phases: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        targets: Vec::new(),
        tenant: "bench".into(),
        series: 100_000,
        samples: 120,
        batch: 2_000,
        concurrency: 8,
        phases: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--target" => a.targets.push(Peer::parse(&val)?),
            "--tenant" => a.tenant = val,
            "--series" => a.series = num(&val)?.max(1),
            "--samples" => a.samples = num(&val)?.max(1),
            "--batch" => a.batch = num(&val)?.max(1),
            "--concurrency" => a.concurrency = num(&val)?.max(1),
            "--phases" => a.phases = num(&val)?.max(1),
            other => return Err(format!("unknown flag {other}; see the module doc")),
        }
    }
    if a.targets.is_empty() {
        a.targets.push(Peer::parse("cairn=http://127.0.0.1:9009")?);
    }
    Ok(a)
}

/// What a series is: decides its value over time.
#[derive(Clone, Copy)]
enum Shape {
    Counter,
    Gauge,
    /// A cumulative histogram bucket of rank 0..BUCKETS (or `_count`).
    Bucket(usize),
    Sum,
}

const LE: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];
const COUNTERS: [&str; 10] = [
    "http_requests_total",
    "http_request_errors_total",
    "process_cpu_seconds_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "grpc_server_handled_total",
    "kafka_consumer_records_total",
    "db_queries_total",
];
const GAUGES: [&str; 16] = [
    "process_resident_memory_bytes",
    "process_open_fds",
    "go_goroutines",
    "go_memstats_heap_inuse_bytes",
    "node_load1",
    "node_memory_MemAvailable_bytes",
    "node_filesystem_avail_bytes",
    "container_memory_working_set_bytes",
    "kube_pod_container_status_restarts",
    "up",
    "queue_depth",
    "db_connections_in_use",
    "cache_hit_ratio",
    "jvm_threads_live",
    "temperature_celsius",
    "http_inflight_requests",
];
const HISTOGRAMS: [&str; 4] = [
    "http_request_duration_seconds",
    "grpc_server_handling_seconds",
    "db_query_duration_seconds",
    "rpc_client_duration_seconds",
];

/// The series one instance exposes (100): each counter and gauge twice
/// (with an 8th label telling the two apart) and each histogram's buckets,
/// `_sum` and `_count`. Names and extra label, sorted later.
fn instance_template() -> Vec<(String, (&'static str, String), Shape)> {
    let mut out = Vec::new();
    for name in COUNTERS {
        for code in ["200", "500"] {
            out.push((name.to_string(), ("code", code.into()), Shape::Counter));
        }
    }
    for name in GAUGES {
        for side in ["a", "b"] {
            out.push((name.to_string(), ("shard", side.into()), Shape::Gauge));
        }
    }
    for name in HISTOGRAMS {
        for (rank, le) in LE.iter().enumerate() {
            out.push((
                format!("{name}_bucket"),
                ("le", le.to_string()),
                Shape::Bucket(rank),
            ));
        }
        let h = ("handler", "/api".to_string());
        out.push((
            format!("{name}_count"),
            h.clone(),
            Shape::Bucket(LE.len() - 1),
        ));
        out.push((format!("{name}_sum"), h, Shape::Sum));
    }
    out
}

/// Every series' sorted labels and shape: `series` series over instances
/// of 100 series each, spread over clusters, regions and namespaces.
fn series(n: usize) -> Vec<(Vec<Label>, Shape)> {
    let template = instance_template();
    (0..n)
        .map(|s| {
            let (i, (name, extra, shape)) = (s / template.len(), &template[s % template.len()]);
            let mut labels = vec![
                Label::new("__name__", name.as_str()),
                Label::new("cluster", format!("k8s-{}", i % 4)),
                Label::new("env", if i % 3 == 0 { "staging" } else { "prod" }),
                Label::new("region", ["eu-west-1", "us-east-1", "ap-south-1"][i % 3]),
                Label::new("namespace", format!("team-{}", i % 20)),
                Label::new("job", format!("svc-{}", i % 50)),
                Label::new(
                    "instance",
                    format!("10.{}.{}.{}:9100", i / 65536 % 256, i / 256 % 256, i % 256),
                ),
                Label::new(extra.0, extra.1.as_str()),
            ];
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            (labels, *shape)
        })
        .collect()
}

/// Series `s`'s value at `round`: counters and histograms grow by a
/// per-series rate with some noise, gauges wander with full precision.
fn value(shape: Shape, s: usize, round: usize) -> f64 {
    let noise = ((s * 2_654_435_761 + round * 40_503) % 1_000) as f64;
    let rate = (s % 17 + 1) as f64;
    let r = round as f64;
    match shape {
        Shape::Counter => (r * rate * 10.0 + noise / 100.0).floor(),
        Shape::Gauge => (s % 1000) as f64 * 1.5 + (r * 0.37 + s as f64).sin() * 10.0,
        Shape::Bucket(rank) => (r * rate * (rank + 1) as f64).floor(),
        Shape::Sum => r * rate * 0.0137 + noise / 1e5,
    }
}

/// Request bodies, one `Vec` per phase: `samples` rounds 15 s apart ending
/// now, each round split into batches of `batch` series like Prometheus's
/// shards send them.
fn bodies(a: &Args) -> Result<Vec<Arc<Vec<Vec<u8>>>>, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as i64;
    let start = (now - a.samples as i64 * 15_000) / 15_000 * 15_000;
    let all = series(a.series);
    let rounds_per_phase = a.samples.div_ceil(a.phases);
    let mut phases = Vec::new();
    for first_round in (0..a.samples).step_by(rounds_per_phase) {
        let mut out = Vec::new();
        for round in first_round..(first_round + rounds_per_phase).min(a.samples) {
            let t = start + round as i64 * 15_000;
            for first in (0..all.len()).step_by(a.batch) {
                let timeseries = (first..(first + a.batch).min(all.len()))
                    .map(|s| TimeSeries {
                        labels: all[s].0.clone(),
                        samples: vec![Sample {
                            // Scrapes of one instance are spread over the 15 s.
                            timestamp: t + (s / 100 % 15) as i64 * 1_000,
                            value: value(all[s].1, s, round),
                        }],
                        ..Default::default()
                    })
                    .collect();
                let body = encode(&WriteRequest {
                    timeseries,
                    ..Default::default()
                })
                .map_err(|e| format!("encoding: {e}"))?;
                out.push(body);
            }
        }
        phases.push(Arc::new(out));
    }
    Ok(phases)
}

/// One target's accumulated measurements.
#[derive(Default)]
struct Measured {
    took: Duration,
    cpu: f64,
    errors: usize,
    peak_rss: Option<u64>,
    disk: Option<u64>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

async fn run(mut a: Args) -> Result<(), String> {
    common::storage::install_tls_provider();
    // A fresh Cairn tenant per run: earlier runs' samples would be out of order.
    a.tenant = format!("{}-{}", a.tenant, std::process::id());
    let per_round = a.series.div_ceil(a.batch);
    let phases = bodies(&a)?;
    let requests: usize = phases.iter().map(|p| p.len()).sum();
    let wire: usize = phases.iter().flat_map(|p| p.iter()).map(Vec::len).sum();
    let total = (a.series * a.samples) as f64;
    println!(
        "load: {} series x {} samples (15 s) = {total} samples in {requests} requests of {} series \
         ({:.1} MB snappy), {} in flight, {} alternating phases",
        a.series,
        a.samples,
        a.batch,
        wire as f64 / 1e6,
        a.concurrency,
        phases.len()
    );
    let mut measured: Vec<Measured> = a.targets.iter().map(|_| Measured::default()).collect();
    for phase in &phases {
        for (peer, m) in a.targets.iter().zip(&mut measured) {
            let url = peer.write_url();
            let target = Target {
                url: &url,
                tenant: &a.tenant,
                headers: &[
                    ("Content-Encoding", "snappy"),
                    ("Content-Type", "application/x-protobuf"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ],
            };
            let cpu_before: f64 = peer.pids.iter().copied().map(cpu_seconds).sum();
            // Each worker owns fixed batch positions, so a series' samples stay in order.
            let pushed = push_all(&target, Arc::clone(phase), a.concurrency, move |i| {
                i % per_round
            })
            .await;
            m.took += pushed.took;
            m.errors += pushed.errors;
            if !peer.pids.is_empty() {
                m.cpu += peer.pids.iter().copied().map(cpu_seconds).sum::<f64>() - cpu_before;
            }
        }
    }
    for (peer, m) in a.targets.iter().zip(&mut measured) {
        m.peak_rss = peer
            .pids
            .iter()
            .map(|&pid| status_kib(pid, "VmHWM"))
            .sum::<Option<u64>>()
            .map(|k| k * 1024);
        m.disk = peer.flushed_bytes(&a.tenant).await;
    }

    let row = |m: &Measured| {
        [
            Some(total / m.took.as_secs_f64()),
            (m.cpu > 0.0).then(|| total / m.cpu),
            m.peak_rss.map(|b| b as f64 / a.series as f64),
            m.disk.map(|b| b as f64 / total),
        ]
    };
    println!(
        "\n{:<17} {:>12} {:>14} {:>14} {:>13} {:>7} {:>8}",
        "target", "samples/s", "samples/CPU-s", "RSS B/series", "disk B/sample", "errors", "CPU-s"
    );
    for (peer, m) in a.targets.iter().zip(&measured) {
        let r = row(m);
        println!(
            "{:<17} {:>12} {:>14} {:>14} {:>13} {:>7} {:>8.1}",
            peer.name,
            cell(r[0], 0),
            cell(r[1], 0),
            cell(r[2], 0),
            cell(r[3], 2),
            m.errors,
            m.cpu
        );
    }
    if let Some(c) = a.targets.iter().position(|p| p.kind == Kind::Cairn) {
        let cairn = row(&measured[c]);
        for (peer, m) in a
            .targets
            .iter()
            .zip(&measured)
            .filter(|(p, _)| p.kind != Kind::Cairn)
        {
            let r = row(m);
            println!(
                "{:<17} {:>12} {:>14} {:>14} {:>13}",
                format!("cairn/{}", peer.name),
                ratio(cairn[0], r[0]),
                ratio(cairn[1], r[1]),
                ratio(cairn[2], r[2]),
                ratio(cairn[3], r[3]),
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match parse_args() {
        Ok(a) => run(a).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest_bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
