//! OTLP/HTTP bodies, shared by the traces and metrics receivers: protobuf
//! (`application/x-protobuf`) or OTLP/JSON (`application/json`), optionally
//! gzip-compressed, decoded with a cap on the decompressed size and on what
//! the decoded request may take in memory ([`crate::decode_budget`]); and
//! the export response encoded in the request's format.

use std::io::Read;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::read::GzDecoder;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::decode_budget::{self, DecodeLimits, DecodedTooLarge, Shape, shapes};
use crate::remote_write::DecodeError;

/// An OTLP export request this module decodes, with its in-memory shape
/// for the decoded-size check.
pub trait OtlpRequest: Message + Default + DeserializeOwned {
    /// How the request lays out in memory once decoded.
    const SHAPE: &'static Shape;
}

impl OtlpRequest for opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    const SHAPE: &'static Shape = &shapes::OTLP_TRACES;
}

impl OtlpRequest
    for opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest
{
    const SHAPE: &'static Shape = &shapes::OTLP_METRICS;
}

impl OtlpRequest for opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    const SHAPE: &'static Shape = &shapes::OTLP_LOGS;
}

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpFormat {
    /// Binary protobuf.
    Protobuf,
    /// OTLP/JSON (hex IDs, 64-bit integers as strings).
    Json,
}

impl OtlpFormat {
    /// The format a request's `Content-Type` names.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, OtlpError> {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mime = ct.split(';').next().unwrap_or_default().trim();
        match mime {
            "application/x-protobuf" | "application/protobuf" => Ok(Self::Protobuf),
            "application/json" => Ok(Self::Json),
            _ => Err(OtlpError::UnsupportedContentType(ct)),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Why an OTLP/HTTP body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// Neither protobuf nor JSON.
    #[error("unsupported Content-Type {0:?}: send application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    /// A `Content-Encoding` other than gzip or identity.
    #[error("unsupported Content-Encoding {0:?}: send gzip or none")]
    UnsupportedEncoding(String),
    /// The gzip stream is broken.
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    /// The decompressed body is over the limit.
    #[error("decompressed body exceeds {limit} bytes")]
    TooLarge {
        /// `max_recv_msg_size`.
        limit: usize,
    },
    /// Decoded, the request would take more than `max_decoded_request_bytes`.
    #[error(transparent)]
    DecodedTooLarge(#[from] DecodedTooLarge),
    /// Not a valid OTLP protobuf message.
    #[error("invalid OTLP protobuf: {0}")]
    Protobuf(String),
    /// Not a valid OTLP/JSON message.
    #[error("invalid OTLP/JSON: {0}")]
    Json(String),
    /// The body could not be read.
    #[error("reading request body: {0}")]
    ReadBody(String),
}

impl From<DecodeError> for OtlpError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::BodyTooLarge { limit } => Self::TooLarge { limit },
            other => Self::ReadBody(other.to_string()),
        }
    }
}

impl From<crate::http::BodyError> for OtlpError {
    fn from(e: crate::http::BodyError) -> Self {
        Self::from(DecodeError::from(e))
    }
}

impl OtlpError {
    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedContentType(_) | Self::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Gzip(_)
            | Self::Protobuf(_)
            | Self::Json(_)
            | Self::ReadBody(_)
            | Self::DecodedTooLarge(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Decodes an OTLP export request from `body` as `headers` describe it,
/// refusing more than `max_recv_msg_size` bytes after decompression and
/// requests that would take more than `max_decoded_request_bytes` decoded.
pub fn decode<M: OtlpRequest>(
    headers: &HeaderMap,
    body: &[u8],
    limits: DecodeLimits,
) -> Result<(M, OtlpFormat), OtlpError> {
    let limit = limits.max_recv_msg_size;
    let budget = limits.max_decoded_request_bytes;
    let format = OtlpFormat::from_headers(headers)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let plain;
    let bytes = match encoding.as_str() {
        "" | "identity" => body,
        "gzip" => {
            plain = gunzip(body, limit)?;
            plain.as_slice()
        }
        _ => return Err(OtlpError::UnsupportedEncoding(encoding)),
    };
    if bytes.len() > limit {
        return Err(OtlpError::TooLarge { limit });
    }
    let msg = match format {
        OtlpFormat::Protobuf => {
            decode_budget::check_protobuf(bytes, M::SHAPE, budget)?;
            M::decode(bytes).map_err(|e| OtlpError::Protobuf(e.to_string()))?
        }
        OtlpFormat::Json => {
            decode_budget::check_json(bytes, shapes::JSON_CONTAINER, budget)?;
            serde_json::from_slice(bytes).map_err(|e| OtlpError::Json(e.to_string()))?
        }
    };
    Ok((msg, format))
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, OtlpError> {
    let mut out = Vec::new();
    GzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| OtlpError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(OtlpError::TooLarge { limit });
    }
    Ok(out)
}

/// A `200 OK` carrying the export response in `format`.
pub fn response<M: Message + Serialize>(format: OtlpFormat, msg: &M) -> Response {
    let body = match format {
        OtlpFormat::Protobuf => msg.encode_to_vec(),
        OtlpFormat::Json => match serde_json::to_vec(msg) {
            Ok(b) => b,
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("encoding response: {e}\n"),
                )
                    .into_response();
            }
        },
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use std::io::Write;

    fn limits(max_recv_msg_size: usize) -> DecodeLimits {
        DecodeLimits {
            max_recv_msg_size,
            max_decoded_request_bytes: 1 << 20,
        }
    }

    const JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
        "spanId":"eee19b7ec3c1b174","name":"GET","kind":2,"startTimeUnixNano":"1544712660000000000",
        "endTimeUnixNano":"1544712661000000000","attributes":[{"key":"n","value":{"intValue":"42"}}]}]}]}]}"#;

    fn headers(ct: &str, gzip: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        if gzip {
            h.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        }
        h
    }

    #[test]
    fn json_has_hex_ids_and_string_int64() {
        let (req, format): (ExportTraceServiceRequest, _) = decode(
            &headers("application/json", false),
            JSON.as_bytes(),
            limits(1 << 20),
        )
        .unwrap();
        assert_eq!(format, OtlpFormat::Json);
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id[..2], [0x5b, 0x8e]);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    }

    #[test]
    fn gzip_protobuf_decodes_and_is_capped() {
        let (req, _): (ExportTraceServiceRequest, _) = decode(
            &headers("application/json", false),
            JSON.as_bytes(),
            limits(1 << 20),
        )
        .unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&req.encode_to_vec()).unwrap();
        let body = gz.finish().unwrap();
        let h = headers("application/x-protobuf", true);
        let (back, _): (ExportTraceServiceRequest, _) = decode(&h, &body, limits(1 << 20)).unwrap();
        assert_eq!(back, req);
        let err = decode::<ExportTraceServiceRequest>(&h, &body, limits(10)).unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn bad_bodies_are_client_errors() {
        let err =
            decode::<ExportTraceServiceRequest>(&headers("text/plain", false), b"", limits(9))
                .unwrap_err();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let err = decode::<ExportTraceServiceRequest>(
            &headers("application/x-protobuf", false),
            b"\xff\xff",
            limits(9),
        )
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
