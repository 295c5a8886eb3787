//! The promises of the block store: bounded memory, no reads outside the
//! query, limits before fetching, one copy of each sample.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::block::{
    BUCKET_INDEX_VERSION, BlockCompaction, BlockMeta, BlockSeries, BlockWriter, BucketIndex,
    DeletionMark, InstrumentedStore, MAX_SEGMENT_BYTES, Signal, block_dir, encode_chunks,
    write_block, write_bucket_index, write_deletion_mark,
};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::{
    MatchOp, Matcher, Sample, Series, SeriesStore, StoreError, matches_all, merge_series,
};
use common::tenant::TenantId;
use common::time::now_ms;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};

use super::{BlockStore, BlockStoreConfig, MergedStore};

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

fn labels(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name), ("i", &format!("{i:03}"))])
}

/// Samples every 10 ms in `[from, to)`, value = timestamp.
fn samples(from: i64, to: i64) -> Vec<Sample> {
    (from..to)
        .step_by(10)
        .map(|t| Sample { t, v: t as f64 })
        .collect()
}

fn block_series(series: &[Series]) -> Vec<BlockSeries> {
    series
        .iter()
        .map(|s| BlockSeries {
            labels: s.labels.clone(),
            chunks: encode_chunks(&s.samples, &s.histograms),
        })
        .collect()
}

/// `n` series named `name` with samples in `[from, to)`.
fn series(name: &str, n: usize, from: i64, to: i64) -> Vec<Series> {
    (0..n)
        .map(|i| Series::floats(labels(name, i), samples(from, to)))
        .collect()
}

struct Fixture {
    recording: Arc<InstrumentedStore>,
    store: Arc<dyn ObjectStore>,
}

impl Fixture {
    fn new() -> Self {
        let recording = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
        Self {
            store: recording.clone(),
            recording,
        }
    }

    async fn block(&self, series: &[Series]) -> BlockMeta {
        write_block(self.store.as_ref(), &tenant(), block_series(series), "i")
            .await
            .unwrap()
    }

    fn block_store(&self, limits: Limits, cfg: BlockStoreConfig) -> BlockStore {
        BlockStore::new(
            Arc::clone(&self.store),
            Arc::new(Overrides::new(limits)),
            cfg,
        )
    }

    /// Paths of the objects read since the last call.
    fn read_paths(&self) -> Vec<String> {
        self.recording
            .take_gets()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect()
    }
}

fn name_is(name: &str) -> Vec<Matcher> {
    vec![Matcher::new(MatchOp::Equal, "__name__", name)]
}

fn quick() -> BlockStoreConfig {
    BlockStoreConfig {
        fetch_retry_backoff: Duration::from_millis(1),
        ..BlockStoreConfig::default()
    }
}

#[tokio::test]
async fn index_cache_stays_within_its_byte_budget_and_evicted_blocks_reopen() {
    let f = Fixture::new();
    let mut metas = Vec::new();
    for b in 0..5 {
        let from = b * 1000;
        metas.push(f.block(&series("m", 50, from, from + 1000)).await);
    }
    // Size one reader to set a budget of two and a half.
    let probe = f.block_store(Limits::default(), quick());
    probe
        .select(&tenant(), &name_is("m"), 0, 999)
        .await
        .unwrap();
    let one = probe.index_cache_bytes();
    assert!(one > 0);
    let budget = one * 5 / 2;

    let bs = f.block_store(
        Limits::default(),
        BlockStoreConfig {
            index_cache_bytes: budget,
            ..quick()
        },
    );
    let expected = series("m", 50, 0, 5000);
    let got = bs.select(&tenant(), &name_is("m"), 0, 4999).await.unwrap();
    assert_eq!(got, expected);
    assert!(
        bs.index_cache_bytes() <= budget,
        "{} > {budget}",
        bs.index_cache_bytes()
    );
    let cached: Vec<bool> = metas
        .iter()
        .map(|m| bs.is_block_cached(&tenant(), m.ulid))
        .collect();
    assert_eq!(cached.iter().filter(|c| **c).count(), 2, "{cached:?}");

    // Evicted blocks are opened again (one index GET each) and still answer.
    f.read_paths();
    let got = bs.select(&tenant(), &name_is("m"), 0, 4999).await.unwrap();
    assert_eq!(got, expected);
    let index_reads = f
        .read_paths()
        .iter()
        .filter(|p| p.ends_with("/index"))
        .count();
    assert!(index_reads >= 3, "{index_reads} index reads");
    assert!(bs.index_cache_bytes() <= budget);

    // A cache too small for any index still answers, caching nothing.
    let tiny = f.block_store(
        Limits::default(),
        BlockStoreConfig {
            index_cache_bytes: 1,
            ..quick()
        },
    );
    let got = tiny
        .select(&tenant(), &name_is("m"), 0, 4999)
        .await
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(tiny.index_cache_bytes(), 0);
}

#[tokio::test]
async fn blocks_outside_the_query_range_are_never_fetched() {
    let f = Fixture::new();
    let early = f.block(&series("m", 3, 0, 1000)).await;
    let middle = f.block(&series("m", 3, 1000, 2000)).await;
    let late = f.block(&series("m", 3, 2000, 3000)).await;
    // max_time is exclusive: the early block ends exactly where the query starts.
    assert_eq!(early.max_time, 991);
    let bs = f.block_store(Limits::default(), quick());
    f.read_paths();

    let got = bs
        .select(&tenant(), &name_is("m"), 991, 1990)
        .await
        .unwrap();
    assert_eq!(got, series("m", 3, 1000, 2000));
    // Listing reads the bucket index (absent here) and every meta.json;
    // index and chunks only of the block in range.
    let paths: Vec<String> = f
        .read_paths()
        .into_iter()
        .filter(|p| !p.ends_with("/meta.json") && !p.ends_with("/bucket-index.json.gz"))
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("/index")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("/chunks/")), "{paths:?}");
    for p in &paths {
        assert!(
            p.contains(&middle.ulid.to_string()),
            "read {p} outside the query's block"
        );
    }
    for other in [&early, &late] {
        assert!(!bs.is_block_cached(&tenant(), other.ulid));
    }

    // Metadata queries open only the blocks in range too.
    let names = bs.label_names(&tenant(), &[], 2000, 2500).await.unwrap();
    assert_eq!(names, vec!["__name__", "i"]);
    assert!(
        f.read_paths()
            .iter()
            .all(|p| p.contains(&late.ulid.to_string()))
    );
    assert!(!bs.is_block_cached(&tenant(), early.ulid));
}

#[tokio::test]
async fn block_list_is_reused_until_stale_then_refreshed() {
    let f = Fixture::new();
    let first = f.block(&series("m", 2, 0, 1000)).await;
    let bs = f.block_store(
        Limits::default(),
        BlockStoreConfig {
            block_list_ttl: Duration::from_millis(300),
            ..quick()
        },
    );
    f.recording.take_lists();
    for _ in 0..5 {
        bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    }
    assert_eq!(
        f.recording.take_lists().len(),
        1,
        "one LIST for five queries"
    );

    // A new block is not seen while the list is fresh, and is once stale.
    f.block(&series("m", 2, 1000, 2000)).await;
    let got = bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    assert_eq!(got, series("m", 2, 0, 1000));
    tokio::time::sleep(Duration::from_millis(350)).await;
    f.read_paths();
    let got = bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    assert_eq!(got, series("m", 2, 0, 2000));
    assert_eq!(f.recording.take_lists().len(), 1);
    let metas_read = f
        .read_paths()
        .iter()
        .filter(|p| p.ends_with("meta.json"))
        .count();
    assert_eq!(metas_read, 1, "only the new block's meta.json is read");

    // A block deleted from the bucket leaves the list and the reader cache.
    let gone = first.ulid;
    assert!(bs.is_block_cached(&tenant(), gone));
    let dir =
        object_store::path::Path::from_iter(["team-a", "metrics", "blocks", &gone.to_string()]);
    let paths: Vec<_> = f
        .store
        .list(Some(&dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap();
    for p in paths {
        f.store.delete(&p).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    let got = bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    assert_eq!(got, series("m", 2, 1000, 2000));
    assert!(!bs.is_block_cached(&tenant(), gone));
}

#[tokio::test]
async fn chunk_bytes_limit_applies_across_blocks_before_any_chunk_is_read() {
    let f = Fixture::new();
    f.block(&series("m", 20, 0, 1000)).await;
    f.block(&series("m", 20, 1000, 2000)).await;
    let unlimited = f.block_store(Limits::default(), quick());
    unlimited
        .select(&tenant(), &name_is("m"), 0, 999)
        .await
        .unwrap();
    let one_block: usize = f
        .recording
        .take_gets()
        .iter()
        .filter(|(p, _)| p.as_ref().contains("/chunks/"))
        .map(|(_, r)| match r {
            Some(object_store::GetRange::Bounded(r)) => (r.end - r.start) as usize,
            _ => 0,
        })
        .sum();
    assert!(one_block > 0);

    // Each block alone fits; both together do not.
    let limit = one_block * 3 / 2;
    let bs = f.block_store(
        Limits {
            max_fetched_chunk_bytes_per_query: limit,
            ..Limits::default()
        },
        quick(),
    );
    bs.select(&tenant(), &name_is("m"), 0, 999).await.unwrap();
    bs.select(&tenant(), &name_is("m"), 1000, 1999)
        .await
        .unwrap();
    f.read_paths();
    let err = bs
        .select(&tenant(), &name_is("m"), 0, 1999)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooManyChunkBytes { limit: l } if l == limit),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the query exceeded the aggregated chunks size limit (limit: {limit} bytes, `max_fetched_chunk_bytes_per_query`)"
        )
    );
    assert!(
        f.read_paths().iter().all(|p| !p.contains("/chunks/")),
        "no chunk read once the limit is known to be exceeded"
    );

    // Within one query, two selects that each fit share the budget.
    let err = crate::store::budget::scope(async {
        bs.select(&tenant(), &name_is("m"), 0, 999).await?;
        bs.select(&tenant(), &name_is("m"), 1000, 1999).await
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, StoreError::TooManyChunkBytes { limit: l } if l == limit),
        "{err}"
    );
}

#[tokio::test]
async fn series_limit_counts_a_series_once_however_many_blocks_hold_it() {
    let f = Fixture::new();
    f.block(&series("m", 2, 0, 1000)).await;
    f.block(&series("m", 2, 1000, 2000)).await;
    f.block(&series("other", 1, 1000, 2000)).await;
    let bs = f.block_store(
        Limits {
            max_fetched_series_per_query: 2,
            ..Limits::default()
        },
        quick(),
    );
    // Two series, each in two blocks: within the limit of two.
    let got = bs.select(&tenant(), &name_is("m"), 0, 1999).await.unwrap();
    assert_eq!(got, series("m", 2, 0, 2000));

    // Three distinct series: over it, and no chunk read.
    f.read_paths();
    let err = bs.select(&tenant(), &[], 0, 1999).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooManySeries { limit: 2 }),
        "{err}"
    );
    assert!(err.to_string().contains("max_fetched_series_per_query"));
    assert!(f.read_paths().iter().all(|p| !p.contains("/chunks/")));
}

/// A stand-in for the ingester: fixed series in memory.
struct StaticStore(Vec<Series>);

#[async_trait]
impl SeriesStore for StaticStore {
    async fn select(
        &self,
        _: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(self
            .0
            .iter()
            .filter(|s| matches_all(&s.labels, matchers))
            .map(|s| {
                let in_range = s.samples.iter().filter(|x| x.t >= mint && x.t <= maxt);
                Series::floats(s.labels.clone(), in_range.copied().collect())
            })
            .filter(|s| !s.samples.is_empty())
            .collect())
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let selected = self.select(tenant, matchers, mint, maxt).await?;
        Ok(selected.into_iter().map(|s| s.labels).collect())
    }
}

#[tokio::test]
async fn samples_both_in_the_ingester_and_in_a_block_appear_once() {
    let f = Fixture::new();
    // Uploaded: [0, 1000). Still in the ingester: [500, 1500) — the
    // overlap [500, 1000) is in both.
    f.block(&series("m", 4, 0, 1000)).await;
    let ingester = StaticStore(series("m", 4, 500, 1500));
    let merged = MergedStore::new(vec![
        Arc::new(ingester),
        Arc::new(f.block_store(Limits::default(), quick())),
    ]);
    let got = merged
        .select(&tenant(), &name_is("m"), 0, 1499)
        .await
        .unwrap();
    assert_eq!(got, series("m", 4, 0, 1500));
    for s in &got {
        assert!(s.samples.windows(2).all(|w| w[0].t < w[1].t));
    }
    let labels = merged
        .series(&tenant(), &name_is("m"), 0, 1499)
        .await
        .unwrap();
    assert_eq!(labels.len(), 4);

    // The same block uploaded twice (a retried upload) is deduplicated too.
    f.block(&series("m", 4, 0, 1000)).await;
    let bs = f.block_store(Limits::default(), quick());
    let got = bs.select(&tenant(), &name_is("m"), 0, 999).await.unwrap();
    assert_eq!(got, merge_series(vec![series("m", 4, 0, 1000)]));
}

#[tokio::test]
async fn a_select_keeps_at_most_fetch_concurrency_gets_in_flight() {
    let f = Fixture::new();
    for b in 0..24 {
        f.block(&series("m", 2, b * 1000, b * 1000 + 1000)).await;
    }
    let bs = f.block_store(
        Limits::default(),
        BlockStoreConfig {
            fetch_concurrency: 4,
            ..quick()
        },
    );
    // List first (meta.json reads have their own, listing concurrency).
    bs.select(&tenant(), &name_is("m"), -100, -1).await.unwrap();
    f.recording.set_get_delay(Duration::from_millis(5));
    f.recording.take_max_in_flight();
    let got = bs
        .select(&tenant(), &name_is("m"), 0, 24_000)
        .await
        .unwrap();
    assert_eq!(got, series("m", 2, 0, 24_000));
    let max = f.recording.take_max_in_flight();
    assert!((2..=4).contains(&max), "{max} GETs in flight");
}

#[tokio::test]
async fn concurrent_queries_open_each_block_once() {
    let f = Fixture::new();
    for b in 0..3 {
        f.block(&series("m", 2, b * 1000, b * 1000 + 1000)).await;
    }
    let bs = f.block_store(Limits::default(), quick());
    bs.select(&tenant(), &name_is("m"), -100, -1).await.unwrap();
    f.recording.set_get_delay(Duration::from_millis(20));
    f.read_paths();
    let (t, m) = (tenant(), name_is("m"));
    let queries = (0..8).map(|_| bs.select(&t, &m, 0, 3000));
    for got in futures::future::join_all(queries).await {
        assert_eq!(got.unwrap(), series("m", 2, 0, 3000));
    }
    let index_reads = f
        .read_paths()
        .iter()
        .filter(|p| p.ends_with("/index"))
        .count();
    assert_eq!(index_reads, 3);
}

#[tokio::test]
async fn transient_storage_errors_are_retried_during_a_query() {
    let f = Fixture::new();
    f.block(&series("m", 5, 0, 1000)).await;
    let bs = f.block_store(Limits::default(), quick());
    f.recording.fail_next_gets(2, "");
    let got = bs.select(&tenant(), &name_is("m"), 0, 999).await.unwrap();
    assert_eq!(got, series("m", 5, 0, 1000));

    let no_retry = f.block_store(
        Limits::default(),
        BlockStoreConfig {
            fetch_max_retries: 0,
            ..quick()
        },
    );
    f.recording.fail_next_gets(1, "/chunks/");
    let err = no_retry
        .select(&tenant(), &name_is("m"), 0, 999)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::StoreUnavailable(_)), "{err}");
}

#[tokio::test]
async fn a_range_within_query_store_after_is_answered_without_touching_the_bucket() {
    let f = Fixture::new();
    let now = now_ms();
    f.block(&series("old", 2, now - 1_800_000, now - 1_700_000))
        .await;
    let recent_only = || {
        f.block_store(
            Limits::default(),
            BlockStoreConfig {
                query_store_after: Some(Duration::from_secs(600)),
                ..quick()
            },
        )
    };
    let bs = recent_only();
    // The first query of a tenant lists its blocks: none reaches into the
    // last 10 minutes.
    let got = bs
        .select(&tenant(), &name_is("old"), now - 300_000, now)
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    f.recording.take_lists();
    f.read_paths();
    // From then on the ingesters answer the last 10 minutes alone.
    let got = bs
        .select(&tenant(), &name_is("old"), now - 300_000, now)
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    assert!(f.recording.take_lists().is_empty(), "no listing");
    assert!(
        f.read_paths().is_empty(),
        "no GET, not even the bucket index"
    );
    // Reaching further back, the bucket is read.
    let got = bs
        .select(&tenant(), &name_is("old"), now - 2_000_000, now)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);

    // A block reaching into the recent range (uploaded on shutdown by an
    // ingester that restarted since) is read: the ingesters lack it.
    f.block(&series("new", 2, now - 60_000, now - 50_000)).await;
    let bs = recent_only();
    let got = bs
        .select(&tenant(), &name_is("new"), now - 300_000, now)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    let got = bs
        .select(&tenant(), &name_is("new"), now - 300_000, now)
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "still read while that block is known");
}

#[tokio::test]
async fn a_meta_json_that_cannot_be_read_fails_the_query_instead_of_hiding_the_block() {
    let f = Fixture::new();
    f.block(&series("m", 3, 0, 1000)).await;
    f.block(&series("m", 3, 1000, 2000)).await;
    let bs = f.block_store(
        Limits::default(),
        BlockStoreConfig {
            fetch_max_retries: 1,
            // Listing, so every meta.json is read.
            bucket_index_max_staleness: Duration::ZERO,
            ..quick()
        },
    );
    // Three failures over two blocks read at most twice each: one block's
    // meta.json fails more often than it is retried, so the query fails,
    // naming the store.
    f.recording.fail_next_gets(3, "meta.json");
    let err = bs
        .select(&tenant(), &name_is("m"), 0, 1999)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::StoreUnavailable(_)), "{err}");
    assert!(
        err.to_string().contains("err-cairn-store-unavailable"),
        "{err}"
    );
    // Once within the retries, it answers whole.
    f.recording.fail_next_gets(1, "meta.json");
    let got = bs.select(&tenant(), &name_is("m"), 0, 1999).await.unwrap();
    assert_eq!(got, series("m", 3, 0, 2000));
}

#[tokio::test]
async fn a_throttled_bucket_fails_the_query_naming_why_instead_of_answering_in_part() {
    let f = Fixture::new();
    f.block(&series("m", 5, 0, 1000)).await;
    f.block(&series("m", 5, 1000, 2000)).await;
    let bs = f.block_store(Limits::default(), quick());
    let all = bs.select(&tenant(), &name_is("m"), 0, 1999).await.unwrap();
    assert_eq!(all.len(), 5);
    // S3 answers 503 SlowDown for longer than the retries last.
    f.recording.throttle_next(usize::MAX);
    let err = bs
        .select(&tenant(), &name_is("m"), 0, 1999)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SlowDown"), "{err}");
    // A short burst is retried through.
    f.recording.throttle_next(2);
    let got = bs.select(&tenant(), &name_is("m"), 0, 1999).await.unwrap();
    assert_eq!(got, all);
}

impl Fixture {
    /// A block holding `series` that claims `sources` as its compaction
    /// sources, as the compactor writes it.
    async fn compacted(&self, series: &[Series], sources: &[&BlockMeta]) -> BlockMeta {
        let mut w = BlockWriter::new(self.store.as_ref(), &tenant(), MAX_SEGMENT_BYTES);
        for s in block_series(series) {
            w.append(s.labels, s.chunks).await.unwrap();
        }
        let compaction = BlockCompaction {
            level: 2,
            sources: sources.iter().map(|m| m.ulid).collect(),
        };
        w.finish(compaction, "compactor").await.unwrap()
    }

    async fn delete_block(&self, meta: &BlockMeta) {
        let dir = block_dir(&tenant(), meta.ulid);
        let paths: Vec<_> = self
            .store
            .list(Some(&dir))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .unwrap();
        for p in paths {
            self.store.delete(&p).await.unwrap();
        }
    }
}

#[tokio::test]
async fn compaction_sources_and_output_are_never_both_read() {
    let f = Fixture::new();
    let a = f.block(&series("m", 3, 0, 1000)).await;
    let b = f.block(&series("m", 3, 0, 1000)).await;
    let c = f.compacted(&series("m", 3, 0, 1000), &[&a, &b]).await;
    let bs = f.block_store(Limits::default(), quick());
    f.read_paths();
    let got = bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    assert_eq!(got, series("m", 3, 0, 1000));
    let chunk_reads: Vec<String> = f
        .read_paths()
        .into_iter()
        .filter(|p| p.contains("/chunks/") || p.ends_with("/index"))
        .collect();
    assert!(
        chunk_reads.iter().all(|p| p.contains(&c.ulid.to_string())),
        "only the compacted block is read: {chunk_reads:?}"
    );
}

#[tokio::test]
async fn a_block_deleted_after_listing_does_not_fail_the_query() {
    let f = Fixture::new();
    let a = f.block(&series("m", 3, 0, 1000)).await;
    let b = f.block(&series("m", 3, 1000, 2000)).await;
    // A long TTL: the store keeps believing in `a` and `b`.
    let bs = f.block_store(
        Limits::default(),
        BlockStoreConfig {
            block_list_ttl: Duration::from_secs(3600),
            index_cache_bytes: 0,
            ..quick()
        },
    );
    let want = series("m", 3, 0, 2000);
    assert_eq!(
        bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap(),
        want
    );
    // The compactor replaces them and deletes the sources.
    f.compacted(&want, &[&a, &b]).await;
    f.delete_block(&a).await;
    f.delete_block(&b).await;
    assert_eq!(
        bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap(),
        want
    );
    let names = bs.label_names(&tenant(), &[], 0, 5000).await.unwrap();
    assert_eq!(names, ["__name__", "i"]);
}

#[tokio::test]
async fn a_fresh_bucket_index_replaces_listing_and_a_stale_one_does_not() {
    let f = Fixture::new();
    let a = f.block(&series("m", 2, 0, 1000)).await;
    let b = f.block(&series("m", 2, 1000, 2000)).await;
    let marked_long_ago = DeletionMark::new(b.ulid, now_ms() - 2 * 3600 * 1000);
    let index = |updated_at| BucketIndex {
        version: BUCKET_INDEX_VERSION,
        blocks: vec![a.clone(), b.clone()],
        block_deletion_marks: vec![marked_long_ago.clone()],
        updated_at,
    };
    let cfg = BlockStoreConfig {
        block_list_ttl: Duration::ZERO,
        ..quick()
    };
    write_bucket_index(
        f.store.as_ref(),
        &tenant(),
        Signal::Metrics,
        &index(now_ms() / 1000),
    )
    .await
    .unwrap();
    // Uploaded after the index was written: found by the recent-ULID listing.
    let c = f.block(&series("m", 2, 2000, 3000)).await;
    let bs = f.block_store(Limits::default(), cfg.clone());
    f.read_paths();
    let got = bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    let mut want = series("m", 2, 0, 1000);
    for (w, late) in want.iter_mut().zip(series("m", 2, 2000, 3000)) {
        w.samples.extend(late.samples);
    }
    assert_eq!(got, want, "b's old mark hides it, c is found");
    let metas: Vec<String> = f
        .read_paths()
        .into_iter()
        .filter(|p| p.ends_with("meta.json"))
        .collect();
    assert_eq!(metas.len(), 1, "only c's meta.json is read: {metas:?}");
    assert!(metas[0].contains(&c.ulid.to_string()));

    write_bucket_index(
        f.store.as_ref(),
        &tenant(),
        Signal::Metrics,
        &index(now_ms() / 1000 - 7200),
    )
    .await
    .unwrap();
    let got = bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    assert_eq!(
        got,
        series("m", 2, 0, 3000),
        "a stale index's marks are not trusted, and the bucket holds no mark file"
    );
}

#[tokio::test]
async fn without_an_index_listing_finds_deletion_marks() {
    let f = Fixture::new();
    f.block(&series("m", 2, 0, 1000)).await;
    let b = f.block(&series("m", 2, 1000, 2000)).await;
    let c = f.block(&series("m", 2, 2000, 3000)).await;
    let old = DeletionMark::new(b.ulid, now_ms() - 2 * 3600 * 1000);
    write_deletion_mark(f.store.as_ref(), &tenant(), Signal::Metrics, &old)
        .await
        .unwrap();
    let fresh = DeletionMark::new(c.ulid, now_ms());
    write_deletion_mark(f.store.as_ref(), &tenant(), Signal::Metrics, &fresh)
        .await
        .unwrap();
    let bs = f.block_store(Limits::default(), quick());
    let got = bs.select(&tenant(), &name_is("m"), 0, 5000).await.unwrap();
    let mut want = series("m", 2, 0, 1000);
    for (w, late) in want.iter_mut().zip(series("m", 2, 2000, 3000)) {
        w.samples.extend(late.samples);
    }
    assert_eq!(
        got, want,
        "b is past the grace and skipped; c, just marked, is read"
    );
}
