//! Thin axum handlers: decode parameters, call the engine or the metadata
//! lookups, encode the Prometheus JSON response.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use common::tenant::{TenantId, tenants_from_headers};

use super::error::ApiError;
use super::metadata::{self, Lookup};
use super::params::{MAX_TIME, MIN_TIME, Params};
use super::{MAX_POINTS_PER_SERIES, Querier, json};
use crate::promql::duration_ms;

/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 8 << 20;

/// The request's tenants and parameters (URL query plus POST form body).
async fn decode(q: &Querier, req: Request) -> Result<(Vec<TenantId>, Params), ApiError> {
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or(0)
}

fn ok_json(body: String) -> Response {
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
    let (tenants, params) = decode(&q, req).await?;
    let expr = params.require("query")?;
    let t = params.time_or("time", now_ms())?;
    let value = q
        .frontend
        .instant(&tenants, expr, t, timeout(&q, &params)?)
        .await?;
    Ok(ok_json(json::query_result(&value)))
}

/// `GET|POST /prometheus/api/v1/query_range`.
pub(crate) async fn query_range(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
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
    let value = q
        .frontend
        .range(&tenants, expr, start, end, step, timeout(&q, &params)?)
        .await?;
    Ok(ok_json(json::query_result(&value)))
}

/// The tenants, `match[]` sets and time bounds of a metadata request.
async fn lookup_params(
    q: &Querier,
    req: Request,
) -> Result<(Vec<TenantId>, Vec<Vec<common::series::Matcher>>, i64, i64), ApiError> {
    let (tenants, params) = decode(q, req).await?;
    let sets = params.match_sets()?;
    Ok((
        tenants,
        sets,
        params.time_or("start", MIN_TIME)?,
        params.time_or("end", MAX_TIME)?,
    ))
}

/// `GET|POST /prometheus/api/v1/series`.
pub(crate) async fn series(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (tenants, sets, start, end) = lookup_params(&q, req).await?;
    if sets.is_empty() {
        return Err(ApiError::BadData("no match[] parameter provided".into()));
    }
    let found = metadata::series(
        &*q.store,
        &Lookup {
            tenants: &tenants,
            match_sets: &sets,
            start,
            end,
        },
    )
    .await?;
    Ok(ok_json(json::series_result(&found)))
}

/// `GET|POST /prometheus/api/v1/labels`.
pub(crate) async fn labels(
    State(q): State<Arc<Querier>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (tenants, sets, start, end) = lookup_params(&q, req).await?;
    let names = metadata::label_names(
        &*q.store,
        &Lookup {
            tenants: &tenants,
            match_sets: &sets,
            start,
            end,
        },
    )
    .await?;
    Ok(ok_json(json::strings_result(&names)))
}

/// `GET /prometheus/api/v1/label/{name}/values`.
pub(crate) async fn label_values(
    State(q): State<Arc<Querier>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let (tenants, sets, start, end) = lookup_params(&q, req).await?;
    if name.is_empty() {
        return Err(ApiError::BadParam {
            name: "label",
            reason: format!("invalid label name: {name:?}"),
        });
    }
    let lookup = Lookup {
        tenants: &tenants,
        match_sets: &sets,
        start,
        end,
    };
    let values = metadata::label_values(&*q.store, &name, &lookup).await?;
    Ok(ok_json(json::strings_result(&values)))
}
