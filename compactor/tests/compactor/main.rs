//! The compactor's promises, against a real filesystem bucket read back by
//! the querier's block store: replicas compact to one block per range with
//! every sample once; a compaction failing at any step loses and
//! double-counts nothing; retention is per tenant; tenants are split
//! between replicas.

use std::collections::BTreeSet;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use cairn_compactor::metrics::{Batch, merge_into};
use cairn_compactor::{Compactor, CompactorConfig, ShardingConfig};
use common::block::{
    BlockCompaction, BlockMeta, BlockReader, BlockSeries, BlockWriter, FetchOptions,
    InstrumentedStore, RetryPolicy, Signal, block_dir, blocks_prefix, list_blocks,
    read_bucket_index, refresh_block_list_under, split_covered, write_block,
};
use common::histogram::{FloatHistogram, HistogramSample, Span};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::{MatchOp, Matcher, Sample, Series, SeriesStore, merge_series};
use common::tenant::TenantId;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use prometheus_client::registry::Registry;
use querier::store::{BlockStore, BlockStoreConfig};

const H: i64 = 3_600_000;
const SERIES: usize = 20;
const STEP: i64 = 15_000;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// The start of tomorrow (UTC, 24h-aligned): simulated "now"s after it are
/// later than any real clock in the test, so partial uploads count as old.
fn base() -> i64 {
    (common::time::now_ms() / (24 * H) + 1) * 24 * H
}

/// What every replica should have written for `[from, to)`: SERIES series,
/// one sample per STEP; every fourth series holds native histograms.
fn expected(from: i64, to: i64) -> Vec<Series> {
    (0..SERIES)
        .map(|i| {
            let labels = Labels::from_pairs([("__name__", "m"), ("i", &format!("{i:03}"))]);
            let times = (from..to).step_by(STEP as usize);
            let value = |t: i64| (t / STEP + i as i64) as f64;
            if i % 4 == 0 {
                let histograms = times
                    .map(|t| HistogramSample {
                        t,
                        h: Arc::new(FloatHistogram {
                            count: value(t),
                            sum: 0.5 * value(t),
                            positive_spans: vec![Span {
                                offset: 0,
                                length: 1,
                            }],
                            positive_buckets: vec![value(t)],
                            ..FloatHistogram::default()
                        }),
                    })
                    .collect();
                Series {
                    labels,
                    samples: Vec::new(),
                    histograms,
                }
            } else {
                Series::floats(labels, times.map(|t| Sample { t, v: value(t) }).collect())
            }
        })
        .collect()
}

/// The timestamps of a series' float and histogram samples.
fn sample_times(s: &Series) -> impl Iterator<Item = i64> + '_ {
    let floats = s.samples.iter().map(|x| x.t);
    floats.chain(s.histograms.iter().map(|h| h.t))
}

fn to_block_series(series: &[Series]) -> Vec<BlockSeries> {
    series
        .iter()
        .map(|s| BlockSeries {
            labels: s.labels.clone(),
            chunks: common::block::encode_chunks(&s.samples, &s.histograms),
        })
        .collect()
}

/// Writes the blocks three ingesters at RF 3 cut for `[from, to)`: the
/// same series from `ingester-0..2`, the third missing every 7th sample
/// (a replica that missed some writes).
async fn write_replicas(
    store: &dyn ObjectStore,
    t: &TenantId,
    from: i64,
    to: i64,
) -> Vec<BlockMeta> {
    let mut metas = Vec::new();
    for replica in 0..3 {
        let mut series = expected(from, to);
        if replica == 2 {
            for s in &mut series {
                let mut k = 0;
                s.samples.retain(|_| {
                    k += 1;
                    k % 7 != 4
                });
                let mut k = 0;
                s.histograms.retain(|_| {
                    k += 1;
                    k % 7 != 4
                });
            }
        }
        let source = format!("ingester-{replica}");
        metas.push(
            write_block(store, t, to_block_series(&series), &source)
                .await
                .unwrap(),
        );
    }
    metas
}

struct Bucket {
    _dir: tempfile::TempDir,
    faulty: Arc<InstrumentedStore>,
    store: Arc<dyn ObjectStore>,
    overrides: Arc<Overrides>,
}

impl Bucket {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fs = LocalFileSystem::new_with_prefix(dir.path())
            .unwrap()
            .with_automatic_cleanup(true);
        let faulty = Arc::new(InstrumentedStore::new(Arc::new(fs)));
        Self {
            _dir: dir,
            store: faulty.clone(),
            faulty,
            overrides: Arc::new(Overrides::new(Limits::default())),
        }
    }

    fn compactor(&self, cfg: CompactorConfig, registry: &mut Registry) -> Arc<Compactor> {
        Compactor::new(
            cfg,
            Arc::clone(&self.store),
            Arc::clone(&self.overrides),
            registry,
        )
    }

    /// What a querier answers for every series of `t` (a fresh store: no
    /// cached list), from the bucket index when `use_index`, else listing.
    async fn query(&self, t: &TenantId, use_index: bool) -> Vec<Series> {
        let cfg = BlockStoreConfig {
            block_list_ttl: Duration::ZERO,
            bucket_index_max_staleness: if use_index {
                Duration::from_secs(3600)
            } else {
                Duration::ZERO
            },
            ..BlockStoreConfig::default()
        };
        let bs = BlockStore::new(Arc::clone(&self.store), Arc::clone(&self.overrides), cfg);
        let all = [Matcher::new(MatchOp::Equal, "__name__", "m")];
        bs.select(t, &all, i64::MIN, i64::MAX).await.unwrap()
    }

    /// The blocks a querier reads (complete, not covered by another).
    async fn visible(&self, t: &TenantId) -> Vec<BlockMeta> {
        self.visible_of(Signal::Metrics, t).await
    }

    /// The blocks of `signal` a querier reads (complete, not covered by
    /// another).
    async fn visible_of(&self, signal: Signal, t: &TenantId) -> Vec<BlockMeta> {
        let all = refresh_block_list_under(
            self.store.as_ref(),
            &signal.blocks_prefix(t),
            &[],
            &RetryPolicy::default(),
        )
        .await
        .unwrap();
        split_covered(all).0
    }

    /// Block directories of `t` and whether each has its `meta.json`.
    async fn dirs(&self, t: &TenantId) -> Vec<(String, bool)> {
        let prefix = blocks_prefix(t);
        let files: Vec<String> = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        let dirs: BTreeSet<String> = files
            .iter()
            .filter_map(|f| f.split('/').nth(3).map(str::to_string))
            .collect();
        dirs.into_iter()
            .map(|d| {
                let meta = files.iter().any(|f| f.ends_with(&format!("{d}/meta.json")));
                (d, meta)
            })
            .collect()
    }
}

/// Test settings: ranges 2h/12h/24h, immediate deletion.
fn cfg() -> CompactorConfig {
    CompactorConfig {
        deletion_delay: Duration::ZERO,
        ..CompactorConfig::default()
    }
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

#[tokio::test]
async fn rf3_replicas_compact_to_one_block_per_range_with_each_sample_once() {
    let b = Bucket::new();
    let t = tenant("team-a");
    let day = base();
    write_replicas(b.store.as_ref(), &t, day, day + 2 * H).await;
    write_replicas(b.store.as_ref(), &t, day + 2 * H, day + 4 * H).await;
    let mut registry = Registry::default();
    let c = b.compactor(cfg(), &mut registry);

    // Before compaction the querier already answers each sample once.
    let want = expected(day, day + 4 * H);
    assert_eq!(b.query(&t, false).await, want);

    // At 5h both 2h windows are complete, the 12h and 24h ones are not.
    let report = c.run_at(day + 5 * H).await.unwrap();
    assert_eq!(report.tenants.len(), 1);
    assert_eq!(report.tenants[0].compactions, 2, "{report:?}");
    let blocks = list_blocks(b.store.as_ref(), &t).await.unwrap();
    assert_eq!(blocks.len(), 2, "one block per 2h range: {blocks:?}");
    for (k, m) in blocks.iter().enumerate() {
        assert_eq!(m.compaction.level, 2);
        assert_eq!(m.compaction.sources.len(), 3);
        assert_eq!(
            (m.min_time, m.max_time - 1),
            (day + k as i64 * 2 * H, day + (k as i64 + 1) * 2 * H - STEP)
        );
        assert_eq!(
            m.stats.num_samples,
            (SERIES as i64 * 2 * H / STEP) as u64,
            "no duplicates stored"
        );
    }
    assert_eq!(b.query(&t, true).await, want);
    assert_eq!(b.query(&t, false).await, want);
    assert!(
        b.dirs(&t).await.iter().all(|(_, meta)| *meta),
        "sources fully deleted"
    );

    let index = read_bucket_index(b.store.as_ref(), &t, Signal::Metrics)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(index.blocks, blocks);
    assert!(index.block_deletion_marks.is_empty());

    let text = metrics_text(&registry);
    for line in [
        "cairn_compactor_runs_total{kind=\"compaction\",status=\"success\"} 1",
        "cairn_compactor_blocks_marked_for_deletion_total{tenant=\"team-a\",reason=\"compaction\"} 6",
        "cairn_compactor_compactions_total{tenant=\"team-a\"} 2",
        "cairn_compactor_blocks_deleted_total{tenant=\"team-a\"} 6",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(text.contains("cairn_compactor_last_successful_run_timestamp_seconds "));

    // A day later both merge into the 24h window; nothing else changes.
    c.run_at(day + 30 * H).await.unwrap();
    let blocks = list_blocks(b.store.as_ref(), &t).await.unwrap();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].compaction.level, 3);
    assert_eq!(blocks[0].compaction.sources.len(), 6);
    assert_eq!(b.query(&t, true).await, want);
    let again = c.run_at(day + 30 * H).await.unwrap();
    assert_eq!(
        again.tenants[0].compactions, 0,
        "a compact bucket stays as it is"
    );
}

#[tokio::test]
async fn sources_stay_readable_until_the_deletion_delay_passes() {
    let b = Bucket::new();
    let t = tenant("team-a");
    let day = base();
    let sources = write_replicas(b.store.as_ref(), &t, day, day + 2 * H).await;
    let c = b.compactor(
        CompactorConfig {
            deletion_delay: Duration::from_secs(3600),
            ..CompactorConfig::default()
        },
        &mut Registry::default(),
    );
    c.run_at(day + 3 * H).await.unwrap();
    let listed = list_blocks(b.store.as_ref(), &t).await.unwrap();
    assert_eq!(listed.len(), 4, "sources marked, not deleted");
    let index = read_bucket_index(b.store.as_ref(), &t, Signal::Metrics)
        .await
        .unwrap()
        .unwrap();
    let marked: BTreeSet<_> = index.block_deletion_marks.iter().map(|m| m.id).collect();
    assert_eq!(marked, sources.iter().map(|m| m.ulid).collect());
    assert_eq!(b.query(&t, true).await, expected(day, day + 2 * H));

    c.run_at(day + 3 * H + 30 * 60_000).await.unwrap();
    assert_eq!(list_blocks(b.store.as_ref(), &t).await.unwrap().len(), 4);
    c.run_at(day + 4 * H + 60_000).await.unwrap();
    assert_eq!(list_blocks(b.store.as_ref(), &t).await.unwrap().len(), 1);
    assert_eq!(b.query(&t, true).await, expected(day, day + 2 * H));
}

/// Where a compaction is made to fail: (operation, path part, how many of
/// those operations succeed first).
const FAULTS: &[(&str, &str, u32)] = &[
    ("put", "/chunks/", 0),
    ("put", "/index", 0),
    ("put", "/meta.json", 0),
    ("put", "deletion-mark.json", 0),
    ("put", "deletion-mark.json", 1),
    ("delete", "/meta.json", 1),
    ("delete", "/chunks/", 0),
    ("delete", "/index", 2),
    ("delete", "deletion-mark.json", 0),
    ("put", "bucket-index.json.gz", 0),
];

#[tokio::test]
async fn a_compaction_failing_at_any_step_never_loses_or_double_counts() {
    for &(op, part, after) in FAULTS {
        let b = Bucket::new();
        let t = tenant("team-a");
        let day = base();
        let sources = write_replicas(b.store.as_ref(), &t, day, day + 2 * H).await;
        let source_ids: BTreeSet<_> = sources.iter().map(|m| m.ulid).collect();
        let want = expected(day, day + 2 * H);
        let c = b.compactor(cfg(), &mut Registry::default());
        let fault = format!("{op} {part} after {after}");

        match op {
            "put" => b.faulty.fail_puts(after, 1, part),
            _ => b.faulty.fail_deletes(after, 1, part),
        }
        let result = c.run_at(day + 3 * H).await;
        assert!(result.is_err(), "{fault}: the pass must report the failure");

        // Whatever state it stopped in, readers see every sample once and
        // either all the sources or the compacted block.
        assert_eq!(b.query(&t, false).await, want, "{fault}");
        assert_eq!(b.query(&t, true).await, want, "{fault}");
        let visible: BTreeSet<_> = b.visible(&t).await.iter().map(|m| m.ulid).collect();
        let compacted = visible.len() == 1
            && list_blocks(b.store.as_ref(), &t)
                .await
                .unwrap()
                .iter()
                .any(|m| visible.contains(&m.ulid) && m.compaction.level == 2);
        assert!(
            visible == source_ids || compacted,
            "{fault}: visible {visible:?}"
        );

        // The next pass finishes the job and leaves nothing behind.
        c.run_at(day + 3 * H)
            .await
            .unwrap_or_else(|e| panic!("{fault}: {e}"));
        let blocks = list_blocks(b.store.as_ref(), &t).await.unwrap();
        assert_eq!(blocks.len(), 1, "{fault}: {blocks:?}");
        assert_eq!(
            blocks[0]
                .compaction
                .sources
                .iter()
                .copied()
                .collect::<BTreeSet<_>>(),
            source_ids
        );
        assert_eq!(
            b.dirs(&t).await.len(),
            1,
            "{fault}: partial directories left"
        );
        assert_eq!(b.query(&t, true).await, want, "{fault}");
    }
}

#[tokio::test]
async fn retention_deletes_old_blocks_only_for_the_tenant_that_asks() {
    let b = Bucket::new();
    b.overrides
        .apply_yaml(
            "overrides:\n  short:\n    retention_period: 1h\n",
            FsPath::new("overrides.yaml"),
        )
        .unwrap();
    let day = base();
    let now = day + 6 * H;
    for name in ["short", "long"] {
        let t = tenant(name);
        // One old block (ends 3h before now) and one recent (ends now).
        let old = expected(day, day + 3 * H);
        write_block(b.store.as_ref(), &t, to_block_series(&old), "ingester-0")
            .await
            .unwrap();
        let recent = expected(now - 30 * 60_000, now);
        write_block(b.store.as_ref(), &t, to_block_series(&recent), "ingester-0")
            .await
            .unwrap();
    }
    let mut registry = Registry::default();
    let c = b.compactor(cfg(), &mut registry);
    let report = c.run_at(now).await.unwrap();
    let by_tenant = |n: &str| {
        report
            .tenants
            .iter()
            .find(|r| r.tenant == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_tenant("short").marked_retention, 1);
    assert_eq!(by_tenant("long").marked_retention, 0);

    let short = b.query(&tenant("short"), true).await;
    assert!(
        short
            .iter()
            .all(|s| sample_times(s).all(|t| t >= now - 30 * 60_000))
    );
    assert_eq!(
        list_blocks(b.store.as_ref(), &tenant("short"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        list_blocks(b.store.as_ref(), &tenant("long"))
            .await
            .unwrap()
            .len(),
        2
    );
    let long = b.query(&tenant("long"), true).await;
    assert_eq!(long.first().and_then(|s| sample_times(s).min()), Some(day));
    assert!(metrics_text(&registry).contains(
        "cairn_compactor_blocks_marked_for_deletion_total{tenant=\"short\",reason=\"retention\"} 1"
    ));
}

#[tokio::test]
async fn replicas_split_tenants_and_together_compact_all() {
    let b = Bucket::new();
    let day = base();
    let names: Vec<String> = (0..6).map(|i| format!("tenant-{i}")).collect();
    for n in &names {
        write_replicas(b.store.as_ref(), &tenant(n), day, day + 2 * H).await;
    }
    let instances: Vec<String> = vec!["c-0".into(), "c-1".into()];
    let mut seen = Vec::new();
    for me in &instances {
        let c = b.compactor(
            CompactorConfig {
                sharding: ShardingConfig {
                    instance_id: me.clone(),
                    instances: instances.clone(),
                },
                ..cfg()
            },
            &mut Registry::default(),
        );
        let report = c.run_at(day + 3 * H).await.unwrap();
        seen.extend(report.tenants.into_iter().map(|r| r.tenant));
    }
    seen.sort();
    assert_eq!(seen, names, "each tenant compacted by exactly one replica");
    for n in &names {
        assert_eq!(
            list_blocks(b.store.as_ref(), &tenant(n))
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn merge_walks_sources_with_different_series_in_small_batches() {
    let b = Bucket::new();
    let t = tenant("team-a");
    let day = base();
    // Even series early, every series in the middle (overlapping both),
    // odd series late: label sets and time ranges differ per source.
    let pick = |from: i64, to: i64, keep: fn(usize) -> bool| -> Vec<Series> {
        expected(from, to)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, s)| s)
            .collect()
    };
    let inputs = vec![
        pick(day, day + H, |i| i % 2 == 0),
        pick(day + H / 2, day + 3 * H / 2, |_| true),
        pick(day + H, day + 2 * H, |i| i % 2 == 1),
    ];
    let mut readers = Vec::new();
    for input in &inputs {
        let meta = write_block(b.store.as_ref(), &t, to_block_series(input), "i")
            .await
            .unwrap();
        readers.push(Arc::new(
            BlockReader::open(Arc::clone(&b.store), &t, meta)
                .await
                .unwrap(),
        ));
    }
    let mut w = BlockWriter::new(b.store.as_ref(), &t, 1 << 20);
    let tiny = Batch {
        series: 3,
        chunk_bytes: 1,
    };
    let stats = merge_into(readers, &mut w, tiny, &FetchOptions::default())
        .await
        .unwrap();
    let compaction = BlockCompaction {
        level: 2,
        sources: vec![],
    };
    let meta = w.finish(compaction, "compactor-0").await.unwrap();
    let want = merge_series(inputs);
    assert_eq!(stats.series, SERIES as u64);
    let unique: usize = want.iter().map(Series::sample_count).sum();
    assert_eq!(stats.samples_out, unique as u64);
    assert!(
        stats.samples_in > stats.samples_out,
        "overlap was deduplicated"
    );
    let merged = BlockReader::open(Arc::clone(&b.store), &t, meta)
        .await
        .unwrap();
    let all = [Matcher::new(MatchOp::Equal, "__name__", "m")];
    assert_eq!(merged.select(&all, i64::MIN, i64::MAX).await.unwrap(), want);
}

#[tokio::test]
async fn a_damaged_block_is_excluded_from_compaction_instead_of_stalling_it() {
    let b = Bucket::new();
    let t = tenant("team-a");
    let day = base();
    let replicas = write_replicas(b.store.as_ref(), &t, day, day + 2 * H).await;
    let damaged = &replicas[1];
    let segment = block_dir(&t, damaged.ulid).join("chunks").join("000001");
    let mut bytes = b
        .store
        .get(&segment)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    b.store
        .put(&segment, PutPayload::from(bytes))
        .await
        .unwrap();
    let mut registry = Registry::default();
    let c = b.compactor(cfg(), &mut registry);

    let err = c.run_at(day + 3 * H).await.unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    let mark = block_dir(&t, damaged.ulid).join("no-compact-mark.json");
    assert!(b.store.head(&mark).await.is_ok(), "damaged block marked");

    // The next pass merges the two healthy replicas and leaves the damaged one.
    let report = c.run_at(day + 3 * H).await.unwrap();
    assert_eq!(report.tenants[0].compactions, 1, "{report:?}");
    let blocks = list_blocks(b.store.as_ref(), &t).await.unwrap();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(blocks.iter().any(|m| m.ulid == damaged.ulid));
    assert!(
        metrics_text(&registry)
            .contains("cairn_compactor_blocks_marked_no_compact_total{tenant=\"team-a\"} 1")
    );
}

mod logs;
mod traces;
