//! The traces write path: OTLP spans in over HTTP ([`http`]) and gRPC
//! ([`grpc`]), checked and handed to the ingesters through a
//! [`TracesPusher`]. Spans refused (invalid IDs, limits) are counted in
//! `cairn_discarded_spans_total` and reported as OTLP partial success.

mod error;
mod grpc;
mod http;
mod metrics;
mod validation;

use std::sync::Arc;
use std::time::Instant;

use common::discard::DiscardReason;
use common::limits::Overrides;
use common::tenant::TenantId;
use common::traces::otlp::spans_from_otlp;
use common::traces::{SpanRejection, TracesPusher};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prometheus_client::registry::Registry;

pub use error::ExportError;
pub(crate) use error::grpc_status;
pub use grpc::TraceGrpcService;

use crate::config::DistributorConfig;
use crate::rate_limit::RateLimiter;
use metrics::TracesMetrics;

/// Refusals listed in a partial-success message; the rest are counted.
const MAX_LISTED_REJECTIONS: usize = 10;

/// The traces distributor: receives OTLP spans for a tenant and forwards
/// the valid ones to the ingesters.
pub struct TracesDistributor {
    cfg: DistributorConfig,
    multitenancy: bool,
    overrides: Arc<Overrides>,
    pusher: Arc<dyn TracesPusher>,
    metrics: TracesMetrics,
    rate_limiter: RateLimiter,
}

/// What became of an export that was not refused whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracesSummary {
    /// Spans the ingesters made durable.
    pub accepted: usize,
    /// Spans refused, with why.
    pub rejected: Vec<SpanRejection>,
}

impl TracesSummary {
    /// How many spans were refused.
    pub fn rejected_spans(&self) -> usize {
        self.rejected.iter().map(|r| r.spans).sum()
    }

    /// The OTLP answer: `partial_success` set when any span was refused,
    /// its message naming each reason (`err-cairn-<id>`) and trace.
    pub fn response(&self) -> ExportTraceServiceResponse {
        if self.rejected.is_empty() {
            return ExportTraceServiceResponse::default();
        }
        let mut lines: Vec<String> = self
            .rejected
            .iter()
            .take(MAX_LISTED_REJECTIONS)
            .map(|r| {
                let mut line = format!(
                    "{}: {} (trace {}, {} span(s))",
                    r.reason,
                    r.detail,
                    common::traces::otlp::hex(&r.trace_id),
                    r.spans
                );
                if let Some(limit) = r.reason.limit_name() {
                    line.push_str(&format!("; raise {limit} in the runtime overrides"));
                }
                line
            })
            .collect();
        if self.rejected.len() > MAX_LISTED_REJECTIONS {
            lines.push(format!(
                "... and {} more refusals",
                self.rejected.len() - MAX_LISTED_REJECTIONS
            ));
        }
        ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: i64::try_from(self.rejected_spans()).unwrap_or(i64::MAX),
                error_message: lines.join("\n"),
            }),
        }
    }
}

impl TracesDistributor {
    /// Builds the traces distributor forwarding to `pusher` under the
    /// limits in `overrides`, registering its counters into `registry`.
    pub fn new(
        cfg: DistributorConfig,
        overrides: Arc<Overrides>,
        pusher: Arc<dyn TracesPusher>,
        registry: &mut Registry,
        multitenancy: bool,
    ) -> Self {
        Self {
            cfg,
            multitenancy,
            overrides,
            pusher,
            metrics: TracesMetrics::register(registry),
            rate_limiter: RateLimiter::new(),
        }
    }

    /// Sets how many healthy distributors share each tenant's
    /// `ingestion_rate_bytes` (values below 1 count as 1).
    pub fn set_healthy_distributors(&self, n: usize) {
        self.rate_limiter.set_healthy_distributors(n);
    }

    /// Checks the spans of one export (`bytes` long on the wire, what the
    /// byte rate limit counts) and forwards the valid ones.
    ///
    /// `Ok` says which spans were accepted and refused; `Err` means nothing
    /// was acknowledged: over the rate limit, every span refused, or the
    /// ingesters failed.
    pub async fn push(
        &self,
        tenant: &TenantId,
        resource_spans: Vec<ResourceSpans>,
        bytes: usize,
    ) -> Result<TracesSummary, ExportError> {
        let mut decoded = spans_from_otlp(resource_spans);
        let total = decoded.spans.len() + decoded.rejected.len();
        self.metrics.spans_in(tenant, total);
        let limits = self.overrides.get(tenant);
        let now_ns = u64::try_from(common::time::now_ns()).unwrap_or(0);
        decoded.spans =
            validation::check_times(decoded.spans, &limits, now_ns, &mut decoded.rejected);
        let (rate, burst) = (
            limits.ingestion_rate_limit_bytes,
            limits.ingestion_burst_size_bytes,
        );
        if self
            .rate_limiter
            .take(
                tenant,
                rate as f64,
                burst as f64,
                bytes as f64,
                Instant::now(),
            )
            .is_err()
        {
            self.metrics
                .discarded(tenant, DiscardReason::RateLimited.id(), total);
            return Err(ExportError::RateLimited {
                tenant: tenant.clone(),
                limit_names: "ingestion_rate_limit_bytes / ingestion_burst_size_bytes",
                rate,
                burst,
                bytes,
            });
        }
        let mut summary = TracesSummary {
            accepted: 0,
            rejected: decoded.rejected,
        };
        if !decoded.spans.is_empty() {
            let outcome = self
                .pusher
                .push_spans(tenant, decoded.spans)
                .await
                .inspect_err(|e| {
                    tracing::warn!(tenant = %tenant, error = %e, "pushing spans to ingesters failed");
                })?;
            summary.accepted = outcome.accepted;
            summary.rejected.extend(outcome.rejected);
        }
        for r in &summary.rejected {
            self.metrics.discarded(tenant, r.reason.id(), r.spans);
        }
        if summary.accepted == 0 && !summary.rejected.is_empty() {
            let message = summary
                .response()
                .partial_success
                .unwrap_or_default()
                .error_message;
            return Err(if summary.rejected.iter().all(|r| r.reason.is_limit()) {
                ExportError::Limited(message)
            } else {
                ExportError::Invalid(message)
            });
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests;
