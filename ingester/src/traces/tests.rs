use std::sync::Arc;
use std::time::Duration;

use common::block::RetryPolicy;
use common::discard::DiscardReason;
use common::limits::Limits;
use common::tenant::TenantId;
use common::traces::block::{TraceBlockReader, trace_blocks_prefix};
use common::traces::{AttrScope, AttrValue, KeyValue, Resource, Scope, Span, TraceScan};
use common::wal::WalOptions;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use super::{TraceMap, TracesDb};

/// A trace idle period no test waits out.
const IDLE: Duration = Duration::from_secs(3600);

fn span(trace: u8, id: u8, start: u64) -> Span {
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "op".into(),
        kind: 2,
        start_unix_nano: start,
        end_unix_nano: start + 10,
        attributes: vec![KeyValue {
            key: "http.route".into(),
            value: AttrValue::Str(format!("/r{id}")),
        }],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: 0,
        status_message: String::new(),
        resource: Arc::new(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: AttrValue::Str("api".into()),
            }],
            ..Resource::default()
        }),
        scope: Arc::new(Scope::default()),
    }
}

#[test]
fn spans_group_by_trace_once_each() {
    let mut t = TraceMap::default();
    let (out, stored) = t.push(
        vec![
            span(1, 2, 200),
            span(1, 1, 100),
            span(2, 1, 100),
            span(1, 1, 100),
        ],
        &Limits::default(),
    );
    assert_eq!(out.accepted, 4);
    assert_eq!(stored.len(), 3, "the duplicate is not logged twice");
    let trace = t.trace_by_id([1; 16], 0, u64::MAX).unwrap();
    let ids: Vec<_> = trace.spans.iter().map(|s| s.span_id[0]).collect();
    assert_eq!(ids, [1, 2], "sorted by start, duplicate dropped");
    assert!(t.trace_by_id([1; 16], 500, 600).is_none());
    assert!(t.trace_by_id([3; 16], 0, u64::MAX).is_none());
}

#[test]
fn search_and_tags_see_live_spans() {
    let mut t = TraceMap::default();
    t.push(vec![span(1, 1, 100), span(2, 2, 300)], &Limits::default());
    let scan = TraceScan {
        start_ns: 0,
        end_ns: u64::MAX,
        filter: Some(Arc::new(|s: &Span| s.span_id[0] == 2)),
        limit: None,
    };
    let mut found = Vec::new();
    t.search(&scan, &mut found);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].trace_id, [2; 16]);
    let names = t.tags(0, u64::MAX).names();
    assert!(names.contains(&(AttrScope::Resource, "service.name".into())));
    assert!(names.contains(&(AttrScope::Span, "http.route".into())));
    let values = t
        .tags(0, u64::MAX)
        .values(Some(AttrScope::Span), "http.route");
    assert_eq!(values.into_iter().collect::<Vec<_>>(), ["/r1", "/r2"]);
}

#[test]
fn limits_refuse_new_traces_and_large_traces() {
    let limits = Limits {
        max_traces_per_user: 1,
        max_bytes_per_trace: 150,
        ..Limits::default()
    };
    let mut t = TraceMap::default();
    let (out, _) = t.push(vec![span(1, 1, 1), span(2, 1, 1)], &limits);
    assert_eq!(out.accepted, 1);
    assert_eq!(out.rejected[0].reason, DiscardReason::LiveTracesExceeded);
    let (out, _) = t.push((2..10).map(|i| span(1, i, 1)).collect(), &limits);
    assert!(out.accepted < 8);
    assert_eq!(out.rejected[0].reason, DiscardReason::TraceTooLarge);
    assert_eq!(out.rejected[0].spans, 8 - out.accepted);
}

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test]
async fn idle_traces_are_cut_into_a_block_and_live_ones_survive_a_restart() {
    let wal = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(bucket.path()).unwrap());
    let tenant = TenantId::parse("team-a").unwrap();
    let limits = Limits::default();
    let (db, _) = TracesDb::open(tenant.clone(), wal.path(), WalOptions::default(), IDLE).unwrap();
    db.push(vec![span(1, 1, 100), span(1, 2, 200)], &limits)
        .unwrap();
    // Nothing is idle yet: no cut, nothing uploaded.
    db.sweep_idle(Duration::from_secs(3600));
    assert!(!db.should_cut(Duration::ZERO, 1));
    db.sweep_idle(Duration::ZERO);
    db.push(vec![span(2, 1, 300)], &limits).unwrap();
    assert!(db.should_cut(Duration::from_secs(3600), 1), "size reached");
    let metas = db
        .cut_and_upload(store.as_ref(), "ingester-1", 1, false)
        .await
        .unwrap();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].stats.num_samples, 2, "only the idle trace");
    let block = TraceBlockReader::open(
        Arc::clone(&store),
        &tenant,
        metas[0].clone(),
        &RetryPolicy::default(),
    )
    .await
    .unwrap();
    assert_eq!(block.trace_by_id(&[1; 16]).await.unwrap().len(), 2);
    let prefix = trace_blocks_prefix(&tenant);
    assert!(bucket.path().join(prefix.as_ref()).is_dir());
    // The uploaded head still answers until it expires.
    assert!(db.trace_by_id([1; 16], 0, u64::MAX).is_some());
    db.expire_uploaded(Duration::ZERO);
    assert!(db.trace_by_id([1; 16], 0, u64::MAX).is_none());
    // The old segments are gone; the live trace was logged again.
    assert_eq!(segments(wal.path()), 1);
    drop(db);
    let (db, _) = TracesDb::open(tenant, wal.path(), WalOptions::default(), IDLE).unwrap();
    assert_eq!(db.trace_by_id([2; 16], 0, u64::MAX).unwrap().spans.len(), 1);
    assert!(
        db.trace_by_id([1; 16], 0, u64::MAX).is_none(),
        "uploaded, not replayed"
    );
}

/// A bucket in `dir` whose first traces upload fails.
fn failing_first_traces_upload(dir: &std::path::Path) -> common::block::InstrumentedStore {
    let inner: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    let store = common::block::InstrumentedStore::new(inner);
    store.fail_puts(0, 1, "traces");
    store
}

#[tokio::test]
async fn a_failed_upload_keeps_the_head_and_its_wal() {
    let wal = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let store = failing_first_traces_upload(bucket.path());
    let tenant = TenantId::parse("team-a").unwrap();
    let (db, _) = TracesDb::open(tenant.clone(), wal.path(), WalOptions::default(), IDLE).unwrap();
    db.push(vec![span(1, 1, 100)], &Limits::default()).unwrap();
    assert!(db.cut_and_upload(&store, "i", 1, true).await.is_err());
    assert!(db.trace_by_id([1; 16], 0, u64::MAX).is_some());
    drop(db);
    let (db, _) = TracesDb::open(tenant, wal.path(), WalOptions::default(), IDLE).unwrap();
    assert!(
        db.trace_by_id([1; 16], 0, u64::MAX).is_some(),
        "still in the WAL"
    );
    let metas = db.cut_and_upload(&store, "i", 1, true).await.unwrap();
    assert_eq!(metas.len(), 1, "the retry uploads it");
}

fn one_live_trace() -> Limits {
    Limits {
        max_traces_per_user: 1,
        ..Limits::default()
    }
}

#[test]
fn replayed_traces_idle_past_the_idle_period_are_not_live() {
    let wal = tempfile::tempdir().unwrap();
    let tenant = TenantId::parse("team-a").unwrap();
    let idle = Duration::from_secs(1);
    let open = || TracesDb::open(tenant.clone(), wal.path(), WalOptions::default(), idle).unwrap();
    let (db, _) = open();
    db.push(vec![span(1, 1, 100)], &one_live_trace()).unwrap();
    drop(db);
    // Restarted at once: the trace is still live and the limit holds.
    let (db, _) = open();
    let out = db.push(vec![span(2, 1, 100)], &one_live_trace()).unwrap();
    assert_eq!(out.rejected[0].reason, DiscardReason::LiveTracesExceeded);
    drop(db);
    // Restarted after the idle period: complete, in the head, not live.
    std::thread::sleep(idle + Duration::from_millis(100));
    let (db, _) = open();
    let out = db.push(vec![span(2, 1, 100)], &one_live_trace()).unwrap();
    assert_eq!(out.accepted, 1, "{:?}", out.rejected);
    assert_eq!(db.gauges().0, 1, "only the new trace is live");
    assert!(db.trace_by_id([1; 16], 0, u64::MAX).is_some());
    assert!(
        db.should_cut(Duration::ZERO, usize::MAX),
        "the head holds it"
    );
}

#[tokio::test]
async fn replayed_traces_a_flush_completed_are_not_live() {
    let wal = tempfile::tempdir().unwrap();
    let bucket = tempfile::tempdir().unwrap();
    let store = failing_first_traces_upload(bucket.path());
    let tenant = TenantId::parse("team-a").unwrap();
    let open = || TracesDb::open(tenant.clone(), wal.path(), WalOptions::default(), IDLE).unwrap();
    let (db, _) = open();
    db.push(vec![span(1, 1, 100)], &one_live_trace()).unwrap();
    // Flushed (the upload fails, so its spans stay in the WAL), then a
    // trace that is still live when the process restarts.
    assert!(db.cut_and_upload(&store, "i", 1, true).await.is_err());
    db.push(vec![span(2, 1, 100)], &one_live_trace()).unwrap();
    drop(db);
    let (db, _) = open();
    assert_eq!(db.gauges().0, 1, "only trace 2 is live");
    let out = db.push(vec![span(3, 1, 100)], &one_live_trace()).unwrap();
    assert_eq!(out.rejected[0].reason, DiscardReason::LiveTracesExceeded);
    assert!(db.trace_by_id([1; 16], 0, u64::MAX).is_some());
    let metas = db.cut_and_upload(&store, "i", 1, true).await.unwrap();
    assert_eq!(metas.iter().map(|m| m.stats.num_samples).sum::<u64>(), 2);
}

#[test]
fn first_format_records_replay_as_live() {
    let wal = tempfile::tempdir().unwrap();
    let tenant = TenantId::parse("team-a").unwrap();
    let wal_file = common::wal::Wal::open(wal.path(), WalOptions::default()).unwrap();
    wal_file
        .append(&[&common::traces::otlp::encode_spans(&[span(1, 1, 100)])])
        .unwrap();
    drop(wal_file);
    let (db, stats) = TracesDb::open(tenant, wal.path(), WalOptions::default(), IDLE).unwrap();
    assert_eq!(stats.records, 1);
    assert_eq!(db.gauges().0, 1, "live, as before");
    assert!(db.trace_by_id([1; 16], 0, u64::MAX).is_some());
}
