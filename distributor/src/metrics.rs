//! The distributor's self-metrics, registered into the process registry.
//!
//! Names follow Mimir's (`cortex_` → `cairn_`) so existing dashboards and
//! alerts translate directly. Requests that never named a valid tenant are
//! counted by reason only, so garbage traffic cannot mint new series.

use axum::http::StatusCode;
use common::tenant::TenantId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// `{tenant}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct TenantLabels {
    tenant: String,
}

/// `{tenant, reason}` of the discard counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct DiscardLabels {
    tenant: String,
    reason: &'static str,
}

/// `{tenant, status}` of the request counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    tenant: String,
    status: u16,
}

/// `{tenant, version}` of the remote-write protocol counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct VersionLabels {
    tenant: String,
    version: &'static str,
}

/// `{reason}` of the bad-request counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct BadRequestLabels {
    reason: &'static str,
}

/// Counters of the metrics write path.
#[derive(Debug)]
pub(crate) struct Metrics {
    samples_in: Family<TenantLabels, Counter>,
    received_samples: Family<TenantLabels, Counter>,
    discarded_samples: Family<DiscardLabels, Counter>,
    discarded_exemplars: Family<DiscardLabels, Counter>,
    discarded_metadata: Family<DiscardLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    remote_write_versions: Family<VersionLabels, Counter>,
    bad_requests: Family<BadRequestLabels, Counter>,
}

impl Metrics {
    /// Creates the counters and registers them into `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            samples_in: Family::default(),
            received_samples: Family::default(),
            discarded_samples: Family::default(),
            discarded_exemplars: Family::default(),
            discarded_metadata: Family::default(),
            requests: Family::default(),
            remote_write_versions: Family::default(),
            bad_requests: Family::default(),
        };
        registry.register(
            "cairn_distributor_samples_in",
            "Samples that came in to the distributor, including those later discarded.",
            m.samples_in.clone(),
        );
        registry.register(
            "cairn_distributor_received_samples",
            "Samples that passed validation and rate limiting and were sent to the ingesters.",
            m.received_samples.clone(),
        );
        registry.register(
            "cairn_discarded_samples",
            "Samples refused by the distributor or the ingesters, by tenant and reason.",
            m.discarded_samples.clone(),
        );
        registry.register(
            "cairn_discarded_exemplars",
            "Exemplars refused by the distributor or the ingesters, by tenant and reason.",
            m.discarded_exemplars.clone(),
        );
        registry.register(
            "cairn_discarded_metadata",
            "Metric metadata entries refused by the distributor, by tenant and reason.",
            m.discarded_metadata.clone(),
        );
        registry.register(
            "cairn_distributor_requests",
            "Remote-write requests of a known tenant, by HTTP status.",
            m.requests.clone(),
        );
        registry.register(
            "cairn_distributor_remote_write_requests",
            "Remote-write requests of a known tenant, by protocol version (1.0 or 2.0) \
             negotiated from the Content-Type.",
            m.remote_write_versions.clone(),
        );
        registry.register(
            "cairn_distributor_bad_requests",
            "Remote-write requests refused before a tenant or a body could be read, by reason.",
            m.bad_requests.clone(),
        );
        m
    }

    pub(crate) fn samples_in(&self, tenant: &TenantId, samples: usize) {
        self.samples_in
            .get_or_create(&tenant_labels(tenant))
            .inc_by(samples as u64);
    }

    pub(crate) fn received_samples(&self, tenant: &TenantId, samples: usize) {
        self.received_samples
            .get_or_create(&tenant_labels(tenant))
            .inc_by(samples as u64);
    }

    /// Counts `samples` discarded for `reason` (a [`DiscardReason`] id).
    ///
    /// [`DiscardReason`]: common::discard::DiscardReason
    pub(crate) fn discarded(&self, tenant: &TenantId, reason: &'static str, samples: usize) {
        count_discard(&self.discarded_samples, tenant, reason, samples);
    }

    /// Counts `n` exemplars discarded for `reason`.
    pub(crate) fn discarded_exemplars(&self, tenant: &TenantId, reason: &'static str, n: usize) {
        count_discard(&self.discarded_exemplars, tenant, reason, n);
    }

    /// Counts `n` metadata entries discarded for `reason`.
    pub(crate) fn discarded_metadata(&self, tenant: &TenantId, reason: &'static str, n: usize) {
        count_discard(&self.discarded_metadata, tenant, reason, n);
    }

    pub(crate) fn request(&self, tenant: &TenantId, status: StatusCode) {
        count_request(&self.requests, tenant, status);
    }

    /// Counts one remote-write request of `tenant` speaking `version`.
    pub(crate) fn remote_write_version(&self, tenant: &TenantId, version: &'static str) {
        self.remote_write_versions
            .get_or_create(&VersionLabels {
                tenant: tenant.to_string(),
                version,
            })
            .inc();
    }

    pub(crate) fn bad_request(&self, reason: &'static str) {
        count_bad_request(&self.bad_requests, reason);
    }
}

/// Counts one request of `tenant` answered with `status`.
pub(crate) fn count_request(
    family: &Family<RequestLabels, Counter>,
    tenant: &TenantId,
    status: StatusCode,
) {
    let labels = RequestLabels {
        tenant: tenant.to_string(),
        status: status.as_u16(),
    };
    family.get_or_create(&labels).inc();
}

/// Counts one request refused before it had a tenant or a body, by `reason`.
pub(crate) fn count_bad_request(family: &Family<BadRequestLabels, Counter>, reason: &'static str) {
    family.get_or_create(&BadRequestLabels { reason }).inc();
}

/// Adds `n` to `family{tenant, reason}`.
pub(crate) fn count_discard(
    family: &Family<DiscardLabels, Counter>,
    tenant: &TenantId,
    reason: &'static str,
    n: usize,
) {
    let labels = DiscardLabels {
        tenant: tenant.to_string(),
        reason,
    };
    family.get_or_create(&labels).inc_by(n as u64);
}

/// The `{tenant}` label set.
pub(crate) fn tenant_labels(tenant: &TenantId) -> TenantLabels {
    TenantLabels {
        tenant: tenant.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn counters_render_with_their_labels() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let t = TenantId::parse("team-a").unwrap();
        m.discarded(&t, "label-invalid", 3);
        m.request(&t, StatusCode::BAD_REQUEST);
        m.bad_request("not-snappy");
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            r#"cairn_discarded_samples_total{tenant="team-a",reason="label-invalid"} 3"#,
            r#"cairn_distributor_requests_total{tenant="team-a",status="400"} 1"#,
            r#"cairn_distributor_bad_requests_total{reason="not-snappy"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
