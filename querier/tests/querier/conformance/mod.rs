//! Runs Prometheus's PromQL acceptance scripts (`promqltest` format, in
//! `shared/conformance/promql/testdata` beside the repository) against the
//! engine.
//!
//! Every eval either passes or is listed, with a reason, in
//! `known_failures.txt` ([`known_failures`]); the suite fails when an
//! unlisted eval fails and when a listed one passes. Every instant eval is
//! also re-run as a range query from t-1m to t+1m (README rule 4b); the
//! `@`-rewriting reruns (rule 4a) are not done.

mod classify;
mod compare;
mod hints;
mod histogram_syntax;
mod known_failures;
mod nhcb;
mod script;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_querier::promql::{Annotations, Engine, EngineOptions, QueryRange, QueryValue};
use classify::LoadedFeatures;
use common::histogram::HistogramSample;
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::{STALE_NAN_BITS, Sample};
use common::tenant::TenantId;
use compare::{compare_matrix, compare_sets, float_eq, single_value};
use script::{AnnotationKind, Command, Eval, Item};

use crate::support::MemStore;

const TENANT: &str = "conformance";

/// Prometheus's scripts live in `shared/conformance/promql/testdata`, in
/// `shared/` beside the repository (or beside the directory holding a
/// worktree of it): the first ancestor that has it wins.
fn testdata_dir() -> PathBuf {
    let rel = "shared/conformance/promql/testdata";
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join(rel))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no {rel} above {}", env!("CARGO_MANIFEST_DIR")))
}

/// Outcome of one eval.
enum Outcome {
    Pass,
    Fail(String),
}

/// One failing eval.
struct Failure {
    /// `file:line`, the key of `known_failures.txt`.
    key: String,
    /// The query.
    query: String,
    /// What went wrong.
    msg: String,
    /// The feature it needs, for the list.
    reason: String,
}

/// Per-file results.
#[derive(Default)]
struct Report {
    pass: usize,
    failures: Vec<Failure>,
}

struct Harness {
    store: Arc<MemStore>,
    engine: Engine,
    tenant: TenantId,
    loaded: LoadedFeatures,
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
            loaded: LoadedFeatures::default(),
        }
    }

    fn load(&mut self, interval: i64, nhcb: bool, series: Vec<script::SeriesLine>) {
        if nhcb {
            for (labels, histograms) in nhcb::convert(&series, interval) {
                self.loaded.histogram_series.push(labels.clone());
                self.store
                    .add_histograms(TENANT, labels, hints::as_stored(histograms));
            }
        }
        for s in series {
            let histograms: Vec<HistogramSample> = s
                .items
                .iter()
                .enumerate()
                .filter_map(|(k, it)| match it {
                    Item::Histogram(h) => Some(HistogramSample {
                        t: k as i64 * interval,
                        h: h.clone(),
                    }),
                    _ => None,
                })
                .collect();
            if !histograms.is_empty() {
                self.loaded.histogram_series.push(s.labels.clone());
                self.store
                    .add_histograms(TENANT, s.labels.clone(), hints::as_stored(histograms));
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

    async fn run(&self, eval: &Eval) -> Outcome {
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
        let result = match (result, e.fail) {
            (Err(err), true) => return check_failure(&err.to_string(), e),
            (Err(err), false) => return Outcome::Fail(format!("unexpected error: {err}")),
            (Ok(r), true) => {
                return Outcome::Fail(format!("expected failure, got {}", describe(&r.value)));
            }
            (Ok(r), false) => r,
        };
        if let Err(msg) = check_annotations(&result.annotations, e) {
            return Outcome::Fail(msg);
        }
        let value = result.value;
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
            Ok(r) => r.value,
            Err(err) => return Outcome::Fail(format!("range re-run failed: {err}")),
        };
        let QueryValue::Matrix(series) = value else {
            return Outcome::Fail("range re-run gave no matrix".into());
        };
        let at_t: Vec<(Labels, Item)> = series
            .iter()
            .filter_map(|s| {
                compare::points(s)
                    .into_iter()
                    .find(|p| p.0 == t)
                    .map(|p| (s.labels.clone(), p.1))
            })
            .collect();
        let expected: Vec<(Labels, Item)> = match eval.expect.scalar {
            Some(v) => vec![(Labels::default(), Item::Value(v))],
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

/// README rule (2): every `expect warn|info` line matches an annotation of
/// its kind, and once one is present every annotation of that kind matches
/// one; `no_warn`/`no_info` allow none, `eval_warn`/`eval_info` need one.
fn check_annotations(got: &Annotations, e: &script::Expectation) -> Result<(), String> {
    let kinds = [
        (
            AnnotationKind::Warn,
            &got.warnings,
            e.require_warn,
            e.no_warn,
        ),
        (AnnotationKind::Info, &got.infos, e.require_info, e.no_info),
    ];
    for (kind, texts, required, forbidden) in kinds {
        let wanted: Vec<&script::TextMatch> = e
            .annotations
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| &a.text)
            .collect();
        if forbidden && !texts.is_empty() {
            return Err(format!("unexpected {kind:?} annotations {texts:?}"));
        }
        if (required || !wanted.is_empty()) && texts.is_empty() {
            return Err(format!("expected a {kind:?} annotation, got none"));
        }
        if let Some(w) = wanted.iter().find(|w| !texts.iter().any(|t| w.matches(t))) {
            return Err(format!(
                "no {kind:?} annotation matches {w:?}; got {texts:?}"
            ));
        }
        if !wanted.is_empty()
            && let Some(t) = texts.iter().find(|t| !wanted.iter().any(|w| w.matches(t)))
        {
            return Err(format!("unexpected {kind:?} annotation {t:?}"));
        }
    }
    Ok(())
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
    let got: Vec<(Labels, Item)> = samples
        .iter()
        .map(|s| (s.labels.clone(), compare::item(s.v, s.h.as_ref())))
        .collect();
    let want: Vec<(Labels, Item)> = e
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
async fn run_file(name: &str) -> Report {
    let path = testdata_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let commands = script::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut harness = Harness::new();
    let mut report = Report::default();
    for cmd in commands {
        match cmd {
            Command::Clear => {
                harness.store.clear();
                harness.loaded.clear();
            }
            Command::Load {
                interval,
                nhcb,
                series,
                with_start_timestamps,
            } => {
                harness
                    .loaded
                    .start_timestamp_series
                    .extend(with_start_timestamps);
                harness.load(interval, nhcb, series);
            }
            Command::Eval(eval) => match harness.run(&eval).await {
                Outcome::Pass => report.pass += 1,
                Outcome::Fail(msg) => report.failures.push(Failure {
                    key: format!("{name}:{}", eval.line),
                    reason: classify::reason(&eval, &harness.loaded, &msg),
                    query: eval.query.clone(),
                    msg,
                }),
            },
        }
    }
    report
}

/// Every script file, sorted.
fn script_files() -> Vec<String> {
    let dir = testdata_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".test"))
        .collect();
    files.sort();
    files
}

fn percent(pass: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        pass as f64 * 100.0 / total as f64
    }
}

/// Runs every script: prints the pass rate per file and overall, and fails
/// if an eval outside `known_failures.txt` fails or a listed one passes.
/// `CONFORMANCE_VERBOSE=1` prints every failure.
#[tokio::test]
async fn every_eval_passes_or_is_a_known_failure() {
    let known = known_failures::load();
    let verbose = std::env::var_os("CONFORMANCE_VERBOSE").is_some();
    let (mut pass, mut total) = (0, 0);
    let mut failing = known_failures::List::new();
    let mut unexpected = Vec::new();
    let mut files_seen = Vec::new();
    for file in script_files() {
        let r = run_file(&file).await;
        let n = r.pass + r.failures.len();
        println!(
            "{file:<28} {:>4}/{n:<4} {:6.2}%",
            r.pass,
            percent(r.pass, n)
        );
        pass += r.pass;
        total += n;
        for f in r.failures {
            let line = format!("{} `{}`: {} [{}]", f.key, f.query, f.msg, f.reason);
            if verbose {
                println!("    FAIL {line}");
            }
            if !known.contains_key(&f.key) {
                unexpected.push(line);
            }
            failing.insert(f.key, f.reason);
        }
        files_seen.push(file);
    }
    println!(
        "overall: {pass}/{total} evals pass ({:.2}%), {} known failures",
        percent(pass, total),
        failing.len()
    );
    if std::env::var_os("CONFORMANCE_BLESS").is_some() {
        known_failures::store(&failing).expect("writing known_failures.txt");
        return;
    }
    let fixed: Vec<&String> = known.keys().filter(|k| !failing.contains_key(*k)).collect();
    let by_reason = failing
        .values()
        .fold(BTreeMap::<&str, usize>::new(), |mut m, r| {
            *m.entry(r.split(':').next().unwrap_or(r)).or_default() += 1;
            m
        });
    for (reason, n) in by_reason {
        println!("    {n:>5}  {reason}");
    }
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} evals failed that known_failures.txt does not list:\n  {}\n\
         {} listed evals now pass (remove them):\n  {}\n\
         (CONFORMANCE_BLESS=1 rewrites the list)",
        unexpected.len(),
        unexpected.join("\n  "),
        fixed.len(),
        fixed
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
    );
}

#[test]
fn stale_marker_only_equals_itself() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    assert!(float_eq(stale, stale));
    assert!(!float_eq(stale, f64::NAN));
    assert!(float_eq(1.0, 1.0 + 1e-9));
}
