//! Loads every selector's data once per query, before evaluation.
//!
//! The AST is walked to find each distinct selector and the widest time
//! range any evaluation step can read from it (`[start - lookback - range -
//! offset, end - offset]`, widened by enclosing subqueries and pinned by
//! `@`). Each is fetched from the store once per tenant; evaluation then
//! steps through the data in memory.

use std::collections::HashMap;

use common::limits::Overrides;
use common::series::{MatchOp, Matcher, Series, SeriesStore, StoreError, merge_series};
use common::tenant::TenantId;
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use super::{QueryError, TENANT_LABEL, duration_ms};

/// The evaluation times and lookback a query covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryWindow {
    pub start: i64,
    pub end: i64,
    pub lookback: i64,
}

/// Fetched series per selector, keyed by [`selector_key`].
pub(crate) type Fetched = HashMap<String, Vec<Series>>;

/// Identifies a selector by its matchers (offset and `@` excluded), so equal
/// selectors share one fetch.
pub(crate) fn selector_key(vs: &VectorSelector) -> String {
    format!("{}{{{}}}", vs.name.as_deref().unwrap_or(""), vs.matchers)
}

/// The matcher sets a selector's series must satisfy (one per `or` branch),
/// each including the metric-name matcher.
fn matcher_sets(vs: &VectorSelector) -> Vec<Vec<Matcher>> {
    let name = vs
        .name
        .as_ref()
        .map(|n| Matcher::new(MatchOp::Equal, common::labels::METRIC_NAME, n));
    let mut sets = vec![vs.matchers.matchers.clone()];
    if !vs.matchers.or_matchers.is_empty() {
        sets = vs.matchers.or_matchers.clone();
        if !vs.matchers.matchers.is_empty() {
            sets.push(vs.matchers.matchers.clone());
        }
    }
    for set in &mut sets {
        set.extend(name.clone());
    }
    sets
}

/// Milliseconds an `offset` shifts a selector back in time.
pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

/// The fixed evaluation time an `@` modifier pins to, if any.
pub(crate) fn at_ms(at: &Option<AtModifier>, query_start: i64, query_end: i64) -> Option<i64> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(query_start),
        Some(AtModifier::End) => Some(query_end),
        Some(AtModifier::At(t)) => Some(match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => duration_ms(d),
            Err(e) => -duration_ms(e.duration()),
        }),
    }
}

struct Planner {
    window: QueryWindow,
    /// selector key → (matcher sets, mint, maxt)
    plans: HashMap<String, (Vec<Vec<Matcher>>, i64, i64)>,
}

impl Planner {
    fn selector(&mut self, vs: &VectorSelector, range: Option<i64>, from: i64, to: i64) {
        let (from, to) = match at_ms(&vs.at, self.window.start, self.window.end) {
            Some(t) => (t, t),
            None => (from, to),
        };
        let off = offset_ms(&vs.offset);
        let lookback = self.window.lookback;
        // `anchored` also reads the sample before the range (up to one
        // lookback back); `smoothed` also the one after it.
        let back = match range {
            Some(r) if vs.anchored || vs.smoothed => r.saturating_add(lookback),
            Some(r) => r,
            None => lookback,
        };
        let ahead = if vs.smoothed { lookback } else { 0 };
        let mint = from.saturating_sub(back).saturating_sub(off);
        let maxt = to.saturating_sub(off).saturating_add(ahead);
        let entry = self
            .plans
            .entry(selector_key(vs))
            .or_insert_with(|| (matcher_sets(vs), mint, maxt));
        entry.1 = entry.1.min(mint);
        entry.2 = entry.2.max(maxt);
    }

    fn walk(&mut self, expr: &Expr, from: i64, to: i64) {
        match expr {
            Expr::VectorSelector(vs) => self.selector(vs, None, from, to),
            Expr::MatrixSelector(ms) => {
                self.selector(&ms.vs, Some(duration_ms(ms.range)), from, to)
            }
            Expr::Subquery(sq) => {
                let (from, to) = match at_ms(&sq.at, self.window.start, self.window.end) {
                    Some(t) => (t, t),
                    None => (from, to),
                };
                let off = offset_ms(&sq.offset);
                let from = from
                    .saturating_sub(duration_ms(sq.range))
                    .saturating_sub(off);
                self.walk(&sq.expr, from, to.saturating_sub(off));
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.walk(p, from, to);
                }
                self.walk(&a.expr, from, to);
            }
            Expr::Unary(u) => self.walk(&u.expr, from, to),
            Expr::Binary(b) => {
                self.walk(&b.lhs, from, to);
                self.walk(&b.rhs, from, to);
            }
            Expr::Paren(p) => self.walk(&p.expr, from, to),
            Expr::Call(c) if c.func.name == "info" => {
                if let Some(base) = c.args.args.first() {
                    self.walk(base, from, to);
                }
                let args: Vec<Expr> = c.args.args.iter().map(|a| (**a).clone()).collect();
                self.selector(&super::info::info_selector(&args), None, from, to);
            }
            Expr::Call(c) => c.args.args.iter().for_each(|a| self.walk(a, from, to)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
}

/// Fetches every selector of `expr` for every tenant, enforcing each
/// tenant's `max_fetched_series_per_query` and `max_query_lookback`.
pub(crate) async fn fetch(
    store: &dyn SeriesStore,
    overrides: &Overrides,
    tenants: &[TenantId],
    expr: &Expr,
    window: QueryWindow,
) -> Result<Fetched, QueryError> {
    let mut planner = Planner {
        window,
        plans: HashMap::new(),
    };
    planner.walk(expr, window.start, window.end);
    let now = common::time::now_ms();
    let multi = tenants.len() > 1;
    let mut out: Fetched = HashMap::with_capacity(planner.plans.len());
    let mut fetched_per_tenant = vec![0usize; tenants.len()];
    for (key, (sets, mint, maxt)) in planner.plans {
        let mut all = Vec::new();
        for (ti, tenant) in tenants.iter().enumerate() {
            let limits = overrides.get(tenant);
            let lookback = duration_ms(limits.max_query_lookback);
            let mint = if lookback > 0 {
                mint.max(now.saturating_sub(lookback))
            } else {
                mint
            };
            if mint > maxt {
                continue;
            }
            let mut lists = Vec::with_capacity(sets.len());
            for set in &sets {
                lists.push(store.select(tenant, set, mint, maxt).await?);
            }
            let mut series = merge_series(lists);
            fetched_per_tenant[ti] += series.len();
            let limit = limits.max_fetched_series_per_query;
            if limit > 0 && fetched_per_tenant[ti] > limit {
                return Err(StoreError::TooManySeries { limit }.into());
            }
            if multi {
                for s in &mut series {
                    s.labels.set(TENANT_LABEL, tenant.as_str());
                }
            }
            all.extend(series);
        }
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        out.insert(key, all);
    }
    Ok(out)
}
