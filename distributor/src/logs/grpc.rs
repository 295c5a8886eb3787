//! OTLP/gRPC logs: `opentelemetry.proto.collector.logs.v1.LogsService/Export`,
//! mapped to streams, refused and counted exactly as `POST /v1/logs` is.

use std::sync::Arc;

use common::auth::Authenticator;
use common::tenant::TenantId;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tonic::codegen::BoxFuture;
use tonic::{Request, Response, Status};

use super::{LogsDistributor, LogsError, otlp};
use crate::grpc_auth::authorize_write;
use crate::inflight::InflightBytes;
use crate::otlp_grpc::{OtlpExport, OtlpGrpcServer};
use crate::traces::grpc_status;

/// The gRPC `LogsService`, authorised like an HTTP write.
pub struct LogsGrpcService {
    logs: Arc<LogsDistributor>,
    auth: Arc<Authenticator>,
}

impl LogsGrpcService {
    /// A tonic service pushing through `logs`, authorised by `auth`, counted
    /// in `inflight`, that refuses messages over the distributor's decode
    /// limits before decoding them.
    pub fn server(
        logs: Arc<LogsDistributor>,
        auth: Arc<Authenticator>,
        inflight: Arc<InflightBytes>,
    ) -> OtlpGrpcServer<Self> {
        let limits = logs.cfg.decode_limits();
        OtlpGrpcServer::new(Self { logs, auth }, limits, inflight)
    }
}

impl OtlpExport for LogsGrpcService {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;

    fn export(
        self: Arc<Self>,
        request: Request<ExportLogsServiceRequest>,
    ) -> BoxFuture<Response<ExportLogsServiceResponse>, Status> {
        Box::pin(async move {
            let tenant = authorize_write(&self.auth, &request)?;
            push(&self.logs, &tenant, request.into_inner())
                .await
                .map(|()| Response::new(ExportLogsServiceResponse::default()))
                .map_err(|e| grpc_status(e.status(), e.to_string()))
        })
    }
}

/// Maps and pushes one export; a refused line fails it as it fails the
/// HTTP push, and the outcome is counted the same way.
async fn push(
    logs: &LogsDistributor,
    tenant: &TenantId,
    request: ExportLogsServiceRequest,
) -> Result<(), LogsError> {
    let budget = logs.cfg.max_decoded_request_bytes;
    let streams = otlp::to_streams(request, common::time::now_ns(), budget)
        .map_err(|e| LogsError::Decode(e.into()));
    logs.push_and_count(tenant, streams).await
}
