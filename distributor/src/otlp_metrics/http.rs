//! `POST /otlp/v1/metrics`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use common::tenant::tenant_from_headers;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

use crate::distributor::Distributor;
use crate::http::read_body;
use crate::otlp::{self, OtlpError};
use crate::traces::ExportError;

/// The handler: decode, translate, push, answer in the request's format.
pub(crate) async fn export(
    State(d): State<Arc<Distributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let tenant = match tenant_from_headers(&headers, d.multitenancy) {
        Ok(t) => t,
        Err(e) => return ExportError::from(e).into_response(),
    };
    let decoded = match read_body(body, d.cfg.max_request_body_size).await {
        Ok(body) => {
            otlp::decode::<ExportMetricsServiceRequest>(&headers, &body, d.cfg.decode_limits())
        }
        Err(e) => Err(OtlpError::from(e)),
    };
    let (req, format) = match decoded {
        Ok(ok) => ok,
        Err(e) => return ExportError::from(e).into_response(),
    };
    let response = match d.push_otlp_metrics(&tenant, req.resource_metrics).await {
        Ok(resp) => otlp::response(format, &resp),
        Err(e) => e.into_response(),
    };
    d.metrics.request(&tenant, response.status());
    response
}
