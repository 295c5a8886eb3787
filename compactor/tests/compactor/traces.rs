//! Trace blocks through the compactor: RF 3 copies merged into one block
//! per range with each span once, failures at every step never losing or
//! double-counting a span, and per-tenant trace retention.

use std::collections::BTreeSet;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use common::block::{BlockMeta, Signal};
use common::tenant::TenantId;
use common::traces::block::write_trace_block;
use common::traces::{AttrValue, KeyValue, Resource, Scope, Span, Trace, TraceStore};
use prometheus_client::registry::Registry;
use querier::store::{BlockStoreConfig, TraceBlockStore};

use super::{Bucket, H, base, cfg, tenant};

const TRACES: u8 = 30;

/// Trace `n` of the window starting at `from_ms`: three spans, 10 minutes
/// apart per trace so the window's traces spread over it.
fn trace(from_ms: i64, n: u8) -> Vec<Span> {
    let start = u64::try_from(from_ms).unwrap() * 1_000_000 + u64::from(n) * 180_000_000_000;
    let resource = Arc::new(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: AttrValue::Str("api".into()),
        }],
        ..Resource::default()
    });
    (1..=3u8)
        .map(|s| Span {
            trace_id: [
                n,
                (from_ms / H) as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                1,
            ],
            span_id: [s, n, 0, 0, 0, 0, 0, 1],
            parent_span_id: (s > 1).then_some([1, n, 0, 0, 0, 0, 0, 1]),
            trace_state: String::new(),
            flags: 1,
            name: format!("op-{s}"),
            kind: 2,
            start_unix_nano: start + u64::from(s) * 1_000_000,
            end_unix_nano: start + u64::from(s) * 2_000_000,
            attributes: vec![KeyValue {
                key: "n".into(),
                value: AttrValue::Int(i64::from(n)),
            }],
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status_code: 0,
            status_message: String::new(),
            resource: Arc::clone(&resource),
            scope: Arc::new(Scope::default()),
        })
        .collect()
}

/// Every trace of the 2h window at `from_ms`.
fn expected(from_ms: i64) -> Vec<Trace> {
    (0..TRACES)
        .map(|n| {
            let spans = trace(from_ms, n);
            Trace::from_spans(spans[0].trace_id, spans)
        })
        .collect()
}

/// Three ingesters' blocks of the window at `from_ms`; the third missed
/// every span 2.
async fn write_replicas(b: &Bucket, t: &TenantId, from_ms: i64) -> Vec<BlockMeta> {
    let mut metas = Vec::new();
    for replica in 0..3 {
        let mut spans: Vec<Span> = expected(from_ms)
            .into_iter()
            .flat_map(|t| t.spans)
            .collect();
        if replica == 2 {
            spans.retain(|s| s.span_id[0] != 2);
        }
        let source = format!("ingester-{replica}");
        metas.push(
            write_trace_block(b.store.as_ref(), t, spans, &source)
                .await
                .unwrap(),
        );
    }
    metas
}

/// What a querier answers for every expected trace of the windows.
async fn fetch(b: &Bucket, t: &TenantId, windows: &[i64]) -> Vec<Trace> {
    let cfg = BlockStoreConfig {
        block_list_ttl: Duration::ZERO,
        ..BlockStoreConfig::default()
    };
    let store = TraceBlockStore::new(Arc::clone(&b.store), cfg);
    let mut out = Vec::new();
    for &w in windows {
        for want in expected(w) {
            if let Some(got) = store
                .trace_by_id(t, want.trace_id, 0, u64::MAX)
                .await
                .unwrap()
            {
                out.push(got);
            }
        }
    }
    out
}

fn all_expected(windows: &[i64]) -> Vec<Trace> {
    windows.iter().flat_map(|&w| expected(w)).collect()
}

#[tokio::test]
async fn rf3_trace_replicas_compact_to_one_block_per_range_with_each_span_once() {
    let b = Bucket::new();
    let t = tenant("team-a");
    let day = base();
    let windows = [day, day + 2 * H];
    for &w in &windows {
        write_replicas(&b, &t, w).await;
    }
    assert_eq!(
        fetch(&b, &t, &windows).await,
        all_expected(&windows),
        "before"
    );
    let report = b
        .compactor(cfg(), &mut Registry::default())
        .run_at(day + 5 * H)
        .await
        .unwrap();
    assert_eq!(report.tenants[0].compactions, 2, "{report:?}");
    assert_eq!(report.tenants[0].merged_samples, 2 * 3 * u64::from(TRACES));
    let blocks = b.visible_of(Signal::Traces, &t).await;
    assert_eq!(blocks.len(), 2, "one block per 2h range: {blocks:?}");
    assert!(blocks.iter().all(|m| m.compaction.level == 2));
    assert_eq!(
        fetch(&b, &t, &windows).await,
        all_expected(&windows),
        "after"
    );
    // The sources are gone (deletion_delay 0) and the index names the rest.
    let listed = b
        .store
        .list_with_delimiter(Some(&Signal::Traces.blocks_prefix(&t)))
        .await
        .unwrap();
    assert_eq!(listed.common_prefixes.len(), 2);
    let index = common::block::read_bucket_index(b.store.as_ref(), &t, Signal::Traces)
        .await
        .unwrap()
        .expect("a traces bucket index");
    assert_eq!(index.blocks.len(), 2);
}

/// Object operations that fail once, by path part and how many matching
/// operations succeed first.
const FAULTS: &[(&str, &str, u32)] = &[
    ("put", "/data.parquet", 0),
    ("put", "/index.json", 0),
    ("put", "/meta.json", 0),
    ("put", "deletion-mark.json", 1),
    ("delete", "/meta.json", 1),
    ("delete", "/data.parquet", 0),
    ("delete", "deletion-mark.json", 0),
    ("put", "traces/bucket-index.json.gz", 0),
];

#[tokio::test]
async fn a_trace_compaction_failing_at_any_step_never_loses_or_double_counts() {
    for &(op, part, after) in FAULTS {
        let b = Bucket::new();
        let t = tenant("team-a");
        let day = base();
        let sources = write_replicas(&b, &t, day).await;
        let source_ids: BTreeSet<_> = sources.iter().map(|m| m.ulid).collect();
        let c = b.compactor(cfg(), &mut Registry::default());
        let fault = format!("{op} {part} after {after}");
        match op {
            "put" => b.faulty.fail_puts(after, 1, part),
            _ => b.faulty.fail_deletes(after, 1, part),
        }
        assert!(c.run_at(day + 3 * H).await.is_err(), "{fault}: reported");
        assert_eq!(fetch(&b, &t, &[day]).await, expected(day), "{fault}");
        let visible_ids: BTreeSet<_> = b
            .visible_of(Signal::Traces, &t)
            .await
            .iter()
            .map(|m| m.ulid)
            .collect();
        let compacted = b.visible_of(Signal::Traces, &t).await;
        assert!(
            visible_ids == source_ids
                || (compacted.len() == 1 && compacted[0].compaction.level == 2),
            "{fault}: visible {visible_ids:?}"
        );
        c.run_at(day + 3 * H)
            .await
            .unwrap_or_else(|e| panic!("{fault}: {e}"));
        let blocks = b.visible_of(Signal::Traces, &t).await;
        assert_eq!(blocks.len(), 1, "{fault}: {blocks:?}");
        assert_eq!(
            blocks[0]
                .compaction
                .sources
                .iter()
                .copied()
                .collect::<BTreeSet<_>>(),
            source_ids,
            "{fault}"
        );
        let dirs = b
            .store
            .list_with_delimiter(Some(&Signal::Traces.blocks_prefix(&t)))
            .await
            .unwrap();
        assert_eq!(
            dirs.common_prefixes.len(),
            1,
            "{fault}: partial directories left"
        );
        assert_eq!(fetch(&b, &t, &[day]).await, expected(day), "{fault}");
    }
}

#[tokio::test]
async fn trace_retention_deletes_old_blocks_only_for_the_tenant_that_asks() {
    let b = Bucket::new();
    b.overrides
        .apply_yaml(
            "overrides:\n  short:\n    block_retention: 1h\n",
            FsPath::new("overrides.yaml"),
        )
        .unwrap();
    let day = base();
    let now = day + 6 * H;
    for name in ["short", "long"] {
        let t = tenant(name);
        for from in [day, now - H / 2] {
            let spans: Vec<Span> = (0..3).flat_map(|n| trace(from, n)).collect();
            write_trace_block(b.store.as_ref(), &t, spans, "ingester-0")
                .await
                .unwrap();
        }
    }
    let report = b
        .compactor(cfg(), &mut Registry::default())
        .run_at(now)
        .await
        .unwrap();
    let marked = |n: &str| {
        report
            .tenants
            .iter()
            .find(|r| r.tenant == n)
            .map(|r| r.marked_retention)
    };
    assert_eq!(marked("short"), Some(1));
    assert_eq!(marked("long"), Some(0));
    assert_eq!(
        b.visible_of(Signal::Traces, &tenant("short")).await.len(),
        1
    );
    assert_eq!(b.visible_of(Signal::Traces, &tenant("long")).await.len(), 2);
}
