//! The ingester's own metrics, exported on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A `tenant` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantLabel {
    pub(crate) tenant: String,
}

/// A `tenant` and a `reason` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TenantReasonLabel {
    pub(crate) tenant: String,
    pub(crate) reason: &'static str,
}

/// Counters and gauges the ingester updates.
#[derive(Debug, Default)]
pub(crate) struct IngesterMetrics {
    pub(crate) appended_samples: Family<TenantLabel, Counter>,
    pub(crate) appended_histogram_samples: Family<TenantLabel, Counter>,
    pub(crate) active_series: Family<TenantLabel, Gauge>,
    pub(crate) wal_replayed_records: Counter,
    pub(crate) wal_corrupt_segments: Counter,
    pub(crate) wal_write_failures: Counter,
    pub(crate) wal_writable: Gauge,
    pub(crate) wal_replay_skipped_records: Family<TenantLabel, Counter>,
    pub(crate) blocks_uploaded: Family<TenantLabel, Counter>,
    pub(crate) block_upload_failures: Family<TenantLabel, Counter>,
    pub(crate) appended_exemplars: Family<TenantLabel, Counter>,
    pub(crate) dropped_exemplars: Family<TenantReasonLabel, Counter>,
    pub(crate) dropped_metadata: Family<TenantLabel, Counter>,
    pub(crate) appended_lines: Family<TenantLabel, Counter>,
    pub(crate) active_streams: Family<TenantLabel, Gauge>,
    pub(crate) logs_head_bytes: Family<TenantLabel, Gauge>,
    pub(crate) appended_spans: Family<TenantLabel, Counter>,
    pub(crate) live_traces: Family<TenantLabel, Gauge>,
    pub(crate) traces_bytes: Family<TenantLabel, Gauge>,
    pub(crate) memory_limited_pushes: Family<TenantLabel, Counter>,
}

impl IngesterMetrics {
    /// Registers every metric under `cairn_ingester_`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("cairn_ingester");
        r.register(
            "appended_samples",
            "Float samples appended to heads and the WAL",
            m.appended_samples.clone(),
        );
        r.register(
            "appended_histogram_samples",
            "Native histogram samples appended to heads and the WAL",
            m.appended_histogram_samples.clone(),
        );
        r.register(
            "active_series",
            "Series in the current head",
            m.active_series.clone(),
        );
        r.register(
            "wal_replayed_records",
            "WAL records replayed at start-up",
            m.wal_replayed_records.clone(),
        );
        r.register(
            "wal_corrupt_segments",
            "WAL segments whose tail was torn or corrupt at replay",
            m.wal_corrupt_segments.clone(),
        );
        r.register(
            "wal_write_failures",
            "Pushes refused because the WAL write failed",
            m.wal_write_failures.clone(),
        );
        r.register(
            "wal_writable",
            "1 while WAL writes succeed, 0 after one failed (a full disk) until a write or the /ready probe succeeds",
            m.wal_writable.clone(),
        );
        r.register(
            "wal_replay_skipped_records",
            "WAL records skipped at replay because they could not be decoded",
            m.wal_replay_skipped_records.clone(),
        );
        r.register(
            "blocks_uploaded",
            "Blocks uploaded to object storage",
            m.blocks_uploaded.clone(),
        );
        r.register(
            "block_upload_failures",
            "Cuts whose block upload failed after retries",
            m.block_upload_failures.clone(),
        );
        r.register(
            "appended_exemplars",
            "Exemplars stored in memory",
            m.appended_exemplars.clone(),
        );
        r.register(
            "dropped_exemplars",
            "Exemplars dropped as duplicate or out of order",
            m.dropped_exemplars.clone(),
        );
        r.register(
            "dropped_metadata",
            "Metadata entries refused because the tenant holds max_metadata_per_tenant families",
            m.dropped_metadata.clone(),
        );
        r.register(
            "appended_lines",
            "Log lines appended to heads and the logs WAL",
            m.appended_lines.clone(),
        );
        r.register(
            "active_streams",
            "Log streams in the current logs head",
            m.active_streams.clone(),
        );
        r.register(
            "logs_head_bytes",
            "Bytes of log chunks held in memory (current, pending and recently uploaded heads)",
            m.logs_head_bytes.clone(),
        );
        r.register(
            "appended_spans",
            "Spans appended to live traces and the traces WAL",
            m.appended_spans.clone(),
        );
        r.register(
            "live_traces",
            "Traces still receiving spans (not yet idle for trace_idle_period)",
            m.live_traces.clone(),
        );
        r.register(
            "traces_bytes",
            "Bytes of spans held in memory (live traces and current, pending and recently uploaded heads)",
            m.traces_bytes.clone(),
        );
        r.register(
            "memory_limited_pushes",
            "Pushes refused with 503 because resident memory passed ingester.max_memory_bytes",
            m.memory_limited_pushes.clone(),
        );
        m
    }
}
