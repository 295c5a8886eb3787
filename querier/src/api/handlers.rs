//! Thin axum handlers: decode parameters, call the engine or the metadata
//! lookups, encode the Prometheus JSON response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::series::{Matcher, SeriesStore};
use common::tenant::{TenantId, tenants_from_headers};
use common::time::now_ms;

use super::error::ApiError;
use super::metadata::{self, Lookup};
use super::metric_metadata::{self, MetadataByFamily, MetadataQuery};
use super::params::{MAX_TIME, MIN_TIME, Params};
use super::stats::{CountingStore, QueryStats, result_points};
use super::{MAX_POINTS_PER_SERIES, Querier, exemplars, json};
use crate::frontend::FrontendError;
use crate::promql::{self, Engine, QueryRange, duration_ms};

/// Prometheus's warning when `limit` cut a result.
const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 8 << 20;

/// The request's tenants and parameters (URL query plus POST form body).
pub(crate) async fn decode(q: &Querier, req: Request) -> Result<(Vec<TenantId>, Params), ApiError> {
    let (parts, body) = req.into_parts();
    let tenants = tenants_from_headers(&parts.headers, q.multitenancy)?;
    let mut params = Params::default();
    params.extend_from_urlencoded(parts.uri.query().unwrap_or(""));
    if parts.method == Method::POST && is_form(&parts.headers) {
        let bytes = axum::body::to_bytes(Body::new(body), MAX_FORM_BYTES)
            .await
            .map_err(|e| ApiError::BadData(format!("error reading request body: {e}")))?;
        params.extend_from_urlencoded(&String::from_utf8_lossy(&bytes));
    }
    Ok((tenants, params))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

pub(crate) fn ok_json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The query timeout: the request's `timeout`, capped by the configured one.
fn timeout(q: &Querier, params: &Params) -> Result<Duration, ApiError> {
    Ok(params
        .duration("timeout")?
        .map_or(q.cfg.timeout, |t| t.min(q.cfg.timeout)))
}

/// `GET|POST /prometheus/api/v1/query`.
pub(crate) async fn query(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let received = Instant::now();
    let (tenants, params) = decode(&q, req).await?;
    let expr = params.require("query")?;
    let t = params.time_or("time", now_ms())?;
    let range = QueryRange::Instant(t);
    run_query(&q, &tenants, &params, expr, range, received).await
}

/// Evaluates `expr` over `range` and encodes the result, with the `stats`
/// block when the request has a non-empty `stats` parameter (timings count
/// from `received`).
async fn run_query(
    q: &Arc<Querier>,
    tenants: &[TenantId],
    params: &Params,
    expr: &str,
    range: QueryRange,
    received: Instant,
) -> Result<Response, ApiError> {
    let timeout = timeout(q, params)?;
    if params.get("stats").is_none() {
        // Merging and encoding a large answer is CPU work too: it runs on
        // the query pool at the tenant set's priority.
        let (querier, owned_tenants, expr) = (Arc::clone(q), tenants.to_vec(), expr.to_string());
        let answer = q.frontend.offload(tenants, async move {
            let frontend = &querier.frontend;
            let result = match range {
                QueryRange::Instant(t) => {
                    frontend.instant(&owned_tenants, &expr, t, timeout).await?
                }
                QueryRange::Range { start, end, step } => {
                    frontend
                        .range(&owned_tenants, &expr, start, end, step, timeout)
                        .await?
                }
            };
            Ok::<_, FrontendError>(json::query_result(&result, None))
        });
        return Ok(ok_json(answer.await??));
    }
    // With `stats`, the query runs directly (not split, cached or queued)
    // on an engine over a counting view of the store, for this request only.
    let counting = Arc::new(CountingStore::new(Arc::clone(&q.store)));
    let engine = Engine::new(
        Arc::clone(&counting) as Arc<dyn SeriesStore>,
        Arc::clone(&q.overrides),
        q.engine().options().clone(),
    );
    let eval_start = Instant::now();
    let result = engine
        .query_with_timeout(tenants, expr, range, timeout)
        .await?;
    let stats = QueryStats {
        exec_total: received.elapsed(),
        eval_total: eval_start.elapsed(),
        total_queryable_samples: counting.samples(),
        peak_samples: result_points(&result.value),
    };
    Ok(ok_json(json::query_result(&result, Some(&stats.to_json()))))
}

/// `GET|POST /prometheus/api/v1/query_range`.
pub(crate) async fn query_range(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let received = Instant::now();
    let (tenants, params) = decode(&q, req).await?;
    let expr = params.require("query")?;
    let start = params.time("start")?;
    let end = params.time("end")?;
    if end < start {
        return Err(ApiError::BadParam {
            name: "end",
            reason: "end timestamp must not be before start time".into(),
        });
    }
    let step = params.duration("step")?.ok_or_else(|| ApiError::BadParam {
        name: "step",
        reason: "parameter is missing".into(),
    })?;
    let step = duration_ms(step);
    if step <= 0 {
        return Err(ApiError::BadParam {
            name: "step",
            reason: "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        });
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    let range = QueryRange::Range { start, end, step };
    run_query(&q, &tenants, &params, expr, range, received).await
}

/// The decoded parameters of `/series`, `/labels` and `/label/…/values`.
struct LookupParams {
    tenants: Vec<TenantId>,
    /// One matcher set per `match[]` alternative.
    sets: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
    /// Most results returned (`limit`), `None` for all.
    limit: Option<usize>,
}

impl LookupParams {
    fn lookup(&self) -> Lookup<'_> {
        Lookup {
            tenants: &self.tenants,
            match_sets: &self.sets,
            start: self.start,
            end: self.end,
        }
    }
}

/// The tenants, `match[]` sets, time bounds and limit of a series or label
/// request.
async fn lookup_params(q: &Querier, req: Request) -> Result<LookupParams, ApiError> {
    let (tenants, params) = decode(q, req).await?;
    Ok(LookupParams {
        tenants,
        sets: params.match_sets()?,
        start: params.time_or("start", MIN_TIME)?,
        end: params.time_or("end", MAX_TIME)?,
        limit: params.result_limit()?,
    })
}

/// Cuts `items` to `limit`, returning Prometheus's warning when it did.
fn truncate<T>(items: &mut Vec<T>, limit: Option<usize>) -> Vec<&'static str> {
    match limit {
        Some(n) if items.len() > n => {
            items.truncate(n);
            vec![TRUNCATED_WARNING]
        }
        _ => Vec::new(),
    }
}

/// `GET|POST /prometheus/api/v1/series`.
pub(crate) async fn series(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let p = lookup_params(&q, req).await?;
    if p.sets.is_empty() {
        return Err(ApiError::BadData("no match[] parameter provided".into()));
    }
    let mut found = metadata::series(&*q.store, &p.lookup()).await?;
    let warnings = truncate(&mut found, p.limit);
    Ok(ok_json(json::series_result(&found, &warnings)))
}

/// `GET|POST /prometheus/api/v1/labels`.
pub(crate) async fn labels(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let p = lookup_params(&q, req).await?;
    let mut names = metadata::label_names(&*q.store, &p.lookup()).await?;
    let warnings = truncate(&mut names, p.limit);
    Ok(ok_json(json::strings_result(&names, &warnings)))
}

/// `GET|POST /prometheus/api/v1/label/{name}/values`.
pub(crate) async fn label_values(
    State(q): State<Arc<Querier>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let p = lookup_params(&q, req).await?;
    if name.is_empty() {
        return Err(ApiError::BadParam {
            name: "label",
            reason: format!("invalid label name: {name:?}"),
        });
    }
    let mut values = metadata::label_values(&*q.store, &name, &p.lookup()).await?;
    let warnings = truncate(&mut values, p.limit);
    Ok(ok_json(json::strings_result(&values, &warnings)))
}

/// `GET|POST /prometheus/api/v1/metadata` (`metric`, `limit`,
/// `limit_per_metric`).
pub(crate) async fn metadata(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (tenants, params) = decode(&q, req).await?;
    let query = MetadataQuery {
        metric: params.get("metric"),
        limit: params.metadata_limit("limit")?,
        // Prometheus: only a positive `limit_per_metric` limits.
        limit_per_metric: params
            .metadata_limit("limit_per_metric")?
            .filter(|&n| n > 0),
    };
    let found = match &q.metadata {
        Some(source) => metric_metadata::lookup(&**source, &tenants, query).await?,
        None => MetadataByFamily::new(),
    };
    Ok(ok_json(json::metadata_result(&found)))
}

/// `GET|POST /prometheus/api/v1/query_exemplars` (`query`, `start`, `end`).
pub(crate) async fn query_exemplars(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (tenants, params) = decode(&q, req).await?;
    let start = params.time_or("start", MIN_TIME)?;
    let end = params.time_or("end", MAX_TIME)?;
    if end < start {
        return Err(ApiError::BadParam {
            name: "end",
            reason: "end timestamp must not be before start timestamp".into(),
        });
    }
    let expr = promql::parse(params.get("query").unwrap_or(""))?;
    let selectors = exemplars::selectors(&expr);
    if selectors.is_empty() {
        // Prometheus answers a query without selectors with no body at all.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let found = match &q.exemplars {
        Some(source) => exemplars::query(&**source, &tenants, &selectors, start, end).await?,
        None => Vec::new(),
    };
    Ok(ok_json(json::exemplars_result(&found)))
}

/// `GET|POST /prometheus/api/v1/format_query`: the query pretty-printed.
pub(crate) async fn format_query(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (_, params) = decode(&q, req).await?;
    let expr = promql::parse(params.get("query").unwrap_or(""))?;
    Ok(ok_json(json::string_result(&expr.prettify())))
}

/// `GET /prometheus/api/v1/status/buildinfo`.
pub(crate) async fn build_info() -> Response {
    ok_json(json::build_info(common::build_info::get()))
}
