//! The HTTP face of the metrics distributor: Prometheus remote write on
//! `POST /api/v1/push` (Mimir's path) and `POST /api/v1/write`, and OTLP
//! metrics on `POST /otlp/v1/metrics`.
//!
//! The handler only resolves the tenant, decodes the body, calls
//! [`Distributor::push`] and maps the outcome; the logic lives elsewhere.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::tenant::{TenantId, tenant_from_headers};
use futures::StreamExt;

use crate::distributor::Distributor;
use crate::error::DistributorError;
use crate::remote_write::{self, DecodeError};

/// How much of an oversized body is read and thrown away before answering
/// 413: enough that ordinary clients see the answer instead of a reset
/// connection, bounded so nobody can make the server read forever.
const MAX_DRAIN_BYTES: usize = 256 << 20;

/// The `Content-Type` parameter a remote write 2.0 client sends.
const REMOTE_WRITE_V2: &str = "io.prometheus.write.v2.request";

impl Distributor {
    /// The remote-write routes, with the request body limited to
    /// `max_request_body_size`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/api/v1/push", post(remote_write))
            .route("/api/v1/write", post(remote_write))
            // `/v1/metrics` is where the OpenTelemetry SDKs send when given
            // only `OTEL_EXPORTER_OTLP_ENDPOINT`.
            .route("/v1/metrics", post(crate::otlp_metrics::export))
            .route("/otlp/v1/metrics", post(crate::otlp_metrics::export))
            .layer(DefaultBodyLimit::disable())
            .with_state(self)
    }

    async fn decode_and_push(
        &self,
        tenant: &TenantId,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<(), DistributorError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if content_type.to_ascii_lowercase().contains(REMOTE_WRITE_V2) {
            return Err(DecodeError::UnsupportedVersion.into());
        }
        let body = read_body(body, self.cfg.max_request_body_size)
            .await
            .map_err(DecodeError::from)?;
        let req = remote_write::decode(&body, self.cfg.decode_limits())?;
        let summary = self.push(tenant, req).await?;
        if summary.is_complete() {
            Ok(())
        } else {
            Err(DistributorError::Partial(summary))
        }
    }
}

async fn remote_write(
    State(d): State<Arc<Distributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let tenant = tenant_from_headers(&headers, d.multitenancy);
    let result = match &tenant {
        Ok(tenant) => d.decode_and_push(tenant, &headers, body).await,
        Err(e) => Err(e.clone().into()),
    };
    let response = match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            if let Some(reason) = e.bad_request_reason() {
                d.metrics.bad_request(reason);
            }
            e.into_response()
        }
    };
    if let Ok(tenant) = &tenant {
        d.metrics.request(tenant, response.status());
    }
    response
}

/// Why a request body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit (answered 413).
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, `max_request_body_size`.
        limit: usize,
    },
    /// The connection failed or a compressed body did not decompress.
    #[error("reading request body: {0}")]
    Read(String),
}

impl From<BodyError> for DecodeError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { limit } => DecodeError::BodyTooLarge { limit },
            BodyError::Read(e) => DecodeError::ReadBody(e),
        }
    }
}

/// Reads the request body up to `limit` bytes. A larger body is drained (up
/// to [`MAX_DRAIN_BYTES`]) and refused, so the client reads the 413 rather
/// than a connection reset while it is still sending. Shared by every push
/// endpoint.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        } else if seen > MAX_DRAIN_BYTES {
            break;
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(Bytes::from(buf))
}
