//! Cairn spans back to OTLP messages (`ResourceSpans` grouped by resource
//! and scope), for trace-by-ID responses in OTLP/JSON and protobuf.

use common::traces::{AttrValue, KeyValue, Resource, Scope, Span};
use opentelemetry_proto::tonic::common::v1 as pb_common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PbValue;
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1 as pb;

fn any_value(v: &AttrValue) -> pb_common::AnyValue {
    let value = match v {
        AttrValue::Str(s) => Some(PbValue::StringValue(s.clone())),
        AttrValue::Bool(b) => Some(PbValue::BoolValue(*b)),
        AttrValue::Int(i) => Some(PbValue::IntValue(*i)),
        AttrValue::Double(d) => Some(PbValue::DoubleValue(*d)),
        AttrValue::Bytes(b) => Some(PbValue::BytesValue(b.clone())),
        AttrValue::Array(a) => Some(PbValue::ArrayValue(pb_common::ArrayValue {
            values: a.iter().map(any_value).collect(),
        })),
        AttrValue::KvList(kvs) => Some(PbValue::KvlistValue(pb_common::KeyValueList {
            values: key_values(kvs),
        })),
        AttrValue::Empty => None,
    };
    pb_common::AnyValue { value }
}

/// OTLP key/values of Cairn attributes.
pub(super) fn key_values(kvs: &[KeyValue]) -> Vec<pb_common::KeyValue> {
    kvs.iter()
        .map(|kv| pb_common::KeyValue {
            key: kv.key.clone(),
            value: Some(any_value(&kv.value)),
            ..Default::default()
        })
        .collect()
}

fn resource(r: &Resource) -> PbResource {
    PbResource {
        attributes: key_values(&r.attributes),
        dropped_attributes_count: r.dropped_attributes_count,
        ..Default::default()
    }
}

fn scope(s: &Scope) -> pb_common::InstrumentationScope {
    pb_common::InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: key_values(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

fn span(s: &Span) -> pb::Span {
    pb::Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind,
        start_time_unix_nano: s.start_unix_nano,
        end_time_unix_nano: s.end_unix_nano,
        attributes: key_values(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| pb::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: key_values(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| pb::span::Link {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: key_values(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(pb::Status {
            message: s.status_message.clone(),
            code: s.status_code,
        }),
    }
}

/// Spans grouped by scope, within one resource.
type ScopeGroups<'a> = Vec<(&'a Scope, Vec<pb::Span>)>;

/// `spans` as OTLP `ResourceSpans`, one per distinct resource, each with
/// one `ScopeSpans` per distinct scope, in first-seen order.
pub(super) fn resource_spans(spans: &[Span]) -> Vec<pb::ResourceSpans> {
    let mut groups: Vec<(&Resource, ScopeGroups<'_>)> = Vec::new();
    for s in spans {
        let gi = match groups.iter().position(|(r, _)| **r == *s.resource) {
            Some(i) => i,
            None => {
                groups.push((&s.resource, Vec::new()));
                groups.len() - 1
            }
        };
        let Some((_, scopes)) = groups.get_mut(gi) else {
            continue;
        };
        match scopes.iter_mut().find(|(sc, _)| **sc == *s.scope) {
            Some((_, list)) => list.push(span(s)),
            None => scopes.push((&s.scope, vec![span(s)])),
        }
    }
    groups
        .into_iter()
        .map(|(r, scopes)| pb::ResourceSpans {
            resource: Some(resource(r)),
            schema_url: r.schema_url.clone(),
            scope_spans: scopes
                .into_iter()
                .map(|(sc, spans)| pb::ScopeSpans {
                    scope: Some(scope(sc)),
                    schema_url: sc.schema_url.clone(),
                    spans,
                })
                .collect(),
        })
        .collect()
}
