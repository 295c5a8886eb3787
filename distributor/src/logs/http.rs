//! The HTTP face of the logs distributor: `POST /loki/api/v1/push` (Loki's
//! JSON or snappy protobuf, chosen by `Content-Type`) and `POST
//! /otlp/v1/logs` (OTLP/HTTP protobuf or JSON). Bodies may be gzip
//! compressed (`Content-Encoding: gzip`). Tenant extraction and the body
//! size limit are the metrics push's.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::tenant::tenant_from_headers;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;
use tower_http::decompression::RequestDecompressionLayer;

use super::LogsDistributor;
use super::error::LogsError;
use super::wire::{self, RawStream};
use crate::http::read_body;

/// Which push API a request came through.
#[derive(Clone, Copy)]
enum Api {
    Loki,
    Otlp,
}

impl LogsDistributor {
    /// The logs push routes, gzip bodies decompressed, with the request
    /// body limited to `max_request_body_size` (after decompression).
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/loki/api/v1/push", post(loki_push))
            // `/v1/logs`: the OpenTelemetry SDKs' path under
            // `OTEL_EXPORTER_OTLP_ENDPOINT`.
            .route("/v1/logs", post(otlp_push))
            .route("/otlp/v1/logs", post(otlp_push))
            .layer(DefaultBodyLimit::disable())
            .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true))
            .with_state(self)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"))
}

async fn loki_push(
    State(d): State<Arc<LogsDistributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(d, Api::Loki, headers, body).await
}

async fn otlp_push(
    State(d): State<Arc<LogsDistributor>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(d, Api::Otlp, headers, body).await
}

/// Decodes `body` as `api` wants.
fn decode(
    d: &LogsDistributor,
    api: Api,
    json: bool,
    body: &[u8],
) -> Result<Vec<RawStream>, LogsError> {
    Ok(wire::decode_push(
        matches!(api, Api::Otlp),
        json,
        body,
        d.cfg.decode_limits(),
        common::time::now_ns(),
    )?)
}

async fn handle(d: Arc<LogsDistributor>, api: Api, headers: HeaderMap, body: Body) -> Response {
    let json = is_json(&headers);
    let tenant = tenant_from_headers(&headers, d.multitenancy);
    let result = match &tenant {
        Ok(tenant) => {
            let streams = match read_body(body, d.cfg.max_request_body_size).await {
                Ok(bytes) => decode(&d, api, json, &bytes),
                Err(e) => Err(e.into()),
            };
            d.push_and_count(tenant, streams).await
        }
        Err(e) => {
            // No tenant: counted as a bad request, not as a tenant's request.
            let e = LogsError::from(e.clone());
            d.count_bad_request(&e);
            Err(e)
        }
    };
    match result {
        Ok(()) => success(api, json),
        Err(e) => e.into_response(),
    }
}

/// Loki answers 204; OTLP an empty `ExportLogsServiceResponse` in the
/// request's encoding.
fn success(api: Api, json: bool) -> Response {
    match (api, json) {
        (Api::Loki, _) => StatusCode::NO_CONTENT.into_response(),
        (Api::Otlp, true) => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        (Api::Otlp, false) => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            ExportLogsServiceResponse::default().encode_to_vec(),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use async_trait::async_trait;
    use common::limits::{Limits, Overrides};
    use common::logs::{LogsPushOutcome, LogsPusher, PushStream};
    use common::push::PushError;
    use common::tenant::TenantId;
    use parking_lot::Mutex;
    use prometheus_client::registry::Registry;

    use crate::DistributorConfig;

    /// Records what it is given.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<PushStream>>);

    #[async_trait]
    impl LogsPusher for Recorder {
        async fn push_logs(
            &self,
            _: &TenantId,
            streams: Vec<PushStream>,
        ) -> Result<LogsPushOutcome, PushError> {
            let accepted = streams.iter().map(|s| s.entries.len()).sum();
            self.0.lock().extend(streams);
            Ok(LogsPushOutcome {
                accepted,
                rejected: vec![],
            })
        }
    }

    async fn serve() -> (String, Arc<Recorder>) {
        let rec = Arc::new(Recorder::default());
        let d = Arc::new(LogsDistributor::new(
            DistributorConfig::default(),
            Arc::new(Overrides::new(Limits::default())),
            rec.clone(),
            &mut Registry::default(),
            true,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, d.router()).await });
        (format!("http://{addr}"), rec)
    }

    #[tokio::test]
    async fn gzip_json_push_is_accepted_with_204() {
        common::storage::install_tls_provider();
        let (url, rec) = serve().await;
        let ts = common::time::now_ns();
        let json =
            format!(r#"{{"streams":[{{"stream":{{"app":"a"}},"values":[["{ts}","hello"]]}}]}}"#);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json.as_bytes()).unwrap();
        let r = reqwest::Client::new()
            .post(format!("{url}/loki/api/v1/push"))
            .header("X-Scope-OrgID", "t")
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(gz.finish().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        assert_eq!(rec.0.lock()[0].entries[0].line, "hello");
    }

    #[tokio::test]
    async fn missing_tenant_is_401() {
        common::storage::install_tls_provider();
        let (url, _) = serve().await;
        let r = reqwest::Client::new()
            .post(format!("{url}/otlp/v1/logs"))
            .body(Vec::new())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
}
