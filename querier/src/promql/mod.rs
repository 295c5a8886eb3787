//! The PromQL engine: parses a query, fetches every selector's data once for
//! the whole query range, then evaluates step by step in memory with
//! Prometheus 3 semantics (lookback delta, staleness markers, left-open range
//! vectors, `offset`, `@`, subqueries, delayed `__name__` removal).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use cairn_querier::promql::{Engine, EngineOptions, QueryRange};
//! # async fn demo(store: Arc<dyn common::series::SeriesStore>, overrides: Arc<common::limits::Overrides>) {
//! let engine = Engine::new(store, overrides, EngineOptions::default());
//! let tenant = common::tenant::TenantId::parse("team-a").unwrap();
//! let value = engine.query(&[tenant], "sum(rate(http_requests_total[5m]))", QueryRange::Instant(1_700_000_000_000)).await;
//! # }
//! ```

pub(crate) mod aggregate;
mod annotations;
pub(crate) mod binary;
pub mod complexity;
mod cursor;
pub(crate) mod dates;
mod duration_expr;
mod error;
mod eval;
mod extended_range;
mod fetch;
pub mod format;
mod functions;
pub(crate) mod histogram;
mod info;
pub(crate) mod kahan;
pub(crate) mod range_functions;
mod value;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cpu_work::CancelFlag;
use common::limits::Overrides;
use common::series::SeriesStore;
use common::tenant::TenantId;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr};

pub use annotations::Annotations;
pub use error::QueryError;
pub use value::{QueryResult, QueryValue, VectorSample};

/// Label added to every series when a query spans several tenants.
pub const TENANT_LABEL: &str = "__tenant_id__";

/// Engine settings (the querier's config feeds these).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample.
    pub lookback_delta: Duration,
    /// Most samples a query may hold in memory in one step (and in its result).
    pub max_samples: usize,
    /// Subquery resolution when a subquery gives none (`[1h:]`).
    pub default_subquery_step: Duration,
    /// Longest a query may run.
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            default_subquery_step: Duration::from_secs(60),
            timeout: Duration::from_secs(120),
        }
    }
}

/// When to evaluate a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryRange {
    /// One evaluation at this time (ms); the result has the expression's type.
    Instant(i64),
    /// Evaluations at `start, start+step, …, ≤ end` (ms); the result is a matrix.
    Range {
        /// First evaluation time (ms).
        start: i64,
        /// Last evaluation time (ms, inclusive).
        end: i64,
        /// Distance between evaluations (ms, > 0).
        step: i64,
    },
}

impl QueryRange {
    fn bounds(&self) -> (i64, i64, i64) {
        match *self {
            QueryRange::Instant(t) => (t, t, 1),
            QueryRange::Range { start, end, step } => (start, end, step.max(1)),
        }
    }
}

/// Evaluates PromQL over a [`SeriesStore`] on behalf of one or more tenants.
pub struct Engine {
    store: Arc<dyn SeriesStore>,
    overrides: Arc<Overrides>,
    opts: EngineOptions,
}

impl Engine {
    /// An engine reading `store`, enforcing the tenants' query limits.
    pub fn new(
        store: Arc<dyn SeriesStore>,
        overrides: Arc<Overrides>,
        opts: EngineOptions,
    ) -> Self {
        Self {
            store,
            overrides,
            opts,
        }
    }

    /// The options this engine runs with.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Runs `query` with the engine's configured timeout.
    pub async fn query(
        &self,
        tenants: &[TenantId],
        query: &str,
        range: QueryRange,
    ) -> Result<QueryResult, QueryError> {
        self.query_with_timeout(tenants, query, range, self.opts.timeout)
            .await
    }

    /// Runs `query` for `tenants` (several tenants: every series gets a
    /// [`TENANT_LABEL`]) and returns its value with the annotations it raised,
    /// failing with [`QueryError::Timeout`] after `timeout`. Dropping the
    /// returned future stops the evaluation.
    pub async fn query_with_timeout(
        &self,
        tenants: &[TenantId],
        query: &str,
        range: QueryRange,
        timeout: Duration,
    ) -> Result<QueryResult, QueryError> {
        self.query_cancellable(tenants, query, range, timeout, CancelFlag::new())
            .await
    }

    /// [`Engine::query_with_timeout`] that also stops, with
    /// [`QueryError::Cancelled`], once `cancel` is set: where the evaluation
    /// runs inline on a query pool thread, dropping the future cannot
    /// interrupt it, so whoever waits for it sets `cancel` when it goes away.
    pub async fn query_cancellable(
        &self,
        tenants: &[TenantId],
        query: &str,
        range: QueryRange,
        timeout: Duration,
        cancel: CancelFlag,
    ) -> Result<QueryResult, QueryError> {
        let deadline = Instant::now() + timeout;
        let (start, end, step) = match range {
            QueryRange::Instant(_) => (0, 0, 0),
            QueryRange::Range { start, end, step } => (start, end, step),
        };
        let expr = parse_for(query, step, end.saturating_sub(start))?;
        if let QueryRange::Range { .. } = range {
            let vt = expr.value_type();
            if vt != ValueType::Scalar && vt != ValueType::Vector {
                return Err(QueryError::BadQuery(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    type_display(vt)
                )));
            }
        }
        let (start, end, _) = range.bounds();
        let window = fetch::QueryWindow {
            start,
            end,
            lookback: duration_ms(self.opts.lookback_delta),
        };
        let fetched = tokio::time::timeout_at(
            deadline.into(),
            crate::store::budget::scope(fetch::fetch(
                &*self.store,
                &self.overrides,
                tenants,
                &expr,
                window,
            )),
        )
        .await
        .map_err(|_| QueryError::Timeout)??;
        let opts = self.opts.clone();
        // Evaluation on a blocking thread goes on when this future is
        // dropped: the guard tells it to stop.
        let _stop_when_dropped = cancel.cancel_on_drop();
        // The evaluator checks `deadline` and `cancel` itself, so it ends in
        // time even where it runs inline (on the query pool's threads).
        common::cpu_work::run_cpu_heavy(move || {
            let ev = eval::Evaluator::new(&fetched, &opts, range, deadline, cancel);
            let result = ev.run(&expr, range);
            if let Err(QueryError::Cancelled) = result {
                crate::frontend::count_cancelled_query();
            }
            result
        })
        .await
        .map_err(|e| QueryError::Execution(format!("query evaluation aborted: {e}")))?
    }
}

/// Parses a query, mapping the parser's error to [`QueryError::Parse`].
/// A query nesting or chaining more than [`complexity`] allows is refused
/// first, before any recursive code sees it.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    complexity::check_promql(query).map_err(|e| QueryError::Parse(e.to_string()))?;
    parser::parse(query).map_err(QueryError::Parse)
}

/// Parses a query the way the engine does for a query with this step and
/// range (milliseconds, 0 for an instant query): duration expressions such as
/// `[5m+30s]` or `[1h:step()*2]` are evaluated first.
pub fn parse_for(query: &str, step_ms: i64, range_ms: i64) -> Result<Expr, QueryError> {
    complexity::check_promql(query).map_err(|e| QueryError::Parse(e.to_string()))?;
    let times = duration_expr::QueryTimes { step_ms, range_ms };
    parse(&duration_expr::rewrite(query, times))
}

fn type_display(vt: ValueType) -> &'static str {
    match vt {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_are_no_duration_are_parse_errors() {
        for q in [
            "x offset nan",
            "histogram_quantile(0.9, rate(x_bucket[0m] offset nan @ end()))",
            "rate(x[1e400])",
            "x[5m:inf]",
            "x offset (1e300 * 1e300)",
            "x[1h:step()*1e300]",
        ] {
            assert!(
                matches!(parse_for(q, 15_000, 3_600_000), Err(QueryError::Parse(_))),
                "{q}"
            );
        }
    }
}
