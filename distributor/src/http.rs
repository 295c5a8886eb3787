//! The HTTP face of the metrics distributor: Prometheus remote write on
//! `POST /api/v1/push` (Mimir's path) and `POST /api/v1/write`.
//!
//! The handler only resolves the tenant, decodes the body, calls
//! [`Distributor::push`] and maps the outcome; the logic lives elsewhere.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::tenant::{TenantId, tenant_from_headers};

use crate::distributor::Distributor;
use crate::error::DistributorError;
use crate::remote_write::{self, DecodeError};

/// The `Content-Type` parameter a remote write 2.0 client sends.
const REMOTE_WRITE_V2: &str = "io.prometheus.write.v2.request";

impl Distributor {
    /// The remote-write routes, with the request body limited to
    /// `max_request_body_size`.
    pub fn router(self: Arc<Self>) -> Router {
        let body_limit = self.cfg.max_request_body_size;
        Router::new()
            .route("/api/v1/push", post(remote_write))
            .route("/api/v1/write", post(remote_write))
            .layer(DefaultBodyLimit::max(body_limit))
            .with_state(self)
    }

    async fn decode_and_push(
        &self,
        tenant: &TenantId,
        headers: &HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<(), DistributorError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if content_type.to_ascii_lowercase().contains(REMOTE_WRITE_V2) {
            return Err(DecodeError::UnsupportedVersion.into());
        }
        let body = body.map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => DecodeError::BodyTooLarge {
                limit: self.cfg.max_request_body_size,
            },
            _ => DecodeError::ReadBody(rejection.body_text()),
        })?;
        let req = remote_write::decode(&body, self.cfg.max_recv_msg_size)?;
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
    body: Result<Bytes, BytesRejection>,
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
