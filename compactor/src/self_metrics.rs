//! The compactor's own metrics, exported on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A pass's `kind` (`compaction` or `cleanup`) and `status` (`success`
/// or `failure`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RunLabel {
    pub(crate) kind: &'static str,
    pub(crate) status: &'static str,
}

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

/// Counters and gauges the compactor updates.
#[derive(Debug, Default)]
pub(crate) struct CompactorMetrics {
    pub(crate) runs: Family<RunLabel, Counter>,
    pub(crate) tenant_failures: Family<TenantLabel, Counter>,
    pub(crate) compactions: Family<TenantLabel, Counter>,
    pub(crate) merged_samples: Family<TenantLabel, Counter>,
    pub(crate) blocks_marked_for_deletion: Family<TenantReasonLabel, Counter>,
    pub(crate) blocks_deleted: Family<TenantLabel, Counter>,
    pub(crate) blocks_marked_no_compact: Family<TenantLabel, Counter>,
    pub(crate) last_successful_run: Gauge<f64, AtomicU64>,
}

impl CompactorMetrics {
    /// Registers every metric under `cairn_compactor_`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("cairn_compactor");
        r.register(
            "runs",
            "Passes over all owned tenants, by kind (compaction includes cleanup) and outcome",
            m.runs.clone(),
        );
        r.register(
            "tenant_failures",
            "Tenant compactions or cleanups that failed",
            m.tenant_failures.clone(),
        );
        r.register(
            "compactions",
            "Blocks written by merging other blocks",
            m.compactions.clone(),
        );
        r.register(
            "merged_samples",
            "Samples written into compacted blocks (after removing duplicates)",
            m.merged_samples.clone(),
        );
        r.register(
            "blocks_marked_for_deletion",
            "Blocks marked for deletion, by reason (compaction, duplicate, retention)",
            m.blocks_marked_for_deletion.clone(),
        );
        r.register(
            "blocks_deleted",
            "Blocks deleted after their deletion delay, and partial uploads removed",
            m.blocks_deleted.clone(),
        );
        r.register(
            "blocks_marked_no_compact",
            "Damaged blocks excluded from compaction",
            m.blocks_marked_no_compact.clone(),
        );
        r.register(
            "last_successful_run_timestamp_seconds",
            "When the last pass over all owned tenants succeeded",
            m.last_successful_run.clone(),
        );
        m
    }

    /// Counts `n` blocks of `tenant` marked for deletion for `reason`.
    pub(crate) fn marked(&self, tenant: &str, reason: &'static str, n: usize) {
        self.blocks_marked_for_deletion
            .get_or_create(&TenantReasonLabel {
                tenant: tenant.to_string(),
                reason,
            })
            .inc_by(n as u64);
    }

    /// The per-tenant counter of `family` for `tenant`.
    pub(crate) fn tenant(family: &Family<TenantLabel, Counter>, tenant: &str) -> Counter {
        family
            .get_or_create(&TenantLabel {
                tenant: tenant.to_string(),
            })
            .clone()
    }
}
