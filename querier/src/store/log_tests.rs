//! The promises of the logs stores: blocks outside the query are never
//! read, only matching streams come back, and a line held by both an
//! ingester and a block is returned once.

use std::sync::Arc;

use async_trait::async_trait;
use common::block::InstrumentedStore;
use common::labels::Labels;
use common::logs::block::write_log_block;
use common::logs::{Direction, LogEntry, LogSelect, LogStore, StreamEntries};
use common::series::{MatchOp, Matcher, StoreError};
use common::tenant::TenantId;
use object_store::ObjectStore;
use object_store::memory::InMemory;

use super::{BlockStoreConfig, LogBlockStore, MergedLogStore};

const SEC: i64 = 1_000_000_000;

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

fn stream(app: &str, secs: std::ops::Range<i64>) -> StreamEntries {
    StreamEntries {
        labels: Labels::from_pairs([("app", app)]),
        entries: secs
            .map(|s| LogEntry {
                ts_ns: s * SEC,
                line: format!("{app} {s}"),
                structured_metadata: Labels::default(),
            })
            .collect(),
    }
}

fn select(app: &str, from_s: i64, to_s: i64) -> LogSelect {
    LogSelect {
        matchers: vec![Matcher::new(MatchOp::Equal, "app", app)],
        start_ns: from_s * SEC,
        end_ns: to_s * SEC,
        line_filter: None,
        limit: None,
        direction: Direction::Backward,
    }
}

/// An ingester holding fixed streams.
struct Head(Vec<StreamEntries>);

#[async_trait]
impl LogStore for Head {
    async fn select_logs(
        &self,
        _: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        Ok(self
            .0
            .iter()
            .filter(|s| common::series::matches_all(&s.labels, &sel.matchers))
            .cloned()
            .collect())
    }

    async fn log_streams(
        &self,
        _: &TenantId,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(self.0.iter().map(|s| s.labels.clone()).collect())
    }
}

#[tokio::test]
async fn blocks_outside_the_range_are_not_read_and_head_duplicates_collapse() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let old = write_log_block(inner.as_ref(), &tenant(), vec![stream("api", 0..100)], "i")
        .await
        .unwrap();
    write_log_block(
        inner.as_ref(),
        &tenant(),
        vec![stream("api", 1000..1100), stream("db", 1000..1100)],
        "i",
    )
    .await
    .unwrap();
    let instrumented = Arc::new(InstrumentedStore::new(inner));
    let blocks = Arc::new(LogBlockStore::new(
        instrumented.clone(),
        BlockStoreConfig::default(),
    ));
    // The head still holds the last uploaded lines plus newer ones.
    let head = Arc::new(Head(vec![stream("api", 1050..1200)]));
    let merged = MergedLogStore::new(vec![head, blocks.clone()]);

    let got = merged
        .select_logs(&tenant(), &select("api", 1000, 2000))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let ts: Vec<i64> = got[0].entries.iter().map(|e| e.ts_ns / SEC).collect();
    assert_eq!(
        ts,
        (1000..1200).collect::<Vec<_>>(),
        "each line once, in order"
    );
    let old_dir = old.ulid.to_string();
    assert!(
        instrumented
            .take_gets()
            .iter()
            .all(|(path, _)| !path.as_ref().contains(&old_dir)
                || path.as_ref().ends_with("meta.json")),
        "the block before the range was opened (listing reads only its meta.json)"
    );

    let mut limited = select("api", 0, 2000);
    limited.limit = Some(5);
    let got = blocks.select_logs(&tenant(), &limited).await.unwrap();
    let ts: Vec<i64> = got[0].entries.iter().map(|e| e.ts_ns / SEC).collect();
    assert_eq!(
        ts,
        vec![1095, 1096, 1097, 1098, 1099],
        "newest five (backward)"
    );

    let names = merged
        .log_label_values(&tenant(), "app", &[], 0, 2000 * SEC)
        .await
        .unwrap();
    assert_eq!(names, ["api", "db"]);
    let early = blocks
        .log_streams(&tenant(), &[], 0, 50 * SEC)
        .await
        .unwrap();
    assert_eq!(early, vec![Labels::from_pairs([("app", "api")])]);
}
