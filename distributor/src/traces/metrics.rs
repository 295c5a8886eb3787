//! The traces write path's counters.

use common::tenant::TenantId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::metrics::{DiscardLabels, TenantLabels, count_discard, tenant_labels};

/// Spans in and spans discarded, per tenant.
#[derive(Debug)]
pub(crate) struct TracesMetrics {
    spans_in: Family<TenantLabels, Counter>,
    discarded_spans: Family<DiscardLabels, Counter>,
}

impl TracesMetrics {
    /// Creates the counters and registers them into `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            spans_in: Family::default(),
            discarded_spans: Family::default(),
        };
        registry.register(
            "cairn_distributor_spans_in",
            "Spans that came in to the distributor, including those later discarded.",
            m.spans_in.clone(),
        );
        registry.register(
            "cairn_discarded_spans",
            "Spans refused by the distributor or the ingesters, by tenant and reason.",
            m.discarded_spans.clone(),
        );
        m
    }

    pub(crate) fn spans_in(&self, tenant: &TenantId, n: usize) {
        self.spans_in
            .get_or_create(&tenant_labels(tenant))
            .inc_by(n as u64);
    }

    /// Counts `n` spans discarded for `reason` (a `DiscardReason` id).
    pub(crate) fn discarded(&self, tenant: &TenantId, reason: &'static str, n: usize) {
        count_discard(&self.discarded_spans, tenant, reason, n);
    }
}
