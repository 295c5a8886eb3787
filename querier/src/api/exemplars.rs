//! `/api/v1/query_exemplars`: the exemplars of every series a PromQL query
//! selects, like Prometheus's `parser.ExtractSelectors` plus an exemplar
//! query per selector.

use std::collections::BTreeMap;

use common::exemplar::{Exemplar, ExemplarSource, SeriesExemplars};
use common::labels::Labels;
use common::series::{Matcher, StoreError};
use common::tenant::TenantId;
use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};

use super::params::matcher_sets;
use crate::promql::TENANT_LABEL;

/// The matcher sets of every vector selector in `expr` (a selector with
/// `or` alternatives yields one set per alternative), the metric name
/// included as an `__name__` matcher.
pub(crate) fn selectors(expr: &Expr) -> Vec<Vec<Matcher>> {
    struct Collect(Vec<Vec<Matcher>>);
    impl ExprVisitor for Collect {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            match e {
                Expr::VectorSelector(vs) => self.0.extend(matcher_sets(vs)),
                Expr::MatrixSelector(ms) => self.0.extend(matcher_sets(&ms.vs)),
                _ => {}
            }
            Ok(true)
        }
    }
    let mut c = Collect(Vec::new());
    // The visitor never fails.
    let _ = walk_expr(&mut c, expr);
    c.0
}

/// The exemplars in `[start, end]` of the series `selectors` match, for
/// each tenant (several tenants: series carry [`TENANT_LABEL`]), sorted by
/// series.
pub(crate) async fn query(
    source: &dyn ExemplarSource,
    tenants: &[TenantId],
    selectors: &[Vec<Matcher>],
    start: i64,
    end: i64,
) -> Result<Vec<SeriesExemplars>, StoreError> {
    let mut out: BTreeMap<Labels, Vec<Exemplar>> = BTreeMap::new();
    for tenant in tenants {
        for mut s in source.exemplars(tenant, selectors, start, end).await? {
            if tenants.len() > 1 {
                s.series.set(TENANT_LABEL, tenant.as_str());
            }
            let list = out.entry(s.series).or_default();
            for e in s.exemplars {
                if !list.iter().any(|x| x.same_as(&e)) {
                    list.push(e);
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(series, mut exemplars)| {
            exemplars.sort_by_key(|e| e.timestamp);
            SeriesExemplars { series, exemplars }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_come_from_every_vector_and_matrix_selector() {
        let expr =
            promql_parser::parser::parse(r#"sum(rate(a{job="x"}[5m])) / on() b or {__name__="c"}"#)
                .unwrap();
        let sets = selectors(&expr);
        assert_eq!(sets.len(), 3);
        assert!(
            sets[0]
                .iter()
                .any(|m| m.name == "__name__" && m.value == "a")
        );
        assert!(sets[0].iter().any(|m| m.name == "job" && m.value == "x"));
    }

    #[test]
    fn literals_have_no_selectors() {
        let expr = promql_parser::parser::parse("1 + 2").unwrap();
        assert!(selectors(&expr).is_empty());
    }
}
