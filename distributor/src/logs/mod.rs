//! The logs write path's front door: Loki push (JSON or snappy protobuf)
//! and OTLP logs in, validated and rate-limited streams out to the
//! ingesters through a [`common::logs::LogsPusher`].
//!
//! A request flows through [`wire`] or the OTLP mapping (decoding with size
//! limits), per-stream validation against the tenant's limits (Loki's
//! rules and reason names), the tenant's byte token bucket
//! (`ingestion_rate_mb`), and the ingesters. Everything refused is counted
//! in `cairn_discarded_lines_total` / `cairn_discarded_bytes_total` and
//! told to the client ([`LogsError`]).

mod error;
mod grpc;
mod http;
mod level;
mod metrics;
mod otlp;
mod validation;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use common::discard::DiscardReason;
use common::limits::Overrides;
use common::logs::{LogRejection, LogsPusher};
use common::tenant::TenantId;
use common::time::now_ns;
use prometheus_client::registry::Registry;

pub use error::{LogsError, LogsPushSummary, LogsRateLimited};
pub use grpc::LogsGrpcService;

use crate::config::DistributorConfig;
use crate::rate_limit::RateLimiter;
use metrics::LogsMetrics;
use wire::RawStream;

/// Bytes in the MB of `ingestion_rate_mb` (Loki means MiB).
const BYTES_PER_MB: f64 = (1 << 20) as f64;

/// The logs distributor. Serve it with [`LogsDistributor::router`].
pub struct LogsDistributor {
    cfg: DistributorConfig,
    multitenancy: bool,
    overrides: Arc<Overrides>,
    pusher: Arc<dyn LogsPusher>,
    rate_limiter: RateLimiter,
    metrics: LogsMetrics,
}

impl LogsDistributor {
    /// Builds a logs distributor forwarding to `pusher` under the limits in
    /// `overrides` (body size limits from `cfg`), registering its
    /// self-metrics into `registry`. With `multitenancy` off, every request
    /// belongs to the `anonymous` tenant.
    pub fn new(
        cfg: DistributorConfig,
        overrides: Arc<Overrides>,
        pusher: Arc<dyn LogsPusher>,
        registry: &mut Registry,
        multitenancy: bool,
    ) -> Self {
        Self {
            cfg,
            multitenancy,
            overrides,
            pusher,
            rate_limiter: RateLimiter::new(),
            metrics: LogsMetrics::register(registry),
        }
    }

    /// Sets how many healthy distributors share each tenant's
    /// `ingestion_rate_mb` (values below 1 count as 1).
    pub fn set_healthy_distributors(&self, n: usize) {
        self.rate_limiter.set_healthy_distributors(n);
    }

    /// Pushes `streams` (or the error that stopped them being read) for
    /// `tenant` and counts the outcome the way every logs endpoint, HTTP or
    /// gRPC, does: a push with a refused line fails (Loki's semantics), a
    /// bad request is counted by reason, and the request by status.
    pub(crate) async fn push_and_count(
        &self,
        tenant: &TenantId,
        streams: Result<Vec<RawStream>, LogsError>,
    ) -> Result<(), LogsError> {
        let result = match streams {
            Ok(streams) => match self.push(tenant, streams).await {
                Ok(summary) if summary.rejected.is_empty() => Ok(()),
                Ok(summary) => Err(LogsError::Partial(summary)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            self.count_bad_request(e);
        }
        let status = result
            .as_ref()
            .map_or_else(LogsError::status, |()| StatusCode::OK);
        self.metrics.request(tenant, status);
        result
    }

    /// Counts `e` by reason when it refused the request before any stream
    /// was looked at.
    fn count_bad_request(&self, e: &LogsError) {
        if let Some(reason) = e.bad_request_reason() {
            self.metrics.bad_request(reason);
        }
    }

    /// Validates `streams`, applies `tenant`'s byte rate limit and forwards
    /// the valid lines. `Ok` when anything was forwarded or refused per
    /// stream (the summary says which); `Err` when refused whole.
    async fn push(
        &self,
        tenant: &TenantId,
        streams: Vec<RawStream>,
    ) -> Result<LogsPushSummary, LogsError> {
        let limits = self.overrides.get(tenant);
        let mut valid = validation::validate(streams, &limits, now_ns());
        if limits.discover_log_levels {
            for s in &mut valid.streams {
                level::add_detected_levels(&s.labels, &mut s.entries);
            }
        }
        self.count_rejections(tenant, &valid.rejected);
        let refused = self.rate_limiter.take(
            tenant,
            limits.ingestion_rate_mb * BYTES_PER_MB,
            limits.ingestion_burst_size_mb * BYTES_PER_MB,
            valid.bytes as f64,
            Instant::now(),
        );
        if let Err(distributors) = refused {
            self.metrics.discarded(
                tenant,
                DiscardReason::LogRateLimited.id(),
                valid.lines,
                valid.bytes,
            );
            return Err(LogsRateLimited {
                tenant: tenant.clone(),
                rate_mb: limits.ingestion_rate_mb,
                burst_mb: limits.ingestion_burst_size_mb,
                distributors,
                lines: valid.lines,
                bytes: valid.bytes,
            }
            .into());
        }
        let mut summary = LogsPushSummary {
            accepted: 0,
            rejected: valid.rejected,
        };
        if valid.streams.is_empty() {
            return Ok(summary);
        }
        self.metrics.received(tenant, valid.lines, valid.bytes);
        let outcome = self
            .pusher
            .push_logs(tenant, valid.streams)
            .await
            .inspect_err(|e| {
                tracing::warn!(tenant = %tenant, lines = valid.lines, error = %e, "logs push to ingesters failed");
            })?;
        self.count_rejections(tenant, &outcome.rejected);
        summary.accepted = outcome.accepted;
        summary.rejected.extend(outcome.rejected);
        Ok(summary)
    }

    fn count_rejections(&self, tenant: &TenantId, rejected: &[LogRejection]) {
        for r in rejected {
            self.metrics
                .discarded(tenant, r.reason.id(), r.lines, r.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use common::labels::{Label, Labels};
    use common::limits::Limits;
    use common::logs::{LogEntry, LogsPushOutcome, PushStream};
    use common::push::PushError;
    use prometheus_client::encoding::text::encode;
    use wire::RawLabels;

    /// Accepts every line.
    struct Ingester;

    #[async_trait]
    impl LogsPusher for Ingester {
        async fn push_logs(
            &self,
            _: &TenantId,
            streams: Vec<PushStream>,
        ) -> Result<LogsPushOutcome, PushError> {
            Ok(LogsPushOutcome {
                accepted: streams.iter().map(|s| s.entries.len()).sum(),
                rejected: vec![],
            })
        }
    }

    fn stream(line: &str) -> RawStream {
        RawStream {
            labels: RawLabels::Pairs(vec![Label::new("app", "a")]),
            entries: vec![LogEntry {
                ts_ns: now_ns(),
                line: line.into(),
                structured_metadata: Labels::default(),
            }],
        }
    }

    #[tokio::test]
    async fn rate_limit_counts_bytes_and_refuses_whole() {
        let mut registry = Registry::default();
        let limits = Limits {
            ingestion_rate_mb: 1.0 / BYTES_PER_MB,
            ingestion_burst_size_mb: 10.0 / BYTES_PER_MB,
            ..Limits::default()
        };
        let d = LogsDistributor::new(
            DistributorConfig::default(),
            Arc::new(Overrides::new(limits)),
            Arc::new(Ingester),
            &mut registry,
            true,
        );
        let t = TenantId::parse("t").unwrap();
        let s = d.push(&t, vec![stream("0123456789")]).await.unwrap();
        assert_eq!(s.accepted, 1);
        let err = d.push(&t, vec![stream("x")]).await.unwrap_err();
        assert_eq!(err.status(), 429);
        assert!(err.to_string().contains("ingestion_rate_mb"), "{err}");
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for want in [
            r#"cairn_discarded_lines_total{tenant="t",reason="rate_limited"} 1"#,
            r#"cairn_discarded_bytes_total{tenant="t",reason="rate_limited"} 1"#,
            r#"cairn_distributor_bytes_received_total{tenant="t"} 10"#,
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
    }
}
