//! TraceQL search over a [`TraceStore`]: push a conservative filter down,
//! evaluate the query exactly on each returned trace, keep the most recent
//! `limit` matching traces across the request's tenants.

use common::series::StoreError;
use common::tenant::TenantId;
use common::traces::{AttrScope as StoreScope, Span, Trace, TraceScan, TraceStore};

use std::collections::BTreeSet;

use super::ast::{FieldExpr, Query, Value};
use super::eval::{Spanset, TraceView, field_value};
use super::pushdown::{is_exact, span_filter};

/// What to search for.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The query.
    pub query: Query,
    /// Traces with a span starting at or after this (ns).
    pub start_ns: u64,
    /// … and at or before this (ns).
    pub end_ns: u64,
    /// Most traces returned.
    pub limit: usize,
    /// Shortest trace duration (ns), if any.
    pub min_duration_ns: Option<u64>,
    /// Longest trace duration (ns), if any.
    pub max_duration_ns: Option<u64>,
}

/// One matching trace.
#[derive(Debug, Clone)]
pub struct TraceHit {
    /// The whole trace.
    pub trace: Trace,
    /// Its matching spansets.
    pub spansets: Vec<Spanset>,
    /// The root span's service, if known.
    pub root_service_name: Option<String>,
    /// The root span's name, if known.
    pub root_name: Option<String>,
    /// Earliest span start (ns).
    pub start_ns: u64,
    /// Trace duration (ns).
    pub duration_ns: u64,
}

/// A search's matches and how much it looked at.
#[derive(Debug, Clone, Default)]
pub struct SearchOutcome {
    /// Matching traces, most recent first.
    pub hits: Vec<TraceHit>,
    /// Traces the stores returned and the engine evaluated.
    pub inspected_traces: usize,
}

/// Traces evaluated between two yields to the runtime.
const YIELD_EVERY_TRACES: usize = 64;

/// Hands every trace `scan` finds for each of `tenants` to `visit`,
/// yielding to the runtime every [`YIELD_EVERY_TRACES`] traces: the
/// request's other work runs and, when the client went away (the future
/// is dropped), the scan ends there. Returns the number of traces read.
pub(crate) async fn each_trace(
    store: &dyn TraceStore,
    tenants: &[TenantId],
    scan: &TraceScan,
    mut visit: impl FnMut(Trace),
) -> Result<usize, StoreError> {
    let mut read = 0;
    for tenant in tenants {
        let traces = store.search(tenant, scan).await?;
        read += traces.len();
        for (i, trace) in traces.into_iter().enumerate() {
            if i % YIELD_EVERY_TRACES == YIELD_EVERY_TRACES - 1 {
                tokio::task::yield_now().await;
            }
            visit(trace);
        }
    }
    Ok(read)
}

/// Runs `req` over each tenant's traces in `store`, merged.
pub async fn search(
    store: &dyn TraceStore,
    tenants: &[TenantId],
    req: &SearchRequest,
) -> Result<SearchOutcome, StoreError> {
    let duration_bounded = req.min_duration_ns.is_some() || req.max_duration_ns.is_some();
    let scan = TraceScan {
        start_ns: req.start_ns,
        end_ns: req.end_ns,
        filter: span_filter(&req.query),
        limit: (is_exact(&req.query) && !duration_bounded).then_some(req.limit),
    };
    let mut out = SearchOutcome::default();
    out.inspected_traces = each_trace(store, tenants, &scan, |trace| {
        out.hits.extend(evaluate(req, trace));
    })
    .await?;
    out.hits.sort_by(|a, b| {
        b.start_ns
            .cmp(&a.start_ns)
            .then(a.trace.trace_id.cmp(&b.trace.trace_id))
    });
    out.hits.truncate(req.limit);
    Ok(out)
}

fn evaluate(req: &SearchRequest, trace: Trace) -> Option<TraceHit> {
    let view = TraceView::new(&trace);
    let duration_ns = view.duration_ns();
    if req.min_duration_ns.is_some_and(|m| duration_ns < m)
        || req.max_duration_ns.is_some_and(|m| duration_ns > m)
    {
        return None;
    }
    let spansets = req.query.eval_view(&view);
    if spansets.is_empty() {
        return None;
    }
    let root_service_name = view.root.and_then(|r| r.service_name()).map(str::to_string);
    let root_name = view.root.map(|r| r.name.clone());
    let start_ns = view.start_ns;
    drop(view);
    Some(TraceHit {
        trace,
        spansets,
        root_service_name,
        root_name,
        start_ns,
        duration_ns,
    })
}

/// Most traces read to list an intrinsic's values (`name`, `rootName`, …):
/// stores index attributes, not intrinsics, so listing them is a scan.
const MAX_TRACES_FOR_VALUES: usize = 1000;

/// Up to [`MAX_TRACES_FOR_VALUES`] traces per tenant with a span in
/// `[start_ns, end_ns]`, only those that may match `query` when given.
async fn traces_for_values(
    store: &dyn TraceStore,
    tenants: &[TenantId],
    query: Option<&Query>,
    start_ns: u64,
    end_ns: u64,
) -> Result<Vec<Trace>, StoreError> {
    let scan = TraceScan {
        start_ns,
        end_ns,
        filter: query.and_then(span_filter),
        limit: Some(MAX_TRACES_FOR_VALUES),
    };
    let mut out = Vec::new();
    for tenant in tenants {
        let mut traces = store.search(tenant, &scan).await?;
        traces.truncate(MAX_TRACES_FOR_VALUES);
        out.extend(traces);
    }
    Ok(out)
}

/// Calls `f` with each span of `trace` that `query` selects (every span
/// when `None`).
pub(crate) fn for_each_selected(
    trace: &Trace,
    query: Option<&Query>,
    mut f: impl FnMut(&Span, &TraceView<'_>),
) {
    let view = TraceView::new(trace);
    match query {
        None => trace.spans.iter().for_each(|s| f(s, &view)),
        Some(q) => {
            let mut selected: Vec<usize> = q
                .eval_view(&view)
                .into_iter()
                .flat_map(|s| s.spans)
                .collect();
            selected.sort_unstable();
            selected.dedup();
            for i in selected {
                f(&trace.spans[i], &view);
            }
        }
    }
}

/// Distinct values of `field` (an intrinsic such as `name`, or an
/// attribute) in `[start_ns, end_ns]` over the tenants' traces (at most
/// [`MAX_TRACES_FOR_VALUES`] traces each), on the spans `query` selects when
/// given: tag values filtered by the `q` the Grafana editors send.
pub async fn field_values(
    store: &dyn TraceStore,
    tenants: &[TenantId],
    field: &FieldExpr,
    query: Option<&Query>,
    start_ns: u64,
    end_ns: u64,
) -> Result<BTreeSet<String>, StoreError> {
    let mut values = BTreeSet::new();
    for trace in traces_for_values(store, tenants, query, start_ns, end_ns).await? {
        for_each_selected(&trace, query, |span, view| {
            match field_value(field, span, view) {
                Value::Nil => {}
                Value::Str(s) if s.is_empty() => {}
                v => {
                    values.insert(v.render());
                }
            }
        });
    }
    Ok(values)
}

/// Span and resource attribute keys of the spans `query` selects in
/// `[start_ns, end_ns]` (at most [`MAX_TRACES_FOR_VALUES`] traces per
/// tenant): tag names filtered by `q`.
pub async fn selected_tag_names(
    store: &dyn TraceStore,
    tenants: &[TenantId],
    query: &Query,
    start_ns: u64,
    end_ns: u64,
) -> Result<BTreeSet<(StoreScope, String)>, StoreError> {
    let mut names = BTreeSet::new();
    for trace in traces_for_values(store, tenants, Some(query), start_ns, end_ns).await? {
        for_each_selected(&trace, Some(query), |span, _| {
            let span_keys = span.attributes.iter().map(|kv| (StoreScope::Span, &kv.key));
            let resource_keys = span
                .resource
                .attributes
                .iter()
                .map(|kv| (StoreScope::Resource, &kv.key));
            for (scope, key) in span_keys.chain(resource_keys) {
                names.insert((scope, key.clone()));
            }
        });
    }
    Ok(names)
}
