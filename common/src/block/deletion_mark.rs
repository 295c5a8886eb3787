//! Deletion marks: `<tenant>/<signal>/blocks/<ULID>/deletion-mark.json`,
//! in Mimir's shape. A block is first marked and only deleted once the mark is
//! older than the compactor's `deletion_delay`, so a querier that listed the
//! block a moment ago can still read it.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::{BlockError, Signal, get_all};
use crate::tenant::TenantId;

/// The deletion mark format version (Mimir's).
const MARK_VERSION: u32 = 1;

/// The object name of a deletion mark inside a block's directory.
pub const DELETION_MARK_FILE: &str = "deletion-mark.json";

/// A block's deletion mark: which block, and since when it is doomed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeletionMark {
    /// The marked block.
    pub id: Ulid,
    /// When it was marked, in seconds since the Unix epoch.
    pub deletion_time: i64,
    /// Format version (1).
    pub version: u32,
}

impl DeletionMark {
    /// A mark for block `id` made at `now_ms` (milliseconds).
    pub fn new(id: Ulid, now_ms: i64) -> Self {
        Self {
            id,
            deletion_time: now_ms.div_euclid(1000),
            version: MARK_VERSION,
        }
    }
}

/// Where block `ulid`'s deletion mark lives.
pub fn deletion_mark_path(tenant: &TenantId, signal: Signal, ulid: Ulid) -> Path {
    signal.block_dir(tenant, ulid).join(DELETION_MARK_FILE)
}

/// Uploads `mark` for its block.
pub async fn write_deletion_mark(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    mark: &DeletionMark,
) -> Result<(), BlockError> {
    let json = serde_json::to_vec(mark)
        .map_err(|e| BlockError::InvalidInput(format!("encoding deletion mark: {e}")))?;
    store
        .put(
            &deletion_mark_path(tenant, signal, mark.id),
            PutPayload::from(json),
        )
        .await?;
    Ok(())
}

/// Block `ulid`'s deletion mark, `None` when it has none.
pub async fn read_deletion_mark(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    ulid: Ulid,
) -> Result<Option<DeletionMark>, BlockError> {
    let path = deletion_mark_path(tenant, signal, ulid);
    let bytes = match get_all(store, &path).await {
        Ok(b) => b,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| super::corrupt(&path, format!("deletion mark: {e}")))
}
