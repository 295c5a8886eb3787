//! Deleting a block so that no reader ever sees half of it.
//!
//! A block exists while its `meta.json` does, so that goes first: from then
//! on the block is an invisible partial directory. The remaining files go
//! next and the deletion mark last, so a deletion cut short (crash, storage
//! error) leaves a partial directory that still carries its mark and is
//! finished by the next cleanup. Nothing here is specific to metrics: any
//! signal whose blocks are directories with a `meta.json` and a
//! `deletion-mark.json` uses it.

use common::block::DELETION_MARK_FILE;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// The name of the object that makes a block exist.
pub const META_FILE: &str = "meta.json";

/// Deletes `files` (a block directory's objects) in the safe order:
/// `meta.json`, then the rest, then `deletion-mark.json`. Objects already
/// gone count as deleted.
pub async fn delete_block_files(
    store: &dyn ObjectStore,
    mut files: Vec<Path>,
) -> Result<(), object_store::Error> {
    files.sort_by_key(|p| match p.filename() {
        Some(META_FILE) => 0,
        Some(DELETION_MARK_FILE) => 2,
        _ => 1,
    });
    for path in files {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::block::InstrumentedStore;
    use futures::TryStreamExt;
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn meta_goes_first_and_the_mark_last() {
        let store = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
        let names = ["chunks/000001", "deletion-mark.json", "index", "meta.json"];
        let files: Vec<Path> = names.iter().map(|n| Path::from(format!("b/{n}"))).collect();
        for f in &files {
            store.put(f, PutPayload::from_static(b"x")).await.unwrap();
        }
        // The second delete (a data file) fails: meta.json is gone, the mark stays.
        store.fail_deletes(0, 1, "index");
        let err = delete_block_files(store.as_ref(), files.clone()).await;
        assert!(err.is_err());
        let left: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        assert!(!left.contains(&"b/meta.json".to_string()), "{left:?}");
        assert!(
            left.contains(&"b/deletion-mark.json".to_string()),
            "{left:?}"
        );
        delete_block_files(store.as_ref(), files).await.unwrap();
        assert_eq!(
            store
                .list(None)
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .len(),
            0
        );
    }
}
