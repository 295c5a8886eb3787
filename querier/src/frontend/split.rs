//! Splitting a range query at interval boundaries and merging the parts.
//!
//! PromQL evaluates each step of a range query independently, so a range
//! query over `start, start+step, …, end` equals the concatenation of range
//! queries over consecutive runs of the same evaluation times. The runs are
//! cut where the evaluation times cross a multiple of the split interval
//! (UTC-aligned: days start at midnight UTC), which keeps split keys stable
//! from one request to the next so finished days can be cached.

use common::series::Series;
use promql_parser::parser::{AggregateExpr, AtModifier, Expr, Offset, SubqueryExpr};
use promql_parser::util::{ExprVisitor, walk_expr};

/// One part of a split range query: evaluation times `start, start+step, …,
/// ≤ end`, all of them evaluation times of the original query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    pub start: i64,
    pub end: i64,
}

/// Cuts `start..=end` (every `step` ms) where evaluation times cross a
/// multiple of `interval` ms. `interval <= 0` or `step <= 0` keeps the range whole.
pub(crate) fn split_range(start: i64, end: i64, step: i64, interval: i64) -> Vec<Part> {
    if interval <= 0 || step <= 0 || end < start {
        return vec![Part { start, end }];
    }
    let mut parts = Vec::new();
    let mut s = start;
    loop {
        // First multiple of `interval` after `s`.
        let boundary = s
            .div_euclid(interval)
            .saturating_add(1)
            .saturating_mul(interval);
        // Last evaluation time before it (never before `s`).
        let last = s.saturating_add((boundary.saturating_sub(1).saturating_sub(s) / step) * step);
        let e = last.max(s).min(end);
        parts.push(Part { start: s, end: e });
        match e.checked_add(step) {
            Some(next) if next <= end => s = next,
            _ => break,
        }
    }
    parts
}

/// What the frontend may do with a query, read from its syntax tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Splitting cannot change the result: no `@ start()` / `@ end()`, whose
    /// meaning depends on the query's own range.
    pub splittable: bool,
    /// Results for past ranges are stable: no negative `offset` and no `@`
    /// (either can read data newer than the evaluation time).
    pub cacheable: bool,
}

impl Shape {
    /// The shape of `expr`.
    pub(crate) fn of(expr: &Expr) -> Self {
        let mut v = ShapeVisitor {
            shape: Shape {
                splittable: true,
                cacheable: true,
            },
        };
        // The visitor never fails.
        let _ = walk_expr(&mut v, expr);
        v.shape
    }
}

struct ShapeVisitor {
    shape: Shape,
}

impl ShapeVisitor {
    fn modifiers(&mut self, at: &Option<AtModifier>, offset: &Option<Offset>) {
        match at {
            Some(AtModifier::Start | AtModifier::End) => {
                self.shape.splittable = false;
                self.shape.cacheable = false;
            }
            Some(AtModifier::At(_)) => self.shape.cacheable = false,
            None => {}
        }
        if matches!(offset, Some(Offset::Neg(_))) {
            self.shape.cacheable = false;
        }
    }
}

impl ExprVisitor for ShapeVisitor {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        match expr {
            Expr::VectorSelector(vs) => self.modifiers(&vs.at, &vs.offset),
            Expr::MatrixSelector(ms) => self.modifiers(&ms.vs.at, &ms.vs.offset),
            Expr::Subquery(SubqueryExpr { at, offset, .. }) => self.modifiers(at, offset),
            // `walk_expr` does not descend into parameters (`topk(k, …)`).
            Expr::Aggregate(AggregateExpr {
                param: Some(param), ..
            }) => {
                let _ = walk_expr(self, param);
            }
            _ => {}
        }
        Ok(true)
    }
}

/// Joins the matrices of consecutive parts, in order, into one matrix sorted
/// by labels (the engine's order for range results).
pub(crate) fn merge<'a>(parts: impl IntoIterator<Item = &'a [Series]>) -> Vec<Series> {
    common::series::merge_series(parts.into_iter().map(<[Series]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    fn times(parts: &[Part], step: i64) -> Vec<i64> {
        parts
            .iter()
            .flat_map(|p| (p.start..=p.end).step_by(step as usize))
            .collect()
    }

    #[test]
    fn parts_cover_exactly_the_original_evaluation_times() {
        for (start, end, step) in [
            (5 * D + 7 * H + 13, 9 * D + 2 * H, 7 * 60_000 + 3),
            (D, 3 * D, H),
            (D - 1, D + 1, 1),
            (-3 * D - 5, 2 * D, 5 * H),
            (0, 10 * D, 3 * D),
        ] {
            let parts = split_range(start, end, step, D);
            let want: Vec<i64> = (start..=end).step_by(step as usize).collect();
            assert_eq!(times(&parts, step), want, "{start} {end} {step}");
            for p in &parts {
                assert!(p.start <= p.end);
                assert_eq!(
                    p.start.div_euclid(D),
                    p.end.div_euclid(D),
                    "{p:?} crosses midnight"
                );
            }
        }
    }

    #[test]
    fn splits_fall_on_utc_days() {
        let parts = split_range(D + 12 * H, 3 * D + H, H, D);
        assert_eq!(
            parts,
            [
                Part {
                    start: D + 12 * H,
                    end: 2 * D - H
                },
                Part {
                    start: 2 * D,
                    end: 3 * D - H
                },
                Part {
                    start: 3 * D,
                    end: 3 * D + H
                },
            ]
        );
        assert_eq!(split_range(0, D, H, 0), [Part { start: 0, end: D }]);
    }

    #[test]
    fn at_start_end_prevents_splitting_and_negative_offset_caching() {
        let shape = |q: &str| Shape::of(&promql_parser::parser::parse(q).unwrap());
        assert_eq!(
            shape("sum(rate(x[5m]))"),
            Shape {
                splittable: true,
                cacheable: true
            }
        );
        assert!(!shape("x @ start()").splittable);
        assert!(!shape("topk(scalar(y @ end()), x)").splittable);
        let neg = shape("rate(x[5m] offset -1h)");
        assert!(neg.splittable && !neg.cacheable);
        assert!(!shape("x @ 100").cacheable);
    }
}
