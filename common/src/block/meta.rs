//! `meta.json`: the small document that makes a block exist.
//!
//! It has Prometheus's shape (so `promtool tsdb`-style tooling and people who
//! know Prometheus/Mimir blocks can read it) plus a `cairn` object naming the
//! ingester that wrote the block. It is uploaded last: a block directory
//! without it is an incomplete upload and invisible to readers.

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::BlockError;
use ulid::Ulid;

/// The `meta.json` format version (Prometheus's, which Cairn follows).
pub(crate) const META_VERSION: u32 = 1;

/// A block's `meta.json`.
///
/// Times are milliseconds; as in Prometheus, `min_time` is inclusive and
/// `max_time` exclusive (one past the newest sample), so a block covers
/// `[min_time, max_time)`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// The block's ID, also its directory name.
    pub ulid: Ulid,
    /// Oldest sample's timestamp (inclusive).
    pub min_time: i64,
    /// Newest sample's timestamp plus one (exclusive).
    pub max_time: i64,
    /// Counts of what the block holds.
    pub stats: BlockStats,
    /// Where the block came from in compaction.
    pub compaction: BlockCompaction,
    /// `meta.json` format version (1).
    pub version: u32,
    /// Cairn's own fields.
    #[serde(default)]
    pub cairn: CairnMeta,
}

impl BlockMeta {
    /// The metadata of a block an ingester just cut (level 1, its own
    /// only source), written by `source`.
    pub fn level1(
        ulid: Ulid,
        min_time: i64,
        max_time: i64,
        stats: BlockStats,
        source: &str,
    ) -> Self {
        Self {
            ulid,
            min_time,
            max_time,
            stats,
            compaction: BlockCompaction {
                level: 1,
                sources: vec![ulid],
            },
            version: META_VERSION,
            cairn: CairnMeta {
                source: source.to_string(),
            },
        }
    }

    /// Uploads this as `dir/meta.json`: the write that makes a block exist,
    /// so it comes after every other file of the block.
    pub async fn put(&self, store: &dyn ObjectStore, dir: &Path) -> Result<(), BlockError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| BlockError::InvalidInput(format!("encoding meta.json: {e}")))?;
        store
            .put(&dir.clone().join("meta.json"), PutPayload::from(json))
            .await?;
        Ok(())
    }
}

/// Counts of what a block holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    /// Samples in all chunks.
    pub num_samples: u64,
    /// Series in the index.
    pub num_series: u64,
    /// Chunks in the segment files.
    pub num_chunks: u64,
}

/// A block's compaction history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockCompaction {
    /// 1 for a block cut by an ingester, higher once compacted.
    pub level: u32,
    /// The level-1 blocks whose data this block holds.
    pub sources: Vec<Ulid>,
}

/// Cairn's additions to `meta.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CairnMeta {
    /// ID of the ingester (or compactor) that wrote the block.
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_json_has_prometheus_shape() {
        let ulid = Ulid::from_string("01HZX3J9Q5V2W7K8M4N6P0R1ST").unwrap();
        let meta = BlockMeta {
            ulid,
            min_time: 1,
            max_time: 2,
            stats: BlockStats {
                num_samples: 3,
                num_series: 4,
                num_chunks: 5,
            },
            compaction: BlockCompaction {
                level: 1,
                sources: vec![ulid],
            },
            version: META_VERSION,
            cairn: CairnMeta {
                source: "ingester-0".into(),
            },
        };
        let json: serde_json::Value = serde_json::to_value(&meta).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "ulid": "01HZX3J9Q5V2W7K8M4N6P0R1ST",
                "minTime": 1,
                "maxTime": 2,
                "stats": {"numSamples": 3, "numSeries": 4, "numChunks": 5},
                "compaction": {"level": 1, "sources": ["01HZX3J9Q5V2W7K8M4N6P0R1ST"]},
                "version": 1,
                "cairn": {"source": "ingester-0"}
            })
        );
        assert_eq!(serde_json::from_value::<BlockMeta>(json).unwrap(), meta);
    }

    #[test]
    fn prometheus_meta_without_cairn_fields_parses() {
        let json = r#"{"ulid":"01HZX3J9Q5V2W7K8M4N6P0R1ST","minTime":0,"maxTime":7200000,
            "stats":{"numSamples":10,"numSeries":1,"numChunks":1,"numTombstones":0},
            "compaction":{"level":1,"sources":["01HZX3J9Q5V2W7K8M4N6P0R1ST"]},"version":1}"#;
        let meta: BlockMeta = serde_json::from_str(json).unwrap();
        assert_eq!(meta.cairn, CairnMeta::default());
        assert_eq!(meta.max_time, 7_200_000);
    }
}
