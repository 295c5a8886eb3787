//! The per-tenant bucket index of each signal (metrics:
//! `<tenant>/bucket-index.json.gz`, as in Mimir; logs and traces:
//! `<tenant>/<signal>/bucket-index.json.gz`): the tenant's blocks of that
//! signal and their deletion marks in one gzipped JSON object,
//! written by the compactor after every pass so queriers (and rulers) read
//! one small object instead of listing the bucket and fetching every
//! `meta.json`. Readers check `updated_at` and fall back to listing when
//! the index is missing or stale.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::{BlockError, BlockMeta, DeletionMark, RetryPolicy, Signal, corrupt, get_all};
use crate::tenant::TenantId;

/// The bucket index format version.
pub const BUCKET_INDEX_VERSION: u32 = 1;

/// Largest decompressed bucket index accepted (anything bigger is damage).
const MAX_INDEX_BYTES: u64 = 256 << 20;

/// A tenant's bucket index.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BucketIndex {
    /// Format version (1).
    pub version: u32,
    /// Every complete block of the signal (those with a `meta.json`), sorted by
    /// `min_time`, including marked ones.
    pub blocks: Vec<BlockMeta>,
    /// The deletion marks of blocks still in the bucket.
    pub block_deletion_marks: Vec<DeletionMark>,
    /// When the index was written, in seconds since the Unix epoch.
    pub updated_at: i64,
}

/// Uploads `index` for `tenant`'s `signal` (one PUT: readers see the old
/// or the new).
pub async fn write_bucket_index(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    index: &BucketIndex,
) -> Result<(), BlockError> {
    let json = serde_json::to_vec(index)
        .map_err(|e| BlockError::InvalidInput(format!("encoding bucket index: {e}")))?;
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    let gz = gz
        .write_all(&json)
        .and_then(|()| gz.finish())
        .map_err(|e| BlockError::InvalidInput(format!("compressing bucket index: {e}")))?;
    store
        .put(&signal.bucket_index_path(tenant), PutPayload::from(gz))
        .await?;
    Ok(())
}

/// `tenant`'s bucket index of `signal`, `None` when there is none yet.
pub async fn read_bucket_index(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
) -> Result<Option<BucketIndex>, BlockError> {
    read_bucket_index_with_retry(store, tenant, signal, &RetryPolicy::default()).await
}

/// [`read_bucket_index`], retrying transient failures per `retry`: a
/// querier must not mistake a failed read for a missing index.
pub async fn read_bucket_index_with_retry(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    signal: Signal,
    retry: &RetryPolicy,
) -> Result<Option<BucketIndex>, BlockError> {
    let path = signal.bucket_index_path(tenant);
    let bytes = match retry.run(&path, || get_all(store, &path)).await {
        Ok(b) => b,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut json = Vec::new();
    GzDecoder::new(bytes.as_ref())
        .take(MAX_INDEX_BYTES)
        .read_to_end(&mut json)
        .map_err(|e| corrupt(&path, format!("not gzip: {e}")))?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|e| corrupt(&path, format!("bucket index: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use ulid::Ulid;

    use super::*;

    #[tokio::test]
    async fn round_trips_and_reports_absence_and_damage() {
        let store = Arc::new(InMemory::new());
        let tenant = TenantId::parse("t").unwrap();
        assert_eq!(
            read_bucket_index(store.as_ref(), &tenant, Signal::Metrics)
                .await
                .unwrap(),
            None
        );
        let index = BucketIndex {
            version: BUCKET_INDEX_VERSION,
            blocks: Vec::new(),
            block_deletion_marks: vec![DeletionMark::new(Ulid(7), 5_000)],
            updated_at: 42,
        };
        write_bucket_index(store.as_ref(), &tenant, Signal::Metrics, &index)
            .await
            .unwrap();
        let back = read_bucket_index(store.as_ref(), &tenant, Signal::Metrics)
            .await
            .unwrap();
        assert_eq!(back, Some(index));
        store
            .put(
                &Signal::Metrics.bucket_index_path(&tenant),
                PutPayload::from_static(b"nope"),
            )
            .await
            .unwrap();
        let err = read_bucket_index(store.as_ref(), &tenant, Signal::Metrics)
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::Corrupt { .. }), "{err}");
    }
}
