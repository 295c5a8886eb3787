//! Prometheus remote write 1.0 on the wire: the `prometheus.WriteRequest`
//! protobuf messages and the snappy block framing around them.
//!
//! The messages are hand-written `prost` structs (no build script) with the
//! field numbers of Prometheus's `prompb/remote.proto` and `types.proto`, so
//! tests and load tools can build requests with the same types the
//! distributor decodes. [`decode`] checks the size the snappy header declares
//! *before* allocating the decompressed buffer, and what the message would
//! take once decoded ([`crate::decode_budget`]) before decoding it, so a
//! small hostile body cannot make the distributor allocate gigabytes.
//!
//! ```
//! use cairn_distributor::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
//!
//! let req = WriteRequest {
//!     timeseries: vec![TimeSeries {
//!         labels: vec![Label::new("__name__", "up"), Label::new("job", "node")],
//!         samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let body = remote_write::encode(&req).unwrap();
//! let limits = cairn_distributor::DistributorConfig::default().decode_limits();
//! assert_eq!(remote_write::decode(&body, limits).unwrap(), req);
//! ```

use prost::Message;

use crate::decode_budget::{self, DecodeLimits, DecodedTooLarge};

/// A remote-write request: series with their samples, plus metric metadata.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric type, help and unit per family (kept in the ingesters' memory).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series: its labels and what to append to it.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Labels, sorted by name (remote write requires it).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars of this series.
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histogram samples, oldest first.
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// One `name="value"` pair.
#[derive(Clone, PartialEq, Eq, Hash, Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

impl Label {
    /// Builds a label from anything string-like.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One float sample.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Sample {
    /// The value (NaN and the stale marker are kept bit-for-bit).
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A sample with labels pointing at, e.g., a trace.
#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    /// The exemplar's own labels (e.g. `trace_id`).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A native (sparse, exponential-bucket) histogram sample.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    /// Observation count, integer or float flavour.
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    /// Sum of observations.
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Bucket resolution; bucket boundaries are powers of `2^(2^-schema)`.
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    /// Width of the zero bucket.
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    /// Observations in the zero bucket, integer or float flavour.
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    /// Spans of populated negative buckets.
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    /// Delta-encoded negative bucket counts (integer histograms).
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    /// Absolute negative bucket counts (float histograms).
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    /// Spans of populated positive buckets.
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Delta-encoded positive bucket counts (integer histograms).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// Absolute positive bucket counts (float histograms).
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// Whether this sample follows a counter reset.
    #[prost(enumeration = "histogram::ResetHint", tag = "14")]
    pub reset_hint: i32,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    /// Bucket boundaries for custom-bucket histograms (schema -53).
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

/// The `oneof`s and enum nested in [`Histogram`].
pub mod histogram {
    /// Observation count.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        /// Integer histogram count.
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        /// Float histogram count.
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }

    /// Zero-bucket count.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        /// Integer histogram zero count.
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        /// Float histogram zero count.
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }

    /// Counter-reset hint.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ResetHint {
        /// Unknown: the reader must detect resets.
        Unknown = 0,
        /// This sample follows a reset.
        Yes = 1,
        /// This sample does not follow a reset.
        No = 2,
        /// A gauge histogram: resets do not apply.
        Gauge = 3,
    }
}

/// A run of consecutive populated buckets.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct BucketSpan {
    /// Gap to the previous span (or the first bucket index).
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    /// Number of consecutive buckets.
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// A metric family's type, help and unit.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct MetricMetadata {
    /// The metric type.
    #[prost(enumeration = "metric_metadata::MetricType", tag = "1")]
    pub r#type: i32,
    /// The family name, e.g. `http_requests_total`.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// The help text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// The unit, e.g. `seconds`.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The enum nested in [`MetricMetadata`].
pub mod metric_metadata {
    /// Prometheus metric types.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// Untyped.
        Unknown = 0,
        /// Counter.
        Counter = 1,
        /// Gauge.
        Gauge = 2,
        /// Classic histogram.
        Histogram = 3,
        /// Gauge histogram.
        Gaugehistogram = 4,
        /// Summary.
        Summary = 5,
        /// Info.
        Info = 6,
        /// State set.
        Stateset = 7,
    }
}

/// Why a request body is not a usable remote-write request.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Nothing was sent.
    #[error("empty request body: expected a snappy-compressed prometheus.WriteRequest")]
    Empty,
    /// The compressed body is over `max_request_body_size`.
    #[error(
        "request body exceeds the limit of {limit} bytes; raise the distributor's max_request_body_size \
         or send smaller batches (remote_write queue_config max_samples_per_send)"
    )]
    BodyTooLarge {
        /// The limit in force, bytes.
        limit: usize,
    },
    /// The decompressed message would be over `max_recv_msg_size`.
    #[error(
        "decompressed message of {size} bytes exceeds the limit of {limit} bytes; raise the distributor's \
         max_recv_msg_size or send smaller batches (remote_write queue_config max_samples_per_send)"
    )]
    MessageTooLarge {
        /// The size the snappy header declares, bytes.
        size: usize,
        /// The limit in force, bytes.
        limit: usize,
    },
    /// The body is not snappy block format (remote write 1.0 requires it).
    #[error(
        "request body is not snappy block-compressed (remote write requires Content-Encoding: snappy): {0}"
    )]
    NotSnappy(#[from] snap::Error),
    /// The decompressed body is not a `prometheus.WriteRequest` (this
    /// includes label names or values that are not valid UTF-8).
    #[error("request body is not a valid prometheus.WriteRequest protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Decoded, the message would take more than `max_decoded_request_bytes`.
    #[error(transparent)]
    DecodedTooLarge(#[from] DecodedTooLarge),
    /// The decompressed body is not an `io.prometheus.write.v2.Request`.
    #[error("request body is not a valid io.prometheus.write.v2.Request protobuf: {0}")]
    ProtobufV2(prost::DecodeError),
    /// A remote write 2.0 request refers to symbols it does not have.
    #[error(
        "err-cairn-{id}: corrupt io.prometheus.write.v2.Request: {0}; the sender encodes its symbols \
         table wrongly (fix or upgrade the client, or send remote write 1.0)",
        id = id::CORRUPT_SYMBOLS
    )]
    Symbols(#[from] crate::remote_write_v2::SymbolError),
    /// A `Content-Type` that is not one of the two remote-write messages.
    #[error(
        "err-cairn-{id}: Content-Type {0:?} is not supported; send \
         application/x-protobuf;proto=prometheus.WriteRequest (remote write 1.0) or \
         application/x-protobuf;proto=io.prometheus.write.v2.Request (remote write 2.0)",
        id = id::UNSUPPORTED_CONTENT_TYPE
    )]
    UnsupportedContentType(String),
    /// A `Content-Encoding` other than snappy.
    #[error(
        "err-cairn-{id}: Content-Encoding {0:?} is not supported; remote write bodies must be \
         snappy block-compressed (Content-Encoding: snappy, or no Content-Encoding header)",
        id = id::UNSUPPORTED_CONTENT_ENCODING
    )]
    UnsupportedEncoding(String),
    /// The body could not be read from the connection.
    #[error("reading request body: {0}")]
    ReadBody(String),
}

/// Stable IDs of the decode errors that name one in their message (the
/// `err-cairn-…` prefix and the `reason` of the bad-request counter).
pub(crate) mod id {
    /// A 2.0 request with symbol references that do not resolve.
    pub(crate) const CORRUPT_SYMBOLS: &str = "remote-write-corrupt-symbols";
    /// A `Content-Type` naming neither remote-write message.
    pub(crate) const UNSUPPORTED_CONTENT_TYPE: &str = "remote-write-unsupported-content-type";
    /// A `Content-Encoding` other than snappy.
    pub(crate) const UNSUPPORTED_CONTENT_ENCODING: &str =
        "remote-write-unsupported-content-encoding";
}

/// Decodes a snappy-compressed `prometheus.WriteRequest`, refusing messages
/// that would decompress to more than `max_recv_msg_size` bytes before
/// allocating anything for them, and messages that would take more than
/// `max_decoded_request_bytes` once decoded before decoding them.
pub fn decode(body: &[u8], limits: DecodeLimits) -> Result<WriteRequest, DecodeError> {
    let raw = unsnappy(body, limits.max_recv_msg_size)?;
    decode_budget::check_protobuf(
        &raw,
        &decode_budget::shapes::REMOTE_WRITE,
        limits.max_decoded_request_bytes,
    )?;
    Ok(WriteRequest::decode(raw.as_slice())?)
}

/// Decompresses a snappy block-format body (remote write's and Loki's
/// protobuf framing), refusing one that declares more than
/// `max_recv_msg_size` bytes before allocating for it.
pub(crate) fn unsnappy(body: &[u8], max_recv_msg_size: usize) -> Result<Vec<u8>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let size = snap::raw::decompress_len(body)?;
    if size > max_recv_msg_size {
        return Err(DecodeError::MessageTooLarge {
            size,
            limit: max_recv_msg_size,
        });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(body)?)
}

/// Encodes `req` as a remote-write body: protobuf, then snappy block format.
/// Fails only for messages over snappy's 4 GiB input limit.
pub fn encode(req: &WriteRequest) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_recv_msg_size: usize) -> DecodeLimits {
        DecodeLimits {
            max_recv_msg_size,
            max_decoded_request_bytes: 64 << 20,
        }
    }

    fn one_series() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "up"), Label::new("job", "x")],
                samples: vec![Sample {
                    value: 1.5,
                    timestamp: 1000,
                }],
                histograms: vec![Histogram {
                    timestamp: 1000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            metadata: vec![MetricMetadata {
                r#type: metric_metadata::MetricType::Gauge as i32,
                metric_family_name: "up".into(),
                ..Default::default()
            }],
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let req = one_series();
        assert_eq!(
            decode(&encode(&req).unwrap(), limits(1 << 20)).unwrap(),
            req
        );
    }

    #[test]
    fn empty_body_is_its_own_error() {
        assert!(matches!(
            decode(b"", limits(1 << 20)),
            Err(DecodeError::Empty)
        ));
    }

    #[test]
    fn uncompressed_protobuf_is_not_snappy() {
        let raw = one_series().encode_to_vec();
        let err = decode(&raw, limits(1 << 20)).unwrap_err();
        assert!(matches!(err, DecodeError::NotSnappy(_)), "{err}");
    }

    #[test]
    fn snappy_of_garbage_is_bad_protobuf() {
        let body = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff\xff not a protobuf")
            .unwrap();
        assert!(matches!(
            decode(&body, limits(1 << 20)),
            Err(DecodeError::Protobuf(_))
        ));
    }

    #[test]
    fn declared_size_over_the_limit_is_refused_before_decompressing() {
        // A snappy header claiming 1 GiB followed by no data at all.
        let mut body = Vec::new();
        let mut n: u64 = 1 << 30;
        while n >= 0x80 {
            body.push((n as u8) | 0x80);
            n >>= 7;
        }
        body.push(n as u8);
        let err = decode(&body, limits(100 << 20)).unwrap_err();
        assert!(
            matches!(err, DecodeError::MessageTooLarge { size, limit } if size == 1 << 30 && limit == 100 << 20)
        );
        assert!(err.to_string().contains("max_recv_msg_size"), "{err}");
    }

    #[test]
    fn label_value_that_is_not_utf8_is_a_clear_protobuf_error() {
        // WriteRequest{timeseries: [{labels: [{name: "a", value: 0xff}]}]}, by hand.
        let label = [0x0a, 0x01, b'a', 0x12, 0x01, 0xff];
        let series = [&[0x0a, label.len() as u8][..], &label].concat();
        let req = [&[0x0a, series.len() as u8][..], &series].concat();
        let body = snap::raw::Encoder::new().compress_vec(&req).unwrap();
        let err = decode(&body, limits(1 << 20)).unwrap_err();
        assert!(matches!(err, DecodeError::Protobuf(_)));
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }
}
