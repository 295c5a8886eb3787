//! OTLP/gRPC metrics: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.

use std::sync::Arc;

use common::auth::Authenticator;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tonic::codegen::BoxFuture;
use tonic::{Request, Response, Status};

use crate::distributor::Distributor;
use crate::grpc_auth::authorize_write;
use crate::inflight::InflightBytes;
use crate::otlp_grpc::{OtlpExport, OtlpGrpcServer};
use crate::traces::grpc_status;

/// The gRPC `MetricsService`, authorised like an HTTP write.
pub struct MetricsGrpcService {
    distributor: Arc<Distributor>,
    auth: Arc<Authenticator>,
}

impl MetricsGrpcService {
    /// A tonic service pushing through `distributor`, authorised by `auth`,
    /// counted in `inflight`, that refuses messages over the distributor's decode limits before
    /// decoding them.
    pub fn server(
        distributor: Arc<Distributor>,
        auth: Arc<Authenticator>,
        inflight: Arc<InflightBytes>,
    ) -> OtlpGrpcServer<Self> {
        let limits = distributor.cfg.decode_limits();
        OtlpGrpcServer::new(Self { distributor, auth }, limits, inflight)
    }
}

impl OtlpExport for MetricsGrpcService {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;

    fn export(
        self: Arc<Self>,
        request: Request<ExportMetricsServiceRequest>,
    ) -> BoxFuture<Response<ExportMetricsServiceResponse>, Status> {
        Box::pin(async move {
            let tenant = authorize_write(&self.auth, &request)?;
            self.distributor
                .push_otlp_metrics(&tenant, request.into_inner().resource_metrics)
                .await
                .map(Response::new)
                .map_err(|e| grpc_status(e.status(), e.to_string()))
        })
    }
}
