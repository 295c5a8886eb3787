//! The compactor's work on a tenant's blocks of one signal: one pass marks
//! expired blocks (retention) and leftovers of an interrupted compaction
//! (sources already covered by a compacted block), merges planned windows
//! with the signal's [`Merger`], then cleans up (deletes blocks whose mark
//! is past `deletion_delay`, removes abandoned partial uploads) and writes
//! the signal's bucket index.
//!
//! Crash safety: a compacted block is uploaded completely (`meta.json`
//! last) before its sources are marked, and readers skip blocks covered by
//! another block's sources, so at every point either the sources or the
//! compacted block is counted, never both and never neither.

mod no_compact;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use common::block::{
    BUCKET_INDEX_VERSION, BlockCompaction, BlockError, BlockMeta, BlockObjects, BucketIndex,
    DeletionMark, RetryPolicy, Signal, complete_blocks, deletion_marks, read_bucket_index,
    scan_blocks, split_covered, write_bucket_index, write_deletion_mark,
};
use common::tenant::TenantId;
use object_store::ObjectStore;
use ulid::Ulid;

use self::no_compact::{NO_COMPACT_MARK_FILE, mark_no_compact};
use crate::deletion::{META_FILE, delete_block_files};
use crate::planner::{self, Span};
use crate::{CompactorError, TenantReport, retention};

/// A merged block and how many items (samples, lines, spans) went in and
/// came out once duplicates were dropped.
#[derive(Debug, Clone)]
pub(crate) struct Merged {
    pub(crate) meta: BlockMeta,
    pub(crate) items_in: u64,
    pub(crate) items_out: u64,
}

/// What differs between signals in a compaction: how blocks are merged.
#[async_trait]
pub(crate) trait Merger: Send + Sync {
    /// Merges `sources` of `tenant` into one new, complete block with
    /// `compaction` as its history, written as `writer`.
    async fn merge(
        &self,
        store: &Arc<dyn ObjectStore>,
        tenant: &TenantId,
        sources: &[BlockMeta],
        compaction: BlockCompaction,
        writer: &str,
    ) -> Result<Merged, CompactorError>;
}

/// What the pass needs from the compactor: which signal, where, how and
/// as whom.
pub(crate) struct SignalPass<'a> {
    pub(crate) signal: Signal,
    pub(crate) merger: &'a dyn Merger,
    pub(crate) store: &'a Arc<dyn ObjectStore>,
    pub(crate) cfg: &'a crate::CompactorConfig,
    pub(crate) retention: std::time::Duration,
    pub(crate) now_ms: i64,
}

/// A tenant's blocks as one scan found them.
struct Bucket {
    /// When the listing started, in milliseconds (what the bucket index
    /// built from it calls `updated_at`).
    scanned_at_ms: i64,
    dirs: BTreeMap<Ulid, BlockObjects>,
    metas: Vec<BlockMeta>,
    marks: HashMap<Ulid, DeletionMark>,
    /// Whether the signal had a bucket index before this scan.
    indexed: bool,
}

impl SignalPass<'_> {
    /// Retention, duplicate marking and compaction of `tenant`'s blocks.
    pub(crate) async fn compact(
        &self,
        tenant: &TenantId,
        report: &mut TenantReport,
    ) -> Result<(), CompactorError> {
        let Bucket {
            dirs, metas, marks, ..
        } = self.scan(tenant).await?;
        let live: Vec<BlockMeta> = metas
            .into_iter()
            .filter(|m| !marks.contains_key(&m.ulid))
            .collect();

        let expired: HashSet<Ulid> = retention::expired(&spans(&live), self.retention, self.now_ms)
            .into_iter()
            .filter_map(|i| live.get(i).map(|m| m.ulid))
            .collect();
        let (expired, live): (Vec<BlockMeta>, Vec<BlockMeta>) =
            live.into_iter().partition(|m| expired.contains(&m.ulid));
        self.mark(tenant, &expired).await?;
        report.marked_retention += expired.len();

        let (live, covered) = split_covered(live);
        self.mark(tenant, &covered).await?;
        report.marked_duplicate += covered.len();
        let live: Vec<BlockMeta> = live
            .into_iter()
            .filter(|m| {
                !dirs
                    .get(&m.ulid)
                    .is_some_and(|d| d.has(NO_COMPACT_MARK_FILE))
            })
            .collect();

        let ranges: Vec<i64> = self
            .cfg
            .block_ranges
            .iter()
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .collect();
        let complete_before = self.now_ms.saturating_sub(
            i64::try_from(self.cfg.consistency_delay.as_millis()).unwrap_or(i64::MAX),
        );
        for job in planner::plan(&spans(&live), &ranges, complete_before) {
            let sources: Vec<BlockMeta> = job
                .blocks
                .iter()
                .filter_map(|&i| live.get(i).cloned())
                .collect();
            let merged = match self.merge(tenant, &sources).await {
                Ok(done) => done,
                Err(e) => {
                    self.exclude_if_damaged(tenant, &sources, &e, report)
                        .await?;
                    return Err(e);
                }
            };
            tracing::info!(
                %tenant, signal = %self.signal, block = %merged.meta.ulid, sources = sources.len(),
                window_start = job.start, window_end = job.end, items_in = merged.items_in,
                items_out = merged.items_out, "compacted blocks"
            );
            // The compacted block is complete: from here on readers skip
            // the sources, so marking them cannot make anything vanish.
            self.mark(tenant, &sources).await?;
            report.compactions += 1;
            report.marked_compacted += sources.len();
            report.merged_samples += merged.items_out;
        }
        Ok(())
    }

    /// Deletes blocks whose mark is older than `deletion_delay`, partial
    /// uploads older than it, and writes the bucket index.
    pub(crate) async fn cleanup(
        &self,
        tenant: &TenantId,
        report: &mut TenantReport,
    ) -> Result<(), CompactorError> {
        let delay_ms = i64::try_from(self.cfg.deletion_delay.as_millis()).unwrap_or(i64::MAX);
        let cutoff_ms = self.now_ms.saturating_sub(delay_ms);
        let Bucket {
            scanned_at_ms,
            dirs,
            metas,
            marks,
            indexed,
        } = self.scan(tenant).await?;
        if dirs.is_empty() && !indexed {
            // The tenant never wrote this signal: no index to keep.
            return Ok(());
        }
        let mut deleted = BTreeSet::new();
        for (ulid, dir) in dirs {
            let doomed = match marks.get(&ulid) {
                Some(mark) => mark.deletion_time.saturating_mul(1000) <= cutoff_ms,
                // No meta.json and no mark: an upload that never finished.
                None => !dir.has(META_FILE) && ulid_ms(ulid) <= cutoff_ms,
            };
            if doomed {
                delete_block_files(self.store.as_ref(), dir.files).await?;
                tracing::info!(%tenant, signal = %self.signal, block = %ulid, "deleted block");
                report.deleted += 1;
                deleted.insert(ulid);
            }
        }
        let blocks = metas
            .into_iter()
            .filter(|m| !deleted.contains(&m.ulid))
            .collect();
        self.write_index(tenant, blocks, &marks, scanned_at_ms)
            .await
    }

    /// Writes the bucket index: `blocks` as they are now, their marks, and
    /// when the listing they come from started.
    async fn write_index(
        &self,
        tenant: &TenantId,
        blocks: Vec<BlockMeta>,
        marks: &HashMap<Ulid, DeletionMark>,
        scanned_at_ms: i64,
    ) -> Result<(), CompactorError> {
        let index = BucketIndex {
            version: BUCKET_INDEX_VERSION,
            block_deletion_marks: blocks
                .iter()
                .filter_map(|m| marks.get(&m.ulid).cloned())
                .collect(),
            blocks,
            updated_at: scanned_at_ms.div_euclid(1000),
        };
        write_bucket_index(self.store.as_ref(), tenant, self.signal, &index).await?;
        Ok(())
    }

    /// One listing of the tenant's blocks: directories, complete blocks
    /// (`meta.json`s read only when the last bucket index lacks them) and
    /// deletion marks.
    async fn scan(&self, tenant: &TenantId) -> Result<Bucket, CompactorError> {
        let store = self.store.as_ref();
        let retry = RetryPolicy::default();
        let previous = match read_bucket_index(store, tenant, self.signal).await {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "ignoring unreadable bucket index");
                None
            }
        };
        let indexed = previous.is_some();
        let (known, known_marks) = previous.map_or((Vec::new(), Vec::new()), |i| {
            (i.blocks, i.block_deletion_marks)
        });
        let scanned_at_ms = common::time::now_ms();
        let dirs = scan_blocks(store, tenant, self.signal, &retry).await?;
        let metas = complete_blocks(store, tenant, self.signal, &dirs, &known, &retry).await?;
        let marks = deletion_marks(store, tenant, self.signal, &dirs, &known_marks).await?;
        Ok(Bucket {
            scanned_at_ms,
            dirs,
            metas,
            marks,
            indexed,
        })
    }

    /// When `error` says a source block is damaged, marks that block
    /// no-compact so the next passes plan without it.
    async fn exclude_if_damaged(
        &self,
        tenant: &TenantId,
        sources: &[BlockMeta],
        error: &CompactorError,
        report: &mut TenantReport,
    ) -> Result<(), CompactorError> {
        let CompactorError::Block(BlockError::Corrupt { object, reason }) = error else {
            return Ok(());
        };
        let damaged = sources.iter().find(|m| {
            let dir = format!("{}/", self.signal.block_dir(tenant, m.ulid));
            object.starts_with(&dir)
        });
        if let Some(meta) = damaged {
            tracing::error!(%tenant, block = %meta.ulid, %object, %reason, "damaged block excluded from compaction");
            let details = format!("{object}: {reason}");
            mark_no_compact(
                self.store.as_ref(),
                tenant,
                self.signal,
                meta.ulid,
                self.now_ms,
                &details,
            )
            .await?;
            report.marked_no_compact += 1;
        }
        Ok(())
    }

    /// Marks `blocks` for deletion now.
    async fn mark(&self, tenant: &TenantId, blocks: &[BlockMeta]) -> Result<(), CompactorError> {
        for meta in blocks {
            let mark = DeletionMark::new(meta.ulid, self.now_ms);
            write_deletion_mark(self.store.as_ref(), tenant, self.signal, &mark).await?;
        }
        Ok(())
    }

    /// Merges `sources` into one new block: one level above the highest
    /// source, holding the union of their sources.
    async fn merge(
        &self,
        tenant: &TenantId,
        sources: &[BlockMeta],
    ) -> Result<Merged, CompactorError> {
        let compaction = BlockCompaction {
            level: sources
                .iter()
                .map(|m| m.compaction.level)
                .max()
                .unwrap_or(1)
                .saturating_add(1),
            sources: sources
                .iter()
                .flat_map(|m| {
                    if m.compaction.sources.is_empty() {
                        vec![m.ulid]
                    } else {
                        m.compaction.sources.clone()
                    }
                })
                .collect::<BTreeSet<Ulid>>()
                .into_iter()
                .collect(),
        };
        self.merger
            .merge(
                self.store,
                tenant,
                sources,
                compaction,
                &self.cfg.sharding.instance_id,
            )
            .await
    }
}

/// The time spans of `metas`, for the planner and retention.
fn spans(metas: &[BlockMeta]) -> Vec<Span> {
    metas
        .iter()
        .map(|m| Span {
            min_time: m.min_time,
            max_time: m.max_time,
        })
        .collect()
}

/// When block `ulid` was created (its ULID's timestamp), in milliseconds.
fn ulid_ms(ulid: Ulid) -> i64 {
    i64::try_from(ulid.timestamp_ms()).unwrap_or(i64::MAX)
}
