//! The HTTP face of the metrics distributor: Prometheus remote write 1.0
//! and 2.0 on `POST /api/v1/push` (Mimir's path) and `POST /api/v1/write`,
//! told apart by content negotiation (`negotiate`), and OTLP metrics on
//! `POST /otlp/v1/metrics`.
//!
//! The handler only resolves the tenant, decodes the body, calls
//! [`Distributor::push`] and maps the outcome; the logic lives elsewhere.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::tenant::{TenantId, tenant_from_headers};
use futures::StreamExt;

use crate::distributor::{Distributor, PushSummary};
use crate::error::DistributorError;
use crate::remote_write::{self, DecodeError};
use crate::remote_write_v2;

/// How much of an oversized body is read and thrown away before answering
/// 413: enough that ordinary clients see the answer instead of a reset
/// connection, bounded so nobody can make the server read forever.
const MAX_DRAIN_BYTES: usize = 256 << 20;

/// The remote-write response headers counting what was written (spec 2.0).
const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";

/// Which remote-write message a request carries, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireVersion {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

impl WireVersion {
    /// The protocol version, as the `version` label of
    /// `cairn_distributor_remote_write_requests_total`.
    fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1.0",
            Self::V2 => "2.0",
        }
    }
}

/// Content negotiation as the remote write 2.0 spec and Prometheus's own
/// receiver do it: `application/x-protobuf` (or no `Content-Type` at all)
/// without a `proto` parameter, or with `proto=prometheus.WriteRequest`, is
/// 1.0; `proto=io.prometheus.write.v2.Request` is 2.0; anything else is
/// refused (415) before the body is read. The body must be snappy-encoded:
/// `Content-Encoding: snappy`, or no header (assumed snappy, as Prometheus
/// does for 1.0 clients that omit it); any other encoding is refused (415).
fn negotiate(headers: &HeaderMap) -> Result<WireVersion, DecodeError> {
    let header_text = |name| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    };
    if let Some(encoding) = header_text(header::CONTENT_ENCODING)
        && !encoding.is_empty()
        && !encoding.eq_ignore_ascii_case("snappy")
    {
        return Err(DecodeError::UnsupportedEncoding(encoding));
    }
    let Some(content_type) = header_text(header::CONTENT_TYPE).filter(|c| !c.is_empty()) else {
        return Ok(WireVersion::V1);
    };
    let unsupported = || DecodeError::UnsupportedContentType(content_type.clone());
    let mut parts = content_type.split(';');
    let media_type = parts.next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(unsupported());
    }
    let mut version = WireVersion::V1;
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let value = value.trim().trim_matches('"');
        version = if value.eq_ignore_ascii_case("prometheus.WriteRequest") {
            WireVersion::V1
        } else if value.eq_ignore_ascii_case("io.prometheus.write.v2.Request") {
            WireVersion::V2
        } else {
            return Err(unsupported());
        };
    }
    Ok(version)
}

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
        version: WireVersion,
        body: Body,
    ) -> Result<PushSummary, DistributorError> {
        let body = read_body(body, self.cfg.max_request_body_size)
            .await
            .map_err(DecodeError::from)?;
        let req = match version {
            WireVersion::V1 => remote_write::decode(&body, self.cfg.decode_limits())?,
            WireVersion::V2 => remote_write_v2::decode(&body, self.cfg.decode_limits())?,
        };
        let summary = self.push(tenant, req).await?;
        if summary.is_complete() {
            Ok(summary)
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
    let version = negotiate(&headers);
    let is_v2 = matches!(version, Ok(WireVersion::V2));
    let result = match (&tenant, version) {
        (Err(e), _) => Err(e.clone().into()),
        (Ok(_), Err(e)) => Err(e.into()),
        (Ok(tenant), Ok(version)) => {
            d.metrics.remote_write_version(tenant, version.as_str());
            d.decode_and_push(tenant, version, body).await
        }
    };
    let written = match &result {
        Ok(summary) | Err(DistributorError::Partial(summary)) => Some(summary),
        Err(_) => None,
    }
    .map_or((0, 0, 0), |s| {
        (s.accepted, s.accepted_histograms, s.accepted_exemplars)
    });
    let mut response = match result {
        // 2.0 receivers answer 204; 1.0 clients have always had 200.
        Ok(_) if is_v2 => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => {
            if let Some(reason) = e.bad_request_reason() {
                d.metrics.bad_request(reason);
            }
            e.into_response()
        }
    };
    if is_v2 {
        let (samples, histograms, exemplars) = written;
        let h = response.headers_mut();
        h.insert(SAMPLES_WRITTEN, HeaderValue::from(samples));
        h.insert(HISTOGRAMS_WRITTEN, HeaderValue::from(histograms));
        h.insert(EXEMPLARS_WRITTEN, HeaderValue::from(exemplars));
    }
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
