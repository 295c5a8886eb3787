//! Fans a logs query out to several [`LogStore`]s (ingesters, blocks) and
//! merges the answers: a line both a head and a block hold (uploaded but
//! still retained) is returned once.

use std::sync::Arc;

use async_trait::async_trait;
use common::labels::Labels;
use common::logs::{LogSelect, LogStore, StreamEntries, merge_streams, trim_to_limit};
use common::series::{Matcher, StoreError};
use common::tenant::TenantId;

use super::merged::{answers, union};

/// A [`LogStore`] answering from all of its parts, deduplicating identical
/// `(stream, timestamp, line)` entries.
pub struct MergedLogStore {
    parts: Vec<Arc<dyn LogStore>>,
    tolerated: usize,
}

impl MergedLogStore {
    /// Merges the answers of `parts`; any failing part fails the answer.
    pub fn new(parts: Vec<Arc<dyn LogStore>>) -> Self {
        Self {
            parts,
            tolerated: 0,
        }
    }

    /// Answers without up to `n` failed parts (replicas).
    pub fn tolerating(mut self, n: usize) -> Self {
        self.tolerated = n;
        self
    }
}

#[async_trait]
impl LogStore for MergedLogStore {
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        let lists = answers(
            self.parts.iter().map(|p| p.select_logs(tenant, sel)),
            self.tolerated,
        )
        .await?;
        let mut out = merge_streams(lists);
        trim_to_limit(&mut out, sel.limit, sel.direction);
        Ok(out)
    }

    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(union(
            answers(
                self.parts
                    .iter()
                    .map(|p| p.log_streams(tenant, matchers, start_ns, end_ns)),
                self.tolerated,
            )
            .await?,
        ))
    }
}
