//! OTLP/HTTP traces: `POST /v1/traces` (the OTLP default path) and
//! `POST /otlp/v1/traces` (Mimir/Tempo-style prefix), protobuf or JSON,
//! optionally gzip-compressed.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::tenant::tenant_from_headers;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::{ExportError, TracesDistributor};
use crate::http::read_body;
use crate::otlp;

impl TracesDistributor {
    /// The OTLP/HTTP traces routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/traces", post(export))
            .route("/otlp/v1/traces", post(export))
            .layer(DefaultBodyLimit::disable())
            .with_state(self)
    }
}

async fn export(
    State(d): State<Arc<TracesDistributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match export_inner(&d, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn export_inner(
    d: &TracesDistributor,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ExportError> {
    let tenant = tenant_from_headers(headers, d.multitenancy)?;
    let body = read_body(body, d.cfg.max_request_body_size)
        .await
        .map_err(otlp::OtlpError::from)?;
    let (req, format): (ExportTraceServiceRequest, _) =
        otlp::decode(headers, &body, d.cfg.decode_limits())?;
    let summary = d.push(&tenant, req.resource_spans, body.len()).await?;
    Ok(otlp::response(format, &summary.response()))
}
