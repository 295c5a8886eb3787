//! OTLP/gRPC traces: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.

use std::sync::Arc;

use common::auth::Authenticator;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codegen::BoxFuture;
use tonic::{Request, Response, Status};

use super::TracesDistributor;
use crate::grpc_auth::authorize_write;
use crate::inflight::InflightBytes;
use crate::otlp_grpc::{OtlpExport, OtlpGrpcServer};

/// The gRPC `TraceService`: the tenant comes from the `x-scope-orgid`
/// metadata (or basic auth) and is checked like an HTTP write.
pub struct TraceGrpcService {
    traces: Arc<TracesDistributor>,
    auth: Arc<Authenticator>,
}

impl TraceGrpcService {
    /// A tonic service for `traces`, authorised by `auth`, counted in `inflight`, that refuses
    /// messages over the distributor's decode limits before decoding them.
    pub fn server(
        traces: Arc<TracesDistributor>,
        auth: Arc<Authenticator>,
        inflight: Arc<InflightBytes>,
    ) -> OtlpGrpcServer<Self> {
        let limits = traces.cfg.decode_limits();
        OtlpGrpcServer::new(Self { traces, auth }, limits, inflight)
    }
}

impl OtlpExport for TraceGrpcService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;

    fn export(
        self: Arc<Self>,
        request: Request<ExportTraceServiceRequest>,
    ) -> BoxFuture<Response<ExportTraceServiceResponse>, Status> {
        Box::pin(async move {
            let tenant = authorize_write(&self.auth, &request)?;
            let bytes = request.get_ref().encoded_len();
            let summary = self
                .traces
                .push(&tenant, request.into_inner().resource_spans, bytes)
                .await
                .map_err(|e| e.grpc_status())?;
            Ok(Response::new(summary.response()))
        })
    }
}
