use std::sync::Arc;

use common::discard::DiscardReason;
use common::limits::Limits;
use common::traces::{AttrScope, AttrValue, KeyValue, Resource, Scope, Span, TraceScan};

use super::TenantTraces;

fn span(trace: u8, id: u8, start: u64) -> Span {
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "op".into(),
        kind: 2,
        start_unix_nano: start,
        end_unix_nano: start + 10,
        attributes: vec![KeyValue {
            key: "http.route".into(),
            value: AttrValue::Str(format!("/r{id}")),
        }],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: 0,
        status_message: String::new(),
        resource: Arc::new(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: AttrValue::Str("api".into()),
            }],
            ..Resource::default()
        }),
        scope: Arc::new(Scope::default()),
    }
}

#[test]
fn spans_group_by_trace_once_each() {
    let mut t = TenantTraces::default();
    let (out, stored) = t.push(
        vec![
            span(1, 2, 200),
            span(1, 1, 100),
            span(2, 1, 100),
            span(1, 1, 100),
        ],
        &Limits::default(),
    );
    assert_eq!(out.accepted, 4);
    assert_eq!(stored.len(), 3, "the duplicate is not logged twice");
    let trace = t.trace_by_id([1; 16], 0, u64::MAX).unwrap();
    let ids: Vec<_> = trace.spans.iter().map(|s| s.span_id[0]).collect();
    assert_eq!(ids, [1, 2], "sorted by start, duplicate dropped");
    assert!(t.trace_by_id([1; 16], 500, 600).is_none());
    assert!(t.trace_by_id([3; 16], 0, u64::MAX).is_none());
}

#[test]
fn search_and_tags_see_live_spans() {
    let mut t = TenantTraces::default();
    t.push(vec![span(1, 1, 100), span(2, 2, 300)], &Limits::default());
    let scan = TraceScan {
        start_ns: 0,
        end_ns: u64::MAX,
        filter: Some(Arc::new(|s: &Span| s.span_id[0] == 2)),
        limit: None,
    };
    let found = t.search(&scan);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].trace_id, [2; 16]);
    let names = t.tag_names(0, u64::MAX);
    assert!(names.contains(&(AttrScope::Resource, "service.name".into())));
    assert!(names.contains(&(AttrScope::Span, "http.route".into())));
    let values = t.tag_values(Some(AttrScope::Span), "http.route", 0, u64::MAX);
    assert_eq!(values.into_iter().collect::<Vec<_>>(), ["/r1", "/r2"]);
}

#[test]
fn limits_refuse_new_traces_and_large_traces() {
    let limits = Limits {
        max_traces_per_user: 1,
        max_bytes_per_trace: 150,
        ..Limits::default()
    };
    let mut t = TenantTraces::default();
    let (out, _) = t.push(vec![span(1, 1, 1), span(2, 1, 1)], &limits);
    assert_eq!(out.accepted, 1);
    assert_eq!(out.rejected[0].reason, DiscardReason::LiveTracesExceeded);
    let (out, _) = t.push((2..10).map(|i| span(1, i, 1)).collect(), &limits);
    assert!(out.accepted < 8);
    assert_eq!(out.rejected[0].reason, DiscardReason::TraceTooLarge);
    assert_eq!(out.rejected[0].spans, 8 - out.accepted);
}
