//! Remote-write decode: snappy decompression and protobuf decoding of one
//! request as Prometheus sends it (2,000 series of 8 labels, one sample
//! each), the distributor's first cost per sample.
//!
//! Run: `cargo bench -p cairn-distributor --bench remote_write` (throughput
//! in samples/s). Prints the body's size per sample.

use std::hint::black_box;

use cairn_distributor::DistributorConfig;
use cairn_distributor::remote_write::{Label, Sample, TimeSeries, WriteRequest, decode, encode};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SERIES: usize = 2_000;

/// One request: `SERIES` series of one instance group with realistic
/// labels, sorted by name as Prometheus sends them.
fn request() -> WriteRequest {
    let timeseries = (0..SERIES)
        .map(|s| {
            let i = s / 100;
            let mut labels = vec![
                Label::new("__name__", format!("http_requests_{}_total", s % 50)),
                Label::new("cluster", format!("k8s-{}", i % 4)),
                Label::new("env", "prod"),
                Label::new("region", "eu-west-1"),
                Label::new("namespace", format!("team-{}", i % 20)),
                Label::new("job", format!("svc-{}", i % 50)),
                Label::new("instance", format!("10.0.{}.{}:9100", i / 256, i % 256)),
                Label::new("code", if s.is_multiple_of(2) { "200" } else { "500" }),
            ];
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            TimeSeries {
                labels,
                samples: vec![Sample {
                    timestamp: 1_700_000_000_000 + s as i64,
                    value: (s * 37) as f64,
                }],
                ..Default::default()
            }
        })
        .collect();
    WriteRequest {
        timeseries,
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let body = encode(&request()).expect("encoding");
    println!(
        "remote write: {SERIES} samples in {} snappy bytes = {:.1} bytes/sample",
        body.len(),
        body.len() as f64 / SERIES as f64
    );
    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            decode(
                black_box(&body),
                DistributorConfig::default().decode_limits(),
            )
            .expect("decoding")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
