//! One tenant's metrics in the ingester: its head, its WAL, and the cutting
//! of the head into blocks that are uploaded to object storage.
//!
//! Durability: a push is acknowledged only after its samples are written to
//! the WAL. Cutting swaps in a fresh head and starts a new WAL segment under
//! the append lock, so the old head's samples live exactly in the older
//! segments; those are deleted only after the block upload succeeded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::block::{BlockMeta, write_block};
use common::discard::DiscardReason;
use common::exemplar::SeriesExemplars;
use common::histogram::HistogramSample;
use common::labels::Labels;
use common::limits::Limits;
use common::push::{PushError, PushOutcome, PushSeries, Rejection};
use common::series::{Matcher, Sample, Series};
use common::tenant::TenantId;
use common::wal::{ReplayStats, Wal, WalOptions};
use object_store::ObjectStore;
use parking_lot::{Mutex, RwLock};

use super::head::{AppendCheck, Head, Item, Last, in_time_order};
use super::record;
use super::replay::Replay;
use crate::error::IngesterError;
use crate::head_set::{HeadSet, upload_with_retry};
use crate::wal_health;

/// Per-tenant metrics state in an ingester.
pub(crate) struct TenantDb {
    tenant: TenantId,
    wal: Wal,
    /// Serialises appends with each other and with head swaps.
    append: Mutex<()>,
    heads: RwLock<HeadSet<Head>>,
    next_id: AtomicU32,
    /// Serialises cuts and uploads so segments are removed in order.
    cut: tokio::sync::Mutex<()>,
}

impl TenantDb {
    /// Opens the tenant's WAL directory, replaying whatever it holds into a
    /// head; the logged exemplars are returned for the exemplar store.
    pub(crate) fn open(
        tenant: TenantId,
        dir: &Path,
        opts: WalOptions,
    ) -> Result<(Self, ReplayStats, Vec<SeriesExemplars>), IngesterError> {
        let mut replay = Replay::new();
        let stats = Wal::replay(dir, |rec| {
            replay.apply(record::decode(rec)?);
            Ok(())
        })
        .map_err(|e| IngesterError::Wal(format!("replaying {}: {e}", dir.display())))?;
        let (head, max_id, exemplars) = replay.finish();
        let wal = Wal::open(dir, opts)
            .map_err(|e| IngesterError::Wal(format!("opening {}: {e}", dir.display())))?;
        let db = Self {
            tenant,
            wal,
            append: Mutex::new(()),
            heads: RwLock::new(HeadSet::new(head)),
            next_id: AtomicU32::new(max_id + 1),
            cut: tokio::sync::Mutex::new(()),
        };
        Ok((db, stats, exemplars))
    }

    /// Logs exemplars the exemplar store accepted, so they survive a restart
    /// until their WAL segment is removed after the next block upload (like
    /// Prometheus, blocks do not hold exemplars). Blocking (file I/O).
    pub(crate) fn log_exemplars(&self, list: &[SeriesExemplars]) -> Result<(), PushError> {
        if list.is_empty() {
            return Ok(());
        }
        let rec = record::encode_exemplars(list);
        let _guard = self.append.lock();
        self.wal
            .append(&[rec.as_slice()])
            .map_err(wal_health::refusal)
    }

    /// Appends validated series; returns once accepted samples are in the WAL.
    /// Blocking (file I/O): call from a blocking thread.
    pub(crate) fn push(
        &self,
        series: Vec<PushSeries>,
        limits: &Limits,
    ) -> Result<PushOutcome, PushError> {
        let _guard = self.append.lock();
        let head = Arc::clone(self.heads.read().current());
        let mut records: Vec<Vec<u8>> = Vec::new();
        let mut accepted: Vec<(u32, Sample)> = Vec::new();
        let mut accepted_histograms: Vec<(u32, Vec<HistogramSample>)> = Vec::new();
        let mut outcome = PushOutcome::default();
        let mut created = Vec::new();
        for ps in series {
            let id = match head.lookup(&ps.labels) {
                Some(id) => id,
                None => {
                    let limit = limits.max_global_series_per_user;
                    if limit > 0 && head.num_series() >= limit {
                        outcome.rejected.push(Rejection {
                            reason: DiscardReason::PerUserSeriesLimit,
                            detail: format!(
                                "per-user series limit of {limit} exceeded (max_global_series_per_user); \
                                 existing series are still accepted, raise the limit in the runtime overrides"
                            ),
                            samples: ps.sample_count(),
                            labels: ps.labels,
                        });
                        continue;
                    }
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    records.push(record::encode_series(id, &ps.labels));
                    head.create(id, ps.labels.clone());
                    created.push(id);
                    id
                }
            };
            let Some(mem) = head.get(id) else { continue };
            let mem = mem.lock();
            let mut last: Option<Last> = None;
            let mut bad: HashMap<DiscardReason, (usize, i64)> = HashMap::new();
            let mut histograms = Vec::new();
            for item in in_time_order(ps.samples, ps.histograms) {
                let (t, v) = item.time_and_value();
                let reason = match mem.check(t, &v, last.as_ref()) {
                    AppendCheck::Ok => {
                        match item {
                            Item::Float(s) => accepted.push((id, s)),
                            Item::Histogram(h) => histograms.push(h),
                        }
                        last = Some(Last { t, v });
                        continue;
                    }
                    AppendCheck::Duplicate => continue,
                    AppendCheck::OutOfOrder => DiscardReason::SampleOutOfOrder,
                    AppendCheck::DuplicateTimestamp => DiscardReason::SampleDuplicateTimestamp,
                };
                let e = bad.entry(reason).or_insert((0, t));
                e.0 += 1;
            }
            if !histograms.is_empty() {
                accepted_histograms.push((id, histograms));
            }
            let newest = last.as_ref().or(mem.last()).map_or(i64::MIN, |s| s.t);
            for (reason, (n, first_t)) in bad {
                outcome.rejected.push(Rejection {
                    reason,
                    labels: ps.labels.clone(),
                    samples: n,
                    detail: format!("sample timestamp {first_t} is not after the series' newest sample at {newest}"),
                });
            }
        }
        if accepted.is_empty() && accepted_histograms.is_empty() && records.is_empty() {
            return Ok(outcome);
        }
        if !accepted.is_empty() {
            records.push(record::encode_samples(&accepted));
        }
        if !accepted_histograms.is_empty() {
            records.push(record::encode_histograms(&accepted_histograms));
        }
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        if let Err(e) = self.wal.append(&refs) {
            // Nothing was acknowledged: series created for this push have
            // no record in the WAL, so a later push must create them again.
            for id in created {
                head.remove(id);
            }
            return Err(wal_health::refusal(e));
        }
        for (id, s) in &accepted {
            if let Some(mem) = head.get(*id) {
                mem.lock().append(*s);
                head.observe(s.t);
            }
        }
        for (id, samples) in &accepted_histograms {
            if let Some(mem) = head.get(*id) {
                let mut mem = mem.lock();
                for s in samples {
                    mem.append_histogram(s);
                    head.observe(s.t);
                }
            }
        }
        outcome.accepted = accepted.len();
        outcome.accepted_histograms = accepted_histograms.iter().map(|(_, s)| s.len()).sum();
        Ok(outcome)
    }

    /// Cuts the current head (if it has samples) and uploads every head
    /// waiting for upload, oldest first. Returns the uploaded blocks. On an
    /// upload error the head stays queryable and in the WAL; the next cut
    /// retries it.
    pub(crate) async fn cut_and_upload(
        &self,
        store: &dyn ObjectStore,
        source: &str,
        attempts: u32,
    ) -> Result<Vec<BlockMeta>, IngesterError> {
        let _cut = self.cut.lock().await;
        self.cut_head()?;
        let mut uploaded = Vec::new();
        loop {
            let Some((head, next_segment)) = self.heads.read().first_pending() else {
                break;
            };
            let meta = upload_with_retry(&self.tenant, attempts, || {
                write_block(store, &self.tenant, head.to_block_series(), source)
            })
            .await?;
            self.heads.write().uploaded_first();
            self.wal
                .remove_segments_before(next_segment)
                .map_err(|e| IngesterError::Wal(format!("removing uploaded WAL segments: {e}")))?;
            uploaded.push(meta);
        }
        Ok(uploaded)
    }

    /// Swaps in a successor head and starts a new WAL segment, re-logging
    /// the carried series so the new segment replays on its own.
    fn cut_head(&self) -> Result<(), IngesterError> {
        let _guard = self.append.lock();
        let old = Arc::clone(self.heads.read().current());
        if old.is_empty() {
            return Ok(());
        }
        let new = Head::successor(&old);
        let next_segment = self
            .wal
            .cut_segment()
            .map_err(|e| IngesterError::Wal(wal_health::describe(&e)))?;
        let records: Vec<Vec<u8>> = new
            .refs()
            .iter()
            .map(|(id, l)| record::encode_series(*id, l))
            .collect();
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        self.wal
            .append(&refs)
            .map_err(|e| IngesterError::Wal(wal_health::describe(&e)))?;
        self.heads.write().cut(new, next_segment);
        Ok(())
    }

    /// Forgets uploaded heads older than `retain`: their blocks are listed
    /// by every querier by then.
    /// Forces the tenant's WAL to disk (graceful shutdown).
    pub(crate) fn sync_wal(&self) -> Result<(), IngesterError> {
        self.wal
            .sync()
            .map_err(|e| IngesterError::Wal(format!("syncing the WAL: {e}")))
    }

    pub(crate) fn expire_uploaded(&self, retain: Duration) {
        self.heads.write().expire(retain);
    }

    fn all_heads(&self) -> Vec<Arc<Head>> {
        self.heads.read().all()
    }

    /// Samples of matching series from every head (current, pending and
    /// recently uploaded).
    pub(crate) fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        let lists = self
            .all_heads()
            .iter()
            .map(|h| h.select(matchers, mint, maxt))
            .collect();
        common::series::merge_series(lists)
    }

    /// Label sets of matching series from every head.
    pub(crate) fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .all_heads()
            .iter()
            .flat_map(|h| h.series_labels(matchers, mint, maxt))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Active series in the current head.
    pub(crate) fn active_series(&self) -> usize {
        self.heads.read().current().num_series()
    }
}
