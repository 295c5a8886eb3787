//! Why an eval fails, in words fit for `known_failures.txt`: derived from
//! what the query and its data use (native histograms, annotations, syntax
//! the parser rejects, …), so the list groups by missing feature rather than
//! by symptom.

use std::collections::BTreeSet;

use common::labels::Labels;
use common::series::{MatchOp, Matcher, matches_all};
use promql_parser::parser::{Expr, VectorSelector};

use super::script::Eval;

/// Functions this engine does not implement.
const UNSUPPORTED_FUNCTIONS: &[&str] = &["start_timestamp"];
/// Aggregations this engine does not implement.
const UNSUPPORTED_AGGREGATIONS: &[&str] = &[];

/// What the data loaded so far holds beyond float samples.
#[derive(Default)]
pub struct LoadedFeatures {
    /// Label sets of series that hold native histograms.
    pub histogram_series: Vec<Labels>,
    /// Label sets of series given start timestamps (not stored).
    pub start_timestamp_series: Vec<Labels>,
}

impl LoadedFeatures {
    /// Forgets everything (a `clear` command).
    pub fn clear(&mut self) {
        self.histogram_series.clear();
        self.start_timestamp_series.clear();
    }
}

/// The reason an eval fails, given the failure message `msg`.
pub fn reason(eval: &Eval, loaded: &LoadedFeatures, msg: &str) -> String {
    let parsed = promql_parser::parser::parse(&eval.query);
    let (mut functions, mut aggregations, mut selectors) =
        (BTreeSet::new(), BTreeSet::new(), Vec::new());
    if let Ok(expr) = &parsed {
        walk(expr, &mut functions, &mut aggregations, &mut selectors);
    }
    let sets: Vec<Vec<Matcher>> = selectors
        .iter()
        .flat_map(|vs| selector_matchers(vs))
        .collect();
    let touches = |series: &[Labels]| {
        sets.iter()
            .any(|set| series.iter().any(|l| matches_all(l, set)))
    };
    let e = &eval.expect;
    if invalid_utf8_escape(&eval.query) {
        return "invalid UTF-8 spelled with \\x escapes cannot be held in a Rust string".into();
    }
    if parsed.is_err() {
        return rejected_syntax(&eval.query).into();
    }
    if touches(&loaded.start_timestamp_series) || eval.query.contains("start_timestamp") {
        return "start timestamps (`@st` lines): the SeriesStore does not hold them".into();
    }
    if e.histograms || touches(&loaded.histogram_series) {
        return format!("native histograms: {}", short(msg));
    }
    if let Some(f) = functions
        .iter()
        .find(|n| UNSUPPORTED_FUNCTIONS.contains(&n.as_str()))
    {
        return format!("unsupported function {f}");
    }
    if let Some(a) = aggregations
        .iter()
        .find(|n| UNSUPPORTED_AGGREGATIONS.contains(&n.as_str()))
    {
        return format!("unsupported aggregation {a}");
    }
    if e.annotations() {
        return "annotations: the engine does not report warn/info annotations".into();
    }
    format!("differs: {}", short(msg))
}

/// The failure message cut to one line of about 100 characters.
fn short(msg: &str) -> String {
    let mut out: String = msg.chars().take(100).collect();
    if out.len() < msg.len() {
        out.push('…');
    }
    out.replace('\n', " ")
}

/// Which syntax promql-parser 0.11.1 rejected, judged from the query text.
fn rejected_syntax(query: &str) -> &'static str {
    let words = |w: &[&str]| w.iter().any(|w| query.contains(w));
    if words(&[" anchored", " smoothed"]) {
        "syntax: promql-parser 0.11.1 rejects the `anchored`/`smoothed` range modifiers"
    } else if words(&["</", ">/"]) {
        "syntax: promql-parser 0.11.1 rejects the histogram trim operators `</` and `>/`"
    } else if words(&["fill(", "fill_left(", "fill_right("]) {
        "syntax: promql-parser 0.11.1 rejects the `fill` modifiers"
    } else if words(&[
        "offset (",
        "offset -(",
        "step()",
        "range()",
        "STEP()",
        "RANGE()",
    ]) || query.contains('[')
    {
        "duration expressions: promql-parser 0.11.1 rejects them"
    } else if query.contains("info(") {
        "syntax: promql-parser 0.11.1 rejects `info` with a selector matching only empty-matching labels"
    } else {
        "syntax: promql-parser 0.11.1 rejects this query"
    }
}

fn invalid_utf8_escape(query: &str) -> bool {
    query.match_indices("\\x").any(|(i, _)| {
        query[i + 2..].starts_with([
            '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'A', 'B', 'C', 'D', 'E', 'F',
        ])
    })
}

/// Collects function and aggregation names and selectors of an expression.
fn walk<'e>(
    e: &'e Expr,
    f: &mut BTreeSet<String>,
    a: &mut BTreeSet<String>,
    sel: &mut Vec<&'e VectorSelector>,
) {
    match e {
        Expr::Aggregate(x) => {
            a.insert(x.op.to_string());
            if let Some(p) = &x.param {
                walk(p, f, a, sel);
            }
            walk(&x.expr, f, a, sel);
        }
        Expr::Unary(x) => walk(&x.expr, f, a, sel),
        Expr::Binary(x) => {
            walk(&x.lhs, f, a, sel);
            walk(&x.rhs, f, a, sel);
        }
        Expr::Paren(x) => walk(&x.expr, f, a, sel),
        Expr::Subquery(x) => walk(&x.expr, f, a, sel),
        Expr::VectorSelector(vs) => sel.push(vs),
        Expr::MatrixSelector(ms) => sel.push(&ms.vs),
        Expr::Call(c) => {
            f.insert(c.func.name.to_string());
            c.args.args.iter().for_each(|x| walk(x, f, a, sel));
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_matchers(vs: &VectorSelector) -> Vec<Vec<Matcher>> {
    let name = vs
        .name
        .as_ref()
        .map(|n| Matcher::new(MatchOp::Equal, "__name__", n));
    let groups = if vs.matchers.or_matchers.is_empty() {
        vec![vs.matchers.matchers.clone()]
    } else {
        vs.matchers.or_matchers.clone()
    };
    groups
        .into_iter()
        .map(|g| g.into_iter().chain(name.clone()).collect())
        .collect()
}
