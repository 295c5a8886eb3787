//! The LogQL syntax tree, and its canonical text form (`Display`), so a
//! parsed query can be printed back (`format_query`) and parser round trips
//! can be tested.

use std::fmt::{self, Display, Formatter, Write};

use common::series::Matcher;

pub use super::ip_filter::IpRange;

/// A whole LogQL query: a log query (streams of lines) or a metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `{selector} | pipeline`: returns log lines.
    Log(LogExpr),
    /// Anything returning numbers.
    Metric(MetricExpr),
}

/// A stream selector and the pipeline its lines go through.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The `{…}` matchers (all must hold).
    pub matchers: Vec<Matcher>,
    /// Pipeline stages in query order.
    pub stages: Vec<Stage>,
}

/// The operator of a line filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`: the line contains the text.
    Contains,
    /// `!=`: the line does not contain it.
    NotContains,
    /// `|~`: the regex matches somewhere in the line.
    Regex,
    /// `!~`: the regex matches nowhere.
    NotRegex,
    /// `|>`: the line matches the pattern.
    Pattern,
    /// `!>`: the line does not match the pattern.
    NotPattern,
    /// `|= ip("…")`: the line holds an address in the range.
    Ip,
    /// `!= ip("…")`: the line holds no address in the range.
    NotIp,
}

impl LineFilterOp {
    fn symbol(self) -> &'static str {
        match self {
            LineFilterOp::Contains | LineFilterOp::Ip => "|=",
            LineFilterOp::NotContains | LineFilterOp::NotIp => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    /// True for the negated operators.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            LineFilterOp::NotContains
                | LineFilterOp::NotRegex
                | LineFilterOp::NotPattern
                | LineFilterOp::NotIp
        )
    }
}

/// `|= "a" or "b"`: one operator and its `or` alternatives (for a negated
/// operator the line must match none of them).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The text, regex or pattern of each alternative.
    pub values: Vec<String>,
}

/// `name` or `name="expression"` in `json` and `logfmt` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    /// The label to set.
    pub label: String,
    /// Where to read it from (`None`: the key named like the label).
    pub expr: Option<String>,
}

/// One `label_format` assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFmt {
    /// `dst=src`: rename.
    Rename {
        /// New name.
        dst: String,
        /// Existing label.
        src: String,
    },
    /// `dst="{{…}}"`: a template.
    Template {
        /// The label to set.
        dst: String,
        /// Template text.
        template: String,
    },
}

/// A label named in `drop` or `keep`, optionally only when it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSel {
    /// The label.
    pub name: String,
    /// Only when its value matches this (`drop level="debug"`).
    pub matcher: Option<Matcher>,
}

/// A comparison operator of numeric, duration and bytes label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` (or `=`).
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
}

impl CmpOp {
    /// `l op r`.
    pub fn holds(self, l: f64, r: f64) -> bool {
        match self {
            CmpOp::Eq => l == r,
            CmpOp::Ne => l != r,
            CmpOp::Gt => l > r,
            CmpOp::Ge => l >= r,
            CmpOp::Lt => l < r,
            CmpOp::Le => l <= r,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// What kind of value a comparison label filter parses the label as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A float (`status >= 500`).
    Number,
    /// A Go duration (`latency > 10s`), compared in seconds.
    Duration,
    /// A byte size (`size > 20MB`), compared in bytes.
    Bytes,
}

/// A label filter stage, possibly combined with `and` / `or`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// `name op "string"`.
    Matcher(Matcher),
    /// `name op value`, the label parsed as `kind`.
    Compare {
        /// The label.
        name: String,
        /// The operator.
        op: CmpOp,
        /// How to read the label.
        kind: ValueKind,
        /// The right-hand side (seconds for durations, bytes for sizes).
        value: f64,
        /// The right-hand side as written, for printing.
        text: String,
    },
    /// Both hold.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either holds.
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `name = ip("…")` / `name != ip("…")`: the label holds an address
    /// in the range (`negate`: it does not).
    Ip {
        /// The label.
        name: String,
        /// `!=`.
        negate: bool,
        /// The range.
        range: IpRange,
    },
    /// `( … )` as written.
    Paren(Box<LabelFilter>),
}

impl LabelFilter {
    /// Appends the names of the labels this filter reads to `out`.
    pub fn label_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            LabelFilter::Matcher(m) => out.push(&m.name),
            LabelFilter::Compare { name, .. } | LabelFilter::Ip { name, .. } => out.push(name),
            LabelFilter::And(a, b) | LabelFilter::Or(a, b) => {
                a.label_names(out);
                b.label_names(out);
            }
            LabelFilter::Paren(f) => f.label_names(out),
        }
    }
}

/// One stage of a log pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "x"` and friends.
    LineFilter(LineFilter),
    /// `| json` with optional extractions.
    Json(Vec<Extraction>),
    /// `| logfmt` with flags and optional extractions.
    Logfmt {
        /// `--strict`: a malformed line is an error.
        strict: bool,
        /// `--keep-empty`: keep standalone keys as empty labels.
        keep_empty: bool,
        /// Extractions (empty: every key).
        params: Vec<Extraction>,
    },
    /// `| regexp "(?P<name>…)"`.
    Regexp(String),
    /// `| pattern "<ip> - <_>"`.
    Pattern(String),
    /// `| unpack`.
    Unpack,
    /// `| label filter`.
    LabelFilter(LabelFilter),
    /// `| line_format "{{…}}"`.
    LineFormat(String),
    /// `| label_format a="{{…}}", b=c`.
    LabelFormat(Vec<LabelFmt>),
    /// `| drop a, b="x"`.
    Drop(Vec<LabelSel>),
    /// `| keep a, b="x"`.
    Keep(Vec<LabelSel>),
    /// `| decolorize`.
    Decolorize,
}

/// A range aggregation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    /// `rate`.
    Rate,
    /// `rate_counter` (unwrap only).
    RateCounter,
    /// `count_over_time`.
    CountOverTime,
    /// `bytes_rate`.
    BytesRate,
    /// `bytes_over_time`.
    BytesOverTime,
    /// `absent_over_time`.
    AbsentOverTime,
    /// `sum_over_time`.
    SumOverTime,
    /// `avg_over_time`.
    AvgOverTime,
    /// `min_over_time`.
    MinOverTime,
    /// `max_over_time`.
    MaxOverTime,
    /// `stddev_over_time`.
    StddevOverTime,
    /// `stdvar_over_time`.
    StdvarOverTime,
    /// `quantile_over_time`.
    QuantileOverTime,
    /// `first_over_time`.
    FirstOverTime,
    /// `last_over_time`.
    LastOverTime,
}

/// Every range aggregation with its name.
pub const RANGE_OPS: [(&str, RangeOp); 15] = [
    ("rate", RangeOp::Rate),
    ("rate_counter", RangeOp::RateCounter),
    ("count_over_time", RangeOp::CountOverTime),
    ("bytes_rate", RangeOp::BytesRate),
    ("bytes_over_time", RangeOp::BytesOverTime),
    ("absent_over_time", RangeOp::AbsentOverTime),
    ("sum_over_time", RangeOp::SumOverTime),
    ("avg_over_time", RangeOp::AvgOverTime),
    ("min_over_time", RangeOp::MinOverTime),
    ("max_over_time", RangeOp::MaxOverTime),
    ("stddev_over_time", RangeOp::StddevOverTime),
    ("stdvar_over_time", RangeOp::StdvarOverTime),
    ("quantile_over_time", RangeOp::QuantileOverTime),
    ("first_over_time", RangeOp::FirstOverTime),
    ("last_over_time", RangeOp::LastOverTime),
];

impl RangeOp {
    /// The function's name.
    pub fn name(self) -> &'static str {
        RANGE_OPS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(n, _)| n)
    }

    /// True for the functions that need `| unwrap`.
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            RangeOp::Rate
                | RangeOp::CountOverTime
                | RangeOp::BytesRate
                | RangeOp::BytesOverTime
                | RangeOp::AbsentOverTime
        )
    }

    /// True for the functions that may be grouped themselves
    /// (`max_over_time(…) by (x)`); Loki refuses a grouping on the others.
    pub fn takes_grouping(self) -> bool {
        matches!(
            self,
            RangeOp::AvgOverTime
                | RangeOp::StddevOverTime
                | RangeOp::StdvarOverTime
                | RangeOp::QuantileOverTime
                | RangeOp::MaxOverTime
                | RangeOp::MinOverTime
                | RangeOp::FirstOverTime
                | RangeOp::LastOverTime
        )
    }

    /// True for the functions that refuse `| unwrap`.
    pub fn refuses_unwrap(self) -> bool {
        matches!(
            self,
            RangeOp::CountOverTime
                | RangeOp::BytesRate
                | RangeOp::BytesOverTime
                | RangeOp::AbsentOverTime
        )
    }
}

/// How `unwrap` turns a label value into a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// As a float.
    Float,
    /// `duration(…)`: a Go duration, in seconds.
    Duration,
    /// `duration_seconds(…)`: the same.
    DurationSeconds,
    /// `bytes(…)`: a byte size.
    Bytes,
}

/// `| unwrap label` and the label filters after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label holding the value.
    pub label: String,
    /// How to read it.
    pub conversion: Conversion,
    /// Label filters applied after the conversion (e.g. `| __error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

/// `{selector} | pipeline [range] offset d`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    /// The selector and pipeline.
    pub log: LogExpr,
    /// The window length, nanoseconds.
    pub range_ns: i64,
    /// How far back the window moves, nanoseconds.
    pub offset_ns: i64,
    /// The numeric value source, for unwrapped range aggregations.
    pub unwrap: Option<Unwrap>,
}

/// `by (…)` or `without (…)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Grouping {
    /// Keep only these labels.
    By(Vec<String>),
    /// Drop these labels.
    Without(Vec<String>),
}

/// A range aggregation, e.g. `rate({app="x"}[5m])`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAgg {
    /// The function.
    pub op: RangeOp,
    /// `quantile_over_time`'s φ.
    pub param: Option<f64>,
    /// The log range it aggregates.
    pub range: LogRange,
    /// Grouping of the resulting series.
    pub grouping: Option<Grouping>,
}

/// A vector aggregation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VecOp {
    /// `sum`.
    Sum,
    /// `avg`.
    Avg,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `count`.
    Count,
    /// `stddev`.
    Stddev,
    /// `stdvar`.
    Stdvar,
    /// `topk`.
    Topk,
    /// `bottomk`.
    Bottomk,
    /// `sort`.
    Sort,
    /// `sort_desc`.
    SortDesc,
}

/// Every vector aggregation with its name.
pub const VEC_OPS: [(&str, VecOp); 11] = [
    ("sum", VecOp::Sum),
    ("avg", VecOp::Avg),
    ("min", VecOp::Min),
    ("max", VecOp::Max),
    ("count", VecOp::Count),
    ("stddev", VecOp::Stddev),
    ("stdvar", VecOp::Stdvar),
    ("topk", VecOp::Topk),
    ("bottomk", VecOp::Bottomk),
    ("sort", VecOp::Sort),
    ("sort_desc", VecOp::SortDesc),
];

impl VecOp {
    /// The operator's name.
    pub fn name(self) -> &'static str {
        VEC_OPS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(n, _)| n)
    }
}

/// A vector aggregation, e.g. `sum by (app) (…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VecAgg {
    /// The operator.
    pub op: VecOp,
    /// `topk`/`bottomk`'s k.
    pub param: Option<f64>,
    /// Grouping.
    pub grouping: Option<Grouping>,
    /// What it aggregates.
    pub expr: Box<MetricExpr>,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
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
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `unless`.
    Unless,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }

    /// Binding strength (higher binds tighter), as in PromQL.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    /// True for the comparison operators.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// True for `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

/// Which side of a many-to-one match is the "many" side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSide {
    /// `group_left`.
    Left,
    /// `group_right`.
    Right,
}

/// `on(…)`/`ignoring(…)` and `group_left(…)`/`group_right(…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    /// The labels listed.
    pub labels: Vec<String>,
    /// Many-to-one side and the labels copied from the "one" side.
    pub group: Option<(GroupSide, Vec<String>)>,
}

/// `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binary {
    /// The operator.
    pub op: BinOp,
    /// Left operand.
    pub lhs: Box<MetricExpr>,
    /// Right operand.
    pub rhs: Box<MetricExpr>,
    /// `bool` after a comparison.
    pub return_bool: bool,
    /// Label matching between two vectors.
    pub matching: Option<VectorMatching>,
}

/// An expression returning numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// A range aggregation.
    Range(RangeAgg),
    /// A vector aggregation.
    Vector(VecAgg),
    /// A binary operation.
    Binary(Binary),
    /// A number.
    Literal(f64),
    /// `vector(n)`.
    VectorLit(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`.
    LabelReplace {
        /// The input.
        expr: Box<MetricExpr>,
        /// Label to write.
        dst: String,
        /// Replacement with `$1` references.
        replacement: String,
        /// Label to read.
        src: String,
        /// Anchored regex over `src`.
        regex: String,
    },
    /// `( … )` as written.
    Paren(Box<MetricExpr>),
}

/// `s` as a Go double-quoted string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A nanosecond duration as Prometheus spells it (`1h30m`, `5m`, `250ms`).
pub fn fmt_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let mut ms = ns.unsigned_abs() / 1_000_000;
    if ms == 0 {
        return format!("{sign}{}ns", ns.unsigned_abs());
    }
    let mut out = sign.to_string();
    for (unit, size) in [
        ("y", 31_536_000_000u64),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

fn fmt_number(v: f64) -> String {
    crate::promql::format::go_float(v)
}

fn write_list(f: &mut Formatter<'_>, items: &[String]) -> fmt::Result {
    write!(f, "({})", items.join(", "))
}

fn write_matchers(f: &mut Formatter<'_>, matchers: &[Matcher]) -> fmt::Result {
    f.write_char('{')?;
    for (i, m) in matchers.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}{}{}", m.name, m.op, quote(&m.value))?;
    }
    f.write_char('}')
}

fn write_extractions(f: &mut Formatter<'_>, params: &[Extraction]) -> fmt::Result {
    for (i, p) in params.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        match &p.expr {
            Some(e) => write!(f, "{}={}", p.label, quote(e))?,
            None => f.write_str(&p.label)?,
        }
    }
    Ok(())
}

fn write_label_sels(f: &mut Formatter<'_>, sels: &[LabelSel]) -> fmt::Result {
    for (i, s) in sels.iter().enumerate() {
        f.write_str(if i == 0 { " " } else { ", " })?;
        match &s.matcher {
            Some(m) => write!(f, "{}{}{}", m.name, m.op, quote(&m.value))?,
            None => f.write_str(&s.name)?,
        }
    }
    Ok(())
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelFilter::Matcher(m) => write!(f, "{}{}{}", m.name, m.op, quote(&m.value)),
            LabelFilter::Compare { name, op, text, .. } => {
                let op = if *op == CmpOp::Eq { "=" } else { op.symbol() };
                write!(f, "{name}{op}{text}")
            }
            LabelFilter::Ip {
                name,
                negate,
                range,
            } => {
                let op = if *negate { "!=" } else { "=" };
                write!(f, "{name}{op}ip({})", quote(&range.to_string()))
            }
            LabelFilter::And(l, r) => write!(f, "{l} and {r}"),
            LabelFilter::Or(l, r) => write!(f, "{l} or {r}"),
            LabelFilter::Paren(inner) => write!(f, "({inner})"),
        }
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => {
                f.write_str(lf.op.symbol())?;
                let ip = matches!(lf.op, LineFilterOp::Ip | LineFilterOp::NotIp);
                for (i, v) in lf.values.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { " or " })?;
                    if ip {
                        write!(f, "ip({})", quote(v))?;
                    } else {
                        f.write_str(&quote(v))?;
                    }
                }
                Ok(())
            }
            Stage::Json(params) => {
                f.write_str("| json")?;
                write_extractions(f, params)
            }
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => {
                f.write_str("| logfmt")?;
                if *strict {
                    f.write_str(" --strict")?;
                }
                if *keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                write_extractions(f, params)
            }
            Stage::Regexp(re) => write!(f, "| regexp {}", quote(re)),
            Stage::Pattern(p) => write!(f, "| pattern {}", quote(p)),
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(t)),
            Stage::LabelFormat(fmts) => {
                f.write_str("| label_format")?;
                for (i, l) in fmts.iter().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    match l {
                        LabelFmt::Rename { dst, src } => write!(f, "{dst}={src}")?,
                        LabelFmt::Template { dst, template } => {
                            write!(f, "{dst}={}", quote(template))?
                        }
                    }
                }
                Ok(())
            }
            Stage::Drop(sels) => {
                f.write_str("| drop")?;
                write_label_sels(f, sels)
            }
            Stage::Keep(sels) => {
                f.write_str("| keep")?;
                write_label_sels(f, sels)
            }
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_matchers(f, &self.matchers)?;
        for s in &self.stages {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.log)?;
        if let Some(u) = &self.unwrap {
            f.write_str(" | unwrap ")?;
            match u.conversion {
                Conversion::Float => f.write_str(&u.label)?,
                Conversion::Duration => write!(f, "duration({})", u.label)?,
                Conversion::DurationSeconds => write!(f, "duration_seconds({})", u.label)?,
                Conversion::Bytes => write!(f, "bytes({})", u.label)?,
            }
            for pf in &u.post_filters {
                write!(f, " | {pf}")?;
            }
        }
        write!(f, "[{}]", fmt_duration(self.range_ns))?;
        if self.offset_ns != 0 {
            write!(f, " offset {}", fmt_duration(self.offset_ns))?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Grouping::By(l) => {
                f.write_str("by ")?;
                write_list(f, l)
            }
            Grouping::Without(l) => {
                f.write_str("without ")?;
                write_list(f, l)
            }
        }
    }
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::Range(r) => {
                write!(f, "{}(", r.op.name())?;
                if let Some(p) = r.param {
                    write!(f, "{}, ", fmt_number(p))?;
                }
                write!(f, "{})", r.range)?;
                if let Some(g) = &r.grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::Vector(v) => {
                f.write_str(v.op.name())?;
                if let Some(g) = &v.grouping {
                    write!(f, " {g} ")?;
                }
                f.write_char('(')?;
                if let Some(p) = v.param {
                    write!(f, "{}, ", fmt_number(p))?;
                }
                write!(f, "{})", v.expr)
            }
            MetricExpr::Binary(b) => {
                write!(f, "{} {}", b.lhs, b.op.symbol())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    f.write_str(if m.on { " on " } else { " ignoring " })?;
                    write_list(f, &m.labels)?;
                    if let Some((side, labels)) = &m.group {
                        f.write_str(match side {
                            GroupSide::Left => " group_left ",
                            GroupSide::Right => " group_right ",
                        })?;
                        write_list(f, labels)?;
                    }
                }
                write!(f, " {}", b.rhs)
            }
            MetricExpr::Literal(v) => f.write_str(&fmt_number(*v)),
            MetricExpr::VectorLit(v) => write!(f, "vector({})", fmt_number(*v)),
            MetricExpr::LabelReplace {
                expr,
                dst,
                replacement,
                src,
                regex,
            } => write!(
                f,
                "label_replace({expr}, {}, {}, {}, {})",
                quote(dst),
                quote(replacement),
                quote(src),
                quote(regex)
            ),
            MetricExpr::Paren(inner) => write!(f, "({inner})"),
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => write!(f, "{l}"),
            Expr::Metric(m) => write!(f, "{m}"),
        }
    }
}
