//! One tenant's logs in the ingester: its heads, its logs WAL, and the
//! cutting of the head into logs blocks uploaded to object storage.
//!
//! Durability follows the metrics head: a push is acknowledged only after
//! its lines are in the WAL; a cut starts a new WAL segment under the
//! append lock, and the older segments are deleted only once the cut head's
//! block is uploaded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::block::BlockMeta;
use common::discard::DiscardReason;
use common::labels::Labels;
use common::limits::Limits;
use common::logs::block::write_log_block;
use common::logs::{LogEntry, LogRejection, LogSelect, LogsPushOutcome, PushStream, StreamEntries};
use common::push::PushError;
use common::series::Matcher;
use common::tenant::TenantId;
use common::wal::{ReplayStats, Wal, WalOptions};
use object_store::ObjectStore;
use parking_lot::{Mutex, RwLock};

use super::head::LogsHead;
use super::record::{self, Record};
use crate::error::IngesterError;
use crate::head_set::{HeadSet, upload_with_retry};
use crate::wal_health;

/// Per-tenant logs state in an ingester.
pub(crate) struct TenantLogs {
    tenant: TenantId,
    wal: Wal,
    /// Serialises appends with each other and with head swaps.
    append: Mutex<()>,
    heads: RwLock<HeadSet<LogsHead>>,
    next_id: AtomicU32,
    /// Serialises cuts and uploads so segments are removed in order.
    cut: tokio::sync::Mutex<()>,
    /// Lines older than their stream's newest minus this are refused.
    ooo_window_ns: i64,
}

impl TenantLogs {
    /// Opens the tenant's logs WAL directory, replaying it into a head.
    pub(crate) fn open(
        tenant: TenantId,
        dir: &Path,
        opts: WalOptions,
        ooo_window: Duration,
    ) -> Result<(Self, ReplayStats), IngesterError> {
        let head = LogsHead::new();
        let mut max_id = 0u32;
        // Stream IDs of older segments map onto the replayed head's stream.
        let mut ids: HashMap<u32, u32> = HashMap::new();
        let stats = Wal::replay(dir, |rec| {
            match record::decode(rec)? {
                Record::Stream { id, labels } => {
                    max_id = max_id.max(id);
                    let existing = head.lookup(&labels).unwrap_or_else(|| {
                        head.create(id, labels);
                        id
                    });
                    ids.insert(id, existing);
                }
                Record::Entries(entries) => {
                    for (id, e) in entries {
                        let Some(stream) = ids.get(&id).and_then(|id| head.get(*id)) else {
                            continue;
                        };
                        head.add_line(e.line.len());
                        stream.lock().append(e);
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| IngesterError::Wal(format!("replaying {}: {e}", dir.display())))?;
        let wal = Wal::open(dir, opts)
            .map_err(|e| IngesterError::Wal(format!("opening {}: {e}", dir.display())))?;
        let logs = Self {
            tenant,
            wal,
            append: Mutex::new(()),
            heads: RwLock::new(HeadSet::new(head)),
            next_id: AtomicU32::new(max_id + 1),
            cut: tokio::sync::Mutex::new(()),
            ooo_window_ns: i64::try_from(ooo_window.as_nanos()).unwrap_or(i64::MAX),
        };
        Ok((logs, stats))
    }

    /// Appends validated streams; returns once accepted lines are in the
    /// WAL. Blocking (file I/O): call from a blocking thread.
    pub(crate) fn push(
        &self,
        streams: Vec<PushStream>,
        limits: &Limits,
    ) -> Result<LogsPushOutcome, PushError> {
        let _guard = self.append.lock();
        let head = Arc::clone(self.heads.read().current());
        let mut records: Vec<Vec<u8>> = Vec::new();
        let mut accepted: Vec<(u32, LogEntry)> = Vec::new();
        let mut outcome = LogsPushOutcome::default();
        let mut created = Vec::new();
        for ps in streams {
            let id = match head.lookup(&ps.labels) {
                Some(id) => id,
                None => {
                    let limit = limits.max_global_streams_per_user;
                    if limit > 0 && head.num_streams() >= limit {
                        outcome.rejected.push(LogRejection {
                            reason: DiscardReason::StreamLimit,
                            lines: ps.entries.len(),
                            bytes: ps.entries.iter().map(|e| e.line.len()).sum(),
                            detail: format!(
                                "maximum active stream limit exceeded when trying to create stream (limit: {limit}); \
                                 existing streams are still accepted"
                            ),
                            labels: ps.labels,
                        });
                        continue;
                    }
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    records.push(record::encode_stream(id, &ps.labels));
                    head.create(id, ps.labels.clone());
                    created.push(id);
                    id
                }
            };
            let Some(stream) = head.get(id) else { continue };
            let mut newest = stream.lock().max_ts;
            let mut behind = LogRejection {
                reason: DiscardReason::TooFarBehind,
                labels: ps.labels,
                lines: 0,
                bytes: 0,
                detail: String::new(),
            };
            for e in ps.entries {
                let oldest = newest.saturating_sub(self.ooo_window_ns);
                if newest != i64::MIN && e.ts_ns < oldest {
                    if behind.lines == 0 {
                        behind.detail = format!(
                            "entry at {} is too far behind: the oldest acceptable timestamp is {oldest} \
                             (the stream's newest line minus the out-of-order window of {}s)",
                            e.ts_ns,
                            self.ooo_window_ns / 1_000_000_000
                        );
                    }
                    behind.lines += 1;
                    behind.bytes += e.line.len();
                    continue;
                }
                newest = newest.max(e.ts_ns);
                accepted.push((id, e));
            }
            if behind.lines > 0 {
                outcome.rejected.push(behind);
            }
        }
        if accepted.is_empty() && records.is_empty() {
            return Ok(outcome);
        }
        if !accepted.is_empty() {
            records.push(record::encode_entries(
                accepted.iter().map(|(id, e)| (*id, e)),
            ));
        }
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        if let Err(e) = self.wal.append(&refs) {
            // Nothing was acknowledged: streams created for this push have
            // no record in the WAL, so a later push must create them again.
            for id in created {
                head.remove(id);
            }
            return Err(wal_health::refusal(e));
        }
        outcome.accepted = accepted.len();
        for (id, e) in accepted {
            if let Some(stream) = head.get(id) {
                head.add_line(e.line.len());
                stream.lock().append(e);
            }
        }
        Ok(outcome)
    }

    /// True when the current head is at least `max_bytes` of lines or
    /// `max_age` old (and not empty).
    pub(crate) fn should_cut(&self, max_age: Duration, max_bytes: usize) -> bool {
        let heads = self.heads.read();
        let head = heads.current();
        let (bytes, age) = head.size_and_age();
        !head.is_empty() && (bytes >= max_bytes || age >= max_age)
    }

    /// Cuts the current head (if it has lines) and uploads every head
    /// waiting for upload, oldest first. On an upload error the head stays
    /// queryable and in the WAL; the next cut retries it.
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
                write_log_block(store, &self.tenant, head.to_block_streams(), source)
            })
            .await?;
            self.heads.write().uploaded_first();
            self.wal.remove_segments_before(next_segment).map_err(|e| {
                IngesterError::Wal(format!("removing uploaded logs WAL segments: {e}"))
            })?;
            uploaded.push(meta);
        }
        Ok(uploaded)
    }

    /// Swaps in an empty head and starts a new WAL segment (streams are
    /// re-created, with new IDs, as lines arrive).
    fn cut_head(&self) -> Result<(), IngesterError> {
        let _guard = self.append.lock();
        if self.heads.read().current().is_empty() {
            return Ok(());
        }
        let next_segment = self
            .wal
            .cut_segment()
            .map_err(|e| IngesterError::Wal(wal_health::describe(&e)))?;
        self.heads.write().cut(LogsHead::new(), next_segment);
        Ok(())
    }

    /// Forces the tenant's logs WAL to disk (graceful shutdown).
    pub(crate) fn sync_wal(&self) -> Result<(), IngesterError> {
        self.wal
            .sync()
            .map_err(|e| IngesterError::Wal(format!("syncing the logs WAL: {e}")))
    }

    /// Forgets uploaded heads older than `retain`.
    pub(crate) fn expire_uploaded(&self, retain: Duration) {
        self.heads.write().expire(retain);
    }

    /// Matching streams and lines from every head.
    pub(crate) fn select(&self, sel: &LogSelect) -> Vec<StreamEntries> {
        let heads = self.heads.read().all();
        common::logs::merge_streams(heads.iter().map(|h| h.select(sel)).collect())
    }

    /// Label sets of matching streams from every head.
    pub(crate) fn streams(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .heads
            .read()
            .all()
            .iter()
            .flat_map(|h| h.stream_labels(matchers, start_ns, end_ns))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Active streams in the current head and the bytes all heads hold.
    pub(crate) fn gauges(&self) -> (usize, usize) {
        let heads = self.heads.read();
        let memory = heads.all().iter().map(|h| h.memory_bytes()).sum();
        (heads.current().num_streams(), memory)
    }
}
