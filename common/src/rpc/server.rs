//! The ingester's side of the internal service: a tonic service that decodes
//! each call, hands it to the ingester through the same traits the
//! single-process wiring uses, and encodes the answer. Query results are
//! streamed in batches so no message grows with the result.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, StdError, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic_prost::ProstCodec;

use super::convert::{
    InvalidMessage, entry_from_pb, exemplars_from_pb, exemplars_to_pb, histograms_from_pb,
    labels_from_pb, labels_to_pb, matchers_from_pb, metadata_from_pb, metadata_to_pb,
    samples_from_pb, scope_from_pb, scope_to_pb, series_to_pb, stream_to_pb,
};
use super::messages as pb;
use super::{IngesterApi, SERVICE, batches};
use crate::logs::{Direction, LogSelect, PushStream};
use crate::push::{PushError, PushSeries};
use crate::series::StoreError;
use crate::tenant::TenantId;
use crate::traces::TraceScan;
use crate::traces::otlp::{decode_spans, encode_spans};

/// The tonic service to add to the ingester's gRPC server.
pub struct IngesterGrpc<T> {
    inner: Arc<T>,
    max_message_bytes: usize,
}

impl<T> IngesterGrpc<T> {
    /// Serves `inner`, accepting and sending messages up to `max_message_bytes`.
    pub fn new(inner: Arc<T>, max_message_bytes: usize) -> Self {
        Self {
            inner,
            max_message_bytes,
        }
    }
}

impl<T> Clone for IngesterGrpc<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            max_message_bytes: self.max_message_bytes,
        }
    }
}

impl<T> NamedService for IngesterGrpc<T> {
    const NAME: &'static str = SERVICE;
}

impl From<InvalidMessage> for Status {
    fn from(e: InvalidMessage) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

fn push_status(e: PushError) -> Status {
    match e {
        PushError::Wal(m) => Status::internal(format!("write-ahead log: {m}")),
        PushError::Unavailable(m) => Status::unavailable(m),
    }
}

fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::TooManySeries { .. } | StoreError::TooManyChunkBytes { .. } => {
            Status::resource_exhausted(e.to_string())
        }
        e => Status::internal(e.to_string()),
    }
}

fn tenant(id: &str) -> Result<TenantId, Status> {
    TenantId::parse(id).map_err(|e| Status::invalid_argument(format!("tenant: {e}")))
}

type Reply<R> = BoxFuture<R, Status>;

/// A call routed to its method: the HTTP response, never an error.
type Routed = BoxFuture<http::Response<Body>, Infallible>;

/// One unary method: decodes `Req`, runs the handler once, encodes `Resp`.
struct Unary<F, Resp>(Option<F>, PhantomData<fn() -> Resp>);

impl<Req, Resp, F> UnaryService<Req> for Unary<F, Resp>
where
    F: FnOnce(Req) -> Reply<Resp>,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Future = BoxFuture<tonic::Response<Resp>, Status>;

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        let handler = self.0.take();
        let reply = handler.map(|h| h(request.into_inner()));
        Box::pin(async move {
            match reply {
                Some(r) => r.await.map(tonic::Response::new),
                None => Err(Status::internal("handler called twice")),
            }
        })
    }
}

/// One server-streaming method: the handler's batches, one message each.
struct Streaming<F, Resp>(Option<F>, PhantomData<fn() -> Resp>);

type Batches<Resp> = futures::stream::Iter<std::vec::IntoIter<Result<Resp, Status>>>;

impl<Req, Resp, F> ServerStreamingService<Req> for Streaming<F, Resp>
where
    F: FnOnce(Req) -> Reply<Vec<Resp>>,
    Resp: Send + 'static,
{
    type Response = Resp;
    type ResponseStream = Batches<Resp>;
    type Future = BoxFuture<tonic::Response<Batches<Resp>>, Status>;

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        let handler = self.0.take();
        let reply = handler.map(|h| h(request.into_inner()));
        Box::pin(async move {
            let batches = match reply {
                Some(r) => r.await?,
                None => return Err(Status::internal("handler called twice")),
            };
            let items: Vec<Result<Resp, Status>> = batches.into_iter().map(Ok).collect();
            Ok(tonic::Response::new(futures::stream::iter(items)))
        })
    }
}

impl<T> IngesterGrpc<T> {
    fn grpc<Req, Resp>(&self) -> Grpc<ProstCodec<Resp, Req>>
    where
        Req: prost::Message + Default + Send + 'static,
        Resp: prost::Message + Send + 'static,
    {
        Grpc::new(ProstCodec::default()).apply_max_message_size_config(
            Some(self.max_message_bytes),
            Some(self.max_message_bytes),
        )
    }

    fn unary<B, Req, Resp, F>(&self, req: http::Request<B>, f: F) -> Routed
    where
        B: tonic::codegen::Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
        Req: prost::Message + Default + Send + 'static,
        Resp: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Reply<Resp> + Send + 'static,
    {
        let mut grpc = self.grpc::<Req, Resp>();
        Box::pin(async move { Ok(grpc.unary(Unary(Some(f), PhantomData), req).await) })
    }

    fn streaming<B, Req, Resp, F>(&self, req: http::Request<B>, f: F) -> Routed
    where
        B: tonic::codegen::Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
        Req: prost::Message + Default + Send + 'static,
        Resp: prost::Message + Send + 'static,
        F: FnOnce(Req) -> Reply<Vec<Resp>> + Send + 'static,
    {
        let mut grpc = self.grpc::<Req, Resp>();
        Box::pin(async move {
            Ok(grpc
                .server_streaming(Streaming(Some(f), PhantomData), req)
                .await)
        })
    }
}

impl<T, B> tonic::codegen::Service<http::Request<B>> for IngesterGrpc<T>
where
    T: IngesterApi,
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
        let ing = Arc::clone(&self.inner);
        let method = req
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(SERVICE))
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or("")
            .to_string();
        match method.as_str() {
            "PushSeries" => self.unary(req, move |r| push_series(ing, r)),
            "PushExemplars" => self.unary(req, move |r| push_exemplars(ing, r)),
            "PushMetadata" => self.unary(req, move |r| push_metadata(ing, r)),
            "PushLogs" => self.unary(req, move |r| push_logs(ing, r)),
            "PushSpans" => self.unary(req, move |r| push_spans(ing, r)),
            "Select" => self.streaming(req, move |r| select(ing, r)),
            "Series" => self.unary(req, move |r| series(ing, r)),
            "LabelNames" => self.unary(req, move |r| label_names(ing, r)),
            "LabelValues" => self.unary(req, move |r| label_values(ing, r)),
            "Exemplars" => self.unary(req, move |r| exemplars(ing, r)),
            "Metadata" => self.unary(req, move |r| metadata(ing, r)),
            "SelectLogs" => self.streaming(req, move |r| select_logs(ing, r)),
            "LogStreams" => self.unary(req, move |r| log_streams(ing, r)),
            "TraceById" => self.unary(req, move |r| trace_by_id(ing, r)),
            "SearchTraces" => self.streaming(req, move |r| search_traces(ing, r)),
            "TagNames" => self.unary(req, move |r| tag_names(ing, r)),
            "TagValues" => self.unary(req, move |r| tag_values(ing, r)),
            _ => Box::pin(async move { Ok(Status::unimplemented(method).into_http()) }),
        }
    }
}

fn push_series<T: IngesterApi>(ing: Arc<T>, r: pb::PushSeriesRequest) -> Reply<pb::PushResponse> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let series = r
            .series
            .into_iter()
            .map(|s| {
                let samples = samples_from_pb(&s)?;
                let histograms = histograms_from_pb(&s)?;
                Ok(PushSeries {
                    labels: labels_from_pb(s.labels),
                    samples,
                    histograms,
                })
            })
            .collect::<Result<Vec<_>, InvalidMessage>>()?;
        let out = crate::push::MetricsPusher::push(&*ing, &tenant, series)
            .await
            .map_err(push_status)?;
        Ok(pb::PushResponse {
            accepted: out.accepted as u64,
            accepted_histograms: out.accepted_histograms as u64,
            rejected: out
                .rejected
                .into_iter()
                .map(|r| pb::Rejection {
                    reason: r.reason.id().into(),
                    labels: labels_to_pb(&r.labels),
                    count: r.samples as u64,
                    detail: r.detail,
                    ..Default::default()
                })
                .collect(),
        })
    })
}

fn push_exemplars<T: IngesterApi>(
    ing: Arc<T>,
    r: pb::PushExemplarsRequest,
) -> Reply<pb::PushExemplarsResponse> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let exemplars = r.series.into_iter().map(exemplars_from_pb).collect();
        let out = crate::push::MetricsPusher::push_exemplars(&*ing, &tenant, exemplars)
            .await
            .map_err(push_status)?;
        Ok(pb::PushExemplarsResponse {
            accepted: out.accepted as u64,
            out_of_order: out.out_of_order as u64,
            duplicates: out.duplicates as u64,
        })
    })
}

fn push_metadata<T: IngesterApi>(ing: Arc<T>, r: pb::PushMetadataRequest) -> Reply<pb::Count> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let metadata = r.metadata.into_iter().map(metadata_from_pb).collect();
        let kept = crate::push::MetricsPusher::push_metadata(&*ing, &tenant, metadata)
            .await
            .map_err(push_status)?;
        Ok(pb::Count { count: kept as u64 })
    })
}

fn push_logs<T: IngesterApi>(ing: Arc<T>, r: pb::PushLogsRequest) -> Reply<pb::PushResponse> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let streams = r
            .streams
            .into_iter()
            .map(|s| PushStream {
                labels: labels_from_pb(s.labels),
                entries: s.entries.into_iter().map(entry_from_pb).collect(),
            })
            .collect();
        let out = crate::logs::LogsPusher::push_logs(&*ing, &tenant, streams)
            .await
            .map_err(push_status)?;
        Ok(pb::PushResponse {
            accepted: out.accepted as u64,
            accepted_histograms: 0,
            rejected: out
                .rejected
                .into_iter()
                .map(|r| pb::Rejection {
                    reason: r.reason.id().into(),
                    labels: labels_to_pb(&r.labels),
                    count: r.lines as u64,
                    bytes: r.bytes as u64,
                    detail: r.detail,
                    ..Default::default()
                })
                .collect(),
        })
    })
}

fn push_spans<T: IngesterApi>(ing: Arc<T>, r: pb::PushSpansRequest) -> Reply<pb::PushResponse> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let spans =
            decode_spans(&r.spans).map_err(|e| Status::invalid_argument(format!("spans: {e}")))?;
        let out = crate::traces::TracesPusher::push_spans(&*ing, &tenant, spans)
            .await
            .map_err(push_status)?;
        Ok(pb::PushResponse {
            accepted: out.accepted as u64,
            accepted_histograms: 0,
            rejected: out
                .rejected
                .into_iter()
                .map(|r| pb::Rejection {
                    reason: r.reason.id().into(),
                    count: r.spans as u64,
                    detail: r.detail,
                    trace_id: r.trace_id.to_vec(),
                    ..Default::default()
                })
                .collect(),
        })
    })
}

fn select<T: IngesterApi>(ing: Arc<T>, r: pb::SelectRequest) -> Reply<Vec<pb::SeriesBatch>> {
    Box::pin(async move {
        let (tenant, matchers) = selection(&r)?;
        let series = crate::series::SeriesStore::select(&*ing, &tenant, &matchers, r.start, r.end)
            .await
            .map_err(store_status)?;
        let encoded = series
            .iter()
            .map(|s| series_to_pb(&s.labels, &s.samples, &s.histograms));
        Ok(batches(encoded, |s| 16 * s.timestamps.len() + 64)
            .into_iter()
            .map(|series| pb::SeriesBatch { series })
            .collect())
    })
}

/// The tenant and matchers of a selection.
fn selection(r: &pb::SelectRequest) -> Result<(TenantId, Vec<crate::series::Matcher>), Status> {
    Ok((tenant(&r.tenant)?, matchers_from_pb(r.matchers.clone())?))
}

fn label_sets(sets: Vec<crate::labels::Labels>) -> pb::LabelSets {
    pb::LabelSets {
        sets: sets
            .iter()
            .map(|l| pb::LabelSet {
                labels: labels_to_pb(l),
            })
            .collect(),
    }
}

fn series<T: IngesterApi>(ing: Arc<T>, r: pb::SelectRequest) -> Reply<pb::LabelSets> {
    Box::pin(async move {
        let (tenant, matchers) = selection(&r)?;
        let sets = crate::series::SeriesStore::series(&*ing, &tenant, &matchers, r.start, r.end)
            .await
            .map_err(store_status)?;
        Ok(label_sets(sets))
    })
}

fn label_names<T: IngesterApi>(ing: Arc<T>, r: pb::SelectRequest) -> Reply<pb::Strings> {
    Box::pin(async move {
        let (tenant, matchers) = selection(&r)?;
        let values =
            crate::series::SeriesStore::label_names(&*ing, &tenant, &matchers, r.start, r.end)
                .await
                .map_err(store_status)?;
        Ok(pb::Strings { values })
    })
}

fn label_values<T: IngesterApi>(ing: Arc<T>, r: pb::SelectRequest) -> Reply<pb::Strings> {
    Box::pin(async move {
        let (tenant, matchers) = selection(&r)?;
        let values = crate::series::SeriesStore::label_values(
            &*ing, &tenant, &r.name, &matchers, r.start, r.end,
        )
        .await
        .map_err(store_status)?;
        Ok(pb::Strings { values })
    })
}

fn exemplars<T: IngesterApi>(ing: Arc<T>, r: pb::ExemplarsRequest) -> Reply<pb::ExemplarsResponse> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let selectors = r
            .selectors
            .into_iter()
            .map(|s| matchers_from_pb(s.matchers))
            .collect::<Result<Vec<_>, _>>()?;
        let found =
            crate::exemplar::ExemplarSource::exemplars(&*ing, &tenant, &selectors, r.start, r.end)
                .await
                .map_err(store_status)?;
        Ok(pb::ExemplarsResponse {
            series: found.iter().map(exemplars_to_pb).collect(),
        })
    })
}

fn metadata<T: IngesterApi>(ing: Arc<T>, r: pb::MetadataRequest) -> Reply<pb::MetadataResponse> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let found = crate::metadata::MetadataSource::metadata(&*ing, &tenant, r.metric.as_deref())
            .await
            .map_err(store_status)?;
        Ok(pb::MetadataResponse {
            metadata: found.iter().map(metadata_to_pb).collect(),
        })
    })
}

fn select_logs<T: IngesterApi>(
    ing: Arc<T>,
    r: pb::SelectLogsRequest,
) -> Reply<Vec<pb::StreamBatch>> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let sel = LogSelect {
            matchers: matchers_from_pb(r.matchers)?,
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            line_filter: None,
            limit: r.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
            direction: if r.backward {
                Direction::Backward
            } else {
                Direction::Forward
            },
        };
        let streams = crate::logs::LogStore::select_logs(&*ing, &tenant, &sel)
            .await
            .map_err(store_status)?;
        let encoded = streams
            .into_iter()
            .map(|s| stream_to_pb(&s.labels, s.entries));
        let size = |s: &pb::Stream| s.entries.iter().map(|e| e.line.len() + 16).sum::<usize>();
        Ok(batches(encoded, size)
            .into_iter()
            .map(|streams| pb::StreamBatch { streams })
            .collect())
    })
}

fn log_streams<T: IngesterApi>(ing: Arc<T>, r: pb::SelectRequest) -> Reply<pb::LabelSets> {
    Box::pin(async move {
        let (tenant, matchers) = selection(&r)?;
        let sets = crate::logs::LogStore::log_streams(&*ing, &tenant, &matchers, r.start, r.end)
            .await
            .map_err(store_status)?;
        Ok(label_sets(sets))
    })
}

fn trace_id(bytes: &[u8]) -> Result<crate::traces::TraceId, Status> {
    bytes
        .try_into()
        .map_err(|_| Status::invalid_argument("trace ID: not 16 bytes"))
}

fn trace_by_id<T: IngesterApi>(ing: Arc<T>, r: pb::TraceByIdRequest) -> Reply<pb::Spans> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let id = trace_id(&r.trace_id)?;
        let found =
            crate::traces::TraceStore::trace_by_id(&*ing, &tenant, id, r.start_ns, r.end_ns)
                .await
                .map_err(store_status)?;
        Ok(pb::Spans {
            spans: found.map_or_else(Vec::new, |t| encode_spans(&t.spans)),
        })
    })
}

fn search_traces<T: IngesterApi>(ing: Arc<T>, r: pb::SearchRequest) -> Reply<Vec<pb::Spans>> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let scan = TraceScan {
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            filter: None,
            limit: r.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        };
        let traces = crate::traces::TraceStore::search(&*ing, &tenant, &scan)
            .await
            .map_err(store_status)?;
        let size = |t: &crate::traces::Trace| {
            t.spans
                .iter()
                .map(crate::traces::otlp::span_size)
                .sum::<usize>()
        };
        Ok(batches(traces, size)
            .into_iter()
            .map(|ts| pb::Spans {
                spans: encode_spans(&ts.into_iter().flat_map(|t| t.spans).collect::<Vec<_>>()),
            })
            .collect())
    })
}

fn tag_names<T: IngesterApi>(ing: Arc<T>, r: pb::TagsRequest) -> Reply<pb::TagNames> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let names = crate::traces::TraceStore::tag_names(&*ing, &tenant, r.start_ns, r.end_ns)
            .await
            .map_err(store_status)?;
        Ok(pb::TagNames {
            tags: names
                .into_iter()
                .map(|(scope, name)| pb::TagName {
                    scope: scope_to_pb(scope),
                    name,
                })
                .collect(),
        })
    })
}

fn tag_values<T: IngesterApi>(ing: Arc<T>, r: pb::TagsRequest) -> Reply<pb::Strings> {
    Box::pin(async move {
        let tenant = tenant(&r.tenant)?;
        let scope = r.scope.map(scope_from_pb).transpose()?;
        let values = crate::traces::TraceStore::tag_values(
            &*ing, &tenant, scope, &r.key, r.start_ns, r.end_ns,
        )
        .await
        .map_err(store_status)?;
        Ok(pb::Strings {
            values: values.into_iter().collect(),
        })
    })
}
