//! LogQL line filters as the engine pushes them down to the store, over
//! 100k realistic lines (access logs and JSON application logs): the
//! per-byte cost of `|= "literal"` scans and friends.
//!
//! Run: `cargo bench -p cairn-querier --bench logql` (throughput in bytes/s).

use std::hint::black_box;

use cairn_querier::logql::{Expr, parse, pushed_line_filter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LINES: usize = 100_000;

/// Deterministic lines: nginx-style access logs and JSON logs, alternating.
fn lines() -> Vec<String> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let paths = ["/api/v1/orders", "/api/v1/cart", "/healthz", "/login"];
    let msgs = [
        "request completed",
        "cache miss, loading from database",
        "payment authorised",
        "retrying upstream call",
    ];
    (0..LINES)
        .map(|i| {
            if i % 2 == 0 {
                format!(
                    "10.{}.{}.{} - - [1700000000] \"GET {}?id={} HTTP/1.1\" {} {} \"-\" \"curl/8.5.0\" 0.{:03}",
                    next(256),
                    next(256),
                    next(256),
                    paths[next(4) as usize],
                    next(100_000),
                    [200, 200, 304, 404, 500][next(5) as usize],
                    next(50_000),
                    next(1000)
                )
            } else {
                format!(
                    r#"{{"ts":1700000000{i:09},"level":"{}","msg":"{}","trace_id":"{:016x}","user_id":{}}}"#,
                    ["debug", "info", "warn", "error"][next(4) as usize],
                    msgs[next(4) as usize],
                    next(u64::MAX),
                    next(1_000_000)
                )
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let bytes: usize = lines.iter().map(String::len).sum();
    let mut group = c.benchmark_group("logql_line_filter");
    group.throughput(Throughput::Bytes(bytes as u64));
    for (name, query) in [
        ("contains_rare", r#"{app="x"} |= "needle-not-there""#),
        ("contains_common", r#"{app="x"} |= "payment authorised""#),
        ("not_contains", r#"{app="x"} != "debug""#),
        ("regex", r#"{app="x"} |~ "HTTP/1.1\" 5[0-9][0-9]""#),
        ("two_filters", r#"{app="x"} |= "GET" != "healthz""#),
    ] {
        let Ok(Expr::Log(log)) = parse(query) else {
            panic!("{query} is not a log query")
        };
        let filter = pushed_line_filter(&log)
            .expect("compiling")
            .expect("a pushed filter");
        let kept = lines.iter().filter(|l| filter(l)).count();
        println!("logql/{name}: keeps {kept} of {LINES} lines");
        group.bench_function(name, |b| {
            b.iter(|| lines.iter().filter(|l| filter(black_box(l))).count())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
