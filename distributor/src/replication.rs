//! Replication in distributed mode: each series, stream or trace goes to
//! the `replication_factor` ingesters the ring places it on (within the
//! tenant's shuffle shard), and a push is acknowledged once a quorum of the
//! replicas of every item acknowledged it. Slower replicas finish in the
//! background; a push without quorum fails with 503 so the client retries
//! (a retried sample the ingester already holds is accepted again without
//! effect, a retried line or span is deduplicated on read).
//!
//! [`Replicator`] implements the same pusher traits as an ingester, so the
//! distributors above it do not know whether they talk to one process or a
//! cluster.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use async_trait::async_trait;
use common::exemplar::SeriesExemplars;
use common::labels::Labels;
use common::limits::Overrides;
use common::logs::{LogsPushOutcome, LogsPusher, PushStream};
use common::metadata::MetricMetadata;
use common::push::{ExemplarOutcome, MetricsPusher, PushError, PushOutcome, PushSeries, Rejection};
use common::ring::{RingWatcher, shard_key};
use common::rpc::{ClientPool, IngesterClient};
use common::tenant::TenantId;
use common::traces::{Span, TraceId, TracesPushOutcome, TracesPusher};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngesterLabel {
    ingester: String,
}

/// Writes to the ingesters the ring names for each item.
pub struct Replicator {
    ring: Arc<RingWatcher>,
    pool: Arc<ClientPool>,
    overrides: Arc<Overrides>,
    failures: Family<IngesterLabel, Counter>,
}

/// One ingester's answer and the items (indices) it was sent.
struct Answer<O> {
    items: Vec<usize>,
    outcome: O,
}

impl Replicator {
    /// Replicates over `ring`'s ingesters, reached through `pool`.
    pub fn new(
        ring: Arc<RingWatcher>,
        pool: Arc<ClientPool>,
        overrides: Arc<Overrides>,
        registry: &mut Registry,
    ) -> Self {
        let failures = Family::<IngesterLabel, Counter>::default();
        registry.register(
            "cairn_distributor_ingester_push_failures",
            "Pushes to an ingester that failed (the replicas may still have reached quorum)",
            failures.clone(),
        );
        Self {
            ring,
            pool,
            overrides,
            failures,
        }
    }

    /// Sends every item to its replicas and returns once each item was
    /// acknowledged by a quorum of them, with the answers received so far.
    async fn replicate<T, O>(
        &self,
        tenant: &TenantId,
        items: &[T],
        key: impl Fn(&T) -> u32,
        send: impl Fn(Arc<IngesterClient>, Vec<T>) -> BoxFuture<'static, Result<O, PushError>>,
    ) -> Result<Vec<Answer<O>>, PushError>
    where
        T: Clone,
        O: Send + 'static,
    {
        let ring = self.ring.tenant_ring(tenant, &self.overrides);
        let mut quorum = Vec::with_capacity(items.len());
        let mut plan: HashMap<String, (String, Vec<usize>)> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let set = ring
                .replication_set(key(item))
                .map_err(|e| PushError::Unavailable(e.to_string()))?;
            quorum.push(set.quorum);
            for m in set.instances {
                plan.entry(m.id.clone())
                    .or_insert_with(|| (m.grpc_addr.clone(), Vec::new()))
                    .1
                    .push(i);
            }
        }
        let mut pending: FuturesUnordered<_> = plan
            .into_iter()
            .map(|(id, (addr, indices))| {
                let batch: Vec<T> = indices.iter().map(|&i| items[i].clone()).collect();
                let sent = match self.pool.get(&addr) {
                    Ok(client) => tokio::spawn(send(client, batch)),
                    Err(e) => {
                        let e = PushError::Unavailable(format!("ingester {addr}: {e}"));
                        tokio::spawn(async move { Err(e) })
                    }
                };
                async move { (id, indices, sent.await) }
            })
            .collect();
        let mut acks = vec![0usize; items.len()];
        let mut short = items.len();
        let mut answers = Vec::new();
        let mut errors = Vec::new();
        while short > 0 {
            let Some((id, indices, result)) = pending.next().await else {
                break;
            };
            let result = result
                .unwrap_or_else(|e| Err(PushError::Unavailable(format!("push aborted: {e}"))));
            match result {
                Ok(outcome) => {
                    for &i in &indices {
                        acks[i] += 1;
                        if acks[i] == quorum[i] {
                            short -= 1;
                        }
                    }
                    answers.push(Answer {
                        items: indices,
                        outcome,
                    });
                }
                Err(e) => {
                    self.failures
                        .get_or_create(&IngesterLabel { ingester: id })
                        .inc();
                    errors.push(e);
                }
            }
        }
        if short > 0 {
            let detail: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(PushError::Unavailable(format!(
                "too few ingesters acknowledged the write for a quorum: {}",
                detail.join("; ")
            )));
        }
        Ok(answers)
    }
}

/// The rejections of `answers` attributed once per item: each item takes
/// the rejections of the first replica that acknowledged it, matched by its
/// identity (series or stream labels, trace ID).
fn attribute<O, R, I>(
    answers: Vec<Answer<O>>,
    n: usize,
    item_ident: impl Fn(usize) -> I,
    rejections: impl Fn(O) -> Vec<R>,
    rejection_ident: impl Fn(&R) -> &I,
) -> Vec<R>
where
    I: Hash + Eq,
{
    let mut primary = vec![None; n];
    for (a, answer) in answers.iter().enumerate() {
        for &i in &answer.items {
            primary[i].get_or_insert(a);
        }
    }
    let mut owned: Vec<HashSet<I>> = answers.iter().map(|_| HashSet::new()).collect();
    for (i, p) in primary.into_iter().enumerate() {
        if let Some(a) = p {
            owned[a].insert(item_ident(i));
        }
    }
    let mut out = Vec::new();
    for (answer, mine) in answers.into_iter().zip(owned) {
        out.extend(
            rejections(answer.outcome)
                .into_iter()
                .filter(|r| mine.contains(rejection_ident(r))),
        );
    }
    out
}

/// Sums a per-answer count, each answer weighted by the share of its items
/// it is the first acknowledgement of (so replicas are not counted RF times).
fn count_once<O>(answers: &[Answer<O>], n: usize, count: impl Fn(&O) -> usize) -> usize {
    let mut seen = vec![false; n];
    let mut total = 0;
    for a in answers {
        let first = a
            .items
            .iter()
            .filter(|&&i| !std::mem::replace(&mut seen[i], true))
            .count();
        if !a.items.is_empty() {
            total += count(&a.outcome) * first / a.items.len();
        }
    }
    total
}

/// Float and histogram samples of `series` not named in `rejected`. A
/// rejection counts a series' samples of both kinds together: it is taken
/// from the floats first, so a series with both kinds may be counted
/// approximately (only the split, never the total, is uncertain).
fn accepted_by_kind(series: &[PushSeries], rejected: &[Rejection]) -> (usize, usize) {
    let mut by_labels: HashMap<&Labels, (usize, usize)> = HashMap::new();
    for s in series {
        let e = by_labels.entry(&s.labels).or_default();
        *e = (e.0 + s.samples.len(), e.1 + s.histograms.len());
    }
    for r in rejected {
        if let Some((f, h)) = by_labels.get_mut(&r.labels) {
            let from_floats = r.samples.min(*f);
            *f -= from_floats;
            *h = h.saturating_sub(r.samples - from_floats);
        }
    }
    by_labels
        .values()
        .fold((0, 0), |(f, h), (sf, sh)| (f + sf, h + sh))
}

fn labels_key(tenant: &TenantId, labels: &Labels) -> u32 {
    shard_key(tenant.as_str(), &labels.stable_hash().to_le_bytes())
}

#[async_trait]
impl MetricsPusher for Replicator {
    async fn push(
        &self,
        tenant: &TenantId,
        series: Vec<PushSeries>,
    ) -> Result<PushOutcome, PushError> {
        let t = tenant.clone();
        let answers = self
            .replicate(
                tenant,
                &series,
                |s| labels_key(tenant, &s.labels),
                move |c, batch| {
                    let t = t.clone();
                    Box::pin(async move { c.push(&t, batch).await })
                },
            )
            .await?;
        let rejected = attribute(
            answers,
            series.len(),
            |i| series[i].labels.clone(),
            |o| o.rejected,
            |r| &r.labels,
        );
        let (floats, histograms) = accepted_by_kind(&series, &rejected);
        Ok(PushOutcome {
            accepted: floats,
            accepted_histograms: histograms,
            rejected,
        })
    }

    async fn push_exemplars(
        &self,
        tenant: &TenantId,
        exemplars: Vec<SeriesExemplars>,
    ) -> Result<ExemplarOutcome, PushError> {
        let t = tenant.clone();
        let answers = self
            .replicate(
                tenant,
                &exemplars,
                |e| labels_key(tenant, &e.series),
                move |c, batch| {
                    let t = t.clone();
                    Box::pin(async move { c.push_exemplars(&t, batch).await })
                },
            )
            .await?;
        let n = exemplars.len();
        Ok(ExemplarOutcome {
            accepted: count_once(&answers, n, |o| o.accepted),
            out_of_order: count_once(&answers, n, |o| o.out_of_order),
            duplicates: count_once(&answers, n, |o| o.duplicates),
        })
    }

    async fn push_metadata(
        &self,
        tenant: &TenantId,
        metadata: Vec<MetricMetadata>,
    ) -> Result<usize, PushError> {
        let t = tenant.clone();
        let answers = self
            .replicate(
                tenant,
                &metadata,
                |m| shard_key(tenant.as_str(), m.family.as_bytes()),
                move |c, batch| {
                    let t = t.clone();
                    Box::pin(async move { c.push_metadata(&t, batch).await })
                },
            )
            .await?;
        Ok(count_once(&answers, metadata.len(), |kept| *kept))
    }
}

#[async_trait]
impl LogsPusher for Replicator {
    async fn push_logs(
        &self,
        tenant: &TenantId,
        streams: Vec<PushStream>,
    ) -> Result<LogsPushOutcome, PushError> {
        let t = tenant.clone();
        let answers = self
            .replicate(
                tenant,
                &streams,
                |s| labels_key(tenant, &s.labels),
                move |c, batch| {
                    let t = t.clone();
                    Box::pin(async move { c.push_logs(&t, batch).await })
                },
            )
            .await?;
        let total: usize = streams.iter().map(|s| s.entries.len()).sum();
        let rejected = attribute(
            answers,
            streams.len(),
            |i| streams[i].labels.clone(),
            |o| o.rejected,
            |r| &r.labels,
        );
        let refused: usize = rejected.iter().map(|r| r.lines).sum();
        Ok(LogsPushOutcome {
            accepted: total.saturating_sub(refused),
            rejected,
        })
    }
}

#[async_trait]
impl TracesPusher for Replicator {
    async fn push_spans(
        &self,
        tenant: &TenantId,
        spans: Vec<Span>,
    ) -> Result<TracesPushOutcome, PushError> {
        // All spans of a trace travel together to the trace's replicas.
        let mut by_trace: HashMap<TraceId, Vec<Span>> = HashMap::new();
        for s in spans {
            by_trace.entry(s.trace_id).or_default().push(s);
        }
        let traces: Vec<(TraceId, Vec<Span>)> = by_trace.into_iter().collect();
        let t = tenant.clone();
        let answers = self
            .replicate(
                tenant,
                &traces,
                |(id, _)| shard_key(tenant.as_str(), id),
                move |c, batch| {
                    let t = t.clone();
                    let spans = batch.into_iter().flat_map(|(_, s)| s).collect();
                    Box::pin(async move { c.push_spans(&t, spans).await })
                },
            )
            .await?;
        let total: usize = traces.iter().map(|(_, s)| s.len()).sum();
        let rejected = attribute(
            answers,
            traces.len(),
            |i| traces[i].0,
            |o| o.rejected,
            |r| &r.trace_id,
        );
        let refused: usize = rejected.iter().map(|r| r.spans).sum();
        Ok(TracesPushOutcome {
            accepted: total.saturating_sub(refused),
            rejected,
        })
    }
}
