//! A span's events and links: a condition on `event.x`, `event:name`,
//! `link.x` or `link:traceID` holds for a span when it holds for one of its
//! events (links), as in Tempo; elsewhere (`select`, `by`) such a field
//! reads the first event (link) that has it.

use common::traces::{Span, SpanEvent, SpanLink};

use super::ast::{AttrScope, BinOp, FieldExpr, Intrinsic};

/// Which event and which link of a span fields are read from; `None`:
/// the first one that has the field.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Element {
    event: Option<usize>,
    link: Option<usize>,
}

/// The span's events a field may be read from under `at`.
pub(crate) fn events(span: &Span, at: Element) -> impl Iterator<Item = &SpanEvent> {
    chosen(&span.events, at.event)
}

/// The span's links a field may be read from under `at`.
pub(crate) fn links(span: &Span, at: Element) -> impl Iterator<Item = &SpanLink> {
    chosen(&span.links, at.link)
}

fn chosen<T>(all: &[T], at: Option<usize>) -> std::slice::Iter<'_, T> {
    match at {
        Some(i) => all.get(i..=i).unwrap_or_default().iter(),
        None => all.iter(),
    }
}

/// Whether `e` reads a field of an event (`events` true) or of a link.
fn reads(e: &FieldExpr, events: bool) -> bool {
    match e {
        FieldExpr::Attr(a) => {
            a.scope
                == if events {
                    AttrScope::Event
                } else {
                    AttrScope::Link
                }
        }
        FieldExpr::Intrinsic(i) => {
            if events {
                matches!(i, Intrinsic::EventName | Intrinsic::EventTimeSinceStart)
            } else {
                matches!(i, Intrinsic::LinkTraceId | Intrinsic::LinkSpanId)
            }
        }
        FieldExpr::Static(_) => false,
        FieldExpr::Binary(_, l, r) => reads(l, events) || reads(r, events),
        FieldExpr::Regex { lhs, .. } => reads(lhs, events),
        FieldExpr::Not(x) | FieldExpr::Neg(x) => reads(x, events),
    }
}

/// Whether some condition in `e` reads both an event and a link field
/// (`event.a = link.b`): holding it would pair every event with every
/// link of a span, so the parser refuses it.
pub(crate) fn pairs_events_with_links(e: &FieldExpr) -> bool {
    match e {
        FieldExpr::Binary(BinOp::Cmp(_), ..) | FieldExpr::Regex { .. }
            if reads(e, true) && reads(e, false) =>
        {
            true
        }
        FieldExpr::Binary(_, l, r) => pairs_events_with_links(l) || pairs_events_with_links(r),
        FieldExpr::Regex { lhs, .. } => pairs_events_with_links(lhs),
        FieldExpr::Not(x) | FieldExpr::Neg(x) => pairs_events_with_links(x),
        FieldExpr::Static(_) | FieldExpr::Attr(_) | FieldExpr::Intrinsic(_) => false,
    }
}

/// Whether the condition `e` holds (`holds`) for some event and some link
/// of `span` it reads (for the span itself when it reads neither).
pub(crate) fn exists(
    e: &FieldExpr,
    span: &Span,
    at: Element,
    holds: &dyn Fn(Element) -> bool,
) -> bool {
    if at.event.is_none() && reads(e, true) {
        return (0..span.events.len()).any(|i| {
            let at = Element {
                event: Some(i),
                ..at
            };
            exists(e, span, at, holds)
        });
    }
    if at.link.is_none() && reads(e, false) {
        return (0..span.links.len()).any(|i| {
            let at = Element {
                link: Some(i),
                ..at
            };
            exists(e, span, at, holds)
        });
    }
    holds(at)
}
