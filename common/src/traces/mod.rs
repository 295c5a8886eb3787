//! Spans and traces, and the two interfaces the traces path is built on:
//! [`TracesPusher`] (distributor → ingester) and [`TraceStore`] (ingester,
//! trace blocks in object storage, or a merge of both → the Tempo API and
//! the TraceQL engine).
//!
//! A [`Span`] is OTLP's span flattened with its resource and scope, so a
//! span can be stored, shipped and matched on its own. Times are
//! nanoseconds since the Unix epoch, as in OTLP.

pub mod block;
pub mod otlp;
pub mod tags;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use crate::discard::DiscardReason;
use crate::push::PushError;
use crate::series::StoreError;
use crate::tenant::TenantId;

/// A trace ID (16 bytes, as in OTLP and W3C trace context).
pub type TraceId = [u8; 16];
/// A span ID (8 bytes).
pub type SpanId = [u8; 8];

/// An attribute value, as OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array of values.
    Array(Vec<AttrValue>),
    /// A nested key/value list.
    KvList(Vec<KeyValue>),
    /// OTLP's empty value.
    Empty,
}

/// One attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    /// The attribute's key, e.g. `http.request.method`.
    pub key: String,
    /// Its value.
    pub value: AttrValue,
}

/// What produced a span: OTLP's `Resource` (shared by every span of one
/// resource in a batch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    /// Resource attributes, e.g. `service.name`.
    pub attributes: Vec<KeyValue>,
    /// Attributes the SDK dropped.
    pub dropped_attributes_count: u32,
    /// OTLP `schema_url` of the `ResourceSpans`.
    pub schema_url: String,
}

/// The instrumentation scope that recorded a span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Library name.
    pub name: String,
    /// Library version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the SDK dropped.
    pub dropped_attributes_count: u32,
    /// OTLP `schema_url` of the `ScopeSpans`.
    pub schema_url: String,
}

/// A timed event inside a span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    /// When it happened (ns).
    pub time_unix_nano: u64,
    /// Event name, e.g. `exception`.
    pub name: String,
    /// Event attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the SDK dropped.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLink {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// W3C trace state of the link.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the SDK dropped.
    pub dropped_attributes_count: u32,
    /// OTLP link flags.
    pub flags: u32,
}

/// One span with its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its own ID.
    pub span_id: SpanId,
    /// The parent span, `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace state.
    pub trace_state: String,
    /// OTLP span flags.
    pub flags: u32,
    /// Operation name.
    pub name: String,
    /// OTLP `SpanKind` (0 unspecified, 1 internal, 2 server, 3 client,
    /// 4 producer, 5 consumer).
    pub kind: i32,
    /// Start (ns).
    pub start_unix_nano: u64,
    /// End (ns).
    pub end_unix_nano: u64,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the SDK dropped.
    pub dropped_attributes_count: u32,
    /// Events.
    pub events: Vec<SpanEvent>,
    /// Events the SDK dropped.
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<SpanLink>,
    /// Links the SDK dropped.
    pub dropped_links_count: u32,
    /// OTLP status code (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    /// Status message.
    pub status_message: String,
    /// What produced the span.
    pub resource: Arc<Resource>,
    /// What recorded it.
    pub scope: Arc<Scope>,
}

impl Span {
    /// The producing service (`service.name` resource attribute), if any.
    pub fn service_name(&self) -> Option<&str> {
        self.resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match &kv.value {
                AttrValue::Str(s) => Some(s.as_str()),
                _ => None,
            })
    }

    /// Duration in nanoseconds (0 for a span that ends before it starts).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }
}

/// A whole trace: its spans, sorted by start time, each span once.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The trace's ID.
    pub trace_id: TraceId,
    /// Its spans.
    pub spans: Vec<Span>,
}

impl Trace {
    /// A trace of `spans` (all of trace `id`): each span ID once (the
    /// first copy wins), sorted by start time.
    pub fn from_spans(id: TraceId, mut spans: Vec<Span>) -> Self {
        spans.sort_by_key(|s| (s.start_unix_nano, s.span_id));
        let mut seen = std::collections::HashSet::with_capacity(spans.len());
        spans.retain(|s| seen.insert(s.span_id));
        Self {
            trace_id: id,
            spans,
        }
    }
}

/// Merges traces that several sources (ingesters, replicas, blocks) hold:
/// one trace per ID with each of its spans once. Traces keep the order in
/// which their IDs first appear.
pub fn union_traces(lists: Vec<Vec<Trace>>) -> Vec<Trace> {
    let mut order: Vec<TraceId> = Vec::new();
    let mut by_id: HashMap<TraceId, Vec<Span>> = HashMap::new();
    for t in lists.into_iter().flatten() {
        match by_id.get_mut(&t.trace_id) {
            Some(spans) => spans.extend(t.spans),
            None => {
                order.push(t.trace_id);
                by_id.insert(t.trace_id, t.spans);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| Some(Trace::from_spans(id, by_id.remove(&id)?)))
        .collect()
}

/// Spans an ingester refused, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRejection {
    /// Catalogue reason (counter label).
    pub reason: DiscardReason,
    /// The trace concerned.
    pub trace_id: TraceId,
    /// How many of its spans were refused.
    pub spans: usize,
    /// Human detail, e.g. the limit value.
    pub detail: String,
}

/// What an ingester did with a traces push: accepted spans are durable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracesPushOutcome {
    /// Spans appended and logged.
    pub accepted: usize,
    /// Spans refused, by trace and reason.
    pub rejected: Vec<SpanRejection>,
}

/// Appends validated spans to a tenant's live traces.
///
/// In single-process mode the distributor calls the ingester through this
/// trait directly; in distributed mode an RPC client implements it (spans
/// of one trace always go to the same ingesters).
#[async_trait]
pub trait TracesPusher: Send + Sync {
    /// Appends `spans` for `tenant`; returns once accepted spans are in the WAL.
    async fn push_spans(
        &self,
        tenant: &TenantId,
        spans: Vec<Span>,
    ) -> Result<TracesPushOutcome, PushError>;
}

/// A span predicate the search pushes down to the store: a trace is a
/// candidate only if at least one of its spans passes (`None`: every trace
/// in the time range is a candidate).
pub type SpanFilter = Arc<dyn Fn(&Span) -> bool + Send + Sync>;

/// What a [`TraceStore::search`] call asks for.
#[derive(Clone)]
pub struct TraceScan {
    /// Traces with any span starting in `[start_ns, end_ns]`.
    pub start_ns: u64,
    /// Inclusive end, ns.
    pub end_ns: u64,
    /// Pushed-down span predicate.
    pub filter: Option<SpanFilter>,
    /// A hint: the caller needs about this many matching traces; a store
    /// may stop early once it has them (it may also ignore the hint).
    pub limit: Option<usize>,
}

impl std::fmt::Debug for TraceScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceScan")
            .field("start_ns", &self.start_ns)
            .field("end_ns", &self.end_ns)
            .field("filter", &self.filter.is_some())
            .field("limit", &self.limit)
            .finish()
    }
}

/// Where an attribute lives, for tag listing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum AttrScope {
    /// A span attribute.
    Span,
    /// A resource attribute.
    Resource,
}

/// Read access to a tenant's traces.
#[async_trait]
pub trait TraceStore: Send + Sync {
    /// Every stored span of trace `id` (each span once), or `None` when no
    /// span of it is known; `start_ns..=end_ns` may narrow where to look
    /// (0 and `u64::MAX` for everywhere).
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<Option<Trace>, StoreError>;

    /// Whole traces (every span each) that have a span in the scan's time
    /// range passing its filter.
    async fn search(&self, tenant: &TenantId, scan: &TraceScan) -> Result<Vec<Trace>, StoreError>;

    /// Distinct attribute keys in `[start_ns, end_ns]`, by scope.
    async fn tag_names(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<(AttrScope, String)>, StoreError>;

    /// Distinct values of attribute `key` (any scope when `scope` is `None`)
    /// in `[start_ns, end_ns]`.
    async fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<String>, StoreError>;
}
