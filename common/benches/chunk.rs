//! Throughput of the XOR chunk codec on realistic 120-sample chunks (two
//! hours of data scraped every minute, or 30 minutes every 15 s — the size
//! the ingester cuts chunks at).
//!
//! Also the block's chunk frames: each XOR chunk snappy-compressed behind a
//! length and CRC (`block::write_frame`/`read_frame`).
//!
//! Run: `cargo bench -p cairn-common --bench chunk`. Besides criterion's
//! timings it prints the encoded size in bytes per sample.

use std::hint::black_box;

use cairn_common::block::{read_frame, write_frame};
use cairn_common::chunk::xor::{XorChunk, decode};
use cairn_common::series::Sample;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SAMPLES: usize = 120;
const START: i64 = 1_700_000_000_000;

/// Deterministic xorshift64* so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A request counter scraped every 15 s with a few ms of scrape jitter:
/// integer increments of varying size.
fn counter_with_jitter() -> Vec<Sample> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v = 1_234_567.0;
    (0..SAMPLES as i64)
        .map(|i| {
            let jitter = rng.below(11) as i64 - 5;
            v += rng.below(400) as f64;
            Sample {
                t: START + i * 15_000 + jitter,
                v,
            }
        })
        .collect()
}

/// A gauge (say, memory in use as a fraction) doing a random walk with full
/// float precision, scraped exactly every 15 s.
fn gauge() -> Vec<Sample> {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut v = 0.42;
    (0..SAMPLES as i64)
        .map(|i| {
            v += (rng.below(2001) as f64 - 1000.0) / 1_000_000.0;
            Sample {
                t: START + i * 15_000,
                v,
            }
        })
        .collect()
}

fn encode(samples: &[Sample]) -> XorChunk {
    let mut c = XorChunk::new();
    for s in samples {
        c.append(s.t, s.v);
    }
    c
}

fn bench_xor(c: &mut Criterion) {
    let datasets = [
        ("counter_jitter", counter_with_jitter()),
        ("gauge", gauge()),
    ];
    for (name, samples) in &datasets {
        let bytes = encode(samples).bytes().len();
        println!(
            "xor/{name}: {SAMPLES} samples -> {bytes} bytes = {:.2} bytes/sample",
            bytes as f64 / SAMPLES as f64
        );
    }

    let mut group = c.benchmark_group("xor");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    for (name, samples) in &datasets {
        group.bench_with_input(BenchmarkId::new("encode", name), samples, |b, s| {
            b.iter(|| encode(black_box(s)))
        });
        let chunk = encode(samples);
        group.bench_with_input(
            BenchmarkId::new("decode", name),
            chunk.bytes(),
            |b, bytes| b.iter(|| decode(black_box(bytes))),
        );
        group.bench_with_input(BenchmarkId::new("iter", name), &chunk, |b, chunk| {
            b.iter(|| black_box(chunk).iter().fold(0.0, |acc, s| acc + s.v))
        });
    }
    group.finish();
}

/// Snappy frames of 1,000 XOR chunks (a block's worth for 1,000 series).
fn bench_frames(c: &mut Criterion) {
    let chunks: Vec<Vec<u8>> = (0..1_000u64)
        .map(|i| {
            let mut samples = counter_with_jitter();
            for s in &mut samples {
                s.v += i as f64;
            }
            encode(&samples).bytes().to_vec()
        })
        .collect();
    let raw: usize = chunks.iter().map(Vec::len).sum();
    let mut frames = Vec::new();
    let mut lengths = Vec::new();
    for ch in &chunks {
        lengths.push(write_frame(&mut frames, ch).expect("frame") as usize);
    }
    println!("frames: {raw} chunk bytes -> {} framed bytes", frames.len());
    let mut group = c.benchmark_group("snappy_frame");
    group.throughput(Throughput::Bytes(raw as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(frames.len());
            for ch in &chunks {
                write_frame(&mut out, black_box(ch)).expect("frame");
            }
            out
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut at = 0;
            let mut total = 0;
            for len in &lengths {
                total += read_frame(black_box(&frames[at..at + len]))
                    .expect("frame")
                    .len();
                at += len;
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench_xor, bench_frames);
criterion_main!(benches);
