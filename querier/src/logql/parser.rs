//! A recursive-descent LogQL parser following Loki's grammar
//! (`pkg/logql/syntax/expr.y`): selectors, pipelines, range and vector
//! aggregations, binary operators with PromQL precedence.

use common::series::Matcher;
use promql_parser::parser::token::{T_EQL, T_EQL_REGEX, T_NEQ, T_NEQ_REGEX};

use super::ast::*;
use super::error::ParseError;
use super::lexer::{Spanned, Tok, lex};
use crate::promql::complexity::Complexity;

/// Parses a LogQL query.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let toks = lex(input)?;
    check_complexity(&toks)?;
    let mut p = Parser { toks, pos: 0 };
    if p.peek() == &Tok::Eof {
        return Err(p.error("syntax error: unexpected end of input"));
    }
    let expr = if p.peek() == &Tok::LBrace {
        Expr::Log(p.log_expr()?)
    } else {
        Expr::Metric(p.metric_expr(0)?)
    };
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("end of input"));
    }
    validate(&expr).map_err(|msg| ParseError::new(1, 1, msg))?;
    Ok(expr)
}

/// Parses a stream selector alone (`{app="x"}`), e.g. a `match[]` parameter.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse(input)? {
        Expr::Log(l) if l.stages.is_empty() => Ok(l.matchers),
        _ => Err(ParseError::new(
            1,
            1,
            "only a stream selector is allowed here",
        )),
    }
}

/// Refuses a query nesting or chaining more than
/// [`complexity`](crate::promql::complexity) allows, before the recursive
/// parser sees it: every bracket, and every operator, comparison, pipe and
/// `and`/`or`/`unless` outside a stream selector's braces counts (a label
/// filter chain nests one level per comparison even without `and`).
fn check_complexity(toks: &[Spanned]) -> Result<(), ParseError> {
    let mut c = Complexity::default();
    for t in toks {
        let counted = match &t.tok {
            Tok::LParen => c.open(),
            Tok::LBrace => c.open_braces(),
            Tok::LBracket => c.open().and_then(|()| c.operator()),
            Tok::RParen | Tok::RBracket => {
                c.close();
                Ok(())
            }
            Tok::RBrace => {
                c.close_braces();
                Ok(())
            }
            Tok::Add
            | Tok::Sub
            | Tok::Mul
            | Tok::Div
            | Tok::Mod
            | Tok::Pow
            | Tok::Eq
            | Tok::Neq
            | Tok::Re
            | Tok::NotRe
            | Tok::EqEq
            | Tok::Gt
            | Tok::Ge
            | Tok::Lt
            | Tok::Le
            | Tok::Pipe
            | Tok::PipeExact
            | Tok::PipeMatch
            | Tok::PipePattern
            | Tok::NotPattern => c.operator(),
            Tok::Ident(w) if matches!(w.as_str(), "and" | "or" | "unless") => c.operator(),
            _ => Ok(()),
        };
        counted.map_err(|e| ParseError::new(t.line, t.col, e.to_string()))?;
    }
    Ok(())
}

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "and" | "or" | "unless" | "by" | "without" | "offset" | "bool" | "on" | "ignoring"
    )
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |s| &s.tok)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.pos + n).map_or(&Tok::Eof, |s| &s.tok)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn error(&self, msg: impl Into<String>) -> ParseError {
        let (line, col) = self
            .toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or((1, 1), |s| (s.line, s.col));
        ParseError::new(line, col, msg)
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        self.error(format!(
            "syntax error: unexpected {}, expecting {expecting}",
            self.peek().describe()
        ))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if self.peek() == &tok {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == name)
    }

    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.next();
                Ok(s)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.next();
                Ok(s)
            }
            _ => Err(self.unexpected("STRING")),
        }
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let neg = if self.peek() == &Tok::Sub {
            self.next();
            true
        } else {
            false
        };
        match self.peek() {
            Tok::Num(v) => {
                let v = *v;
                self.next();
                Ok(if neg { -v } else { v })
            }
            _ => Err(self.unexpected("NUMBER")),
        }
    }

    fn duration(&mut self) -> Result<i64, ParseError> {
        let neg = if self.peek() == &Tok::Sub {
            self.next();
            true
        } else {
            false
        };
        match self.peek() {
            Tok::Duration(ns, _) => {
                let ns = *ns;
                self.next();
                Ok(if neg { -ns } else { ns })
            }
            Tok::Num(v) if *v == 0.0 => {
                self.next();
                Ok(0)
            }
            _ => Err(self.unexpected("DURATION")),
        }
    }

    fn matcher(&mut self, name: String) -> Result<Matcher, ParseError> {
        let id = match self.peek() {
            Tok::Eq => T_EQL,
            Tok::Neq => T_NEQ,
            Tok::Re => T_EQL_REGEX,
            Tok::NotRe => T_NEQ_REGEX,
            _ => return Err(self.unexpected("=, !=, =~ or !~")),
        };
        self.next();
        let value = self.string()?;
        Matcher::new_matcher(id, name, value).map_err(|e| self.error(e))
    }

    /// `{a="b", c=~"d"}`.
    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect(Tok::LBrace, "{")?;
        let mut matchers = Vec::new();
        loop {
            if self.peek() == &Tok::RBrace {
                self.next();
                break;
            }
            let name = match self.peek() {
                Tok::Ident(_) => self.ident("IDENTIFIER")?,
                Tok::Str(_) => self.string()?,
                _ => return Err(self.unexpected("IDENTIFIER")),
            };
            matchers.push(self.matcher(name)?);
            match self.peek() {
                Tok::Comma => {
                    self.next();
                }
                Tok::RBrace => {}
                _ => return Err(self.unexpected(", or }")),
            }
        }
        if matchers.is_empty() {
            return Err(self.error("syntax error: unexpected }, expecting IDENTIFIER"));
        }
        if matchers.iter().all(|m| m.is_match("")) {
            return Err(self.error(
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
        Ok(matchers)
    }

    /// A selector and its pipeline (no unwrap, no range).
    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        while let Some(stage) = self.stage(false)? {
            match stage {
                Parsed::Stage(s) => stages.push(s),
                Parsed::Unwrap(_) => return Err(self.error("unwrap is only allowed in a range")),
            }
        }
        Ok(LogExpr { matchers, stages })
    }

    /// The next pipeline stage, if the next token starts one.
    fn stage(&mut self, allow_unwrap: bool) -> Result<Option<Parsed>, ParseError> {
        let op = match self.peek() {
            Tok::PipeExact => Some(LineFilterOp::Contains),
            Tok::Neq => Some(LineFilterOp::NotContains),
            Tok::PipeMatch => Some(LineFilterOp::Regex),
            Tok::NotRe => Some(LineFilterOp::NotRegex),
            Tok::PipePattern => Some(LineFilterOp::Pattern),
            Tok::NotPattern => Some(LineFilterOp::NotPattern),
            Tok::Pipe => None,
            _ => return Ok(None),
        };
        self.next();
        if let Some(op) = op {
            if matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains)
                && self.is_ident("ip")
                && self.peek_at(1) == &Tok::LParen
            {
                let range = self.ip_range()?;
                let op = if op == LineFilterOp::Contains {
                    LineFilterOp::Ip
                } else {
                    LineFilterOp::NotIp
                };
                return Ok(Some(Parsed::Stage(Stage::LineFilter(LineFilter {
                    op,
                    values: vec![range.to_string()],
                }))));
            }
            let mut values = vec![self.string()?];
            while self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_)) {
                self.next();
                values.push(self.string()?);
            }
            for v in &values {
                check_line_filter(op, v).map_err(|e| self.error(e))?;
            }
            return Ok(Some(Parsed::Stage(Stage::LineFilter(LineFilter {
                op,
                values,
            }))));
        }
        let Tok::Ident(name) = self.peek().clone() else {
            if self.peek() == &Tok::LParen {
                return Ok(Some(Parsed::Stage(Stage::LabelFilter(
                    self.label_filter()?,
                ))));
            }
            return Err(self.unexpected("a pipeline stage"));
        };
        let next_is_op = matches!(
            self.peek_at(1),
            Tok::Eq
                | Tok::Neq
                | Tok::Re
                | Tok::NotRe
                | Tok::Gt
                | Tok::Ge
                | Tok::Lt
                | Tok::Le
                | Tok::EqEq
        );
        if next_is_op {
            return Ok(Some(Parsed::Stage(Stage::LabelFilter(
                self.label_filter()?,
            ))));
        }
        self.next();
        let stage = match name.as_str() {
            "json" => Stage::Json(self.extractions()?),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek().clone() {
                    match f.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        _ => return Err(self.error(format!("invalid logfmt flag --{f}"))),
                    }
                    self.next();
                }
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params: self.extractions()?,
                }
            }
            "regexp" => {
                let re = self.string()?;
                super::pipeline::check_regexp(&re).map_err(|e| self.error(e))?;
                Stage::Regexp(re)
            }
            "pattern" => {
                let p = self.string()?;
                super::pattern::Pattern::parse(&p).map_err(|e| self.error(e))?;
                Stage::Pattern(p)
            }
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => {
                let t = self.string()?;
                super::template::Template::parse(&t).map_err(|e| self.error(e))?;
                Stage::LineFormat(t)
            }
            "label_format" => {
                let mut fmts = Vec::new();
                loop {
                    let dst = self.ident("IDENTIFIER")?;
                    self.expect(Tok::Eq, "=")?;
                    let f = match self.peek() {
                        Tok::Str(_) => {
                            let template = self.string()?;
                            super::template::Template::parse(&template)
                                .map_err(|e| self.error(e))?;
                            LabelFmt::Template { dst, template }
                        }
                        _ => LabelFmt::Rename {
                            dst,
                            src: self.ident("IDENTIFIER or STRING")?,
                        },
                    };
                    fmts.push(f);
                    if self.peek() != &Tok::Comma {
                        break;
                    }
                    self.next();
                }
                Stage::LabelFormat(fmts)
            }
            "drop" | "keep" => {
                let mut sels = Vec::new();
                loop {
                    let label = self.ident("IDENTIFIER")?;
                    let matcher = match self.peek() {
                        Tok::Eq | Tok::Neq | Tok::Re | Tok::NotRe => {
                            Some(self.matcher(label.clone())?)
                        }
                        _ => None,
                    };
                    sels.push(LabelSel {
                        name: label,
                        matcher,
                    });
                    if self.peek() != &Tok::Comma {
                        break;
                    }
                    self.next();
                }
                if name == "drop" {
                    Stage::Drop(sels)
                } else {
                    Stage::Keep(sels)
                }
            }
            "unwrap" if allow_unwrap => return Ok(Some(Parsed::Unwrap(self.unwrap()?))),
            "unwrap" => return Err(self.error("syntax error: unexpected unwrap")),
            other => {
                self.pos -= 1;
                return Err(self.error(format!(
                    "syntax error: unexpected IDENTIFIER {other}, expecting a parser, a formatter or a label filter"
                )));
            }
        };
        Ok(Some(Parsed::Stage(stage)))
    }

    fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        let first = self.ident("IDENTIFIER")?;
        let conversion = match (first.as_str(), self.peek()) {
            ("duration", Tok::LParen) => Some(Conversion::Duration),
            ("duration_seconds", Tok::LParen) => Some(Conversion::DurationSeconds),
            ("bytes", Tok::LParen) => Some(Conversion::Bytes),
            _ => None,
        };
        let (label, conversion) = match conversion {
            Some(c) => {
                self.next();
                let l = self.ident("IDENTIFIER")?;
                self.expect(Tok::RParen, ")")?;
                (l, c)
            }
            None => (first, Conversion::Float),
        };
        let mut post_filters = Vec::new();
        while self.peek() == &Tok::Pipe {
            self.next();
            post_filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conversion,
            post_filters,
        })
    }

    /// `json`/`logfmt` parameters: `a`, `b="x.y"`, comma separated.
    fn extractions(&mut self) -> Result<Vec<Extraction>, ParseError> {
        let mut out = Vec::new();
        while let Tok::Ident(label) = self.peek().clone() {
            if is_keyword(&label) {
                break;
            }
            self.next();
            let expr = if self.peek() == &Tok::Eq {
                self.next();
                Some(self.string()?)
            } else {
                None
            };
            out.push(Extraction { label, expr });
            if self.peek() != &Tok::Comma {
                break;
            }
            self.next();
        }
        Ok(out)
    }

    /// Label filters joined by `or` (lowest), `and`, `,` or juxtaposition.
    /// `ip("pattern")`.
    fn ip_range(&mut self) -> Result<IpRange, ParseError> {
        self.next();
        self.expect(Tok::LParen, "(")?;
        let pattern = self.string()?;
        self.expect(Tok::RParen, ")")?;
        IpRange::parse(&pattern).map_err(|e| self.error(e))
    }

    fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_and()?;
        while self.is_ident("or") {
            self.next();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_unary()?;
        loop {
            match self.peek() {
                Tok::Comma => {
                    self.next();
                }
                Tok::Ident(s) if s == "and" => {
                    self.next();
                }
                Tok::Ident(s) if !is_keyword(s) => {}
                Tok::LParen => {}
                _ => break,
            }
            let rhs = self.label_filter_unary()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn label_filter_unary(&mut self) -> Result<LabelFilter, ParseError> {
        if self.peek() == &Tok::LParen {
            self.next();
            let inner = self.label_filter()?;
            self.expect(Tok::RParen, ")")?;
            return Ok(LabelFilter::Paren(Box::new(inner)));
        }
        let name = self.ident("IDENTIFIER")?;
        let op = match self.peek() {
            Tok::Eq | Tok::EqEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Ne,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Re | Tok::NotRe => return Ok(LabelFilter::Matcher(self.matcher(name)?)),
            _ => return Err(self.unexpected("a comparison operator")),
        };
        let op_tok = self.peek().clone();
        if matches!(op_tok, Tok::Eq | Tok::EqEq | Tok::Neq)
            && matches!(self.peek_at(1), Tok::Ident(i) if i == "ip")
            && self.peek_at(2) == &Tok::LParen
        {
            self.next();
            return Ok(LabelFilter::Ip {
                name,
                negate: op_tok == Tok::Neq,
                range: self.ip_range()?,
            });
        }
        if matches!(self.peek_at(1), Tok::Str(_)) && matches!(op_tok, Tok::Eq | Tok::Neq) {
            return Ok(LabelFilter::Matcher(self.matcher(name)?));
        }
        self.next();
        let neg = if self.peek() == &Tok::Sub {
            self.next();
            true
        } else {
            false
        };
        let sign = if neg { -1.0 } else { 1.0 };
        let prefix = if neg { "-" } else { "" };
        let (kind, value, text) = match self.next() {
            Tok::Num(v) => (
                ValueKind::Number,
                sign * v,
                crate::promql::format::go_float(sign * v),
            ),
            Tok::Duration(ns, t) => (
                ValueKind::Duration,
                sign * ns as f64 / 1e9,
                format!("{prefix}{t}"),
            ),
            Tok::Bytes(b, t) => (ValueKind::Bytes, sign * b as f64, format!("{prefix}{t}")),
            _ => {
                self.pos -= 1;
                return Err(self.unexpected("STRING, NUMBER, DURATION or BYTES"));
            }
        };
        Ok(LabelFilter::Compare {
            name,
            op,
            kind,
            value,
            text,
        })
    }

    /// A metric expression with binary operators binding tighter than `min_prec`.
    fn metric_expr(&mut self, min_prec: u8) -> Result<MetricExpr, ParseError> {
        let mut lhs = self.metric_unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec <= min_prec && !(op == BinOp::Pow && prec == min_prec) {
                break;
            }
            self.next();
            let return_bool = if self.is_ident("bool") {
                if !op.is_comparison() {
                    return Err(
                        self.error("bool modifier can only be used on comparison operators")
                    );
                }
                self.next();
                true
            } else {
                false
            };
            let matching = self.vector_matching()?;
            // `^` is right-associative.
            let rhs = if op == BinOp::Pow {
                self.metric_expr(prec - 1)?
            } else {
                self.metric_expr(prec)?
            };
            lhs = MetricExpr::Binary(Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                return_bool,
                matching,
            });
        }
        Ok(lhs)
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::EqEq => BinOp::Eq,
            Tok::Neq => BinOp::Ne,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Ident(s) if s == "and" => BinOp::And,
            Tok::Ident(s) if s == "or" => BinOp::Or,
            Tok::Ident(s) if s == "unless" => BinOp::Unless,
            _ => return None,
        })
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen, "(")?;
        let mut out = Vec::new();
        while self.peek() != &Tok::RParen {
            out.push(self.ident("IDENTIFIER")?);
            if self.peek() == &Tok::Comma {
                self.next();
            } else if self.peek() != &Tok::RParen {
                return Err(self.unexpected(", or )"));
            }
        }
        self.next();
        Ok(out)
    }

    fn vector_matching(&mut self) -> Result<Option<VectorMatching>, ParseError> {
        let on = match self.peek() {
            Tok::Ident(s) if s == "on" => true,
            Tok::Ident(s) if s == "ignoring" => false,
            _ => return Ok(None),
        };
        self.next();
        let labels = self.label_list()?;
        let side = match self.peek() {
            Tok::Ident(s) if s == "group_left" => Some(GroupSide::Left),
            Tok::Ident(s) if s == "group_right" => Some(GroupSide::Right),
            _ => None,
        };
        let group = match side {
            Some(side) => {
                self.next();
                let extra = if self.peek() == &Tok::LParen {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                Some((side, extra))
            }
            None => None,
        };
        Ok(Some(VectorMatching { on, labels, group }))
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        if self.is_ident("by") {
            self.next();
            return Ok(Some(Grouping::By(self.label_list()?)));
        }
        if self.is_ident("without") {
            self.next();
            return Ok(Some(Grouping::Without(self.label_list()?)));
        }
        Ok(None)
    }

    fn metric_unary(&mut self) -> Result<MetricExpr, ParseError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.next();
                let inner = self.metric_expr(0)?;
                self.expect(Tok::RParen, ")")?;
                Ok(MetricExpr::Paren(Box::new(inner)))
            }
            Tok::Num(_) | Tok::Sub => Ok(MetricExpr::Literal(self.number()?)),
            Tok::Add => {
                self.next();
                Ok(MetricExpr::Literal(self.number()?))
            }
            Tok::LBrace => Err(self.error(
                "syntax error: unexpected {, a log query cannot be used in a metric expression",
            )),
            Tok::Ident(name) => {
                if let Some((_, op)) = RANGE_OPS.iter().find(|(n, _)| *n == name) {
                    self.next();
                    return self.range_agg(*op);
                }
                if let Some((_, op)) = VEC_OPS.iter().find(|(n, _)| *n == name) {
                    self.next();
                    return self.vector_agg(*op);
                }
                match name.as_str() {
                    "vector" => {
                        self.next();
                        self.expect(Tok::LParen, "(")?;
                        let v = self.number()?;
                        self.expect(Tok::RParen, ")")?;
                        Ok(MetricExpr::VectorLit(v))
                    }
                    "label_replace" => {
                        self.next();
                        self.expect(Tok::LParen, "(")?;
                        let expr = self.metric_expr(0)?;
                        let mut args = Vec::new();
                        for _ in 0..4 {
                            self.expect(Tok::Comma, ",")?;
                            args.push(self.string()?);
                        }
                        self.expect(Tok::RParen, ")")?;
                        let [dst, replacement, src, regex] = <[String; 4]>::try_from(args)
                            .map_err(|_| self.error("label_replace needs 5 arguments"))?;
                        regex::Regex::new(&format!("^(?:{regex})$")).map_err(|e| {
                            self.error(format!("invalid regex in label_replace: {e}"))
                        })?;
                        Ok(MetricExpr::LabelReplace {
                            expr: Box::new(expr),
                            dst,
                            replacement,
                            src,
                            regex,
                        })
                    }
                    _ => Err(self.unexpected("a function, an aggregation or a number")),
                }
            }
            _ => Err(self.unexpected("a metric expression")),
        }
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<MetricExpr, ParseError> {
        self.expect(Tok::LParen, "(")?;
        let param = if op == RangeOp::QuantileOverTime {
            let p = self.number()?;
            self.expect(Tok::Comma, ",")?;
            Some(p)
        } else {
            None
        };
        let range = self.log_range()?;
        self.expect(Tok::RParen, ")")?;
        let grouping = self.grouping()?;
        if grouping.is_some() && !op.takes_grouping() {
            return Err(self.error(format!(
                "grouping not allowed for {} aggregation",
                op.name()
            )));
        }
        if op.needs_unwrap() && range.unwrap.is_none() {
            return Err(self.error(format!("invalid aggregation {} without unwrap", op.name())));
        }
        if op.refuses_unwrap() && range.unwrap.is_some() {
            return Err(self.error(format!(
                "invalid aggregation {}, unwrap is not allowed",
                op.name()
            )));
        }
        Ok(MetricExpr::Range(RangeAgg {
            op,
            param,
            range,
            grouping,
        }))
    }

    /// `{sel} | pipeline [range] offset d`, in any of Loki's orders, also
    /// `({sel} | pipeline)[range]`.
    fn log_range(&mut self) -> Result<LogRange, ParseError> {
        let parenthesised = self.peek() == &Tok::LParen;
        if parenthesised {
            self.next();
        }
        let matchers = self.selector()?;
        let mut stages = Vec::new();
        let mut unwrap = None;
        let mut range_ns = None;
        let mut offset_ns = 0;
        loop {
            if parenthesised && self.peek() == &Tok::RParen && range_ns.is_none() {
                self.next();
                continue;
            }
            if self.peek() == &Tok::LBracket && range_ns.is_none() {
                self.next();
                let d = self.duration()?;
                if d <= 0 {
                    return Err(self.error("range must be positive"));
                }
                range_ns = Some(d);
                self.expect(Tok::RBracket, "]")?;
                continue;
            }
            if self.is_ident("offset") {
                self.next();
                offset_ns = self.duration()?;
                continue;
            }
            if unwrap.is_some() {
                break;
            }
            match self.stage(true)? {
                Some(Parsed::Stage(s)) => stages.push(s),
                Some(Parsed::Unwrap(u)) => unwrap = Some(u),
                None => break,
            }
        }
        let range_ns = range_ns.ok_or_else(|| self.unexpected("a range [..]"))?;
        Ok(LogRange {
            log: LogExpr { matchers, stages },
            range_ns,
            offset_ns,
            unwrap,
        })
    }

    fn vector_agg(&mut self, op: VecOp) -> Result<MetricExpr, ParseError> {
        let mut grouping = self.grouping()?;
        self.expect(Tok::LParen, "(")?;
        let param = if matches!(op, VecOp::Topk | VecOp::Bottomk) {
            let k = self.number()?;
            if k < 1.0 || k.fract() != 0.0 {
                return Err(self.error(format!(
                    "invalid parameter {}: k must be a positive integer",
                    crate::promql::format::go_float(k)
                )));
            }
            self.expect(Tok::Comma, ",")?;
            Some(k)
        } else {
            None
        };
        let expr = self.metric_expr(0)?;
        self.expect(Tok::RParen, ")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if matches!(op, VecOp::Sort | VecOp::SortDesc) && grouping.is_some() {
            return Err(self.error(format!("{} does not take a grouping", op.name())));
        }
        Ok(MetricExpr::Vector(VecAgg {
            op,
            param,
            grouping,
            expr: Box::new(expr),
        }))
    }
}

/// A parsed stage or the `unwrap` that ends a range's pipeline.
enum Parsed {
    Stage(Stage),
    Unwrap(Unwrap),
}

fn check_line_filter(op: LineFilterOp, value: &str) -> Result<(), String> {
    match op {
        LineFilterOp::Regex | LineFilterOp::NotRegex => regex::Regex::new(value)
            .map(|_| ())
            .map_err(|e| format!("invalid regex in line filter: {e}")),
        LineFilterOp::Pattern | LineFilterOp::NotPattern => {
            super::pattern::Pattern::parse_filter(value).map(|_| ())
        }
        LineFilterOp::Ip | LineFilterOp::NotIp => IpRange::parse(value).map(|_| ()),
        LineFilterOp::Contains | LineFilterOp::NotContains => Ok(()),
    }
}

/// Checks Loki's semantic rules the grammar cannot express.
fn validate(expr: &Expr) -> Result<(), String> {
    fn metric(m: &MetricExpr) -> Result<(), String> {
        match m {
            MetricExpr::Binary(b) => {
                if b.op.is_set() && (is_scalar(&b.lhs) || is_scalar(&b.rhs)) {
                    return Err(format!(
                        "unexpected literal for right leg of logical/set binary operation ({}): {}",
                        b.op.symbol(),
                        b.rhs
                    ));
                }
                metric(&b.lhs)?;
                metric(&b.rhs)
            }
            MetricExpr::Vector(v) => metric(&v.expr),
            MetricExpr::LabelReplace { expr, .. } | MetricExpr::Paren(expr) => metric(expr),
            MetricExpr::Range(_) | MetricExpr::Literal(_) | MetricExpr::VectorLit(_) => Ok(()),
        }
    }
    match expr {
        Expr::Log(_) => Ok(()),
        Expr::Metric(m) => metric(m),
    }
}

/// True when `m` is a number literal (possibly in parentheses or in
/// arithmetic between literals).
pub(crate) fn is_scalar(m: &MetricExpr) -> bool {
    match m {
        MetricExpr::Literal(_) => true,
        MetricExpr::Paren(inner) => is_scalar(inner),
        MetricExpr::Binary(b) => is_scalar(&b.lhs) && is_scalar(&b.rhs),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> String {
        parse(q).unwrap_err().to_string()
    }

    #[test]
    fn errors_carry_line_and_column() {
        assert_eq!(
            err("{app=\"foo\"} | bad"),
            "parse error at line 1, col 15: syntax error: unexpected IDENTIFIER bad, expecting a parser, a formatter or a label filter"
        );
        assert_eq!(
            err("rate({app=\"foo\"})"),
            "parse error at line 1, col 17: syntax error: unexpected \")\", expecting a range [..]"
        );
        assert_eq!(
            err("{app=\"foo\"}\n |= 5"),
            "parse error at line 2, col 5: syntax error: unexpected NUMBER 5, expecting STRING"
        );
        assert!(err("{app=\"foo\" ").contains("col 12"));
    }

    #[test]
    fn empty_compatible_selectors_are_refused() {
        assert!(err("{app=~\".*\"}").contains("at least one"));
        assert!(err("{}").contains("unexpected }"));
    }

    #[test]
    fn unwrap_rules() {
        assert!(err("sum_over_time({a=\"b\"}[5m])").contains("without unwrap"));
        assert!(err("count_over_time({a=\"b\"} | unwrap x [5m])").contains("not allowed"));
        assert!(err("{a=\"b\"} | unwrap x").contains("unwrap"));
    }

    #[test]
    fn bad_regex_and_template_are_parse_errors() {
        assert!(err("{a=\"b\"} |~ \"(\"").contains("invalid regex"));
        assert!(err("{a=\"b\"} | line_format \"{{.a\"").starts_with("parse error"));
        assert!(err("{a=\"b\"} | regexp \"(a)\"").contains("named"));
        assert!(err("{a=\"b\"} | pattern \"<a><b>\"").contains("consecutive"));
    }

    #[test]
    fn set_operators_refuse_literals() {
        assert!(err("rate({a=\"b\"}[1m]) and 1").contains("logical/set"));
    }

    #[test]
    fn every_prefix_parses_or_fails_without_panicking() {
        let q = r#"sum by (a) (rate({app="x", b=~"y.*"} |= "a" or "b" | json c="d[0]" | logfmt --strict | e > 1.5KB and f < 10s or (g="h") | line_format "{{.a | ToUpper}} {{ printf \"%05d\" .n }}" | label_format x=y | drop z | unwrap duration(w) | __error__="" [5m] offset 1m)) / on (a) group_left () topk(3, count_over_time({a="é"} | pattern "<x> é <_>"[1h])) > bool 2 ^ -1"#;
        assert!(parse(q).is_ok());
        for (i, _) in q.char_indices() {
            let _ = parse(&q[..i]);
        }
    }

    #[test]
    fn bool_only_on_comparisons() {
        assert!(err("1 + bool 2").contains("bool modifier"));
    }
}
