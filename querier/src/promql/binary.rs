//! Binary operators: arithmetic, comparison (with and without `bool`),
//! `atan2` and the set operators, between scalars and vectors, with
//! `on`/`ignoring`, `group_left`/`group_right` and `fill` vector matching.
//! Errors and result labels follow Prometheus's `VectorBinop`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::histogram::FloatHistogram;

use common::labels::{Labels, METRIC_NAME};
use promql_parser::label::Labels as LabelNames;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, T_TRIM_LOWER, T_TRIM_UPPER,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::QueryError;
use super::annotations::Annotation;
use super::eval::Evaluator;
use super::histogram::arith;
use super::histogram::trim::{Keep, trim};
use super::value::{Sample, Value, drop_metadata};

/// Evaluates a binary expression at time `t`.
pub(crate) fn eval(ev: &Evaluator<'_>, b: &BinaryExpr, t: i64) -> Result<Value, QueryError> {
    let op = b.op.id();
    let return_bool = b.return_bool();
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = apply(op, l, r)?;
            Ok(Value::Scalar(if is_comparison(op) {
                f64::from(u8::from(keep))
            } else {
                v
            }))
        }
        (Value::Vector(l), Value::Scalar(r)) => Ok(Value::Vector(vector_scalar(
            ev,
            op,
            l,
            r,
            false,
            return_bool,
        )?)),
        (Value::Scalar(l), Value::Vector(r)) => Ok(Value::Vector(vector_scalar(
            ev,
            op,
            r,
            l,
            true,
            return_bool,
        )?)),
        (Value::Vector(l), Value::Vector(r)) => {
            let default = BinModifier::default();
            let modifier = b.modifier.as_ref().unwrap_or(&default);
            let matching = Matching::from(modifier);
            Ok(Value::Vector(match op {
                T_LAND | T_LOR | T_LUNLESS => set_operation(op, l, r, &matching),
                _ => vector_vector(ev, op, l, r, &matching, modifier, return_bool)?,
            }))
        }
        (l, r) => Err(QueryError::exec(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic operators change what a metric means, so its name goes.
fn changes_metric_schema(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// `(value, keep)` of `l op r`; comparisons return `l` and whether it holds.
pub(crate) fn apply(op: u16, l: f64, r: f64) -> Result<(f64, bool), QueryError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => {
            return Err(QueryError::exec(
                "operator not allowed between these operands",
            ));
        }
    })
}

/// One side of an operation on sample values.
#[derive(Clone, Copy)]
struct Operand<'a> {
    v: f64,
    h: Option<&'a Arc<FloatHistogram>>,
}

impl<'a> Operand<'a> {
    fn of(s: &'a Sample) -> Self {
        Self {
            v: s.v,
            h: s.h.as_ref(),
        }
    }

    fn float(v: f64) -> Self {
        Self { v, h: None }
    }

    fn type_name(&self) -> &'static str {
        if self.h.is_some() {
            "histogram"
        } else {
            "float"
        }
    }
}

/// `l op r` on sample values.
enum Applied {
    /// A float result, and whether a comparison held.
    Float(f64, bool),
    /// A histogram result, and whether a comparison held.
    Histogram(Arc<FloatHistogram>, bool),
    /// No result for these operand types.
    Dropped,
}

/// `l op r` for floats and histograms, as Prometheus's `vectorElemBinop`:
/// histograms add and subtract, scale by floats (`*`, and `/` with the
/// histogram on the left), compare for (in)equality and are trimmed by a
/// float (`</`, `>/`); anything else drops the sample with an info.
fn apply_operands(
    ev: &Evaluator<'_>,
    op: u16,
    l: Operand<'_>,
    r: Operand<'_>,
) -> Result<Applied, QueryError> {
    let scaled =
        |h: &FloatHistogram, f: f64| Applied::Histogram(Arc::new(arith::scale(h, f)), true);
    Ok(match (l.h, r.h) {
        (Some(h), None) if matches!(op, T_TRIM_UPPER | T_TRIM_LOWER) => {
            let keep = if op == T_TRIM_UPPER {
                Keep::Below
            } else {
                Keep::Above
            };
            Applied::Histogram(Arc::new(trim(h, r.v, keep)), true)
        }
        (None, None) if !matches!(op, T_TRIM_UPPER | T_TRIM_LOWER) => {
            let (v, keep) = apply(op, l.v, r.v)?;
            Applied::Float(v, keep)
        }
        (Some(a), Some(b)) if matches!(op, T_ADD | T_SUB) => {
            let (sign, during) = if op == T_ADD {
                (1.0, "addition")
            } else {
                (-1.0, "subtraction")
            };
            if arith::mismatched_custom_buckets(a, b) {
                ev.annotate(Annotation::custom_buckets_reconciled(during));
            }
            match arith::combine(a, b, sign) {
                Ok(h) => Applied::Histogram(Arc::new(h), true),
                Err(e) => {
                    ev.annotate(Annotation::incompatible_histograms(e, ""));
                    Applied::Dropped
                }
            }
        }
        (Some(a), Some(b)) if matches!(op, T_EQLC | T_NEQ) => {
            let equal = arith::same_values(a, b);
            Applied::Histogram(a.clone(), equal == (op == T_EQLC))
        }
        (Some(h), None) if op == T_MUL => scaled(h, r.v),
        (None, Some(h)) if op == T_MUL => scaled(h, l.v),
        (Some(h), None) if op == T_DIV => Applied::Histogram(Arc::new(arith::divide(h, r.v)), true),
        _ => {
            ev.annotate(Annotation::incompatible_sample_types(
                l.type_name(),
                &op_display(op),
                r.type_name(),
            ));
            Applied::Dropped
        }
    })
}

fn op_display(op: u16) -> String {
    promql_parser::parser::token::TokenType::new(op).to_string()
}

fn vector_scalar(
    ev: &Evaluator<'_>,
    op: u16,
    vec: Vec<Sample>,
    scalar: f64,
    swap: bool,
    return_bool: bool,
) -> Result<Vec<Sample>, QueryError> {
    let mut out = Vec::with_capacity(vec.len());
    for mut s in vec {
        let (l, r) = if swap {
            (Operand::float(scalar), Operand::of(&s))
        } else {
            (Operand::of(&s), Operand::float(scalar))
        };
        let (mut v, mut keep) = match apply_operands(ev, op, l, r)? {
            Applied::Float(v, keep) => (v, keep),
            Applied::Histogram(h, keep) => {
                if keep {
                    s.h = Some(h);
                    if changes_metric_schema(op) {
                        s.drop_name = true;
                    }
                    out.push(s);
                }
                continue;
            }
            Applied::Dropped => continue,
        };
        if is_comparison(op) && swap {
            v = r.v;
        }
        if return_bool {
            v = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            s.v = v;
            if changes_metric_schema(op) || return_bool {
                s.drop_name = true;
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// How two vectors' series are paired.
struct Matching<'a> {
    /// `on(…)` when true, `ignoring(…)` (the default) when false.
    on: bool,
    labels: &'a [String],
    card: &'a VectorMatchCardinality,
}

impl<'a> Matching<'a> {
    fn from(m: &'a BinModifier) -> Self {
        let (on, labels): (bool, &[String]) = match &m.matching {
            Some(LabelModifier::Include(LabelNames { labels })) => (true, labels),
            Some(LabelModifier::Exclude(LabelNames { labels })) => (false, labels),
            None => (false, &[]),
        };
        Self {
            on,
            labels,
            card: &m.card,
        }
    }

    /// The join key of a series: its `on` labels, or all but the
    /// `ignoring` labels and the metric name.
    fn signature(&self, labels: &Labels) -> Labels {
        let listed = |name: &str| self.labels.iter().any(|n| n == name);
        Labels::from_sorted(
            labels
                .iter()
                .filter(|l| {
                    if self.on {
                        listed(&l.name)
                    } else {
                        l.name != METRIC_NAME && !listed(&l.name)
                    }
                })
                .cloned()
                .collect(),
        )
    }
}

fn set_operation(op: u16, lhs: Vec<Sample>, rhs: Vec<Sample>, m: &Matching<'_>) -> Vec<Sample> {
    match op {
        T_LAND if lhs.is_empty() || rhs.is_empty() => vec![],
        T_LAND | T_LUNLESS => {
            let right: HashSet<Labels> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
            let want = op == T_LAND;
            lhs.into_iter()
                .filter(|s| right.contains(&m.signature(&s.labels)) == want)
                .collect()
        }
        _ => {
            let left: HashSet<Labels> = lhs.iter().map(|s| m.signature(&s.labels)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|s| !left.contains(&m.signature(&s.labels))),
            );
            out
        }
    }
}

/// Arithmetic and comparison between two vectors.
fn vector_vector(
    ev: &Evaluator<'_>,
    op: u16,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    m: &Matching<'_>,
    modifier: &BinModifier,
    return_bool: bool,
) -> Result<Vec<Sample>, QueryError> {
    let fill = &modifier.fill_values;
    if (lhs.is_empty() && rhs.is_empty())
        || ((lhs.is_empty() || rhs.is_empty()) && fill.lhs.is_none() && fill.rhs.is_none())
    {
        return Ok(vec![]);
    }
    let (include, one_to_many): (&[String], bool) = match m.card {
        VectorMatchCardinality::ManyToOne(l) => (&l.labels, false),
        VectorMatchCardinality::OneToMany(l) => (&l.labels, true),
        _ => (&[], false),
    };
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    // The "many" side drives; for group_right swap the sides. Like
    // Prometheus, the fill values are not swapped with them.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let (fill_many, fill_one) = (fill.lhs, fill.rhs);

    let mut one_by_sig: HashMap<Labels, usize> = HashMap::with_capacity(one.len());
    let mut one_sigs = Vec::with_capacity(one.len());
    for (i, s) in one.iter().enumerate() {
        let sig = m.signature(&s.labels);
        if let Some(&dup) = one_by_sig.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(QueryError::exec(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                s.labels, one[dup].labels
            )));
        }
        one_by_sig.insert(sig.clone(), i);
        one_sigs.push(sig);
    }

    let mut join = Join {
        ev,
        op,
        m,
        include,
        one_to_one,
        one_to_many,
        return_bool,
        matched: HashMap::new(),
        out: Vec::new(),
    };
    for s in &many {
        let sig = m.signature(&s.labels);
        match one_by_sig.get(&sig) {
            Some(&i) => join.pair(s, &one[i], &sig)?,
            None => {
                if let Some(v) = fill_one {
                    join.pair(s, &Sample::new(sig.clone(), v), &sig)?;
                }
            }
        }
    }
    if let Some(v) = fill_many {
        for (i, sig) in one_sigs.iter().enumerate() {
            if !join.matched.contains_key(sig) {
                join.pair(&Sample::new(sig.clone(), v), &one[i], sig)?;
            }
        }
    }
    Ok(join.out)
}

/// State of one vector-vector operation: which match groups were used and
/// the output so far.
struct Join<'a> {
    ev: &'a Evaluator<'a>,
    op: u16,
    m: &'a Matching<'a>,
    include: &'a [String],
    one_to_one: bool,
    one_to_many: bool,
    return_bool: bool,
    /// Match group → result label sets produced for it.
    matched: HashMap<Labels, HashSet<Labels>>,
    out: Vec<Sample>,
}

impl Join<'_> {
    /// Applies the operator to a "many"-side and a "one"-side sample.
    fn pair(&mut self, many: &Sample, one: &Sample, sig: &Labels) -> Result<(), QueryError> {
        let (l, r) = if self.one_to_many {
            (Operand::of(one), Operand::of(many))
        } else {
            (Operand::of(many), Operand::of(one))
        };
        let (mut v, mut h, keep) = match apply_operands(self.ev, self.op, l, r)? {
            Applied::Float(v, keep) => (v, None, keep),
            Applied::Histogram(h, keep) => (0.0, Some(h), keep),
            Applied::Dropped => return Ok(()),
        };
        if self.return_bool {
            v = f64::from(u8::from(keep));
            h = None;
        }
        let labels = result_labels(
            &many.labels,
            &one.labels,
            self.op,
            self.m,
            self.include,
            self.one_to_one,
        );
        let seen = self.matched.entry(sig.clone()).or_default();
        if self.one_to_one {
            if !seen.is_empty() {
                return Err(QueryError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            seen.insert(Labels::default());
        } else if !seen.insert(labels.clone()) {
            return Err(QueryError::exec(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        if keep || self.return_bool {
            self.out.push(Sample {
                labels,
                v,
                h,
                drop_name: self.return_bool,
            });
        }
        Ok(())
    }
}

/// The labels of a vector-vector result: the "many" side's labels, minus
/// the name for arithmetic, reduced to `on` labels (or without `ignoring`
/// labels) for one-to-one matching, plus `group_x` labels from the "one" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: u16,
    m: &Matching<'_>,
    include: &[String],
    one_to_one: bool,
) -> Labels {
    let mut labels = many.clone();
    if changes_metric_schema(op) {
        drop_metadata(&mut labels);
    }
    if one_to_one {
        let listed = |name: &str| m.labels.iter().any(|n| n == name);
        labels = Labels::from_sorted(
            labels
                .iter()
                .filter(|l| listed(&l.name) == m.on)
                .cloned()
                .collect(),
        );
    }
    for name in include {
        labels.set(name, one.get(name).unwrap_or(""));
    }
    labels
}
