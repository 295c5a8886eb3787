//! `compactor:` in the main config.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the compactor plans, paces and shares its work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactorConfig {
    /// Time ranges blocks are compacted into, e.g. `[2h, 12h, 24h]`. A block
    /// joins the largest complete range window it fits in.
    #[serde(with = "humantime_serde_vec")]
    pub block_ranges: Vec<Duration>,
    /// Pause between compaction passes.
    #[serde(with = "humantime_serde")]
    pub compaction_interval: Duration,
    /// How long a block marked for deletion stays readable before it is
    /// deleted (queriers that listed it keep working meanwhile). Partial
    /// uploads older than this are deleted too.
    #[serde(with = "humantime_serde")]
    pub deletion_delay: Duration,
    /// Pause between cleanup passes (deletions and bucket index updates)
    /// run on their own between compactions.
    #[serde(with = "humantime_serde")]
    pub cleanup_interval: Duration,
    /// Tenants compacted at the same time.
    pub compaction_concurrency: usize,
    /// A range window is compacted only once its end is this far in the
    /// past (Mimir's `consistency_delay`): late uploads get a chance to land.
    #[serde(with = "humantime_serde")]
    pub consistency_delay: Duration,
    /// Which tenants this replica compacts.
    pub sharding: ShardingConfig,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        Self {
            block_ranges: [2, 12, 24].map(|h| Duration::from_secs(h * 3600)).to_vec(),
            compaction_interval: Duration::from_secs(3600),
            deletion_delay: Duration::from_secs(12 * 3600),
            cleanup_interval: Duration::from_secs(15 * 60),
            compaction_concurrency: 1,
            consistency_delay: Duration::from_secs(10 * 60),
            sharding: ShardingConfig::default(),
        }
    }
}

impl CompactorConfig {
    /// Rejects settings that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.block_ranges.is_empty() || self.block_ranges.iter().any(Duration::is_zero) {
            return Err("compactor.block_ranges must list at least one non-zero range".into());
        }
        if self.compaction_interval.is_zero() || self.cleanup_interval.is_zero() {
            return Err(
                "compactor.compaction_interval and compactor.cleanup_interval must be non-zero"
                    .into(),
            );
        }
        if self.compaction_concurrency == 0 {
            return Err("compactor.compaction_concurrency must be at least 1".into());
        }
        if !self.sharding.instances.is_empty()
            && !self.sharding.instances.contains(&self.sharding.instance_id)
        {
            return Err(format!(
                "compactor.sharding.instance_id {:?} is not in compactor.sharding.instances",
                self.sharding.instance_id
            ));
        }
        Ok(())
    }
}

/// Tenant assignment across compactor replicas: every replica has the same
/// `instances` list and its own `instance_id`; a tenant belongs to exactly
/// one of them (rendezvous hashing, so no coordination is needed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShardingConfig {
    /// This replica's ID.
    pub instance_id: String,
    /// Every compactor replica's ID; empty = this replica owns all tenants.
    pub instances: Vec<String>,
}

impl Default for ShardingConfig {
    fn default() -> Self {
        Self {
            instance_id: "compactor-0".into(),
            instances: Vec::new(),
        }
    }
}

/// `humantime_serde` for a list of durations (`[2h, 12h, 24h]`).
mod humantime_serde_vec {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Item(#[serde(with = "humantime_serde")] Duration);

    pub(super) fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        v.iter().map(|d| Item(*d)).collect::<Vec<_>>().serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Ok(Vec::<Item>::deserialize(d)?
            .into_iter()
            .map(|i| i.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_ranges_and_defaults() {
        let cfg: CompactorConfig =
            serde_json::from_value(serde_json::json!({"block_ranges": ["1m", "2h"]})).unwrap();
        assert_eq!(
            cfg.block_ranges,
            [Duration::from_secs(60), Duration::from_secs(7200)]
        );
        assert_eq!(cfg.deletion_delay, Duration::from_secs(12 * 3600));
        cfg.validate().unwrap();
        let bad = CompactorConfig {
            block_ranges: vec![],
            ..CompactorConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("block_ranges"));
    }
}
