//! Block round trips against real `object_store` backends.

use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{GetRange, PutPayload};
use regex::Regex;

use super::*;
use crate::series::{MatchOp, matches_all};

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

/// Series `i` has `chunks` chunks of 120 samples, 15 s apart, starting at
/// `start`.
fn make_series(i: usize, chunks: usize, start: i64) -> (BlockSeries, Series) {
    let labels = Labels::from_pairs([
        (
            "__name__",
            if i.is_multiple_of(2) {
                "http_requests_total"
            } else {
                "node_load1"
            },
        ),
        ("instance", &format!("host-{}", i % 7)),
        ("job", if i.is_multiple_of(3) { "api" } else { "db" }),
        ("series", &format!("{i:04}")),
    ]);
    let samples: Vec<Sample> = (0..chunks as i64 * 120)
        .map(|k| Sample {
            t: start + k * 15_000 + (k * i as i64) % 5,
            v: (k * (i as i64 + 1)) as f64 / 3.0,
        })
        .collect();
    let block = BlockSeries {
        labels: labels.clone(),
        chunks: encode_chunks(&samples, &[]),
    };
    (block, Series::floats(labels, samples))
}

fn corpus(n: usize, chunks: usize) -> (Vec<BlockSeries>, Vec<Series>) {
    // Written in reverse to check that write_block sorts.
    let (blocks, mut expected): (Vec<_>, Vec<_>) = (0..n)
        .rev()
        .map(|i| make_series(i, chunks, 1_700_000_000_000))
        .unzip();
    expected.sort_by(|a, b| a.labels.cmp(&b.labels));
    (blocks, expected)
}

fn re(op: fn(Regex) -> MatchOp, name: &str, pattern: &str) -> Matcher {
    Matcher::new(
        op(Regex::new(&format!("^(?:{pattern})$")).unwrap()),
        name,
        pattern,
    )
}

fn stores() -> Vec<(Arc<dyn ObjectStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    vec![
        (Arc::new(InMemory::new()), None),
        (Arc::new(local), Some(dir)),
    ]
}

async fn write_and_open(store: &Arc<dyn ObjectStore>, series: Vec<BlockSeries>) -> BlockReader {
    let meta = write_block(store.as_ref(), &tenant(), series, "ingester-0")
        .await
        .unwrap();
    BlockReader::open(Arc::clone(store), &tenant(), meta)
        .await
        .unwrap()
}

#[tokio::test]
async fn many_series_round_trip_in_memory_and_on_disk() {
    for (store, _dir) in stores() {
        let (series, expected) = corpus(300, 3);
        let meta = write_block(store.as_ref(), &tenant(), series, "ingester-7")
            .await
            .unwrap();
        assert_eq!(
            meta.stats,
            BlockStats {
                num_samples: 300 * 360,
                num_series: 300,
                num_chunks: 900
            }
        );
        assert_eq!(
            meta.min_time,
            expected.iter().map(|s| s.samples[0].t).min().unwrap()
        );
        assert_eq!(
            meta.max_time,
            expected
                .iter()
                .map(|s| s.samples.last().unwrap().t)
                .max()
                .unwrap()
                + 1
        );
        assert_eq!(
            meta.compaction,
            BlockCompaction {
                level: 1,
                sources: vec![meta.ulid]
            }
        );
        assert_eq!(meta.cairn.source, "ingester-7");
        assert_eq!(
            list_blocks(store.as_ref(), &tenant()).await.unwrap(),
            vec![meta.clone()]
        );

        let reader = BlockReader::open(Arc::clone(&store), &tenant(), meta.clone())
            .await
            .unwrap();
        assert_eq!(reader.meta(), &meta);
        let got = reader.select(&[], i64::MIN, i64::MAX).await.unwrap();
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn chunks_spread_over_several_segments_read_back() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (series, expected) = corpus(50, 4);
    let meta = write_block_with_segment_size(store.as_ref(), &tenant(), series, "i", 4096)
        .await
        .unwrap();
    let segments: Vec<_> = store
        .list(Some(&block_dir(&tenant(), meta.ulid).join("chunks")))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(segments.len() > 5, "only {} segments", segments.len());
    assert!(segments.iter().all(|o| o.size <= 4096 + 1024));
    let reader = BlockReader::open(store, &tenant(), meta).await.unwrap();
    assert_eq!(
        reader.select(&[], i64::MIN, i64::MAX).await.unwrap(),
        expected
    );
}

#[tokio::test]
async fn matchers_of_all_four_kinds_agree_with_brute_force() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (series, expected) = corpus(60, 1);
    let reader = write_and_open(&store, series).await;
    let cases = vec![
        vec![Matcher::new(MatchOp::Equal, "job", "api")],
        vec![
            Matcher::new(MatchOp::NotEqual, "job", "api"),
            Matcher::new(MatchOp::Equal, "__name__", "node_load1"),
        ],
        vec![re(MatchOp::Re, "instance", "host-[12]")],
        vec![
            re(MatchOp::NotRe, "instance", "host-[12]"),
            Matcher::new(MatchOp::Equal, "job", "db"),
        ],
        vec![Matcher::new(MatchOp::Equal, "missing", "")],
        vec![Matcher::new(MatchOp::Equal, "missing", "x")],
        vec![
            re(MatchOp::Re, "series", "00[0-4]."),
            re(MatchOp::NotRe, "job", ""),
        ],
    ];
    for matchers in cases {
        let want: Vec<Series> = expected
            .iter()
            .filter(|s| matches_all(&s.labels, &matchers))
            .cloned()
            .collect();
        let got = reader.select(&matchers, i64::MIN, i64::MAX).await.unwrap();
        assert_eq!(got, want, "{matchers:?}");
        let labels: Vec<Labels> = want.iter().map(|s| s.labels.clone()).collect();
        assert_eq!(
            reader.series(&matchers, i64::MIN, i64::MAX),
            labels,
            "{matchers:?}"
        );
    }
}

#[tokio::test]
async fn samples_are_filtered_to_the_time_range_and_empty_series_dropped() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let early: Vec<Sample> = (0..300)
        .map(|k| Sample {
            t: k * 10,
            v: k as f64,
        })
        .collect();
    let late: Vec<Sample> = (0..300)
        .map(|k| Sample {
            t: 100_000 + k * 10,
            v: k as f64,
        })
        .collect();
    let a = Labels::from_pairs([("__name__", "a")]);
    let b = Labels::from_pairs([("__name__", "b")]);
    let series = vec![
        BlockSeries {
            labels: b.clone(),
            chunks: encode_chunks(&late, &[]),
        },
        BlockSeries {
            labels: a.clone(),
            chunks: encode_chunks(&early, &[]),
        },
    ];
    let reader = write_and_open(&store, series).await;

    // Bounds are inclusive and cut across a chunk boundary (1190 | 1200).
    let got = reader.select(&[], 1150, 1250).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, a);
    assert_eq!(got[0].samples, early[115..=125].to_vec());
    assert_eq!(reader.series(&[], 1150, 1250), vec![a.clone()]);

    let both = reader.select(&[], 2990, 100_000).await.unwrap();
    assert_eq!(
        both.iter().map(|s| s.samples.len()).collect::<Vec<_>>(),
        vec![1, 1]
    );
    assert!(reader.select(&[], 3000, 99_999).await.unwrap().is_empty());
    assert!(reader.series(&[], 200_000, 300_000).is_empty());
}

#[tokio::test]
async fn label_names_and_values_respect_matchers() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mk = |pairs: &[(&str, &str)]| BlockSeries {
        labels: Labels::from_pairs(pairs.iter().copied()),
        chunks: encode_chunks(&[Sample { t: 1, v: 1.0 }], &[]),
    };
    let series = vec![
        mk(&[("__name__", "up"), ("job", "api"), ("zone", "eu")]),
        mk(&[("__name__", "up"), ("job", "db")]),
        mk(&[("__name__", "errors"), ("code", "500")]),
    ];
    let reader = write_and_open(&store, series).await;
    assert_eq!(
        reader.label_names(&[]),
        vec!["__name__", "code", "job", "zone"]
    );
    let up = [Matcher::new(MatchOp::Equal, "__name__", "up")];
    assert_eq!(reader.label_names(&up), vec!["__name__", "job", "zone"]);
    assert_eq!(reader.label_values("job", &[]), vec!["api", "db"]);
    assert_eq!(reader.label_values("__name__", &[]), vec!["errors", "up"]);
    assert_eq!(
        reader.label_values("job", &[Matcher::new(MatchOp::Equal, "zone", "eu")]),
        vec!["api"]
    );
    assert!(reader.label_values("code", &up).is_empty());
    assert!(
        reader
            .label_names(&[Matcher::new(MatchOp::Equal, "job", "nope")])
            .is_empty()
    );
}

#[tokio::test]
async fn duplicate_label_sets_are_merged_and_empty_input_rejected() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let l = Labels::from_pairs([("__name__", "x")]);
    let first: Vec<Sample> = (0..10).map(|k| Sample { t: k, v: 1.0 }).collect();
    let second: Vec<Sample> = (5..20).map(|k| Sample { t: k, v: 2.0 }).collect();
    let series = vec![
        BlockSeries {
            labels: l.clone(),
            chunks: encode_chunks(&second, &[]),
        },
        BlockSeries {
            labels: l.clone(),
            chunks: encode_chunks(&first, &[]),
        },
        BlockSeries {
            labels: Labels::from_pairs([("__name__", "no_chunks")]),
            chunks: vec![],
        },
    ];
    let meta = write_block(store.as_ref(), &tenant(), series, "i")
        .await
        .unwrap();
    assert_eq!(meta.stats.num_series, 1);
    let reader = BlockReader::open(Arc::clone(&store), &tenant(), meta)
        .await
        .unwrap();
    let got = reader.select(&[], i64::MIN, i64::MAX).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );

    assert!(matches!(
        write_block(store.as_ref(), &tenant(), vec![], "i").await,
        Err(BlockError::Empty)
    ));
    let bad = BlockSeries {
        labels: l,
        chunks: vec![ChunkData {
            min_t: 0,
            max_t: 1,
            encoding: ChunkEncoding::Xor,
            data: vec![],
        }],
    };
    assert!(matches!(
        write_block(store.as_ref(), &tenant(), vec![bad], "i").await,
        Err(BlockError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn truncated_index_is_a_corrupt_error_naming_the_object() {
    for (store, _dir) in stores() {
        let (series, _) = corpus(20, 1);
        let meta = write_block(store.as_ref(), &tenant(), series, "i")
            .await
            .unwrap();
        let path = block_dir(&tenant(), meta.ulid).join("index");
        let full = store.get(&path).await.unwrap().bytes().await.unwrap();
        for cut in [0, 7, full.len() / 2, full.len() - 1] {
            store
                .put(&path, PutPayload::from(full.slice(..cut)))
                .await
                .unwrap();
            let err = BlockReader::open(Arc::clone(&store), &tenant(), meta.clone())
                .await
                .unwrap_err();
            match err {
                BlockError::Corrupt { object, .. } => {
                    assert!(object.ends_with("/index"), "{object}")
                }
                other => panic!("expected Corrupt, got {other}"),
            }
        }
    }
}

#[tokio::test]
async fn damaged_chunk_segment_is_a_corrupt_error() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (series, _) = corpus(5, 2);
    let reader = write_and_open(&store, series).await;
    let path = segment_path(&block_dir(&tenant(), reader.meta().ulid), 1);
    let mut bytes = store
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    store
        .put(&path, PutPayload::from(bytes.clone()))
        .await
        .unwrap();
    assert!(matches!(
        reader.select(&[], i64::MIN, i64::MAX).await,
        Err(BlockError::Corrupt { .. })
    ));
    // A segment shorter than the index says is corrupt too, not a panic.
    bytes.truncate(mid);
    store.put(&path, PutPayload::from(bytes)).await.unwrap();
    assert!(reader.select(&[], i64::MIN, i64::MAX).await.is_err());
}

#[tokio::test]
async fn blocks_without_meta_json_are_not_listed() {
    for (store, _dir) in stores() {
        assert!(
            list_blocks(store.as_ref(), &tenant())
                .await
                .unwrap()
                .is_empty()
        );
        let (s1, _) = corpus(3, 1);
        let (s2, _) = corpus(3, 1);
        let complete = write_block(store.as_ref(), &tenant(), s1, "i")
            .await
            .unwrap();
        let partial = write_block(store.as_ref(), &tenant(), s2, "i")
            .await
            .unwrap();
        store
            .delete(&block_dir(&tenant(), partial.ulid).join("meta.json"))
            .await
            .unwrap();
        // Stray objects and non-ULID directories are ignored.
        store
            .put(
                &blocks_prefix(&tenant()).join("markers").join("x"),
                PutPayload::from_static(b"{}"),
            )
            .await
            .unwrap();
        store
            .put(
                &blocks_prefix(&tenant()).join("bucket-index.json"),
                PutPayload::from_static(b"{}"),
            )
            .await
            .unwrap();
        let listed = list_blocks(store.as_ref(), &tenant()).await.unwrap();
        assert_eq!(listed, vec![complete]);
    }
}

#[tokio::test]
async fn blocks_are_listed_by_min_time_and_per_tenant() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (late, _) = (0..3)
        .map(|i| make_series(i, 1, 5_000_000))
        .unzip::<_, _, Vec<_>, Vec<_>>();
    let (early, _) = (0..3)
        .map(|i| make_series(i, 1, 1_000_000))
        .unzip::<_, _, Vec<_>, Vec<_>>();
    let m_late = write_block(store.as_ref(), &tenant(), late, "i")
        .await
        .unwrap();
    let m_early = write_block(store.as_ref(), &tenant(), early, "i")
        .await
        .unwrap();
    assert_eq!(
        list_blocks(store.as_ref(), &tenant()).await.unwrap(),
        vec![m_early, m_late]
    );
    let other = TenantId::parse("team-b").unwrap();
    assert!(
        list_blocks(store.as_ref(), &other)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        blocks_prefix(&tenant()).to_string(),
        "team-a/metrics/blocks"
    );
}

#[tokio::test]
async fn queries_read_only_the_needed_chunks_with_ranged_gets() {
    let recording = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
    let store: Arc<dyn ObjectStore> = recording.clone();
    let (series, expected) = corpus(2000, 2);
    let reader = write_and_open(&store, series).await;
    let segment = segment_path(&block_dir(&tenant(), reader.meta().ulid), 1);
    let segment_size = store.head(&segment).await.unwrap().size;
    recording.take_gets();

    // One series, second chunk only.
    let want = &expected[1234];
    let mint = want.samples[130].t;
    let matchers = [Matcher::new(
        MatchOp::Equal,
        "series",
        want.labels.get("series").unwrap(),
    )];
    let got = reader.select(&matchers, mint, i64::MAX).await.unwrap();
    assert_eq!(got[0].samples, want.samples[130..].to_vec());

    let gets = recording.take_gets();
    assert_eq!(gets.len(), 1, "{gets:?}");
    let (path, range) = &gets[0];
    assert_eq!(path, &segment);
    let Some(GetRange::Bounded(r)) = range else {
        panic!("not a bounded ranged GET: {range:?}")
    };
    assert!(
        r.end - r.start < 1024,
        "read {} of {segment_size} bytes for one chunk",
        r.end - r.start
    );

    // Many series: nearby chunks coalesce into few GETs, all ranged.
    let api = [Matcher::new(MatchOp::Equal, "job", "api")];
    let got = reader.select(&api, i64::MIN, i64::MAX).await.unwrap();
    assert_eq!(
        got.len(),
        expected
            .iter()
            .filter(|s| matches_all(&s.labels, &api))
            .count()
    );
    let gets = recording.take_gets();
    assert!(gets.len() < 10, "{} GETs", gets.len());
    assert!(
        gets.iter()
            .all(|(_, r)| matches!(r, Some(GetRange::Bounded(_))))
    );
}

#[test]
fn reader_and_writer_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<BlockReader>();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let t = tenant();
    assert_send(write_block(store.as_ref(), &t, vec![], "i"));
    assert_send(list_blocks(store.as_ref(), &t));
    let meta = BlockMeta {
        ulid: Ulid::nil(),
        min_time: 0,
        max_time: 0,
        stats: BlockStats::default(),
        compaction: BlockCompaction::default(),
        version: 1,
        cairn: CairnMeta::default(),
    };
    assert_send(BlockReader::open(Arc::clone(&store), &t, meta));
}

#[tokio::test]
async fn select_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (series, _) = corpus(2, 1);
    let reader = write_and_open(&store, series).await;
    let fut = reader.select(&[], 0, 1);
    assert_send(&fut);
    fut.await.unwrap();
}

fn quick_retry(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        backoff: Duration::from_millis(1),
    }
}

#[tokio::test]
async fn transient_read_failures_are_retried_on_disk_and_in_memory() {
    for (inner, _dir) in stores() {
        let store = Arc::new(InstrumentedStore::new(inner));
        let dyn_store: Arc<dyn ObjectStore> = store.clone();
        let (series, expected) = corpus(50, 2);
        let meta = write_block(dyn_store.as_ref(), &tenant(), series, "i")
            .await
            .unwrap();

        store.fail_next_gets(2, "meta.json");
        let metas = refresh_block_list(dyn_store.as_ref(), &tenant(), &[], &quick_retry(3))
            .await
            .unwrap();
        assert_eq!(metas, vec![meta.clone()]);

        store.fail_next_gets(2, "/index");
        let reader =
            BlockReader::open_with_retry(Arc::clone(&dyn_store), &tenant(), meta, &quick_retry(3))
                .await
                .unwrap();

        store.fail_next_gets(3, "/chunks/");
        let opts = FetchOptions::new(4, quick_retry(3));
        let got = reader
            .fetch_plan(reader.plan_select(&[], i64::MIN, i64::MAX), &opts)
            .await
            .unwrap();
        assert_eq!(got, expected);

        // Out of retries: the error surfaces, naming object storage.
        store.fail_next_gets(10, "/chunks/");
        let opts = FetchOptions::new(4, quick_retry(1));
        let err = reader
            .fetch_plan(reader.plan_select(&[], i64::MIN, i64::MAX), &opts)
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::ObjectStore(_)), "{err}");
    }
}

#[tokio::test]
async fn refreshing_the_block_list_reads_only_new_meta_json() {
    let store = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
    let dyn_store: Arc<dyn ObjectStore> = store.clone();
    let first = write_block(dyn_store.as_ref(), &tenant(), corpus(3, 1).0, "i")
        .await
        .unwrap();
    let known = list_blocks(dyn_store.as_ref(), &tenant()).await.unwrap();
    let second = write_block(dyn_store.as_ref(), &tenant(), corpus(3, 1).0, "i")
        .await
        .unwrap();
    store.take_gets();

    let metas = refresh_block_list(dyn_store.as_ref(), &tenant(), &known, &quick_retry(0))
        .await
        .unwrap();
    let ulids: BTreeSet<Ulid> = metas.iter().map(|m| m.ulid).collect();
    assert_eq!(ulids, BTreeSet::from([first.ulid, second.ulid]));
    let gets = store.take_gets();
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert!(gets[0].0.as_ref().contains(&second.ulid.to_string()));

    // A block deleted from the bucket drops out of the list.
    let dir = block_dir(&tenant(), first.ulid);
    let paths: Vec<Path> = dyn_store
        .list(Some(&dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap();
    for p in paths {
        dyn_store.delete(&p).await.unwrap();
    }
    let metas = refresh_block_list(dyn_store.as_ref(), &tenant(), &metas, &quick_retry(0))
        .await
        .unwrap();
    assert_eq!(metas, vec![second]);
}

#[tokio::test]
async fn plans_count_series_and_chunk_bytes_before_fetching() {
    let store = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
    let dyn_store: Arc<dyn ObjectStore> = store.clone();
    let (series, expected) = corpus(40, 3);
    let reader = write_and_open(&dyn_store, series).await;
    store.take_gets();

    let api = [Matcher::new(MatchOp::Equal, "job", "api")];
    let plan = reader.plan_select(&api, i64::MIN, i64::MAX);
    let want: Vec<&Series> = expected
        .iter()
        .filter(|s| matches_all(&s.labels, &api))
        .collect();
    assert_eq!(plan.series_count(), want.len());
    assert!(plan.labels().eq(want.iter().map(|s| &s.labels)));
    assert!(plan.chunk_bytes() > 0);
    assert!(store.take_gets().is_empty(), "planning reads nothing");

    let got = reader
        .fetch_plan(plan.clone(), &FetchOptions::default())
        .await
        .unwrap();
    assert_eq!(got.len(), want.len());
    let read: u64 = store
        .take_gets()
        .iter()
        .map(|(_, r)| match r {
            Some(GetRange::Bounded(r)) => r.end - r.start,
            other => panic!("unbounded GET {other:?}"),
        })
        .sum();
    assert!(
        read >= plan.chunk_bytes(),
        "{read} < {}",
        plan.chunk_bytes()
    );

    assert!(reader.memory_bytes() > 1000, "{}", reader.memory_bytes());
}

#[tokio::test]
async fn streaming_writer_uploads_segments_as_they_fill_and_rejects_disorder() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (series, expected) = corpus(40, 2);
    let mut sorted = series;
    sorted.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut w = BlockWriter::new(store.as_ref(), &tenant(), 4096);
    let ulid = w.ulid();
    let dir = block_dir(&tenant(), ulid);
    for s in sorted.iter().cloned() {
        w.append(s.labels, s.chunks).await.unwrap();
    }
    // Before `finish`: full segments are uploaded, the block is invisible.
    let uploaded: Vec<_> = store.list(Some(&dir)).try_collect().await.unwrap();
    assert!(uploaded.len() > 1, "segments upload while appending");
    assert!(
        list_blocks(store.as_ref(), &tenant())
            .await
            .unwrap()
            .is_empty()
    );
    let meta = w
        .finish(
            BlockCompaction {
                level: 2,
                sources: vec![ulid],
            },
            "compactor-0",
        )
        .await
        .unwrap();
    assert_eq!(meta.compaction.level, 2);
    let reader = BlockReader::open(Arc::clone(&store), &tenant(), meta)
        .await
        .unwrap();
    assert_eq!(reader.series_count(), 40);
    let all = reader.plan_series(0..40);
    let got = reader
        .fetch_plan(all, &FetchOptions::default())
        .await
        .unwrap();
    assert_eq!(got, expected);

    let mut w = BlockWriter::new(store.as_ref(), &tenant(), 4096);
    let (a, b) = (sorted[1].clone(), sorted[0].clone());
    w.append(a.labels, a.chunks).await.unwrap();
    let err = w.append(b.labels, b.chunks).await.unwrap_err();
    assert!(err.to_string().contains("increasing label order"), "{err}");
}

/// A histogram sample whose counts grow with `k`; every `layout_every`-th
/// sample gains a bucket, so chunks see layout changes.
fn histogram_at(t: i64, k: i64) -> HistogramSample {
    use crate::histogram::{FloatHistogram, Span};
    let extra = (k / 40) as u32;
    let buckets: Vec<f64> = (0..3 + extra)
        .map(|b| (k * (b as i64 + 1)) as f64)
        .collect();
    HistogramSample {
        t,
        h: Arc::new(FloatHistogram {
            schema: 3,
            zero_threshold: 1e-128,
            zero_count: k as f64,
            count: k as f64 + buckets.iter().sum::<f64>(),
            sum: k as f64 * 1.5,
            positive_spans: vec![Span {
                offset: -1,
                length: 3 + extra,
            }],
            positive_buckets: buckets,
            ..FloatHistogram::default()
        }),
    }
}

#[tokio::test]
async fn histogram_and_mixed_series_round_trip_and_float_only_blocks_keep_index_version_1() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let start = 1_700_000_000_000i64;
    let hist: Vec<HistogramSample> = (0..300)
        .map(|k| histogram_at(start + k * 15_000, k))
        .collect();
    // A series that was a float series, then became a histogram series.
    let floats: Vec<Sample> = (0..50)
        .map(|k| Sample {
            t: start + k * 15_000,
            v: k as f64,
        })
        .collect();
    let later: Vec<HistogramSample> = (50..100)
        .map(|k| histogram_at(start + k * 15_000, k))
        .collect();
    let expected = vec![
        Series {
            labels: Labels::from_pairs([("__name__", "latency"), ("job", "a")]),
            samples: Vec::new(),
            histograms: hist.clone(),
        },
        Series {
            labels: Labels::from_pairs([("__name__", "latency"), ("job", "b")]),
            samples: floats.clone(),
            histograms: later.clone(),
        },
    ];
    let blocks = expected
        .iter()
        .map(|s| BlockSeries {
            labels: s.labels.clone(),
            chunks: encode_chunks(&s.samples, &s.histograms),
        })
        .collect();
    let reader = write_and_open(&store, blocks).await;
    assert_eq!(reader.meta().stats.num_samples, 300 + 50 + 50);
    assert_eq!(
        reader.select(&[], i64::MIN, i64::MAX).await.unwrap(),
        expected
    );
    // A time range cuts histogram chunks like float ones.
    let (mint, maxt) = (start + 100 * 15_000, start + 199 * 15_000);
    let got = reader.select(&[], mint, maxt).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].histograms, hist[100..200].to_vec());

    let index = |meta: &BlockMeta| {
        let path = block_dir(&tenant(), meta.ulid).join("index");
        let store = Arc::clone(&store);
        async move { store.get(&path).await.unwrap().bytes().await.unwrap() }
    };
    assert_eq!(
        index(reader.meta()).await[4],
        2,
        "histogram chunks need index version 2"
    );
    let (floats_only, _) = corpus(3, 1);
    let meta = write_block(store.as_ref(), &tenant(), floats_only, "i")
        .await
        .unwrap();
    assert_eq!(
        index(&meta).await[4],
        1,
        "float-only blocks stay readable by older readers"
    );
}
