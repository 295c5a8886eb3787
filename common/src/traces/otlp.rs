//! OTLP ⇄ [`Span`]: the one conversion between the wire format clients send
//! (and Tempo's API answers with) and Cairn's flattened spans.
//!
//! Decoding checks IDs (a trace ID is 16 bytes and not all zero, a span ID
//! 8 bytes and not all zero, a parent span ID empty or a valid span ID) and
//! reports the spans it refused instead of failing the batch.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as otlp_common;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1 as otlp;

use super::{
    AttrValue, KeyValue, Resource, Scope, Span, SpanEvent, SpanId, SpanLink, SpanRejection, TraceId,
};
use crate::discard::DiscardReason;

/// The spans of one OTLP export, and the ones refused for invalid IDs.
#[derive(Debug, Default, PartialEq)]
pub struct DecodedSpans {
    /// Spans with valid IDs, in request order.
    pub spans: Vec<Span>,
    /// Spans refused, one entry per span.
    pub rejected: Vec<SpanRejection>,
}

/// Flattens OTLP `ResourceSpans` into spans sharing their resource and scope.
pub fn spans_from_otlp(resource_spans: Vec<otlp::ResourceSpans>) -> DecodedSpans {
    let mut out = DecodedSpans::default();
    for rs in resource_spans {
        let r = rs.resource.unwrap_or_default();
        let resource = Arc::new(Resource {
            attributes: attrs_from_otlp(r.attributes),
            dropped_attributes_count: r.dropped_attributes_count,
            schema_url: rs.schema_url,
        });
        for ss in rs.scope_spans {
            let s = ss.scope.unwrap_or_default();
            let scope = Arc::new(Scope {
                name: s.name,
                version: s.version,
                attributes: attrs_from_otlp(s.attributes),
                dropped_attributes_count: s.dropped_attributes_count,
                schema_url: ss.schema_url,
            });
            for span in ss.spans {
                match span_from_otlp(span, &resource, &scope) {
                    Ok(span) => out.spans.push(span),
                    Err(rejection) => out.rejected.push(rejection),
                }
            }
        }
    }
    out
}

fn span_from_otlp(
    s: otlp::Span,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
) -> Result<Span, SpanRejection> {
    let reject = |reason, trace_id: TraceId, detail: String| SpanRejection {
        reason,
        trace_id,
        spans: 1,
        detail,
    };
    let Some(trace_id) = trace_id(&s.trace_id) else {
        return Err(reject(
            DiscardReason::InvalidTraceId,
            [0; 16],
            format!("trace ID {} is not 16 non-zero bytes", hex(&s.trace_id)),
        ));
    };
    let Some(span_id) = span_id(&s.span_id) else {
        return Err(reject(
            DiscardReason::InvalidSpanId,
            trace_id,
            format!("span ID {} is not 8 non-zero bytes", hex(&s.span_id)),
        ));
    };
    let parent_span_id = if s.parent_span_id.is_empty() {
        None
    } else {
        Some(span_id_or_reject(&s.parent_span_id).map_err(|d| {
            reject(
                DiscardReason::InvalidSpanId,
                trace_id,
                format!("parent {d}"),
            )
        })?)
    };
    let mut links = Vec::with_capacity(s.links.len());
    for l in s.links {
        let (Some(link_trace), Some(link_span)) =
            (self::trace_id(&l.trace_id), self::span_id(&l.span_id))
        else {
            return Err(reject(
                DiscardReason::InvalidSpanId,
                trace_id,
                "a link has an invalid trace or span ID".to_string(),
            ));
        };
        links.push(SpanLink {
            trace_id: link_trace,
            span_id: link_span,
            trace_state: l.trace_state,
            attributes: attrs_from_otlp(l.attributes),
            dropped_attributes_count: l.dropped_attributes_count,
            flags: l.flags,
        });
    }
    let status = s.status.unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: s.kind,
        start_unix_nano: s.start_time_unix_nano,
        end_unix_nano: s.end_time_unix_nano,
        attributes: attrs_from_otlp(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .into_iter()
            .map(|e| SpanEvent {
                time_unix_nano: e.time_unix_nano,
                name: e.name,
                attributes: attrs_from_otlp(e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links,
        dropped_links_count: s.dropped_links_count,
        status_code: status.code,
        status_message: status.message,
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
    })
}

fn span_id_or_reject(bytes: &[u8]) -> Result<SpanId, String> {
    span_id(bytes).ok_or_else(|| format!("span ID {} is not 8 non-zero bytes", hex(bytes)))
}

/// A valid trace ID: 16 bytes, not all zero.
pub fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id: TraceId = bytes.try_into().ok()?;
    (id != [0; 16]).then_some(id)
}

/// A valid span ID: 8 bytes, not all zero.
pub fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id: SpanId = bytes.try_into().ok()?;
    (id != [0; 8]).then_some(id)
}

/// Lower-case hex, as OTLP/JSON and Tempo print IDs.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Converts OTLP attributes (entries without a value become [`AttrValue::Empty`]).
pub fn attrs_from_otlp(kvs: Vec<otlp_common::KeyValue>) -> Vec<KeyValue> {
    kvs.into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: value_from_otlp(kv.value),
        })
        .collect()
}

fn value_from_otlp(v: Option<otlp_common::AnyValue>) -> AttrValue {
    match v.and_then(|v| v.value) {
        None => AttrValue::Empty,
        Some(Value::StringValue(s)) => AttrValue::Str(s),
        Some(Value::BoolValue(b)) => AttrValue::Bool(b),
        Some(Value::IntValue(i)) => AttrValue::Int(i),
        Some(Value::DoubleValue(d)) => AttrValue::Double(d),
        Some(Value::BytesValue(b)) => AttrValue::Bytes(b),
        Some(Value::ArrayValue(a)) => AttrValue::Array(
            a.values
                .into_iter()
                .map(|v| value_from_otlp(Some(v)))
                .collect(),
        ),
        Some(Value::KvlistValue(l)) => AttrValue::KvList(attrs_from_otlp(l.values)),
        // A string-table reference (profiles only): nothing to resolve it against.
        Some(Value::StringValueStrindex(_)) => AttrValue::Empty,
    }
}

/// Converts attributes back to OTLP.
pub fn attrs_to_otlp(kvs: &[KeyValue]) -> Vec<otlp_common::KeyValue> {
    kvs.iter()
        .map(|kv| otlp_common::KeyValue {
            key: kv.key.clone(),
            value: value_to_otlp(&kv.value),
            ..Default::default()
        })
        .collect()
}

fn value_to_otlp(v: &AttrValue) -> Option<otlp_common::AnyValue> {
    let value = match v {
        AttrValue::Empty => return None,
        AttrValue::Str(s) => Value::StringValue(s.clone()),
        AttrValue::Bool(b) => Value::BoolValue(*b),
        AttrValue::Int(i) => Value::IntValue(*i),
        AttrValue::Double(d) => Value::DoubleValue(*d),
        AttrValue::Bytes(b) => Value::BytesValue(b.clone()),
        AttrValue::Array(a) => Value::ArrayValue(otlp_common::ArrayValue {
            values: a.iter().filter_map(value_to_otlp).collect(),
        }),
        AttrValue::KvList(l) => Value::KvlistValue(otlp_common::KeyValueList {
            values: attrs_to_otlp(l),
        }),
    };
    Some(otlp_common::AnyValue { value: Some(value) })
}

/// The OTLP spans of one scope while regrouping.
type ScopeGroup<'a> = (&'a Arc<Scope>, Vec<otlp::Span>);

/// Groups spans back into OTLP `ResourceSpans` / `ScopeSpans` (spans with
/// equal resource and scope share one entry), keeping span order within each.
pub fn spans_to_otlp(spans: &[Span]) -> Vec<otlp::ResourceSpans> {
    let mut groups: Vec<(&Arc<Resource>, Vec<ScopeGroup>)> = Vec::new();
    for span in spans {
        let pos = match groups
            .iter()
            .position(|(r, _)| Arc::ptr_eq(r, &span.resource) || ***r == *span.resource)
        {
            Some(pos) => pos,
            None => {
                groups.push((&span.resource, Vec::new()));
                groups.len() - 1
            }
        };
        let Some((_, scopes)) = groups.get_mut(pos) else {
            continue;
        };
        let otlp_span = span_to_otlp(span);
        match scopes
            .iter_mut()
            .find(|(s, _)| Arc::ptr_eq(s, &span.scope) || ***s == *span.scope)
        {
            Some((_, spans)) => spans.push(otlp_span),
            None => scopes.push((&span.scope, vec![otlp_span])),
        }
    }
    groups
        .into_iter()
        .map(|(resource, scopes)| otlp::ResourceSpans {
            resource: Some(OtlpResource {
                attributes: attrs_to_otlp(&resource.attributes),
                dropped_attributes_count: resource.dropped_attributes_count,
                ..Default::default()
            }),
            schema_url: resource.schema_url.clone(),
            scope_spans: scopes
                .into_iter()
                .map(|(scope, spans)| otlp::ScopeSpans {
                    scope: Some(otlp_common::InstrumentationScope {
                        name: scope.name.clone(),
                        version: scope.version.clone(),
                        attributes: attrs_to_otlp(&scope.attributes),
                        dropped_attributes_count: scope.dropped_attributes_count,
                    }),
                    spans,
                    schema_url: scope.schema_url.clone(),
                })
                .collect(),
        })
        .collect()
}

/// Spans as one OTLP `ExportTraceServiceRequest` protobuf (e.g. a WAL
/// record); [`decode_spans`] reads it back.
pub fn encode_spans(spans: &[Span]) -> Vec<u8> {
    prost::Message::encode_to_vec(&ExportTraceServiceRequest {
        resource_spans: spans_to_otlp(spans),
    })
}

/// Reads spans written by [`encode_spans`]; spans with invalid IDs are
/// dropped (they were never written).
pub fn decode_spans(bytes: &[u8]) -> Result<Vec<Span>, prost::DecodeError> {
    let req: ExportTraceServiceRequest = prost::Message::decode(bytes)?;
    Ok(spans_from_otlp(req.resource_spans).spans)
}

/// A span's size as OTLP protobuf (without resource and scope): what
/// `max_bytes_per_trace` counts.
pub fn span_size(s: &Span) -> usize {
    prost::Message::encoded_len(&span_to_otlp(s))
}

/// One span in OTLP form (without its resource and scope).
pub fn span_to_otlp(s: &Span) -> otlp::Span {
    otlp::Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind,
        start_time_unix_nano: s.start_unix_nano,
        end_time_unix_nano: s.end_unix_nano,
        attributes: attrs_to_otlp(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| otlp::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: attrs_to_otlp(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| otlp::span::Link {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attrs_to_otlp(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        // Always present, as the SDKs send it (an unset status is code 0).
        status: Some(otlp::Status {
            message: s.status_message.clone(),
            code: s.status_code,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A span using every field, with nested attribute values.
    pub(crate) fn full_span(trace: u8, span: u8) -> Span {
        let kv = |k: &str, v| KeyValue {
            key: k.into(),
            value: v,
        };
        Span {
            trace_id: [trace; 16],
            span_id: [span; 8],
            parent_span_id: Some([9; 8]),
            trace_state: "k=v".into(),
            flags: 257,
            name: "GET /users".into(),
            kind: 2,
            start_unix_nano: 1_700_000_000_000_000_000,
            end_unix_nano: 1_700_000_000_500_000_000,
            attributes: vec![
                kv("http.request.method", AttrValue::Str("GET".into())),
                kv("http.response.status_code", AttrValue::Int(200)),
                kv("ok", AttrValue::Bool(true)),
                kv("ratio", AttrValue::Double(0.5)),
                kv("raw", AttrValue::Bytes(vec![0, 1, 255])),
                kv(
                    "list",
                    AttrValue::Array(vec![AttrValue::Int(1), AttrValue::Str("x".into())]),
                ),
                kv(
                    "map",
                    AttrValue::KvList(vec![kv("inner", AttrValue::Double(-1.25))]),
                ),
                kv("nothing", AttrValue::Empty),
            ],
            dropped_attributes_count: 1,
            events: vec![SpanEvent {
                time_unix_nano: 1_700_000_000_100_000_000,
                name: "exception".into(),
                attributes: vec![kv("exception.type", AttrValue::Str("E".into()))],
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![SpanLink {
                trace_id: [7; 16],
                span_id: [8; 8],
                trace_state: "a=b".into(),
                attributes: vec![kv("link", AttrValue::Int(-4))],
                dropped_attributes_count: 4,
                flags: 1,
            }],
            dropped_links_count: 5,
            status_code: 2,
            status_message: "boom".into(),
            resource: Arc::new(Resource {
                attributes: vec![kv("service.name", AttrValue::Str("api".into()))],
                dropped_attributes_count: 6,
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            }),
            scope: Arc::new(Scope {
                name: "lib".into(),
                version: "1.0".into(),
                attributes: vec![kv("scope.attr", AttrValue::Str("s".into()))],
                dropped_attributes_count: 7,
                schema_url: "scope-schema".into(),
            }),
        }
    }

    #[test]
    fn spans_round_trip_through_otlp() {
        let mut other = full_span(3, 4);
        other.resource = Arc::new(Resource::default());
        other.parent_span_id = None;
        let spans = vec![full_span(1, 2), full_span(1, 3), other];
        let otlp = spans_to_otlp(&spans);
        assert_eq!(otlp.len(), 2, "spans of one resource share an entry");
        let back = spans_from_otlp(otlp);
        assert!(back.rejected.is_empty());
        assert_eq!(back.spans, spans);
    }

    #[test]
    fn encoded_spans_decode_back() {
        let spans = vec![full_span(1, 2), full_span(5, 6)];
        assert_eq!(decode_spans(&encode_spans(&spans)).unwrap(), spans);
        assert!(decode_spans(b"\xff\xff").is_err());
    }

    #[test]
    fn invalid_ids_are_rejected_per_span() {
        let mut otlp = spans_to_otlp(&[full_span(1, 2), full_span(1, 3), full_span(1, 4)]);
        let spans = &mut otlp[0].scope_spans[0].spans;
        spans[0].trace_id = vec![0; 16];
        spans[1].span_id = vec![1, 2, 3];
        let decoded = spans_from_otlp(otlp);
        assert_eq!(decoded.spans.len(), 1);
        let reasons: Vec<_> = decoded.rejected.iter().map(|r| r.reason).collect();
        assert_eq!(
            reasons,
            [DiscardReason::InvalidTraceId, DiscardReason::InvalidSpanId]
        );
    }
}
