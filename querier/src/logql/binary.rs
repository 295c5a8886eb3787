//! Binary operators between scalars and vectors: arithmetic, comparisons
//! (filtering, or 0/1 with `bool`), `and`/`or`/`unless`, with
//! `on`/`ignoring` matching and `group_left`/`group_right`.

use std::collections::HashMap;

use common::labels::Labels;
use promql_parser::parser::token::{
    T_ADD, T_DIV, T_EQLC, T_GTE, T_GTR, T_LSS, T_LTE, T_MOD, T_MUL, T_NEQ, T_POW, T_SUB,
};

use super::LogqlError;
use super::ast::{BinOp, Binary, GroupSide, VectorMatching};
use super::metric::{StepSeries, Val};
use crate::promql::binary::apply;

fn token(op: BinOp) -> u16 {
    match op {
        BinOp::Add => T_ADD,
        BinOp::Sub => T_SUB,
        BinOp::Mul => T_MUL,
        BinOp::Div => T_DIV,
        BinOp::Mod => T_MOD,
        BinOp::Pow => T_POW,
        BinOp::Eq => T_EQLC,
        BinOp::Ne => T_NEQ,
        BinOp::Gt => T_GTR,
        BinOp::Ge => T_GTE,
        BinOp::Lt => T_LSS,
        BinOp::Le => T_LTE,
        BinOp::And | BinOp::Or | BinOp::Unless => 0,
    }
}

/// `l op r` for one pair of values: `None` when a comparison filters it out.
/// As in Loki (unlike PromQL's ±Inf), dividing by zero or taking a modulo
/// by zero gives NaN.
fn value(b: &Binary, l: f64, r: f64, keep_right: bool) -> Result<Option<f64>, LogqlError> {
    if matches!(b.op, BinOp::Div | BinOp::Mod) && r == 0.0 {
        return Ok(Some(f64::NAN));
    }
    let (v, holds) = apply(token(b.op), l, r).map_err(|e| LogqlError::BadQuery(e.to_string()))?;
    if !b.op.is_comparison() {
        return Ok(Some(v));
    }
    if b.return_bool {
        return Ok(Some(if holds { 1.0 } else { 0.0 }));
    }
    Ok(holds.then_some(if keep_right { r } else { v }))
}

/// Evaluates `b` on its evaluated operands.
pub(crate) fn eval(b: &Binary, lhs: Val, rhs: Val, steps: usize) -> Result<Val, LogqlError> {
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            if b.op.is_comparison() && !b.return_bool {
                return Err(LogqlError::BadQuery(
                    "comparisons between scalars must use BOOL modifier".into(),
                ));
            }
            Ok(Val::Scalar(value(b, l, r, false)?.unwrap_or(f64::NAN)))
        }
        (Val::Vector(v), Val::Scalar(s)) => with_scalar(b, v, s, false),
        (Val::Scalar(s), Val::Vector(v)) => with_scalar(b, v, s, true),
        (Val::Vector(l), Val::Vector(r)) => {
            if b.op.is_set() {
                Ok(Val::Vector(set_op(b, l, r, steps)))
            } else {
                vector_vector(b, l, r, steps).map(Val::Vector)
            }
        }
    }
}

fn with_scalar(
    b: &Binary,
    v: Vec<StepSeries>,
    s: f64,
    scalar_left: bool,
) -> Result<Val, LogqlError> {
    let mut out = Vec::with_capacity(v.len());
    for mut series in v {
        for x in series.values.iter_mut() {
            if let Some(val) = *x {
                *x = if scalar_left {
                    value(b, s, val, true)?
                } else {
                    value(b, val, s, false)?
                };
            }
        }
        if series.values.iter().any(Option::is_some) {
            out.push(series);
        }
    }
    Ok(Val::Vector(out))
}

/// The labels two series are matched on.
fn signature(labels: &Labels, m: Option<&VectorMatching>) -> Labels {
    let mut l = labels.clone();
    match m {
        None => {}
        Some(m) if m.on => {
            let drop: Vec<String> = l
                .iter()
                .filter(|x| !m.labels.contains(&x.name))
                .map(|x| x.name.clone())
                .collect();
            for n in drop {
                l.remove(&n);
            }
        }
        Some(m) => {
            for n in &m.labels {
                l.remove(n);
            }
        }
    }
    l
}

fn set_op(b: &Binary, l: Vec<StepSeries>, r: Vec<StepSeries>, steps: usize) -> Vec<StepSeries> {
    let m = b.matching.as_ref();
    let mut present: HashMap<Labels, Vec<bool>> = HashMap::new();
    let side = if b.op == BinOp::Or { &l } else { &r };
    for s in side {
        let e = present
            .entry(signature(&s.labels, m))
            .or_insert_with(|| vec![false; steps]);
        for (i, v) in s.values.iter().enumerate() {
            if v.is_some()
                && let Some(slot) = e.get_mut(i)
            {
                *slot = true;
            }
        }
    }
    let has = |labels: &Labels, i: usize| {
        present
            .get(&signature(labels, m))
            .is_some_and(|p| p.get(i).copied().unwrap_or(false))
    };
    let keep_if = |mut s: StepSeries, want: bool| {
        for i in 0..s.values.len() {
            if has(&s.labels, i) != want {
                s.values[i] = None;
            }
        }
        s
    };
    let out: Vec<StepSeries> = match b.op {
        BinOp::And => l.into_iter().map(|s| keep_if(s, true)).collect(),
        BinOp::Unless => l.into_iter().map(|s| keep_if(s, false)).collect(),
        _ => l
            .iter()
            .cloned()
            .chain(r.into_iter().map(|s| keep_if(s, false)))
            .collect(),
    };
    // `or` may yield the same labels from both sides at different steps.
    let mut merged: Vec<StepSeries> = Vec::with_capacity(out.len());
    for s in out
        .into_iter()
        .filter(|s| s.values.iter().any(Option::is_some))
    {
        match merged.iter_mut().find(|m| m.labels == s.labels) {
            Some(m) => {
                for (slot, v) in m.values.iter_mut().zip(s.values) {
                    if slot.is_none() {
                        *slot = v;
                    }
                }
            }
            None => merged.push(s),
        }
    }
    merged
}

fn vector_vector(
    b: &Binary,
    l: Vec<StepSeries>,
    r: Vec<StepSeries>,
    steps: usize,
) -> Result<Vec<StepSeries>, LogqlError> {
    let m = b.matching.as_ref();
    let group = m.and_then(|m| m.group.as_ref());
    let right_many = matches!(group, Some((GroupSide::Right, _)));
    let (many, one) = if right_many { (r, l) } else { (l, r) };
    let mut one_by_sig: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, s) in one.iter().enumerate() {
        one_by_sig
            .entry(signature(&s.labels, m))
            .or_default()
            .push(i);
    }
    let mut out: HashMap<Labels, StepSeries> = HashMap::new();
    let mut many_seen: HashMap<(Labels, usize), ()> = HashMap::new();
    for s in &many {
        let sig = signature(&s.labels, m);
        let Some(candidates) = one_by_sig.get(&sig) else {
            continue;
        };
        let mut values = vec![None; steps];
        let mut result_labels: Option<Labels> = None;
        for (i, slot) in values.iter_mut().enumerate() {
            let Some(mv) = s.values.get(i).copied().flatten() else {
                continue;
            };
            let mut matched = candidates
                .iter()
                .filter(|&&c| one[c].values.get(i).copied().flatten().is_some());
            let Some(&c) = matched.next() else { continue };
            if matched.next().is_some() {
                return Err(LogqlError::BadQuery(format!(
                    "found duplicate series for the match group {sig} on the {} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side",
                    if right_many { "left" } else { "right" }
                )));
            }
            let Some(ov) = one[c].values.get(i).copied().flatten() else {
                continue;
            };
            if group.is_none() && many_seen.insert((sig.clone(), i), ()).is_some() {
                return Err(LogqlError::BadQuery(format!(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right) for {sig}"
                )));
            }
            let (lv, rv) = if right_many { (ov, mv) } else { (mv, ov) };
            *slot = value(b, lv, rv, false)?;
            if result_labels.is_none() {
                result_labels = Some(result_metric(&s.labels, &one[c].labels, m));
            }
        }
        let Some(labels) = result_labels else {
            continue;
        };
        let entry = out.entry(labels.clone()).or_insert_with(|| StepSeries {
            labels,
            values: vec![None; steps],
        });
        for (i, v) in values.into_iter().enumerate() {
            if v.is_some() {
                entry.values[i] = v;
            }
        }
    }
    let mut out: Vec<StepSeries> = out
        .into_values()
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

/// The labels of a result: one-to-one keeps the `on` labels (or drops the
/// `ignoring` ones); grouping keeps the "many" side's labels plus the
/// listed labels of the "one" side.
fn result_metric(many: &Labels, one: &Labels, m: Option<&VectorMatching>) -> Labels {
    let Some(m) = m else {
        return many.clone();
    };
    match &m.group {
        None => signature(many, Some(m)),
        Some((_, include)) => {
            let mut l = many.clone();
            for name in include {
                match one.get(name) {
                    Some(v) => l.set(name, v),
                    None => l.remove(name),
                }
            }
            l
        }
    }
}
