//! Instant-vector and scalar functions (`abs`, `label_replace`,
//! `histogram_quantile`, `sort`, …) and the dispatch to range-vector
//! functions. Behaviour follows Prometheus's `promql/functions.go`.

use std::cmp::Ordering;

use common::labels::{Labels, METRIC_NAME};
use common::series::MatchOp;
use promql_parser::parser::{Call, Expr};

use super::QueryError;
use super::annotations::Annotation;
use super::dates;
use super::eval::{Evaluator, duplicate_labelset};
use super::histogram;
use super::info;
use super::range_functions;
use super::value::{Sample, Value};

/// Evaluates a function call at time `t`.
pub(crate) fn call(ev: &Evaluator<'_>, call: &Call, t: i64) -> Result<Value, QueryError> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| unwrap_parens(a)).collect();
    if let Some(f) = simple_math(name) {
        let v = ev.eval_vector(args[0], t)?;
        return Ok(Value::Vector(map_values(v, f)));
    }
    if let Some(f) = histogram::functions::statistic(name) {
        let v = ev.with_stats_decoding(|| ev.eval_vector(args[0], t))?;
        return Ok(Value::Vector(histogram::functions::map_histograms(v, f)));
    }
    if let Some(f) = dates::function(name) {
        return Ok(match args.first() {
            None => Value::Vector(vec![Sample::new(Labels::default(), f(t.div_euclid(1000)))]),
            Some(arg) => {
                Value::Vector(map_values(ev.eval_vector(arg, t)?, |v| f(go_f64_to_i64(v))))
            }
        });
    }
    match name {
        "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        "start" => Ok(Value::Scalar(ev.query_start as f64 / 1000.0)),
        "end" => Ok(Value::Scalar(ev.query_end as f64 / 1000.0)),
        "range" => Ok(Value::Scalar(
            (ev.query_end - ev.query_start) as f64 / 1000.0,
        )),
        "step" => Ok(Value::Scalar(ev.query_step as f64 / 1000.0)),
        "min_of" => Ok(Value::Scalar(go_min(
            ev.eval_scalar(args[0], t)?,
            ev.eval_scalar(args[1], t)?,
        ))),
        "max_of" => Ok(Value::Scalar(go_max(
            ev.eval_scalar(args[0], t)?,
            ev.eval_scalar(args[1], t)?,
        ))),
        "vector" => Ok(Value::Vector(vec![Sample::new(
            Labels::default(),
            ev.eval_scalar(args[0], t)?,
        )])),
        "scalar" => {
            let mut v = ev.eval_vector(args[0], t)?;
            v.retain(Sample::is_float);
            Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "timestamp" => timestamp(ev, args[0], t),
        "absent" => {
            let v = ev.eval_vector(args[0], t)?;
            Ok(Value::Vector(if v.is_empty() {
                vec![Sample::new(absent_labels(args[0]), 1.0)]
            } else {
                vec![]
            }))
        }
        "round" => {
            let to_nearest = match args.get(1) {
                Some(a) => ev.eval_scalar(a, t)?,
                None => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            Ok(Value::Vector(map_values(
                ev.eval_vector(args[0], t)?,
                |f| (f * inverse + 0.5).floor() / inverse,
            )))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let v = ev.eval_vector(args[0], t)?;
            let (min, max) = match name {
                "clamp" => (ev.eval_scalar(args[1], t)?, ev.eval_scalar(args[2], t)?),
                "clamp_min" => (ev.eval_scalar(args[1], t)?, f64::INFINITY),
                _ => (f64::NEG_INFINITY, ev.eval_scalar(args[1], t)?),
            };
            if max < min {
                return Ok(Value::Vector(vec![]));
            }
            Ok(Value::Vector(map_values(v, |f| {
                go_max(min, go_min(max, f))
            })))
        }
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(args[0], t)?;
            v.retain(Sample::is_float);
            if ev.is_range_query() {
                ev.annotate(Annotation::sort_in_range_query());
            }
            let desc = name == "sort_desc";
            v.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ if desc => b.v.total_cmp(&a.v),
                _ => a.v.total_cmp(&b.v),
            });
            Ok(Value::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = ev.eval_vector(args[0], t)?;
            if ev.is_range_query() {
                ev.annotate(Annotation::sort_in_range_query());
            }
            let names = args[1..]
                .iter()
                .map(|a| string_arg(a))
                .collect::<Result<Vec<_>, _>>()?;
            v.sort_by(|a, b| {
                let ord = names
                    .iter()
                    .map(|n| {
                        natural_cmp(a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""))
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or_else(|| a.labels.cmp(&b.labels));
                if name == "sort_by_label_desc" {
                    ord.reverse()
                } else {
                    ord
                }
            });
            Ok(Value::Vector(v))
        }
        "label_replace" => label_replace(ev, &args, t),
        "label_join" => label_join(ev, &args, t),
        "histogram_quantile" => {
            let q = ev.eval_scalar(args[0], t)?;
            if !(0.0..=1.0).contains(&q) {
                ev.annotate(Annotation::quantile_out_of_range(q));
            }
            let input = ev.eval_vector(args[1], t)?;
            Ok(Value::Vector(histogram::functions::quantile(ev, q, input)))
        }
        "info" => {
            let owned: Vec<Expr> = args.iter().map(|a| (*a).clone()).collect();
            info::eval(ev, &owned, t).map(Value::Vector)
        }
        "histogram_quantiles" => histogram::functions::quantiles(ev, &args, t).map(Value::Vector),
        "histogram_fraction" => {
            let lower = ev.eval_scalar(args[0], t)?;
            let upper = ev.eval_scalar(args[1], t)?;
            let input = ev.eval_vector(args[2], t)?;
            Ok(Value::Vector(histogram::functions::fraction(
                ev, lower, upper, input,
            )))
        }

        _ if range_functions::is_range_function(name) => range_functions::call(ev, name, &args, t),
        _ => Err(QueryError::exec(format!(
            "function \"{name}\" is not supported by this engine"
        ))),
    }
}

/// The expression inside any number of parentheses.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn string_arg(e: &Expr) -> Result<String, QueryError> {
    match unwrap_parens(e) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        other => Err(QueryError::exec(format!(
            "expected string literal, got {other}"
        ))),
    }
}

/// Applies `f` to every float value (histogram samples are dropped); the
/// result loses its metric name.
fn map_values(mut v: Vec<Sample>, f: impl Fn(f64) -> f64) -> Vec<Sample> {
    v.retain(Sample::is_float);
    for s in &mut v {
        s.v = f(s.v);
        s.drop_name = true;
    }
    v
}

fn simple_math(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Go's `math.Max`: NaN wins, +0 beats -0.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Go's float→int64 conversion on amd64 (out of range and NaN become `i64::MIN`).
fn go_f64_to_i64(v: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

fn timestamp(ev: &Evaluator<'_>, arg: &Expr, t: i64) -> Result<Value, QueryError> {
    let samples = match arg {
        Expr::VectorSelector(vs) => ev
            .select_instant(vs, t)?
            .into_iter()
            .map(|s| Sample {
                drop_name: true,
                ..Sample::new(s.labels.clone(), s.t as f64 / 1000.0)
            })
            .collect(),
        other => ev
            .eval_vector(other, t)?
            .into_iter()
            .map(|s| Sample {
                drop_name: true,
                ..Sample::new(s.labels, t as f64 / 1000.0)
            })
            .collect(),
    };
    Ok(Value::Vector(samples))
}

/// The labels `absent()` reports: the selector's equality matchers, except
/// labels matched more than once.
pub(crate) fn absent_labels(arg: &Expr) -> Labels {
    let matchers = match unwrap_parens(arg) {
        Expr::VectorSelector(vs) => &vs.matchers.matchers,
        Expr::MatrixSelector(ms) => &ms.vs.matchers.matchers,
        _ => return Labels::default(),
    };
    let mut labels = Labels::default();
    let mut seen = std::collections::HashSet::new();
    for m in matchers.iter().filter(|m| m.name != METRIC_NAME) {
        if m.op == MatchOp::Equal && seen.insert(m.name.as_str()) {
            labels.set(&m.name, &m.value);
        } else {
            labels.remove(&m.name);
        }
    }
    labels
}

fn valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// Rejects result vectors with two equal label sets (as Prometheus's
/// `mergeSeriesWithSameLabelset` does for one timestamp).
fn ensure_unique(v: &[Sample]) -> Result<(), QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    if v.iter().all(|s| seen.insert(&s.labels)) {
        Ok(())
    } else {
        Err(duplicate_labelset())
    }
}

fn label_replace(ev: &Evaluator<'_>, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
    let (dst, repl, src, pattern) = (
        string_arg(args[1])?,
        string_arg(args[2])?,
        string_arg(args[3])?,
        string_arg(args[4])?,
    );
    let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
        QueryError::exec(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut v = ev.eval_vector(args[0], t)?;
    for s in &mut v {
        let value = s.labels.get(&src).unwrap_or("");
        if let Some(caps) = re.captures(value) {
            let mut out = String::new();
            caps.expand(&repl, &mut out);
            s.labels.set(&dst, &out);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    ensure_unique(&v)?;
    Ok(Value::Vector(v))
}

fn label_join(ev: &Evaluator<'_>, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
    let (dst, sep) = (string_arg(args[1])?, string_arg(args[2])?);
    let srcs = args[3..]
        .iter()
        .map(|a| string_arg(a))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(bad) = srcs.iter().find(|s| !valid_label_name(s)) {
        return Err(QueryError::exec(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    if !valid_label_name(&dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut v = ev.eval_vector(args[0], t)?;
    for s in &mut v {
        let joined = srcs
            .iter()
            .map(|n| s.labels.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        s.labels.set(&dst, &joined);
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    ensure_unique(&v)?;
    Ok(Value::Vector(v))
}

/// Natural ordering: digit runs compare numerically, the rest bytewise.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x.0, y.0) {
            (true, true) => {
                let (xt, yt) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                xt.len().cmp(&yt.len()).then_with(|| xt.cmp(yt))
            }
            _ => x.1.cmp(y.1),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("b", "a10"), Ordering::Greater);
    }
}
