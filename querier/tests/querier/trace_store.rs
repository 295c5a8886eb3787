//! Trace blocks in object storage merged with live traces: what the Tempo
//! API and TraceQL read. Blocks are written by the ingesters' writer into a
//! real filesystem bucket, twice (as replicas would); the live part holds
//! the newest span of one trace and a copy of an uploaded one.

use std::sync::Arc;

use cairn_querier::store::{BlockStoreConfig, MergedTraceStore, TraceBlockStore};
use common::tenant::TenantId;
use common::traces::block::write_trace_block;
use common::traces::{AttrScope, Span, Trace, TraceScan, TraceStore};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::trace_support::{MemTraceStore, fixtures};

struct Setup {
    merged: MergedTraceStore,
    traces: Vec<Trace>,
    _bucket: tempfile::TempDir,
}

/// Every fixture trace; the last span of the first one only live.
async fn setup() -> Setup {
    let bucket = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(bucket.path()).unwrap());
    let tenant = TenantId::parse("team-a").unwrap();
    let traces: Vec<Trace> = fixtures()
        .0
        .into_iter()
        .map(|(_, t)| Trace::from_spans(t.trace_id, t.spans))
        .collect();
    let first = &traces[0];
    let last_span = first.spans.last().unwrap().clone();
    let stored: Vec<Span> = traces
        .iter()
        .flat_map(|t| t.spans.iter().cloned())
        .filter(|s| s != &last_span)
        .collect();
    for replica in ["ingester-1", "ingester-2"] {
        write_trace_block(store.as_ref(), &tenant, stored.clone(), replica)
            .await
            .unwrap();
    }
    let live = Arc::new(MemTraceStore::default());
    live.add(
        "team-a",
        Trace {
            trace_id: first.trace_id,
            spans: vec![last_span, first.spans[0].clone()],
        },
    );
    let blocks = Arc::new(TraceBlockStore::new(store, BlockStoreConfig::default()));
    Setup {
        merged: MergedTraceStore::new(vec![live, blocks]),
        traces,
        _bucket: bucket,
    }
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

#[tokio::test]
async fn trace_by_id_returns_every_span_once_across_blocks_and_live_traces() {
    let s = setup().await;
    for want in &s.traces {
        let got = s
            .merged
            .trace_by_id(&tenant("team-a"), want.trace_id, 0, u64::MAX)
            .await
            .unwrap()
            .expect("trace found");
        assert_eq!(&got, want, "every span and field, each once");
    }
    let other = s
        .merged
        .trace_by_id(&tenant("team-b"), s.traces[0].trace_id, 0, u64::MAX)
        .await
        .unwrap();
    assert!(other.is_none(), "another tenant sees nothing");
    let mut absent = s.traces[0].trace_id;
    absent[0] ^= 0xff;
    assert!(
        s.merged
            .trace_by_id(&tenant("team-a"), absent, 0, u64::MAX)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn search_completes_traces_split_between_blocks_and_live_traces() {
    let s = setup().await;
    let first = &s.traces[0];
    let second_name = first.spans[1].name.clone();
    let scan = TraceScan {
        start_ns: 0,
        end_ns: u64::MAX,
        filter: Some(Arc::new(move |sp: &Span| sp.name == second_name)),
        limit: None,
    };
    let found = s.merged.search(&tenant("team-a"), &scan).await.unwrap();
    let hit = found
        .iter()
        .find(|t| t.trace_id == first.trace_id)
        .expect("the trace matches in the blocks");
    assert_eq!(hit, first, "its live span is added, copies dropped");
    let all = TraceScan {
        filter: None,
        ..scan
    };
    let found = s.merged.search(&tenant("team-a"), &all).await.unwrap();
    assert_eq!(found.len(), s.traces.len());
    assert!(
        s.merged
            .search(&tenant("team-b"), &all)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn tags_come_from_block_summaries_and_live_traces() {
    let s = setup().await;
    let names = s
        .merged
        .tag_names(&tenant("team-a"), 0, u64::MAX)
        .await
        .unwrap();
    assert!(names.contains(&(AttrScope::Resource, "service.name".to_string())));
    assert!(names.contains(&(AttrScope::Span, "db.system".to_string())));
    let values = s
        .merged
        .tag_values(
            &tenant("team-a"),
            Some(AttrScope::Span),
            "db.system",
            0,
            u64::MAX,
        )
        .await
        .unwrap();
    assert!(values.contains("postgres"));
    assert!(
        s.merged
            .tag_names(&tenant("team-b"), 0, u64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}
