//! OTLP/gRPC traces: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

use std::sync::Arc;

use common::auth::Authenticator;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::TracesDistributor;
use crate::grpc_auth::authorize_write;

/// The gRPC `TraceService`: the tenant comes from the `x-scope-orgid`
/// metadata (or basic auth) and is checked like an HTTP write.
pub struct TraceGrpcService {
    traces: Arc<TracesDistributor>,
    auth: Arc<Authenticator>,
}

impl TraceGrpcService {
    /// A tonic service for `traces`, authorised by `auth`.
    pub fn server(
        traces: Arc<TracesDistributor>,
        auth: Arc<Authenticator>,
    ) -> TraceServiceServer<Self> {
        let limit = traces.cfg.max_recv_msg_size;
        TraceServiceServer::new(Self { traces, auth }).max_decoding_message_size(limit)
    }
}

#[tonic::async_trait]
impl TraceService for TraceGrpcService {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let tenant = authorize_write(&self.auth, &request)?;
        let bytes = request.get_ref().encoded_len();
        let summary = self
            .traces
            .push(&tenant, request.into_inner().resource_spans, bytes)
            .await
            .map_err(|e| e.grpc_status())?;
        Ok(Response::new(summary.response()))
    }
}
