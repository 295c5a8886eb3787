//! Evaluates a parsed query over one trace: spanset filters per span,
//! spanset operators over the span tree (`parent_span_id`), then the
//! pipeline stages.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};

use common::traces::{AttrValue, KeyValue, Span, Trace};

use super::ast::{
    Aggregate, AttrScope, Attribute, BinOp, CmpOp, FieldExpr, Intrinsic, Query, Relation,
    SpansetExpr, SpansetOp, Stage, StructuralMode, Value,
};
use super::elements::{Element, events, exists, links};

/// Spans of one trace that matched together, with the values that
/// grouped or qualified them (`by(…)`, aggregates).
#[derive(Debug, Clone, PartialEq)]
pub struct Spanset {
    /// Indices into the trace's `spans`, ascending.
    pub spans: Vec<usize>,
    /// `(label, value)` pairs, e.g. `("by(resource.service.name)", "api")`.
    pub attributes: Vec<(String, Value<'static>)>,
}

impl Spanset {
    fn of(spans: Vec<usize>) -> Self {
        Self {
            spans,
            attributes: Vec::new(),
        }
    }
}

/// Trace-wide facts the trace-level intrinsics and structural operators need.
pub struct TraceView<'a> {
    /// The trace.
    pub trace: &'a Trace,
    /// The root span (the one without a parent), if it has arrived.
    pub root: Option<&'a Span>,
    /// Earliest span start (ns).
    pub start_ns: u64,
    /// Latest span end (ns).
    pub end_ns: u64,
    parents: OnceCell<Vec<Option<usize>>>,
    nested_sets: OnceCell<Vec<NestedSet>>,
}

/// A span's place in Tempo's nested-set numbering of its trace: `left` and
/// `right` bound its subtree, `parent` is the parent's `left` (-1 for a
/// root); all 0 for a span no root reaches (its parent never arrived).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct NestedSet {
    left: i64,
    right: i64,
    parent: i64,
}

impl<'a> TraceView<'a> {
    /// Facts about `trace`.
    pub fn new(trace: &'a Trace) -> Self {
        let root = trace.spans.iter().find(|s| s.parent_span_id.is_none());
        let start_ns = trace
            .spans
            .iter()
            .map(|s| s.start_unix_nano)
            .min()
            .unwrap_or(0);
        let end_ns = trace
            .spans
            .iter()
            .map(|s| s.end_unix_nano)
            .max()
            .unwrap_or(0);
        Self {
            trace,
            root,
            start_ns,
            end_ns,
            parents: OnceCell::new(),
            nested_sets: OnceCell::new(),
        }
    }

    /// The trace's duration (ns).
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// The parent index of each span (`None` for roots and orphans).
    fn parents(&self) -> &[Option<usize>] {
        self.parents.get_or_init(|| {
            let by_id: HashMap<_, _> = self
                .trace
                .spans
                .iter()
                .enumerate()
                .map(|(i, s)| (s.span_id, i))
                .collect();
            self.trace
                .spans
                .iter()
                .map(|s| s.parent_span_id.and_then(|p| by_id.get(&p).copied()))
                .collect()
        })
    }

    /// The nested-set numbers of each span: a depth-first walk from each
    /// root in span order, children in span order, numbering a span on the
    /// way down (`left`) and again on the way up (`right`), as Tempo does.
    fn nested_sets(&self) -> &[NestedSet] {
        self.nested_sets.get_or_init(|| {
            let spans = &self.trace.spans;
            let parents = self.parents();
            let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
            for (i, p) in parents.iter().enumerate() {
                if let Some(p) = *p {
                    children[p].push(i);
                }
            }
            let mut out = vec![NestedSet::default(); spans.len()];
            let mut next = 1i64;
            for root in (0..spans.len()).filter(|&i| spans[i].parent_span_id.is_none()) {
                out[root].left = next;
                out[root].parent = -1;
                next += 1;
                // (span, how many of its children were walked)
                let mut stack = vec![(root, 0usize)];
                while let Some((node, walked)) = stack.last_mut() {
                    let node = *node;
                    if let Some(&child) = children[node].get(*walked) {
                        *walked += 1;
                        out[child].left = next;
                        out[child].parent = out[node].left;
                        next += 1;
                        stack.push((child, 0));
                    } else {
                        out[node].right = next;
                        next += 1;
                        stack.pop();
                    }
                }
            }
            out
        })
    }

    /// The index of `span` in the trace, if it is one of its spans.
    fn index_of(&self, span: &Span) -> Option<usize> {
        let base = self.trace.spans.as_ptr() as usize;
        let offset = (span as *const Span as usize).checked_sub(base)?;
        let i = offset / std::mem::size_of::<Span>();
        (offset % std::mem::size_of::<Span>() == 0 && i < self.trace.spans.len()).then_some(i)
    }

    /// Ancestors of span `i`, nearest first (bounded against cycles).
    fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let parents = self.parents();
        std::iter::successors(parents.get(i).copied().flatten(), move |&p| {
            parents.get(p).copied().flatten()
        })
        .take(parents.len())
    }
}

impl Query {
    /// The spansets this query selects in `trace`.
    pub fn eval(&self, trace: &Trace) -> Vec<Spanset> {
        self.eval_view(&TraceView::new(trace))
    }

    /// Like [`Query::eval`] with precomputed trace facts.
    pub fn eval_view(&self, view: &TraceView<'_>) -> Vec<Spanset> {
        let mut sets = eval_spanset(&self.expr, view);
        for stage in &self.stages {
            if sets.is_empty() {
                break;
            }
            sets = apply_stage(stage, sets, view);
        }
        sets
    }
}

fn union(sets: &[Spanset]) -> Vec<usize> {
    let mut all: Vec<usize> = sets.iter().flat_map(|s| s.spans.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn eval_spanset(expr: &SpansetExpr, view: &TraceView<'_>) -> Vec<Spanset> {
    match expr {
        SpansetExpr::Filter(f) => {
            let spans: Vec<usize> = (0..view.trace.spans.len())
                .filter(|&i| matches_span(f, &view.trace.spans[i], Some(view)))
                .collect();
            if spans.is_empty() {
                Vec::new()
            } else {
                vec![Spanset::of(spans)]
            }
        }
        SpansetExpr::Pipeline(q) => q.eval_view(view),
        SpansetExpr::Binary(op, l, r) => {
            let lhs = eval_spanset(l, view);
            // Only `||` and the negated structural operators can match
            // without a left-hand span.
            let needs_lhs = !matches!(
                op,
                SpansetOp::Or | SpansetOp::Structural(_, StructuralMode::Not)
            );
            if lhs.is_empty() && needs_lhs {
                return Vec::new();
            }
            let rhs = eval_spanset(r, view);
            let spans = match *op {
                SpansetOp::Or => union(&[lhs, rhs].concat()),
                SpansetOp::And if rhs.is_empty() => Vec::new(),
                SpansetOp::And => union(&[lhs, rhs].concat()),
                SpansetOp::Structural(rel, mode) => {
                    let (lhs, rhs) = (union(&lhs), union(&rhs));
                    match mode {
                        StructuralMode::Match => related(rel, &lhs, &rhs, view, true),
                        StructuralMode::Not => related(rel, &lhs, &rhs, view, false),
                        StructuralMode::Union => {
                            let mut both = related(rel, &lhs, &rhs, view, true);
                            both.extend(related(rel.inverse(), &rhs, &lhs, view, true));
                            both.sort_unstable();
                            both.dedup();
                            both
                        }
                    }
                }
            };
            if spans.is_empty() {
                Vec::new()
            } else {
                vec![Spanset::of(spans)]
            }
        }
    }
}

/// The right-hand spans that stand in relation `rel` to some left-hand
/// span (`wanted` true) or to none (`wanted` false).
fn related(
    rel: Relation,
    lhs: &[usize],
    rhs: &[usize],
    view: &TraceView<'_>,
    wanted: bool,
) -> Vec<usize> {
    let parents = view.parents();
    let parent = |i: usize| parents.get(i).copied().flatten();
    let left: HashSet<usize> = lhs.iter().copied().collect();
    let has_relative: Box<dyn Fn(usize) -> bool + '_> = match rel {
        Relation::Child => Box::new(|r| parent(r).is_some_and(|p| left.contains(&p))),
        Relation::Descendant => Box::new(|r| view.ancestors(r).any(|a| left.contains(&a))),
        Relation::Parent => {
            let of_left: HashSet<usize> = lhs.iter().filter_map(|&l| parent(l)).collect();
            Box::new(move |r| of_left.contains(&r))
        }
        Relation::Ancestor => {
            let of_left: HashSet<usize> = lhs.iter().flat_map(|&l| view.ancestors(l)).collect();
            Box::new(move |r| of_left.contains(&r))
        }
        Relation::Sibling => {
            let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
            for &l in lhs {
                if let Some(p) = parent(l) {
                    children.entry(p).or_default().push(l);
                }
            }
            Box::new(move |r| {
                parent(r)
                    .and_then(|p| children.get(&p))
                    .is_some_and(|ls| ls.iter().any(|&l| l != r))
            })
        }
    };
    rhs.iter()
        .copied()
        .filter(|&r| has_relative(r) == wanted)
        .collect()
}

fn apply_stage(stage: &Stage, sets: Vec<Spanset>, view: &TraceView<'_>) -> Vec<Spanset> {
    let spans = &view.trace.spans;
    match stage {
        Stage::Filter(f) => sets
            .into_iter()
            .filter_map(|mut s| {
                s.spans.retain(|&i| matches_span(f, &spans[i], Some(view)));
                (!s.spans.is_empty()).then_some(s)
            })
            .collect(),
        Stage::Scalar { agg, op, value } => sets
            .into_iter()
            .filter_map(|mut s| {
                let v = aggregate(agg, &s.spans, view);
                if !compare(&v, value, *op) {
                    return None;
                }
                s.attributes.push((agg.to_string(), v.into_owned()));
                Some(s)
            })
            .collect(),
        Stage::By(f) => {
            let label = format!("by({f})");
            let mut out = Vec::new();
            for s in sets {
                let mut groups: Vec<(Value<'static>, Vec<usize>)> = Vec::new();
                for &i in &s.spans {
                    let v = eval_field(f, &spans[i], Some(view)).into_owned();
                    match groups.iter_mut().find(|(k, _)| *k == v) {
                        Some((_, members)) => members.push(i),
                        None => groups.push((v, vec![i])),
                    }
                }
                for (k, members) in groups {
                    let mut attributes = s.attributes.clone();
                    attributes.push((label.clone(), k));
                    out.push(Spanset {
                        spans: members,
                        attributes,
                    });
                }
            }
            out
        }
        Stage::Select(_) => sets,
        Stage::Coalesce => vec![Spanset::of(union(&sets))],
    }
}

fn as_f64(v: &Value<'_>) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Duration(d) => Some(*d as f64),
        _ => None,
    }
}

fn aggregate(agg: &Aggregate, members: &[usize], view: &TraceView<'_>) -> Value<'static> {
    let field = match agg {
        Aggregate::Count => return Value::Int(members.len() as i64),
        Aggregate::Avg(f) | Aggregate::Min(f) | Aggregate::Max(f) | Aggregate::Sum(f) => f,
    };
    let values: Vec<Value<'_>> = members
        .iter()
        .map(|&i| eval_field(field, &view.trace.spans[i], Some(view)))
        .filter(|v| as_f64(v).is_some())
        .collect();
    if values.is_empty() {
        return Value::Nil;
    }
    let durations = values.iter().all(|v| matches!(v, Value::Duration(_)));
    let nums = values.iter().filter_map(as_f64);
    let x = match agg {
        Aggregate::Avg(_) => nums.sum::<f64>() / values.len() as f64,
        Aggregate::Min(_) => nums.fold(f64::INFINITY, f64::min),
        Aggregate::Max(_) => nums.fold(f64::NEG_INFINITY, f64::max),
        _ => nums.sum::<f64>(),
    };
    if durations {
        Value::Duration(x.round() as i64)
    } else {
        Value::Float(x)
    }
}

/// Whether `f` is true for `span` (`view` absent: trace-level fields are nil).
pub(crate) fn matches_span(f: &FieldExpr, span: &Span, view: Option<&TraceView<'_>>) -> bool {
    matches_at(f, span, view, Element::default())
}

fn matches_at(f: &FieldExpr, span: &Span, view: Option<&TraceView<'_>>, at: Element) -> bool {
    matches!(eval_at(f, span, view, at), Value::Bool(true))
}

fn attr_value(v: &AttrValue) -> Value<'_> {
    match v {
        AttrValue::Str(s) => Value::Str(Cow::Borrowed(s)),
        AttrValue::Bool(b) => Value::Bool(*b),
        AttrValue::Int(i) => Value::Int(*i),
        AttrValue::Double(d) => Value::Float(*d),
        _ => Value::Nil,
    }
}

fn find<'a>(kvs: &'a [KeyValue], key: &str) -> Option<Value<'a>> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .map(|kv| attr_value(&kv.value))
}

fn attribute<'a>(a: &Attribute, span: &'a Span, at: Element) -> Value<'a> {
    let found = match a.scope {
        AttrScope::Span => find(&span.attributes, &a.name),
        AttrScope::Resource => find(&span.resource.attributes, &a.name),
        AttrScope::Instrumentation => find(&span.scope.attributes, &a.name),
        AttrScope::Event => events(span, at).find_map(|e| find(&e.attributes, &a.name)),
        AttrScope::Link => links(span, at).find_map(|l| find(&l.attributes, &a.name)),
        AttrScope::Any => {
            find(&span.attributes, &a.name).or_else(|| find(&span.resource.attributes, &a.name))
        }
    };
    found.unwrap_or(Value::Nil)
}

/// Lower-case hex of an ID.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn intrinsic<'a>(
    i: Intrinsic,
    span: &'a Span,
    view: Option<&TraceView<'a>>,
    at: Element,
) -> Value<'a> {
    let dur = |ns: u64| Value::Duration(i64::try_from(ns).unwrap_or(i64::MAX));
    let text = |s: &'a str| {
        if s.is_empty() {
            Value::Nil
        } else {
            Value::Str(Cow::Borrowed(s))
        }
    };
    let hex_of = |id: Option<&[u8]>| id.map_or(Value::Nil, |id| Value::Str(Cow::Owned(hex(id))));
    match i {
        Intrinsic::EventName => events(span, at)
            .next()
            .map_or(Value::Nil, |e| text(&e.name)),
        Intrinsic::EventTimeSinceStart => events(span, at).next().map_or(Value::Nil, |e| {
            dur(e.time_unix_nano.saturating_sub(span.start_unix_nano))
        }),
        Intrinsic::LinkTraceId => hex_of(links(span, at).next().map(|l| &l.trace_id[..])),
        Intrinsic::LinkSpanId => hex_of(links(span, at).next().map(|l| &l.span_id[..])),
        Intrinsic::InstrumentationName => text(&span.scope.name),
        Intrinsic::InstrumentationVersion => text(&span.scope.version),
        Intrinsic::Name => Value::Str(Cow::Borrowed(&span.name)),
        Intrinsic::Status => Value::Status(span.status_code),
        Intrinsic::StatusMessage => Value::Str(Cow::Borrowed(&span.status_message)),
        Intrinsic::Kind => Value::Kind(span.kind),
        Intrinsic::Duration => dur(span.duration_nanos()),
        Intrinsic::SpanId => Value::Str(Cow::Owned(hex(&span.span_id))),
        Intrinsic::ParentId => span
            .parent_span_id
            .map_or(Value::Nil, |p| Value::Str(Cow::Owned(hex(&p)))),
        Intrinsic::TraceId => Value::Str(Cow::Owned(hex(&span.trace_id))),
        Intrinsic::RootName => view
            .and_then(|v| v.root)
            .map_or(Value::Nil, |r| Value::Str(Cow::Borrowed(&r.name))),
        Intrinsic::RootServiceName => view
            .and_then(|v| v.root)
            .and_then(|r| r.service_name())
            .map_or(Value::Nil, |s| Value::Str(Cow::Borrowed(s))),
        Intrinsic::TraceDuration => view.map_or(Value::Nil, |v| dur(v.duration_ns())),
        Intrinsic::NestedSetLeft | Intrinsic::NestedSetRight | Intrinsic::NestedSetParent => {
            let Some(set) = view.and_then(|v| Some(v.nested_sets()[v.index_of(span)?])) else {
                return Value::Nil;
            };
            Value::Int(match i {
                Intrinsic::NestedSetLeft => set.left,
                Intrinsic::NestedSetRight => set.right,
                _ => set.parent,
            })
        }
    }
}

/// Compares two values; values of unrelated types never compare true.
pub(crate) fn compare(l: &Value<'_>, r: &Value<'_>, op: CmpOp) -> bool {
    let ord = match (l, r) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Str(a), Value::Str(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Status(a), Value::Status(b)) | (Value::Kind(a), Value::Kind(b)) => {
            if !matches!(op, CmpOp::Eq | CmpOp::Neq) {
                return false;
            }
            a.cmp(b)
        }
        _ => match (as_f64(l), as_f64(r)) {
            (Some(a), Some(b)) => match a.partial_cmp(&b) {
                Some(o) => o,
                None => return false,
            },
            _ => return false,
        },
    };
    op.holds(ord)
}

fn arithmetic(op: BinOp, l: &Value<'_>, r: &Value<'_>) -> Value<'static> {
    if let (Value::Int(a), Value::Int(b), BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Mod) =
        (l, r, op)
    {
        let v = match op {
            BinOp::Add => a.checked_add(*b),
            BinOp::Sub => a.checked_sub(*b),
            BinOp::Mul => a.checked_mul(*b),
            _ => a.checked_rem(*b),
        };
        return v.map_or(Value::Nil, Value::Int);
    }
    let (Some(a), Some(b)) = (as_f64(l), as_f64(r)) else {
        return Value::Nil;
    };
    let x = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        _ => a.powf(b),
    };
    if !x.is_finite() {
        return Value::Nil;
    }
    let ld = matches!(l, Value::Duration(_));
    let rd = matches!(r, Value::Duration(_));
    let duration = match op {
        BinOp::Add | BinOp::Sub | BinOp::Mod => ld || rd,
        BinOp::Mul => ld != rd,
        BinOp::Div => ld && !rd,
        _ => false,
    };
    if duration {
        Value::Duration(x.round() as i64)
    } else {
        Value::Float(x)
    }
}

/// The value of `e` for `span`.
pub(crate) fn eval_field<'a>(
    e: &'a FieldExpr,
    span: &'a Span,
    view: Option<&TraceView<'a>>,
) -> Value<'a> {
    eval_at(e, span, view, Element::default())
}

/// The value of `e` for `span`, event and link fields read from `at`.
fn eval_at<'a>(
    e: &'a FieldExpr,
    span: &'a Span,
    view: Option<&TraceView<'a>>,
    at: Element,
) -> Value<'a> {
    match e {
        FieldExpr::Static(v) => v.clone(),
        FieldExpr::Attr(a) => attribute(a, span, at),
        FieldExpr::Intrinsic(i) => intrinsic(*i, span, view, at),
        FieldExpr::Binary(BinOp::And, l, r) => {
            Value::Bool(matches_at(l, span, view, at) && matches_at(r, span, view, at))
        }
        FieldExpr::Binary(BinOp::Or, l, r) => {
            Value::Bool(matches_at(l, span, view, at) || matches_at(r, span, view, at))
        }
        FieldExpr::Binary(BinOp::Cmp(_), ..) | FieldExpr::Regex { .. } => {
            Value::Bool(exists(e, span, at, &|at| condition(e, span, view, at)))
        }
        FieldExpr::Binary(op, l, r) => arithmetic(
            *op,
            &eval_at(l, span, view, at),
            &eval_at(r, span, view, at),
        ),
        FieldExpr::Not(x) => match eval_at(x, span, view, at) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Nil,
        },
        FieldExpr::Neg(x) => match eval_at(x, span, view, at) {
            Value::Int(i) => i.checked_neg().map_or(Value::Nil, Value::Int),
            Value::Float(f) => Value::Float(-f),
            Value::Duration(d) => Value::Duration(-d),
            _ => Value::Nil,
        },
    }
}

/// Whether the comparison or regex match `e` holds for `span` with event
/// and link fields read from `at`.
fn condition(e: &FieldExpr, span: &Span, view: Option<&TraceView<'_>>, at: Element) -> bool {
    match e {
        FieldExpr::Binary(BinOp::Cmp(op), l, r) => {
            let (lv, rv) = (eval_at(l, span, view, at), eval_at(r, span, view, at));
            let explicit_nil = |x: &FieldExpr| matches!(x, FieldExpr::Static(Value::Nil));
            if explicit_nil(l) || explicit_nil(r) {
                // `x = nil` / `x != nil`: absence tests.
                let same = (lv == Value::Nil) == (rv == Value::Nil);
                return match op {
                    CmpOp::Eq => same,
                    CmpOp::Neq => !same,
                    _ => false,
                };
            }
            compare(&lv, &rv, *op)
        }
        FieldExpr::Regex {
            lhs, re, negated, ..
        } => match eval_at(lhs, span, view, at) {
            Value::Str(s) => re.is_match(&s) != *negated,
            _ => false,
        },
        other => matches_at(other, span, view, at),
    }
}

/// The value of field `f` for `span` in the trace `view` describes.
pub fn field_value<'a>(f: &'a FieldExpr, span: &'a Span, view: &TraceView<'a>) -> Value<'a> {
    eval_field(f, span, Some(view))
}

/// Intrinsics listed with a span's attributes.
const LISTED_INTRINSICS: [Intrinsic; 4] = [
    Intrinsic::Name,
    Intrinsic::Status,
    Intrinsic::Kind,
    Intrinsic::StatusMessage,
];

/// Calls `f` with each span and resource attribute of `span` (named as in
/// TraceQL, e.g. `span.http.route`, `resource.service.name`) and `name`,
/// `status`, `kind` and a non-empty `statusMessage`: what `compare()`
/// splits by and exemplars carry.
pub(crate) fn for_each_attribute(
    span: &Span,
    view: &TraceView<'_>,
    mut f: impl FnMut(String, Value<'static>),
) {
    for (scope, kvs) in [
        (AttrScope::Span, &span.attributes),
        (AttrScope::Resource, &span.resource.attributes),
    ] {
        for kv in kvs {
            let value = attr_value(&kv.value);
            if value != Value::Nil {
                let attr = Attribute {
                    scope,
                    name: kv.key.clone(),
                };
                f(attr.to_string(), value.into_owned());
            }
        }
    }
    for i in LISTED_INTRINSICS {
        match intrinsic(i, span, Some(view), Element::default()) {
            Value::Str(s) if s.is_empty() => {}
            v => f(i.as_str().to_string(), v.into_owned()),
        }
    }
}
