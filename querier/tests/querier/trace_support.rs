//! An in-memory [`TraceStore`] over `Vec<Trace>` per tenant (time range,
//! pushed-down filter, limit hint and tag listings applied for real), and
//! the fixed traces the TraceQL and Tempo API tests query.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use common::series::StoreError;
use common::tenant::TenantId;
use common::traces::tags::value_text;
use common::traces::{
    AttrScope, AttrValue, KeyValue, Resource, Scope, Span, SpanEvent, SpanLink, Trace, TraceId,
    TraceScan, TraceStore,
};
use parking_lot::RwLock;

/// Traces per tenant, held in memory.
#[derive(Default)]
pub struct MemTraceStore {
    tenants: RwLock<HashMap<String, Vec<Trace>>>,
}

fn in_range(s: &Span, start_ns: u64, end_ns: u64) -> bool {
    (start_ns..=end_ns).contains(&s.start_unix_nano)
}

impl MemTraceStore {
    /// Stores `trace` for `tenant`.
    pub fn add(&self, tenant: &str, trace: Trace) {
        self.tenants
            .write()
            .entry(tenant.to_string())
            .or_default()
            .push(trace);
    }

    fn traces(&self, tenant: &TenantId) -> Vec<Trace> {
        self.tenants
            .read()
            .get(tenant.as_str())
            .cloned()
            .unwrap_or_default()
    }

    fn spans_in_range(&self, tenant: &TenantId, start_ns: u64, end_ns: u64) -> Vec<Span> {
        self.traces(tenant)
            .into_iter()
            .flat_map(|t| t.spans)
            .filter(|s| in_range(s, start_ns, end_ns))
            .collect()
    }
}

#[async_trait]
impl TraceStore for MemTraceStore {
    async fn trace_by_id(
        &self,
        tenant: &TenantId,
        id: TraceId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<Option<Trace>, StoreError> {
        Ok(self
            .traces(tenant)
            .into_iter()
            .find(|t| t.trace_id == id && t.spans.iter().any(|s| in_range(s, start_ns, end_ns))))
    }

    async fn search(&self, tenant: &TenantId, scan: &TraceScan) -> Result<Vec<Trace>, StoreError> {
        let all = self.tenants.read();
        let mut out = Vec::new();
        for t in all.get(tenant.as_str()).into_iter().flatten() {
            if scan.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            let hit = t.spans.iter().any(|s| {
                in_range(s, scan.start_ns, scan.end_ns) && scan.filter.as_ref().is_none_or(|f| f(s))
            });
            if hit {
                out.push(t.clone());
            }
        }
        Ok(out)
    }

    async fn tag_names(
        &self,
        tenant: &TenantId,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<(AttrScope, String)>, StoreError> {
        let mut names = BTreeSet::new();
        for s in self.spans_in_range(tenant, start_ns, end_ns) {
            names.extend(
                s.attributes
                    .iter()
                    .map(|kv| (AttrScope::Span, kv.key.clone())),
            );
            names.extend(
                s.resource
                    .attributes
                    .iter()
                    .map(|kv| (AttrScope::Resource, kv.key.clone())),
            );
        }
        Ok(names)
    }

    async fn tag_values(
        &self,
        tenant: &TenantId,
        scope: Option<AttrScope>,
        key: &str,
        start_ns: u64,
        end_ns: u64,
    ) -> Result<BTreeSet<String>, StoreError> {
        let mut values = BTreeSet::new();
        for s in self.spans_in_range(tenant, start_ns, end_ns) {
            let span_kvs = s.attributes.iter();
            let res_kvs = s.resource.attributes.iter();
            let kvs: Vec<&KeyValue> = match scope {
                Some(AttrScope::Span) => span_kvs.collect(),
                Some(AttrScope::Resource) => res_kvs.collect(),
                None => span_kvs.chain(res_kvs).collect(),
            };
            values.extend(
                kvs.into_iter()
                    .filter(|kv| kv.key == key)
                    .filter_map(|kv| value_text(&kv.value)),
            );
        }
        Ok(values)
    }
}

/// Start of the first fixture trace (ns).
pub const BASE_NS: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// A string attribute.
pub fn kv(key: &str, value: AttrValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

/// A string attribute value.
pub fn s(v: &str) -> AttrValue {
    AttrValue::Str(v.into())
}

/// A resource of service `service` in environment `env`.
pub fn resource(service: &str, env: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![
            kv("service.name", s(service)),
            kv("deployment.environment", s(env)),
        ],
        ..Default::default()
    })
}

/// What one fixture span is.
pub struct SpanSpec {
    /// Label used in expectations, e.g. `s1`.
    pub label: &'static str,
    /// Last byte of the span ID (unique across fixtures).
    pub id: u8,
    /// Parent's ID byte.
    pub parent: Option<u8>,
    /// Operation name.
    pub name: &'static str,
    /// OTLP kind.
    pub kind: i32,
    /// OTLP status code.
    pub status: i32,
    /// Start offset from the trace start (ms).
    pub start_ms: u64,
    /// Duration (ms).
    pub dur_ms: u64,
    /// Producing resource.
    pub resource: Arc<Resource>,
    /// Span attributes.
    pub attrs: Vec<KeyValue>,
}

/// A trace ID whose last byte is `n`.
pub fn trace_id(n: u8) -> TraceId {
    let mut id = [0u8; 16];
    id[15] = n;
    id
}

/// Builds a trace from specs.
pub fn build(trace: TraceId, base_ns: u64, scope: Arc<Scope>, specs: Vec<SpanSpec>) -> Trace {
    let spans = specs
        .into_iter()
        .map(|sp| Span {
            trace_id: trace,
            span_id: [0, 0, 0, 0, 0, 0, 0, sp.id],
            parent_span_id: sp.parent.map(|p| [0, 0, 0, 0, 0, 0, 0, p]),
            trace_state: String::new(),
            flags: 0,
            name: sp.name.into(),
            kind: sp.kind,
            start_unix_nano: base_ns + sp.start_ms * MS,
            end_unix_nano: base_ns + (sp.start_ms + sp.dur_ms) * MS,
            attributes: sp.attrs,
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status_code: sp.status,
            status_message: if sp.status == 2 {
                "timeout".into()
            } else {
                String::new()
            },
            resource: sp.resource,
            scope: Arc::clone(&scope),
        })
        .collect();
    Trace {
        trace_id: trace,
        spans,
    }
}

fn scope(name: &str, version: &str, tier: &str) -> Arc<Scope> {
    Arc::new(Scope {
        name: name.into(),
        version: version.into(),
        attributes: vec![kv("lib.tier", s(tier))],
        ..Default::default()
    })
}

#[allow(clippy::too_many_arguments)]
fn spec(
    label: &'static str,
    id: u8,
    parent: Option<u8>,
    name: &'static str,
    kind: i32,
    status: i32,
    start_ms: u64,
    dur_ms: u64,
    resource: &Arc<Resource>,
    attrs: Vec<KeyValue>,
) -> SpanSpec {
    SpanSpec {
        label,
        id,
        parent,
        name,
        kind,
        status,
        start_ms,
        dur_ms,
        resource: Arc::clone(resource),
        attrs,
    }
}

/// An event `ms` after the start of `span`.
fn event(span: &Span, name: &str, ms: u64, attributes: Vec<KeyValue>) -> SpanEvent {
    SpanEvent {
        time_unix_nano: span.start_unix_nano + ms * MS,
        name: name.into(),
        attributes,
        dropped_attributes_count: 0,
    }
}

/// The three fixture traces (`T1` web request, `T2` queue worker, `T3`
/// health check) and the label of every span ID byte. `s4` has an
/// `exception` (TimeoutError) and a `retry` event, `w2` an `exception`
/// (IOError); `s5` links to `w1`; T2's instrumentation scope is
/// `io.cairn.worker` 2.1, the others' `io.cairn` 1.0.
pub fn fixtures() -> (Vec<(&'static str, Trace)>, HashMap<u8, &'static str>) {
    let frontend = resource("frontend", "prod");
    let auth = resource("auth", "prod");
    let db = resource("db", "prod");
    let worker = resource("worker", "prod");
    let dev = resource("frontend", "dev");
    let int = AttrValue::Int;
    let t1 = vec![
        spec(
            "s1",
            1,
            None,
            "GET /api",
            2,
            0,
            0,
            100,
            &frontend,
            vec![
                kv("http.method", s("GET")),
                kv("http.status_code", int(200)),
            ],
        ),
        spec("s2", 2, Some(1), "auth", 3, 1, 5, 10, &frontend, vec![]),
        spec(
            "s3",
            3,
            Some(2),
            "auth.check",
            2,
            0,
            6,
            8,
            &auth,
            vec![kv("user", s("alice"))],
        ),
        spec(
            "s4",
            4,
            Some(1),
            "db.query",
            3,
            2,
            20,
            50,
            &frontend,
            vec![kv("db.system", s("postgres")), kv("a b", s("x"))],
        ),
        spec(
            "s5",
            5,
            Some(4),
            "pg.exec",
            1,
            0,
            22,
            45,
            &db,
            vec![
                kv("rows", int(42)),
                kv("ratio", AttrValue::Double(0.5)),
                kv("cached", AttrValue::Bool(false)),
            ],
        ),
    ];
    let t2 = vec![
        spec(
            "w1",
            6,
            None,
            "process",
            5,
            0,
            0,
            2000,
            &worker,
            vec![kv("queue", s("jobs")), kv("http.status_code", int(500))],
        ),
        spec(
            "w2",
            7,
            Some(6),
            "publish",
            4,
            2,
            100,
            500,
            &worker,
            vec![kv("queue", s("out"))],
        ),
        spec(
            "w3",
            8,
            Some(6),
            "publish",
            4,
            0,
            700,
            300,
            &worker,
            vec![kv("queue", s("out"))],
        ),
    ];
    let t3 = vec![spec(
        "h1",
        9,
        None,
        "GET /health",
        2,
        0,
        0,
        1,
        &dev,
        vec![
            kv("http.method", s("GET")),
            kv("http.status_code", int(200)),
        ],
    )];
    let mut labels = HashMap::new();
    for sp in t1.iter().chain(&t2).chain(&t3) {
        labels.insert(sp.id, sp.label);
    }
    let sec = 1_000_000_000;
    let mut t1 = build(
        trace_id(0xa1),
        BASE_NS,
        scope("io.cairn", "1.0", "silver"),
        t1,
    );
    let mut t2 = build(
        trace_id(0xa2),
        BASE_NS + 10 * sec,
        scope("io.cairn.worker", "2.1", "gold"),
        t2,
    );
    let t3 = build(
        trace_id(0xa3),
        BASE_NS + 20 * sec,
        scope("io.cairn", "1.0", "silver"),
        t3,
    );
    let s4 = &t1.spans[3];
    t1.spans[3].events = vec![
        event(
            s4,
            "exception",
            30,
            vec![
                kv("exception.type", s("TimeoutError")),
                kv("exception.message", s("deadline exceeded")),
            ],
        ),
        event(s4, "retry", 40, vec![kv("attempt", AttrValue::Int(1))]),
    ];
    let w2 = &t2.spans[1];
    t2.spans[1].events = vec![event(
        w2,
        "exception",
        50,
        vec![kv("exception.type", s("IOError"))],
    )];
    t1.spans[4].links = vec![SpanLink {
        trace_id: t2.trace_id,
        span_id: t2.spans[0].span_id,
        trace_state: String::new(),
        attributes: vec![kv("reason", s("batch"))],
        dropped_attributes_count: 0,
        flags: 0,
    }];
    let traces = vec![("T1", t1), ("T2", t2), ("T3", t3)];
    (traces, labels)
}
