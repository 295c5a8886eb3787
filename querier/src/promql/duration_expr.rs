//! Duration expressions (Prometheus's `promql-duration-expr` feature):
//! arithmetic where a duration goes — `rate(x[5m+30s])`, `x[1h:step()*2]`,
//! `x offset min_of(range(), 1h)`. promql-parser 0.11.1 accepts only
//! literal durations there, so [`rewrite`] evaluates each such expression
//! (`step()` and `range()` are known once the query's range is) and puts a
//! literal duration in its place before parsing. Plain durations are left
//! alone, so ordinary queries pass through unchanged.

/// The query's step and range in milliseconds (0 for instant queries), the
/// values of `step()` and `range()`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryTimes {
    pub step_ms: i64,
    pub range_ms: i64,
}

/// `query` with every duration expression replaced by its value.
pub(crate) fn rewrite(query: &str, times: QueryTimes) -> String {
    let mut out = String::with_capacity(query.len());
    let bytes = query.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => i = skip_string(bytes, i),
            b'#' => break,
            b'[' => {
                if let Some((text, end)) = bracket(query, i + 1, times) {
                    out.push_str(&query[copied..=i]);
                    out.push_str(&text);
                    copied = end;
                    i = end;
                } else {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() && starts_word(bytes, i) => {
                let word_end = i + bytes[i..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                if query[i..word_end].eq_ignore_ascii_case("offset")
                    && let Some((text, end)) = offset(query, word_end, times)
                {
                    // A zero offset is no offset (the parser rejects `offset 0ms`).
                    if text.is_empty() {
                        out.push_str(&query[copied..i]);
                    } else {
                        out.push_str(&query[copied..word_end]);
                        out.push(' ');
                        out.push_str(&text);
                    }
                    copied = end;
                    i = end;
                } else {
                    i = word_end;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&query[copied..]);
    out
}

fn starts_word(bytes: &[u8], i: usize) -> bool {
    i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

/// Index just past the string literal starting at `i`.
fn skip_string(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() && bytes[j] != quote {
        if bytes[j] == b'\\' && quote != b'`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

/// The rewritten inside of `[…]` starting at `start` (`range]` or
/// `range:step]`) and the index of the closing bracket, when anything in it
/// is an expression.
fn bracket(query: &str, start: usize, times: QueryTimes) -> Option<(String, usize)> {
    let mut p = Parser::new(query, start, times);
    let range = p.expr()?;
    let mut literal = range.literal;
    let mut text = ms_literal(range.seconds)?;
    p.skip_ws();
    if p.peek() == Some(b':') {
        p.pos += 1;
        p.skip_ws();
        text.push(':');
        if p.peek() != Some(b']') {
            let step = p.expr()?;
            literal &= step.literal;
            text.push_str(&ms_literal(step.seconds)?);
            p.skip_ws();
        }
    }
    (p.peek() == Some(b']') && !literal).then_some((text, p.pos))
}

/// The rewritten duration after `offset` (starting at `start`) and where
/// it ends, when it is an expression. Only a signed literal, parenthesised
/// expression or function call belongs to the offset: in `x offset step()*2`
/// the `*2` applies to the selector.
fn offset(query: &str, start: usize, times: QueryTimes) -> Option<(String, usize)> {
    let mut p = Parser::new(query, start, times);
    let v = p.signed_primary()?;
    if v.literal {
        return None;
    }
    let text = if v.seconds < 0.0 {
        format!("-{}", ms_literal(-v.seconds)?)
    } else if v.seconds == 0.0 {
        String::new()
    } else {
        ms_literal(v.seconds)?
    };
    Some((text, p.pos))
}

/// A non-negative number of seconds as a millisecond duration literal.
fn ms_literal(seconds: f64) -> Option<String> {
    let ms = (seconds * 1000.0).round();
    (0.0..9.0e15)
        .contains(&ms)
        .then(|| format!("{}ms", ms as i64))
}

/// A value of the expression language: seconds, and whether it was written
/// as a single literal (then nothing needs rewriting).
#[derive(Clone, Copy)]
struct Value {
    seconds: f64,
    literal: bool,
}

/// A Pratt parser over the query text from a start index; it stops at the
/// first character that cannot continue the expression.
struct Parser<'q> {
    q: &'q str,
    pos: usize,
    times: QueryTimes,
}

impl<'q> Parser<'q> {
    fn new(q: &'q str, pos: usize, times: QueryTimes) -> Self {
        Self { q, pos, times }
    }

    fn peek(&self) -> Option<u8> {
        self.q.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.binary(0)
    }

    /// Binding power of the operator at the cursor: `+ -` 1, `* / %` 2,
    /// `^` 4 (right-associative, above unary minus at 3).
    fn operator(&mut self) -> Option<(u8, u8)> {
        let save = self.pos;
        self.skip_ws();
        let op = self.peek();
        let bp = match op? {
            b'+' | b'-' => 1,
            b'*' | b'/' | b'%' => 2,
            b'^' => 4,
            _ => {
                self.pos = save;
                return None;
            }
        };
        Some((op?, bp))
    }

    fn binary(&mut self, min_bp: u8) -> Option<Value> {
        let mut lhs = self.unary()?;
        loop {
            let save = self.pos;
            let Some((op, bp)) = self.operator() else {
                break;
            };
            if bp < min_bp {
                self.pos = save;
                break;
            }
            self.pos += 1;
            let next_min = if op == b'^' { bp } else { bp + 1 };
            let rhs = self.binary(next_min)?;
            let (a, b) = (lhs.seconds, rhs.seconds);
            let seconds = match op {
                b'+' => a + b,
                b'-' => a - b,
                b'*' => a * b,
                b'/' => a / b,
                b'%' => a % b,
                _ => a.powf(b),
            };
            lhs = Value {
                seconds,
                literal: false,
            };
        }
        Some(lhs)
    }

    fn unary(&mut self) -> Option<Value> {
        self.skip_ws();
        match self.peek()? {
            c @ (b'-' | b'+') => {
                self.pos += 1;
                // Unary minus binds looser than `^`: -2^2 is -4.
                let v = self.binary(3)?;
                let sign = if c == b'-' { -1.0 } else { 1.0 };
                Some(Value {
                    seconds: sign * v.seconds,
                    literal: v.literal && c == b'-',
                })
            }
            _ => self.primary(),
        }
    }

    /// An optional sign and a primary, without binary operators.
    fn signed_primary(&mut self) -> Option<Value> {
        self.skip_ws();
        let sign = match self.peek()? {
            b'-' => -1.0,
            b'+' => 1.0,
            _ => return self.primary(),
        };
        self.pos += 1;
        let v = self.primary()?;
        Some(Value {
            seconds: sign * v.seconds,
            literal: v.literal && sign < 0.0,
        })
    }

    fn primary(&mut self) -> Option<Value> {
        self.skip_ws();
        let c = self.peek()?;
        if c == b'(' {
            self.pos += 1;
            let v = self.expr()?;
            self.skip_ws();
            if self.peek()? != b')' {
                return None;
            }
            self.pos += 1;
            return Some(Value {
                seconds: v.seconds,
                literal: false,
            });
        }
        if c.is_ascii_digit() || c == b'.' {
            return self.number_or_duration();
        }
        if c.is_ascii_alphabetic() {
            return self.call();
        }
        None
    }

    /// `step()`, `range()`, `min_of(a, b)`, `max_of(a, b)`.
    fn call(&mut self) -> Option<Value> {
        let rest = &self.q[self.pos..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = rest[..len].to_ascii_lowercase();
        self.pos += len;
        self.skip_ws();
        if self.peek()? != b'(' {
            return None;
        }
        self.pos += 1;
        let mut args = Vec::new();
        loop {
            self.skip_ws();
            if self.peek()? == b')' {
                self.pos += 1;
                break;
            }
            args.push(self.expr()?.seconds);
            self.skip_ws();
            if self.peek()? == b',' {
                self.pos += 1;
            }
        }
        let seconds = match (name.as_str(), args.as_slice()) {
            ("step", []) => self.times.step_ms as f64 / 1000.0,
            ("range", []) => self.times.range_ms as f64 / 1000.0,
            ("min_of", [a, b]) => a.min(*b),
            ("max_of", [a, b]) => a.max(*b),
            _ => return None,
        };
        Some(Value {
            seconds,
            literal: false,
        })
    }

    /// `8000`, `1.5` (seconds) or `1h30m`, `500ms` (a duration literal).
    fn number_or_duration(&mut self) -> Option<Value> {
        let rest = &self.q[self.pos..];
        let digits = |s: &str| {
            s.bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'.')
                .count()
        };
        let n = digits(rest);
        let after = &rest[n..];
        if !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let seconds: f64 = rest[..n].parse().ok()?;
            self.pos += n;
            return Some(Value {
                seconds,
                literal: false,
            });
        }
        let mut len = 0;
        let mut ms = 0.0;
        loop {
            let part = &rest[len..];
            let n = digits(part);
            let units = part[n..]
                .bytes()
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            if n == 0 || units == 0 {
                break;
            }
            let value: f64 = part[..n].parse().ok()?;
            let unit = match &part[n..n + units] {
                "ms" => 1.0,
                "s" => 1_000.0,
                "m" => 60_000.0,
                "h" => 3_600_000.0,
                "d" => 86_400_000.0,
                "w" => 604_800_000.0,
                "y" => 31_536_000_000.0,
                _ => return None,
            };
            ms += value * unit;
            len += n + units;
        }
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some(Value {
            seconds: ms / 1000.0,
            literal: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMES: QueryTimes = QueryTimes {
        step_ms: 5_000,
        range_ms: 10_000,
    };

    #[test]
    fn plain_durations_are_left_alone() {
        for q in [
            "rate(x[5m])",
            "x offset 5m",
            "x[1h:1m] offset -1m",
            "x{a=\"[1+1]\"}",
        ] {
            assert_eq!(rewrite(q, TIMES), q);
        }
    }

    #[test]
    fn expressions_become_literals() {
        assert_eq!(rewrite("x[26m+4m]", TIMES), "x[1800000ms]");
        assert_eq!(rewrite("x[2m*(10+5)]", TIMES), "x[1800000ms]");
        assert_eq!(rewrite("x[29s+1s:step()*2]", TIMES), "x[30000ms:10000ms]");
        assert_eq!(rewrite("x offset (-2 ^ 2)", TIMES), "x offset -4000ms");
        assert_eq!(
            rewrite("x offset min_of(range(), 8s)", TIMES),
            "x offset 8000ms"
        );
        // Binary operators after an offset apply to the selector.
        assert_eq!(rewrite("x offset step()*2", TIMES), "x offset 5000ms*2");
        assert_eq!(rewrite("x offset 5m + 3", TIMES), "x offset 5m + 3");
        assert_eq!(rewrite("x[30m1s-30m1s % 1m]", TIMES), "x[1800000ms]");
        assert_eq!(rewrite("x[1+(step()-4)*2]", TIMES), "x[3000ms]");
        assert_eq!(rewrite("x offset (step()*0)", TIMES), "x ");
    }
}
