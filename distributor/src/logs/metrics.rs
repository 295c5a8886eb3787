//! The logs distributor's self-metrics (Loki's names, `loki_` → `cairn_`).

use axum::http::StatusCode;
use common::tenant::TenantId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::metrics::{
    BadRequestLabels, DiscardLabels, RequestLabels, TenantLabels, count_bad_request, count_discard,
    count_request, tenant_labels,
};

/// Counters of the logs write path.
#[derive(Debug, Default)]
pub(crate) struct LogsMetrics {
    lines_received: Family<TenantLabels, Counter>,
    bytes_received: Family<TenantLabels, Counter>,
    discarded_lines: Family<DiscardLabels, Counter>,
    discarded_bytes: Family<DiscardLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    bad_requests: Family<BadRequestLabels, Counter>,
}

impl LogsMetrics {
    /// Creates the counters and registers them into `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "cairn_distributor_lines_received",
            "Log lines that passed validation and rate limiting and were sent to the ingesters.",
            m.lines_received.clone(),
        );
        registry.register(
            "cairn_distributor_bytes_received",
            "Bytes of log line text sent to the ingesters.",
            m.bytes_received.clone(),
        );
        registry.register(
            "cairn_discarded_lines",
            "Log lines refused by the distributor or the ingesters, by tenant and reason.",
            m.discarded_lines.clone(),
        );
        registry.register(
            "cairn_discarded_bytes",
            "Bytes of log line text refused, by tenant and reason.",
            m.discarded_bytes.clone(),
        );
        registry.register(
            "cairn_distributor_logs_requests",
            "Logs push requests (Loki and OTLP) of a known tenant, by HTTP status.",
            m.requests.clone(),
        );
        registry.register(
            "cairn_distributor_logs_bad_requests",
            "Logs push requests refused before a tenant or a body could be read, by reason.",
            m.bad_requests.clone(),
        );
        m
    }

    /// Counts lines and bytes forwarded to the ingesters.
    pub(crate) fn received(&self, tenant: &TenantId, lines: usize, bytes: usize) {
        let labels = tenant_labels(tenant);
        self.lines_received
            .get_or_create(&labels)
            .inc_by(lines as u64);
        self.bytes_received
            .get_or_create(&labels)
            .inc_by(bytes as u64);
    }

    /// Counts lines and bytes discarded for `reason` (a `DiscardReason` id).
    pub(crate) fn discarded(
        &self,
        tenant: &TenantId,
        reason: &'static str,
        lines: usize,
        bytes: usize,
    ) {
        count_discard(&self.discarded_lines, tenant, reason, lines);
        count_discard(&self.discarded_bytes, tenant, reason, bytes);
    }

    /// Counts one push of `tenant` answered with `status`.
    pub(crate) fn request(&self, tenant: &TenantId, status: StatusCode) {
        count_request(&self.requests, tenant, status);
    }

    /// Counts one push refused before its streams were read.
    pub(crate) fn bad_request(&self, reason: &'static str) {
        count_bad_request(&self.bad_requests, reason);
    }
}
