//! Compiled line filters: `memchr::memmem` for literal `|=`/`!=`, `regex`
//! behind a literal prefilter for `|~`/`!~`, patterns for `|>`/`!>`; and the
//! conjunction of a query's leading filters as one [`LineFilter`] closure
//! pushed down to the store.

use std::sync::Arc;

use common::logs::LineFilter as PushedFilter;
use memchr::memmem;
use regex::Regex;

use super::ast::{IpRange, LineFilter, LineFilterOp};
use super::pattern::Pattern;

/// A regex and, when every match must contain it, a literal scanned for
/// first with `memmem` (most lines of a log do not contain it).
#[derive(Debug, Clone)]
pub(crate) struct Prefiltered {
    literal: Option<memmem::Finder<'static>>,
    regex: Regex,
}

impl Prefiltered {
    fn new(pattern: &str) -> Result<Self, regex::Error> {
        let regex = Regex::new(pattern)?;
        let literal = required_literal(pattern)
            .filter(|l| l.len() >= 3)
            .map(|l| memmem::Finder::new(l.as_bytes()).into_owned());
        Ok(Self { literal, regex })
    }

    fn is_match(&self, line: &str) -> bool {
        if let Some(f) = &self.literal
            && f.find(line.as_bytes()).is_none()
        {
            return false;
        }
        self.regex.is_match(line)
    }
}

/// The literal text every match of `pattern` starts with, when it can be
/// read off the pattern's text: no alternation or flags, and the run of
/// plain characters before the first meta character (minus a last
/// character a quantifier applies to).
fn required_literal(pattern: &str) -> Option<String> {
    if pattern.contains('|') || pattern.starts_with("(?") {
        return None;
    }
    let meta = |c: char| "\\.+*?()[]{}^$".contains(c);
    let run: String = pattern.chars().take_while(|c| !meta(*c)).collect();
    let next = pattern[run.len()..].chars().next();
    let mut run = run;
    if matches!(next, Some('?' | '*' | '{')) {
        run.pop();
    }
    (!run.is_empty()).then_some(run)
}

/// One compiled line filter stage.
#[derive(Debug, Clone)]
pub(crate) enum LineMatcher {
    /// Contains any of the literals (`negate`: none of them).
    Literal {
        finders: Vec<memmem::Finder<'static>>,
        negate: bool,
    },
    /// Any regex matches (`negate`: none).
    Regex {
        regexes: Vec<Prefiltered>,
        negate: bool,
    },
    /// Any pattern matches (`negate`: none).
    Pattern {
        patterns: Vec<Pattern>,
        negate: bool,
    },
    /// The line holds an address in one of the ranges (`negate`: none).
    Ip { ranges: Vec<IpRange>, negate: bool },
}

impl LineMatcher {
    /// Compiles a parsed line filter.
    pub(crate) fn compile(f: &LineFilter) -> Result<Self, String> {
        let negate = f.op.is_negated();
        Ok(match f.op {
            LineFilterOp::Contains | LineFilterOp::NotContains => LineMatcher::Literal {
                finders: f
                    .values
                    .iter()
                    .map(|v| memmem::Finder::new(v.as_bytes()).into_owned())
                    .collect(),
                negate,
            },
            LineFilterOp::Regex | LineFilterOp::NotRegex => LineMatcher::Regex {
                regexes: each(&f.values, |v| {
                    Prefiltered::new(v).map_err(|e| e.to_string())
                })?,
                negate,
            },
            LineFilterOp::Ip | LineFilterOp::NotIp => LineMatcher::Ip {
                ranges: each(&f.values, IpRange::parse)?,
                negate,
            },
            LineFilterOp::Pattern | LineFilterOp::NotPattern => LineMatcher::Pattern {
                patterns: each(&f.values, Pattern::parse_filter)?,
                negate,
            },
        })
    }

    /// True when `line` passes.
    pub(crate) fn is_match(&self, line: &str) -> bool {
        match self {
            LineMatcher::Literal { finders, negate } => {
                finders.iter().any(|f| f.find(line.as_bytes()).is_some()) != *negate
            }
            LineMatcher::Regex { regexes, negate } => {
                regexes.iter().any(|r| r.is_match(line)) != *negate
            }
            LineMatcher::Pattern { patterns, negate } => {
                patterns.iter().any(|p| p.matches(line)) != *negate
            }
            LineMatcher::Ip { ranges, negate } => {
                ranges.iter().any(|r| r.found_in(line)) != *negate
            }
        }
    }
}

/// Each `or` alternative compiled by `compile`.
fn each<T>(
    values: &[String],
    compile: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    values.iter().map(|v| compile(v)).collect()
}

/// The conjunction of `matchers` as a store-side filter (`None` when empty).
pub(crate) fn push_down(matchers: Vec<LineMatcher>) -> Option<PushedFilter> {
    if matchers.is_empty() {
        return None;
    }
    Some(Arc::new(move |line: &str| {
        matchers.iter().all(|m| m.is_match(line))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefix_of_regexes() {
        assert_eq!(required_literal("error.*timeout").as_deref(), Some("error"));
        assert_eq!(required_literal("errors?").as_deref(), Some("error"));
        assert_eq!(required_literal("a|b"), None);
        assert_eq!(required_literal("(?i)error"), None);
        assert_eq!(required_literal(".*x"), None);
    }

    #[test]
    fn or_alternatives_and_negation() {
        let f = |op, vals: &[&str]| {
            LineMatcher::compile(&LineFilter {
                op,
                values: vals.iter().map(|s| s.to_string()).collect(),
            })
            .unwrap()
        };
        let m = f(LineFilterOp::Contains, &["foo", "bar"]);
        assert!(m.is_match("a bar b") && !m.is_match("baz"));
        let m = f(LineFilterOp::NotContains, &["foo", "bar"]);
        assert!(!m.is_match("a bar b") && m.is_match("baz"));
        let m = f(LineFilterOp::Regex, &["error=\\d+"]);
        assert!(m.is_match("x error=12") && !m.is_match("error=x"));
    }
}
