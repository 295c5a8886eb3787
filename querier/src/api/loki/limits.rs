//! Loki's per-tenant query limits, checked before a query runs
//! (`max_entries_limit_per_query`, `max_query_length`) and on its result
//! (`max_query_series`). With several tenants the strictest applies.

use common::limits::{Limits, Overrides};
use common::tenant::TenantId;

use super::error::LokiError;
use crate::logql::ast::fmt_duration;
use crate::logql::{Expr, LogqlError, LogqlResult, LogqlValue, QueryParams};
use crate::promql::QueryValue;

/// The strictest of the tenants' limits: `f` of each, zero meaning none.
pub(crate) fn strictest(
    overrides: &Overrides,
    tenants: &[TenantId],
    f: impl Fn(&Limits) -> u64,
) -> u64 {
    tenants
        .iter()
        .map(|t| f(&overrides.get(t)))
        .filter(|&v| v > 0)
        .min()
        .unwrap_or(0)
}

/// A limit refusal, answered 400 like Loki's.
pub(crate) fn limit_error(msg: String) -> LokiError {
    LokiError::Query(LogqlError::Limit(msg))
}

/// Refuses a log query asking for more lines than allowed, and any query
/// over a longer range than allowed.
pub(crate) fn check_request(
    overrides: &Overrides,
    tenants: &[TenantId],
    expr: &Expr,
    qp: &QueryParams,
) -> Result<(), LokiError> {
    let max_entries = strictest(overrides, tenants, |l| l.max_entries_limit_per_query as u64);
    if matches!(expr, Expr::Log(_)) && max_entries > 0 && qp.limit as u64 > max_entries {
        return Err(limit_error(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {max_entries})",
            qp.limit
        )));
    }
    check_range(overrides, tenants, qp.start_ns, qp.end_ns)
}

/// Refuses a request over a longer range than `max_query_length` allows.
pub(crate) fn check_range(
    overrides: &Overrides,
    tenants: &[TenantId],
    start_ns: i64,
    end_ns: i64,
) -> Result<(), LokiError> {
    let max_len = strictest(overrides, tenants, |l| {
        u64::try_from(l.max_query_length.as_nanos()).unwrap_or(u64::MAX)
    });
    let len = u64::try_from(end_ns.saturating_sub(start_ns)).unwrap_or(0);
    if max_len > 0 && len > max_len {
        return Err(limit_error(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            fmt_duration(i64::try_from(len).unwrap_or(i64::MAX)),
            fmt_duration(i64::try_from(max_len).unwrap_or(i64::MAX)),
        )));
    }
    Ok(())
}

/// Refuses a metric result with more series than allowed.
pub(crate) fn check_result(
    overrides: &Overrides,
    tenants: &[TenantId],
    result: &LogqlResult,
) -> Result<(), LokiError> {
    let max_series = strictest(overrides, tenants, |l| l.max_query_series as u64);
    let series = match &result.value {
        LogqlValue::Metric(QueryValue::Vector(v)) => v.len(),
        LogqlValue::Metric(QueryValue::Matrix(m)) => m.len(),
        _ => 0,
    };
    if max_series > 0 && series as u64 > max_series {
        return Err(limit_error(format!(
            "maximum number of series ({max_series}) reached for a single query; consider reducing query cardinality by adding more filters to the stream selector or by using more specific aggregations (max_query_series)"
        )));
    }
    Ok(())
}
