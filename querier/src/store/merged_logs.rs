//! Fans a logs query out to several [`LogStore`]s (ingesters, blocks) and
//! merges the answers: a line both a head and a block hold (uploaded but
//! still retained) is returned once.

use async_trait::async_trait;
use common::labels::Labels;
use common::logs::{LogSelect, LogStore, StreamEntries, merge_streams, trim_to_limit};
use common::series::{Matcher, StoreError};
use common::tenant::TenantId;

use super::merged::{Merged, answers, union};

/// A [`LogStore`] answering from all of its parts, deduplicating identical
/// `(stream, timestamp, line)` entries.
pub type MergedLogStore = Merged<dyn LogStore>;

#[async_trait]
impl LogStore for Merged<dyn LogStore> {
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
