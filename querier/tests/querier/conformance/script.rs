//! A parser for Prometheus's `promqltest` script format (see
//! /work/shared/conformance/promql/README.md): `load`, `clear` and `eval`
//! commands with their expectations.

use std::sync::Arc;

use common::histogram::FloatHistogram;
use common::labels::{Label, Labels};
use common::series::STALE_NAN_BITS;

use super::histogram_syntax;

/// One value item of a series line, expanded.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A float (the stale marker keeps its bit pattern).
    Value(f64),
    /// `_`: no sample at this step.
    Missing,
    /// A native histogram (`{{…}}`).
    Histogram(Arc<FloatHistogram>),
}

/// A `<series> <values>` line.
#[derive(Debug, Clone)]
pub struct SeriesLine {
    pub labels: Labels,
    pub items: Vec<Item>,
}

/// What an eval expects.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    pub fail: bool,
    pub fail_msg: Option<String>,
    pub fail_regex: Option<String>,
    /// `expect warn|info` lines.
    pub annotations: Vec<AnnotationExpect>,
    /// `eval_warn`: at least one warning is required.
    pub require_warn: bool,
    /// `eval_info`: at least one info is required.
    pub require_info: bool,
    /// `expect no_warn`.
    pub no_warn: bool,
    /// `expect no_info`.
    pub no_info: bool,
    pub ordered: bool,
    /// `expect range vector from … to … step …` (ms).
    pub range_vector: Option<(i64, i64, i64)>,
    pub string: Option<String>,
    pub scalar: Option<f64>,
    pub series: Vec<SeriesLine>,
    /// An expected line held a native histogram.
    pub histograms: bool,
}

impl Expectation {
    /// True when the eval expects any annotation.
    pub fn annotations(&self) -> bool {
        !self.annotations.is_empty() || self.require_warn || self.require_info
    }
}

/// The two kinds of annotation Prometheus reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationKind {
    Warn,
    Info,
}

/// An `expect warn|info [msg: …|regex: …]` line.
#[derive(Debug, Clone)]
pub struct AnnotationExpect {
    pub kind: AnnotationKind,
    pub text: TextMatch,
}

/// How an expected message is compared.
#[derive(Debug, Clone)]
pub enum TextMatch {
    Any,
    Exact(String),
    Regex(String),
}

impl TextMatch {
    fn from_detail(detail: &str) -> Self {
        if let Some(m) = detail.strip_prefix("msg:") {
            TextMatch::Exact(m.trim().to_string())
        } else if let Some(r) = detail.strip_prefix("regex:") {
            TextMatch::Regex(r.trim().to_string())
        } else {
            TextMatch::Any
        }
    }

    /// True when `text` satisfies this expectation.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(m) => m == text,
            TextMatch::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(text)),
        }
    }
}

/// An `eval` command.
#[derive(Debug, Clone)]
pub struct Eval {
    pub line: usize,
    pub query: String,
    /// `Some(t)` for instant evals, else the range.
    pub instant: Option<i64>,
    pub range: Option<(i64, i64, i64)>,
    pub expect: Expectation,
}

/// A script command.
#[derive(Debug, Clone)]
pub enum Command {
    Clear,
    Load {
        interval: i64,
        nhcb: bool,
        series: Vec<SeriesLine>,
        with_start_timestamps: Vec<Labels>,
    },
    Eval(Eval),
}

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<&str> = text.split('\n').map(str::trim).collect();
    let blank = |l: &str| l.is_empty() || l.starts_with('#');
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if blank(line) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut body = Vec::new();
        // `clear` is a single line; other commands take the lines up to a blank one.
        while word != "clear" && i < lines.len() && !blank(lines[i]) {
            body.push(lines[i]);
            i += 1;
        }
        let ctx = |e: String| format!("line {}: {e}", start + 1);
        match word.as_str() {
            "clear" => out.push(Command::Clear),
            "load" | "load_with_nhcb" => {
                let interval =
                    parse_duration(line.split_whitespace().nth(1).unwrap_or("")).map_err(ctx)?;
                // `metric{…}@st …` lines give start timestamps, which are
                // not stored: remember which series had them.
                let (mut series, mut with_start_timestamps) = (Vec::new(), Vec::new());
                for l in &body {
                    let end = series_end(l).map_err(ctx)?;
                    if let Some(sel) = l[..end].strip_suffix("@st") {
                        with_start_timestamps.push(parse_labels(sel).map_err(ctx)?);
                    } else if l[end..].starts_with("@st") {
                        with_start_timestamps.push(parse_labels(&l[..end]).map_err(ctx)?);
                    } else {
                        series.push(parse_series_line(l).map_err(ctx)?);
                    }
                }
                out.push(Command::Load {
                    interval,
                    nhcb: word == "load_with_nhcb",
                    series,
                    with_start_timestamps,
                });
            }
            w if w.starts_with("eval") => out.push(Command::Eval(
                parse_eval(start + 1, line, &body).map_err(ctx)?,
            )),
            other => return Err(ctx(format!("unknown command {other:?}"))),
        }
    }
    Ok(out)
}

fn parse_eval(line_no: usize, line: &str, body: &[&str]) -> Result<Eval, String> {
    let (cmd, rest) = line
        .split_once(char::is_whitespace)
        .ok_or("eval without arguments")?;
    let mut expect = Expectation::default();
    match cmd {
        "eval" => {}
        "eval_fail" => expect.fail = true,
        "eval_warn" => expect.require_warn = true,
        "eval_info" => expect.require_info = true,
        "eval_ordered" => expect.ordered = true,
        other => return Err(format!("unknown eval command {other}")),
    }
    let rest = rest.trim_start();
    let (instant, range, query) = if let Some(r) = rest.strip_prefix("instant at ") {
        let (t, q) = r
            .trim_start()
            .split_once(char::is_whitespace)
            .ok_or("missing query")?;
        (Some(parse_duration(t)?), None, q.trim().to_string())
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let words: Vec<&str> = r.splitn(6, char::is_whitespace).collect();
        if words.len() < 6 || words[1] != "to" || words[3] != "step" {
            return Err(format!("bad range eval {line:?}"));
        }
        let range = (
            parse_duration(words[0])?,
            parse_duration(words[2])?,
            parse_duration(words[4])?,
        );
        (None, Some(range), words[5].trim().to_string())
    } else {
        return Err(format!("bad eval {line:?}"));
    };
    for l in body {
        if let Some(msg) = l.strip_prefix("expected_fail_message") {
            expect.fail_msg = Some(msg.trim().to_string());
        } else if let Some(re) = l.strip_prefix("expected_fail_regexp") {
            expect.fail_regex = Some(re.trim().to_string());
        } else if let Some(e) = l.strip_prefix("expect ") {
            parse_expect_line(e.trim(), &mut expect)?;
        } else if let Ok(v) = parse_number(l) {
            expect.scalar = Some(v);
        } else {
            let s = parse_series_line(l)?;
            expect.histograms |= s.items.iter().any(|i| matches!(i, Item::Histogram(_)));
            expect.series.push(s);
        }
    }
    Ok(Eval {
        line: line_no,
        query,
        instant,
        range,
        expect,
    })
}

fn parse_expect_line(e: &str, expect: &mut Expectation) -> Result<(), String> {
    let (kind, detail) = e.split_once(char::is_whitespace).unwrap_or((e, ""));
    let detail = detail.trim();
    match kind {
        "fail" => {
            expect.fail = true;
            if let Some(m) = detail.strip_prefix("msg:") {
                expect.fail_msg = Some(m.trim().to_string());
            } else if let Some(r) = detail.strip_prefix("regex:") {
                expect.fail_regex = Some(r.trim().to_string());
            }
        }
        "warn" | "info" => expect.annotations.push(AnnotationExpect {
            kind: if kind == "warn" {
                AnnotationKind::Warn
            } else {
                AnnotationKind::Info
            },
            text: TextMatch::from_detail(detail),
        }),
        "no_warn" => expect.no_warn = true,
        "no_info" => expect.no_info = true,
        "ordered" => expect.ordered = true,
        "string" => expect.string = Some(unquote(detail)?),
        "range" => {
            let w: Vec<&str> = detail.split_whitespace().collect();
            if w.len() != 7 || w[0] != "vector" || w[1] != "from" || w[3] != "to" || w[5] != "step"
            {
                return Err(format!("bad range vector expectation {e:?}"));
            }
            expect.range_vector = Some((
                parse_duration(w[2])?,
                parse_duration(w[4])?,
                parse_duration(w[6])?,
            ));
        }
        other => return Err(format!("unknown expectation {other:?}")),
    }
    Ok(())
}

/// A Prometheus duration (`1h30m`, `0`, `20s500ms`) in ms, possibly negative.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    let mut total = 0i64;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("bad duration {s:?}"))?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..letters] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            u => return Err(format!("bad duration unit {u:?} in {s:?}")),
        };
        rest = &rest[letters..];
        total += n * unit;
    }
    Ok(if neg { -total } else { total })
}

/// A number as the script writes one: decimal, exponent, `Inf`, `NaN`.
pub fn parse_number(s: &str) -> Result<f64, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    // No hex: in value items `0x59` means "0, 59 more times".
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') => body
            .parse::<f64>()
            .map_err(|_| format!("bad number {s:?}"))?,
        _ => return Err(format!("bad number {s:?}")),
    };
    Ok(if neg { -v } else { v })
}

/// Splits a series line into its selector and value items.
fn parse_series_line(line: &str) -> Result<SeriesLine, String> {
    let end = series_end(line)?;
    let labels = parse_labels(&line[..end])?;
    let mut items = Vec::new();
    let rest = line[end..].trim();
    let mut tokens = Vec::new();
    // Histogram items contain spaces inside `{{…}}`; keep them whole.
    let mut cur = String::new();
    let mut depth = 0;
    for c in rest.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    for tok in tokens {
        expand_item(&tok, &mut items)?;
    }
    Ok(SeriesLine { labels, items })
}

/// Index just past the series selector at the start of `line`.
fn series_end(line: &str) -> Result<usize, String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'{' {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'{' {
        let mut in_str: Option<u8> = None;
        while i < bytes.len() {
            let c = bytes[i];
            match in_str {
                Some(_) if c == b'\\' => i += 1,
                Some(q) if c == q => in_str = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' || c == b'`' => in_str = Some(c),
                None if c == b'}' => return Ok(i + 1),
                None => {}
            }
            i += 1;
        }
        return Err(format!("unterminated series selector in {line:?}"));
    }
    Ok(i)
}

/// Parses `name{a="b", "quoted name", c='d'}` into labels.
fn parse_labels(s: &str) -> Result<Labels, String> {
    let (name, body) = match s.find('{') {
        Some(i) => (
            &s[..i],
            s[i + 1..]
                .strip_suffix('}')
                .ok_or_else(|| format!("bad selector {s:?}"))?,
        ),
        None => (s, ""),
    };
    let mut labels = Vec::new();
    if !name.is_empty() {
        labels.push(Label::new("__name__", name));
    }
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = take_name(rest)?;
        let after = after.trim_start();
        if let Some(v) = after.strip_prefix('=') {
            let (value, after) = take_quoted(v.trim_start())?;
            labels.push(Label::new(key, value));
            rest = after.trim_start();
        } else {
            labels.push(Label::new("__name__", key));
            rest = after;
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(Labels::new(labels))
}

fn take_name(s: &str) -> Result<(String, &str), String> {
    if s.starts_with(['"', '\'', '`']) {
        return take_quoted(s);
    }
    let n = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '.'))
        .unwrap_or(s.len());
    if n == 0 {
        return Err(format!("expected label name at {s:?}"));
    }
    Ok((s[..n].to_string(), &s[n..]))
}

/// A Go-quoted string at the start of `s` and the text after it.
fn take_quoted(s: &str) -> Result<(String, &str), String> {
    let q = s.chars().next().ok_or("expected string")?;
    let mut end = None;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' && q != '`' {
            escaped = true;
        } else if c == q {
            end = Some(i);
            break;
        }
    }
    let end = end.ok_or_else(|| format!("unterminated string {s:?}"))?;
    Ok((unquote(&s[..=end])?, &s[end + 1..]))
}

/// Go's `strconv.Unquote` for the escapes test scripts use.
pub fn unquote(s: &str) -> Result<String, String> {
    let q = s.chars().next().ok_or("empty string")?;
    let inner = s
        .strip_prefix(q)
        .and_then(|r| r.strip_suffix(q))
        .ok_or_else(|| format!("bad quoting {s:?}"))?;
    if q == '`' {
        return Ok(inner.to_string());
    }
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(char::from(
                    u8::from_str_radix(&h, 16).map_err(|_| format!("bad escape in {s:?}"))?,
                ));
            }
            Some('u') => {
                let h: String = chars.by_ref().take(4).collect();
                out.push(
                    u32::from_str_radix(&h, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or("bad \\u escape")?,
                );
            }
            other => return Err(format!("unsupported escape {other:?} in {s:?}")),
        }
    }
    Ok(out)
}

fn expand_item(tok: &str, items: &mut Vec<Item>) -> Result<(), String> {
    if tok.starts_with("{{") {
        items.extend(
            histogram_syntax::expand_item(tok)?
                .into_iter()
                .map(Item::Histogram),
        );
        return Ok(());
    }
    if tok == "_" {
        items.push(Item::Missing);
        return Ok(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("bad item {tok:?}"))?;
        items.extend(std::iter::repeat_n(Item::Missing, n));
        return Ok(());
    }
    if tok == "stale" {
        items.push(Item::Value(f64::from_bits(STALE_NAN_BITS)));
        return Ok(());
    }
    if let Ok(v) = parse_number(tok) {
        items.push(Item::Value(v));
        return Ok(());
    }
    let (base, times) = tok
        .rsplit_once('x')
        .ok_or_else(|| format!("bad item {tok:?}"))?;
    let times: usize = times.parse().map_err(|_| format!("bad item {tok:?}"))?;
    // `a+b`, `a-b` or just `a`; the operator is not at the start nor after an exponent.
    let bytes = base.as_bytes();
    let op = (1..bytes.len())
        .find(|&i| matches!(bytes[i], b'+' | b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, step) = match op {
        Some(i) => {
            let step = parse_number(&base[i + 1..])?;
            (
                parse_number(&base[..i])?,
                if bytes[i] == b'-' { -step } else { step },
            )
        }
        None => (parse_number(base)?, 0.0),
    };
    // Cumulative, like Prometheus's script parser (`v += step`).
    let mut v = start;
    for _ in 0..=times {
        items.push(Item::Value(v));
        v += step;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_value_items() {
        let s = parse_series_line("m{a=\"b c\"} 1+2x2 _x2 stale 0x0 4x1").unwrap();
        assert_eq!(s.labels.get("a"), Some("b c"));
        assert_eq!(s.items.len(), 3 + 2 + 1 + 1 + 2);
        assert_eq!(s.items[2], Item::Value(5.0));
    }
}
