//! One remote ingester behind the write and read traits: each call has a
//! deadline, at most `max_inflight` calls are in flight per ingester, and
//! reads (which are safe to repeat) are retried once when the ingester was
//! unreachable. Pushes are not retried here: the replication quorum decides.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, SemaphorePermit};
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

use super::SERVICE;
use super::convert::{
    InvalidMessage, entry_from_pb, exemplars_from_pb, exemplars_to_pb, labels_from_pb,
    matchers_to_pb, metadata_from_pb, metadata_to_pb, query_series_from_pb, reason_from_pb,
    scope_from_pb, scope_to_pb, series_to_pb, stream_to_pb,
};
use super::messages as pb;
use crate::exemplar::{ExemplarSource, SeriesExemplars};
use crate::labels::Labels;
use crate::logs::{
    Direction, LogEntry, LogRejection, LogSelect, LogStore, LogsPushOutcome, LogsPusher,
    PushStream, StreamEntries,
};
use crate::metadata::{MetadataSource, MetricMetadata};
use crate::push::{ExemplarOutcome, MetricsPusher, PushError, PushOutcome, PushSeries, Rejection};
use crate::series::{Matcher, Series, SeriesStore, StoreError};
use crate::tenant::TenantId;
use crate::traces::otlp::{decode_spans, encode_spans};
use crate::traces::{
    AttrScope, Span, SpanRejection, Trace, TraceId, TraceScan, TraceStore, TracesPushOutcome,
    TracesPusher, union_traces,
};

/// `ingester_client:` — how distributors, queriers and rulers call ingesters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Deadline of one call (sent to the ingester as `grpc-timeout`).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long to wait for a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Calls in flight per ingester; more wait for a slot.
    pub max_inflight: usize,
    /// Largest message sent or accepted.
    pub max_message_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(2),
            max_inflight: 64,
            max_message_bytes: 256 << 20,
        }
    }
}

/// A client of one ingester's internal service.
#[derive(Clone)]
pub struct IngesterClient {
    addr: String,
    channel: Channel,
    inflight: Arc<Semaphore>,
    cfg: ClientConfig,
}

impl std::fmt::Debug for IngesterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngesterClient")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Why a remote call failed, before it is told as a push or store error.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("ingester {addr}: {status}")]
    Status { addr: String, status: Status },
    #[error("ingester {addr}: {source}")]
    Invalid {
        addr: String,
        source: InvalidMessage,
    },
}

impl From<CallError> for PushError {
    fn from(e: CallError) -> Self {
        match &e {
            CallError::Status { status, .. } if status.code() == Code::Internal => {
                PushError::Wal(e.to_string())
            }
            _ => PushError::Unavailable(e.to_string()),
        }
    }
}

impl From<CallError> for StoreError {
    fn from(e: CallError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Whether a failed call never reached the ingester's handler, so a read may
/// be sent again.
fn retryable(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::Unknown)
}

impl IngesterClient {
    /// A client of the ingester at gRPC address `addr` (`host:port`); it
    /// connects on first use and reconnects after failures.
    pub fn new(addr: &str, cfg: ClientConfig) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            addr: addr.to_string(),
            channel,
            inflight: Arc::new(Semaphore::new(cfg.max_inflight.max(1))),
            cfg,
        })
    }

    /// The ingester's gRPC address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn request<Req>(&self, msg: Req) -> tonic::Request<Req> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.cfg.timeout);
        req
    }

    fn path(method: &str) -> PathAndQuery {
        // Method names are ASCII identifiers, so this always parses.
        PathAndQuery::try_from(format!("/{SERVICE}/{method}"))
            .unwrap_or_else(|_| PathAndQuery::from_static("/"))
    }

    fn failed(&self, status: Status) -> CallError {
        CallError::Status {
            addr: self.addr.clone(),
            status,
        }
    }

    fn invalid(&self, source: InvalidMessage) -> CallError {
        CallError::Invalid {
            addr: self.addr.clone(),
            source,
        }
    }

    /// An in-flight slot and a connection ready for one call.
    async fn ready(&self) -> Result<(SemaphorePermit<'_>, Grpc<Channel>), Status> {
        let slot = self
            .inflight
            .acquire()
            .await
            .map_err(|_| Status::unavailable("client closed"))?;
        let mut grpc = Grpc::new(self.channel.clone())
            .max_decoding_message_size(self.cfg.max_message_bytes)
            .max_encoding_message_size(self.cfg.max_message_bytes);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("not ready: {e}")))?;
        Ok((slot, grpc))
    }

    async fn call_once<Req, Resp>(&self, method: &str, msg: Req) -> Result<Resp, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let (_slot, mut grpc) = self.ready().await?;
        let codec = ProstCodec::<Req, Resp>::default();
        let resp = grpc
            .unary(self.request(msg), Self::path(method), codec)
            .await?;
        Ok(resp.into_inner())
    }

    async fn stream_once<Req, Resp>(&self, method: &str, msg: Req) -> Result<Vec<Resp>, Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let (_slot, mut grpc) = self.ready().await?;
        let codec = ProstCodec::<Req, Resp>::default();
        let mut stream = grpc
            .server_streaming(self.request(msg), Self::path(method), codec)
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(item) = stream.message().await? {
            out.push(item);
        }
        Ok(out)
    }

    /// A call that changes state: sent once.
    async fn write<Req, Resp>(&self, method: &str, msg: Req) -> Result<Resp, CallError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.call_once(method, msg)
            .await
            .map_err(|s| self.failed(s))
    }

    /// A read: sent again once if the ingester could not be reached.
    async fn read<Req, Resp>(&self, method: &str, msg: Req) -> Result<Resp, CallError>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        match self.call_once(method, msg.clone()).await {
            Err(s) if retryable(&s) => self.call_once(method, msg).await,
            other => other,
        }
        .map_err(|s| self.failed(s))
    }

    /// A streamed read, retried like [`IngesterClient::read`].
    async fn read_stream<Req, Resp>(&self, method: &str, msg: Req) -> Result<Vec<Resp>, CallError>
    where
        Req: prost::Message + Clone + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        match self.stream_once(method, msg.clone()).await {
            Err(s) if retryable(&s) => self.stream_once(method, msg).await,
            other => other,
        }
        .map_err(|s| self.failed(s))
    }

    fn select_request(
        tenant: &TenantId,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        name: &str,
    ) -> pb::SelectRequest {
        pb::SelectRequest {
            tenant: tenant.as_str().to_string(),
            matchers: matchers_to_pb(matchers),
            start,
            end,
            name: name.to_string(),
        }
    }

    /// Decodes a push answer's rejections with `each`.
    fn rejections<R>(
        &self,
        rejected: Vec<pb::Rejection>,
        each: impl Fn(pb::Rejection, crate::discard::DiscardReason) -> Result<R, InvalidMessage>,
    ) -> Result<Vec<R>, CallError> {
        rejected
            .into_iter()
            .map(|r| {
                let reason = reason_from_pb(&r.reason)?;
                each(r, reason)
            })
            .collect::<Result<_, _>>()
            .map_err(|e| self.invalid(e))
    }

    fn label_sets(&self, sets: pb::LabelSets) -> Vec<Labels> {
        sets.sets
            .into_iter()
            .map(|s| labels_from_pb(s.labels))
            .collect()
    }
}

#[async_trait]
impl MetricsPusher for IngesterClient {
    async fn push(
        &self,
        tenant: &TenantId,
        series: Vec<PushSeries>,
    ) -> Result<PushOutcome, PushError> {
        let req = pb::PushSeriesRequest {
            tenant: tenant.as_str().to_string(),
            series: series
                .iter()
                .map(|s| series_to_pb(&s.labels, &s.samples, &s.histograms))
                .collect(),
        };
        let resp: pb::PushResponse = self.write("PushSeries", req).await?;
        let rejected = self.rejections(resp.rejected, |r, reason| {
            Ok(Rejection {
                reason,
                labels: labels_from_pb(r.labels),
                samples: r.count as usize,
                detail: r.detail,
            })
        })?;
        Ok(PushOutcome {
            accepted: resp.accepted as usize,
            accepted_histograms: resp.accepted_histograms as usize,
            rejected,
        })
    }

    async fn push_exemplars(
        &self,
        tenant: &TenantId,
        exemplars: Vec<SeriesExemplars>,
    ) -> Result<ExemplarOutcome, PushError> {
        let req = pb::PushExemplarsRequest {
            tenant: tenant.as_str().to_string(),
            series: exemplars.iter().map(exemplars_to_pb).collect(),
        };
        let resp: pb::PushExemplarsResponse = self.write("PushExemplars", req).await?;
        Ok(ExemplarOutcome {
            accepted: resp.accepted as usize,
            out_of_order: resp.out_of_order as usize,
            duplicates: resp.duplicates as usize,
        })
    }

    async fn push_metadata(
        &self,
        tenant: &TenantId,
        metadata: Vec<MetricMetadata>,
    ) -> Result<usize, PushError> {
        let req = pb::PushMetadataRequest {
            tenant: tenant.as_str().to_string(),
            metadata: metadata.iter().map(metadata_to_pb).collect(),
        };
        let resp: pb::Count = self.write("PushMetadata", req).await?;
        Ok(resp.count as usize)
    }
}

#[async_trait]
impl SeriesStore for IngesterClient {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let req = Self::select_request(tenant, matchers, mint, maxt, "");
        let batches: Vec<pb::SeriesBatch> = self.read_stream("Select", req).await?;
        let series = batches
            .into_iter()
            .flat_map(|b| b.series)
            .map(query_series_from_pb)
            .collect::<Result<_, _>>()
            .map_err(|e| self.invalid(e))?;
        Ok(series)
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let req = Self::select_request(tenant, matchers, mint, maxt, "");
        Ok(self.label_sets(self.read("Series", req).await?))
    }

    async fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let req = Self::select_request(tenant, matchers, mint, maxt, "");
        let resp: pb::Strings = self.read("LabelNames", req).await?;
        Ok(resp.values)
    }

    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let req = Self::select_request(tenant, matchers, mint, maxt, name);
        let resp: pb::Strings = self.read("LabelValues", req).await?;
        Ok(resp.values)
    }
}

#[async_trait]
impl ExemplarSource for IngesterClient {
    async fn exemplars(
        &self,
        tenant: &TenantId,
        selectors: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<SeriesExemplars>, StoreError> {
        let req = pb::ExemplarsRequest {
            tenant: tenant.as_str().to_string(),
            selectors: selectors
                .iter()
                .map(|m| pb::Selector {
                    matchers: matchers_to_pb(m),
                })
                .collect(),
            start,
            end,
        };
        let resp: pb::ExemplarsResponse = self.read("Exemplars", req).await?;
        Ok(resp.series.into_iter().map(exemplars_from_pb).collect())
    }
}

#[async_trait]
impl MetadataSource for IngesterClient {
    async fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
    ) -> Result<Vec<MetricMetadata>, StoreError> {
        let req = pb::MetadataRequest {
            tenant: tenant.as_str().to_string(),
            metric: metric.map(str::to_string),
        };
        let resp: pb::MetadataResponse = self.read("Metadata", req).await?;
        Ok(resp.metadata.into_iter().map(metadata_from_pb).collect())
    }
}

#[async_trait]
impl LogsPusher for IngesterClient {
    async fn push_logs(
        &self,
        tenant: &TenantId,
        streams: Vec<PushStream>,
    ) -> Result<LogsPushOutcome, PushError> {
        let req = pb::PushLogsRequest {
            tenant: tenant.as_str().to_string(),
            streams: streams
                .into_iter()
                .map(|s| stream_to_pb(&s.labels, s.entries))
                .collect(),
        };
        let resp: pb::PushResponse = self.write("PushLogs", req).await?;
        let rejected = self.rejections(resp.rejected, |r, reason| {
            Ok(LogRejection {
                reason,
                labels: labels_from_pb(r.labels),
                lines: r.count as usize,
                bytes: r.bytes as usize,
                detail: r.detail,
            })
        })?;
        Ok(LogsPushOutcome {
            accepted: resp.accepted as usize,
            rejected,
        })
    }
}

#[async_trait]
impl LogStore for IngesterClient {
    async fn select_logs(
        &self,
        tenant: &TenantId,
        sel: &LogSelect,
    ) -> Result<Vec<StreamEntries>, StoreError> {
        // The limit counts lines that pass the filter, which runs here.
        let limit = sel.limit.filter(|_| sel.line_filter.is_none());
        let req = pb::SelectLogsRequest {
            tenant: tenant.as_str().to_string(),
            matchers: matchers_to_pb(&sel.matchers),
            start_ns: sel.start_ns,
            end_ns: sel.end_ns,
            limit: limit.map(|l| l as u64),
            backward: sel.direction == Direction::Backward,
        };
        let batches: Vec<pb::StreamBatch> = self.read_stream("SelectLogs", req).await?;
        let mut out = Vec::new();
        for s in batches.into_iter().flat_map(|b| b.streams) {
            let mut entries: Vec<LogEntry> = s.entries.into_iter().map(entry_from_pb).collect();
            if let Some(keep) = &sel.line_filter {
                entries.retain(|e| keep(&e.line));
            }
            if !entries.is_empty() {
                out.push(StreamEntries {
                    labels: labels_from_pb(s.labels),
                    entries,
                });
            }
        }
        Ok(out)
    }

    async fn log_streams(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let req = Self::select_request(tenant, matchers, start_ns, end_ns, "");
        Ok(self.label_sets(self.read("LogStreams", req).await?))
    }
}

#[async_trait]
impl TracesPusher for IngesterClient {
    async fn push_spans(
        &self,
        tenant: &TenantId,
        spans: Vec<Span>,
    ) -> Result<TracesPushOutcome, PushError> {
        let req = pb::PushSpansRequest {
            tenant: tenant.as_str().to_string(),
            spans: encode_spans(&spans),
        };
        let resp: pb::PushResponse = self.write("PushSpans", req).await?;
        let rejected = self.rejections(resp.rejected, |r, reason| {
            let trace_id: TraceId = r
                .trace_id
                .as_slice()
                .try_into()
                .map_err(|_| InvalidMessage("rejected trace ID is not 16 bytes".into()))?;
            Ok(SpanRejection {
                reason,
                trace_id,
                spans: r.count as usize,
                detail: r.detail,
            })
        })?;
        Ok(TracesPushOutcome {
            accepted: resp.accepted as usize,
            rejected,
        })
    }
}

impl IngesterClient {
    fn spans(&self, bytes: &[u8]) -> Result<Vec<Span>, CallError> {
        decode_spans(bytes).map_err(|e| self.invalid(InvalidMessage(format!("spans: {e}"))))
    }
}

#[async_trait]
impl TraceStore for IngesterClient {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<Option<Trace>, StoreError> {
        let req = pb::TraceByIdRequest {
            tenant: tenant.as_str().to_string(),
            trace_id: id.to_vec(),
            start_ns,
            end_ns,
        };
        let resp: pb::Spans = self.read("TraceById", req).await?;
        let spans = self.spans(&resp.spans)?;
        Ok((!spans.is_empty()).then(|| Trace::from_spans(id, spans)))
    }

    async fn search(&self, tenant: &TenantId, scan: &TraceScan) -> Result<Vec<Trace>, StoreError> {
        // The limit counts traces that pass the filter, which runs here.
        let limit = scan.limit.filter(|_| scan.filter.is_none());
        let req = pb::SearchRequest {
            tenant: tenant.as_str().to_string(),
            start_ns: scan.start_ns,
            end_ns: scan.end_ns,
            limit: limit.map(|l| l as u64),
        };
        let batches: Vec<pb::Spans> = self.read_stream("SearchTraces", req).await?;
        let mut lists = Vec::with_capacity(batches.len());
        for b in batches {
            let spans = self.spans(&b.spans)?;
            lists.push(group_by_trace(spans));
        }
        let mut traces = union_traces(lists);
        if let Some(keep) = &scan.filter {
            traces.retain(|t| {
                t.spans.iter().any(|s| {
                    s.start_unix_nano >= scan.start_ns
                        && s.start_unix_nano <= scan.end_ns
                        && keep(s)
                })
            });
        }
        Ok(traces)
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<(AttrScope, String)>, StoreError> {
        let req = pb::TagsRequest {
            tenant: tenant.as_str().to_string(),
            start_ns,
            end_ns,
            ..Default::default()
        };
        let resp: pb::TagNames = self.read("TagNames", req).await?;
        let names = resp
            .tags
            .into_iter()
            .map(|t| Ok((scope_from_pb(t.scope)?, t.name)))
            .collect::<Result<_, InvalidMessage>>()
            .map_err(|e| self.invalid(e))?;
        Ok(names)
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<String>, StoreError> {
        let req = pb::TagsRequest {
            tenant: tenant.as_str().to_string(),
            start_ns,
            end_ns,
            scope: scope.map(scope_to_pb),
            key: key.to_string(),
        };
        let resp: pb::Strings = self.read("TagValues", req).await?;
        Ok(resp.values.into_iter().collect())
    }
}

/// Spans (grouped by trace as the ingester sent them) as traces.
fn group_by_trace(spans: Vec<Span>) -> Vec<Trace> {
    let mut traces: Vec<Trace> = Vec::new();
    for s in spans {
        match traces.last_mut() {
            Some(t) if t.trace_id == s.trace_id => t.spans.push(s),
            _ => traces.push(Trace {
                trace_id: s.trace_id,
                spans: vec![s],
            }),
        }
    }
    traces
}
