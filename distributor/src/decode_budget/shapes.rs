//! The in-memory [`Shape`] of every push protocol's messages: field
//! numbers from each `.proto`, sizes from the Rust types they decode into.

use std::mem::size_of;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar as OtlpExemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, SummaryDataPoint,
    exponential_histogram_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

use super::{Kind, Shape};
use crate::logs::wire::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
use crate::remote_write::{
    BucketSpan, Exemplar, Histogram, Label, MetricMetadata, Sample, TimeSeries, WriteRequest,
};
use crate::remote_write_v2 as v2;

const fn message(size: usize, fields: &'static [(u32, Kind)]) -> Shape {
    Shape { size, fields }
}

const F64: Kind = Kind::Scalars {
    elem: 8,
    min_wire: 8,
};
const VARINT64: Kind = Kind::Scalars {
    elem: 8,
    min_wire: 1,
};

// --- Prometheus remote write 1.0 (`prompb`) ---

/// `prometheus.WriteRequest`.
pub(crate) static REMOTE_WRITE: Shape = message(
    size_of::<WriteRequest>(),
    &[
        (1, Kind::Repeated(&TIME_SERIES)),
        (3, Kind::Repeated(&RW_METADATA)),
    ],
);
static TIME_SERIES: Shape = message(
    size_of::<TimeSeries>(),
    &[
        (1, Kind::Repeated(&RW_LABEL)),
        (2, Kind::Repeated(&RW_SAMPLE)),
        (3, Kind::Repeated(&RW_EXEMPLAR)),
        (4, Kind::Repeated(&RW_HISTOGRAM)),
    ],
);
static RW_LABEL: Shape = message(size_of::<Label>(), &[(1, Kind::Bytes), (2, Kind::Bytes)]);
static RW_SAMPLE: Shape = message(size_of::<Sample>(), &[]);
static RW_EXEMPLAR: Shape = message(size_of::<Exemplar>(), &[(1, Kind::Repeated(&RW_LABEL))]);
static RW_HISTOGRAM: Shape = message(
    size_of::<Histogram>(),
    &[
        (8, Kind::Repeated(&RW_BUCKET_SPAN)),
        (9, VARINT64),
        (10, F64),
        (11, Kind::Repeated(&RW_BUCKET_SPAN)),
        (12, VARINT64),
        (13, F64),
        (16, F64),
    ],
);
static RW_BUCKET_SPAN: Shape = message(size_of::<BucketSpan>(), &[]);
static RW_METADATA: Shape = message(
    size_of::<MetricMetadata>(),
    &[(2, Kind::Bytes), (4, Kind::Bytes), (5, Kind::Bytes)],
);

// --- Prometheus remote write 2.0 (`io.prometheus.write.v2`) ---

const VARINT32: Kind = Kind::Scalars {
    elem: 4,
    min_wire: 1,
};

/// `io.prometheus.write.v2.Request`.
pub(crate) static REMOTE_WRITE_V2: Shape = message(
    size_of::<v2::Request>(),
    &[
        (4, Kind::RepeatedBytes),
        (5, Kind::Repeated(&V2_TIME_SERIES)),
    ],
);
static V2_TIME_SERIES: Shape = message(
    size_of::<v2::TimeSeries>(),
    &[
        (1, VARINT32),
        (2, Kind::Repeated(&V2_SAMPLE)),
        (3, Kind::Repeated(&RW_HISTOGRAM)),
        (4, Kind::Repeated(&V2_EXEMPLAR)),
    ],
);
static V2_SAMPLE: Shape = message(size_of::<v2::Sample>(), &[]);
static V2_EXEMPLAR: Shape = message(size_of::<v2::Exemplar>(), &[(1, VARINT32)]);

// --- Loki push (`logproto`) ---

/// `logproto.PushRequest`.
pub(crate) static LOKI_PUSH: Shape = message(
    size_of::<PushRequest>(),
    &[(1, Kind::Repeated(&LOKI_STREAM))],
);
static LOKI_STREAM: Shape = message(
    size_of::<StreamAdapter>(),
    &[(1, Kind::Bytes), (2, Kind::Repeated(&LOKI_ENTRY))],
);
static LOKI_ENTRY: Shape = message(
    size_of::<EntryAdapter>(),
    &[(2, Kind::Bytes), (3, Kind::Repeated(&LOKI_LABEL_PAIR))],
);
static LOKI_LABEL_PAIR: Shape = message(
    size_of::<LabelPairAdapter>(),
    &[(1, Kind::Bytes), (2, Kind::Bytes)],
);

// --- OTLP common ---

/// `AnyValue`, which nests without bound through arrays and lists.
pub(crate) static ANY_VALUE: Shape = message(
    size_of::<AnyValue>(),
    &[
        (1, Kind::Bytes),
        (5, Kind::Inline(&ARRAY_VALUE)),
        (6, Kind::Inline(&KEY_VALUE_LIST)),
        (7, Kind::Bytes),
    ],
);
static ARRAY_VALUE: Shape = message(size_of::<ArrayValue>(), &[(1, Kind::Repeated(&ANY_VALUE))]);
static KEY_VALUE_LIST: Shape = message(
    size_of::<KeyValueList>(),
    &[(1, Kind::Repeated(&KEY_VALUE))],
);
static KEY_VALUE: Shape = message(
    size_of::<KeyValue>(),
    &[(1, Kind::Bytes), (2, Kind::Inline(&ANY_VALUE))],
);
static RESOURCE: Shape = message(
    size_of::<Resource>(),
    &[
        (1, Kind::Repeated(&KEY_VALUE)),
        (3, Kind::Repeated(&ENTITY_REF)),
    ],
);
static ENTITY_REF: Shape = message(
    size_of::<EntityRef>(),
    &[
        (1, Kind::Bytes),
        (2, Kind::Bytes),
        (3, Kind::RepeatedBytes),
        (4, Kind::RepeatedBytes),
    ],
);
static SCOPE: Shape = message(
    size_of::<InstrumentationScope>(),
    &[
        (1, Kind::Bytes),
        (2, Kind::Bytes),
        (3, Kind::Repeated(&KEY_VALUE)),
    ],
);

// --- OTLP traces ---

/// `ExportTraceServiceRequest`.
pub(crate) static OTLP_TRACES: Shape = message(
    size_of::<ExportTraceServiceRequest>(),
    &[(1, Kind::Repeated(&RESOURCE_SPANS))],
);
static RESOURCE_SPANS: Shape = message(
    size_of::<ResourceSpans>(),
    &[
        (1, Kind::Inline(&RESOURCE)),
        (2, Kind::Repeated(&SCOPE_SPANS)),
        (3, Kind::Bytes),
    ],
);
static SCOPE_SPANS: Shape = message(
    size_of::<ScopeSpans>(),
    &[
        (1, Kind::Inline(&SCOPE)),
        (2, Kind::Repeated(&SPAN)),
        (3, Kind::Bytes),
    ],
);
static SPAN: Shape = message(
    size_of::<Span>(),
    &[
        (1, Kind::Bytes),
        (2, Kind::Bytes),
        (3, Kind::Bytes),
        (4, Kind::Bytes),
        (5, Kind::Bytes),
        (9, Kind::Repeated(&KEY_VALUE)),
        (11, Kind::Repeated(&SPAN_EVENT)),
        (13, Kind::Repeated(&SPAN_LINK)),
        (15, Kind::Inline(&SPAN_STATUS)),
    ],
);
static SPAN_EVENT: Shape = message(
    size_of::<span::Event>(),
    &[(2, Kind::Bytes), (3, Kind::Repeated(&KEY_VALUE))],
);
static SPAN_LINK: Shape = message(
    size_of::<span::Link>(),
    &[
        (1, Kind::Bytes),
        (2, Kind::Bytes),
        (3, Kind::Bytes),
        (4, Kind::Repeated(&KEY_VALUE)),
    ],
);
static SPAN_STATUS: Shape = message(size_of::<Status>(), &[(2, Kind::Bytes)]);

// --- OTLP logs ---

/// `ExportLogsServiceRequest`.
pub(crate) static OTLP_LOGS: Shape = message(
    size_of::<ExportLogsServiceRequest>(),
    &[(1, Kind::Repeated(&RESOURCE_LOGS))],
);
static RESOURCE_LOGS: Shape = message(
    size_of::<ResourceLogs>(),
    &[
        (1, Kind::Inline(&RESOURCE)),
        (2, Kind::Repeated(&SCOPE_LOGS)),
        (3, Kind::Bytes),
    ],
);
static SCOPE_LOGS: Shape = message(
    size_of::<ScopeLogs>(),
    &[
        (1, Kind::Inline(&SCOPE)),
        (2, Kind::Repeated(&LOG_RECORD)),
        (3, Kind::Bytes),
    ],
);
static LOG_RECORD: Shape = message(
    size_of::<LogRecord>(),
    &[
        (3, Kind::Bytes),
        (5, Kind::Inline(&ANY_VALUE)),
        (6, Kind::Repeated(&KEY_VALUE)),
        (9, Kind::Bytes),
        (10, Kind::Bytes),
        (12, Kind::Bytes),
    ],
);

// --- OTLP metrics ---

/// `ExportMetricsServiceRequest`.
pub(crate) static OTLP_METRICS: Shape = message(
    size_of::<ExportMetricsServiceRequest>(),
    &[(1, Kind::Repeated(&RESOURCE_METRICS))],
);
static RESOURCE_METRICS: Shape = message(
    size_of::<ResourceMetrics>(),
    &[
        (1, Kind::Inline(&RESOURCE)),
        (2, Kind::Repeated(&SCOPE_METRICS)),
        (3, Kind::Bytes),
    ],
);
static SCOPE_METRICS: Shape = message(
    size_of::<ScopeMetrics>(),
    &[
        (1, Kind::Inline(&SCOPE)),
        (2, Kind::Repeated(&METRIC)),
        (3, Kind::Bytes),
    ],
);
static METRIC: Shape = message(
    size_of::<Metric>(),
    &[
        (1, Kind::Bytes),
        (2, Kind::Bytes),
        (3, Kind::Bytes),
        (5, Kind::Inline(&NUMBER_POINTS)),
        (7, Kind::Inline(&NUMBER_POINTS)),
        (9, Kind::Inline(&HISTOGRAM_POINTS)),
        (10, Kind::Inline(&EXP_HISTOGRAM_POINTS)),
        (11, Kind::Inline(&SUMMARY_POINTS)),
        (12, Kind::Repeated(&KEY_VALUE)),
    ],
);
/// `Gauge` and `Sum`: their data points are field 1.
static NUMBER_POINTS: Shape = message(0, &[(1, Kind::Repeated(&NUMBER_POINT))]);
static HISTOGRAM_POINTS: Shape = message(0, &[(1, Kind::Repeated(&HISTOGRAM_POINT))]);
static EXP_HISTOGRAM_POINTS: Shape = message(0, &[(1, Kind::Repeated(&EXP_HISTOGRAM_POINT))]);
static SUMMARY_POINTS: Shape = message(0, &[(1, Kind::Repeated(&SUMMARY_POINT))]);
static NUMBER_POINT: Shape = message(
    size_of::<NumberDataPoint>(),
    &[
        (7, Kind::Repeated(&KEY_VALUE)),
        (5, Kind::Repeated(&METRIC_EXEMPLAR)),
    ],
);
static METRIC_EXEMPLAR: Shape = message(
    size_of::<OtlpExemplar>(),
    &[
        (7, Kind::Repeated(&KEY_VALUE)),
        (4, Kind::Bytes),
        (5, Kind::Bytes),
    ],
);
static HISTOGRAM_POINT: Shape = message(
    size_of::<HistogramDataPoint>(),
    &[
        (9, Kind::Repeated(&KEY_VALUE)),
        (6, F64),
        (7, F64),
        (8, Kind::Repeated(&METRIC_EXEMPLAR)),
    ],
);
static EXP_HISTOGRAM_POINT: Shape = message(
    size_of::<ExponentialHistogramDataPoint>(),
    &[
        (1, Kind::Repeated(&KEY_VALUE)),
        (8, Kind::Inline(&EXP_BUCKETS)),
        (9, Kind::Inline(&EXP_BUCKETS)),
        (11, Kind::Repeated(&METRIC_EXEMPLAR)),
    ],
);
static EXP_BUCKETS: Shape = message(
    size_of::<exponential_histogram_data_point::Buckets>(),
    &[(2, VARINT64)],
);
static SUMMARY_POINT: Shape = message(
    size_of::<SummaryDataPoint>(),
    &[
        (7, Kind::Repeated(&KEY_VALUE)),
        (6, Kind::Repeated(&QUANTILE)),
    ],
);
static QUANTILE: Shape = message(size_of::<summary_data_point::ValueAtQuantile>(), &[]);

/// The JSON bound's cost of one object or array: the largest message of
/// the protocols decoded from JSON (OTLP's spans, log records, data
/// points; Loki's entries are smaller).
pub(crate) const JSON_CONTAINER: usize = max(
    max(size_of::<Span>(), size_of::<LogRecord>()),
    max(
        size_of::<HistogramDataPoint>(),
        size_of::<ExponentialHistogramDataPoint>(),
    ),
);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}
