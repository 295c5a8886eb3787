//! Logs blocks through the compactor: RF 3 copies merged into one block
//! per range with each line once, failures at every step never losing or
//! double-counting a line, and per-tenant retention.

use std::collections::BTreeSet;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use common::block::{BlockMeta, Signal};
use common::labels::Labels;
use common::logs::block::write_log_block;
use common::logs::{Direction, LogEntry, LogSelect, LogStore, StreamEntries};
use common::tenant::TenantId;
use prometheus_client::registry::Registry;
use querier::store::{BlockStoreConfig, LogBlockStore};

use super::{Bucket, H, base, cfg, tenant};

const STREAMS: usize = 12;
const LINE_EVERY: i64 = 20 * 60_000;

/// The lines of the 2h window at `from_ms`: every stream, one line per
/// 20 minutes, some with structured metadata.
fn expected(from_ms: i64) -> Vec<StreamEntries> {
    (0..STREAMS)
        .map(|s| StreamEntries {
            labels: Labels::from_pairs([("app", format!("app-{s:02}").as_str()), ("env", "prod")]),
            entries: (from_ms..from_ms + 2 * H - 1)
                .step_by(LINE_EVERY as usize)
                .map(|t| LogEntry {
                    ts_ns: t * 1_000_000,
                    line: format!("GET /api/{s} 200 at {t}"),
                    structured_metadata: if t % 3 == 0 {
                        Labels::from_pairs([("trace_id", "abc")])
                    } else {
                        Labels::default()
                    },
                })
                .collect(),
        })
        .collect()
}

/// Three ingesters' blocks of the window; the third missed every 4th line.
async fn write_replicas(b: &Bucket, t: &TenantId, from_ms: i64) -> Vec<BlockMeta> {
    let mut metas = Vec::new();
    for replica in 0..3 {
        let mut streams = expected(from_ms);
        if replica == 2 {
            for s in &mut streams {
                s.entries = s.entries.iter().step_by(4).cloned().collect();
            }
        }
        let source = format!("ingester-{replica}");
        metas.push(
            write_log_block(b.store.as_ref(), t, streams, &source)
                .await
                .unwrap(),
        );
    }
    metas
}

/// Every line of `t` a querier reads from the blocks.
async fn select_all(b: &Bucket, t: &TenantId) -> Vec<StreamEntries> {
    let cfg = BlockStoreConfig {
        block_list_ttl: Duration::ZERO,
        ..BlockStoreConfig::default()
    };
    let store = LogBlockStore::new(Arc::clone(&b.store), cfg);
    let sel = LogSelect {
        matchers: Vec::new(),
        start_ns: 0,
        end_ns: i64::MAX,
        line_filter: None,
        limit: None,
        direction: Direction::Forward,
    };
    store.select_logs(t, &sel).await.unwrap()
}

/// `windows`' lines merged into one list per stream.
fn all_expected(windows: &[i64]) -> Vec<StreamEntries> {
    common::logs::merge_streams(windows.iter().map(|&w| expected(w)).collect())
}

#[tokio::test]
async fn rf3_log_replicas_compact_to_one_block_per_range_with_each_line_once() {
    let b = Bucket::new();
    let t = tenant("team-a");
    let day = base();
    let windows = [day, day + 2 * H];
    for &w in &windows {
        write_replicas(&b, &t, w).await;
    }
    assert_eq!(select_all(&b, &t).await, all_expected(&windows), "before");
    let report = b
        .compactor(cfg(), &mut Registry::default())
        .run_at(day + 5 * H)
        .await
        .unwrap();
    assert_eq!(report.tenants[0].compactions, 2, "{report:?}");
    let lines_per_window = (STREAMS * 6) as u64;
    assert_eq!(report.tenants[0].merged_samples, 2 * lines_per_window);
    let blocks = b.visible_of(Signal::Logs, &t).await;
    assert_eq!(blocks.len(), 2, "one block per 2h range: {blocks:?}");
    assert!(
        blocks
            .iter()
            .all(|m| m.stats.num_samples == lines_per_window)
    );
    assert_eq!(select_all(&b, &t).await, all_expected(&windows), "after");
    let index = common::block::read_bucket_index(b.store.as_ref(), &t, Signal::Logs)
        .await
        .unwrap()
        .expect("a logs bucket index");
    assert_eq!(index.blocks.len(), 2);
}

/// Object operations that fail once, by path part and how many matching
/// operations succeed first.
const FAULTS: &[(&str, &str, u32)] = &[
    ("put", "/logs.parquet", 0),
    ("put", "/index", 0),
    ("put", "/meta.json", 0),
    ("put", "deletion-mark.json", 2),
    ("delete", "/logs.parquet", 1),
    ("delete", "/meta.json", 0),
    ("put", "logs/bucket-index.json.gz", 0),
];

#[tokio::test]
async fn a_logs_compaction_failing_at_any_step_never_loses_or_double_counts() {
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
        assert_eq!(select_all(&b, &t).await, expected(day), "{fault}");
        c.run_at(day + 3 * H)
            .await
            .unwrap_or_else(|e| panic!("{fault}: {e}"));
        let blocks = b.visible_of(Signal::Logs, &t).await;
        assert_eq!(blocks.len(), 1, "{fault}: {blocks:?}");
        let merged: BTreeSet<_> = blocks[0].compaction.sources.iter().copied().collect();
        assert_eq!(merged, source_ids, "{fault}");
        assert_eq!(select_all(&b, &t).await, expected(day), "{fault}");
    }
}

#[tokio::test]
async fn logs_retention_deletes_old_blocks_only_for_the_tenant_that_asks() {
    let b = Bucket::new();
    b.overrides
        .apply_yaml(
            "overrides:\n  short:\n    retention_period: 1h\n",
            FsPath::new("overrides.yaml"),
        )
        .unwrap();
    let day = base();
    let now = day + 8 * H;
    for name in ["short", "long"] {
        for from in [day, now - 2 * H] {
            write_log_block(
                b.store.as_ref(),
                &tenant(name),
                expected(from),
                "ingester-0",
            )
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
    assert_eq!(b.visible_of(Signal::Logs, &tenant("short")).await.len(), 1);
    assert_eq!(b.visible_of(Signal::Logs, &tenant("long")).await.len(), 2);
}
