//! The ingester's promises: acknowledged samples stay queryable and in the
//! WAL until their block upload succeeds, survive a restart, and blocks hold
//! exactly what was written. Object-store failures (S3 throttling, uploads
//! that fail half-way) are injected with `InstrumentedStore` around the
//! in-memory store (the one place a fake is allowed).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use cairn_ingester::{Ingester, IngesterConfig};
use common::block::{
    BlockReader, InstrumentedStore, RetryPolicy, list_blocks, refresh_block_list_under,
};
use common::discard::DiscardReason;
use common::exemplar::{Exemplar, ExemplarSource, SeriesExemplars};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::logs::block::{LogBlockReader, log_blocks_prefix};
use common::logs::{Direction, LogEntry, LogSelect, LogStore, LogsPusher, PushStream};
use common::metadata::{MetadataSource, MetricMetadata, MetricType};
use common::push::{ExemplarOutcome, MetricsPusher, PushSeries};
use common::series::{MatchOp, Matcher, Sample, SeriesStore};
use common::tenant::TenantId;
use object_store::ObjectStore;
use object_store::memory::InMemory;

fn tenant() -> TenantId {
    TenantId::parse("team-a").unwrap()
}

fn open(wal: &Path, store: Arc<dyn ObjectStore>, limits: Limits) -> Arc<Ingester> {
    let cfg = IngesterConfig {
        wal_dir: wal.to_path_buf(),
        upload_attempts: 1,
        ..Default::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    Ingester::new(cfg, store, Arc::new(Overrides::new(limits)), &mut registry).unwrap()
}

fn series(job: &str, ts: Range<i64>) -> PushSeries {
    PushSeries::floats(
        Labels::from_pairs([("__name__", "up"), ("job", job)]),
        ts.map(|t| Sample { t, v: t as f64 }).collect(),
    )
}

async fn sample_count(store: &dyn SeriesStore) -> usize {
    store
        .select(&tenant(), &[], i64::MIN, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|s| s.samples.len())
        .sum()
}

async fn block_sample_count(store: Arc<dyn ObjectStore>) -> usize {
    let mut n = 0;
    for meta in list_blocks(store.as_ref(), &tenant()).await.unwrap() {
        let reader = BlockReader::open(Arc::clone(&store), &tenant(), meta)
            .await
            .unwrap();
        n += reader
            .select(&[], i64::MIN, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|s| s.samples.len())
            .sum::<usize>();
    }
    n
}

fn wal_segments(wal: &Path) -> usize {
    std::fs::read_dir(wal.join("team-a")).unwrap().count()
}

#[tokio::test]
async fn failed_upload_keeps_data_queryable_and_in_the_wal_until_a_retry_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
    let store: Arc<dyn ObjectStore> = flaky.clone();
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    let out = ing
        .push(&tenant(), vec![series("a", 0..200), series("b", 0..10)])
        .await
        .unwrap();
    assert_eq!(out.accepted, 210);

    // S3 throttling every request for a while.
    flaky.throttle_next(usize::MAX);
    let err = ing.flush().await.unwrap_err();
    assert!(err.to_string().contains("SlowDown"), "{err}");
    assert_eq!(
        sample_count(ing.as_ref()).await,
        210,
        "data must stay queryable after a failed upload"
    );
    flaky.throttle_next(0);
    assert_eq!(block_sample_count(Arc::clone(&store)).await, 0);
    flaky.throttle_next(usize::MAX);

    // A restart in the middle of the outage replays everything from the WAL.
    drop(ing);
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    assert_eq!(sample_count(ing.as_ref()).await, 210);

    flaky.throttle_next(0);
    let blocks = ing.flush().await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].stats.num_samples, 210);
    assert_eq!(block_sample_count(Arc::clone(&store)).await, 210);
    assert_eq!(
        sample_count(ing.as_ref()).await,
        210,
        "an uploaded head stays queryable until queriers have listed its block"
    );
    assert_eq!(
        wal_segments(dir.path()),
        1,
        "uploaded segments are removed, only the live one stays"
    );

    // After the upload the WAL no longer holds those samples.
    drop(ing);
    let ing = open(dir.path(), store, Limits::default());
    assert_eq!(sample_count(ing.as_ref()).await, 0);
}

#[tokio::test]
async fn out_of_order_is_rejected_across_a_block_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    ing.push(&tenant(), vec![series("a", 0..100)])
        .await
        .unwrap();
    ing.flush().await.unwrap();
    let out = ing
        .push(&tenant(), vec![series("a", 50..60)])
        .await
        .unwrap();
    assert_eq!(out.accepted, 0);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reason, DiscardReason::SampleOutOfOrder);
    let out = ing
        .push(&tenant(), vec![series("a", 100..110)])
        .await
        .unwrap();
    assert_eq!(out.accepted, 10);
}

#[tokio::test]
async fn series_limit_rejects_new_series_and_keeps_accepting_existing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_global_series_per_user: 2,
        ..Default::default()
    };
    let ing = open(dir.path(), Arc::new(InMemory::new()), limits);
    let out = ing
        .push(
            &tenant(),
            vec![series("a", 0..1), series("b", 0..1), series("c", 0..1)],
        )
        .await
        .unwrap();
    assert_eq!(out.accepted, 2);
    assert_eq!(out.rejected[0].reason, DiscardReason::PerUserSeriesLimit);
    assert!(
        out.rejected[0]
            .detail
            .contains("max_global_series_per_user")
    );
    let out = ing
        .push(&tenant(), vec![series("a", 1..2), series("b", 1..2)])
        .await
        .unwrap();
    assert_eq!(out.accepted, 2);
    assert!(out.rejected.is_empty());
}

#[tokio::test]
async fn other_tenants_wal_and_data_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let ing = open(dir.path(), Arc::new(InMemory::new()), Limits::default());
    ing.push(&tenant(), vec![series("a", 0..5)]).await.unwrap();
    let other = TenantId::parse("team-b").unwrap();
    assert!(
        ing.select(&other, &[], i64::MIN, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(dir.path().join("team-a").is_dir());
    assert!(!dir.path().join("team-b").exists());
}

fn exemplars(job: &str, ts: &[i64]) -> SeriesExemplars {
    SeriesExemplars {
        series: series(job, 0..0).labels,
        exemplars: ts
            .iter()
            .map(|&t| Exemplar {
                labels: Labels::from_pairs([("trace_id", format!("t{t}"))]),
                value: t as f64,
                timestamp: t,
            })
            .collect(),
    }
}

fn job_is(job: &str) -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::new(MatchOp::Equal, "job", job)]]
}

#[tokio::test]
async fn exemplars_are_kept_per_series_newest_last_and_out_of_order_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let ing = open(dir.path(), Arc::new(InMemory::new()), Limits::default());
    // The default buffer holds 10 exemplars per series; 12 overwrite the first 2.
    let first: Vec<i64> = (1..=12).collect();
    let out = ing
        .push_exemplars(
            &tenant(),
            vec![exemplars("a", &first), exemplars("b", &[5])],
        )
        .await
        .unwrap();
    assert_eq!(out.accepted, 13);
    let again = ing
        .push_exemplars(&tenant(), vec![exemplars("a", &[12, 11, 13])])
        .await
        .unwrap();
    assert_eq!(
        again,
        ExemplarOutcome {
            accepted: 1,
            out_of_order: 1,
            duplicates: 1,
        }
    );

    let got = ing
        .exemplars(&tenant(), &job_is("a"), 0, 100)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let times: Vec<i64> = got[0].exemplars.iter().map(|e| e.timestamp).collect();
    assert_eq!(times, (4..=13).collect::<Vec<_>>());
    let ranged = ing
        .exemplars(&tenant(), &job_is("a"), 12, 13)
        .await
        .unwrap();
    assert_eq!(ranged[0].exemplars.len(), 2);
    let both = [job_is("a"), job_is("b")].concat();
    assert_eq!(
        ing.exemplars(&tenant(), &both, 0, 100).await.unwrap().len(),
        2
    );

    let other = TenantId::parse("team-b").unwrap();
    assert!(
        ing.exemplars(&other, &job_is("a"), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn acked_exemplars_survive_a_restart_and_stay_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    ing.push(&tenant(), vec![series("a", 0..3)]).await.unwrap();
    ing.push_exemplars(&tenant(), vec![exemplars("a", &[1, 2])])
        .await
        .unwrap();
    drop(ing);

    let ing = open(dir.path(), store, Limits::default());
    let got = ing
        .exemplars(&tenant(), &job_is("a"), 0, 100)
        .await
        .unwrap();
    assert_eq!(got, vec![exemplars("a", &[1, 2])]);
    // The replayed newest still rejects an older exemplar.
    let out = ing
        .push_exemplars(&tenant(), vec![exemplars("a", &[1])])
        .await
        .unwrap();
    assert_eq!(out.duplicates + out.out_of_order, 1);
}

#[tokio::test]
async fn metadata_keeps_the_latest_per_family_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let ing = open(dir.path(), Arc::new(InMemory::new()), Limits::default());
    let meta = |family: &str, help: &str| MetricMetadata {
        family: family.into(),
        metric_type: MetricType::Counter,
        help: help.into(),
        unit: "seconds".into(),
    };
    ing.push_metadata(&tenant(), vec![meta("a", "old"), meta("b", "b")])
        .await
        .unwrap();
    ing.push_metadata(&tenant(), vec![meta("a", "new")])
        .await
        .unwrap();
    assert_eq!(
        ing.metadata(&tenant(), None).await.unwrap(),
        vec![meta("a", "new"), meta("b", "b")]
    );
    assert_eq!(
        ing.metadata(&tenant(), Some("b")).await.unwrap(),
        vec![meta("b", "b")]
    );
    let other = TenantId::parse("team-b").unwrap();
    assert!(ing.metadata(&other, None).await.unwrap().is_empty());
}

fn app(name: &str) -> Labels {
    Labels::from_pairs([("app", name)])
}

fn log_stream(name: &str, ts: &[i64]) -> PushStream {
    PushStream {
        labels: app(name),
        entries: ts
            .iter()
            .map(|&t| LogEntry {
                ts_ns: t,
                line: format!("{name} line at {t}"),
                structured_metadata: Labels::from_pairs([("trace_id", "t1")]),
            })
            .collect(),
    }
}

fn select_all() -> LogSelect {
    LogSelect {
        matchers: vec![],
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        line_filter: None,
        limit: None,
        direction: Direction::Forward,
    }
}

/// Every line the ingester serves for `tenant()`, by stream name, in order.
async fn served_lines(store: &dyn LogStore) -> Vec<(String, i64)> {
    store
        .select_logs(&tenant(), &select_all())
        .await
        .unwrap()
        .into_iter()
        .flat_map(|s| {
            let name = s.labels.get("app").unwrap_or_default().to_string();
            s.entries.into_iter().map(move |e| (name.clone(), e.ts_ns))
        })
        .collect()
}

/// Every line in the tenant's logs blocks, by stream name, in order.
async fn block_lines(store: Arc<dyn ObjectStore>) -> Vec<(String, i64)> {
    let prefix = log_blocks_prefix(&tenant());
    let metas = refresh_block_list_under(store.as_ref(), &prefix, &[], &RetryPolicy::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    for meta in metas {
        let r = LogBlockReader::open(Arc::clone(&store), &tenant(), meta, &RetryPolicy::default())
            .await
            .unwrap();
        for s in r.select(&select_all()).await.unwrap() {
            let name = s.labels.get("app").unwrap_or_default().to_string();
            out.extend(s.entries.into_iter().map(|e| (name.clone(), e.ts_ns)));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn logs_stay_served_and_in_the_wal_until_their_block_is_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
    let store: Arc<dyn ObjectStore> = flaky.clone();
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    // Out of order within the window is accepted and served sorted.
    let out = ing
        .push_logs(
            &tenant(),
            vec![log_stream("a", &[30, 10, 20]), log_stream("b", &[5])],
        )
        .await
        .unwrap();
    assert_eq!((out.accepted, out.rejected.len()), (4, 0));
    let want = vec![
        ("a".to_string(), 10),
        ("a".to_string(), 20),
        ("a".to_string(), 30),
        ("b".to_string(), 5),
    ];
    assert_eq!(served_lines(ing.as_ref()).await, want);

    flaky.throttle_next(usize::MAX);
    assert!(ing.flush().await.is_err());
    drop(ing);
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    assert_eq!(
        served_lines(ing.as_ref()).await,
        want,
        "replayed from the WAL"
    );

    flaky.throttle_next(0);
    let blocks = ing.flush().await.unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].stats.num_samples, 4);
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(block_lines(Arc::clone(&store)).await, sorted);
    assert_eq!(
        served_lines(ing.as_ref()).await,
        want,
        "uploaded lines stay served until queriers list the block"
    );
    drop(ing);
    let ing = open(dir.path(), store, Limits::default());
    assert!(
        served_lines(ing.as_ref()).await.is_empty(),
        "WAL truncated after upload"
    );
}

#[tokio::test]
async fn logs_stream_limit_and_out_of_order_window() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_global_streams_per_user: 1,
        ..Limits::default()
    };
    let ing = open(dir.path(), Arc::new(InMemory::new()), limits);
    let hour = 3_600_000_000_000i64;
    let out = ing
        .push_logs(
            &tenant(),
            vec![log_stream("a", &[2 * hour]), log_stream("b", &[1])],
        )
        .await
        .unwrap();
    assert_eq!(out.accepted, 1);
    assert_eq!(out.rejected[0].reason, DiscardReason::StreamLimit);
    assert_eq!(out.rejected[0].labels, app("b"));
    // The default window is half of logs_block_max_age (2h): one hour.
    let out = ing
        .push_logs(&tenant(), vec![log_stream("a", &[hour + 1, hour - 1])])
        .await
        .unwrap();
    assert_eq!(out.accepted, 1);
    assert_eq!(out.rejected[0].reason, DiscardReason::TooFarBehind);
    assert_eq!(out.rejected[0].lines, 1);
    let streams = ing.log_streams(&tenant(), &[], 0, i64::MAX).await.unwrap();
    assert_eq!(streams, vec![app("a")]);
    let filtered = LogSelect {
        line_filter: Some(Arc::new(move |l: &str| {
            l.ends_with(&(2 * hour).to_string())
        })),
        ..select_all()
    };
    let got = ing.select_logs(&tenant(), &filtered).await.unwrap();
    assert_eq!(got[0].entries.len(), 1);
}
fn trace_span(trace: u8, id: u8) -> common::traces::Span {
    use common::traces::{AttrValue, KeyValue, Resource, Scope, Span};
    Span {
        trace_id: [trace; 16],
        span_id: [id; 8],
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: format!("op-{id}"),
        kind: 2,
        start_unix_nano: u64::from(id) * 1000,
        end_unix_nano: u64::from(id) * 1000 + 10,
        attributes: vec![KeyValue {
            key: "k".into(),
            value: AttrValue::Int(i64::from(id)),
        }],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: 0,
        status_message: String::new(),
        resource: Arc::new(Resource::default()),
        scope: Arc::new(Scope::default()),
    }
}

#[tokio::test]
async fn acked_spans_survive_a_restart_per_tenant() {
    use common::traces::{TraceStore, TracesPusher};
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    let other = TenantId::parse("team-b").unwrap();
    let out = ing
        .push_spans(&tenant(), vec![trace_span(1, 1), trace_span(1, 2)])
        .await
        .unwrap();
    assert_eq!(out.accepted, 2);
    ing.push_spans(&other, vec![trace_span(2, 1)])
        .await
        .unwrap();
    drop(ing);

    let ing = open(dir.path(), store, Limits::default());
    let trace = ing
        .trace_by_id(&tenant(), [1; 16], 0, u64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trace.spans, vec![trace_span(1, 1), trace_span(1, 2)]);
    assert!(
        ing.trace_by_id(&tenant(), [2; 16], 0, u64::MAX)
            .await
            .unwrap()
            .is_none(),
        "team-b's trace is not team-a's"
    );
    assert!(
        ing.trace_by_id(&other, [2; 16], 0, u64::MAX)
            .await
            .unwrap()
            .is_some()
    );
}

/// Serves `ing` over the internal gRPC service on a loopback port.
async fn serve_grpc(ing: Arc<Ingester>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let service = common::rpc::IngesterGrpc::new(ing, 64 << 20);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    addr
}

#[tokio::test]
async fn every_signal_round_trips_through_the_internal_grpc_service() {
    use common::rpc::{ClientConfig, IngesterClient};
    use common::traces::{TraceScan, TraceStore, TracesPusher};
    let dir = tempfile::tempdir().unwrap();
    let ing = open(dir.path(), Arc::new(InMemory::new()), Limits::default());
    let client =
        IngesterClient::new(&serve_grpc(Arc::clone(&ing)).await, ClientConfig::default()).unwrap();
    let now = common::time::now_ms();

    // Metrics: accepted samples, a rejection with its reason, exemplars, metadata.
    let out = client
        .push(&tenant(), vec![series("api", now - 2..now)])
        .await
        .unwrap();
    assert_eq!(out.accepted, 2);
    let out = client
        .push(&tenant(), vec![series("api", now - 5..now - 4)])
        .await
        .unwrap();
    assert_eq!(out.rejected[0].reason, DiscardReason::SampleOutOfOrder);
    let job = Matcher::new(MatchOp::Equal, "job", "api");
    let got = client
        .select(&tenant(), std::slice::from_ref(&job), 0, now)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, series("api", now - 2..now).samples);
    let re = Matcher::new_matcher(
        promql_parser::parser::token::T_EQL_REGEX,
        "job".into(),
        "a.i".into(),
    )
    .unwrap();
    assert_eq!(
        client
            .label_values(&tenant(), "job", &[re], 0, now)
            .await
            .unwrap(),
        vec!["api".to_string()]
    );
    let ex = SeriesExemplars {
        series: series("api", 0..0).labels,
        exemplars: vec![Exemplar {
            labels: Labels::from_pairs([("trace_id", "abc")]),
            value: 1.0,
            timestamp: now,
        }],
    };
    let out = client
        .push_exemplars(&tenant(), vec![ex.clone()])
        .await
        .unwrap();
    assert_eq!(
        out,
        ExemplarOutcome {
            accepted: 1,
            ..Default::default()
        }
    );
    let got = client
        .exemplars(&tenant(), &[vec![job]], 0, now)
        .await
        .unwrap();
    assert_eq!(got, vec![ex]);
    let md = MetricMetadata {
        family: "up".into(),
        metric_type: MetricType::Gauge,
        help: "Up.".into(),
        unit: String::new(),
    };
    assert_eq!(
        client
            .push_metadata(&tenant(), vec![md.clone()])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        client.metadata(&tenant(), Some("up")).await.unwrap(),
        vec![md]
    );

    // Logs, with the line filter applied on the client.
    let ns = now * 1_000_000;
    let stream = PushStream {
        labels: Labels::from_pairs([("app", "api")]),
        entries: (0..3)
            .map(|i| LogEntry {
                ts_ns: ns + i,
                line: format!("line {i}"),
                structured_metadata: Labels::from_pairs([("trace_id", "t1")]),
            })
            .collect(),
    };
    assert_eq!(
        client
            .push_logs(&tenant(), vec![stream.clone()])
            .await
            .unwrap()
            .accepted,
        3
    );
    let sel = LogSelect {
        matchers: vec![Matcher::new(MatchOp::Equal, "app", "api")],
        start_ns: ns,
        end_ns: ns + 10,
        line_filter: Some(Arc::new(|l: &str| l.ends_with('1'))),
        limit: Some(1),
        direction: Direction::Backward,
    };
    let got = client.select_logs(&tenant(), &sel).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].entries, vec![stream.entries[1].clone()]);

    // Traces.
    let spans = vec![trace_span(7, 1), trace_span(7, 2)];
    assert_eq!(
        client
            .push_spans(&tenant(), spans.clone())
            .await
            .unwrap()
            .accepted,
        2
    );
    let trace = client
        .trace_by_id(&tenant(), [7; 16], 0, u64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(trace.spans, spans);
    let scan = TraceScan {
        start_ns: 0,
        end_ns: u64::MAX,
        filter: Some(Arc::new(|s: &common::traces::Span| s.name == "op-2")),
        limit: Some(1),
    };
    let found = client.search(&tenant(), &scan).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].spans.len(), 2, "whole traces come back");

    // Another tenant sees nothing; a hostile tenant ID is refused.
    let other = TenantId::parse("team-b").unwrap();
    assert!(
        client
            .trace_by_id(&other, [7; 16], 0, u64::MAX)
            .await
            .unwrap()
            .is_none()
    );
    let raw = common::rpc::messages::TraceByIdRequest {
        tenant: "../x".into(),
        trace_id: vec![7; 16],
        ..Default::default()
    };
    let mut grpc = tonic::client::Grpc::new(
        tonic::transport::Endpoint::from_shared(format!("http://{}", client.addr()))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    grpc.ready().await.unwrap();
    let err = grpc
        .unary::<_, common::rpc::messages::Spans, _>(
            tonic::Request::new(raw),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/cairn.ingester.v1.Ingester/TraceById",
            ),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
}

#[tokio::test]
async fn an_unreachable_ingester_is_an_error_naming_it() {
    use common::rpc::{ClientConfig, IngesterClient};
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let client = IngesterClient::new(&addr, ClientConfig::default()).unwrap();
    let err = client
        .push(&tenant(), vec![series("api", 0..1)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, common::push::PushError::Unavailable(_)),
        "{err}"
    );
    assert!(err.to_string().contains(&addr), "{err}");
    let err = client.select(&tenant(), &[], 0, 1).await.unwrap_err();
    assert!(err.to_string().contains(&addr), "{err}");
}

#[tokio::test]
async fn uploads_retry_through_throttling_and_half_done_block_uploads() {
    use common::traces::{TraceStore, TracesPusher};
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(InstrumentedStore::new(Arc::new(InMemory::new())));
    let store: Arc<dyn ObjectStore> = faulty.clone();
    let cfg = IngesterConfig {
        wal_dir: dir.path().to_path_buf(),
        upload_attempts: 6,
        ..Default::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let ing = Ingester::new(
        cfg,
        Arc::clone(&store),
        Arc::new(Overrides::new(Limits::default())),
        &mut registry,
    )
    .unwrap();
    ing.push(&tenant(), vec![series("a", 0..100)])
        .await
        .unwrap();
    ing.push_logs(&tenant(), vec![log_stream("a", &[1, 2, 3])])
        .await
        .unwrap();
    ing.push_spans(&tenant(), vec![trace_span(3, 1), trace_span(3, 2)])
        .await
        .unwrap();
    // A burst of 503 SlowDown, then block uploads that stop half-way: the
    // first object of a logs block is written, the next one fails (twice).
    faulty.throttle_next(3);
    faulty.fail_puts(1, 2, "/logs/");
    let blocks = ing.flush().await.unwrap();
    assert!(!blocks.is_empty());
    assert_eq!(block_sample_count(Arc::clone(&store)).await, 100);
    let mut lines = block_lines(Arc::clone(&store)).await;
    lines.sort();
    assert_eq!(
        lines.len(),
        3,
        "every line reached its block once: {lines:?}"
    );
    // Nothing is left in the WAL for what was uploaded.
    drop(ing);
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    assert_eq!(sample_count(ing.as_ref()).await, 0);
    assert!(served_lines(ing.as_ref()).await.is_empty());
    assert!(
        ing.trace_by_id(&tenant(), [3; 16], 0, u64::MAX)
            .await
            .unwrap()
            .is_none(),
        "the flushed trace left the WAL"
    );
    let traces = store
        .list_with_delimiter(Some(&"team-a/traces/blocks".into()))
        .await
        .unwrap();
    assert_eq!(traces.common_prefixes.len(), 1, "one trace block");
}

#[tokio::test]
async fn a_wal_record_that_cannot_be_decoded_is_skipped_and_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let ing = open(dir.path(), Arc::new(InMemory::new()), Limits::default());
    ing.push(&tenant(), vec![series("a", 0..5)]).await.unwrap();
    drop(ing);
    // A series record (type 4) whose label name is not UTF-8.
    let wal = common::wal::Wal::open(&dir.path().join("team-a"), Default::default()).unwrap();
    wal.append(&[&[
        4, 9, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0xff, 1, 0, 0, 0, b'x',
    ]])
    .unwrap();
    drop(wal);
    let cfg = IngesterConfig {
        wal_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let ing = Ingester::new(
        cfg,
        store,
        Arc::new(Overrides::new(Limits::default())),
        &mut registry,
    )
    .expect("one bad record does not stop a start-up");
    assert_eq!(sample_count(ing.as_ref()).await, 5);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(r#"cairn_ingester_wal_replay_skipped_records_total{tenant="team-a"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_second_ingester_on_the_same_wal_dir_is_refused_before_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let ing = open(dir.path(), Arc::new(InMemory::new()), Limits::default());
    ing.push(&tenant(), vec![series("a", 0..5)]).await.unwrap();
    let before = wal_segments(dir.path());
    let cfg = IngesterConfig {
        wal_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let Err(err) = Ingester::new(
        cfg,
        Arc::new(InMemory::new()),
        Arc::new(Overrides::new(Limits::default())),
        &mut registry,
    ) else {
        panic!("a second ingester opened a locked WAL directory");
    };
    let err = err.to_string();
    assert!(err.contains("err-cairn-wal-dir-locked"), "{err}");
    assert!(err.contains(&std::process::id().to_string()), "{err}");
    assert_eq!(wal_segments(dir.path()), before);
    ing.push(&tenant(), vec![series("a", 5..10)]).await.unwrap();
    assert_eq!(sample_count(ing.as_ref()).await, 10);
}

/// A histogram series `job`: one sample per timestamp in `ts`, counts
/// growing with it, stale marker in `sum` for negative timestamps' kin.
fn histograms(job: &str, ts: Range<i64>) -> PushSeries {
    use common::histogram::{FloatHistogram, HistogramSample, Span};
    PushSeries {
        labels: Labels::from_pairs([("__name__", "latency"), ("job", job)]),
        samples: Vec::new(),
        histograms: ts
            .map(|t| HistogramSample {
                t,
                h: Arc::new(FloatHistogram {
                    schema: 2,
                    count: 3.0 * t as f64,
                    sum: 0.25 * t as f64,
                    positive_spans: vec![Span {
                        offset: 1,
                        length: 2,
                    }],
                    positive_buckets: vec![t as f64, 2.0 * t as f64],
                    ..FloatHistogram::default()
                }),
            })
            .collect(),
    }
}

/// Native histograms: one timeline with float samples per series, so order
/// and duplicate checks span both kinds; acknowledged histograms survive a
/// restart (WAL), cross the internal gRPC service, and land in blocks.
#[tokio::test]
async fn native_histograms_are_checked_stored_replayed_served_and_uploaded() {
    use common::rpc::{ClientConfig, IngesterClient};
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    let out = ing
        .push(&tenant(), vec![histograms("a", 1..301)])
        .await
        .unwrap();
    assert_eq!((out.accepted, out.accepted_histograms), (0, 300));

    // A series whose floats (1, 3, 5) and histograms (2, 4, 6) interleave
    // within one push: one timeline, which the WAL replay must keep too.
    let mut mixed = histograms("m", 2..7);
    mixed.histograms.retain(|h| h.t % 2 == 0);
    mixed.samples = [1, 3, 5].map(|t| Sample { t, v: t as f64 }).to_vec();
    let out = ing.push(&tenant(), vec![mixed.clone()]).await.unwrap();
    assert_eq!((out.accepted, out.accepted_histograms), (3, 3));

    // Resending is quiet; older or same-time-other-value samples of either
    // kind are refused.
    let out = ing
        .push(&tenant(), vec![histograms("a", 300..301)])
        .await
        .unwrap();
    assert!(
        out.rejected.is_empty() && out.accepted_histograms == 0,
        "{out:?}"
    );
    let mut other = histograms("a", 300..301);
    Arc::make_mut(&mut other.histograms[0].h).sum = -1.0;
    let out = ing
        .push(&tenant(), vec![other, histograms("a", 10..11)])
        .await
        .unwrap();
    let reasons: Vec<_> = out.rejected.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [
            DiscardReason::SampleDuplicateTimestamp,
            DiscardReason::SampleOutOfOrder
        ]
    );
    let late_float = PushSeries::floats(mixed.labels.clone(), vec![Sample { t: 5, v: 1.0 }]);
    let out = ing.push(&tenant(), vec![late_float]).await.unwrap();
    assert_eq!(out.rejected[0].reason, DiscardReason::SampleOutOfOrder);

    let expect = |job: &str| {
        let mut s = if job == "a" {
            histograms("a", 1..301)
        } else {
            mixed.clone()
        };
        s.histograms.sort_by_key(|h| h.t);
        (s.samples, s.histograms)
    };
    let check = |got: Vec<common::series::Series>| {
        assert_eq!(got.len(), 2);
        for s in got {
            let job = s.labels.get("job").unwrap().to_string();
            assert_eq!((s.samples, s.histograms), expect(&job), "series {job}");
        }
    };
    check(
        ing.select(&tenant(), &[], i64::MIN, i64::MAX)
            .await
            .unwrap(),
    );

    // Restart: the WAL replays both kinds.
    drop(ing);
    let ing = open(dir.path(), Arc::clone(&store), Limits::default());
    check(
        ing.select(&tenant(), &[], i64::MIN, i64::MAX)
            .await
            .unwrap(),
    );

    // The internal gRPC service carries histograms both ways.
    let client =
        IngesterClient::new(&serve_grpc(Arc::clone(&ing)).await, ClientConfig::default()).unwrap();
    check(
        client
            .select(&tenant(), &[], i64::MIN, i64::MAX)
            .await
            .unwrap(),
    );
    let out = client
        .push(&tenant(), vec![histograms("a", 301..303)])
        .await
        .unwrap();
    assert_eq!((out.accepted, out.accepted_histograms), (0, 2));

    // Blocks hold them.
    ing.flush().await.unwrap();
    let metas = list_blocks(store.as_ref(), &tenant()).await.unwrap();
    let reader = BlockReader::open(Arc::clone(&store), &tenant(), metas[0].clone())
        .await
        .unwrap();
    let got = reader.select(&[], i64::MIN, i64::MAX).await.unwrap();
    let a = got
        .iter()
        .find(|s| s.labels.get("job") == Some("a"))
        .unwrap();
    assert_eq!(a.histograms, histograms("a", 1..303).histograms);
}
