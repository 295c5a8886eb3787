//! Splits a TraceQL query into tokens, each with its byte offset so parse
//! errors can say where they are.

use super::ParseError;
use super::ast::{AttrScope, Attribute, Relation, SpansetOp, StructuralMode};

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Pipe,
    Comma,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Re,
    Nre,
    And,
    Or,
    Not,
    Desc,
    Ance,
    Tilde,
    /// A structural operator written with a `!` or `&` prefix (`!>`, `&>>`).
    Structural(SpansetOp),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Str(String),
    Int(i64),
    Float(f64),
    Duration(i64),
    /// A bare word: keyword, intrinsic or function name.
    Ident(String),
    Attr(Attribute),
    Eof,
}

/// Characters that end an unquoted attribute name.
fn ends_attr(c: char) -> bool {
    c.is_whitespace() || "{}()=~!<>&|^,\"".contains(c)
}

/// Tokens of `src`, each with its byte offset.
pub(crate) fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if let Some((len, op)) = prefixed_structural(&src[i..]) {
            out.push((start, Tok::Structural(op)));
            i += len;
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let tok2 = match two {
            "!=" => Some(Tok::Neq),
            ">=" => Some(Tok::Gte),
            "<=" => Some(Tok::Lte),
            "=~" => Some(Tok::Re),
            "!~" => Some(Tok::Nre),
            "&&" => Some(Tok::And),
            "||" => Some(Tok::Or),
            ">>" => Some(Tok::Desc),
            "<<" => Some(Tok::Ance),
            _ => None,
        };
        if let Some(t) = tok2 {
            out.push((start, t));
            i += 2;
            continue;
        }
        let tok1 = match c {
            b'{' => Some(Tok::LBrace),
            b'}' => Some(Tok::RBrace),
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'|' => Some(Tok::Pipe),
            b',' => Some(Tok::Comma),
            b'=' => Some(Tok::Eq),
            b'>' => Some(Tok::Gt),
            b'<' => Some(Tok::Lt),
            b'!' => Some(Tok::Not),
            b'~' => Some(Tok::Tilde),
            b'+' => Some(Tok::Plus),
            b'-' => Some(Tok::Minus),
            b'*' => Some(Tok::Star),
            b'/' => Some(Tok::Slash),
            b'%' => Some(Tok::Percent),
            b'^' => Some(Tok::Caret),
            _ => None,
        };
        if let Some(t) = tok1 {
            out.push((start, t));
            i += 1;
            continue;
        }
        if c == b'"' || c == b'`' {
            let (s, next) = string(src, i)?;
            out.push((start, Tok::Str(s)));
            i = next;
        } else if c == b'.' {
            let (name, next) = attr_name(src, i + 1)?;
            out.push((
                start,
                Tok::Attr(Attribute {
                    scope: AttrScope::Any,
                    name,
                }),
            ));
            i = next;
        } else if c.is_ascii_digit() {
            let (t, next) = number(src, i)?;
            out.push((start, t));
            i = next;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
                j += 1;
            }
            let word = &src[i..j];
            let scope = match word {
                "span" => Some(AttrScope::Span),
                "resource" => Some(AttrScope::Resource),
                "instrumentation" => Some(AttrScope::Instrumentation),
                "event" => Some(AttrScope::Event),
                "link" => Some(AttrScope::Link),
                _ => None,
            };
            match scope {
                Some(scope) if b.get(j) == Some(&b'.') => {
                    let (name, next) = attr_name(src, j + 1)?;
                    out.push((start, Tok::Attr(Attribute { scope, name })));
                    i = next;
                }
                _ => {
                    out.push((start, Tok::Ident(word.to_string())));
                    i = j;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(ParseError::at(
                start,
                format!("unexpected character {ch:?}"),
            ));
        }
    }
    out.push((src.len(), Tok::Eof));
    Ok(out)
}

/// A `!`- or `&`-prefixed structural operator at the start of `rest`
/// (`!>>`, `&~`, …) and its length; `!~` is left to the caller, which reads
/// it as "not sibling" between spansets and "no regex match" inside `{ }`.
fn prefixed_structural(rest: &str) -> Option<(usize, SpansetOp)> {
    let mode = match rest.as_bytes().first()? {
        b'!' => StructuralMode::Not,
        b'&' => StructuralMode::Union,
        _ => return None,
    };
    let (len, rel) = match rest.get(1..3).unwrap_or(rest.get(1..)?) {
        ">>" => (3, Relation::Descendant),
        "<<" => (3, Relation::Ancestor),
        r if r.starts_with('>') => (2, Relation::Child),
        r if r.starts_with('<') => (2, Relation::Parent),
        r if r.starts_with('~') && mode == StructuralMode::Union => (2, Relation::Sibling),
        _ => return None,
    };
    Some((len, SpansetOp::Structural(rel, mode)))
}

/// An attribute name starting at `i` (quoted or bare); returns the name and
/// the offset after it.
fn attr_name(src: &str, i: usize) -> Result<(String, usize), ParseError> {
    if src.as_bytes().get(i) == Some(&b'"') {
        let (s, next) = string(src, i)?;
        if s.is_empty() {
            return Err(ParseError::at(i, "empty attribute name"));
        }
        return Ok((s, next));
    }
    let rest = &src[i..];
    let len = rest.find(ends_attr).unwrap_or(rest.len());
    if len == 0 {
        return Err(ParseError::at(i, "expected an attribute name after \".\""));
    }
    Ok((rest[..len].to_string(), i + len))
}

/// A quoted string at `i` (`"…"` with escapes, or raw `` `…` ``).
fn string(src: &str, i: usize) -> Result<(String, usize), ParseError> {
    let quote = src.as_bytes()[i] as char;
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        if c == quote {
            return Ok((out, i + 1 + off + 1));
        }
        if c == '\\' && quote == '"' {
            let Some((_, e)) = chars.next() else { break };
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            });
        } else {
            out.push(c);
        }
    }
    Err(ParseError::at(i, "unterminated string"))
}

/// Nanoseconds per duration unit.
fn unit_nanos(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    })
}

/// A number or duration at `i`.
fn number(src: &str, i: usize) -> Result<(Tok, usize), ParseError> {
    let b = src.as_bytes();
    let digits_end = |mut j: usize| {
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        j
    };
    let j = digits_end(i);
    let text = &src[i..j];
    let unit_end = |mut k: usize| {
        while k < src.len() && src[k..].starts_with(|c: char| c.is_alphabetic()) {
            k += src[k..].chars().next().map_or(1, char::len_utf8);
        }
        k
    };
    let k = unit_end(j);
    if k == j {
        let tok = if text.contains('.') {
            text.parse().map(Tok::Float).ok()
        } else {
            text.parse().map(Tok::Int).ok()
        };
        return tok
            .map(|t| (t, j))
            .ok_or_else(|| ParseError::at(i, format!("invalid number {text:?}")));
    }
    // A duration, possibly compound (`1h30m`).
    let mut total = 0f64;
    let (mut num_start, mut num_end, mut unit_stop) = (i, j, k);
    loop {
        let n: f64 = src[num_start..num_end]
            .parse()
            .map_err(|_| ParseError::at(num_start, "invalid duration"))?;
        let unit = unit_nanos(&src[num_end..unit_stop]).ok_or_else(|| {
            ParseError::at(
                num_end,
                format!("unknown duration unit {:?}", &src[num_end..unit_stop]),
            )
        })?;
        total += n * unit;
        if unit_stop < b.len() && b[unit_stop].is_ascii_digit() {
            num_start = unit_stop;
            num_end = digits_end(unit_stop);
            unit_stop = unit_end(num_end);
            if unit_stop == num_end {
                return Err(ParseError::at(num_start, "duration part without unit"));
            }
        } else {
            break;
        }
    }
    Ok((Tok::Duration(total.round() as i64), unit_stop))
}

/// A non-negative duration written as in TraceQL (`1.5s`, `1h30m`, `250us`),
/// in nanoseconds: Tempo's `minDuration`/`maxDuration` use the same syntax.
pub fn parse_duration(text: &str) -> Option<u64> {
    match lex(text.trim()).ok()?.as_slice() {
        [(_, Tok::Duration(d)), (_, Tok::Eof)] => u64::try_from(*d).ok(),
        _ => None,
    }
}
