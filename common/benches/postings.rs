//! Postings: selecting series by label matchers over 100k series with
//! realistic labels (the head's and a block index's lookup), where every
//! equality matcher is a roaring-bitmap intersection.
//!
//! Run: `cargo bench -p cairn-common --bench postings`.

use std::hint::black_box;

use cairn_common::labels::Labels;
use cairn_common::postings::MemPostings;
use cairn_common::series::{MatchOp, Matcher};
use criterion::{Criterion, criterion_group, criterion_main};

const SERIES: u32 = 100_000;

/// 100 series per instance (50 metric names × 2), spread over clusters,
/// namespaces and jobs like the end-to-end ingest benchmark's load.
fn postings() -> MemPostings {
    let mut p = MemPostings::new();
    for id in 0..SERIES {
        let i = id / 100;
        p.add(
            id,
            &Labels::from_pairs([
                ("__name__", format!("metric_{}", id % 50)),
                ("cluster", format!("k8s-{}", i % 4)),
                ("env", if i % 3 == 0 { "staging" } else { "prod" }.into()),
                ("namespace", format!("team-{}", i % 20)),
                ("job", format!("svc-{}", i % 50)),
                ("instance", format!("host-{i}")),
                (
                    "code",
                    if id.is_multiple_of(2) { "200" } else { "500" }.into(),
                ),
            ]),
        );
    }
    p
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value)
}

fn bench(c: &mut Criterion) {
    let p = postings();
    let queries = [
        // One metric across the fleet: 2,000 series.
        ("name", vec![eq("__name__", "metric_7")]),
        // A dashboard panel: metric in one namespace and cluster.
        (
            "name_ns_cluster",
            vec![
                eq("__name__", "metric_7"),
                eq("namespace", "team-3"),
                eq("cluster", "k8s-3"),
            ],
        ),
        // Four large sets intersected down to a few series.
        (
            "four_way",
            vec![
                eq("env", "prod"),
                eq("code", "500"),
                eq("job", "svc-12"),
                eq("__name__", "metric_9"),
            ],
        ),
        // Equality and a negative matcher subtracted.
        (
            "with_not_equal",
            vec![
                eq("__name__", "metric_7"),
                Matcher::new(MatchOp::NotEqual, "env", "staging"),
            ],
        ),
    ];
    let mut group = c.benchmark_group("postings_select");
    for (name, matchers) in &queries {
        println!("postings/{name}: {} series", p.select(matchers).len());
        group.bench_function(*name, |b| b.iter(|| p.select(black_box(matchers))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
