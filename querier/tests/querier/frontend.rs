//! The query frontend through the querier: split results equal unsplit ones,
//! repeats come from the cache, one tenant's backlog cannot starve another,
//! and query limits answer 422/429 naming the limit.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cairn_querier::promql::QueryValue;
use cairn_querier::{Querier, QuerierConfig, ResultsCacheConfig};
use common::labels::Labels;
use common::limits::{Limits, Overrides};
use common::series::{Matcher, Sample, Series, SeriesStore, StoreError};
use common::tenant::TenantId;
use parking_lot::Mutex;
use reqwest::StatusCode;

use crate::support::{MemStore, client, serve};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// Midnight UTC, 2023-11-14: far enough back that every split is cacheable.
const T0: i64 = 19_675 * DAY;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

/// Five days of a counter and a gauge for two jobs, one sample a minute.
fn multi_day_store() -> Arc<MemStore> {
    let store = Arc::new(MemStore::default());
    for (job, slope) in [("api", 3.0), ("db", 0.5)] {
        let minutes = 0..5 * 24 * 60;
        store.add(
            "team-a",
            Labels::from_pairs([("__name__", "requests_total"), ("job", job)]),
            minutes
                .clone()
                .map(|m| Sample {
                    t: T0 + m * MIN,
                    v: (m as f64 * slope).floor(),
                })
                .collect(),
        );
        store.add(
            "team-a",
            Labels::from_pairs([("__name__", "temperature"), ("job", job)]),
            minutes
                .map(|m| Sample {
                    t: T0 + m * MIN,
                    v: ((m as f64) / 97.0).sin() * slope,
                })
                .collect(),
        );
    }
    store
}

fn querier(store: Arc<dyn SeriesStore>, cfg: QuerierConfig, limits: Limits) -> Arc<Querier> {
    Arc::new(Querier::new(
        cfg,
        store,
        Arc::new(Overrides::new(limits)),
        true,
    ))
}

fn no_cache() -> ResultsCacheConfig {
    ResultsCacheConfig {
        max_size_bytes: 0,
        ..ResultsCacheConfig::default()
    }
}

fn matrix(v: QueryValue) -> Vec<Series> {
    match v {
        QueryValue::Matrix(m) => m,
        other => panic!("want a matrix, got {other:?}"),
    }
}

#[tokio::test]
async fn split_range_query_equals_the_unsplit_query_over_several_days() {
    let store = multi_day_store();
    let split = querier(store.clone(), QuerierConfig::default(), Limits::default());
    let whole = querier(
        store,
        QuerierConfig {
            split_queries_by_interval: Duration::ZERO,
            results_cache: no_cache(),
            ..QuerierConfig::default()
        },
        Limits::default(),
    );
    let tenants = [tenant("team-a")];
    let queries = [
        "requests_total",
        "rate(requests_total[5m])",
        "sum by (job) (increase(requests_total[1h]))",
        "avg_over_time(temperature[90m]) * 2",
        "max_over_time(rate(requests_total[5m])[1h:7m])",
        "temperature offset 1h > 0",
        "time()",
    ];
    // Unaligned start and an odd step: parts must keep the original grid.
    let (start, end, step) = (
        T0 + 7 * HOUR + 13_000,
        T0 + 4 * DAY + 5 * HOUR,
        7 * MIN + 3_000,
    );
    for q in queries {
        let got = split
            .frontend()
            .range(&tenants, q, start, end, step, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        let want = whole
            .frontend()
            .range(&tenants, q, start, end, step, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        let (got, want) = (matrix(got.value), matrix(want.value));
        assert!(!want.is_empty(), "{q}: empty result proves nothing");
        assert_eq!(got, want, "{q}");
    }
    // Each query touched five UTC days: five parts, each evaluated once.
    assert_eq!(
        split.frontend().stats().cache.misses,
        5 * queries.len() as u64
    );
}

#[tokio::test]
async fn repeated_range_query_is_answered_from_the_cache() {
    let q = querier(
        multi_day_store(),
        QuerierConfig::default(),
        Limits::default(),
    );
    let base = serve(q.clone()).await;
    let url = format!(
        "{base}/prometheus/api/v1/query_range?query=sum(rate(requests_total%5B5m%5D))&start={}&end={}&step=300",
        (T0 + 2 * HOUR) / 1000,
        (T0 + 3 * DAY + 2 * HOUR) / 1000
    );
    let get = || async {
        let resp = client()
            .get(&url)
            .header("X-Scope-OrgID", "team-a")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.expect("body")
    };
    let first = get().await;
    let after_first = q.frontend().stats().cache;
    // Four UTC days touched: four parts evaluated and stored.
    assert_eq!((after_first.hits, after_first.misses), (0, 4));
    assert_eq!(after_first.entries, 4);
    let second = get().await;
    let after_second = q.frontend().stats().cache;
    assert_eq!((after_second.hits, after_second.misses), (4, 4));
    assert_eq!(first, second);

    // Operators see the same figures on /metrics.
    let mut registry = prometheus_client::registry::Registry::default();
    q.frontend().register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    for line in [
        "cairn_query_frontend_results_cache_hits_total 4",
        "cairn_query_frontend_results_cache_misses_total 4",
        "cairn_query_frontend_results_cache_entries 4",
        "cairn_query_frontend_queue_length 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in:\n{text}"
        );
    }
}

/// Every part of a range within the last `max_freshness` (10 minutes) is
/// left out of the cache, wherever the day's split falls (a range of the
/// last hour would, just after midnight UTC, have an older part before it).
#[tokio::test]
async fn parts_ending_within_max_freshness_are_not_cached() {
    let store = Arc::new(MemStore::default());
    let q = querier(store, QuerierConfig::default(), Limits::default());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    q.frontend()
        .range(
            &[tenant("team-a")],
            "vector(1)",
            now - 5 * MIN,
            now,
            MIN,
            Duration::from_secs(30),
        )
        .await
        .expect("query");
    let stats = q.frontend().stats().cache;
    assert_eq!(stats.entries, 0);
}

/// A store that records which tenant each fetch is for, and holds one
/// tenant's fetches until the test opens the gate.
struct SlowStore {
    inner: MemStore,
    slow_tenant: &'static str,
    gate: tokio::sync::Semaphore,
    fetches: Mutex<Vec<String>>,
}

impl SlowStore {
    fn new(slow_tenant: &'static str) -> Arc<Self> {
        Arc::new(Self {
            inner: MemStore::default(),
            slow_tenant,
            gate: tokio::sync::Semaphore::new(0),
            fetches: Mutex::new(Vec::new()),
        })
    }

    /// Lets every held and future fetch through.
    fn open(&self) {
        self.gate
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
}

#[async_trait]
impl SeriesStore for SlowStore {
    async fn select(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StoreError> {
        self.fetches.lock().push(tenant.to_string());
        if tenant.as_str() == self.slow_tenant {
            let permit = self.gate.acquire().await;
            drop(permit);
        }
        self.inner.select(tenant, matchers, mint, maxt).await
    }

    async fn series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        self.inner.series(tenant, matchers, mint, maxt).await
    }
}

fn one_at_a_time(max_outstanding: usize) -> QuerierConfig {
    QuerierConfig {
        max_concurrent: 1,
        max_outstanding_requests_per_tenant: max_outstanding,
        ..QuerierConfig::default()
    }
}

/// Sends an instant query for `tenant` in the background.
fn spawn_query(base: &str, tenant: &str) -> tokio::task::JoinHandle<(StatusCode, String)> {
    let url = format!("{base}/prometheus/api/v1/query?query=up&time=1700000000");
    let tenant = tenant.to_string();
    tokio::spawn(async move {
        let resp = client()
            .get(url)
            .header("X-Scope-OrgID", tenant)
            .send()
            .await
            .expect("request");
        (resp.status(), resp.text().await.expect("body"))
    })
}

/// Waits until the frontend has `running` executions and `queued` waiting.
async fn until_load(q: &Querier, running: usize, queued: usize) {
    for _ in 0..500 {
        let s = q.frontend().stats();
        if (s.running, s.queued) == (running, queued) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("frontend never reached {running} running / {queued} queued");
}

#[tokio::test]
async fn tenant_b_runs_right_after_the_running_query_despite_a_backlog_from_a() {
    let store = SlowStore::new("team-a");
    let q = querier(store.clone(), one_at_a_time(100), Limits::default());
    let base = serve(q.clone()).await;
    let mut tasks = vec![spawn_query(&base, "team-a")];
    until_load(&q, 1, 0).await;
    for i in 0..10 {
        tasks.push(spawn_query(&base, "team-a"));
        until_load(&q, 1, i + 1).await;
    }
    tasks.push(spawn_query(&base, "team-b"));
    until_load(&q, 1, 11).await;
    store.open();
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let order = store.fetches.lock().clone();
    assert_eq!(order.len(), 12);
    assert_eq!(order[..2], ["team-a", "team-b"], "{order:?}");
}

#[tokio::test]
async fn full_tenant_queue_gets_429_naming_the_limit_and_spares_other_tenants() {
    let store = SlowStore::new("team-a");
    let q = querier(store.clone(), one_at_a_time(2), Limits::default());
    let base = serve(q.clone()).await;
    let mut tasks = vec![spawn_query(&base, "team-a")];
    until_load(&q, 1, 0).await;
    tasks.push(spawn_query(&base, "team-a"));
    tasks.push(spawn_query(&base, "team-a"));
    until_load(&q, 1, 2).await;
    let (status, body) = spawn_query(&base, "team-a").await.expect("task");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body.contains("max_outstanding_requests_per_tenant"),
        "{body}"
    );
    tasks.push(spawn_query(&base, "team-b"));
    store.open();
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn range_longer_than_max_query_length_gets_422_naming_the_limit() {
    let q = querier(
        multi_day_store(),
        QuerierConfig::default(),
        Limits {
            max_query_length: Duration::from_secs(86_400),
            ..Limits::default()
        },
    );
    let base = serve(q.clone()).await;
    let range = |days: i64| {
        format!(
            "{base}/prometheus/api/v1/query_range?query=requests_total&start={}&end={}&step=3600",
            T0 / 1000,
            (T0 + days * DAY) / 1000
        )
    };
    let resp = client()
        .get(range(2))
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.expect("body");
    assert!(body.contains(r#""errorType":"execution""#), "{body}");
    assert!(
        body.contains("the query time range exceeds the limit (query length: 2d, limit: 1d)"),
        "{body}"
    );
    assert!(body.contains("max_query_length"), "{body}");
    let ok = client()
        .get(range(1))
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn merged_parts_over_max_samples_fail_naming_the_limit() {
    let q = querier(
        multi_day_store(),
        QuerierConfig {
            max_samples: 100,
            ..QuerierConfig::default()
        },
        Limits::default(),
    );
    // 2 series x 73 hourly points: each day's part fits, the whole does not.
    let err = q
        .frontend()
        .range(
            &[tenant("team-a")],
            "requests_total",
            T0,
            T0 + 3 * DAY,
            HOUR,
            Duration::from_secs(30),
        )
        .await
        .expect_err("over max_samples");
    assert!(err.to_string().contains("max_samples"), "{err}");
}
