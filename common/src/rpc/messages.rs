//! The protobuf messages of the internal ingester service
//! (`cairn.ingester.v1.Ingester`), declared with prost's derive instead of a
//! `.proto` file so the build needs no `protoc`. Field numbers are the wire
//! contract between a distributor or querier and the ingesters of the same
//! release: never reuse one.
//!
//! Samples travel column-wise (`timestamps`, `values`: packed), spans as the
//! OTLP protobuf bytes [`crate::traces::otlp::encode_spans`] writes.

use prost::Message;

/// One label.
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// One label matcher; `op` is 0 `=`, 1 `!=`, 2 `=~`, 3 `!~`.
#[derive(Clone, PartialEq, Message)]
pub struct Matcher {
    /// Comparison.
    #[prost(int32, tag = "1")]
    pub op: i32,
    /// Label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Value or regular expression.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// A series (or stream) identity.
#[derive(Clone, PartialEq, Message)]
pub struct LabelSet {
    /// Sorted labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
}

/// A series with float samples, column-wise, and native histogram samples.
#[derive(Clone, PartialEq, Message)]
pub struct Series {
    /// Sorted labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Sample timestamps (ms).
    #[prost(int64, repeated, tag = "2")]
    pub timestamps: Vec<i64>,
    /// Sample values, bit-exact (stale markers survive).
    #[prost(double, repeated, tag = "3")]
    pub values: Vec<f64>,
    /// Histogram samples as one histogram chunk
    /// ([`crate::chunk::histogram::HistogramChunk`]), oldest first; empty
    /// when the series has none. The chunk encoding is compact and checked
    /// on decode, so the RPC needs no histogram message of its own.
    #[prost(bytes = "vec", tag = "4")]
    pub histograms: Vec<u8>,
}

/// Samples to append for a tenant.
#[derive(Clone, PartialEq, Message)]
pub struct PushSeriesRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Validated series.
    #[prost(message, repeated, tag = "2")]
    pub series: Vec<Series>,
}

/// Data an ingester refused, with why (metrics, logs and traces alike).
#[derive(Clone, PartialEq, Message)]
pub struct Rejection {
    /// [`crate::discard::DiscardReason::id`].
    #[prost(string, tag = "1")]
    pub reason: String,
    /// The series or stream concerned (metrics, logs).
    #[prost(message, repeated, tag = "2")]
    pub labels: Vec<Label>,
    /// Samples, lines or spans refused.
    #[prost(uint64, tag = "3")]
    pub count: u64,
    /// Bytes of line text refused (logs).
    #[prost(uint64, tag = "4")]
    pub bytes: u64,
    /// Human detail.
    #[prost(string, tag = "5")]
    pub detail: String,
    /// The trace concerned (traces).
    #[prost(bytes = "vec", tag = "6")]
    pub trace_id: Vec<u8>,
}

/// What an ingester did with a push.
#[derive(Clone, PartialEq, Message)]
pub struct PushResponse {
    /// Samples, lines or spans appended and logged.
    #[prost(uint64, tag = "1")]
    pub accepted: u64,
    /// What was refused.
    #[prost(message, repeated, tag = "2")]
    pub rejected: Vec<Rejection>,
    /// Native histogram samples appended and logged (metrics only).
    #[prost(uint64, tag = "3")]
    pub accepted_histograms: u64,
}

/// One exemplar.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// Exemplar labels (e.g. `trace_id`).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Timestamp (ms).
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A series' exemplars.
#[derive(Clone, PartialEq, Message)]
pub struct SeriesExemplars {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<Label>,
    /// Oldest first.
    #[prost(message, repeated, tag = "2")]
    pub exemplars: Vec<Exemplar>,
}

/// Exemplars to store for a tenant.
#[derive(Clone, PartialEq, Message)]
pub struct PushExemplarsRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// By series.
    #[prost(message, repeated, tag = "2")]
    pub series: Vec<SeriesExemplars>,
}

/// What an ingester did with exemplars.
#[derive(Clone, PartialEq, Message)]
pub struct PushExemplarsResponse {
    /// Stored.
    #[prost(uint64, tag = "1")]
    pub accepted: u64,
    /// Not newer than their series' newest.
    #[prost(uint64, tag = "2")]
    pub out_of_order: u64,
    /// Identical to their series' newest.
    #[prost(uint64, tag = "3")]
    pub duplicates: u64,
}

/// One metric family's metadata; `metric_type` is remote write's enum value.
#[derive(Clone, PartialEq, Message)]
pub struct Metadata {
    /// Family name.
    #[prost(string, tag = "1")]
    pub family: String,
    /// Remote-write `MetricType` value.
    #[prost(int32, tag = "2")]
    pub metric_type: i32,
    /// Help text.
    #[prost(string, tag = "3")]
    pub help: String,
    /// Unit.
    #[prost(string, tag = "4")]
    pub unit: String,
}

/// Metadata to keep for a tenant.
#[derive(Clone, PartialEq, Message)]
pub struct PushMetadataRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Entries.
    #[prost(message, repeated, tag = "2")]
    pub metadata: Vec<Metadata>,
}

/// A count.
#[derive(Clone, PartialEq, Message)]
pub struct Count {
    /// How many.
    #[prost(uint64, tag = "1")]
    pub count: u64,
}

/// Series selection over a time range (inclusive bounds; ms for metrics,
/// ns for logs and traces).
#[derive(Clone, PartialEq, Message)]
pub struct SelectRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Conjunction of matchers.
    #[prost(message, repeated, tag = "2")]
    pub matchers: Vec<Matcher>,
    /// Range start.
    #[prost(int64, tag = "3")]
    pub start: i64,
    /// Range end.
    #[prost(int64, tag = "4")]
    pub end: i64,
    /// A label name (label-values calls).
    #[prost(string, tag = "5")]
    pub name: String,
}

/// One batch of a streamed series selection.
#[derive(Clone, PartialEq, Message)]
pub struct SeriesBatch {
    /// Series.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<Series>,
}

/// Label sets of matching series or streams.
#[derive(Clone, PartialEq, Message)]
pub struct LabelSets {
    /// One per series or stream.
    #[prost(message, repeated, tag = "1")]
    pub sets: Vec<LabelSet>,
}

/// A sorted list of strings (label names or values, tag values).
#[derive(Clone, PartialEq, Message)]
pub struct Strings {
    /// The strings.
    #[prost(string, repeated, tag = "1")]
    pub values: Vec<String>,
}

/// Exemplars of series matching any of several selectors.
#[derive(Clone, PartialEq, Message)]
pub struct ExemplarsRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Each a conjunction of matchers.
    #[prost(message, repeated, tag = "2")]
    pub selectors: Vec<Selector>,
    /// Start (ms, inclusive).
    #[prost(int64, tag = "3")]
    pub start: i64,
    /// End (ms, inclusive).
    #[prost(int64, tag = "4")]
    pub end: i64,
}

/// A conjunction of matchers.
#[derive(Clone, PartialEq, Message)]
pub struct Selector {
    /// Matchers.
    #[prost(message, repeated, tag = "1")]
    pub matchers: Vec<Matcher>,
}

/// Exemplars found.
#[derive(Clone, PartialEq, Message)]
pub struct ExemplarsResponse {
    /// By series.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<SeriesExemplars>,
}

/// A tenant's metadata, optionally for one family.
#[derive(Clone, PartialEq, Message)]
pub struct MetadataRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Only this family (absent: all).
    #[prost(string, optional, tag = "2")]
    pub metric: Option<String>,
}

/// Metadata found.
#[derive(Clone, PartialEq, Message)]
pub struct MetadataResponse {
    /// Sorted by family.
    #[prost(message, repeated, tag = "1")]
    pub metadata: Vec<Metadata>,
}

/// One log line.
#[derive(Clone, PartialEq, Message)]
pub struct LogEntry {
    /// Timestamp (ns).
    #[prost(int64, tag = "1")]
    pub ts_ns: i64,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<Label>,
}

/// A stream and its lines.
#[derive(Clone, PartialEq, Message)]
pub struct Stream {
    /// Sorted stream labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Lines.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<LogEntry>,
}

/// Lines to append for a tenant.
#[derive(Clone, PartialEq, Message)]
pub struct PushLogsRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Validated streams.
    #[prost(message, repeated, tag = "2")]
    pub streams: Vec<Stream>,
}

/// A log selection: lines of matching streams in `[start, end)` (ns).
/// Line filters run on the caller: they are code, not data.
#[derive(Clone, PartialEq, Message)]
pub struct SelectLogsRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Stream selector.
    #[prost(message, repeated, tag = "2")]
    pub matchers: Vec<Matcher>,
    /// Inclusive start (ns).
    #[prost(int64, tag = "3")]
    pub start_ns: i64,
    /// Exclusive end (ns).
    #[prost(int64, tag = "4")]
    pub end_ns: i64,
    /// Lines per stream nearest the `backward` end (absent: all).
    #[prost(uint64, optional, tag = "5")]
    pub limit: Option<u64>,
    /// Newest first.
    #[prost(bool, tag = "6")]
    pub backward: bool,
}

/// One batch of a streamed log selection.
#[derive(Clone, PartialEq, Message)]
pub struct StreamBatch {
    /// Streams with their selected lines.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<Stream>,
}

/// Spans to append for a tenant.
#[derive(Clone, PartialEq, Message)]
pub struct PushSpansRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// [`crate::traces::otlp::encode_spans`] bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub spans: Vec<u8>,
}

/// A trace lookup.
#[derive(Clone, PartialEq, Message)]
pub struct TraceByIdRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// 16-byte trace ID.
    #[prost(bytes = "vec", tag = "2")]
    pub trace_id: Vec<u8>,
    /// Start (ns).
    #[prost(uint64, tag = "3")]
    pub start_ns: u64,
    /// End (ns).
    #[prost(uint64, tag = "4")]
    pub end_ns: u64,
}

/// Spans of one or more traces, or none.
#[derive(Clone, PartialEq, Message)]
pub struct Spans {
    /// [`crate::traces::otlp::encode_spans`] bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub spans: Vec<u8>,
}

/// Traces with a span starting in `[start_ns, end_ns]`. The span filter runs
/// on the caller.
#[derive(Clone, PartialEq, Message)]
pub struct SearchRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Start (ns).
    #[prost(uint64, tag = "2")]
    pub start_ns: u64,
    /// End (ns).
    #[prost(uint64, tag = "3")]
    pub end_ns: u64,
    /// Stop after about this many traces (absent: all).
    #[prost(uint64, optional, tag = "4")]
    pub limit: Option<u64>,
}

/// Attribute keys or values over a time range.
#[derive(Clone, PartialEq, Message)]
pub struct TagsRequest {
    /// Tenant ID.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// Start (ns).
    #[prost(uint64, tag = "2")]
    pub start_ns: u64,
    /// End (ns).
    #[prost(uint64, tag = "3")]
    pub end_ns: u64,
    /// 1 span, 2 resource (absent: any; values only).
    #[prost(int32, optional, tag = "4")]
    pub scope: Option<i32>,
    /// The key (values only).
    #[prost(string, tag = "5")]
    pub key: String,
}

/// Attribute keys with their scope.
#[derive(Clone, PartialEq, Message)]
pub struct TagNames {
    /// Keys.
    #[prost(message, repeated, tag = "1")]
    pub tags: Vec<TagName>,
}

/// One attribute key; `scope` 1 span, 2 resource.
#[derive(Clone, PartialEq, Message)]
pub struct TagName {
    /// Scope.
    #[prost(int32, tag = "1")]
    pub scope: i32,
    /// Key.
    #[prost(string, tag = "2")]
    pub name: String,
}
