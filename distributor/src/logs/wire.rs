//! Loki's push protocol on the wire: the `logproto.PushRequest` protobuf
//! (snappy block-compressed, Promtail's and Alloy's format) and the JSON
//! form (`{"streams":[{"stream":{…},"values":[["<ns>","line",{…}]]}]}`).
//!
//! The protobuf messages are hand-written `prost` structs with the field
//! numbers of Loki's `push.proto`, so tests and load tools build requests
//! with the types the distributor decodes.
//!
//! ```
//! use cairn_distributor::logs::wire::{self, EntryAdapter, PushRequest, StreamAdapter};
//!
//! let req = PushRequest {
//!     streams: vec![StreamAdapter {
//!         labels: r#"{app="api"}"#.into(),
//!         entries: vec![EntryAdapter::new(1_700_000_000_000_000_000, "hello")],
//!         hash: 0,
//!     }],
//! };
//! let body = wire::encode(&req).unwrap();
//! let limits = cairn_distributor::DistributorConfig::default().decode_limits();
//! assert_eq!(wire::decode_protobuf(&body, limits).unwrap(), req);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use common::labels::{Label, Labels};
use common::logs::LogEntry;
use prost::Message;
use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use crate::decode_budget::{self, DecodeLimits, DecodedTooLarge, shapes};

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    /// The streams and their lines.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream.
#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    /// The stream's labels as Prometheus text, e.g. `{app="api"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// Its lines.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Client-computed label hash (ignored).
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one line.
#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    /// When the line was logged.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<prost_types::Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

impl EntryAdapter {
    /// A line at `ts_ns` nanoseconds without structured metadata.
    pub fn new(ts_ns: i64, line: impl Into<String>) -> Self {
        Self {
            timestamp: Some(prost_types::Timestamp {
                seconds: ts_ns.div_euclid(1_000_000_000),
                nanos: ts_ns.rem_euclid(1_000_000_000) as i32,
            }),
            line: line.into(),
            structured_metadata: Vec::new(),
        }
    }
}

/// `logproto.LabelPairAdapter`: one structured-metadata pair.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct LabelPairAdapter {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// Why a push body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// No body at all.
    #[error("empty request body: expected a Loki push request (JSON or snappy protobuf)")]
    Empty,
    /// The snappy header announces more than `max_recv_msg_size`.
    #[error(
        "decompressed message of {size} bytes exceeds the limit of {limit} bytes; raise the distributor's \
         max_recv_msg_size or send smaller batches"
    )]
    MessageTooLarge {
        /// Declared decompressed size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not snappy block format.
    #[error(
        "request body is not snappy block-compressed (Loki protobuf pushes are; send Content-Type: \
         application/json for JSON): {0}"
    )]
    NotSnappy(#[from] snap::Error),
    /// Not a `logproto.PushRequest`.
    #[error("request body is not a valid logproto.PushRequest protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Not Loki's JSON push shape.
    #[error("request body is not a valid Loki JSON push request: {0}")]
    Json(#[from] serde_json::Error),
    /// Decoded, the body would take more than `max_decoded_request_bytes`.
    #[error(transparent)]
    DecodedTooLarge(#[from] DecodedTooLarge),
    /// Not an OTLP `ExportLogsServiceRequest`.
    #[error("request body is not a valid OTLP ExportLogsServiceRequest: {0}")]
    Otlp(String),
}

/// A stream as received, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawStream {
    /// Its labels, not yet parsed or checked.
    pub labels: RawLabels,
    /// Its lines.
    pub entries: Vec<LogEntry>,
}

/// A stream's labels as received.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLabels {
    /// Prometheus text form, parsed during validation.
    Text(String),
    /// Already name/value pairs (JSON push, OTLP), unsorted.
    Pairs(Vec<Label>),
}

/// Decodes a snappy-compressed `logproto.PushRequest`, checking the
/// declared size before allocating and the decoded size before decoding.
pub fn decode_protobuf(body: &[u8], limits: DecodeLimits) -> Result<PushRequest, WireError> {
    if body.is_empty() {
        return Err(WireError::Empty);
    }
    let size = snap::raw::decompress_len(body)?;
    if size > limits.max_recv_msg_size {
        return Err(WireError::MessageTooLarge {
            size,
            limit: limits.max_recv_msg_size,
        });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    decode_budget::check_protobuf(&raw, &shapes::LOKI_PUSH, limits.max_decoded_request_bytes)?;
    Ok(PushRequest::decode(raw.as_slice())?)
}

/// Snappy-compressed protobuf encoding of `req` (what Promtail sends).
pub fn encode(req: &PushRequest) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec())
}

impl From<PushRequest> for Vec<RawStream> {
    fn from(req: PushRequest) -> Self {
        req.streams
            .into_iter()
            .map(|s| RawStream {
                labels: RawLabels::Text(s.labels),
                entries: s
                    .entries
                    .into_iter()
                    .map(|e| LogEntry {
                        ts_ns: e.timestamp.map_or(0, |t| {
                            t.seconds
                                .saturating_mul(1_000_000_000)
                                .saturating_add(i64::from(t.nanos))
                        }),
                        line: e.line,
                        structured_metadata: Labels::new(
                            e.structured_metadata
                                .into_iter()
                                .map(|p| Label::new(p.name, p.value))
                                .collect(),
                        ),
                    })
                    .collect(),
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<JsonEntry>,
}

/// `["<ns>", "line"]` or `["<ns>", "line", {structured metadata}]`.
struct JsonEntry(LogEntry);

impl<'de> Deserialize<'de> for JsonEntry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"an entry ["<unix nanoseconds>", "<line>"] with optional structured metadata {"name": "value"}"#)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonEntry, A::Error> {
                let ts: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let ts_ns = ts.parse::<i64>().map_err(|_| {
                    de::Error::custom(format!("timestamp {ts:?} is not unix nanoseconds"))
                })?;
                let line: String = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let metadata: Option<BTreeMap<String, String>> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(JsonEntry(LogEntry {
                    ts_ns,
                    line,
                    structured_metadata: Labels::new(
                        metadata
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(n, v)| Label::new(n, v))
                            .collect(),
                    ),
                }))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The streams of a push body, decoded the way the push endpoint reads
/// it: an OTLP logs export when `otlp` (lines without a time get
/// `now_ns`), else a Loki push; JSON when `json`, else protobuf (snappy for
/// Loki). Every path is held to `limits.max_decoded_request_bytes`, the
/// OTLP streams included. The fuzz targets feed it arbitrary bytes.
pub fn decode_push(
    otlp: bool,
    json: bool,
    body: &[u8],
    limits: DecodeLimits,
    now_ns: i64,
) -> Result<Vec<RawStream>, WireError> {
    let budget = limits.max_decoded_request_bytes;
    Ok(match (otlp, json) {
        (false, true) => decode_json(body, budget)?,
        (false, false) => decode_protobuf(body, limits)?.into(),
        (true, json) => {
            super::otlp::to_streams(super::otlp::decode(body, json, budget)?, now_ns, budget)?
        }
    })
}

/// Decodes Loki's JSON push body.
fn decode_json(body: &[u8], budget: usize) -> Result<Vec<RawStream>, WireError> {
    if body.is_empty() {
        return Err(WireError::Empty);
    }
    decode_budget::check_json(body, shapes::JSON_CONTAINER, budget)?;
    let push: JsonPush = serde_json::from_slice(body)?;
    Ok(push
        .streams
        .into_iter()
        .map(|s| RawStream {
            labels: RawLabels::Pairs(
                s.stream
                    .into_iter()
                    .map(|(n, v)| Label::new(n, v))
                    .collect(),
            ),
            entries: s.values.into_iter().map(|e| e.0).collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DecodeLimits = DecodeLimits {
        max_recv_msg_size: 1 << 20,
        max_decoded_request_bytes: 1 << 20,
    };

    #[test]
    fn json_entries_with_and_without_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"a"},"values":[["5","x"],["6","y",{"trace_id":"t"}]]}]}"#;
        let got = decode_json(body, 1 << 20).unwrap();
        assert_eq!(
            got[0].labels,
            RawLabels::Pairs(vec![Label::new("app", "a")])
        );
        assert_eq!(got[0].entries[0].ts_ns, 5);
        assert_eq!(
            got[0].entries[1].structured_metadata,
            Labels::from_pairs([("trace_id", "t")])
        );
    }

    #[test]
    fn malformed_json_names_the_problem() {
        for body in [
            &br#"{"streams":[{"stream":{},"values":[["abc","x"]]}]}"#[..],
            br#"{"streams":[{"values":[["1"]]}]}"#,
            br#"{"streams": 3}"#,
            b"{",
        ] {
            let err = decode_json(body, 1 << 20).unwrap_err().to_string();
            assert!(err.contains("not a valid Loki JSON push"), "{err}");
        }
    }

    #[test]
    fn protobuf_round_trips_and_garbage_is_refused() {
        let mut e = EntryAdapter::new(-1, "before 1970");
        e.structured_metadata.push(LabelPairAdapter {
            name: "k".into(),
            value: "v".into(),
        });
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: "{a=\"b\"}".into(),
                entries: vec![e],
                hash: 0,
            }],
        };
        let raw: Vec<RawStream> = decode_protobuf(&encode(&req).unwrap(), LIMITS)
            .unwrap()
            .into();
        assert_eq!(raw[0].entries[0].ts_ns, -1);
        assert!(matches!(
            decode_protobuf(b"not snappy at all", LIMITS),
            Err(WireError::NotSnappy(_))
        ));
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 16]).unwrap();
        assert!(matches!(
            decode_protobuf(&garbage, LIMITS),
            Err(WireError::Protobuf(_))
        ));
    }
}
