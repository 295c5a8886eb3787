//! `ingester:` in the config file.

use std::path::PathBuf;
use std::time::Duration;

use common::wal::FsyncPolicy;
use serde::{Deserialize, Serialize};

/// Ingester settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngesterConfig {
    /// This ingester's ID: the `source` of the blocks it uploads and its ring identity.
    pub id: String,
    /// Where the per-tenant WAL directories live.
    pub wal_dir: PathBuf,
    /// How often the head is cut into a block and uploaded (Mimir: `block_ranges_period`).
    #[serde(with = "humantime_serde")]
    pub block_range: Duration,
    /// When to fsync the WAL: `always` (before acknowledging), `never`, or an interval like `1s`.
    /// Acknowledged samples survive a process crash in every mode; fsync guards against power loss.
    pub wal_fsync: FsyncPolicy,
    /// WAL segment file size in bytes.
    pub wal_segment_size: u64,
    /// How long a head stays queryable after its block was uploaded. Must
    /// exceed how long queriers cache the block list, or freshly uploaded
    /// data is briefly in neither place; queries of the last this-long are
    /// answered without the bucket (`querier.blocks.query_store_after`), so
    /// they survive a bucket outage.
    #[serde(with = "humantime_serde")]
    pub retain_uploaded_for: Duration,
    /// Upload attempts per cut before giving up until the next cut (data stays in the WAL).
    pub upload_attempts: u32,
    /// Exemplars kept in memory per series (a circular buffer; 0 disables exemplar storage).
    pub max_exemplars_per_series: usize,
    /// Series with exemplars kept per tenant; past it the longest-held series is evicted.
    pub max_exemplar_series_per_tenant: usize,
    /// Metric families whose metadata is kept per tenant; new families past it are dropped.
    pub max_metadata_per_tenant: usize,
    /// A tenant's logs head is cut into a block once it is this old (Loki's
    /// `max_chunk_age`). Half of it is the out-of-order window: a line older
    /// than its stream's newest minus `logs_block_max_age / 2` is refused
    /// (`too_far_behind`).
    #[serde(with = "humantime_serde")]
    pub logs_block_max_age: Duration,
    /// A tenant's logs head is cut into a block once it holds this many
    /// bytes of line text.
    pub logs_block_max_bytes: usize,
    /// A trace that got no new span for this long is complete and moves
    /// from the live traces into the head cut into the next trace block
    /// (Tempo's `trace_idle_period`).
    #[serde(with = "humantime_serde")]
    pub trace_idle_period: Duration,
    /// A tenant's traces head is cut into a block once its first complete
    /// trace is this old (Tempo's `max_block_duration`).
    #[serde(with = "humantime_serde")]
    pub traces_block_max_age: Duration,
    /// … or once it holds this many bytes of spans (Tempo's `max_block_bytes`).
    pub traces_block_max_bytes: usize,
    /// On a graceful shutdown, cut and upload every head (else only sync
    /// the WALs and replay them on the next start).
    pub flush_on_shutdown: bool,
    /// Pushes are refused with 503 while the process's resident memory is
    /// above this many bytes (0 = no limit), before the kernel would kill it.
    pub max_memory_bytes: u64,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        let wal = common::wal::WalOptions::default();
        Self {
            id: "ingester-1".to_string(),
            wal_dir: PathBuf::from("./data/wal"),
            block_range: Duration::from_secs(2 * 3600),
            wal_fsync: wal.fsync,
            wal_segment_size: wal.segment_size,
            upload_attempts: 5,
            retain_uploaded_for: Duration::from_secs(15 * 60),
            max_exemplars_per_series: 10,
            max_exemplar_series_per_tenant: 100_000,
            max_metadata_per_tenant: 10_000,
            logs_block_max_age: Duration::from_secs(2 * 3600),
            logs_block_max_bytes: 256 << 20,
            trace_idle_period: Duration::from_secs(10),
            traces_block_max_age: Duration::from_secs(30 * 60),
            traces_block_max_bytes: 256 << 20,
            flush_on_shutdown: true,
            max_memory_bytes: 0,
        }
    }
}

impl IngesterConfig {
    /// Checks values that would make the ingester misbehave.
    pub fn validate(&self) -> Result<(), String> {
        if self.block_range < Duration::from_secs(60) {
            return Err(format!(
                "ingester.block_range must be at least 1m, got {:?}",
                self.block_range
            ));
        }
        if self.logs_block_max_age < Duration::from_secs(1) || self.logs_block_max_bytes == 0 {
            return Err(
                "ingester.logs_block_max_age must be at least 1s and logs_block_max_bytes above 0"
                    .into(),
            );
        }
        if self.trace_idle_period.is_zero()
            || self.traces_block_max_age < Duration::from_secs(1)
            || self.traces_block_max_bytes == 0
        {
            return Err(
                "ingester.trace_idle_period must be above 0, traces_block_max_age at least 1s \
                 and traces_block_max_bytes above 0"
                    .into(),
            );
        }
        if self.id.is_empty() {
            return Err("ingester.id must not be empty".into());
        }
        Ok(())
    }
}
