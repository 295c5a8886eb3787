//! Thin axum handlers for Tempo's query API: decode the tenant and
//! parameters, call the trace store or the TraceQL search, encode Tempo's
//! JSON (or protobuf) shapes.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use common::series::StoreError;
use common::tenant::{TenantId, tenants_from_headers};
use common::traces::{AttrScope, Span, TraceId, TraceStore};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use serde_json::json;

use super::error::TempoError;
use super::search_json;
use crate::api::Querier;
use crate::api::params::Params;
use crate::traceql::{
    self, Attribute, FieldExpr, Query, SearchRequest, SpansetExpr, Value, keyword_values,
};
use common::traces::otlp::spans_to_otlp;

/// Traces returned by a search when `limit` is absent (Tempo's default).
const DEFAULT_LIMIT: usize = 20;
/// Spans returned per spanset when `spss` is absent (Tempo's default).
const DEFAULT_SPSS: usize = 3;
/// Intrinsics listed by `/api/v2/search/tags`.
const INTRINSICS: [&str; 14] = [
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
];

/// The request's tenants, parameters and the trace store.
pub(super) struct Context {
    pub(super) tenants: Vec<TenantId>,
    pub(super) params: Params,
    pub(super) store: Arc<dyn TraceStore>,
}

/// Decodes the tenants and parameters; fails without a trace store.
pub(super) fn context(
    q: &Querier,
    headers: &HeaderMap,
    raw: Option<String>,
) -> Result<Context, TempoError> {
    let tenants = tenants_from_headers(headers, q.multitenancy)?;
    let store = q.trace_store.clone().ok_or(TempoError::NoStore)?;
    let mut params = Params::default();
    params.extend_from_urlencoded(raw.as_deref().unwrap_or(""));
    Ok(Context {
        tenants,
        params,
        store,
    })
}

impl Context {
    fn number<T: std::str::FromStr>(&self, name: &'static str) -> Result<Option<T>, TempoError> {
        self.params
            .get(name)
            .map(|v| {
                v.parse().map_err(|_| TempoError::BadParam {
                    name,
                    reason: format!("{v:?} is not a non-negative integer"),
                })
            })
            .transpose()
    }

    /// `start`/`end` (Unix seconds, inclusive) as a nanosecond range.
    fn time_range(&self) -> Result<(u64, u64), TempoError> {
        let start = self.number::<u64>("start")?;
        let end = self.number::<u64>("end")?;
        let start_ns = start.map_or(0, |s| s.saturating_mul(1_000_000_000));
        let end_ns = end.map_or(u64::MAX, |e| {
            e.saturating_add(1)
                .saturating_mul(1_000_000_000)
                .saturating_sub(1)
        });
        if start_ns > end_ns {
            return Err(TempoError::BadParam {
                name: "end",
                reason: "end must not be before start".into(),
            });
        }
        Ok((start_ns, end_ns))
    }

    fn duration_ns(&self, name: &'static str) -> Result<Option<u64>, TempoError> {
        self.params
            .get(name)
            .map(|v| {
                traceql::parse_duration(v).ok_or_else(|| TempoError::BadParam {
                    name,
                    reason: format!("{v:?} is not a duration"),
                })
            })
            .transpose()
    }
}

/// A trace ID in hex; shorter IDs are left-padded with zeros, like Tempo.
fn parse_trace_id(s: &str) -> Result<TraceId, TempoError> {
    let bad = || TempoError::BadTraceId(s.chars().take(64).collect());
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let padded = format!("{s:0>32}");
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        let pair = padded.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(id)
}

/// How much later than the handler the block catalog may decide whether a
/// range is recent: a range starting this much after the handler's
/// `now - query_store_after` still skips the bucket when the catalog looks.
const RECENT_MARGIN_MS: i64 = 5_000;

/// Every stored span of the trace across the request's tenants.
///
/// As in Tempo, a lookup by ID asks the ingesters and the bucket. When the
/// bucket is unavailable (after its bounded wait), a trace the ingesters
/// hold whose every span began within `querier.blocks.query_store_after`
/// is answered from them (logged as such): the ingesters hold all such
/// spans, and a block only holds spans older than that. Any other trace
/// gets the 503 naming the store, since its answer might lack spans.
async fn find_trace(
    q: &Querier,
    headers: &HeaderMap,
    raw: Option<String>,
    id: &str,
) -> Result<Vec<Span>, TempoError> {
    let cx = context(q, headers, raw)?;
    let id = parse_trace_id(id)?;
    let (start_ns, end_ns) = cx.time_range()?;
    let spans = match trace_spans(&cx, id, start_ns, end_ns).await {
        Err(TempoError::Store(e @ StoreError::StoreUnavailable(_))) => {
            let Some(since_ns) = q
                .cfg
                .blocks
                .ingesters_hold_since_ms()
                .map(|ms| nanos(ms.saturating_add(RECENT_MARGIN_MS)))
            else {
                return Err(TempoError::Store(e));
            };
            let recent = trace_spans(&cx, id, start_ns.max(since_ns), end_ns).await?;
            if recent.is_empty() || recent.iter().any(|s| s.start_unix_nano < since_ns) {
                return Err(TempoError::Store(e));
            }
            tracing::warn!(trace = %common::traces::otlp::hex(&id), error = %e, "bucket unavailable; answering a recent trace from the ingesters");
            recent
        }
        other => other?,
    };
    if spans.is_empty() {
        return Err(TempoError::NotFound);
    }
    Ok(spans)
}

/// The spans of trace `id` in `[start_ns, end_ns]` across the request's
/// tenants, sorted, each once.
async fn trace_spans(
    cx: &Context,
    id: TraceId,
    start_ns: u64,
    end_ns: u64,
) -> Result<Vec<Span>, TempoError> {
    let mut spans: Vec<Span> = Vec::new();
    for tenant in &cx.tenants {
        if let Some(t) = cx.store.trace_by_id(tenant, id, start_ns, end_ns).await? {
            spans.extend(t.spans);
        }
    }
    spans.sort_by_key(|s| (s.start_unix_nano, s.span_id));
    spans.dedup_by(|a, b| a.span_id == b.span_id);
    Ok(spans)
}

/// Milliseconds since the epoch as nanoseconds (0 before it).
fn nanos(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// Whether the client asked for protobuf (`Accept: application/protobuf`).
pub(super) fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/protobuf"))
}

/// A protobuf answer.
pub(super) fn protobuf(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/protobuf")], bytes).into_response()
}

pub(super) fn json_response(v: serde_json::Value) -> Response {
    axum::Json(v).into_response()
}

/// `GET /api/traces/{id}`: `{"batches": [ResourceSpans…]}` (or protobuf
/// `tempopb.Trace`, wire-identical to OTLP `TracesData`).
pub(super) async fn trace_v1(
    State(q): State<Arc<Querier>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let spans = find_trace(&q, &headers, raw, &id).await?;
    let batches = spans_to_otlp(&spans);
    if wants_protobuf(&headers) {
        let data = TracesData {
            resource_spans: batches,
        };
        return Ok(protobuf(data.encode_to_vec()));
    }
    Ok(json_response(json!({ "batches": batches })))
}

/// `GET /api/v2/traces/{id}`: `{"trace": {"resourceSpans": […]}}` (or
/// protobuf `TraceByIDResponse`, the trace in field 1).
pub(super) async fn trace_v2(
    State(q): State<Arc<Querier>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let spans = find_trace(&q, &headers, raw, &id).await?;
    let data = TracesData {
        resource_spans: spans_to_otlp(&spans),
    };
    if wants_protobuf(&headers) {
        let mut buf = Vec::new();
        prost::encoding::message::encode(1, &data, &mut buf);
        return Ok(protobuf(buf));
    }
    Ok(json_response(json!({ "trace": data })))
}

/// `GET /api/search`: TraceQL (`q`) or tag (`tags`) search.
pub(super) async fn search(
    State(q): State<Arc<Querier>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let cx = context(&q, &headers, raw)?;
    let query = match cx.params.get("q") {
        Some(text) => traceql::parse(text)?,
        None => traceql::tags_query(cx.params.get("tags").unwrap_or(""))?,
    };
    let (start_ns, end_ns) = cx.time_range()?;
    let limit = cx
        .number("limit")?
        .filter(|&l| l > 0)
        .unwrap_or(DEFAULT_LIMIT);
    let spss = cx
        .number("spss")?
        .filter(|&s| s > 0)
        .unwrap_or(DEFAULT_SPSS);
    let req = SearchRequest {
        query,
        start_ns,
        end_ns,
        limit,
        min_duration_ns: cx.duration_ns("minDuration")?,
        max_duration_ns: cx.duration_ns("maxDuration")?,
    };
    let outcome = traceql::search(&*cx.store, &cx.tenants, &req).await?;
    Ok(json_response(search_json::response(
        &req.query, &outcome, spss,
    )))
}

/// The TraceQL filter `q` of a tag listing, when it narrows anything.
/// Like Tempo, a `q` that does not parse (editors send what is being
/// typed) lists everything rather than failing.
fn tag_filter(cx: &Context) -> Option<Query> {
    let text = cx.params.get("q")?.trim();
    if text.is_empty() {
        return None;
    }
    match traceql::parse(text) {
        Ok(q)
            if q.stages.is_empty()
                && matches!(
                    &q.expr,
                    SpansetExpr::Filter(FieldExpr::Static(Value::Bool(true)))
                ) =>
        {
            None
        }
        Ok(q) => Some(q),
        Err(e) => {
            tracing::debug!(query = text, error = %e, "tag listing ignores a q that does not parse");
            None
        }
    }
}

/// Attribute keys by scope, merged over the request's tenants; only those
/// of spans matching `q` when it is given.
async fn tag_names(cx: &Context) -> Result<BTreeSet<(AttrScope, String)>, TempoError> {
    let (start_ns, end_ns) = cx.time_range()?;
    if let Some(query) = tag_filter(cx) {
        let names =
            traceql::selected_tag_names(&*cx.store, &cx.tenants, &query, start_ns, end_ns).await?;
        return Ok(names);
    }
    let mut all = BTreeSet::new();
    for tenant in &cx.tenants {
        all.extend(cx.store.tag_names(tenant, start_ns, end_ns).await?);
    }
    Ok(all)
}

/// `GET /api/search/tags`: `{"tagNames": […]}`.
pub(super) async fn tags_v1(
    State(q): State<Arc<Querier>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let cx = context(&q, &headers, raw)?;
    let names: BTreeSet<String> = tag_names(&cx).await?.into_iter().map(|(_, n)| n).collect();
    Ok(json_response(json!({ "tagNames": names })))
}

/// `GET /api/v2/search/tags`: `{"scopes": [{"name", "tags"}…]}`, optionally
/// one `scope` (`span`, `resource`, `intrinsic`).
pub(super) async fn tags_v2(
    State(q): State<Arc<Querier>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let cx = context(&q, &headers, raw)?;
    let wanted = cx.params.get("scope").unwrap_or("all");
    if !["all", "span", "resource", "intrinsic"].contains(&wanted) {
        return Err(TempoError::BadParam {
            name: "scope",
            reason: format!("unknown scope {wanted:?}"),
        });
    }
    let names = tag_names(&cx).await?;
    let of = |scope: AttrScope| -> Vec<&str> {
        names
            .iter()
            .filter(|(s, _)| *s == scope)
            .map(|(_, n)| n.as_str())
            .collect()
    };
    let mut scopes = Vec::new();
    for (name, tags) in [
        ("span", of(AttrScope::Span)),
        ("resource", of(AttrScope::Resource)),
        ("intrinsic", INTRINSICS.to_vec()),
    ] {
        if wanted == "all" || wanted == name {
            scopes.push(json!({ "name": name, "tags": tags }));
        }
    }
    Ok(json_response(json!({ "scopes": scopes })))
}

/// Values of `field`, merged over the request's tenants; only those on
/// spans matching `query` when given. Span and resource attributes come
/// from the stores' tag index, other fields from reading traces.
async fn tag_values(
    cx: &Context,
    query: Option<Query>,
    field: &FieldExpr,
) -> Result<BTreeSet<String>, TempoError> {
    let (start_ns, end_ns) = cx.time_range()?;
    let indexed = match field {
        FieldExpr::Attr(a) if query.is_none() => match a.scope {
            traceql::AttrScope::Span => Some((Some(AttrScope::Span), &a.name)),
            traceql::AttrScope::Resource => Some((Some(AttrScope::Resource), &a.name)),
            traceql::AttrScope::Any => Some((None, &a.name)),
            _ => None,
        },
        _ => None,
    };
    let Some((scope, key)) = indexed else {
        let values = traceql::field_values(
            &*cx.store,
            &cx.tenants,
            field,
            query.as_ref(),
            start_ns,
            end_ns,
        )
        .await?;
        return Ok(values);
    };
    let mut all = BTreeSet::new();
    for tenant in &cx.tenants {
        all.extend(
            cx.store
                .tag_values(tenant, scope, key, start_ns, end_ns)
                .await?,
        );
    }
    Ok(all)
}

/// The attribute `.key`, looked up in span then resource attributes.
fn any_scope(key: &str) -> FieldExpr {
    FieldExpr::Attr(Attribute {
        scope: traceql::AttrScope::Any,
        name: key.to_string(),
    })
}

/// `GET /api/search/tag/{tag}/values`: `{"tagValues": […]}` for an
/// attribute key in any scope.
pub(super) async fn tag_values_v1(
    State(q): State<Arc<Querier>>,
    Path(tag): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let cx = context(&q, &headers, raw)?;
    let values = tag_values(&cx, tag_filter(&cx), &any_scope(&tag)).await?;
    Ok(json_response(json!({ "tagValues": values })))
}

/// `GET /api/v2/search/tag/{tag}/values`: typed values of an attribute as
/// TraceQL names it (`span.x`, `resource.x`, `event.x`, `.x`, or a bare
/// key) or an intrinsic (`status`, `kind` keywords; `name`,
/// `rootServiceName`, `event:name`, … from the traces; none for IDs, as in
/// Tempo), only from spans matching the TraceQL filter `q` when given.
pub(super) async fn tag_values_v2(
    State(q): State<Arc<Querier>>,
    Path(tag): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, TempoError> {
    let cx = context(&q, &headers, raw)?;
    let keywords = keyword_values(&tag);
    let typed = |values: &mut dyn Iterator<Item = String>| -> Vec<serde_json::Value> {
        let kind = if keywords.is_some() {
            "keyword"
        } else {
            "string"
        };
        values
            .map(|v| json!({ "type": kind, "value": v }))
            .collect()
    };
    let query = tag_filter(&cx);
    if let Some(words) = &keywords
        && query.is_none()
    {
        let values = typed(&mut words.iter().map(|w| w.to_string()));
        return Ok(json_response(json!({ "tagValues": values })));
    }
    let field = traceql::parse_field(&tag).unwrap_or_else(|| any_scope(&tag));
    if matches!(&field, FieldExpr::Intrinsic(i) if i.is_id()) {
        return Ok(json_response(json!({ "tagValues": [] })));
    }
    let values = typed(&mut tag_values(&cx, query, &field).await?.into_iter());
    Ok(json_response(json!({ "tagValues": values })))
}

/// `GET /api/echo`: Grafana's connectivity check.
pub(super) async fn echo() -> &'static str {
    "echo"
}

/// The Tempo API version Cairn answers like: Grafana reads it from
/// `/api/status/buildinfo` to pick endpoints (v2 tags, TraceQL search).
const TEMPO_API_VERSION: &str = "2.9.0";

/// `GET /api/status/buildinfo`: Tempo's flat build-info object, the
/// version being the Tempo API level served, the revision Cairn's own.
pub(super) async fn build_info() -> Response {
    let build = common::build_info::get();
    json_response(json!({
        "version": TEMPO_API_VERSION,
        "revision": format!("cairn-{}-{}", build.version, build.revision),
        "branch": build.branch,
        "buildUser": "",
        "buildDate": "",
        "goVersion": build.rust_version,
    }))
}
