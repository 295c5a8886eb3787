//! OTLP/gRPC metrics: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.

use std::sync::Arc;

use common::auth::Authenticator;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tonic::{Request, Response, Status};

use crate::distributor::Distributor;
use crate::grpc_auth::authorize_write;
use crate::traces::grpc_status;

/// The gRPC `MetricsService`, authorised like an HTTP write.
pub struct MetricsGrpcService {
    distributor: Arc<Distributor>,
    auth: Arc<Authenticator>,
}

impl MetricsGrpcService {
    /// A tonic service pushing through `distributor`, authorised by `auth`.
    pub fn server(
        distributor: Arc<Distributor>,
        auth: Arc<Authenticator>,
    ) -> MetricsServiceServer<Self> {
        let limit = distributor.cfg.max_recv_msg_size;
        MetricsServiceServer::new(Self { distributor, auth }).max_decoding_message_size(limit)
    }
}

#[tonic::async_trait]
impl MetricsService for MetricsGrpcService {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let tenant = authorize_write(&self.auth, &request)?;
        self.distributor
            .push_otlp_metrics(&tenant, request.into_inner().resource_metrics)
            .await
            .map(Response::new)
            .map_err(|e| grpc_status(e.status(), e.to_string()))
    }
}
