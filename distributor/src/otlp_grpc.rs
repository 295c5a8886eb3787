//! OTLP over gRPC with the decoded-size check of [`crate::decode_budget`].
//!
//! The services `tonic` generates decode each message with `prost` before
//! any of our code runs, so a 4 MB `ExportTraceServiceRequest` of empty
//! spans would take hundreds of megabytes before the handler could refuse
//! it. [`OtlpGrpcServer`] serves one OTLP `Export` method instead, with a
//! [`Codec`] whose decoder walks the message bytes with
//! `decode_budget::check_protobuf` first and refuses, with
//! `InvalidArgument` and the `err-cairn-decoded-request-too-large`
//! message, what would decode past `max_decoded_request_bytes`. The same
//! decoder counts the message in the distributor's
//! [`InflightBytes`] until the export has been answered.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Buf;
use prost::Message;
use tonic::Status;
use tonic::body::Body;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder};
use tonic::codegen::{BoxFuture, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic_prost::{ProstCodec, ProstEncoder};

use crate::decode_budget::{self, DecodeLimits};
use crate::inflight::{InflightBytes, InflightGuard};
use crate::otlp::OtlpRequest;

/// One OTLP gRPC service: its name, its `Export` request and response, and
/// the handler. Implemented by the traces and metrics receivers.
pub trait OtlpExport: Send + Sync + 'static {
    /// The gRPC service name, e.g.
    /// `opentelemetry.proto.collector.trace.v1.TraceService`.
    const NAME: &'static str;
    /// The export request, with its in-memory shape.
    type Request: OtlpRequest + Send + 'static;
    /// The export response.
    type Response: Message + Send + 'static;

    /// Handles one decoded export.
    fn export(
        self: Arc<Self>,
        request: tonic::Request<Self::Request>,
    ) -> BoxFuture<tonic::Response<Self::Response>, Status>;
}

/// The tonic service serving `S`'s `Export` method with the pre-scan.
pub struct OtlpGrpcServer<S> {
    inner: Arc<S>,
    limits: DecodeLimits,
    inflight: Arc<InflightBytes>,
}

impl<S> OtlpGrpcServer<S> {
    /// Serves `inner`, refusing messages over `limits.max_recv_msg_size`,
    /// those that would decode past `limits.max_decoded_request_bytes`, and
    /// those that would take `inflight` past its limit.
    pub fn new(inner: S, limits: DecodeLimits, inflight: Arc<InflightBytes>) -> Self {
        Self {
            inner: Arc::new(inner),
            limits,
            inflight,
        }
    }
}

impl<S> Clone for OtlpGrpcServer<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            limits: self.limits,
            inflight: Arc::clone(&self.inflight),
        }
    }
}

/// Where one call's decoder leaves the [`InflightGuard`] of its message
/// for the handler to hold until it has answered.
type GuardSlot = Arc<Mutex<Option<InflightGuard>>>;

impl<S: OtlpExport> NamedService for OtlpGrpcServer<S> {
    const NAME: &'static str = S::NAME;
}

/// `Export`, handed to tonic's unary machinery.
struct ExportMethod<S> {
    inner: Arc<S>,
    guard: GuardSlot,
}

impl<S: OtlpExport> UnaryService<S::Request> for ExportMethod<S> {
    type Response = S::Response;
    type Future = BoxFuture<tonic::Response<S::Response>, Status>;

    fn call(&mut self, request: tonic::Request<S::Request>) -> Self::Future {
        let guard = self.guard.lock().ok().and_then(|mut slot| slot.take());
        let export = Arc::clone(&self.inner).export(request);
        Box::pin(async move {
            let response = export.await;
            drop(guard);
            response
        })
    }
}

impl<S, B> tonic::codegen::Service<http::Request<B>> for OtlpGrpcServer<S>
where
    S: OtlpExport,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let is_export = req
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(S::NAME))
            == Some("/Export");
        if !is_export {
            let path = req.uri().path().to_string();
            return Box::pin(async move { Ok(Status::unimplemented(path).into_http()) });
        }
        let guard = GuardSlot::default();
        let codec = BudgetCodec::<S::Request, S::Response> {
            max_decoded_request_bytes: self.limits.max_decoded_request_bytes,
            inflight: Arc::clone(&self.inflight),
            guard: Arc::clone(&guard),
            _pd: PhantomData,
        };
        // gzip is what the OpenTelemetry Collector sends by default; the
        // message is inflated at most to `max_recv_msg_size`, then pre-scanned.
        let mut grpc = Grpc::new(codec)
            .accept_compressed(CompressionEncoding::Gzip)
            .apply_max_message_size_config(Some(self.limits.max_recv_msg_size), None);
        let method = ExportMethod {
            inner: Arc::clone(&self.inner),
            guard,
        };
        Box::pin(async move { Ok(grpc.unary(method, req).await) })
    }
}

/// `prost` encoding of `Resp`; decoding of `Req` after the in-flight
/// count and the pre-scan.
struct BudgetCodec<Req, Resp> {
    max_decoded_request_bytes: usize,
    inflight: Arc<InflightBytes>,
    guard: GuardSlot,
    _pd: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Codec for BudgetCodec<Req, Resp>
where
    Req: OtlpRequest + Send + 'static,
    Resp: Message + Send + 'static,
{
    type Encode = Resp;
    type Decode = Req;
    type Encoder = ProstEncoder<Resp>;
    type Decoder = BudgetDecoder<Req>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<Resp, Req>::default().encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BudgetDecoder {
            max_decoded_request_bytes: self.max_decoded_request_bytes,
            inflight: Arc::clone(&self.inflight),
            guard: Arc::clone(&self.guard),
            _pd: PhantomData,
        }
    }
}

/// Counts one whole message (tonic hands the decoder a complete,
/// decompressed message) in flight, checks it against the budget, then
/// decodes it.
struct BudgetDecoder<Req> {
    max_decoded_request_bytes: usize,
    inflight: Arc<InflightBytes>,
    guard: GuardSlot,
    _pd: PhantomData<fn() -> Req>,
}

impl<Req: OtlpRequest> Decoder for BudgetDecoder<Req> {
    type Item = Req;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Req>, Status> {
        // `DecodeBuf` is one contiguous `BytesMut`: this split does not copy.
        let message = src.copy_to_bytes(src.remaining());
        let guard = self.inflight.acquire(message.len())?;
        let decoded = decode_message(&message, self.max_decoded_request_bytes)?;
        if let Ok(mut slot) = self.guard.lock() {
            *slot = Some(guard);
        }
        Ok(Some(decoded))
    }
}

/// The decoder's work on one message: the pre-scan, then `prost`. Its
/// errors are those tonic's own codec gives (`Internal` for malformed
/// protobuf), plus `InvalidArgument` for a message over the budget.
fn decode_message<Req: OtlpRequest>(message: &[u8], limit: usize) -> Result<Req, Status> {
    decode_budget::check_protobuf(message, Req::SHAPE, limit)
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    Req::decode(message).map_err(|e| Status::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    /// A request of `n` empty spans: about 2 bytes each on the wire, a
    /// few hundred bytes each decoded.
    fn empty_spans(n: usize) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span::default(); n],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn a_message_that_would_decode_past_the_budget_is_refused_before_decoding() {
        let body = empty_spans(100_000);
        let status = decode_message::<ExportTraceServiceRequest>(&body, 1 << 20).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("err-cairn-decoded-request-too-large:"),
            "{}",
            status.message()
        );
        assert!(status.message().contains("max_decoded_request_bytes"));
    }

    #[test]
    fn a_message_within_the_budget_decodes() {
        let body = empty_spans(10);
        let req = decode_message::<ExportTraceServiceRequest>(&body, 1 << 20).unwrap();
        assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 10);
    }

    #[test]
    fn malformed_protobuf_is_an_internal_error_as_with_tonics_codec() {
        let status =
            decode_message::<ExportTraceServiceRequest>(&[0x0a, 0xff], 1 << 20).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}
