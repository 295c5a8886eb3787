//! The metrics write path without HTTP: validate a tenant's request, apply
//! its rate limit, hand the valid series to the ingesters and account for
//! every sample that was not ingested. Exemplars and metric metadata follow
//! the samples to the ingesters; losing them never fails a push.

use std::sync::Arc;
use std::time::Instant;

use common::discard::DiscardReason;
use common::exemplar::SeriesExemplars;
use common::limits::Overrides;
use common::metadata::MetricMetadata;
use common::push::{MetricsPusher, Rejection};
use common::tenant::TenantId;
use common::time::now_ms;
use prometheus_client::registry::Registry;

use crate::config::DistributorConfig;
use crate::error::DistributorError;
use crate::metrics::Metrics;
use crate::otlp_metrics::delta::DeltaStreams;
use crate::rate_limit::RateLimiter;
use crate::remote_write::WriteRequest;
use crate::validation::{self, reason};

/// The metrics distributor: the front door of remote write.
///
/// Serve it over HTTP with [`Distributor::router`], or call
/// [`Distributor::push`] directly (e.g. the ruler writing recording rules).
pub struct Distributor {
    pub(crate) cfg: DistributorConfig,
    pub(crate) multitenancy: bool,
    pub(crate) metrics: Metrics,
    overrides: Arc<Overrides>,
    pusher: Arc<dyn MetricsPusher>,
    rate_limiter: RateLimiter,
    /// Running totals of OTLP delta streams, per tenant.
    pub(crate) otlp_deltas: DeltaStreams,
}

/// What became of a push that was not refused whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushSummary {
    /// Float samples the ingesters appended (durable in their WAL).
    pub accepted: usize,
    /// Histogram samples the ingesters appended (durable in their WAL).
    pub accepted_histograms: usize,
    /// Series refused by validation or by the ingesters, with why.
    pub rejected: Vec<Rejection>,
    /// Exemplars the ingesters stored.
    pub accepted_exemplars: usize,
    /// Metric metadata entries the ingesters stored.
    pub accepted_metadata: usize,
}

impl PushSummary {
    /// True when nothing in the request was refused.
    pub fn is_complete(&self) -> bool {
        self.rejected.is_empty()
    }

    /// True when every refusal is a limit the tenant may get raised
    /// (answered 429) rather than bad input (answered 400).
    pub fn only_limits(&self) -> bool {
        self.rejected.iter().all(|r| r.reason.is_limit())
    }
}

impl Distributor {
    /// Builds a distributor forwarding to `pusher` under the limits in
    /// `overrides`, registering its self-metrics into `registry`. With
    /// `multitenancy` off, every request belongs to the `anonymous` tenant.
    pub fn new(
        cfg: DistributorConfig,
        overrides: Arc<Overrides>,
        pusher: Arc<dyn MetricsPusher>,
        registry: &mut Registry,
        multitenancy: bool,
    ) -> Self {
        let otlp_deltas = DeltaStreams::new(
            cfg.otlp_delta_max_streams_per_tenant,
            cfg.otlp_delta_max_stale,
        );
        Self {
            cfg,
            otlp_deltas,
            multitenancy,
            metrics: Metrics::register(registry),
            overrides,
            pusher,
            rate_limiter: RateLimiter::new(),
        }
    }

    /// Sets how many healthy distributors share each tenant's
    /// `ingestion_rate` (values below 1 count as 1). Call it whenever the
    /// distributor ring changes; a lone distributor never needs to.
    pub fn set_healthy_distributors(&self, n: usize) {
        self.rate_limiter.set_healthy_distributors(n);
    }

    /// Validates `req`, applies `tenant`'s rate limit and forwards the valid
    /// series to the ingesters.
    ///
    /// Returns `Ok` when anything was forwarded or refused per series; the
    /// [`PushSummary`] says which. Returns `Err` when the request was refused
    /// whole (rate limit) or the ingesters failed (nothing acknowledged).
    pub async fn push(
        &self,
        tenant: &TenantId,
        req: WriteRequest,
    ) -> Result<PushSummary, DistributorError> {
        let limits = self.overrides.get(tenant);
        let incoming = req
            .timeseries
            .iter()
            .map(|ts| ts.samples.len() + ts.histograms.len())
            .sum();
        self.metrics.samples_in(tenant, incoming);

        let mut valid = validation::validate(req, &limits, now_ms());
        self.count_rejections(tenant, &valid.rejected);
        for &(reason, n) in &valid.dropped_exemplars {
            self.metrics.discarded_exemplars(tenant, reason, n);
        }
        for &(reason, n) in &valid.dropped_metadata {
            self.metrics.discarded_metadata(tenant, reason, n);
        }
        // Like Mimir, a histogram sample counts as one sample.
        let valid_samples = valid.samples + valid.histograms;
        if let Err(e) =
            self.rate_limiter
                .try_acquire(tenant, &limits, valid_samples, Instant::now())
        {
            self.metrics
                .discarded(tenant, DiscardReason::RateLimited.id(), valid_samples);
            return Err(e.into());
        }

        let mut summary = PushSummary {
            rejected: std::mem::take(&mut valid.rejected),
            ..PushSummary::default()
        };
        if !valid.series.is_empty() {
            self.metrics.received_samples(tenant, valid_samples);
            let samples = valid_samples;
            let outcome = self
                .pusher
                .push(tenant, std::mem::take(&mut valid.series))
                .await
                .inspect_err(|e| {
                    tracing::warn!(tenant = %tenant, samples, error = %e, "push to ingesters failed");
                })?;
            self.count_rejections(tenant, &outcome.rejected);
            summary.accepted = outcome.accepted;
            summary.accepted_histograms = outcome.accepted_histograms;
            summary.rejected.extend(outcome.rejected);
        }
        summary.accepted_exemplars = self
            .push_exemplars(tenant, std::mem::take(&mut valid.exemplars))
            .await;
        summary.accepted_metadata = self
            .push_metadata(tenant, std::mem::take(&mut valid.metadata))
            .await;
        Ok(summary)
    }

    /// Forwards exemplars after their samples; returns how many were stored.
    /// A failure is logged and counted, never returned: the samples are
    /// already acknowledged.
    async fn push_exemplars(&self, tenant: &TenantId, exemplars: Vec<SeriesExemplars>) -> usize {
        let count: usize = exemplars.iter().map(|s| s.exemplars.len()).sum();
        if count == 0 {
            return 0;
        }
        match self.pusher.push_exemplars(tenant, exemplars).await {
            Ok(o) => {
                if o.out_of_order > 0 {
                    self.metrics.discarded_exemplars(
                        tenant,
                        reason::EXEMPLAR_OUT_OF_ORDER,
                        o.out_of_order,
                    );
                }
                o.accepted
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, exemplars = count, error = %e, "pushing exemplars failed");
                self.metrics
                    .discarded_exemplars(tenant, reason::INGESTER_FAILED, count);
                0
            }
        }
    }

    /// Forwards metric metadata; returns how many entries were stored.
    /// Failures are logged and counted like [`Self::push_exemplars`]'s.
    async fn push_metadata(&self, tenant: &TenantId, metadata: Vec<MetricMetadata>) -> usize {
        if metadata.is_empty() {
            return 0;
        }
        let count = metadata.len();
        match self.pusher.push_metadata(tenant, metadata).await {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(tenant = %tenant, metadata = count, error = %e, "pushing metadata failed");
                self.metrics
                    .discarded_metadata(tenant, reason::INGESTER_FAILED, count);
                0
            }
        }
    }

    fn count_rejections(&self, tenant: &TenantId, rejected: &[Rejection]) {
        for r in rejected {
            self.metrics.discarded(tenant, r.reason.id(), r.samples);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::{Label, Sample, TimeSeries};
    use async_trait::async_trait;
    use common::labels::Labels;
    use common::limits::Limits;
    use common::push::{PushError, PushOutcome, PushSeries};
    use prometheus_client::encoding::text::encode;

    /// Accepts everything, rejects every series with `reason`, or fails
    /// whole when `unavailable`.
    struct Ingester {
        reason: Option<DiscardReason>,
        unavailable: bool,
    }

    #[async_trait]
    impl MetricsPusher for Ingester {
        async fn push(
            &self,
            _: &TenantId,
            series: Vec<PushSeries>,
        ) -> Result<PushOutcome, PushError> {
            if self.unavailable {
                return Err(PushError::Unavailable("stopping".into()));
            }
            let samples: usize = series.iter().map(|s| s.samples.len()).sum();
            Ok(match self.reason {
                None => PushOutcome {
                    accepted: samples,
                    accepted_histograms: 0,
                    rejected: vec![],
                },
                Some(reason) => PushOutcome {
                    accepted: 0,
                    accepted_histograms: 0,
                    rejected: series
                        .into_iter()
                        .map(|s| Rejection {
                            reason,
                            samples: s.samples.len(),
                            labels: s.labels,
                            detail: "no".into(),
                        })
                        .collect(),
                },
            })
        }
    }

    fn distributor(ingester: Ingester, limits: Limits) -> (Distributor, Registry) {
        let mut registry = Registry::default();
        let d = Distributor::new(
            DistributorConfig::default(),
            Arc::new(Overrides::new(limits)),
            Arc::new(ingester),
            &mut registry,
            true,
        );
        (d, registry)
    }

    fn request(names: &[&str]) -> WriteRequest {
        WriteRequest {
            timeseries: names
                .iter()
                .map(|n| TimeSeries {
                    labels: vec![Label::new("__name__", *n)],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: now_ms(),
                    }],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn tenant() -> TenantId {
        TenantId::parse("t").unwrap()
    }

    fn render(registry: &Registry) -> String {
        let mut text = String::new();
        encode(&mut text, registry).unwrap();
        text
    }

    #[tokio::test]
    async fn valid_request_is_accepted_whole() {
        let (d, _) = distributor(
            Ingester {
                reason: None,
                unavailable: false,
            },
            Limits::default(),
        );
        let s = d.push(&tenant(), request(&["a", "b"])).await.unwrap();
        assert_eq!(s.accepted, 2);
        assert!(s.is_complete());
    }

    #[tokio::test]
    async fn ingester_limit_rejections_are_reported_and_counted() {
        let reason = Some(DiscardReason::PerUserSeriesLimit);
        let (d, registry) = distributor(
            Ingester {
                reason,
                unavailable: false,
            },
            Limits::default(),
        );
        let s = d.push(&tenant(), request(&["a"])).await.unwrap();
        assert_eq!(
            s.rejected[0].labels,
            Labels::from_pairs([("__name__", "a")])
        );
        assert!(s.only_limits());
        assert!(render(&registry).contains(
            r#"cairn_discarded_samples_total{tenant="t",reason="per-user-series-limit"} 1"#
        ));
    }

    #[tokio::test]
    async fn mixed_refusals_are_not_only_limits() {
        let reason = Some(DiscardReason::PerUserSeriesLimit);
        let (d, _) = distributor(
            Ingester {
                reason,
                unavailable: false,
            },
            Limits::default(),
        );
        let s = d.push(&tenant(), request(&["a", ""])).await.unwrap();
        assert_eq!(s.rejected.len(), 2);
        assert!(!s.only_limits());
    }

    #[tokio::test]
    async fn over_rate_is_refused_whole_and_counted() {
        let limits = Limits {
            ingestion_rate: 1.0,
            ingestion_burst_size: 1,
            ..Limits::default()
        };
        let (d, registry) = distributor(
            Ingester {
                reason: None,
                unavailable: false,
            },
            limits,
        );
        let err = d.push(&tenant(), request(&["a", "b"])).await.unwrap_err();
        assert!(matches!(err, DistributorError::RateLimited(_)));
        assert!(
            render(&registry)
                .contains(r#"cairn_discarded_samples_total{tenant="t",reason="rate-limited"} 2"#)
        );
    }

    #[tokio::test]
    async fn unavailable_ingesters_fail_the_push() {
        let (d, _) = distributor(
            Ingester {
                reason: None,
                unavailable: true,
            },
            Limits::default(),
        );
        let err = d.push(&tenant(), request(&["a"])).await.unwrap_err();
        assert!(matches!(
            err,
            DistributorError::Push(PushError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn nothing_valid_means_no_ingester_call() {
        let (d, _) = distributor(
            Ingester {
                reason: None,
                unavailable: true,
            },
            Limits::default(),
        );
        let s = d.push(&tenant(), request(&[""])).await.unwrap();
        assert_eq!(s.rejected[0].reason, DiscardReason::MissingMetricName);
    }
}
