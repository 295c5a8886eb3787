//! `info(v, [selector])`: enriches each series of `v` with the data labels
//! of the info series (by default `target_info`) that share its
//! identifying labels (`instance`, `job`), as Prometheus's experimental
//! `info` function does. The info series are fetched like any selector:
//! [`info_selector`] is what both the fetch planner and the evaluator read.

use std::collections::HashMap;

use common::labels::{Labels, METRIC_NAME};
use common::series::{MatchOp, Matcher};
use promql_parser::label::Matchers;
use promql_parser::parser::token::T_EQL_REGEX;
use promql_parser::parser::{Expr, VectorSelector};

use super::QueryError;
use super::eval::{Evaluator, Selected};
use super::value::Sample;

/// Labels that identify the target an info series describes.
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];
/// The info metric read when the selector names none.
const DEFAULT_INFO_METRIC: &str = "target_info";

/// The selector for the info series of an `info` call: the second argument
/// (if any) with the default metric name when it has no `__name__` matcher,
/// and restricted to `*_info` metrics when it only excludes names.
pub(crate) fn info_selector(args: &[Expr]) -> VectorSelector {
    let given = args.get(1).and_then(|a| match a {
        Expr::VectorSelector(vs) => Some(vs.clone()),
        _ => None,
    });
    let mut vs = given.unwrap_or_else(|| VectorSelector::new(None, Matchers::empty()));
    let names_metric =
        vs.name.is_some() || vs.matchers.matchers.iter().any(|m| m.name == METRIC_NAME);
    if !names_metric {
        vs.matchers.matchers.push(Matcher::new(
            MatchOp::Equal,
            METRIC_NAME,
            DEFAULT_INFO_METRIC,
        ));
    } else if !name_matchers(&vs).iter().any(is_positive)
        && let Ok(m) = Matcher::new_matcher(T_EQL_REGEX, METRIC_NAME.into(), ".+_info".into())
    {
        vs.matchers.matchers.push(m);
    }
    vs
}

/// True for `=` and `=~` matchers.
fn is_positive(m: &Matcher) -> bool {
    matches!(m.op, MatchOp::Equal | MatchOp::Re(_))
}

/// The `__name__` matchers of the info selector.
fn name_matchers(vs: &VectorSelector) -> Vec<Matcher> {
    let mut out: Vec<Matcher> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name == METRIC_NAME)
        .cloned()
        .collect();
    out.extend(
        vs.name
            .as_ref()
            .map(|n| Matcher::new(MatchOp::Equal, METRIC_NAME, n)),
    );
    out
}

/// Evaluates `info(args…)` at `t`.
pub(crate) fn eval(ev: &Evaluator<'_>, args: &[Expr], t: i64) -> Result<Vec<Sample>, QueryError> {
    let base = ev.eval_vector(&args[0], t)?;
    let vs = info_selector(args);
    let names = name_matchers(&vs);
    let data: Vec<&Matcher> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name != METRIC_NAME)
        .collect();
    // Per identifying-label values, the newest info series of each name.
    let mut infos: HashMap<Vec<String>, HashMap<String, Selected<'_>>> = HashMap::new();
    for s in ev.select_instant(&vs, t)? {
        if s.h.is_some() {
            return Err(QueryError::exec(format!(
                "info series {} holds a native histogram; info metrics must be floats",
                s.labels
            )));
        }
        let name = s.labels.metric_name().unwrap_or_default().to_string();
        let newest = infos.entry(identity(s.labels)).or_default();
        if newest.get(&name).is_none_or(|cur| cur.t < s.t) {
            newest.insert(name, s);
        }
    }
    let all_accept_empty = data.iter().all(|m| m.is_match(""));
    let mut out = Vec::with_capacity(base.len());
    for mut s in base {
        let own_name = s.labels.metric_name().unwrap_or_default();
        if names.iter().any(is_positive) && names.iter().all(|m| m.is_match(own_name)) {
            out.push(s);
            continue;
        }
        match infos.get(&identity(&s.labels)) {
            Some(found) if !found.is_empty() => {
                let mut added = Labels::default();
                for info in found.values() {
                    add_data_labels(&mut s.labels, &mut added, info.labels, &data)?;
                }
                out.push(s);
            }
            _ if all_accept_empty => out.push(s),
            _ => {}
        }
    }
    Ok(out)
}

fn identity(labels: &Labels) -> Vec<String> {
    IDENTIFYING_LABELS
        .iter()
        .map(|n| labels.get(n).unwrap_or_default().to_string())
        .collect()
}

/// Adds the info series' data labels the base lacks (only those the data
/// matchers name, when there are any), recording them in `added`; two info
/// series giving one label different values is an error.
fn add_data_labels(
    base: &mut Labels,
    added: &mut Labels,
    info: &Labels,
    data: &[&Matcher],
) -> Result<(), QueryError> {
    for l in info.iter() {
        let is_data = l.name != METRIC_NAME && !IDENTIFYING_LABELS.contains(&l.name.as_str());
        let wanted = data.is_empty() || data.iter().any(|m| m.name == l.name);
        if !is_data || !wanted {
            continue;
        }
        match added.get(&l.name) {
            Some(v) if v != l.value => {
                return Err(QueryError::exec(format!(
                    "conflicting label: {} has values {v:?} and {:?} in different info series",
                    l.name, l.value
                )));
            }
            Some(_) => {}
            None if base.get(&l.name).is_none() => {
                base.set(&l.name, &l.value);
                added.set(&l.name, &l.value);
            }
            None => {}
        }
    }
    Ok(())
}
