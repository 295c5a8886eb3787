//! A bound on the push bytes the whole distributor processes at once
//! (`distributor.max_inflight_push_requests_bytes`, Mimir's instance limit
//! of the same name).
//!
//! Each request's size and decoded size are bounded on their own, but
//! nothing stopped a thousand of them from arriving together. Every push
//! path — metrics, logs and traces, HTTP and gRPC — takes an
//! [`InflightGuard`] for its body's bytes (HTTP: the declared length,
//! before reading the body; gRPC: the message, before decoding it) and
//! holds it until it has answered; a request that would take the
//! total past the limit is refused with 503 (gRPC `Unavailable`) so the
//! client retries later, and counted in
//! `cairn_distributor_instance_rejected_requests_total`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::config::DistributorConfig;

/// The stable ID of [`InflightLimitExceeded`], also the `reason` it is
/// counted under.
const ID: &str = "distributor-max-inflight-push-requests-bytes";

/// A push refused because the distributor is already busy with as many
/// bytes as it may hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "err-cairn-{ID}: the distributor is already processing {inflight} bytes of push requests \
     and this request's {bytes} bytes would take it past max_inflight_push_requests_bytes \
     ({limit} bytes); retry with backoff, send smaller batches, or raise the distributor's \
     max_inflight_push_requests_bytes (or run more distributors)"
)]
pub struct InflightLimitExceeded {
    /// Bytes already in flight.
    pub inflight: u64,
    /// This request's bytes.
    pub bytes: u64,
    /// `max_inflight_push_requests_bytes`.
    pub limit: u64,
}

impl IntoResponse for InflightLimitExceeded {
    fn into_response(self) -> Response {
        (StatusCode::SERVICE_UNAVAILABLE, format!("{self}\n")).into_response()
    }
}

impl From<InflightLimitExceeded> for tonic::Status {
    fn from(e: InflightLimitExceeded) -> Self {
        crate::traces::grpc_status(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

/// `{reason}` of the rejected-requests counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// The distributor-wide count of push bytes being processed, shared by
/// every push path.
#[derive(Debug)]
pub struct InflightBytes {
    /// 0: no limit.
    limit: u64,
    /// What a body of unknown length is counted as: the most it may be.
    unknown_length: u64,
    inflight: Gauge,
    rejected: Family<ReasonLabels, Counter>,
}

impl InflightBytes {
    /// The limit from `cfg`, with its gauge and counter registered into
    /// `registry`.
    pub fn new(cfg: &DistributorConfig, registry: &mut Registry) -> Arc<Self> {
        let this = Self {
            limit: cfg.max_inflight_push_requests_bytes as u64,
            unknown_length: cfg.max_request_body_size as u64,
            inflight: Gauge::default(),
            rejected: Family::default(),
        };
        registry.register(
            "cairn_distributor_inflight_push_requests_bytes",
            "Bytes of push requests (metrics, logs, traces; HTTP and gRPC) being processed.",
            this.inflight.clone(),
        );
        registry.register(
            "cairn_distributor_instance_rejected_requests",
            "Push requests refused because an instance limit of the distributor was reached.",
            this.rejected.clone(),
        );
        Arc::new(this)
    }

    /// Counts `bytes` as in flight until the guard drops, or refuses them
    /// when they would take the total past the limit.
    pub fn acquire(self: &Arc<Self>, bytes: usize) -> Result<InflightGuard, InflightLimitExceeded> {
        let bytes = bytes as u64;
        let amount = i64::try_from(bytes).unwrap_or(i64::MAX);
        let before = self.inflight.inc_by(amount).max(0) as u64;
        if self.limit > 0 && before.saturating_add(bytes) > self.limit {
            self.inflight.dec_by(amount);
            self.rejected
                .get_or_create(&ReasonLabels { reason: ID })
                .inc();
            return Err(InflightLimitExceeded {
                inflight: before,
                bytes,
                limit: self.limit,
            });
        }
        Ok(InflightGuard {
            owner: Arc::clone(self),
            amount,
        })
    }
}

/// Bytes counted in flight; released on drop.
#[derive(Debug)]
pub struct InflightGuard {
    owner: Arc<InflightBytes>,
    amount: i64,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.owner.inflight.dec_by(self.amount);
    }
}

/// The HTTP push routes' middleware: counts the body's declared
/// `Content-Length` (or, without one, the largest body allowed) before the
/// handler reads it, and holds it until the handler has answered.
pub async fn limit_http(
    State(inflight): State<Arc<InflightBytes>>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bytes = declared.map_or(inflight.unknown_length, |n| n.min(inflight.unknown_length));
    match inflight.acquire(bytes as usize) {
        Ok(_guard) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflight(limit: usize) -> (Arc<InflightBytes>, Registry) {
        let mut registry = Registry::default();
        let cfg = DistributorConfig {
            max_inflight_push_requests_bytes: limit,
            ..Default::default()
        };
        (InflightBytes::new(&cfg, &mut registry), registry)
    }

    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn requests_are_refused_only_while_others_hold_the_bytes() {
        let (inflight, registry) = inflight(100);
        let first = inflight.acquire(60).unwrap();
        let e = inflight.acquire(50).unwrap_err();
        assert_eq!(
            e,
            InflightLimitExceeded {
                inflight: 60,
                bytes: 50,
                limit: 100
            }
        );
        assert!(
            e.to_string()
                .starts_with("err-cairn-distributor-max-inflight-push-requests-bytes:")
        );
        assert!(e.to_string().contains("retry"));
        let second = inflight.acquire(40).unwrap();
        let text = exposition(&registry);
        assert!(text.contains("cairn_distributor_inflight_push_requests_bytes 100"));
        assert!(text.contains(
            "cairn_distributor_instance_rejected_requests_total{reason=\"distributor-max-inflight-push-requests-bytes\"} 1"
        ));
        drop(first);
        drop(second);
        assert!(exposition(&registry).contains("cairn_distributor_inflight_push_requests_bytes 0"));
        let _again = inflight.acquire(100).unwrap();
    }

    #[test]
    fn zero_means_no_limit() {
        let (inflight, _registry) = inflight(0);
        let _a = inflight.acquire(1 << 40).unwrap();
        let _b = inflight.acquire(1 << 40).unwrap();
    }

    #[test]
    fn refusals_are_503_and_grpc_unavailable() {
        let e = InflightLimitExceeded {
            inflight: 1,
            bytes: 2,
            limit: 2,
        };
        assert_eq!(
            e.clone().into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(tonic::Status::from(e).code(), tonic::Code::Unavailable);
    }
}
