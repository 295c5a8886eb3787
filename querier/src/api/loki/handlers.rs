//! Thin axum handlers for the Loki query API: decode parameters, run the
//! LogQL engine or a store lookup per tenant, encode Loki's JSON.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use common::labels::Labels;
use common::logs::LogStats;
use common::series::Matcher;
use common::tenant::TenantId;

use super::error::LokiError;
use super::params::{self, DEFAULT_SINCE_NS, now_ns};
use super::{LokiState, json, limits};
use crate::api::handlers::{decode, ok_json};
use crate::api::json::{series_result, string_result, strings_result};
use crate::api::params::Params;
use crate::logql::{self, Expr, LogqlError, QueryParams};
use crate::promql::TENANT_LABEL;

/// Lookback of the label, series and stats endpoints without `start`.
const METADATA_SINCE_NS: i64 = 6 * DEFAULT_SINCE_NS;

/// Runs `query` and encodes the result, enforcing the query timeout.
async fn run(
    st: &LokiState,
    tenants: &[TenantId],
    query: &str,
    qp: QueryParams,
) -> Result<Response, LokiError> {
    let started = Instant::now();
    let expr = logql::parse(query).map_err(LogqlError::from)?;
    limits::check_request(&st.querier.overrides, tenants, &expr, &qp)?;
    let result = tokio::time::timeout(st.querier.cfg.timeout, st.engine.eval(tenants, &expr, &qp))
        .await
        .map_err(|_| LogqlError::Timeout)??;
    limits::check_result(&st.querier.overrides, tenants, &result)?;
    tracing::debug!(
        query,
        tenants = tenants.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        lines = result.stats.lines,
        "logql query"
    );
    Ok(ok_json(json::query_response(&result, started.elapsed())))
}

/// `GET|POST /loki/api/v1/query`: an instant metric query.
pub(crate) async fn query(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let query = p.require("query")?;
    let t = params::time_or(&p, "time", now_ns())?;
    let qp = QueryParams {
        start_ns: t,
        end_ns: t,
        step_ns: 0,
        instant: true,
        limit: params::limit(&p)?,
        direction: params::direction(&p)?,
        interval_ns: 0,
    };
    run(&st, &tenants, query, qp).await
}

/// `GET|POST /loki/api/v1/query_range`: log lines or a matrix.
pub(crate) async fn query_range(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let query = p.require("query")?;
    let (start, end) = params::range(&p, DEFAULT_SINCE_NS)?;
    let qp = QueryParams {
        start_ns: start,
        end_ns: end,
        step_ns: params::step(&p, start, end)?,
        instant: false,
        limit: params::limit(&p)?,
        direction: params::direction(&p)?,
        interval_ns: params::interval(&p)?,
    };
    run(&st, &tenants, query, qp).await
}

/// The selector of an optional `query` parameter.
fn optional_selector(p: &Params) -> Result<Vec<Matcher>, LokiError> {
    match p.get("query") {
        None => Ok(Vec::new()),
        Some(q) => Ok(logql::parse_selector(q).map_err(LogqlError::from)?),
    }
}

/// `start` and `end` of a label lookup as the store's half-open range:
/// Loki includes a line exactly at `end` in `labels` and `label/…/values`.
fn label_range(p: &Params) -> Result<(i64, i64), LokiError> {
    let (start, end) = params::range(p, METADATA_SINCE_NS)?;
    Ok((start, end.saturating_add(1)))
}

/// `GET|POST /loki/api/v1/labels`.
pub(crate) async fn labels(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let (start, end) = label_range(&p)?;
    let matchers = optional_selector(&p)?;
    let mut names = BTreeSet::new();
    for t in &tenants {
        names.extend(st.store.log_label_names(t, &matchers, start, end).await?);
    }
    let names: Vec<String> = names.into_iter().collect();
    Ok(ok_json(strings_result(&names, &[])))
}

/// `GET|POST /loki/api/v1/label/<name>/values`.
pub(crate) async fn label_values(
    State(st): State<Arc<LokiState>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let (start, end) = label_range(&p)?;
    let matchers = optional_selector(&p)?;
    let mut values = BTreeSet::new();
    for t in &tenants {
        values.extend(
            st.store
                .log_label_values(t, &name, &matchers, start, end)
                .await?,
        );
    }
    let values: Vec<String> = values.into_iter().collect();
    Ok(ok_json(strings_result(&values, &[])))
}

/// `GET|POST /loki/api/v1/series`: streams matching any `match[]`.
pub(crate) async fn series(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let (start, end) = params::range(&p, METADATA_SINCE_NS)?;
    let mut selectors = p.get_all("match[]");
    selectors.extend(p.get_all("match"));
    if selectors.is_empty() {
        return Err(LokiError::BadRequest(
            "at least one match[] argument is required".into(),
        ));
    }
    let mut out = BTreeSet::new();
    for sel in selectors {
        let matchers = logql::parse_selector(sel).map_err(LogqlError::from)?;
        for t in &tenants {
            for mut l in st.store.log_streams(t, &matchers, start, end).await? {
                if tenants.len() > 1 {
                    l.set(TENANT_LABEL, t.as_str());
                }
                out.insert(l);
            }
        }
    }
    let out: Vec<Labels> = out.into_iter().collect();
    Ok(ok_json(series_result(&out, &[])))
}

/// `GET|POST /loki/api/v1/index/stats`: totals for the query's selector.
pub(crate) async fn index_stats(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (tenants, p) = decode(&st.querier, req).await?;
    let (start, end) = params::range(&p, METADATA_SINCE_NS)?;
    let expr = logql::parse(p.require("query")?).map_err(LogqlError::from)?;
    let matchers = selector_of(&expr)
        .ok_or_else(|| LokiError::BadRequest("index/stats needs a stream selector".into()))?;
    let mut total = LogStats::default();
    for t in &tenants {
        let s = st.store.log_stats(t, &matchers, start, end).await?;
        total.streams += s.streams;
        total.chunks += s.chunks;
        total.entries += s.entries;
        total.bytes += s.bytes;
    }
    Ok(ok_json(json::index_stats(&total)))
}

/// The stream selector of a query with exactly one (its first otherwise).
fn selector_of(expr: &Expr) -> Option<Vec<Matcher>> {
    use crate::logql::ast::MetricExpr;
    fn metric(m: &MetricExpr) -> Option<Vec<Matcher>> {
        match m {
            MetricExpr::Range(r) => Some(r.range.log.matchers.clone()),
            MetricExpr::Vector(v) => metric(&v.expr),
            MetricExpr::Binary(b) => metric(&b.lhs).or_else(|| metric(&b.rhs)),
            MetricExpr::LabelReplace { expr, .. } | MetricExpr::Paren(expr) => metric(expr),
            MetricExpr::Literal(_) | MetricExpr::VectorLit(_) => None,
        }
    }
    match expr {
        Expr::Log(l) => Some(l.matchers.clone()),
        Expr::Metric(m) => metric(m),
    }
}

/// `GET|POST /loki/api/v1/format_query`: the query in canonical form.
pub(crate) async fn format_query(
    State(st): State<Arc<LokiState>>,
    req: Request,
) -> Result<Response, LokiError> {
    let (_, p) = decode(&st.querier, req).await?;
    let expr = logql::parse(p.require("query")?).map_err(LogqlError::from)?;
    Ok(ok_json(string_result(&expr.to_string())))
}
