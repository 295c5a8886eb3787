//! A recursive-descent TraceQL parser with Tempo's operator precedence:
//! spanset `||` < `&&` < structural operators; inside `{ }` `||` < `&&` <
//! comparisons < `+ -` < `* / %` < `^` < unary `! -`.

use std::borrow::Cow;

use regex::Regex;

use super::ParseError;
use super::ast::{
    Aggregate, BinOp, CmpOp, FieldExpr, Intrinsic, KINDS, Query, Relation, STATUSES, SpansetExpr,
    SpansetOp, Stage, StructuralMode, Value,
};
use super::elements::pairs_events_with_links;
use super::lexer::{Tok, lex};
use super::metrics::{Compare, MAX_COMPARE_TOP, MAX_GROUP_BYS, MetricsFn, MetricsQuery, Ranking};

/// Parses a TraceQL query.
pub fn parse(src: &str) -> Result<Query, ParseError> {
    run_parser(src, |p| {
        let q = p.query()?;
        if p.at_metrics_stage() {
            return Err(ParseError::at(
                p.offset(),
                "metrics functions (rate(), quantile_over_time(), …) are answered by \
                 /api/metrics/query_range and /api/metrics/query, not by search \
                 (err-cairn-traceql-metrics-in-search: send the query there)",
            ));
        }
        p.expect(&Tok::Eof, "end of query")?;
        Ok(q)
    })
}

/// Parses a TraceQL metrics query, e.g.
/// `{ status = error } | rate() by(resource.service.name) | topk(5)`.
pub fn parse_metrics(src: &str) -> Result<MetricsQuery, ParseError> {
    run_parser(src, |p| {
        let query = p.query()?;
        if !p.at_metrics_stage() {
            return Err(ParseError::at(
                p.offset(),
                "not a metrics query: expected \"| rate()\", \"| count_over_time()\", \
                 \"| quantile_over_time(duration, 0.9)\" or another metrics function \
                 after the spanset filter (err-cairn-traceql-metrics-query)",
            ));
        }
        p.next();
        let func = p.metrics_fn()?;
        let by = p.group_by(&func)?;
        let mut ranking = Vec::new();
        while p.peek() == &Tok::Pipe {
            p.next();
            ranking.push(p.ranking()?);
        }
        let hints = p.hints()?;
        p.expect(&Tok::Eof, "end of query")?;
        Ok(MetricsQuery {
            query,
            func,
            by,
            ranking,
            hints,
        })
    })
}

/// The attribute or intrinsic `text` names, as written in TraceQL
/// (`span.http.route`, `event.exception.type`, `.x`, `name`,
/// `event:name`): how Tempo's tag endpoints name a tag.
pub fn parse_field(text: &str) -> Option<FieldExpr> {
    match lex(text).ok()?.as_slice() {
        [(_, Tok::Attr(a)), (_, Tok::Eof)] => Some(FieldExpr::Attr(a.clone())),
        [(_, Tok::Ident(word)), (_, Tok::Eof)] => {
            Intrinsic::from_name(word).map(FieldExpr::Intrinsic)
        }
        _ => None,
    }
}

/// Lexes `src` and runs `f` over its tokens, locating any error.
fn run_parser<T>(
    src: &str,
    f: impl FnOnce(&mut Parser) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    let tokens = lex(src).map_err(|e| e.locate(src))?;
    let mut p = Parser {
        tokens,
        pos: 0,
        operators: 0,
    };
    f(&mut p).map_err(|e| e.locate(src))
}

/// The first-stage metrics functions, by name.
const METRICS_FUNCTIONS: [&str; 9] = [
    "rate",
    "count_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
];

/// Most operators, parentheses and unary signs one query may use: bounds
/// the tree's depth, so evaluating and dropping it cannot overflow the stack.
const MAX_OPERATORS: usize = 128;

struct Parser {
    tokens: Vec<(usize, Tok)>,
    pos: usize,
    operators: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Eof => "end of query".into(),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => format!("number {i}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Duration(_) => "duration".into(),
        Tok::Ident(w) => format!("{w:?}"),
        Tok::Attr(a) => format!("attribute {a}"),
        Tok::Structural(op) => format!("\"{op}\""),
        other => format!("{:?}", symbol(other)),
    }
}

/// How a punctuation token is written.
fn symbol(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Pipe => "|",
        Tok::Comma => ",",
        Tok::Eq => "=",
        Tok::Neq => "!=",
        Tok::Gt => ">",
        Tok::Gte => ">=",
        Tok::Lt => "<",
        Tok::Lte => "<=",
        Tok::Re => "=~",
        Tok::Nre => "!~",
        Tok::And => "&&",
        Tok::Or => "||",
        Tok::Not => "!",
        Tok::Desc => ">>",
        Tok::Ance => "<<",
        Tok::Tilde => "~",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Caret => "^",
        _ => "token",
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.pos).map_or(&Tok::Eof, |(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(0, |(o, _)| *o)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, wanted: &str) -> ParseError {
        ParseError::at(
            self.offset(),
            format!(
                "syntax error: unexpected {}, expecting {wanted}",
                describe(self.peek())
            ),
        )
    }

    /// Counts one more operator, refusing overly complex queries.
    fn operator(&mut self) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(ParseError::at(
                self.offset(),
                format!("query too complex: more than {MAX_OPERATORS} operators"),
            ));
        }
        Ok(())
    }

    fn expect(&mut self, t: &Tok, wanted: &str) -> Result<(), ParseError> {
        if self.peek() == t {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn query(&mut self) -> Result<Query, ParseError> {
        let expr = self.spanset_expr(0)?;
        let mut stages = Vec::new();
        while self.peek() == &Tok::Pipe && !self.at_metrics_stage() {
            self.next();
            stages.push(self.stage()?);
        }
        Ok(Query { expr, stages })
    }

    /// Whether the next tokens are `| <metrics function>`.
    fn at_metrics_stage(&self) -> bool {
        self.peek() == &Tok::Pipe
            && matches!(
                self.tokens.get(self.pos + 1),
                Some((_, Tok::Ident(w))) if METRICS_FUNCTIONS.contains(&w.as_str())
            )
    }

    /// An attribute or intrinsic, as metrics functions and `by` take.
    fn metrics_field(&mut self) -> Result<FieldExpr, ParseError> {
        let at = self.offset();
        match self.field_primary()? {
            f @ (FieldExpr::Attr(_) | FieldExpr::Intrinsic(_)) => Ok(f),
            other => Err(ParseError::at(
                at,
                format!("expected an attribute or intrinsic such as duration, found {other}"),
            )),
        }
    }

    /// `rate()`, `quantile_over_time(duration, 0.5, 0.9)`, ….
    fn metrics_fn(&mut self) -> Result<MetricsFn, ParseError> {
        let at = self.offset();
        let Tok::Ident(word) = self.next() else {
            return Err(ParseError::at(at, "expected a metrics function"));
        };
        self.expect(&Tok::LParen, "\"(\"")?;
        let func = match word.as_str() {
            "rate" => MetricsFn::Rate,
            "count_over_time" => MetricsFn::CountOverTime,
            "sum_over_time" => MetricsFn::SumOverTime(self.metrics_field()?),
            "avg_over_time" => MetricsFn::AvgOverTime(self.metrics_field()?),
            "min_over_time" => MetricsFn::MinOverTime(self.metrics_field()?),
            "max_over_time" => MetricsFn::MaxOverTime(self.metrics_field()?),
            "histogram_over_time" => MetricsFn::HistogramOverTime(self.metrics_field()?),
            "quantile_over_time" => {
                let field = self.metrics_field()?;
                let mut qs = Vec::new();
                while self.peek() == &Tok::Comma {
                    self.next();
                    let at = self.offset();
                    let q = match self.next() {
                        Tok::Float(f) => f,
                        Tok::Int(i) => i as f64,
                        _ => {
                            self.pos -= 1;
                            return Err(self.unexpected("a quantile between 0 and 1"));
                        }
                    };
                    if !(0.0..=1.0).contains(&q) {
                        return Err(ParseError::at(
                            at,
                            format!("quantile must be between 0 and 1: {q}"),
                        ));
                    }
                    qs.push(q);
                }
                if qs.is_empty() {
                    return Err(self.unexpected("\",\" and at least one quantile"));
                }
                MetricsFn::QuantileOverTime(field, qs)
            }
            _ => MetricsFn::Compare(self.compare_args()?),
        };
        self.expect(&Tok::RParen, "\")\"")?;
        Ok(func)
    }

    /// `{ filter }[, top[, start, end]]` of `compare(…)`.
    fn compare_args(&mut self) -> Result<Compare, ParseError> {
        let filter = self.filter()?;
        let mut ints = Vec::new();
        while self.peek() == &Tok::Comma {
            self.next();
            let at = self.offset();
            match self.next() {
                Tok::Int(n) => ints.push((at, n)),
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected("an integer"));
                }
            }
        }
        let at = self.offset();
        let (top, window) = match ints.as_slice() {
            [] => (10, None),
            [(_, top)] => (*top, None),
            [(_, top), (_, start), (_, end)] => (*top, Some((*start, *end))),
            _ => {
                return Err(ParseError::at(
                    at,
                    "compare() takes a filter, then optionally the number of values, then optionally start and end",
                ));
            }
        };
        let top = usize::try_from(top)
            .ok()
            .filter(|t| (1..=MAX_COMPARE_TOP).contains(t))
            .ok_or_else(|| {
                ParseError::at(
                    at,
                    format!("compare() top number of values must be an integer between 1 and {MAX_COMPARE_TOP}"),
                )
            })?;
        let window = match window {
            None | Some((0, 0)) => None,
            Some((start, end)) => {
                let (Ok(start), Ok(end)) = (u64::try_from(start), u64::try_from(end)) else {
                    return Err(ParseError::at(
                        at,
                        "compare() timestamps must be positive integer unix nanoseconds",
                    ));
                };
                if start == 0 || end == 0 {
                    return Err(ParseError::at(
                        at,
                        "compare() timestamps must be positive integer unix nanoseconds",
                    ));
                }
                if end <= start {
                    return Err(ParseError::at(
                        at,
                        "compare() end timestamp must be greater than start timestamp",
                    ));
                }
                Some((start, end))
            }
        };
        Ok(Compare {
            filter,
            top,
            window,
        })
    }

    /// An optional `by(field, …)` after a metrics function.
    fn group_by(&mut self, func: &MetricsFn) -> Result<Vec<FieldExpr>, ParseError> {
        if self.peek() != &Tok::Ident("by".into()) {
            return Ok(Vec::new());
        }
        let at = self.offset();
        if matches!(func, MetricsFn::Compare(_)) {
            return Err(ParseError::at(
                at,
                "compare() splits by every attribute itself and takes no by()",
            ));
        }
        self.next();
        self.expect(&Tok::LParen, "\"(\"")?;
        let mut by = vec![self.metrics_field()?];
        while self.peek() == &Tok::Comma {
            self.next();
            by.push(self.metrics_field()?);
        }
        self.expect(&Tok::RParen, "\")\"")?;
        let max = if func.is_bucketed() {
            MAX_GROUP_BYS - 1
        } else {
            MAX_GROUP_BYS
        };
        if by.len() > max {
            return Err(ParseError::at(
                at,
                format!(
                    "unsupported: metrics group by {} values; {}() groups by at most {max}",
                    by.len(),
                    func.name()
                ),
            ));
        }
        Ok(by)
    }

    /// `topk(n)` or `bottomk(n)` after a `|`.
    fn ranking(&mut self) -> Result<Ranking, ParseError> {
        let at = self.offset();
        let word = match self.next() {
            Tok::Ident(w) if w == "topk" || w == "bottomk" => w,
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("topk(n) or bottomk(n)"));
            }
        };
        self.expect(&Tok::LParen, "\"(\"")?;
        let n = match self.next() {
            Tok::Int(n) if n > 0 => n as usize,
            _ => {
                return Err(ParseError::at(
                    at,
                    format!("{word}() needs a positive integer limit, e.g. {word}(5)"),
                ));
            }
        };
        self.expect(&Tok::RParen, "\")\"")?;
        Ok(if word == "topk" {
            Ranking::TopK(n)
        } else {
            Ranking::BottomK(n)
        })
    }

    /// An optional `with(name=value, …)`.
    fn hints(&mut self) -> Result<Vec<(String, Value<'static>)>, ParseError> {
        let mut hints = Vec::new();
        if self.peek() != &Tok::Ident("with".into()) {
            return Ok(hints);
        }
        self.next();
        self.expect(&Tok::LParen, "\"(\"")?;
        loop {
            let Tok::Ident(name) = self.next() else {
                self.pos -= 1;
                return Err(self.unexpected("a hint name such as sample"));
            };
            self.expect(&Tok::Eq, "\"=\"")?;
            let at = self.offset();
            let value = match self.field_unary()? {
                FieldExpr::Static(v) => v,
                _ => return Err(ParseError::at(at, "a hint's value must be a literal")),
            };
            hints.push((name, value));
            if self.peek() != &Tok::Comma {
                break;
            }
            self.next();
        }
        self.expect(&Tok::RParen, "\")\"")?;
        Ok(hints)
    }

    fn spanset_op(&self) -> Option<SpansetOp> {
        let structural = |rel| SpansetOp::Structural(rel, StructuralMode::Match);
        Some(match self.peek() {
            Tok::And => SpansetOp::And,
            Tok::Or => SpansetOp::Or,
            Tok::Gt => structural(Relation::Child),
            Tok::Desc => structural(Relation::Descendant),
            Tok::Lt => structural(Relation::Parent),
            Tok::Ance => structural(Relation::Ancestor),
            Tok::Tilde => structural(Relation::Sibling),
            // Between spansets `!~` is "not sibling".
            Tok::Nre => SpansetOp::Structural(Relation::Sibling, StructuralMode::Not),
            Tok::Structural(op) => *op,
            _ => return None,
        })
    }

    fn spanset_expr(&mut self, min_prec: u8) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_primary()?;
        while let Some(op) = self.spanset_op() {
            let p = op.precedence();
            if p <= min_prec {
                break;
            }
            self.operator()?;
            self.next();
            let rhs = self.spanset_expr(p)?;
            lhs = SpansetExpr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, ParseError> {
        match self.peek() {
            Tok::LBrace => Ok(SpansetExpr::Filter(self.filter()?)),
            Tok::LParen => {
                self.operator()?;
                self.next();
                let q = self.query()?;
                self.expect(&Tok::RParen, "\")\"")?;
                Ok(if q.stages.is_empty() {
                    q.expr
                } else {
                    SpansetExpr::Pipeline(Box::new(q))
                })
            }
            _ => Err(self.unexpected("\"{\" or \"(\"")),
        }
    }

    /// `{ expr }` or `{ }`.
    fn filter(&mut self) -> Result<FieldExpr, ParseError> {
        self.expect(&Tok::LBrace, "\"{\"")?;
        if self.peek() == &Tok::RBrace {
            self.next();
            return Ok(FieldExpr::Static(Value::Bool(true)));
        }
        let at = self.offset();
        let e = self.field_expr(0)?;
        check_boolean(&e).map_err(|m| ParseError::at(at, m))?;
        self.expect(&Tok::RBrace, "\"}\"")?;
        Ok(e)
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        if self.peek() == &Tok::LBrace {
            return Ok(Stage::Filter(self.filter()?));
        }
        let Tok::Ident(word) = self.peek().clone() else {
            return Err(self.unexpected("a pipeline stage"));
        };
        self.next();
        self.expect(&Tok::LParen, "\"(\"")?;
        let arg = |p: &mut Parser| p.field_expr(0);
        let stage = match word.as_str() {
            "by" => Stage::By(arg(self)?),
            "select" => {
                let mut fields = vec![arg(self)?];
                while self.peek() == &Tok::Comma {
                    self.next();
                    fields.push(arg(self)?);
                }
                Stage::Select(fields)
            }
            "coalesce" => Stage::Coalesce,
            "count" | "avg" | "min" | "max" | "sum" => {
                let agg = match word.as_str() {
                    "count" => Aggregate::Count,
                    "avg" => Aggregate::Avg(arg(self)?),
                    "min" => Aggregate::Min(arg(self)?),
                    "max" => Aggregate::Max(arg(self)?),
                    _ => Aggregate::Sum(arg(self)?),
                };
                self.expect(&Tok::RParen, "\")\"")?;
                let op = match self.next() {
                    Tok::Eq => CmpOp::Eq,
                    Tok::Neq => CmpOp::Neq,
                    Tok::Gt => CmpOp::Gt,
                    Tok::Gte => CmpOp::Gte,
                    Tok::Lt => CmpOp::Lt,
                    Tok::Lte => CmpOp::Lte,
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected("a comparison after the aggregate"));
                    }
                };
                let at = self.offset();
                let value = match self.field_unary()? {
                    FieldExpr::Static(
                        v @ (Value::Int(_) | Value::Float(_) | Value::Duration(_)),
                    ) => v,
                    _ => {
                        return Err(ParseError::at(
                            at,
                            "aggregate must be compared with a number or duration",
                        ));
                    }
                };
                return Ok(Stage::Scalar { agg, op, value });
            }
            other => {
                return Err(ParseError::at(
                    self.offset(),
                    format!("unknown pipeline function {other:?}"),
                ));
            }
        };
        self.expect(&Tok::RParen, "\")\"")?;
        Ok(stage)
    }

    fn field_op(&self) -> Option<(BinOp, bool)> {
        let cmp = |c| Some((BinOp::Cmp(c), false));
        match self.peek() {
            Tok::Or => Some((BinOp::Or, false)),
            Tok::And => Some((BinOp::And, false)),
            Tok::Eq => cmp(CmpOp::Eq),
            Tok::Neq => cmp(CmpOp::Neq),
            Tok::Gt => cmp(CmpOp::Gt),
            Tok::Gte => cmp(CmpOp::Gte),
            Tok::Lt => cmp(CmpOp::Lt),
            Tok::Lte => cmp(CmpOp::Lte),
            // Regex operators: placeholder op, flagged.
            Tok::Re | Tok::Nre => Some((BinOp::Cmp(CmpOp::Eq), true)),
            Tok::Plus => Some((BinOp::Add, false)),
            Tok::Minus => Some((BinOp::Sub, false)),
            Tok::Star => Some((BinOp::Mul, false)),
            Tok::Slash => Some((BinOp::Div, false)),
            Tok::Percent => Some((BinOp::Mod, false)),
            Tok::Caret => Some((BinOp::Pow, false)),
            _ => None,
        }
    }

    fn field_expr(&mut self, min_prec: u8) -> Result<FieldExpr, ParseError> {
        let at = self.offset();
        let e = self.field_binary(min_prec)?;
        if min_prec == 0 && pairs_events_with_links(&e) {
            // Would try every event with every link of each span.
            return Err(ParseError::at(
                at,
                "a condition cannot read both event and link fields \
                 (err-cairn-traceql-event-and-link: compare each with a value in its own condition)",
            ));
        }
        Ok(e)
    }

    fn field_binary(&mut self, min_prec: u8) -> Result<FieldExpr, ParseError> {
        let mut lhs = self.field_unary()?;
        while let Some((op, regex)) = self.field_op() {
            let p = op.precedence();
            if p <= min_prec {
                break;
            }
            self.operator()?;
            let negated = self.next() == Tok::Nre;
            if regex {
                let at = self.offset();
                let Tok::Str(pattern) = self.next() else {
                    return Err(ParseError::at(at, "regular expression must be a string"));
                };
                let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
                    ParseError::at(at, format!("invalid regular expression {pattern:?}: {e}"))
                })?;
                lhs = FieldExpr::Regex {
                    lhs: Box::new(lhs),
                    re,
                    pattern,
                    negated,
                };
                continue;
            }
            // `^` is right-associative.
            let rhs = self.field_binary(if op == BinOp::Pow { p - 1 } else { p })?;
            lhs = FieldExpr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn field_unary(&mut self) -> Result<FieldExpr, ParseError> {
        match self.peek() {
            Tok::Not => {
                self.operator()?;
                self.next();
                Ok(FieldExpr::Not(Box::new(self.field_unary()?)))
            }
            Tok::Minus => {
                self.operator()?;
                self.next();
                Ok(match self.field_unary()? {
                    FieldExpr::Static(Value::Int(i)) => FieldExpr::Static(Value::Int(-i)),
                    FieldExpr::Static(Value::Float(f)) => FieldExpr::Static(Value::Float(-f)),
                    FieldExpr::Static(Value::Duration(d)) => FieldExpr::Static(Value::Duration(-d)),
                    e => FieldExpr::Neg(Box::new(e)),
                })
            }
            _ => self.field_primary(),
        }
    }

    fn field_primary(&mut self) -> Result<FieldExpr, ParseError> {
        let at = self.offset();
        let stat = |v| Ok(FieldExpr::Static(v));
        match self.next() {
            Tok::LParen => {
                self.operator()?;
                let e = self.field_expr(0)?;
                self.expect(&Tok::RParen, "\")\"")?;
                Ok(e)
            }
            Tok::Str(s) => stat(Value::Str(Cow::Owned(s))),
            Tok::Int(i) => stat(Value::Int(i)),
            Tok::Float(f) => stat(Value::Float(f)),
            Tok::Duration(d) => stat(Value::Duration(d)),
            Tok::Attr(a) => Ok(FieldExpr::Attr(a)),
            Tok::Ident(word) => {
                if let Some(i) = Intrinsic::from_name(&word) {
                    return Ok(FieldExpr::Intrinsic(i));
                }
                match word.as_str() {
                    "true" => return stat(Value::Bool(true)),
                    "false" => return stat(Value::Bool(false)),
                    "nil" => return stat(Value::Nil),
                    _ => {}
                }
                if let Some((_, c)) = STATUSES.iter().find(|(n, _)| *n == word) {
                    return stat(Value::Status(*c));
                }
                if let Some((_, c)) = KINDS.iter().find(|(n, _)| *n == word) {
                    return stat(Value::Kind(*c));
                }
                Err(ParseError::at(
                    at,
                    format!(
                        "unknown identifier {word:?} (attributes start with \".\", \"span.\" or \"resource.\")"
                    ),
                ))
            }
            _ => {
                self.pos -= 1;
                Err(self.unexpected("a field or a value"))
            }
        }
    }
}

/// Rejects filters that cannot be true or false (`{ 1 }`, `{ .a + 1 }`).
fn check_boolean(e: &FieldExpr) -> Result<(), String> {
    match e {
        FieldExpr::Static(Value::Bool(_)) | FieldExpr::Static(Value::Nil) => Ok(()),
        FieldExpr::Static(v) => Err(format!("filter must be a boolean expression, found {v}")),
        FieldExpr::Binary(op, ..) if op.precedence() > 3 => {
            Err("filter must be a boolean expression, found arithmetic".into())
        }
        FieldExpr::Neg(_) => Err("filter must be a boolean expression, found negation".into()),
        FieldExpr::Intrinsic(i) => Err(format!(
            "filter must be a boolean expression, found {}",
            i.as_str()
        )),
        _ => Ok(()),
    }
}
