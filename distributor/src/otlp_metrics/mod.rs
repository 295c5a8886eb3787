//! OTLP metrics in: `POST /otlp/v1/metrics` (protobuf or JSON, gzip) and
//! gRPC `MetricsService/Export`, translated to Prometheus series
//! ([`translate`]) and pushed through [`Distributor::push`], so they meet
//! the same validation, rate limit and ingester limits as remote write.
//! Delta points are first added into per-stream running totals
//! ([`delta`]), which the distributor keeps per tenant.

pub mod delta;
mod exponential;
mod grpc;
mod http;
pub mod translate;

use std::sync::PoisonError;
use std::time::Instant;

use common::tenant::TenantId;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

pub use grpc::MetricsGrpcService;
pub(crate) use http::export;

use crate::distributor::Distributor;
use crate::error::DistributorError;
use crate::remote_write::DecodeError;

impl Distributor {
    /// Translates an OTLP metrics export and pushes its series; the answer
    /// names what was refused in `partial_success`. `Err` means nothing was
    /// accepted (rate limit, ingesters down).
    pub async fn push_otlp_metrics(
        &self,
        tenant: &TenantId,
        resource_metrics: Vec<ResourceMetrics>,
    ) -> Result<ExportMetricsServiceResponse, DistributorError> {
        let streams = self.otlp_deltas.tenant(tenant);
        let translated = {
            let mut streams = streams.lock().unwrap_or_else(PoisonError::into_inner);
            streams.begin(Instant::now());
            translate::translate(
                resource_metrics,
                self.cfg.max_decoded_request_bytes,
                &mut streams,
            )
            .map_err(DecodeError::from)?
        };
        for &(reason, points) in &translated.discarded {
            self.metrics.discarded(tenant, reason, points);
        }
        let mut refused = translated.refused_points;
        let mut errors = translated.errors;
        if !translated.request.timeseries.is_empty() {
            let summary = self.push(tenant, translated.request).await?;
            if !summary.is_complete() {
                refused += summary.rejected.iter().map(|r| r.samples).sum::<usize>();
                errors.push(summary.to_string());
            }
        }
        Ok(ExportMetricsServiceResponse {
            partial_success: (refused > 0 || !errors.is_empty()).then(|| {
                ExportMetricsPartialSuccess {
                    rejected_data_points: i64::try_from(refused).unwrap_or(i64::MAX),
                    error_message: errors.join("\n"),
                }
            }),
        })
    }
}
