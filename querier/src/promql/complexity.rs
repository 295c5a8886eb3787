//! Bounds on how deeply a query may nest and how many operators it may
//! chain, checked before any recursive code (parser, `Display`, evaluation,
//! `Drop` of the syntax tree) sees it.
//!
//! Every level of a query's syntax tree is either a bracket (a call, an
//! aggregation, parentheses, a range or subquery) or an operator (binary or
//! unary). The tree is therefore at most [`MAX_NESTING`] + [`MAX_OPERATORS`]
//! levels deep, which the recursive code runs in comfortably on every thread
//! that runs it; without these bounds `sum(` nested 3,000 deep or a 3,000-term
//! `1+1+…` overflowed a thread's stack and aborted the whole process.
//!
//! PromQL's check scans the text ([`check_promql`]); LogQL feeds its tokens to
//! the same [`Complexity`] counter.

/// Deepest bracket nesting (`(`, `[`, `{`) a query may use. Real queries
/// nest a few tens deep at most.
pub const MAX_NESTING: usize = 256;

/// Most operators (binary and unary, `and`/`or`/`unless`, and subquery or
/// range brackets) a query may use. Generated queries that `or` together a
/// few hundred selectors stay below it.
pub const MAX_OPERATORS: usize = 1_024;

/// Why a query was refused before parsing; the message carries the stable
/// ID and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooComplex {
    /// Brackets nest deeper than [`MAX_NESTING`].
    #[error(
        "err-cairn-query-too-deep: the query nests brackets more than {MAX_NESTING} deep; \
         simplify it (e.g. remove redundant parentheses or nested calls)"
    )]
    TooDeep,
    /// More than [`MAX_OPERATORS`] operators.
    #[error(
        "err-cairn-query-too-many-operators: the query has more than {MAX_OPERATORS} operators; \
         split it into several queries or use a regex matcher instead of chaining selectors"
    )]
    TooManyOperators,
}

/// Counts a query's nesting and operators as its tokens go by, failing as
/// soon as a bound is passed.
#[derive(Debug, Default)]
pub(crate) struct Complexity {
    depth: usize,
    /// Open `{` (a selector's matchers: a flat list, whatever its `=`,
    /// `!=`, `=~` or `or`).
    braces: usize,
    operators: usize,
}

impl Complexity {
    /// An opening bracket.
    pub(crate) fn open(&mut self) -> Result<(), TooComplex> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(TooComplex::TooDeep);
        }
        Ok(())
    }

    /// A closing bracket (an unbalanced one is the parser's to report).
    pub(crate) fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// An opening `{`: operators up to its `}` are matchers, not counted.
    pub(crate) fn open_braces(&mut self) -> Result<(), TooComplex> {
        self.braces += 1;
        self.open()
    }

    /// A closing `}`.
    pub(crate) fn close_braces(&mut self) {
        self.braces = self.braces.saturating_sub(1);
        self.close();
    }

    /// An operator (not counted inside a selector's braces).
    pub(crate) fn operator(&mut self) -> Result<(), TooComplex> {
        if self.braces > 0 {
            return Ok(());
        }
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(TooComplex::TooManyOperators);
        }
        Ok(())
    }
}

/// Refuses PromQL text nesting or chaining more than the bounds allow. A
/// single pass over the bytes: strings and comments are skipped, every
/// bracket and every operator character or keyword outside a selector's
/// braces is counted (two-character operators count twice, which only makes
/// the bound stricter by a little).
pub fn check_promql(query: &str) -> Result<(), TooComplex> {
    let bytes = query.as_bytes();
    let mut c = Complexity::default();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' | b'\'' | b'`' => {
                i = string_end(bytes, i);
                continue;
            }
            b'#' => {
                while bytes.get(i).is_some_and(|&b| b != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'(' => c.open()?,
            b'{' => c.open_braces()?,
            b'[' => {
                c.open()?;
                c.operator()?;
            }
            b')' | b']' => c.close(),
            b'}' => c.close_braces(),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' => c.operator()?,
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b':')
                {
                    i += 1;
                }
                let word = &query[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    c.operator()?;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The index just past the string starting at `start` (its quote), or the
/// end of the text if it is not closed. Backquoted strings have no escapes.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' && quote != b'`' {
            i += 2;
            continue;
        }
        i += 1;
        if b == quote {
            break;
        }
    }
    i.min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }

    fn chain(term: &str, op: &str, n: usize) -> String {
        vec![term; n].join(op)
    }

    #[test]
    fn real_queries_pass() {
        for q in [
            r#"sum by (job) (rate(http_requests_total{job=~"api|web", code!="500"}[5m])) / ignoring(code) group_left sum(x)"#,
            r#"histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m:1m] offset -5m)))"#,
            r#"up{a="((((((((((((((((((((((((("} # ))))))))) + - + - + -"#,
        ] {
            assert_eq!(check_promql(q), Ok(()), "{q}");
        }
    }

    #[test]
    fn nesting_at_the_limit_passes_and_above_is_refused() {
        assert_eq!(check_promql(&nested("(", "1", ")", MAX_NESTING)), Ok(()));
        assert_eq!(
            check_promql(&nested("(", "1", ")", MAX_NESTING + 1)),
            Err(TooComplex::TooDeep)
        );
        assert_eq!(
            check_promql(&nested("sum(", "up", ")", 3_000)),
            Err(TooComplex::TooDeep)
        );
        assert_eq!(check_promql(&"(".repeat(100_000)), Err(TooComplex::TooDeep));
    }

    #[test]
    fn operators_at_the_limit_pass_and_above_are_refused() {
        assert_eq!(check_promql(&chain("1", "+", MAX_OPERATORS + 1)), Ok(()));
        assert_eq!(
            check_promql(&chain("1", "+", MAX_OPERATORS + 2)),
            Err(TooComplex::TooManyOperators)
        );
        assert_eq!(
            check_promql(&chain("up", " or ", MAX_OPERATORS + 2)),
            Err(TooComplex::TooManyOperators)
        );
        assert_eq!(
            check_promql(&format!("{}1", "-".repeat(MAX_OPERATORS + 1))),
            Err(TooComplex::TooManyOperators)
        );
    }

    #[test]
    fn matchers_do_not_count_as_operators() {
        let selector = r#"up{job=~"a.*", instance!="b", env="c" or env!~"d"}"#;
        let q = chain(selector, " or ", 500);
        assert_eq!(check_promql(&q), Ok(()));
    }

    #[test]
    fn brackets_and_operators_in_strings_and_comments_do_not_count() {
        let q = format!(
            "up{{a=\"{}\", b='{}', c=`{}`}} # {}",
            "(+".repeat(5_000),
            "\\'(".repeat(5_000),
            "\\(".repeat(5_000),
            "(".repeat(5_000)
        );
        assert_eq!(check_promql(&q), Ok(()));
    }
}
