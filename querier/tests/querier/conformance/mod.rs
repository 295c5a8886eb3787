//! Runs Prometheus's PromQL acceptance scripts (`promqltest` format, copied
//! to `shared/conformance/promql/testdata` beside the repository) against the engine.
//!
//! Each eval either passes, fails, or is skipped for a listed reason keyed
//! by a feature of the query or its data ([`SKIPS`]); nothing is skipped
//! silently. For the gated files a test asserts that no in-scope eval fails,
//! so a regression breaks the build. Every instant eval is also re-run as a
//! range query from t-1m to t+1m (README rule 4b); the `@`-rewriting reruns
//! (rule 4a) are not done.

mod script;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use cairn_querier::promql::{Engine, EngineOptions, QueryRange, QueryValue};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::{Matcher, STALE_NAN_BITS, Sample, is_stale_nan, matches_all};
use common::tenant::TenantId;
use promql_parser::parser::{Expr, VectorSelector};
use script::{Command, Eval, Item};

use crate::support::MemStore;

/// Prometheus's scripts live in `shared/`, which sits beside the repository.
const TESTDATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/promql/testdata"
);
const TENANT: &str = "conformance";

/// What the skip rules look at.
struct Features<'a> {
    eval: &'a Eval,
    parsed: Result<Expr, String>,
    functions: BTreeSet<String>,
    aggregations: BTreeSet<String>,
    touches_histograms: bool,
    touches_start_timestamps: bool,
}

/// A reason to skip an eval, and the query/data feature that triggers it.
struct Skip {
    reason: &'static str,
    applies: fn(&Features<'_>) -> bool,
}

/// Functions and operators outside this engine's scope.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "info",
    "histogram_fraction",
    "histogram_quantiles",
    "start_timestamp",
];
const UNSUPPORTED_AGGREGATIONS: &[&str] = &["limit_ratio"];

/// Every skip rule, checked in order.
const SKIPS: &[Skip] = &[
    Skip {
        reason: "native histograms: the float-only SeriesStore does not hold histogram samples",
        applies: |f| f.eval.expect.histograms || f.touches_histograms,
    },
    Skip {
        reason: "start timestamps (`@st` lines): the SeriesStore does not hold them",
        applies: |f| f.touches_start_timestamps,
    },
    Skip {
        reason: "annotations: the engine does not report warn/info annotations",
        applies: |f| f.eval.expect.annotations,
    },
    Skip {
        reason: "unsupported function (info, histogram_fraction, histogram_quantiles, start_timestamp)",
        applies: |f| {
            f.functions
                .iter()
                .any(|n| UNSUPPORTED_FUNCTIONS.contains(&n.as_str()))
        },
    },
    Skip {
        reason: "unsupported experimental aggregation (limit_ratio)",
        applies: |f| {
            f.aggregations
                .iter()
                .any(|n| UNSUPPORTED_AGGREGATIONS.contains(&n.as_str()))
        },
    },
    Skip {
        reason: "syntax promql-parser 0.11.1 rejects (duration expressions, anchored/smoothed, …)",
        applies: |f| {
            let e = &f.eval.expect;
            f.parsed.is_err() && (!e.fail || e.fail_msg.is_some() || e.fail_regex.is_some())
        },
    },
    Skip {
        reason: "invalid UTF-8 spelled with \\x escapes cannot be held in a Rust string",
        applies: |f| invalid_utf8_escape(&f.eval.query),
    },
];

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
        .map(|n| Matcher::new(common::series::MatchOp::Equal, "__name__", n));
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

/// Outcome of one eval.
enum Outcome {
    Pass,
    Skip(&'static str),
    Fail(String),
}

/// Per-file results.
#[derive(Default)]
pub struct Report {
    pub pass: usize,
    pub skips: BTreeMap<&'static str, usize>,
    pub failures: Vec<String>,
}

impl Report {
    fn skipped(&self) -> usize {
        self.skips.values().sum()
    }
}

struct Harness {
    store: Arc<MemStore>,
    engine: Engine,
    tenant: TenantId,
    /// Label sets of series that hold native histograms (not loaded).
    histogram_series: Vec<Labels>,
    /// Label sets of series given start timestamps (not stored).
    start_timestamp_series: Vec<Labels>,
}

impl Harness {
    fn new() -> Self {
        let store = Arc::new(MemStore::default());
        let opts = EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 10_000,
            default_subquery_step: Duration::from_secs(60),
            timeout: Duration::from_secs(60),
        };
        let engine = Engine::new(
            store.clone(),
            Arc::new(Overrides::new(Limits::default())),
            opts,
        );
        Self {
            store,
            engine,
            tenant: TenantId::parse(TENANT).expect("tenant"),
            histogram_series: Vec::new(),
            start_timestamp_series: Vec::new(),
        }
    }

    fn load(&mut self, interval: i64, nhcb: bool, series: Vec<script::SeriesLine>) {
        for s in series {
            if s.items.contains(&Item::Histogram) {
                self.histogram_series.push(s.labels);
                continue;
            }
            if nhcb
                && s.labels
                    .metric_name()
                    .is_some_and(|n| n.ends_with("_bucket"))
                && s.labels.get("le").is_some()
            {
                let mut base = s.labels.clone();
                base.remove("le");
                let name = base
                    .metric_name()
                    .unwrap_or_default()
                    .trim_end_matches("_bucket")
                    .to_string();
                base.set("__name__", &name);
                self.histogram_series.push(base);
            }
            let samples = s
                .items
                .iter()
                .enumerate()
                .filter_map(|(k, it)| match it {
                    Item::Value(v) => Some(Sample {
                        t: k as i64 * interval,
                        v: *v,
                    }),
                    _ => None,
                })
                .collect();
            self.store.add(TENANT, s.labels, samples);
        }
    }

    fn features<'a>(&self, eval: &'a Eval) -> Features<'a> {
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
        Features {
            eval,
            parsed,
            functions,
            aggregations,
            touches_histograms: touches(&self.histogram_series),
            touches_start_timestamps: touches(&self.start_timestamp_series),
        }
    }

    async fn run(&self, eval: &Eval) -> Outcome {
        let features = self.features(eval);
        if let Some(skip) = SKIPS.iter().find(|s| (s.applies)(&features)) {
            return Outcome::Skip(skip.reason);
        }
        let range = match (eval.instant, eval.range) {
            (Some(t), _) => QueryRange::Instant(t),
            (None, Some((start, end, step))) => QueryRange::Range { start, end, step },
            _ => return Outcome::Fail("eval without time".into()),
        };
        let result = self
            .engine
            .query(std::slice::from_ref(&self.tenant), &eval.query, range)
            .await;
        let e = &eval.expect;
        let value = match (result, e.fail) {
            (Err(err), true) => return check_failure(&err.to_string(), e),
            (Err(err), false) => return Outcome::Fail(format!("unexpected error: {err}")),
            (Ok(v), true) => {
                return Outcome::Fail(format!("expected failure, got {}", describe(&v)));
            }
            (Ok(v), false) => v,
        };
        let checked = match eval.instant {
            Some(t) => check_instant(&value, eval, t),
            None => check_range(&value, eval),
        };
        if let Err(msg) = checked {
            return Outcome::Fail(msg);
        }
        match eval.instant {
            Some(t) if wants_range_rerun(eval) => self.range_rerun(eval, t).await,
            _ => Outcome::Pass,
        }
    }

    /// README rule 4b: the instant result must also appear at `t` in a
    /// range query from t-1m to t+1m.
    async fn range_rerun(&self, eval: &Eval, t: i64) -> Outcome {
        let range = QueryRange::Range {
            start: t - 60_000,
            end: t + 60_000,
            step: 60_000,
        };
        let value = match self
            .engine
            .query(std::slice::from_ref(&self.tenant), &eval.query, range)
            .await
        {
            Ok(v) => v,
            Err(err) => return Outcome::Fail(format!("range re-run failed: {err}")),
        };
        let QueryValue::Matrix(series) = value else {
            return Outcome::Fail("range re-run gave no matrix".into());
        };
        let at_t: Vec<(Labels, f64)> = series
            .iter()
            .filter_map(|s| {
                s.samples
                    .iter()
                    .find(|p| p.t == t)
                    .map(|p| (s.labels.clone(), p.v))
            })
            .collect();
        let expected: Vec<(Labels, f64)> = match eval.expect.scalar {
            Some(v) => vec![(Labels::default(), v)],
            None => eval
                .expect
                .series
                .iter()
                .filter_map(|s| single_value(&s.items).map(|v| (s.labels.clone(), v)))
                .collect(),
        };
        match compare_sets(&at_t, &expected) {
            Ok(()) => Outcome::Pass,
            Err(msg) => Outcome::Fail(format!("range re-run at t: {msg}")),
        }
    }
}

fn wants_range_rerun(eval: &Eval) -> bool {
    let e = &eval.expect;
    let q = &eval.query;
    e.string.is_none()
        && e.range_vector.is_none()
        && !e.ordered
        && !["start()", "end()", "range()", "step()"]
            .iter()
            .any(|f| q.contains(f))
        && promql_parser::parser::parse(q).is_ok_and(|x| {
            matches!(
                x.value_type(),
                promql_parser::parser::value::ValueType::Vector
                    | promql_parser::parser::value::ValueType::Scalar
            )
        })
}

fn check_failure(msg: &str, e: &script::Expectation) -> Outcome {
    if let Some(want) = e.fail_msg.as_ref().filter(|want| *want != msg) {
        return Outcome::Fail(format!("error {msg:?}, expected message {want:?}"));
    }
    if let Some(re) = &e.fail_regex {
        match regex::Regex::new(re) {
            Ok(r) if r.is_match(msg) => {}
            _ => return Outcome::Fail(format!("error {msg:?} does not match {re:?}")),
        }
    }
    Outcome::Pass
}

fn describe(v: &QueryValue) -> String {
    match v {
        QueryValue::Scalar { v, .. } => format!("scalar {v}"),
        QueryValue::String { v, .. } => format!("string {v:?}"),
        QueryValue::Vector(s) => format!("vector of {}", s.len()),
        QueryValue::Matrix(s) => format!("matrix of {}", s.len()),
    }
}

/// Prometheus's `almost.Equal` with the stale-marker rule.
fn float_eq(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if is_stale_nan(a) || is_stale_nan(b) {
        return a.to_bits() == b.to_bits();
    }
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn single_value(items: &[Item]) -> Option<f64> {
    match items {
        [Item::Value(v)] => Some(*v),
        _ => None,
    }
}

fn compare_sets(got: &[(Labels, f64)], want: &[(Labels, f64)]) -> Result<(), String> {
    for (labels, v) in want {
        match got.iter().find(|(l, _)| l == labels) {
            None => {
                let got: Vec<String> = got.iter().map(|(l, v)| format!("{l} {v}")).collect();
                return Err(format!("missing series {labels}; got [{}]", got.join(", ")));
            }
            Some((_, g)) if !float_eq(*g, *v) => {
                return Err(format!("{labels}: got {g}, want {v}"));
            }
            Some(_) => {}
        }
    }
    if let Some((l, _)) = got.iter().find(|(l, _)| !want.iter().any(|(w, _)| w == l)) {
        return Err(format!("unexpected series {l}"));
    }
    if got.len() != want.len() {
        return Err(format!("got {} series, want {}", got.len(), want.len()));
    }
    Ok(())
}

/// Expected points of a series line for steps `start + k*step`.
fn expected_points(items: &[Item], start: i64, step: i64) -> Vec<Sample> {
    items
        .iter()
        .enumerate()
        .filter_map(|(k, it)| match it {
            Item::Value(v) => Some(Sample {
                t: start + k as i64 * step,
                v: *v,
            }),
            _ => None,
        })
        .collect()
}

fn compare_matrix(
    got: &[common::series::Series],
    eval: &Eval,
    start: i64,
    step: i64,
) -> Result<(), String> {
    let want: Vec<(Labels, Vec<Sample>)> = eval
        .expect
        .series
        .iter()
        .map(|s| (s.labels.clone(), expected_points(&s.items, start, step)))
        .collect();
    for (labels, points) in &want {
        let Some(g) = got.iter().find(|s| &s.labels == labels) else {
            return Err(format!("missing series {labels}"));
        };
        let same = g.samples.len() == points.len()
            && g.samples
                .iter()
                .zip(points)
                .all(|(a, b)| a.t == b.t && float_eq(a.v, b.v));
        if !same {
            let fmt = |p: &[Sample]| {
                p.iter()
                    .map(|p| format!("{}@{}", p.v, p.t / 1000))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(format!(
                "{labels}: got [{}], want [{}]",
                fmt(&g.samples),
                fmt(points)
            ));
        }
    }
    if let Some(extra) = got
        .iter()
        .find(|s| !want.iter().any(|(l, _)| *l == s.labels))
    {
        return Err(format!("unexpected series {}", extra.labels));
    }
    if got.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("matrix is not sorted by labels".into());
    }
    Ok(())
}

fn check_instant(value: &QueryValue, eval: &Eval, t: i64) -> Result<(), String> {
    let e = &eval.expect;
    if let Some(want) = &e.string {
        return match value {
            QueryValue::String { v, .. } if v == want => Ok(()),
            other => Err(format!("got {}, want string {want:?}", describe(other))),
        };
    }
    if let Some(want) = e.scalar {
        return match value {
            QueryValue::Scalar { v, .. } if float_eq(*v, want) => Ok(()),
            other => Err(format!("got {}, want scalar {want}", describe(other))),
        };
    }
    if let Some((start, _end, step)) = e.range_vector {
        return match value {
            QueryValue::Matrix(series) => compare_matrix(series, eval, start, step),
            other => Err(format!("got {}, want a range vector", describe(other))),
        };
    }
    let QueryValue::Vector(samples) = value else {
        return Err(format!("got {}, want a vector", describe(value)));
    };
    if samples.iter().any(|s| s.t != t) {
        return Err("vector sample with a timestamp other than the evaluation time".into());
    }
    let got: Vec<(Labels, f64)> = samples.iter().map(|s| (s.labels.clone(), s.v)).collect();
    let want: Vec<(Labels, f64)> = e
        .series
        .iter()
        .map(|s| {
            single_value(&s.items)
                .map(|v| (s.labels.clone(), v))
                .ok_or_else(|| format!("{}: expected one value", s.labels))
        })
        .collect::<Result<_, _>>()?;
    compare_sets(&got, &want)?;
    if e.ordered && got.iter().zip(&want).any(|(g, w)| g.0 != w.0) {
        return Err(format!(
            "order differs: got [{}]",
            got.iter()
                .map(|(l, _)| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

fn check_range(value: &QueryValue, eval: &Eval) -> Result<(), String> {
    let (start, _, step) = eval.range.unwrap_or_default();
    match value {
        QueryValue::Matrix(series) => compare_matrix(series, eval, start, step),
        other => Err(format!("got {}, want a matrix", describe(other))),
    }
}

/// Runs one script file.
pub async fn run_file(name: &str) -> Report {
    let text = std::fs::read_to_string(format!("{TESTDATA}/{name}")).expect("read test file");
    let commands = script::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut harness = Harness::new();
    let mut report = Report::default();
    for cmd in commands {
        match cmd {
            Command::Clear => {
                harness.store.clear();
                harness.histogram_series.clear();
                harness.start_timestamp_series.clear();
            }
            Command::Load {
                interval,
                nhcb,
                series,
                with_start_timestamps,
            } => {
                harness.start_timestamp_series.extend(with_start_timestamps);
                harness.load(interval, nhcb, series);
            }
            Command::Eval(eval) => match harness.run(&eval).await {
                Outcome::Pass => report.pass += 1,
                Outcome::Skip(reason) => *report.skips.entry(reason).or_default() += 1,
                Outcome::Fail(msg) => report
                    .failures
                    .push(format!("{name}:{} `{}`: {msg}", eval.line, eval.query)),
            },
        }
    }
    report
}

fn print_report(name: &str, r: &Report) {
    println!(
        "{name}: pass {} skip {} fail {}",
        r.pass,
        r.skipped(),
        r.failures.len()
    );
    for (reason, n) in &r.skips {
        println!("    skip {n:>4}  {reason}");
    }
    for f in &r.failures {
        println!("    FAIL {f}");
    }
}

/// Runs `file` and fails if any in-scope eval failed.
async fn assert_file_passes(file: &str) {
    let report = run_file(file).await;
    print_report(file, &report);
    assert!(
        report.failures.is_empty(),
        "{file}: {} in-scope evals failed (see output)",
        report.failures.len()
    );
}

macro_rules! gated {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                assert_file_passes($file).await;
            }
        )*
    };
}

gated! {
    functions_test => "functions.test",
    operators_test => "operators.test",
    aggregators_test => "aggregators.test",
    selectors_test => "selectors.test",
    staleness_test => "staleness.test",
    at_modifier_test => "at_modifier.test",
    literals_test => "literals.test",
    range_queries_test => "range_queries.test",
    subquery_test => "subquery.test",
    trig_functions_test => "trig_functions.test",
    collision_test => "collision.test",
    histograms_test => "histograms.test",
    duration_expression_test => "duration_expression.test",
    extended_vectors_test => "extended_vectors.test",
    fill_modifier_test => "fill-modifier.test",
    name_label_dropping_test => "name_label_dropping.test",
    start_timestamps_test => "start_timestamps.test",
    type_and_unit_test => "type_and_unit.test",
}

/// Prints the pass/skip/fail summary of every script (not gated).
#[tokio::test]
async fn summary_of_all_scripts() {
    let mut files: Vec<String> = std::fs::read_dir(TESTDATA)
        .unwrap_or_else(|e| panic!("reading {TESTDATA}: {e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test"))
        .collect();
    files.sort();
    for f in files {
        let r = run_file(&f).await;
        println!(
            "{f:<28} pass {:>4} skip {:>4} fail {:>4}",
            r.pass,
            r.skipped(),
            r.failures.len()
        );
        if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
            print_report(&f, &r);
        }
    }
}

#[test]
fn stale_marker_only_equals_itself() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    assert!(float_eq(stale, stale));
    assert!(!float_eq(stale, f64::NAN));
    assert!(float_eq(1.0, 1.0 + 1e-9));
}
