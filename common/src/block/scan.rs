//! One recursive listing of a tenant's block directories: which objects
//! each holds, so callers learn in one paged LIST which blocks are complete
//! (`meta.json`), marked for deletion, partial or otherwise marked, without
//! a GET per block. The compactor plans and cleans up from it; a querier
//! without a fresh bucket index learns the deletion marks from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use ulid::Ulid;

use super::{
    BlockError, BlockMeta, DELETION_MARK_FILE, DeletionMark, RetryPolicy, Signal, metas_of,
    read_deletion_mark,
};
use crate::tenant::TenantId;

/// Deletion marks read at once.
const MARK_READ_CONCURRENCY: usize = 16;

/// The objects of one block directory, as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockObjects {
    /// Every object under the directory.
    pub files: Vec<Path>,
    /// Names of the objects directly in the directory.
    top_level: BTreeSet<String>,
}

impl BlockObjects {
    /// True when the directory directly holds an object named `name`
    /// (`meta.json`, `deletion-mark.json`, ...).
    pub fn has(&self, name: &str) -> bool {
        self.top_level.contains(name)
    }
}

/// Every block directory of `tenant`'s `signal` with its objects.
pub async fn scan_blocks(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    retry: &RetryPolicy,
) -> Result<BTreeMap<Ulid, BlockObjects>, BlockError> {
    let prefix = signal.blocks_prefix(tenant);
    let depth = prefix.parts().count();
    let objects: Vec<object_store::ObjectMeta> = retry
        .run(&prefix, || store.list(Some(&prefix)).try_collect())
        .await?;
    let mut dirs: BTreeMap<Ulid, BlockObjects> = BTreeMap::new();
    for object in objects {
        let Some(ulid) = object
            .location
            .parts()
            .nth(depth)
            .and_then(|p| Ulid::from_string(p.as_ref()).ok())
        else {
            continue;
        };
        let dir = dirs.entry(ulid).or_default();
        if object.location.parts().count() == depth + 2
            && let Some(name) = object.location.filename()
        {
            dir.top_level.insert(name.to_string());
        }
        dir.files.push(object.location);
    }
    Ok(dirs)
}

/// The metadata of the complete blocks (those with `meta.json`) of a scan,
/// sorted by `min_time`; `known` saves `meta.json` reads.
pub async fn complete_blocks(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    dirs: &BTreeMap<Ulid, BlockObjects>,
    known: &[BlockMeta],
    retry: &RetryPolicy,
) -> Result<Vec<BlockMeta>, BlockError> {
    let complete = dirs
        .iter()
        .filter(|(_, d)| d.has("meta.json"))
        .map(|(u, _)| *u);
    metas_of(store, &signal.blocks_prefix(tenant), complete, known, retry).await
}

/// The deletion marks of the scanned blocks that have one; `known` marks
/// (immutable once written) are not read again. A damaged mark is logged
/// and treated as absent.
pub async fn deletion_marks(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    dirs: &BTreeMap<Ulid, BlockObjects>,
    known: &[DeletionMark],
) -> Result<HashMap<Ulid, DeletionMark>, BlockError> {
    let known: HashMap<Ulid, &DeletionMark> = known.iter().map(|m| (m.id, m)).collect();
    let mut marks = HashMap::new();
    let mut unread = Vec::new();
    for ulid in dirs
        .iter()
        .filter(|(_, d)| d.has(DELETION_MARK_FILE))
        .map(|(u, _)| u)
    {
        match known.get(ulid) {
            Some(m) => {
                marks.insert(*ulid, (*m).clone());
            }
            None => unread.push(*ulid),
        }
    }
    let reads: Vec<_> = unread
        .into_iter()
        .map(|ulid| async move {
            match read_deletion_mark(store, tenant, signal, ulid).await {
                Err(e @ BlockError::Corrupt { .. }) => {
                    tracing::warn!(%tenant, block = %ulid, error = %e, "ignoring damaged deletion mark");
                    Ok(None)
                }
                other => other,
            }
        })
        .collect();
    let read: Vec<Option<DeletionMark>> = futures::stream::iter(reads)
        .buffer_unordered(MARK_READ_CONCURRENCY)
        .try_collect()
        .await?;
    marks.extend(read.into_iter().flatten().map(|m| (m.id, m)));
    Ok(marks)
}
