//! The TraceQL syntax tree and its canonical printing (`Display`), so a
//! parsed query prints back to a string that parses to the same tree.

use std::borrow::Cow;
use std::fmt;

use regex::Regex;

/// A whole query: a spanset expression followed by pipeline stages.
#[derive(Debug, Clone)]
pub struct Query {
    /// The expression that selects the first spansets.
    pub expr: SpansetExpr,
    /// `| …` stages applied in order.
    pub stages: Vec<Stage>,
}

/// An expression producing spansets.
#[derive(Debug, Clone)]
pub enum SpansetExpr {
    /// `{ field-expression }`: the spans for which it is true.
    Filter(FieldExpr),
    /// Two spanset expressions combined by a spanset operator.
    Binary(SpansetOp, Box<SpansetExpr>, Box<SpansetExpr>),
    /// A parenthesised pipeline, e.g. `({ } | count() > 1)`.
    Pipeline(Box<Query>),
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpansetOp {
    /// `&&`: both sides match in the trace.
    And,
    /// `||`: either side matches.
    Or,
    /// A structural operator: `>`, `&>`, `!>`, `>>`, ….
    Structural(Relation, StructuralMode),
}

/// How a right-hand span relates to a left-hand one in a structural operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `>`: the right-hand span's parent is the left-hand span.
    Child,
    /// `>>`: the left-hand span is an ancestor of the right-hand span.
    Descendant,
    /// `<`: the right-hand span is the left-hand span's parent.
    Parent,
    /// `<<`: the right-hand span is an ancestor of the left-hand span.
    Ancestor,
    /// `~`: both have the same parent and are different spans.
    Sibling,
}

impl Relation {
    /// The relation seen from the other side (`>` and `<`, `>>` and `<<`):
    /// union operators return the left-hand spans related this way.
    pub fn inverse(self) -> Self {
        match self {
            Relation::Child => Relation::Parent,
            Relation::Parent => Relation::Child,
            Relation::Descendant => Relation::Ancestor,
            Relation::Ancestor => Relation::Descendant,
            Relation::Sibling => Relation::Sibling,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Relation::Child => ">",
            Relation::Descendant => ">>",
            Relation::Parent => "<",
            Relation::Ancestor => "<<",
            Relation::Sibling => "~",
        }
    }
}

/// Which spans a structural operator returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuralMode {
    /// `>`: the right-hand spans related to some left-hand span.
    Match,
    /// `&>`: those, and the left-hand spans related to some right-hand span.
    Union,
    /// `!>`: the right-hand spans related to no left-hand span.
    Not,
}

impl SpansetOp {
    /// Binding strength: `||` < `&&` < structural operators.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            SpansetOp::Or => 1,
            SpansetOp::And => 2,
            SpansetOp::Structural(..) => 3,
        }
    }
}

impl fmt::Display for SpansetOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SpansetOp::And => f.write_str("&&"),
            SpansetOp::Or => f.write_str("||"),
            SpansetOp::Structural(rel, mode) => {
                let prefix = match mode {
                    StructuralMode::Match => "",
                    StructuralMode::Union => "&",
                    StructuralMode::Not => "!",
                };
                write!(f, "{prefix}{}", rel.symbol())
            }
        }
    }
}

/// One pipeline stage.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `{ … }`: keep only the spans of each spanset that match.
    Filter(FieldExpr),
    /// `count() > 2`, `avg(duration) > 1s`: keep spansets whose aggregate
    /// compares true.
    Scalar {
        /// The aggregate computed per spanset.
        agg: Aggregate,
        /// The comparison.
        op: CmpOp,
        /// What it is compared with.
        value: Value<'static>,
    },
    /// `by(field)`: split each spanset by the field's value.
    By(FieldExpr),
    /// `select(a, b)`: return these fields with each span.
    Select(Vec<FieldExpr>),
    /// `coalesce()`: merge all spansets into one.
    Coalesce,
}

/// A per-spanset aggregate.
#[derive(Debug, Clone)]
pub enum Aggregate {
    /// `count()`.
    Count,
    /// `avg(field)`.
    Avg(FieldExpr),
    /// `min(field)`.
    Min(FieldExpr),
    /// `max(field)`.
    Max(FieldExpr),
    /// `sum(field)`.
    Sum(FieldExpr),
}

/// An expression over one span's fields.
#[derive(Debug, Clone)]
pub enum FieldExpr {
    /// A literal.
    Static(Value<'static>),
    /// An attribute, e.g. `resource.service.name`.
    Attr(Attribute),
    /// A built-in field, e.g. `duration`.
    Intrinsic(Intrinsic),
    /// Comparison, logic or arithmetic.
    Binary(BinOp, Box<FieldExpr>, Box<FieldExpr>),
    /// `lhs =~ "re"` / `lhs !~ "re"` (fully anchored).
    Regex {
        /// What is matched.
        lhs: Box<FieldExpr>,
        /// The anchored compiled pattern.
        re: Regex,
        /// The pattern as written.
        pattern: String,
        /// `!~`.
        negated: bool,
    },
    /// `!expr`.
    Not(Box<FieldExpr>),
    /// `-expr`.
    Neg(Box<FieldExpr>),
}

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrScope {
    /// `.x`: span attributes first, then resource attributes.
    Any,
    /// `span.x`.
    Span,
    /// `resource.x`.
    Resource,
    /// `instrumentation.x`: the instrumentation scope's attributes.
    Instrumentation,
    /// `event.x`: an attribute of one of the span's events (a condition on
    /// it holds when it holds for some event).
    Event,
    /// `link.x`: an attribute of one of the span's links (likewise).
    Link,
}

/// A scoped attribute reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Where it is looked up.
    pub scope: AttrScope,
    /// Its key.
    pub name: String,
}

/// Built-in span and trace fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `name` / `span:name`.
    Name,
    /// `status` / `span:status`.
    Status,
    /// `statusMessage` / `span:statusMessage`.
    StatusMessage,
    /// `kind` / `span:kind`.
    Kind,
    /// `duration` / `span:duration`.
    Duration,
    /// `span:id` (hex).
    SpanId,
    /// `span:parentID` (hex, nil for a root span).
    ParentId,
    /// `rootName` / `trace:rootName`.
    RootName,
    /// `rootServiceName` / `trace:rootService`.
    RootServiceName,
    /// `traceDuration` / `trace:duration`.
    TraceDuration,
    /// `trace:id` (hex).
    TraceId,
    /// `nestedSetLeft`: the span's number on the way down a depth-first
    /// walk of its trace's span tree (Tempo's nested-set model; 0 for a
    /// span not under a root), which the Traces Drilldown app selects to
    /// draw a trace's structure.
    NestedSetLeft,
    /// `nestedSetRight`: the span's number on the way back up.
    NestedSetRight,
    /// `nestedSetParent`: the parent's `nestedSetLeft`, -1 for a root.
    NestedSetParent,
    /// `event:name`: the name of one of the span's events (`exception`, …).
    EventName,
    /// `event:timeSinceStart`: when one of the span's events happened,
    /// after the span's start.
    EventTimeSinceStart,
    /// `link:traceID`: the trace one of the span's links points to (hex).
    LinkTraceId,
    /// `link:spanID`: the span one of the span's links points to (hex).
    LinkSpanId,
    /// `instrumentation:name`: the instrumentation scope's name.
    InstrumentationName,
    /// `instrumentation:version`: the instrumentation scope's version.
    InstrumentationVersion,
}

impl Intrinsic {
    /// The intrinsic named `word`, in either spelling.
    pub fn from_name(word: &str) -> Option<Self> {
        Some(match word {
            "name" | "span:name" => Intrinsic::Name,
            "status" | "span:status" => Intrinsic::Status,
            "statusMessage" | "span:statusMessage" => Intrinsic::StatusMessage,
            "kind" | "span:kind" => Intrinsic::Kind,
            "duration" | "span:duration" => Intrinsic::Duration,
            "span:id" => Intrinsic::SpanId,
            "span:parentID" => Intrinsic::ParentId,
            "rootName" | "trace:rootName" => Intrinsic::RootName,
            "rootServiceName" | "trace:rootService" => Intrinsic::RootServiceName,
            "traceDuration" | "trace:duration" => Intrinsic::TraceDuration,
            "trace:id" => Intrinsic::TraceId,
            "nestedSetLeft" => Intrinsic::NestedSetLeft,
            "nestedSetRight" => Intrinsic::NestedSetRight,
            "nestedSetParent" => Intrinsic::NestedSetParent,
            "event:name" => Intrinsic::EventName,
            "event:timeSinceStart" => Intrinsic::EventTimeSinceStart,
            "link:traceID" => Intrinsic::LinkTraceId,
            "link:spanID" => Intrinsic::LinkSpanId,
            "instrumentation:name" => Intrinsic::InstrumentationName,
            "instrumentation:version" => Intrinsic::InstrumentationVersion,
            _ => return None,
        })
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::RootName => "rootName",
            Intrinsic::RootServiceName => "rootServiceName",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }

    /// Whether the value is an ID (`span:id`, `link:traceID`, …): Tempo
    /// lists no values for those.
    pub fn is_id(self) -> bool {
        matches!(
            self,
            Intrinsic::SpanId
                | Intrinsic::ParentId
                | Intrinsic::TraceId
                | Intrinsic::LinkTraceId
                | Intrinsic::LinkSpanId
        )
    }

    /// Whether the value depends on the whole trace, not only the span.
    pub fn is_trace_level(self) -> bool {
        matches!(
            self,
            Intrinsic::RootName
                | Intrinsic::RootServiceName
                | Intrinsic::TraceDuration
                | Intrinsic::NestedSetLeft
                | Intrinsic::NestedSetRight
                | Intrinsic::NestedSetParent
        )
    }
}

/// Binary operators inside `{ }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `||`.
    Or,
    /// `&&`.
    And,
    /// A comparison.
    Cmp(CmpOp),
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^`.
    Pow,
}

impl BinOp {
    /// Binding strength, loosest first.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Cmp(_) => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Cmp(c) => c.symbol(),
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`.
    Eq,
    /// `!=`.
    Neq,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Neq => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    /// Whether `ord` (lhs compared with rhs) satisfies the operator.
    pub(crate) fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Neq => ord != Equal,
            CmpOp::Gt => ord == Greater,
            CmpOp::Gte => ord != Less,
            CmpOp::Lt => ord == Less,
            CmpOp::Lte => ord != Greater,
        }
    }
}

/// A TraceQL value: a literal, or a field of a span.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `nil`: the field is absent.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// A duration in nanoseconds.
    Duration(i64),
    /// A span status (OTLP code: 0 unset, 1 ok, 2 error).
    Status(i32),
    /// A span kind (OTLP code: 0 unspecified … 5 consumer).
    Kind(i32),
}

/// Status keywords with their OTLP codes.
pub(crate) const STATUSES: [(&str, i32); 3] = [("unset", 0), ("ok", 1), ("error", 2)];
/// Kind keywords with their OTLP codes.
pub(crate) const KINDS: [(&str, i32); 6] = [
    ("unspecified", 0),
    ("internal", 1),
    ("server", 2),
    ("client", 3),
    ("producer", 4),
    ("consumer", 5),
];

fn keyword(table: &[(&'static str, i32)], code: i32) -> &'static str {
    table
        .iter()
        .find(|(_, c)| *c == code)
        .map_or("unspecified", |(n, _)| n)
}

/// Formats a duration the way TraceQL literals are written (`1h2m3s`, `15ms`).
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut n = nanos.unsigned_abs();
    if nanos < 0 {
        out.push('-');
    }
    if !n.is_multiple_of(1_000_000_000) && n < 1_000_000_000 {
        let (unit, div) = if n.is_multiple_of(1_000_000) {
            ("ms", 1_000_000)
        } else if n.is_multiple_of(1_000) {
            ("us", 1_000)
        } else {
            ("ns", 1)
        };
        out.push_str(&format!("{}{unit}", n / div));
        return out;
    }
    for (unit, div) in [("h", 3_600_000_000_000u64), ("m", 60_000_000_000)] {
        if n >= div {
            out.push_str(&format!("{}{unit}", n / div));
            n %= div;
        }
    }
    if n > 0 {
        if n.is_multiple_of(1_000_000_000) {
            out.push_str(&format!("{}s", n / 1_000_000_000));
        } else {
            out.push_str(&format!("{}s", n as f64 / 1e9));
        }
    }
    out
}

impl Value<'_> {
    /// The value with owned strings.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Duration(d) => Value::Duration(d),
            Value::Status(s) => Value::Status(s),
            Value::Kind(k) => Value::Kind(k),
        }
    }

    /// The value as shown in a result (strings unquoted).
    pub fn render(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.fract() == 0.0 && x.is_finite() => write!(f, "{x:.1}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Duration(d) => f.write_str(&format_duration(*d)),
            Value::Status(s) => f.write_str(keyword(&STATUSES, *s)),
            Value::Kind(k) => f.write_str(keyword(&KINDS, *k)),
        }
    }
}

/// Whether an attribute name can be written without quotes.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !"{}()=~!<>&|^,\"\\".contains(c))
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.scope {
            AttrScope::Any => "",
            AttrScope::Span => "span",
            AttrScope::Resource => "resource",
            AttrScope::Instrumentation => "instrumentation",
            AttrScope::Event => "event",
            AttrScope::Link => "link",
        };
        if plain_name(&self.name) {
            write!(f, "{prefix}.{}", self.name)
        } else {
            write!(f, "{prefix}.{:?}", self.name)
        }
    }
}

impl FieldExpr {
    fn precedence(&self) -> u8 {
        match self {
            FieldExpr::Binary(op, ..) => op.precedence(),
            FieldExpr::Regex { .. } => 3,
            _ => 10,
        }
    }

    fn write_operand(&self, f: &mut fmt::Formatter<'_>, parens: bool) -> fmt::Result {
        if parens {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldExpr::Static(v) => write!(f, "{v}"),
            FieldExpr::Attr(a) => write!(f, "{a}"),
            FieldExpr::Intrinsic(i) => f.write_str(i.as_str()),
            FieldExpr::Binary(op, l, r) => {
                let p = op.precedence();
                // Comparisons do not chain: parenthesise a comparison operand.
                let cmp = p == 3;
                l.write_operand(f, l.precedence() < p || (cmp && l.precedence() == p))?;
                write!(f, " {} ", op.symbol())?;
                r.write_operand(f, r.precedence() <= p)
            }
            FieldExpr::Regex {
                lhs,
                pattern,
                negated,
                ..
            } => {
                lhs.write_operand(f, lhs.precedence() <= 3)?;
                let op = if *negated { "!~" } else { "=~" };
                write!(f, " {op} {pattern:?}")
            }
            FieldExpr::Not(e) => {
                f.write_str("!")?;
                e.write_operand(f, e.precedence() < 10)
            }
            FieldExpr::Neg(e) => {
                f.write_str("-")?;
                e.write_operand(f, e.precedence() < 10)
            }
        }
    }
}

impl SpansetExpr {
    fn precedence(&self) -> u8 {
        match self {
            SpansetExpr::Binary(op, ..) => op.precedence(),
            _ => 10,
        }
    }
}

impl fmt::Display for SpansetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(FieldExpr::Static(Value::Bool(true))) => f.write_str("{ }"),
            SpansetExpr::Filter(e) => write!(f, "{{ {e} }}"),
            SpansetExpr::Binary(op, l, r) => {
                let p = op.precedence();
                if l.precedence() < p {
                    write!(f, "({l})")?;
                } else {
                    write!(f, "{l}")?;
                }
                write!(f, " {op} ")?;
                if r.precedence() <= p {
                    write!(f, "({r})")
                } else {
                    write!(f, "{r}")
                }
            }
            SpansetExpr::Pipeline(q) => write!(f, "({q})"),
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregate::Count => f.write_str("count()"),
            Aggregate::Avg(e) => write!(f, "avg({e})"),
            Aggregate::Min(e) => write!(f, "min({e})"),
            Aggregate::Max(e) => write!(f, "max({e})"),
            Aggregate::Sum(e) => write!(f, "sum({e})"),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Filter(e) => write!(f, "{}", SpansetExpr::Filter(e.clone())),
            Stage::Scalar { agg, op, value } => write!(f, "{agg} {} {value}", op.symbol()),
            Stage::By(e) => write!(f, "by({e})"),
            Stage::Select(fields) => {
                f.write_str("select(")?;
                for (i, e) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            Stage::Coalesce => f.write_str("coalesce()"),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        for s in &self.stages {
            write!(f, " | {s}")?;
        }
        Ok(())
    }
}

/// The keywords an intrinsic takes (`status`: `error`, `ok`, `unset`;
/// `kind`: `server`, …), for tag-value listings; `None` for other fields.
pub fn keyword_values(intrinsic: &str) -> Option<Vec<&'static str>> {
    let table: &[(&'static str, i32)] = match Intrinsic::from_name(intrinsic)? {
        Intrinsic::Status => &STATUSES,
        Intrinsic::Kind => &KINDS,
        _ => return None,
    };
    Some(table.iter().map(|(n, _)| *n).collect())
}
