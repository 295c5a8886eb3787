//! Fans a traces query out to several [`TraceStore`]s (ingesters, blocks)
//! and merges the answers: a trace is returned once with each of its spans
//! once, however many parts (replicas, a head and its uploaded block) hold
//! copies. A search hit is completed from the other parts when they can
//! answer; an unavailable bucket leaves it as found (logged).

use std::collections::{BTreeSet, HashSet};

use super::merged::{Merged, answers};
use async_trait::async_trait;
use common::series::StoreError;
use common::tenant::TenantId;
use common::traces::{AttrScope, Trace, TraceId, TraceScan, TraceStore, union_traces};

/// Search hits up to which traces found in only some parts are completed
/// from the others (a trace whose first spans were cut into a block while
/// later ones are still live); past it a search returns what each part
/// matched.
const MAX_COMPLETED_TRACES: usize = 1000;
/// How far around a found trace's spans the other parts are asked for more.
const COMPLETION_SLACK_NS: u64 = 3600 * 1_000_000_000;

/// A [`TraceStore`] answering from all of its parts.
pub type MergedTraceStore = Merged<dyn TraceStore>;

#[async_trait]
impl TraceStore for Merged<dyn TraceStore> {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<Option<Trace>, StoreError> {
        let found = answers(
            self.parts
                .iter()
                .map(|p| p.trace_by_id(tenant, id, start_ns, end_ns)),
            self.tolerated,
        )
        .await?;
        Ok(union_traces(vec![found.into_iter().flatten().collect()]).pop())
    }

    async fn search(&self, tenant: &TenantId, scan: &TraceScan) -> Result<Vec<Trace>, StoreError> {
        let lists = answers(
            self.parts.iter().map(|p| p.search(tenant, scan)),
            self.tolerated,
        )
        .await?;
        let held: Vec<HashSet<TraceId>> = lists
            .iter()
            .map(|l| l.iter().map(|t| t.trace_id).collect())
            .collect();
        let mut traces = union_traces(lists);
        if traces.len() > MAX_COMPLETED_TRACES {
            return Ok(traces);
        }
        for trace in &mut traces {
            let (Some(first), Some(last)) = (
                trace.spans.iter().map(|s| s.start_unix_nano).min(),
                trace.spans.iter().map(|s| s.end_unix_nano).max(),
            ) else {
                continue;
            };
            let from = first.saturating_sub(COMPLETION_SLACK_NS);
            let to = last.saturating_add(COMPLETION_SLACK_NS);
            let others = self
                .parts
                .iter()
                .zip(&held)
                .filter(|(_, ids)| !ids.contains(&trace.trace_id))
                .map(|(p, _)| p.trace_by_id(tenant, trace.trace_id, from, to));
            // Completing is best effort when the bucket is unavailable: the
            // hit itself was found where the search looked (a recent range
            // the ingesters answer alone); only spans outside it may lack.
            let more: Vec<Trace> = match answers(others, self.tolerated).await {
                Ok(more) => more.into_iter().flatten().collect(),
                Err(e @ StoreError::StoreUnavailable(_)) => {
                    tracing::warn!(%tenant, error = %e, "bucket unavailable; search hit not completed from it");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if !more.is_empty() {
                let mut spans = std::mem::take(&mut trace.spans);
                spans.extend(more.into_iter().flat_map(|t| t.spans));
                *trace = Trace::from_spans(trace.trace_id, spans);
            }
        }
        Ok(traces)
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<(AttrScope, String)>, StoreError> {
        let sets = answers(
            self.parts
                .iter()
                .map(|p| p.tag_names(tenant, start_ns, end_ns)),
            self.tolerated,
        )
        .await?;
        Ok(sets.into_iter().flatten().collect())
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<String>, StoreError> {
        let sets = answers(
            self.parts
                .iter()
                .map(|p| p.tag_values(tenant, scope, key, start_ns, end_ns)),
            self.tolerated,
        )
        .await?;
        Ok(sets.into_iter().flatten().collect())
    }
}
