//! No-compact marks: `<tenant>/<signal>/blocks/<ULID>/no-compact-mark.json`,
//! in Mimir's shape. A block whose data cannot be read (damaged chunk or
//! index) would fail every compaction it is planned into and stall the
//! tenant; marked, it is left out of planning (still read by queriers,
//! still subject to retention) until an operator removes it or the mark.

use common::block::{BlockError, Signal};
use common::tenant::TenantId;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use ulid::Ulid;

/// The object name of a no-compact mark inside a block's directory.
pub const NO_COMPACT_MARK_FILE: &str = "no-compact-mark.json";

/// Why and since when a block is excluded from compaction.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
struct NoCompactMark<'a> {
    id: Ulid,
    version: u32,
    /// Seconds since the Unix epoch.
    no_compact_time: i64,
    reason: &'a str,
    details: &'a str,
}

/// Marks block `ulid` of `tenant` as not to be compacted because its data
/// is damaged; `details` says what was found.
pub async fn mark_no_compact(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    ulid: Ulid,
    now_ms: i64,
    details: &str,
) -> Result<(), BlockError> {
    let mark = NoCompactMark {
        id: ulid,
        version: 1,
        no_compact_time: now_ms.div_euclid(1000),
        reason: "block-corrupted",
        details,
    };
    let json = serde_json::to_vec(&mark)
        .map_err(|e| BlockError::InvalidInput(format!("encoding no-compact mark: {e}")))?;
    let path: Path = signal.block_dir(tenant, ulid).join(NO_COMPACT_MARK_FILE);
    store.put(&path, PutPayload::from(json)).await?;
    Ok(())
}
