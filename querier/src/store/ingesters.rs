//! The ingesters of a cluster as one read source: each query asks every
//! readable ingester of the tenant's shard (the ring's read set) and merges
//! their answers like any other parts, so replicas of a sample, line or span
//! count once. Up to as many ingesters as replication tolerates may fail a
//! query without failing it; more, and the query fails naming them rather
//! than answering with data missing.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use common::exemplar::{ExemplarSource, SeriesExemplars};
use common::labels::Labels;
use common::limits::Overrides;
use common::logs::{LogSelect, LogStore, StreamEntries};
use common::metadata::{MetadataSource, MetricMetadata};
use common::ring::RingWatcher;
use common::rpc::{ClientPool, IngesterClient};
use common::series::{Matcher, Series, SeriesStore, StoreError};
use common::tenant::TenantId;
use common::traces::{AttrScope, Trace, TraceId, TraceScan, TraceStore};

use super::merged::{Merged, answers, union};
use super::{MergedLogStore, MergedStore, MergedTraceStore};

/// Reads from the ingesters the ring lists.
pub struct RingIngesters {
    ring: Arc<RingWatcher>,
    pool: Arc<ClientPool>,
    overrides: Arc<Overrides>,
}

/// The clients to ask for one query, and how many of them may fail.
struct ReadSet {
    clients: Vec<Arc<IngesterClient>>,
    tolerated: usize,
}

impl RingIngesters {
    /// Reads from `ring`'s ingesters through `pool`.
    pub fn new(ring: Arc<RingWatcher>, pool: Arc<ClientPool>, overrides: Arc<Overrides>) -> Self {
        Self {
            ring,
            pool,
            overrides,
        }
    }

    fn read_set(&self, tenant: &TenantId) -> Result<ReadSet, StoreError> {
        let ring = self.ring.tenant_ring(tenant, &self.overrides);
        let members = ring
            .read_set()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Replication tolerates RF - quorum missing replicas; those the
        // prober already found unreadable count against it.
        let unreadable = ring.members().len() - members.len();
        let tolerated = (ring.replication_factor() - ring.quorum()).saturating_sub(unreadable);
        let clients = members
            .iter()
            .map(|m| {
                self.pool
                    .get(&m.grpc_addr)
                    .map_err(|e| StoreError::Unavailable(format!("ingester {}: {e}", m.grpc_addr)))
            })
            .collect::<Result<_, _>>()?;
        Ok(ReadSet { clients, tolerated })
    }

    /// The read set's clients as one merged store of kind `S`.
    fn merged<S: ?Sized>(
        &self,
        tenant: &TenantId,
        as_part: fn(Arc<IngesterClient>) -> Arc<S>,
    ) -> Result<Merged<S>, StoreError> {
        let set = self.read_set(tenant)?;
        let parts = set.clients.into_iter().map(as_part).collect();
        Ok(Merged::new(parts).tolerating(set.tolerated))
    }

    fn series_store(&self, tenant: &TenantId) -> Result<MergedStore, StoreError> {
        self.merged(tenant, |c| c)
    }

    fn log_store(&self, tenant: &TenantId) -> Result<MergedLogStore, StoreError> {
        self.merged(tenant, |c| c)
    }

    fn trace_store(&self, tenant: &TenantId) -> Result<MergedTraceStore, StoreError> {
        self.merged(tenant, |c| c)
    }
}

#[async_trait]
impl SeriesStore for RingIngesters {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let store = self.series_store(tenant)?;
        store.select(tenant, matchers, mint, maxt).await
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let store = self.series_store(tenant)?;
        store.series(tenant, matchers, mint, maxt).await
    }

    async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let store = self.series_store(tenant)?;
        store.label_names(tenant, matchers, mint, maxt).await
    }

    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let store = self.series_store(tenant)?;
        store.label_values(tenant, name, matchers, mint, maxt).await
    }
}

#[async_trait]
impl ExemplarSource for RingIngesters {
    async fn exemplars(
        &self,
        tenant: &TenantId,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesExemplars>, StoreError> {
        let set = self.read_set(tenant)?;
        let lists = answers(
            set.clients
                .iter()
                .map(|c| c.exemplars(tenant, selectors, start, end)),
            set.tolerated,
        )
        .await?;
        Ok(merge_exemplars(lists))
    }
}

/// One entry per series, each exemplar once (replicas hold copies).
fn merge_exemplars(lists: Vec<Vec<SeriesExemplars>>) -> Vec<SeriesExemplars> {
    let mut by_series: std::collections::BTreeMap<Labels, SeriesExemplars> = Default::default();
    for e in lists.into_iter().flatten() {
        let entry = by_series
            .entry(e.series.clone())
            .or_insert_with(|| SeriesExemplars {
                series: e.series,
                exemplars: Vec::new(),
            });
        for x in e.exemplars {
            if !entry.exemplars.iter().any(|y| y.same_as(&x)) {
                entry.exemplars.push(x);
            }
        }
    }
    let mut out: Vec<SeriesExemplars> = by_series.into_values().collect();
    for e in &mut out {
        e.exemplars.sort_by_key(|x| x.timestamp);
    }
    out
}

#[async_trait]
impl MetadataSource for RingIngesters {
    async fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<MetricMetadata>, StoreError> {
        let set = self.read_set(tenant)?;
        let lists = answers(
            set.clients.iter().map(|c| c.metadata(tenant, metric)),
            set.tolerated,
        )
        .await?;
        Ok(union(lists))
    }
}

#[async_trait]
impl LogStore for RingIngesters {
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        let store = self.log_store(tenant)?;
        store.select_logs(tenant, sel).await
    }

    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let store = self.log_store(tenant)?;
        store.log_streams(tenant, matchers, start_ns, end_ns).await
    }
}

#[async_trait]
impl TraceStore for RingIngesters {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<Option<Trace>, StoreError> {
        let store = self.trace_store(tenant)?;
        store.trace_by_id(tenant, id, start_ns, end_ns).await
    }

    async fn search(&self, tenant: &TenantId, scan: &TraceScan) -> Result<Vec<Trace>, StoreError> {
        let store = self.trace_store(tenant)?;
        store.search(tenant, scan).await
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<(AttrScope, String)>, StoreError> {
        let store = self.trace_store(tenant)?;
        store.tag_names(tenant, start_ns, end_ns).await
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<String>, StoreError> {
        let store = self.trace_store(tenant)?;
        store.tag_values(tenant, scope, key, start_ns, end_ns).await
    }
}
