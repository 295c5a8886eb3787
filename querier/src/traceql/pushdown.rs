//! A conservative span predicate derived from a query, for
//! [`TraceStore::search`](common::traces::TraceStore::search) to skip traces
//! that cannot match: every trace the query selects has a span passing it.

use std::sync::Arc;

use common::traces::{Span, SpanFilter};

use super::ast::{FieldExpr, Query, SpansetExpr, SpansetOp, Stage, StructuralMode, Value};
use super::eval::matches_span;

/// What at least one span of a matching trace satisfies.
#[derive(Debug, Clone)]
enum Requirement {
    /// The span passes this filter.
    Matches(FieldExpr),
    /// The span passes one of these.
    AnyOf(Vec<Requirement>),
}

impl Requirement {
    fn holds(&self, span: &Span) -> bool {
        match self {
            Requirement::Matches(f) => matches_span(f, span, None),
            Requirement::AnyOf(rs) => rs.iter().any(|r| r.holds(span)),
        }
    }
}

/// The filter to push down for `query`, `None` when every trace may match.
pub fn span_filter(query: &Query) -> Option<SpanFilter> {
    let req = requirement(&query.expr)?;
    Some(Arc::new(move |span: &Span| req.holds(span)))
}

/// Whether the pushed-down filter is exact: a trace passing it is a match,
/// so a store may stop after `limit` traces.
pub fn is_exact(query: &Query) -> bool {
    match &query.expr {
        SpansetExpr::Filter(f) => {
            !uses_trace_fields(f) && query.stages.iter().all(|s| matches!(s, Stage::Select(_)))
        }
        _ => false,
    }
}

fn uses_trace_fields(f: &FieldExpr) -> bool {
    match f {
        FieldExpr::Intrinsic(i) => i.is_trace_level(),
        FieldExpr::Static(_) | FieldExpr::Attr(_) => false,
        FieldExpr::Binary(_, l, r) => uses_trace_fields(l) || uses_trace_fields(r),
        FieldExpr::Regex { lhs, .. } => uses_trace_fields(lhs),
        FieldExpr::Not(x) | FieldExpr::Neg(x) => uses_trace_fields(x),
    }
}

fn requirement(e: &SpansetExpr) -> Option<Requirement> {
    match e {
        SpansetExpr::Filter(FieldExpr::Static(Value::Bool(true))) => None,
        SpansetExpr::Filter(f) if uses_trace_fields(f) => None,
        SpansetExpr::Filter(f) => Some(Requirement::Matches(f.clone())),
        SpansetExpr::Pipeline(q) => requirement(&q.expr),
        SpansetExpr::Binary(SpansetOp::Or, l, r) => {
            Some(Requirement::AnyOf(vec![requirement(l)?, requirement(r)?]))
        }
        // `!>` and the like match without a left-hand span.
        SpansetExpr::Binary(SpansetOp::Structural(_, StructuralMode::Not), _, r) => requirement(r),
        // Both sides must match somewhere in the trace.
        SpansetExpr::Binary(_, l, r) => requirement(l).or_else(|| requirement(r)),
    }
}
